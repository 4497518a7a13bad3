"""Code that runs INSIDE the student's kernel, before and after the student's cells.

The grader sends this file's source to the kernel and calls `install(config)`
before the first cell and `finish(namespace)` after the last. It imports nothing
from the grader package: it must work wherever the kernel runs.

What it does:
- `mnist.load_data()` (whichever way it was imported) reads the data file the
  grader chose, never the internet, and never lets Keras touch its cache;
- records every `compile`, `fit` and `evaluate` call with all its arguments;
- shortens the student's `fit` and `evaluate` so that later cells still run
  but a correct notebook never costs ten real epochs;
- afterwards, finds the student's model, saves it, and trains a fresh copy
  briefly on a fixed, seeded slice of the data (the grader does the same
  with the reference).
Everything it learns goes to `record.json` in the scratch directory.
"""

import inspect
import json
import os
import re
import time
import traceback
import weakref

import numpy as np

CONFIG = {}
RECORD = {
    "harness": {"installed": False},
    "data": {"load_data_calls": 0},
    "compile": [],
    "fit": [],
    "evaluate": [],
    "model": None,
    "namespace": {},
    "quick_train": None,
    "digit3": None,
    "problems": [],
}
_ORIGINAL = {}
_MODELS = {}  # id(model) -> weakref, so finish() can name the model fit was called on
_RAW = {}  # the arrays load_data returned, to recognise the test set later
_COMPILE_ARGS = {}  # id(model) -> (optimizer, loss) as the student passed them
_INSIDE = [0]  # >0 while Keras or the harness itself calls these methods (fit calls evaluate)


def _passthrough(name, eager=False):
    """Calls made from inside a recorded call (or by the harness) are not the student's.
    `eager`: for the student's shortened fit and evaluate, a few eager steps cost less
    than tracing the training and test functions."""
    def call(self, *args, **kwargs):
        _INSIDE[0] += 1
        was_eager = getattr(self, "run_eagerly", False)
        try:
            if eager:
                self.run_eagerly = True
            return _ORIGINAL[name](self, *args, **kwargs)
        finally:
            _INSIDE[0] -= 1
            if eager:
                self.run_eagerly = was_eager
    return call


# ---------------------------------------------------------------- recording

def _save_record():
    path = os.path.join(CONFIG["scratch"], "record.json")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(RECORD, f, default=_json_default)
    os.replace(tmp, path)


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return repr(value)


def _problem(where, exc):
    RECORD["problems"].append({"where": where, "error": f"{type(exc).__name__}: {exc}"})


def _split_of(array):
    """'test' or 'train' when the array's first images are MNIST's test or train images."""
    if "x_test" not in _RAW:
        return None
    try:
        a = np.asarray(array)
        if a.ndim == 0 or a.shape[0] == 0:
            return None
        k = min(16, a.shape[0])
        if a.ndim >= 3 or (a.ndim == 2 and a.shape[1] == 784):  # images
            rows = a[:k].reshape(k, -1).astype(np.float64)
            for name in ("x_test", "x_train"):
                raw = _RAW[name]
                if rows.shape[1] != 784 or raw.shape[0] < k:
                    continue
                ref = raw[:k].reshape(k, -1).astype(np.float64)
                num = (rows * ref).sum(axis=1)
                den = np.linalg.norm(rows, axis=1) * np.linalg.norm(ref, axis=1) + 1e-12
                if np.all(num / den > 0.99):
                    return name[2:]
        else:  # labels, one-hot or integers: 200 in a row cannot match by chance
            k = min(200, a.shape[0])
            labels = a[:k].argmax(axis=1) if a.ndim == 2 else a[:k]
            for name in ("y_test", "y_train"):
                raw = _RAW[name][:k]
                if len(raw) == k and np.array_equal(np.asarray(labels).astype(np.int64), raw.astype(np.int64)):
                    return name[2:]
    except Exception:
        return None
    return None


def _describe_value(value):
    """A plain description of a fit/evaluate argument: shape, dtype, range, split."""
    if value is None:
        return None
    if isinstance(value, (tuple, list)) and value and not np.isscalar(value[0]):
        return {"kind": "tuple", "items": [_describe_value(v) for v in value]}
    try:
        a = np.asarray(value)
    except Exception:
        return {"kind": type(value).__name__}
    if a.dtype == object:
        return {"kind": type(value).__name__}
    info = {"kind": "array", "shape": list(a.shape), "dtype": str(a.dtype)}
    if a.size and a.dtype.kind in "fiub":
        info["min"] = float(a.min())
        info["max"] = float(a.max())
        if a.ndim == 2 and a.shape[1] > 1:
            ones = np.isclose(a, 1.0).sum(axis=1)
            zeros = np.isclose(a, 0.0).sum(axis=1)
            info["one_hot"] = bool(np.all(ones == 1) and np.all(ones + zeros == a.shape[1]))
    info["split"] = _split_of(a)
    if "x_test" in _RAW and info["split"]:
        info["split_size"] = int(_RAW["x_" + info["split"]].shape[0])
    return info


