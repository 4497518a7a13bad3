"""What an assignment expects, in words an instructor can read and edit: the [expected] tables of
assignment.toml.

`autograder new` derives them from the solution's facts (`derive`). When grading, the solution is run as
always and its facts are cached; `apply` then lays the file's values over them, so that an instructor who
changes `batch_size = 64` to `32` in the file changes what the checks expect, with no notebook to edit.
What is laid over: the model's kind, each layer's class, settings, output shape and weights (a list of a
different length replaces the layers), the loss, optimizer and metrics, the fit's batch size, epochs,
shuffle and validation split, and the shapes and scaling of the training data. The brief training's pass
line still comes from training the solution's own network (edit the solution to change it).
"""

from __future__ import annotations

import copy
from typing import Any, cast

from .facts import Data, Facts, Layer, Setting

# A compile argument is written as its name, or as {name = ..., setting = value} when it changes Keras' defaults.
Written = str | dict[str, Any]


def _toml_value(value: Any) -> Any:
    """TOML has no null: a value that is None is left out of the file (and so left as the solution has it)."""
    if isinstance(value, dict):
        return {k: _toml_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_toml_value(v) for v in value]
    return value


def _setting(setting: Setting | None) -> Written | None:
    if setting is None:
        return None
    return {"name": setting["name"], **setting["changed"]} if setting["changed"] else setting["name"]


def _array(d: Data | None) -> dict[str, Any] | None:
    if not d or d.get("kind") != "array":
        return None
    return {k: d[k] for k in ("shape", "dtype", "min", "max", "one_hot") if k in d}


def derive(facts: Facts) -> dict[str, Any]:
    """The [expected] tables for a solution's facts (model, compile and fit present: `new` checks first)."""
    model, compiled, fit = facts["model"], facts["compile"], facts["fit"]
    assert model is not None and compiled is not None and fit
    expected: dict[str, Any] = {"model": model["class"]}
    if model["input_shape"]:
        expected["input_shape"] = model["input_shape"]
    expected["layers"] = [{"class": layer["class"], **layer["settings"],
                           **({"output_shape": layer["output_shape"][1:]} if None not in layer["output_shape"][1:] else {}),
                           "params": layer["params"]} for layer in model["layers"]]
    expected["compile"] = {"loss": _setting(compiled["loss"]), "optimizer": _setting(compiled["optimizer"]),
                           "metrics": compiled["metrics"]}
    validation = ({"validation_split": fit["validation_split"]} if fit.get("validation_split")
                  else {"validation": "validation_data"} if fit.get("validation_data") else {})
    expected["fit"] = {"batch_size": fit.get("batch_size"), "epochs": fit.get("epochs"),
                       "shuffle": fit.get("shuffle"), **validation}
    expected["data"] = {"train_images": _array(fit.get("x")), "train_labels": _array(fit.get("y"))}
    evaluate = facts.get("evaluate")
    if evaluate:
        expected["evaluate"] = {"images": _array(evaluate["x"]), "labels": _array(evaluate["y"])}
    return cast(dict[str, Any], _toml_value(expected))


def _laid_setting(setting: Setting | None, written: Written) -> Setting:
    name, changed = (written, {}) if isinstance(written, str) else (
        str(written["name"]), {k: v for k, v in written.items() if k != "name"})
    if setting and setting["name"] == name and setting["changed"] == changed:
        return setting  # as the solution wrote it, with its own words
    return {"name": name, "changed": changed, "keras": True, "class": name, "origin": "keras",
            "written": repr(name) if not changed else f"{name}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"}


def _layers(layers: list[Layer], entries: list[dict[str, Any]]) -> list[Layer]:
    out: list[Layer] = []
    for i, entry in enumerate(entries):
        entry = dict(entry)
        cls = str(entry.pop("class"))
        shape, params = entry.pop("output_shape", None), entry.pop("params", None)
        same = i < len(layers) and layers[i]["class"] == cls
        layer: Layer = copy.deepcopy(layers[i]) if same else {
            "class": cls, "name": f"{cls.lower()}_{i}", "settings": {}, "output_shape": [None], "params": 0,
            "note": None}
        layer["settings"].update(entry)
        if shape is not None:
            layer["output_shape"] = [None, *shape]
        if params is not None:
            layer["params"] = int(params)
        out.append(layer)
    return out


def _lay_data(d: Data | None, values: dict[str, Any] | None) -> None:
    if d is not None and values and d.get("kind") == "array":
        d.update(values)  # type: ignore[typeddict-item]


def apply(facts: Facts, expected: dict[str, Any] | None) -> Facts:
    """The solution's facts with the file's expected values laid over them (a copy; no [expected]: as they are)."""
    if not expected or facts["model"] is None:
        return facts
    facts = copy.deepcopy(facts)
    model = facts["model"]
    assert model is not None
    model["class"] = expected.get("model", model["class"])
    if "layers" in expected:
        model["layers"] = _layers(model["layers"], expected["layers"])
        model["total_params"] = sum(layer["params"] for layer in model["layers"])
    compiled, wanted = facts["compile"], expected.get("compile", {})
    if compiled is not None:
        for key in ("loss", "optimizer"):
            if key in wanted:
                compiled[key] = _laid_setting(compiled[key], wanted[key])
        if "metrics" in wanted and wanted["metrics"] != compiled["metrics"]:
            compiled["metrics"] = list(wanted["metrics"])
            compiled["metrics_written"] = [repr(m) for m in wanted["metrics"]]
    fit, wanted = facts["fit"], expected.get("fit", {})
    if fit:
        for key in ("batch_size", "shuffle", "validation_split"):
            if key in wanted:
                fit[key] = wanted[key]  # type: ignore[literal-required]
        if "epochs" in wanted:
            fit["epochs"] = fit["epochs_given"] = int(wanted["epochs"])
        data = expected.get("data", {})
        _lay_data(fit.get("x"), data.get("train_images"))
        _lay_data(fit.get("y"), data.get("train_labels"))
    return facts
