"""The brief training: a fresh copy of the student's network, trained by the grader itself.

The copy is built from the saved model's config (loaded with safe_mode, size
checked first) and compiled with the optimizer and loss the model was saved
with, deserialized from Keras' own classes. No code from the notebook runs here,
and the reference goes through exactly the same function, on the same seeded
slice of the data, so the two accuracies can be compared.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from . import arithmetic, data, describe, model_file, model_worker, quiet, reference_cache
from .facts import BriefTraining, Digit3, TrainingResult

# (training facts, handwritten-3 facts {"guess", "outputs", "probabilities"}): what one brief training gives
Result = TrainingResult
# {"optimizer": "keras", "loss": ...}: where the kernel saw each compile argument come from (harness _origin)
Origins = dict[str, Any]


def _prepare(images: np.ndarray, labels: np.ndarray, input_shape: tuple[int, ...], sparse: bool,
             dtype: str, classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Pixels from 0 to 1 in the model's input shape (the sizes agree: 28 × 28 as 28 × 28 × 1 or 784, a colour
    picture 32 × 32 × 3 as it is), and labels as the loss wants them: whole numbers, or one-hot in `classes`
    columns. Labels may come as a column (CIFAR-10's are (N, 1))."""
    x = images.astype(dtype) / 255.0
    x = x.reshape((-1,) + tuple(input_shape))
    whole = labels.astype("int64").reshape(-1)
    if sparse:
        return x, whole
    return x, np.eye(classes, dtype=dtype)[whole]


def image_words(image_shape: tuple[int, ...]) -> str:
    """One image's shape, as the skip reason says it: '28x28', '32x32 colour'."""
    if len(image_shape) == 3 and image_shape[-1] == 3:
        return "x".join(map(str, image_shape[:2])) + " colour"
    return "x".join(map(str, image_shape))


def _fresh_copy(keras: Any, model: Any) -> tuple[Any, str]:
    """A fresh, seeded copy of the network in float64 (arithmetic.py: the same figures on every CPU), and
    the dtype it got: a network Keras cannot build in float64 is copied as it was, in its own dtype."""
    spec = keras.saving.serialize_keras_object(model)
    spec.pop("compile_config", None)
    try:
        return keras.saving.deserialize_keras_object(arithmetic.in_float64(spec), safe_mode=True), arithmetic.DTYPE
    except Exception:
        return keras.models.clone_model(model), keras.config.floatx()


def _digit3_image(path: Path) -> np.ndarray:
    import matplotlib.image

    img = np.asarray(matplotlib.image.imread(path), dtype="float32")
    if img.ndim == 3:
        img = img[..., :3].mean(axis=2)
    if img.max() > 1.0:
        img = img / 255.0
    if img.mean() > 0.5:  # dark ink on light paper: invert to MNIST's light-on-dark, as the next lesson does
        img = 1.0 - img
    return img


def _origins(compiled_with: dict[str, Any] | None) -> Origins:
    """{"loss": "keras", ...}: where the kernel saw each compile argument come from (harness _origin)."""
    return {kind: (said or {}).get("origin") for kind, said in (compiled_with or {}).items() if said}


def _keras_own(keras: Any, kind: str, saved: Any) -> Any:
    """Keras' own object for a saved compile argument known to be Keras' (_compile_arguments): a function is
    saved by its name alone, an object by its class and settings, a string as written."""
    module = keras.optimizers if kind == "optimizer" else keras.losses
    if isinstance(saved, dict) and saved.get("class_name") == "function":
        return module.get(saved["config"])
    return module.deserialize(saved) if isinstance(saved, dict) else module.get(saved or "rmsprop")


def _compile_arguments(keras: Any, compile_config: dict[str, Any] | None,
                       origins: Origins | None = None) -> tuple[Any, Any, str | None]:
    """(optimizer, loss, None) to compile the copy with, rebuilt from Keras' own classes and functions; or
    (None, None, a reason not to)."""
    settings = describe.compile_settings(compile_config)
    if not settings or compile_config is None:  # (no settings without a config: compile_settings(None) is None)
        return None, None, "model.compile was never called on this model"
    if settings["loss"] is None:
        return None, None, "model.compile was called without a loss"
    for kind in ("optimizer", "loss"):
        described, origin = settings[kind], (origins or {}).get(kind)
        # Keras' own when the saved file says so and the kernel saw no other, or a function the kernel saw
        # was Keras' very own (the file names a function and nothing more).
        keras_own = described is None or (origin in (None, "keras") and (
            described["keras"] or (described["kind"] == "function" and origin == "keras")))
        if not keras_own and described is not None:  # (described is None: Keras' own)
            return None, None, f"the {kind} is not one of Keras' own ({described['name']})"
    return (_keras_own(keras, "optimizer", compile_config.get("optimizer")),
            _keras_own(keras, "loss", compile_config.get("loss")), None)


