"""Plain descriptions of a network and its training settings, for comparison.

`describe_model` loads a saved .keras file with Keras' safe_mode (no code from
the notebook can run) and turns it into plain data: layers with class,
settings, output shape and parameter count. The `canonical_*` functions map
the many ways of saying the same thing to one name, as Keras itself would
treat them ('acc' is 'accuracy', RMSprop() is 'rmsprop').
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from pathlib import Path

_STDERR_LOCK = threading.Lock()


@contextlib.contextmanager
def native_stderr_silenced():
    """TensorFlow's C++ start-up logging ignores TF_CPP_MIN_LOG_LEVEL and writes to file
    descriptor 2; hide it so the grader's own output stays readable."""
    with _STDERR_LOCK:
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)


def import_keras_quietly():
    with native_stderr_silenced():
        import keras
    return keras

# The settings a student chooses in this lesson, per layer class. Other classes
# show every simple setting of their config.
SETTINGS = {
    "Conv2D": ("filters", "kernel_size", "strides", "padding", "activation"),
    "MaxPooling2D": ("pool_size", "strides", "padding"),
    "AveragePooling2D": ("pool_size", "strides", "padding"),
    "Dropout": ("rate",),
    "Dense": ("units", "activation"),
    "Flatten": (),
}
IGNORED = {"name", "trainable", "dtype", "dtype_policy", "data_format", "batch_input_shape", "input_shape",
           "kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
           "activity_regularizer", "kernel_constraint", "bias_constraint", "seed", "noise_shape",
           "lora_rank", "lora_alpha", "quantization_config", "build_config", "use_bias", "dilation_rate",
           "groups"}
# A layer that only applies an activation counts as the previous layer's activation.
ACTIVATION_LAYERS = {"Activation": None, "Softmax": "softmax", "ReLU": "relu"}


def _plain_value(value):
    if isinstance(value, tuple):
        return [_plain_value(v) for v in value]
    if isinstance(value, dict):  # a serialized object, e.g. an activation function
        return value.get("config", {}).get("name") or value.get("class_name")
    return value


def _settings(layer) -> dict:
    config = layer.get_config()
    cls = type(layer).__name__
    keys = SETTINGS.get(cls)
    if keys is None:
        keys = [k for k, v in config.items() if k not in IGNORED and isinstance(v, (int, float, str, bool, tuple, list))]
    return {k: _plain_value(config[k]) for k in keys if k in config}


def _shape(shape) -> list:
    return [None if d is None else int(d) for d in shape]


def _output_shapes(model) -> list:
    shapes, current = [], None
    try:
        current = tuple(model.inputs[0].shape)
    except Exception:
        pass
    for layer in model.layers:
        try:
            current = tuple(layer.output.shape)
        except Exception:
            try:
                current = tuple(layer.compute_output_shape(current))
            except Exception:
                current = None
        shapes.append(_shape(current) if current is not None else None)
    return shapes


def describe_model(path: Path) -> dict:
    """Load a saved model safely and describe it as plain data."""
    keras = import_keras_quietly()
    with native_stderr_silenced():
        model = keras.models.load_model(path, compile=False, safe_mode=True)
    try:
        input_shape = _shape(model.inputs[0].shape)[1:]
    except Exception:
        input_shape = None
    layers = []
    for layer, shape in zip(model.layers, _output_shapes(model)):
        cls = type(layer).__name__
        if cls == "InputLayer":  # keras.Input is a shape, not a layer of the network
            continue
        entry = {"class": cls, "name": layer.name, "settings": _settings(layer), "output_shape": shape,
                 "params": int(layer.count_params()) if layer.built else 0, "note": None}
        if cls in ACTIVATION_LAYERS and layers and layers[-1]["settings"].get("activation") in ("linear", None):
            activation = ACTIVATION_LAYERS[cls] or entry["settings"].get("activation")
            previous = layers[-1]
            previous["settings"]["activation"] = activation
            previous["output_shape"] = shape
            previous["note"] = f"activation '{activation}' given as a separate {cls} layer"
            continue
        layers.append(entry)
    total = int(model.count_params()) if model.built else 0  # an empty Sequential is never built
    return {"class": type(model).__name__, "input_shape": input_shape, "layers": layers, "total_params": total}


# ---------------------------------------------------------------- canonical names

OPTIMIZERS = {"rmsprop", "adam", "adamw", "sgd", "adagrad", "adadelta", "adamax", "nadam", "ftrl", "lion",
              "adafactor", "lamb", "loss_scale_optimizer", "muon"}
LOSS_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error",
                "mape": "mean_absolute_percentage_error", "msle": "mean_squared_logarithmic_error",
                "kld": "kl_divergence", "kullback_leibler_divergence": "kl_divergence"}
ACCURACY = {"accuracy", "acc", "categorical_accuracy"}


def snake(name: str) -> str:
    """CategoricalCrossentropy -> categorical_crossentropy."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def canonical_optimizer(described: dict | None) -> dict | None:
    """{'name': 'rmsprop', 'changed': {...}} for a string or an optimizer object."""
    if not described:
        return None
    name = described["name"].lower() if described["kind"] != "function" else described["name"]
    return {"name": name, "changed": described.get("changed", {}), "written": written(described)}


def canonical_loss(described: dict | None) -> dict | None:
    if not described:
        return None
    name = described["name"]
    name = snake(name) if described["kind"] == "object" else name.lower()
    name = LOSS_ALIASES.get(name, name)
    return {"name": name, "changed": described.get("changed", {}), "written": written(described)}


def canonical_metric(described: dict) -> str:
    name = described["name"]
    name = snake(name) if described["kind"] == "object" else name.lower()
    if name in ACCURACY:
        return "accuracy"
    return LOSS_ALIASES.get(name, name)


def written(described: dict) -> str:
    """How the student wrote it, for messages: 'rmsprop' or RMSprop(learning_rate=0.5)."""
    if described["kind"] == "name":
        return repr(described["name"])
    if described["kind"] == "function":
        return described["name"]
    args = ", ".join(f"{k}={v!r}" for k, v in described.get("changed", {}).items())
    return f"{described['name']}({args})"