def _plain(value):
    """Describe an optimizer, loss or metric as the student passed it."""
    if isinstance(value, str):
        return {"kind": "name", "name": value}
    if inspect.isfunction(value) or inspect.isbuiltin(value):
        return {"kind": "function", "name": value.__name__}
    cls = type(value)
    info = {"kind": "object", "name": cls.__name__}
    try:
        config = value.get_config()
        defaults = cls().get_config()
        info["changed"] = {k: v for k, v in config.items()
                           if k != "name" and _jsonable(v) != _jsonable(defaults.get(k))}
        info["config"] = {k: _jsonable(v) for k, v in config.items() if k != "name"}
    except Exception:
        pass
    return info


def _jsonable(v):
    try:
        json.dumps(v)
        return v
    except TypeError:
        return repr(v)


def _bind(name, self, args, kwargs):
    """All arguments of a Model method by name, positional ones included, defaults applied."""
    bound = inspect.signature(_ORIGINAL[name]).bind(self, *args, **kwargs)
    given = [k for k in bound.arguments if k != "self"]
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    arguments.pop("self")
    extra = arguments.pop("kwargs", {}) or {}
    arguments.update(extra)
    return arguments, given


def _model_ref(model):
    _MODELS[id(model)] = weakref.ref(model)
    return {"id": id(model), "name": getattr(model, "name", None), "class": type(model).__name__}


def _compile(self, *args, **kwargs):
    if _INSIDE[0]:
        return _ORIGINAL["compile"](self, *args, **kwargs)
    try:
        arguments, given = _bind("compile", self, args, kwargs)
        metrics = arguments.get("metrics")
        if metrics is not None and not isinstance(metrics, (list, tuple, dict)):
            metrics = [metrics]
        if isinstance(metrics, dict):
            metrics = [m for v in metrics.values() for m in (v if isinstance(v, (list, tuple)) else [v])]
        RECORD["compile"].append({
            "model": _model_ref(self),
            "given": given,
            "optimizer": _plain(arguments.get("optimizer")),
            "loss": _plain(arguments.get("loss")) if arguments.get("loss") is not None else None,
            "metrics": [_plain(m) for m in (metrics or [])],
        })
        _COMPILE_ARGS[id(self)] = (arguments.get("optimizer"), arguments.get("loss"))
        _save_record()
    except Exception as exc:  # recording must never break the student's cell
        _problem("compile", exc)
    return _passthrough("compile")(self, *args, **kwargs)


def _fit(self, *args, **kwargs):
    if _INSIDE[0]:
        return _ORIGINAL["fit"](self, *args, **kwargs)
    try:
        arguments, given = _bind("fit", self, args, kwargs)
    except TypeError:
        return _passthrough("fit")(self, *args, **kwargs)  # let Keras say what is wrong
    try:
        RECORD["fit"].append({
            "model": _model_ref(self),
            "given": given,
            "x": _describe_value(arguments.get("x")),
            "y": _describe_value(arguments.get("y")),
            "batch_size": arguments.get("batch_size"),
            "epochs": arguments.get("epochs"),
            "shuffle": _jsonable(arguments.get("shuffle")),
            "validation_data": _describe_value(arguments.get("validation_data")),
            "validation_split": arguments.get("validation_split"),
        })
        _save_record()
    except Exception as exc:
        _problem("fit", exc)
    return _passthrough("fit", eager=True)(self, **_shortened_fit(arguments))


def _head(value, n):
    """The first n samples of an array (or of each array in a tuple); anything else as it is."""
    if isinstance(value, (tuple, list)):
        return type(value)(_head(v, n) for v in value)
    if hasattr(value, "shape") and hasattr(value, "__getitem__") and len(getattr(value, "shape", ())) > 0:
        return value[:n]
    return value


def _shortened_fit(arguments):
    """One epoch of a few batches: later cells (evaluate, plots of history) still work."""
    args = dict(arguments)
    batch = args.get("batch_size") or 32
    samples = CONFIG["fit_steps"] * batch
    x = args.get("x")
    if hasattr(x, "shape") and len(x.shape) > 0:
        args["x"] = _head(x, samples)
        args["y"] = _head(args.get("y"), samples)
        args["sample_weight"] = _head(args.get("sample_weight"), samples)
    else:  # a dataset or generator: cap its steps instead
        args["steps_per_epoch"] = CONFIG["fit_steps"]
    if args.get("validation_data") is not None:
        args["validation_data"] = _head(args["validation_data"], CONFIG["evaluate_samples"])
    args["epochs"] = 1
    args["initial_epoch"] = 0
    args["verbose"] = 0
    return args


