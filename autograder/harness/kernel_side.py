"""Code that runs INSIDE the student's kernel, before and after the student's cells.

The grader sends this file's source to the kernel and calls `install(config)`
before the first cell and `finish(namespace)` after the last. It imports nothing
from the grader package: it must work wherever the kernel runs.

What it does, so that the student's code observes a real run, only shorter:
- the assignment's dataset's `load_data()` (`mnist`, `fashion_mnist`, `cifar10`;
  whichever way it was imported) reads the files the grader chose, which always
  have that dataset's real sizes (MNIST's 60,000 and 10,000 images);
- `fit` keeps the student's epochs, callbacks and history, but each epoch trains
  one small batch; `evaluate` sees a few images; `predict` runs in large batches;
- every `compile`, `fit` and `evaluate` call is sent to the grader *when it
  happens*, with the line of the student's code that made it, over a socket the
  grader holds: what was sent cannot be rewritten by a later cell;
- the model is saved (a "snapshot") whenever it is compiled or first fitted, and
  the grader copies the file before the student's code goes on, so a kernel that
  dies later still leaves the model to check.
Nothing here decides a verdict: the grader derives those from the snapshots
(loaded with safe_mode) and from the code, and trains its own copy.
"""

import hashlib
import io
import inspect
import json
import linecache
import operator
import os
import re
import socket
import sys
import weakref
from typing import Any

import numpy as np

# Keras objects, the student's values and the events are Any here: this code describes whatever it is given.
Event = dict[str, Any]

CONFIG: dict[str, Any] = {}
_ORIGINAL: dict[str, Any] = {}
_MODELS: dict[int, Any] = {}  # id(model) -> weakref: the models the student compiled or fitted
_SNAPSHOT_STATE: dict[int, tuple[int, tuple[int, ...], bool]] = {}  # id(model) -> its _architecture when last saved
_COMPILES: dict[int, int] = {}  # id(model) -> how many times compile was called on it
_COMPILED_WITH: dict[int, Event] = {}  # id(model) -> the optimizer and loss of its last compile, as _plain describes them
_FINGERPRINTED: set[int] = set()  # id(model) of the models saved at the end of a fit with their weights' fingerprint
# Keras' public losses, metrics and optimizers (functions and classes), taken before the first student cell.
# Identity, not a name or a module, tells Keras' own from a look-alike: Keras saves its own functions under
# the module name "builtins", like any other function, and a notebook may replace keras.losses.X later.
_KERAS_OWN: dict[int, Any] = {}
_RAW: dict[str, Any] = {}  # the first images and labels of each split, to recognise them later
_INSIDE = [0]  # >0 while Keras or the harness itself calls these methods (fit calls evaluate)
_CHANNEL: dict[str, socket.socket | None] = {}
_CELL_FILE = re.compile(r"ipykernel_\d+[/\\]\d+\.py$")  # how ipykernel names a cell's code


# ---------------------------------------------------------------- the channel to the grader

def _send(event: Event, payload: bytes = b"") -> None:
    """Send one event (and the bytes it announces) and wait for the grader's acknowledgement: when this
    returns, the grader has it."""
    sock = _CHANNEL.get("socket")
    if sock is None:
        return
    try:
        sock.sendall(json.dumps(event, default=_json_default).encode("utf-8") + b"\n" + payload)
        sock.recv(1)
    except OSError:
        _CHANNEL["socket"] = None


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return repr(value)


def _jsonable(v: Any) -> Any:
    try:
        json.dumps(v)
        return v
    except (TypeError, ValueError):
        return repr(v)


def _call_site() -> Event | None:
    """Where the student's code made this call: the line of the running cell (outermost cell frame)
    and, when that line called a function of the student's, the line inside it (innermost)."""
    frames: list[tuple[str, int]] = []
    frame: Any = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if _CELL_FILE.search(name) or name.startswith("<ipython-input"):
            frames.append((name, frame.f_lineno))
        frame = frame.f_back
    if not frames:
        return None

    def line(entry: tuple[str, int]) -> Event:
        name, number = entry
        return {"line": number, "code": linecache.getline(name, number).strip()[:300]}

    site = line(frames[-1])
    if len(frames) > 1:
        site["inner"] = line(frames[0])
    return site


