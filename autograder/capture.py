"""Turn what the kernel left behind into plain facts about the submission.

The saved model is loaded here, in the grader process, with safe_mode; the
settings of compile, fit and evaluate come from the harness's record. Facts
are JSON-ready so the reference's can be cached.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from . import spec
from .execute import Execution


def _for_model(entries: list[dict], model_id: int | None) -> dict | None:
    """The last call made on the graded model (else the last call of all)."""
    if not entries:
        return None
    mine = [e for e in entries if e["model"]["id"] == model_id]
    return (mine or entries)[-1]


def describe_saved(found: dict | None) -> tuple[dict | None, str | None]:
    """(description, error) of the model the harness saved; a model Keras cannot load safely
    is a finding, not a crash."""
    if found and found.get("path"):
        try:
            return spec.describe_model(Path(found["path"])), None
        except Exception as exc:
            return None, f"{type(exc).__name__}: {exc}"
    if found:
        return None, found.get("save_error", "the model could not be saved")
    return None, None


def collect(execution: Execution, described: tuple[dict | None, str | None] | None = None) -> dict:
    """Facts about the submission. `described`: describe_saved() already done (in parallel)."""
    record = execution.record or {}
    found = record.get("model")
    facts = {
        "execution": {k: v for k, v in dataclasses.asdict(execution).items() if k != "record"},
        "harness_installed": bool(record.get("harness", {}).get("installed")),
        "model_found": found,
        "model": None,
        "model_error": None,
        "problems": record.get("problems", []),
        "namespace": record.get("namespace", {}),
        "quick_train": record.get("quick_train"),
        "digit3": record.get("digit3"),
    }
    model_id = found.get("id") if found else None
    facts["model"], facts["model_error"] = described if described is not None else describe_saved(found)

    compiled = _for_model(record.get("compile", []), model_id)
    facts["compile"] = None if compiled is None else {
        "optimizer": spec.canonical_optimizer(compiled["optimizer"]),
        "loss": spec.canonical_loss(compiled["loss"]),
        "metrics": [spec.canonical_metric(m) for m in compiled["metrics"]],
        "metrics_written": [spec.written(m) for m in compiled["metrics"]],
        "given": compiled["given"],
    }
    facts["fit"] = _for_model(record.get("fit", []), model_id)
    facts["fit_calls"] = len(record.get("fit", []))
    facts["evaluate"] = _for_model(record.get("evaluate", []), model_id)
    return facts