def _evaluate(self, *args, **kwargs):
    if _INSIDE[0]:
        return _passthrough("evaluate")(self, *args, **kwargs)
    try:
        arguments, given = _bind("evaluate", self, args, kwargs)
    except TypeError:
        return _passthrough("evaluate")(self, *args, **kwargs)
    try:
        RECORD["evaluate"].append({
            "model": _model_ref(self),
            "given": given,
            "x": _describe_value(arguments.get("x")),
            "y": _describe_value(arguments.get("y")),
        })
        _save_record()
    except Exception as exc:
        _problem("evaluate", exc)
    shortened = dict(arguments)
    n = CONFIG["evaluate_samples"]
    if hasattr(shortened.get("x"), "shape"):
        shortened["x"] = _head(shortened["x"], n)
        shortened["y"] = _head(shortened.get("y"), n)
    else:
        shortened["steps"] = 2
    shortened["verbose"] = 0
    return _passthrough("evaluate", eager=True)(self, **shortened)


# ---------------------------------------------------------------- install

def _data_file(*args, **kwargs):
    return CONFIG["data_path"]


def install(config):
    """Before the student's first cell: data source, seeds, recorders."""
    CONFIG.update(config)
    import keras
    import keras.src.datasets.mnist as mnist_impl

    keras.utils.set_random_seed(CONFIG["seed"])
    # Both keras.datasets.mnist and tensorflow.keras.datasets.mnist call this module's get_file.
    mnist_impl.get_file = _data_file
    _ORIGINAL["load_data"] = mnist_impl.load_data

    with np.load(CONFIG["data_path"], allow_pickle=False) as f:
        for key in ("x_train", "y_train", "x_test", "y_test"):
            _RAW[key] = f[key]

    for name, wrapper in (("compile", _compile), ("fit", _fit), ("evaluate", _evaluate)):
        _ORIGINAL[name] = getattr(keras.Model, name)
        setattr(keras.Model, name, wrapper)
    RECORD["harness"] = {"installed": True, "keras": keras.__version__,
                         "data_source": CONFIG.get("data_source")}
    _save_record()


# ---------------------------------------------------------------- finish

def _find_model(namespace):
    """The variable `model`; else the model fit or compile was last called on; else the only model."""
    import keras

    def names_of(obj):
        return sorted(k for k, v in namespace.items() if v is obj and not k.startswith("_"))

    candidate = namespace.get("model")
    if isinstance(candidate, keras.Model):
        return candidate, "the variable model"
    for kind in ("fit", "compile"):
        for entry in reversed(RECORD[kind]):
            ref = _MODELS.get(entry["model"]["id"])
            obj = ref() if ref else None
            if obj is not None:
                names = names_of(obj)
                label = f"the variable {names[0]}" if names else "an unnamed model"
                return obj, f"{label} (the model you called {kind} on)"
    models = {}
    for k, v in namespace.items():
        if not k.startswith("_") and isinstance(v, keras.Model):
            models.setdefault(id(v), (k, v))
    if len(models) == 1:
        (k, v), = models.values()
        return v, f"the variable {k} (the only Keras model in the notebook)"
    if len(models) > 1:
        RECORD["problems"].append({"where": "model", "error": "several models and none called model: "
                                   + ", ".join(sorted(k for k, _ in models.values()))})
    return None, None


def _namespace_facts(namespace):
    facts = {}
    for name in ("epochs", "input_shape", "batch_size", "num_classes"):
        value = namespace.get(name)
        if isinstance(value, (int, float, str, tuple, list)) and not isinstance(value, bool):
            facts[name] = _jsonable(list(value) if isinstance(value, tuple) else value)
    for name in ("train_images", "test_images", "train_labels", "test_labels"):
        if name in namespace:
            facts[name] = _describe_value(namespace[name])
    return facts


def _prepare(images, labels, input_shape, sparse):
    x = images.astype("float32") / 255.0
    x = x.reshape((-1,) + tuple(input_shape))
    if sparse:
        return x, labels.astype("int64")
    return x, np.eye(10, dtype="float32")[labels.astype("int64")]


