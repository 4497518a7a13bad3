"""A saved model file (.keras) the grader is willing to load: its config read size-capped, its size
counted before any weight is allocated, loaded with Keras' safe_mode, and only Keras' own layer classes."""

from __future__ import annotations

import json
import threading
import zipfile
from pathlib import Path
from typing import Any

from .errors import TOO_MUCH
from .quiet import import_keras_quietly, native_stderr_silenced

MAX_PARAMS = 50_000_000  # the lesson's network has 120,586; a larger model is refused before loading
MAX_CONFIG_BYTES = 5 << 20
MAX_LAYERS = 300  # the lesson's network has 8; Keras takes ever longer to build and describe thousands


class UnsafeModel(ValueError):
    """A saved model the grader will not load: too large, custom code, or not a Keras file."""


def read_config(path: Path) -> dict[str, Any]:
    """config.json of a .keras file, size-capped."""
    try:
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo("config.json")
            if info.file_size > MAX_CONFIG_BYTES:
                raise UnsafeModel("its description is larger than any network of this lesson")
            config = json.loads(zf.read(info))
    except UnsafeModel:  # a ValueError itself: said as it is, not turned into "not a Keras model file"
        raise
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise UnsafeModel(f"it is not a Keras model file ({type(exc).__name__})") from None
    if not isinstance(config, dict):  # JSON, but not a model's description: check_size would crash on it
        raise UnsafeModel(f"it is not a Keras model file (its description is a {type(config).__name__})")
    return config


def _layer_params(layer: dict[str, Any]) -> int:
    """Parameters a layer will allocate, from its config and build shape alone (0 when it has none
    or the grader does not know the layer)."""
    config, cls = layer.get("config") or {}, layer.get("class_name")
    shape = ((layer.get("build_config") or {}).get("input_shape")) or []
    last = shape[-1] if shape and isinstance(shape[-1], int) else 0
    bias = 1 if config.get("use_bias", True) else 0
    if cls == "Dense":
        return (last + bias) * int(config.get("units", 0))
    if cls in ("Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose"):
        kernel = config.get("kernel_size") or [1]
        size = 1
        for k in kernel:
            size *= int(k)
        return (size * last + bias) * int(config.get("filters", 0))
    if cls == "Embedding":
        return int(config.get("input_dim", 0)) * int(config.get("output_dim", 0))
    return sum(_layer_params(inner) for inner in config.get("layers", []) if isinstance(inner, dict))


def _own_classes(config: dict[str, Any]) -> list[str]:
    """Classes in the config that are not Keras' own (the student's subclasses)."""
    found = []
    for layer in (config.get("config") or {}).get("layers", []) if isinstance(config, dict) else []:
        if isinstance(layer, dict):
            module = str(layer.get("module") or "")  # Keras' own classes always name their module
            if not module.startswith("keras"):
                found.append(f"{layer.get('class_name')} ({(layer.get('config') or {}).get('name', '')})")
            found += _own_classes(layer)
    return found


def _layer_count(config: Any) -> int:
    inner = (config.get("config") or {}).get("layers", []) if isinstance(config, dict) else []
    return sum(1 + _layer_count(layer) for layer in inner if isinstance(layer, dict))


def check_size(config: dict[str, Any]) -> int:
    """The model's parameter count as its config declares it; UnsafeModel past MAX_PARAMS or MAX_LAYERS, or
    for layers of the student's own classes (safe_mode cannot load those, and need not)."""
    layers = _layer_count(config)
    if layers > MAX_LAYERS:
        raise UnsafeModel(f"{TOO_MUCH}: it has {layers:,} layers, more than the {MAX_LAYERS} the grader "
                          "loads (the lesson's network has 8)")
    own = _own_classes(config)
    if own:
        raise UnsafeModel(f"it uses a layer class of your own, not Keras': {', '.join(own[:3])}")
    total = _layer_params(config)
    if total > MAX_PARAMS:
        raise UnsafeModel(f"it declares {total:,} weights, more than the {MAX_PARAMS:,} the grader loads "
                          "(the lesson's network has about 120,000)")
    return total


# Keras draws initial weights and seeds from process-wide random state (Python's random, TensorFlow's seed
# counter). A load beside the brief training would draw from it between the training's seeding and its
# copy's initial weights, and change the figures: each holds this lock (re-entrant: the training loads too).
KERAS_STATE = threading.RLock()


def load_safely(path: Path) -> tuple[Any, dict[str, Any]]:
    """(model, config): the saved model loaded with safe_mode after its size was checked."""
    config = read_config(path)
    check_size(config)
    keras = import_keras_quietly()
    with KERAS_STATE, native_stderr_silenced():
        model = keras.models.load_model(path, compile=False, safe_mode=True)
    for layer in model.layers:  # a subclass of Dense is not Dense: only Keras' own classes count
        if not type(layer).__module__.startswith("keras."):
            raise UnsafeModel(f"its layer {layer.name} is a class of your own ({type(layer).__name__})")
    return model, config