class Trainer:
    """Runs the brief training, starting it early: as soon as a compiled model's snapshot arrives, the
    grader's other core trains it while the kernel runs the student's fit and the cells after it. The
    result depends only on the model's config (architecture and compile settings, as the grader read them
    from the snapshot), the seed, the data and the budget, so a snapshot with the same config reuses it: a
    later one of the same notebook, or another student's identical network graded earlier by this process
    (most of a class builds the lesson's). One training at a time: Keras' global seed must not be shared."""

    def __init__(self, data_path: Path, settings: dict[str, Any], digit3_path: Path, cache: Path, data_key: str = "",
                 target: float | None = None) -> None:
        self._cache = cache  # where finished trainings are kept between processes
        self._args = (str(data_path), settings, str(digit3_path))
        self._target = target  # the accuracy that passes (the reference's, less pass_within); None: the reference
        self._salt = json.dumps([settings, data_key, hashlib.sha256(Path(digit3_path).read_bytes()).hexdigest(),
                                 reference_cache.grader_digest()], sort_keys=True, default=str)
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._started: dict[str, Future[Result]] = {}
        self._latest: dict[object, dict[str, Any]] = {}  # model id -> its latest snapshot event
        self._early = 0

    def _key(self, path: Path, origins: Origins) -> str | None:
        try:
            config = json.dumps([_canonical(model_file.read_config(path)), origins], sort_keys=True)
        except Exception:
            return None
        return hashlib.sha256((self._salt + config).encode()).hexdigest()

    def follow(self, event: dict[str, Any]) -> None:
        """Each event of the harness as it arrives (events.Channel.on_event): as fit starts on a model, its
        copy is trained on the other core while the student's fit runs. Only a model fit runs on, and at
        most MAX_EARLY of them: compiling a hundred decoy networks starts nothing."""
        model: dict[str, Any] = event["model"] if isinstance(event.get("model"), dict) else {}
        if event["event"] == "snapshot" and event.get("copy") and event.get("why") != "finish":
            self._latest[model.get("id")] = event
        elif event["event"] == "fit" and model.get("id") in self._latest and self._early < MAX_EARLY:
            self._early += 1
            snapshot = self._latest[model["id"]]
            self.start(Path(snapshot["copy"]), snapshot.get("compiled_with"))

    def start(self, path: Path, compiled_with: dict[str, Any] | None = None) -> None:
        origins = _origins(compiled_with)
        key = self._key(path, origins)
        if key and key not in self._started:
            self._started[key] = self._pool.submit(self._train, path, key, origins)

    def __call__(self, path: Path, compiled_with: dict[str, Any] | None = None) -> Result:
        origins = _origins(compiled_with)
        key = self._key(path, origins)
        future = self._started.get(key) if key else None
        return future.result() if future is not None else self._train(path, key, origins)

    def _train(self, path: Path, key: str | None, origins: Origins) -> Result:
        """The brief training; for a network that falls short of the target, the longer one (more_epochs):
        whether a network learns, not how fast in one short epoch. The brief result is keyed without the
        target, so the lesson's network trained for the reference serves every student who built it."""
        with _ONE_AT_A_TIME:
            result = self._remembered(key, lambda: train_copy(path, *self._args, origins=origins))
            accuracy = result[0].get("heldout_accuracy")
            if self._target is None or accuracy is None or accuracy >= self._target or not self._args[1].get("more_epochs"):
                return result
            longer = f"{key}-longer-{self._target:.6f}" if key else None
            return self._remembered(longer, lambda: train_copy(path, *self._args, origins=origins,
                                                                 target=self._target))

    def _remembered(self, key: str | None, train: Callable[[], Result]) -> Result:
        """A training finished before (this process, then the cache folder), or train() now and keep it."""
        if key in _FINISHED:
            return copy.deepcopy(_FINISHED[key])
        stored = reference_cache.load(self._cache, key, "training") if key else None
        result: Result = tuple(stored) if stored is not None else train()  # stored: the [training, digit3] kept below
        if key and "heldout_accuracy" in result[0]:  # finished within its time: the same next time
            if stored is None:
                reference_cache.store(self._cache, key, result, "training")
            if len(_FINISHED) >= MAX_REMEMBERED:
                _FINISHED.pop(next(iter(_FINISHED)))
            _FINISHED[key] = copy.deepcopy(result)
        return result

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def _canonical(config: Any, ids: dict[Any, int] | None = None) -> Any:
    """The config with Keras' shared_object_id (a Python id(), different in every process) replaced by the
    order in which each first appears: which objects are shared stays, the addresses go."""
    ids = {} if ids is None else ids
    if isinstance(config, dict):
        return {k: ids.setdefault(v, len(ids)) if k == "shared_object_id" else _canonical(v, ids)
                for k, v in config.items()}
    if isinstance(config, list):
        return [_canonical(v, ids) for v in config]
    return config