# ---------------------------------------------------------------- describing what the student passed

def _arrays_file() -> str:
    """The .npz of the grader's arrays: MNIST's file itself, or the heads in another dataset's folder
    (data.sized and data.HEADS)."""
    path: str = CONFIG["data_path"]
    return os.path.join(path, "heads.npz") if os.path.isdir(path) else path


def _raw() -> dict[str, Any]:
    """The first images and labels of each split, read on first use (install stays light)."""
    if not _RAW:
        with np.load(_arrays_file(), allow_pickle=False) as f:
            for key in ("x_train", "y_train", "x_test", "y_test"):
                _RAW[key] = np.array(f[key][:200])
    return _RAW


def _split_of(array: Any) -> str | None:
    """'test' or 'train' when the array's first images (or labels) are the dataset's test or train ones."""
    try:
        _raw()
        a = np.asarray(array)
        pixels = _RAW["x_train"][0].size  # 784 for MNIST, 3072 for CIFAR-10
        if a.ndim == 0 or a.shape[0] == 0:
            return None
        if a.ndim >= 3 or (a.ndim == 2 and a.shape[1] == pixels):  # images
            k = min(16, a.shape[0])
            rows = a[:k].reshape(k, -1).astype(np.float64)
            if rows.shape[1] != pixels:
                return None
            for name in ("x_test", "x_train"):
                ref = _RAW[name][:k].reshape(k, -1).astype(np.float64)
                num = (rows * ref).sum(axis=1)
                den = np.linalg.norm(rows, axis=1) * np.linalg.norm(ref, axis=1) + 1e-12
                if np.all(num / den > 0.99):
                    return name[2:]
        else:  # labels, one-hot or integers: 200 in a row cannot match by chance
            k = min(200, a.shape[0])
            labels = a[:k].argmax(axis=1) if a.ndim == 2 and a.shape[1] > 1 else a[:k].reshape(-1)  # CIFAR: (N, 1)
            for name in ("y_test", "y_train"):
                if np.array_equal(np.asarray(labels).astype(np.int64), _RAW[name][:k].reshape(-1).astype(np.int64)):
                    return name[2:]
    except Exception:
        return None
    return None


def _describe_array(a: Any) -> Event:
    info: Event = {"kind": "array", "shape": list(a.shape), "dtype": str(a.dtype)}
    if a.size and a.dtype.kind in "fiub":
        info["min"] = float(a.min())
        info["max"] = float(a.max())
        if a.ndim == 2 and a.shape[1] > 1:
            head = a[:2000]
            ones = np.isclose(head, 1.0).sum(axis=1)
            zeros = np.isclose(head, 0.0).sum(axis=1)
            info["one_hot"] = bool(np.all(ones == 1) and np.all(ones + zeros == a.shape[1]))
    info["split"] = _split_of(a)
    return info


def _dataset_facts(ds: Any) -> Event:
    """What a tf.data pipeline does, read from its chain of transformations (no element is computed):
    its batch size, whether it shuffles, and the arrays it was made from."""
    steps: list[str] = []
    facts: Event = {"kind": "dataset", "steps": steps, "batch_size": None, "shuffle": False, "sources": None}
    node, seen = ds, 0
    while node is not None and seen < 50:
        name = type(node).__name__.lstrip("_")
        steps.append(name)
        if "Batch" in name and facts["batch_size"] is None:
            try:
                facts["batch_size"] = int(np.asarray(node._batch_size))
            except Exception:
                pass
        if "Shuffle" in name:
            facts["shuffle"] = True
        tensors = getattr(node, "_tensors", None)
        if tensors is not None and facts["sources"] is None:
            try:
                facts["sources"] = [_describe_array(np.asarray(t)) for t in tensors]
            except Exception:
                pass
        node = getattr(node, "_input_dataset", None)
        seen += 1
    steps.reverse()
    return facts


