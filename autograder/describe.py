"""Plain descriptions of a network and its training settings, for comparison.

`describe_model` loads a saved .keras file safely (model_file.load_safely: no code from the notebook can
run) and turns it into plain data: layers with class, settings, output shape and parameter count. The
`canonical_*` functions map the many ways of saying the same thing to one name, as Keras itself would
treat them ('acc' is 'accuracy', RMSprop() is 'rmsprop').
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, cast

from .facts import Layer, ModelDescription, SavedCompile

from .model_file import load_safely
from .quiet import import_keras_quietly

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
# How Keras saved one compile argument (_serialized): {"kind", "name", "keras", "module", "changed", "error"};
# JSON as it travels from the models' process and into the facts.
Described = dict[str, Any]


def _plain_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain_value(v) for v in value]
    if isinstance(value, dict):  # a serialized object, e.g. an activation function
        return value.get("config", {}).get("name") or value.get("class_name")
    return value


def _settings(layer: Any) -> dict[str, Any]:
    config = layer.get_config()
    cls = type(layer).__name__
    keys: Sequence[str] | None = SETTINGS.get(cls)
    if keys is None:
        keys = [k for k, v in config.items() if k not in IGNORED and isinstance(v, (int, float, str, bool, tuple, list))]
    return {k: _plain_value(config[k]) for k in keys if k in config}


def _shape(shape: Iterable[Any]) -> list[int | None]:
    return [None if d is None else int(d) for d in shape]


def _output_shapes(model: Any) -> list[list[int | None] | None]:
    shapes: list[list[int | None] | None] = []
    current: tuple[Any, ...] | None = None
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


def describe_model(path: Path) -> ModelDescription:
    """Load a saved model safely and describe it as plain data, compile settings included."""
    model, config = load_safely(path)
    try:
        input_shape = _shape(model.inputs[0].shape)[1:]
    except Exception:
        input_shape = None
    layers: list[Layer] = []
    for layer, shape in zip(model.layers, _output_shapes(model)):
        cls = type(layer).__name__
        if cls == "InputLayer":  # keras.Input is a shape, not a layer of the network
            continue
        # output_shape is None where Keras could compute no shape; facts.Layer says list only (facts.py is
        # not this module's: reported to be made `list | None`), hence the two ignores below.
        entry: Layer = {"class": cls, "name": layer.name, "settings": _settings(layer),
                        "output_shape": shape,  # type: ignore[typeddict-item]
                        "params": int(layer.count_params()) if layer.built else 0, "note": None}
        if cls in ACTIVATION_LAYERS and layers and layers[-1]["settings"].get("activation") in ("linear", None):
            activation = ACTIVATION_LAYERS[cls] or entry["settings"].get("activation")
            previous = layers[-1]
            previous["settings"]["activation"] = activation
            previous["output_shape"] = shape  # type: ignore[typeddict-item]
            previous["note"] = f"activation '{activation}' given as a separate {cls} layer"
            continue
        layers.append(entry)
    total = int(model.count_params()) if model.built else 0  # an empty Sequential is never built
    return {"class": type(model).__name__, "input_shape": input_shape, "layers": layers, "total_params": total,
            "compile": compile_settings(config.get("compile_config"))}


# ---------------------------------------------------------------- compile settings, from the saved model

def _serialized(value: Any) -> Described | None:
    """How Keras saved one compile argument: a name, a function, or an object of some class."""
    if value is None:
        return None
    if isinstance(value, str):
        return {"kind": "name", "name": value, "keras": True}
    if isinstance(value, dict) and "class_name" in value:
        module = str(value.get("module") or "")
        keras_own = module.startswith("keras")
        if value["class_name"] == "function":
            return {"kind": "function", "name": str(value.get("config")), "keras": keras_own, "module": module}
        return {"kind": "object", "name": str(value["class_name"]), "keras": keras_own, "module": module,
                "serialized": value}
    return {"kind": type(value).__name__, "name": repr(value)[:80], "keras": False}


def _changed(kind: str, described: Described) -> dict[str, Any]:
    """Settings of a Keras optimizer or loss object that differ from its defaults (the real class's)."""
    keras = import_keras_quietly()
    module = keras.optimizers if kind == "optimizer" else keras.losses
    obj = module.deserialize(described["serialized"])
    config, defaults = obj.get_config(), type(obj)().get_config()
    return {k: _plain(v) for k, v in config.items() if k != "name" and _plain(v) != _plain(defaults.get(k))}


def _plain(value: Any) -> Any:
    """A setting as the student wrote it: Keras keeps floats in float32, so 0.0005 comes back as
    0.0005000000237487257; seven significant digits give the student's number back."""
    if isinstance(value, float):
        return float(f"{value:.7g}")
    return value if isinstance(value, (int, str, bool, type(None))) else repr(value)


def compile_settings(compile_config: dict[str, Any] | None) -> SavedCompile | None:
    """The optimizer, loss and metrics the model was compiled with, as Keras itself saved them."""
    if not compile_config:
        return None
    optimizer, loss = _serialized(compile_config.get("optimizer")), _serialized(compile_config.get("loss"))
    metrics = compile_config.get("metrics") or []
    if isinstance(metrics, dict):
        metrics = [m for v in metrics.values() for m in (v if isinstance(v, list) else [v])]
    out = {"optimizer": optimizer, "loss": loss,
           "metrics": [_serialized(m) for m in (metrics if isinstance(metrics, list) else [metrics])]}
    for kind, described in (("optimizer", optimizer), ("loss", loss)):
        if described and described["kind"] == "object" and described["keras"]:
            try:
                described["changed"] = _changed(kind, described)
            except Exception as exc:
                described["keras"] = False
                described["error"] = f"{type(exc).__name__}: {exc}"[:200]
        if described:
            described.pop("serialized", None)
            described.setdefault("changed", {})
    return cast(SavedCompile, out)  # _serialized's records, their "serialized" now removed


# ---------------------------------------------------------------- canonical names

LOSS_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error",
                "mape": "mean_absolute_percentage_error", "msle": "mean_squared_logarithmic_error",
                "kld": "kl_divergence", "kullback_leibler_divergence": "kl_divergence"}
ACCURACY = {"accuracy", "acc", "categorical_accuracy"}


def snake(name: str) -> str:
    """CategoricalCrossentropy -> categorical_crossentropy."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def canonical_optimizer(described: Described | None) -> dict[str, Any] | None:
    """{'name': 'rmsprop', 'changed': {...}} for a string or an optimizer object."""
    if not described:
        return None
    name = described["name"].lower() if described["kind"] != "function" else described["name"]
    return {"name": name, "changed": described.get("changed", {}), "written": written(described)}


def canonical_loss(described: Described | None) -> dict[str, Any] | None:
    if not described:
        return None
    name = described["name"]
    name = snake(name) if described["kind"] == "object" else name.lower()
    name = LOSS_ALIASES.get(name, name)
    return {"name": name, "changed": described.get("changed", {}), "written": written(described)}


def canonical_metric(described: Described) -> str:
    name: str = described["name"]
    name = snake(name) if described["kind"] == "object" else name.lower()
    if name in ACCURACY:
        return "accuracy"
    return LOSS_ALIASES.get(name, name)


def written(described: Described) -> str:
    """How the student wrote it, for messages: 'rmsprop' or RMSprop(learning_rate=0.5)."""
    if described["kind"] == "name":
        return repr(described["name"])
    if described["kind"] == "function":
        return str(described["name"])
    args = ", ".join(f"{k}={v!r}" for k, v in described.get("changed", {}).items())
    return f"{described['name']}({args})"