_ONE_AT_A_TIME = threading.Lock()
MAX_EARLY = 2  # trainings started while the notebook runs (the model fit runs on; once more if refitted)
HELDOUT_SLICE = 250
_FINISHED: dict[str, Result] = {}  # this process's finished trainings, by Trainer._key
MAX_REMEMBERED = 256


def train_copy(path: Path, data_path: str, settings: dict[str, Any], digit3_path: str,
               origins: Origins | None = None, target: float | None = None) -> Result:
    """The brief training of the snapshot at path, in the models' own process (model_worker): a network
    too large for its memory or time is skipped with the reason."""
    seconds = settings.get("time_limit_s", 60) + model_worker.DESCRIBE_S
    try:
        training, digit3 = model_worker.worker().train(path, data_path, settings, digit3_path, origins, target,
                                                       seconds=seconds)
    except model_worker.ModelTooLarge as exc:
        return {"skipped": str(exc)}, None
    return training, digit3


@functools.lru_cache(maxsize=2)
def _arrays(data_path: str) -> dict[str, np.ndarray]:
    """The data the brief training uses, read once per process (a batch worker's model process trains many)."""
    with np.load(data_path, allow_pickle=False) as f:
        return {k: f[k] for k in data.KEYS}


def train_from_files(path: str, data_path: str, settings: dict[str, Any], digit3_path: str,
                     origins: Origins | None = None, target: float | None = None) -> Result:
    """brief_training as the model process is asked for it (model_worker): files named, plain data back."""
    return brief_training(Path(path), _arrays(data_path), settings, Path(digit3_path), origins, target)


def brief_training(model_path: Path, arrays: dict[str, np.ndarray], settings: dict[str, Any], digit3_path: Path,
                   origins: Origins | None = None, target: float | None = None) -> Result:
    """(training facts, handwritten-3 facts) for the saved model at model_path. origins: where the kernel saw
    the optimizer and loss come from (a function is saved by its name alone). target: an accuracy below which
    the copy gets up to settings["more_epochs"] more epochs on the same images."""
    with model_file.KERAS_STATE:  # from the seeding to the last prediction, no other Keras work in this process
        return _brief_training(model_path, arrays, settings, digit3_path, origins, target)