def _describe_value(value: Any) -> Event | None:
    """A plain description of a fit/evaluate argument: shape, dtype, range, split; or what it is."""
    if value is None:
        return None
    if isinstance(value, (tuple, list)) and value and not np.isscalar(value[0]):
        return {"kind": "tuple", "items": [_describe_value(v) for v in value]}
    module = type(value).__module__ or ""
    if "tensorflow" in module and "data" in module or type(value).__name__.endswith("Dataset"):
        return _dataset_facts(value)
    if inspect.isgenerator(value) or hasattr(value, "__next__"):
        return {"kind": "generator"}
    try:
        a = np.asarray(value)
    except Exception:
        return {"kind": type(value).__name__}
    if a.dtype == object:
        return {"kind": type(value).__name__}
    return _describe_array(a)


def _remember_keras_own(keras: Any) -> None:
    for module in (keras.losses, keras.metrics, keras.optimizers):
        for name in dir(module):
            obj = getattr(module, name, None)
            if not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj)):
                _KERAS_OWN[id(obj)] = obj


def _origin(obj: Any) -> str:
    """'keras' (one of Keras' own, by identity), 'own' (made in the notebook) or the library it came from."""
    if _KERAS_OWN.get(id(obj)) is obj:
        return "keras"
    module = getattr(obj, "__module__", None) or ""
    return "own" if module in ("", "__main__", "builtins") else module


def _plain(value: Any) -> Event:
    """An optimizer, loss or metric as the student passed it (what they wrote, for messages), and where it
    comes from (_origin): an object's origin is its class's."""
    if isinstance(value, str):
        return {"kind": "name", "name": value, "origin": "keras"}
    if inspect.isfunction(value) or inspect.isbuiltin(value):
        return {"kind": "function", "name": value.__name__, "module": getattr(value, "__module__", None),
                "origin": _origin(value)}
    cls = type(value)
    return {"kind": "object", "name": cls.__name__, "module": cls.__module__, "origin": _origin(cls)}


