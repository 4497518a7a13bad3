"""Turn what the kernel left behind into plain facts about the submission.

The saved model is loaded here, in the grader process, with safe_mode; the
settings of compile, fit and evaluate come from the harness's record. Facts
are JSON-ready so the reference's can be cached.
"""

from __future__ import annotations

import ast
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


METHODS = ("compile", "fit", "evaluate")


def _method_calls(cells: list[tuple[int, str]]):
    """(cell, method, call node) for every .compile(, .fit( and .evaluate( in the notebook's code."""
    for number, source in cells:
        try:
            tree = ast.parse("\n".join(l for l in source.splitlines() if not l.lstrip().startswith(("%", "!"))))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in METHODS:
                yield number, node.func.attr, node


def calls_in_source(cells: list[tuple[int, str]]) -> dict[str, list[int]]:
    """Cells (1-based) whose code calls .compile(, .fit( or .evaluate( on something: read from the
    notebook itself, so that a call the harness did not see can be told apart from no call."""
    found: dict[str, list[int]] = {m: [] for m in METHODS}
    for number, method, _ in _method_calls(cells):
        if number not in found[method]:
            found[method].append(number)
    return found


def literal_fit_arguments(cells: list[tuple[int, str]]) -> list[dict]:
    """For each .fit( call, its keyword arguments written as plain numbers or True/False, with the cell."""
    calls = []
    for number, method, node in _method_calls(cells):
        if method != "fit":
            continue
        literals = {}
        for kw in node.keywords:
            if kw.arg in ("batch_size", "epochs", "shuffle"):
                try:
                    literals[kw.arg] = ast.literal_eval(kw.value)
                except ValueError:  # a variable, e.g. epochs=epochs: nothing to compare
                    pass
        calls.append({"cell": number, "literals": literals})
    return calls


def collect(execution: Execution, described: tuple[dict | None, str | None] | None = None) -> dict:
    """Facts about the submission. `described`: describe_saved() already done (in parallel)."""
    record = execution.record or {}
    failed_cells = {e.cell for e in execution.errors}
    ran_cleanly = [(n, src) for n, src in execution.sources if n not in failed_cells and n <= execution.last_cell]
    found = record.get("model")
    facts = {
        "execution": {k: v for k, v in dataclasses.asdict(execution).items() if k not in ("record", "sources")},
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
    # A call in a cell that ran without error, which the harness never recorded, means something
    # replaced Keras' method (or the record was tampered with): a finding, not "never called".
    in_source = calls_in_source(ran_cleanly)
    facts["unrecorded_calls"] = {kind: cells for kind, cells in in_source.items()
                                 if cells and facts["harness_installed"] and not record.get(kind)}
    facts["fit_in_source"] = literal_fit_arguments(ran_cleanly)
    return facts