def _brief_training(model_path: Path, arrays: dict[str, np.ndarray], settings: dict[str, Any], digit3_path: Path,
                    origins: Origins | None, target: float | None) -> Result:
    keras = quiet.import_keras_quietly()
    model, config = model_file.load_safely(model_path)
    if not model.layers:
        return {"skipped": "the model has no layers"}, None
    optimizer, loss, reason = _compile_arguments(keras, config.get("compile_config"), origins)
    if reason:
        return {"skipped": reason}, None
    keras.utils.set_random_seed(settings["seed"])
    copy, dtype = _fresh_copy(keras, model)
    input_shape = tuple(copy.input_shape[1:]) if getattr(copy, "inputs", None) else None
    x_train, y_train, x_test, y_test = (arrays[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    image_shape = tuple(int(d) for d in x_train.shape[1:])  # one image of the data: (28, 28), (32, 32, 3)
    if input_shape is None or None in input_shape or int(np.prod(input_shape)) != int(np.prod(image_shape)):
        return {"skipped": f"the model's input shape {input_shape} cannot take {image_words(image_shape)} images"}, None
    loss_name = getattr(loss, "name", None) or getattr(loss, "__name__", "") or type(loss).__name__
    sparse = "sparse" in str(loss_name).lower()
    copy.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"], jit_compile=False)

    rng = np.random.default_rng(settings["seed"])
    classes = int(max(y_train.max(), y_test.max())) + 1  # 10 for MNIST's digits: the labels the data has
    train = rng.choice(x_train.shape[0], min(settings["train_images"], x_train.shape[0]), replace=False)
    held = rng.choice(x_test.shape[0], min(settings["heldout_images"], x_test.shape[0]), replace=False)
    x, y = _prepare(x_train[train], y_train[train], input_shape, sparse, dtype, classes)
    xh, _ = _prepare(x_test[held], y_test[held], input_shape, sparse, dtype, classes)
    yh = y_test[held].astype("int64").reshape(-1)

    curve: list[list[float]] = []
    started = time.perf_counter()
    limit = settings.get("time_limit_s", 60)

    def log(batch: int, logs: dict[str, Any]) -> None:
        curve.append([float(logs.get("loss", float("nan"))), float(logs.get("accuracy", logs.get("acc", float("nan"))))])
        if time.perf_counter() - started > limit:  # a network far larger than the lesson's: stop, and say so
            copy.stop_training = True

    def fit(epochs: int) -> None:
        with quiet.native_stderr_silenced():
            copy.fit(x, y, batch_size=settings["batch_size"], epochs=epochs, shuffle=True, verbose=0,
                     callbacks=[keras.callbacks.LambdaCallback(on_train_batch_end=log)])

    def heldout_accuracy() -> float:
        # A few direct calls (cheaper than predict's loop); in slices, so that float64 activations of a
        # thousand images never sit in the grader's memory at once.
        parts = (xh[i:i + HELDOUT_SLICE] for i in range(0, len(xh), HELDOUT_SLICE))
        guesses = [np.asarray(copy(part, training=False)).reshape(len(part), -1).argmax(axis=1) for part in parts]
        return float((np.concatenate(guesses) == yh).mean())

    fit(settings["epochs"])
    planned = settings["epochs"] * -(-len(x) // settings["batch_size"])
    if len(curve) < planned:
        keras.backend.clear_session()
        return {"skipped": f"your network is too large to train briefly: {len(curve)} of {planned} batches took "
                           f"more than {limit} seconds (the lesson's takes about 2)"}, None
    accuracy = first = heldout_accuracy()
    brief_curve, more = list(curve), 0  # the chart compares the brief training with the lesson's, alike
    while target is not None and accuracy < target and more < settings.get("more_epochs", 0) \
            and time.perf_counter() - started < limit:
        fit(1)
        more, accuracy = more + 1, heldout_accuracy()
    seconds = time.perf_counter() - started
    training: BriefTraining = {"train_images": int(len(x)), "heldout_images": int(len(xh)), "epochs": settings["epochs"],
                "batch_size": settings["batch_size"], "seed": settings["seed"], "heldout_accuracy": accuracy,
                "curve": brief_curve, "seconds": round(seconds, 3),
                "arithmetic": arithmetic.facts(dtype)}
    if more:
        training["more_epochs"], training["first_accuracy"] = more, first
    digit3 = _digit3(copy, digit3_path, input_shape, dtype)
    keras.backend.clear_session()
    return training, digit3


def _digit3(copy: Any, digit3_path: Path, input_shape: tuple[int, ...], dtype: str) -> Digit3 | None:
    """What the trained copy says of the handwritten 3, or None where the network takes no 28 × 28 grey image
    (a lesson on colour pictures)."""
    picture = _digit3_image(digit3_path)
    if picture.size != int(np.prod(input_shape)):
        return None
    image = picture.reshape((1,) + input_shape)
    outputs = np.asarray(copy(image.astype(dtype), training=False)).reshape(-1)
    digit3: Digit3 = {"outputs": [float(v) for v in outputs], "guess": int(outputs.argmax()),
              "probabilities": bool(np.all(outputs >= 0) and abs(outputs.sum() - 1) < 1e-3)}
    return digit3