def _bind(name: str, self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """All arguments of a Model method by name, positional ones included, defaults applied."""
    bound = inspect.signature(_ORIGINAL[name]).bind(self, *args, **kwargs)
    given = [k for k in bound.arguments if k != "self"]
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    arguments.pop("self")
    arguments.update(arguments.pop("kwargs", {}) or {})
    return arguments, given


def _model_ref(model: Any) -> Event:
    _MODELS[id(model)] = weakref.ref(model)
    return {"id": id(model), "name": getattr(model, "name", None), "class": type(model).__name__}


def _architecture(model: Any) -> tuple[int, tuple[int, ...], bool]:
    """What a snapshot depends on: the compiles so far, the very layer objects in order, and whether it is
    built. Popping every layer and adding as many others is a new architecture, though the count is the same;
    a model that fit builds is saved again, with the shapes fit gave it."""
    return (_COMPILES.get(id(model), 0), tuple(id(layer) for layer in getattr(model, "layers", ())),
            bool(getattr(model, "built", False)))


def weights_fingerprint(weights: Any, asarray: Any = np.asarray, sha256: Any = hashlib.sha256) -> str:
    """One digest of a model's weights, in order. The grader computes the same from the file it receives:
    the model saved is the model trained. (Bound at import, before any student cell, like the saving below.)"""
    digest = sha256()
    for weight in weights:
        digest.update(asarray(weight).tobytes())
    hexdigest: str = digest.hexdigest()
    return hexdigest


def _snapshot(model: Any, why: str, trained: bool = False) -> None:
    """Save the model now and tell the grader, which copies the file before this returns. trained: the end
    of a fit, saved with the fingerprint of the weights that fit left (once per model)."""
    state = _architecture(model)
    if _SNAPSHOT_STATE.get(id(model)) == state and not (trained and id(model) not in _FINGERPRINTED):
        return  # same config as the last one: the grader uses no weights but the first fit's
    _SNAPSHOT_STATE[id(model)] = state
    _INSIDE[0] += 1
    try:
        fingerprint = weights_fingerprint(_ORIGINAL["weights"](model)) if trained else None
        saved = io.BytesIO()  # in memory, sent on the socket: no disk the notebook could fill is involved
        _ORIGINAL["save_model"](model, saved)  # Keras' own, taken at install: a notebook's replacement is not used
        _FINGERPRINTED.update([id(model)] if trained else [])
        data = saved.getvalue()
        _send({"event": "snapshot", "model": _model_ref(model), "why": why, "size": len(data),
               "compiled_with": _COMPILED_WITH.get(id(model)), "weights": fingerprint}, data)
    except Exception as exc:
        _send({"event": "snapshot_failed", "model": _model_ref(model), "why": why,
               "error": f"{type(exc).__name__}: {exc}"[:500]})
    finally:
        _INSIDE[0] -= 1


# ---------------------------------------------------------------- compile, fit, evaluate, predict

def _compile(self: Any, *args: Any, **kwargs: Any) -> Any:
    if _INSIDE[0] or sys._getframe(1).f_code.co_name == "compile_from_config":  # Keras' own (load_model)
        return _ORIGINAL["compile"](self, *args, **kwargs)
    event: Event = {"event": "compile", "model": _model_ref(self), "site": _call_site()}
    try:
        arguments, given = _bind("compile", self, args, kwargs)
        metrics = arguments.get("metrics")
        if metrics is not None and not isinstance(metrics, (list, tuple, dict)):
            metrics = [metrics]
        if isinstance(metrics, dict):
            metrics = [m for v in metrics.values() for m in (v if isinstance(v, (list, tuple)) else [v])]
        event.update(given=given, optimizer=_plain(arguments.get("optimizer")),
                     loss=_plain(arguments.get("loss")) if arguments.get("loss") is not None else None,
                     metrics=[_plain(m) for m in (metrics or [])])
        _COMPILED_WITH[id(self)] = {k: event[k] for k in ("optimizer", "loss")}
    except Exception as exc:  # recording must never break the student's cell
        event["problem"] = f"{type(exc).__name__}: {exc}"
    _send(event)
    _INSIDE[0] += 1
    try:
        result = _ORIGINAL["compile"](self, *args, **kwargs)
    finally:
        _INSIDE[0] -= 1
    _COMPILES[id(self)] = _COMPILES.get(id(self), 0) + 1
    _snapshot(self, "compile")
    return result


def _count(value: Any) -> int | None:
    try:
        return int(len(value))
    except Exception:
        return None


def _fit(self: Any, *args: Any, **kwargs: Any) -> Any:
    if _INSIDE[0]:
        return _ORIGINAL["fit"](self, *args, **kwargs)
    try:
        arguments, given = _bind("fit", self, args, kwargs)
    except TypeError:
        return _ORIGINAL["fit"](self, *args, **kwargs)  # let Keras say what is wrong
    event: Event = {"event": "fit", "model": _model_ref(self), "site": _call_site(), "given": given}
    arguments, event["odd_types"] = _as_keras_uses(arguments)
    if _architecture(self) != _SNAPSHOT_STATE.get(id(self)):  # changed since compile: the model fit runs on
        _snapshot(self, "fit_start")
    try:  # recording must never break the student's cell
        x = _describe_value(arguments.get("x"))
        batch_size = arguments.get("batch_size")
        if isinstance(x, dict) and x.get("kind") == "dataset":
            batch_size = x.get("batch_size")
        event.update(x=x, y=_describe_value(arguments.get("y")), batch_size=batch_size,
                     epochs=arguments.get("epochs"), initial_epoch=arguments.get("initial_epoch"),
                     shuffle=_jsonable(arguments.get("shuffle")),
                     validation_data=_describe_value(arguments.get("validation_data")),
                     validation_split=arguments.get("validation_split"),
                     steps_per_epoch=arguments.get("steps_per_epoch"), samples=_count(arguments.get("x")))
    except Exception as exc:
        event["problem"] = f"{type(exc).__name__}: {exc}"[:300]
    try:
        plan = _plan(arguments)
    except Exception:  # arguments Keras itself will judge: run the call as written
        plan = {"arguments": arguments, "real_epochs": None, "epochs": None, "callbacks": None}
    event["plan"] = {k: plan[k] for k in ("real_epochs", "epochs")}
    _send(event)
    _INSIDE[0] += 1
    was_eager = getattr(self, "run_eagerly", False)
    try:
        self.run_eagerly = True  # a few eager steps cost less than tracing the training function
        if plan["callbacks"] is not None:
            plan["callbacks"].set_model(self)
        history = _ORIGINAL["fit"](self, **plan["arguments"])
        if plan["callbacks"] is not None:
            plan["callbacks"].replay(*plan["replay"], self)
        return history
    finally:
        self.run_eagerly = was_eager
        _INSIDE[0] -= 1
        _snapshot(self, "fit", trained=True)


# The fit settings the lesson checks, with the plain types Keras expects. A value of another type may say one
# thing about itself (print and compare as 10) and do another (index as 1): it is turned into what Keras would
# make of it (operator.index, as range() does; truth, as `if shuffle:` does), run that way, and reported.
PLAIN_TYPES = {"epochs": (int,), "initial_epoch": (int,), "batch_size": (int,), "steps_per_epoch": (int,),
               "shuffle": (bool, str)}


def _as_keras_uses(arguments: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """(the arguments with these settings as Keras uses them, {setting: [type name, how it shows]} for each
    given as another type)."""
    arguments, odd = dict(arguments), dict[str, list[str]]()
    for name, plain in PLAIN_TYPES.items():
        value = arguments.get(name)
        if value is None or type(value) in plain:
            continue
        try:
            shown = repr(value)[:60]
        except Exception:
            shown = "?"
        odd[name] = [type(value).__name__, shown]
        try:
            arguments[name] = bool(value) if name == "shuffle" else operator.index(value)
        except Exception:
            pass  # Keras will refuse it itself
    return arguments, odd


def _head(value: Any, n: int) -> Any:
    """The first n samples of an array (or of each array in a tuple); anything else as it is."""
    if isinstance(value, (tuple, list)):
        return type(value)(_head(v, n) for v in value)
    if hasattr(value, "shape") and hasattr(value, "__getitem__") and len(getattr(value, "shape", ())) > 0:
        return value[:n]
    return value


def _plan(arguments: dict[str, Any]) -> dict[str, Any]:
    """The shortened fit: every epoch the student asked for, each training one small batch and
    validating on a few images. Past `max_real_epochs` the epochs are replayed (callbacks and
    history as usual, no training). The student's own training is never graded: the grader
    trains its own copy of the network."""
    args: dict[str, Any] = dict(arguments)
    first = operator.index(args.get("initial_epoch") or 0)
    count = max(0, operator.index(args.get("epochs") or 1) - first)
    keep = CONFIG["fit_samples"]
    x: Any = args.get("x")
    if hasattr(x, "shape") and len(x.shape) > 0:
        if args.get("validation_split") and args.get("validation_data") is None:
            keep = int(keep / (1 - float(args["validation_split"]))) + 2
        args["x"] = _head(x, keep)
        args["y"] = _head(args.get("y"), keep)
        args["sample_weight"] = _head(args.get("sample_weight"), keep)
        args["steps_per_epoch"] = None
    else:  # a tf.data pipeline, a generator, a PyDataset: one of its batches per epoch
        args["steps_per_epoch"] = 1
    validation = args.get("validation_data")
    if validation is not None:
        if isinstance(validation, (tuple, list)):
            args["validation_data"] = _head(validation, CONFIG["evaluate_samples"])
            args["validation_steps"] = None
        else:
            args["validation_steps"] = 1
    real = min(count, CONFIG["max_real_epochs"])
    plan: dict[str, Any] = {"arguments": args, "real_epochs": real, "epochs": count, "callbacks": None}
    if count > real:  # train `real` epochs, then play the rest through the same callbacks
        verbose = args.get("verbose", "auto")
        callbacks = _ORIGINAL["DeferredEnd"](list(args.get("callbacks") or []), add_history=True,
                                             add_progbar=verbose != 0, verbose=verbose, epochs=first + count,
                                             steps=1)
        args["callbacks"], args["epochs"] = callbacks, first + real
        plan.update(callbacks=callbacks, replay=(first + real, first + count))
    return plan


def _make_deferred_list() -> type:
    import keras

    class DeferredEnd(keras.callbacks.CallbackList):  # type: ignore[misc]  # Keras ships no types
        """The student's callbacks, with History and the progress bar as fit adds them, whose
        on_train_end waits until the replayed epochs have been played through them too."""

        def on_train_end(self, logs: Any = None) -> None:
            self.end_logs = logs

        def replay(self, start: int, stop: int, model: Any) -> None:
            """Epochs start..stop-1: each repeats the last trained epoch's results, no training."""
            history = model.history.history if getattr(model, "history", None) else {}
            last = {k: v[-1] for k, v in history.items() if v}
            for epoch in range(start, stop):
                if model.stop_training:
                    break
                self.on_epoch_begin(epoch)
                self.on_epoch_end(epoch, dict(last))
            keras.callbacks.CallbackList.on_train_end(self, getattr(self, "end_logs", None))

    return DeferredEnd


def _evaluate(self: Any, *args: Any, **kwargs: Any) -> Any:
    if kwargs.get("_use_cached_eval_dataset"):  # fit's own validation, already shortened
        return _ORIGINAL["evaluate"](self, *args, **kwargs)
    try:
        arguments, given = _bind("evaluate", self, args, kwargs)
    except TypeError:
        return _ORIGINAL["evaluate"](self, *args, **kwargs)
    if not _INSIDE[0]:  # the student's call (a callback's evaluate during fit is shortened, not recorded)
        _send({"event": "evaluate", "model": _model_ref(self), "site": _call_site(), "given": given,
               "x": _describe_value(arguments.get("x")), "y": _describe_value(arguments.get("y"))})
    shortened = dict(arguments)
    n = CONFIG["evaluate_samples"]
    if hasattr(shortened.get("x"), "shape"):
        shortened["x"] = _head(shortened["x"], n)
        shortened["y"] = _head(shortened.get("y"), n)
        shortened["sample_weight"] = _head(shortened.get("sample_weight"), n)
    else:
        shortened["steps"] = 1
    _INSIDE[0] += 1
    was_eager = getattr(self, "run_eagerly", False)
    try:
        self.run_eagerly = True
        return _ORIGINAL["evaluate"](self, **shortened)
    finally:
        self.run_eagerly = was_eager
        _INSIDE[0] -= 1


def _predict(self: Any, *args: Any, **kwargs: Any) -> Any:
    """Every prediction the student asks for, computed for real, in large batches (same results)."""
    if _INSIDE[0]:
        return _ORIGINAL["predict"](self, *args, **kwargs)
    try:
        arguments, _ = _bind("predict", self, args, kwargs)
        if arguments.get("batch_size") is None and hasattr(arguments.get("x"), "shape"):
            arguments["batch_size"] = CONFIG["predict_batch"]
        return _ORIGINAL["predict"](self, **arguments)
    except TypeError:
        return _ORIGINAL["predict"](self, *args, **kwargs)


# ---------------------------------------------------------------- install

def _data_file(fname: Any = None, *args: Any, **kwargs: Any) -> Any:
    """keras.utils.get_file as the dataset's load_data() calls it: the grader's file instead of a download.
    MNIST asks for one .npz (data_path); another dataset asks for each of its files by name (Fashion-MNIST's
    four gzip IDX files; CIFAR-10's folder of pickled batches), which the grader wrote in Keras' own format
    into the folder data_path (data.sized)."""
    path: str = CONFIG["data_path"]
    if os.path.isdir(path):
        return os.path.join(path, os.path.basename(str(fname)))
    return path


def install(config: dict[str, Any]) -> None:
    """Before the student's first cell: the channel, the data source, seeds, recorders."""
    CONFIG.update(config)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(60)
    sock.connect(CONFIG["events"])
    _CHANNEL["socket"] = sock

    import importlib

    import keras

    keras.utils.set_random_seed(CONFIG["seed"])
    _remember_keras_own(keras)
    from keras.src.saving import saving_lib

    _ORIGINAL["save_model"] = saving_lib.save_model
    _ORIGINAL["weights"] = keras.layers.Layer.weights.fget
    # The dataset's get_file is replaced, not its load_data. Every way to reach load_data (keras.datasets.X,
    # tensorflow.keras.datasets.X, `from keras.datasets.X import load_data`, before or after this line) is the
    # one function in keras.src.datasets.X, which looks get_file up in its module when it runs: one assignment
    # here catches them all, where replacing load_data would mean finding every module that copied it. And
    # Keras' own code then reads the grader's files, so the arrays come back exactly as Keras returns them
    # (uint8, CIFAR-10's (N, 1) labels, its channels in the order keras.config.image_data_format() says).
    # Only the assignment's dataset is served: another one tries to download, fails, and is reported
    # (pipeline.other_assignment).
    implementation = importlib.import_module(f"keras.src.datasets.{CONFIG.get('dataset', 'mnist')}")
    setattr(implementation, "get_file", _data_file)
    for name, wrapper in (("compile", _compile), ("fit", _fit), ("evaluate", _evaluate), ("predict", _predict)):
        # On the class that defines it: Keras compares Model.compile with Trainer.compile when it
        # reloads a saved model, and skips restoring its compile settings if they differ.
        owner = next(c for c in keras.Model.__mro__ if name in c.__dict__)
        _ORIGINAL[name] = owner.__dict__[name]
        setattr(owner, name, wrapper)
    _ORIGINAL["DeferredEnd"] = _make_deferred_list()
    _send({"event": "installed", "keras": keras.__version__, "pid": os.getpid()})


# ---------------------------------------------------------------- finish

def _namespace_facts(namespace: dict[str, Any]) -> Event:
    facts: Event = {}
    for name in ("epochs", "input_shape", "batch_size", "num_classes"):
        value = namespace.get(name)
        if isinstance(value, (int, float, str, tuple, list)) and not isinstance(value, bool):
            facts[name] = _jsonable(list(value) if isinstance(value, tuple) else value)
    for name in ("train_images", "test_images", "train_labels", "test_labels"):
        if name in namespace:
            facts[name] = _describe_value(namespace[name])
    return facts


def finish(namespace: dict[str, Any]) -> None:
    """After the student's last cell: the models in the notebook (saved once more, as they are now),
    whether Keras' methods are still the harness's, and a few variables."""
    import keras

    models: dict[int, Event] = {}
    for name, value in namespace.items():
        if not name.startswith("_") and isinstance(value, keras.Model):
            models.setdefault(id(value), {"model": _model_ref(value), "names": []})["names"].append(name)
    for ref in list(_MODELS.values()):
        obj = ref()
        if obj is not None:
            models.setdefault(id(obj), {"model": _model_ref(obj), "names": []})
    for entry in models.values():
        obj = _MODELS[entry["model"]["id"]]()
        if obj is not None:
            _snapshot(obj, "finish")
    replaced = [name for name, wrapper in (("compile", _compile), ("fit", _fit), ("evaluate", _evaluate))
                if getattr(keras.Model, name) is not wrapper]
    _send({"event": "finish", "models": list(models.values()), "namespace": _namespace_facts(namespace),
           "replaced": replaced})