def _digit3_image(path):
    import matplotlib.image

    img = np.asarray(matplotlib.image.imread(path), dtype="float32")
    if img.ndim == 3:
        img = img[..., :3].mean(axis=2)
    if img.max() > 1.0:
        img = img / 255.0
    if img.mean() > 0.5:  # dark ink on light paper: invert to MNIST's light-on-dark
        img = 1.0 - img
    return img


def _quick_train(model):
    """Train a fresh copy of the architecture with the student's compile settings, briefly."""
    import keras

    t = CONFIG["training"]
    if not model.layers:
        return {"skipped": "the model has no layers"}
    if id(model) not in _COMPILE_ARGS:
        return {"skipped": "model.compile was never called on this model"}
    optimizer, loss = _COMPILE_ARGS[id(model)]
    if loss is None:
        return {"skipped": "model.compile was called without a loss"}
    if not isinstance(optimizer, str) and hasattr(optimizer, "get_config"):
        optimizer = type(optimizer).from_config(optimizer.get_config())  # fresh state, same settings
    keras.utils.set_random_seed(t["seed"])
    copy = keras.models.clone_model(model)
    input_shape = tuple(copy.input_shape[1:]) if getattr(copy, "inputs", None) else None
    if input_shape is None or int(np.prod(input_shape)) != 784:
        return {"skipped": f"the model's input shape {input_shape} cannot take 28x28 images"}
    loss_name = loss if isinstance(loss, str) else getattr(loss, "__name__", type(loss).__name__)
    sparse = "sparse" in str(loss_name).lower()
    copy.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])

    rng = np.random.default_rng(t["seed"])
    train = rng.choice(_RAW["x_train"].shape[0], min(t["train_images"], _RAW["x_train"].shape[0]), replace=False)
    held = rng.choice(_RAW["x_test"].shape[0], min(t["heldout_images"], _RAW["x_test"].shape[0]), replace=False)
    x, y = _prepare(_RAW["x_train"][train], _RAW["y_train"][train], input_shape, sparse)
    xh, _ = _prepare(_RAW["x_test"][held], _RAW["y_test"][held], input_shape, sparse)

    curve = []
    log = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: curve.append(
        [float(logs.get("loss", float("nan"))), float(logs.get("accuracy", logs.get("acc", float("nan"))))]))
    started = time.perf_counter()
    copy.fit(x, y, batch_size=t["batch_size"], epochs=t["epochs"], shuffle=True,
                     verbose=0, callbacks=[log])
    seconds = time.perf_counter() - started
    predicted = np.asarray(copy(xh, training=False))  # one call: cheaper than predict's loop
    accuracy = float((predicted.reshape(len(xh), -1).argmax(axis=1) == _RAW["y_test"][held]).mean())
    result = {"train_images": int(len(x)), "heldout_images": int(len(xh)), "epochs": t["epochs"],
              "batch_size": t["batch_size"], "seed": t["seed"], "heldout_accuracy": accuracy,
              "curve": curve, "seconds": seconds}
    try:
        image = _digit3_image(CONFIG["digit3_path"]).reshape((1,) + input_shape)
        outputs = np.asarray(copy(image.astype("float32"), training=False)).reshape(-1)
        RECORD["digit3"] = {"outputs": [float(v) for v in outputs],
                            "guess": int(outputs.argmax()),
                            "probabilities": bool(np.all(outputs >= 0) and abs(outputs.sum() - 1) < 1e-3)}
    except Exception as exc:
        _problem("digit3", exc)
    return result


_FOUND = []  # the model finish() found, for train_copy()


def finish(namespace):
    """After the student's last cell: find the model and save it (the grader then loads it
    while train_copy() runs)."""
    RECORD["namespace"] = _namespace_facts(namespace)
    model, how = _find_model(namespace)
    _FOUND[:] = [model]
    if model is not None:
        path = os.path.join(CONFIG["scratch"], "model.keras")
        entry = {"how": how, "class": type(model).__name__, "id": id(model), "path": None}
        try:
            model.save(path)
            entry["path"] = path
        except Exception as exc:
            entry["save_error"] = f"{type(exc).__name__}: {exc}"
        RECORD["model"] = entry
    _save_record()


def train_copy():
    """Train a fresh copy of the found model briefly (see _quick_train)."""
    model = _FOUND[0] if _FOUND else None
    if model is not None:
        _INSIDE[0] += 1
        try:
            RECORD["quick_train"] = _quick_train(model)
        except Exception as exc:
            RECORD["quick_train"] = {"error": f"{type(exc).__name__}: {exc}",
                                     "traceback": re.sub(r"\x1b\[[0-9;]*m", "", traceback.format_exc())}
        finally:
            _INSIDE[0] -= 1
    _save_record()
