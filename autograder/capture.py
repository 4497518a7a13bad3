"""Turn what the kernel sent into plain facts about the submission.

Facts rest on what the grader derives itself: the model is the grader's copy of
a snapshot, loaded with safe_mode; the compile settings are those Keras saved
in it; the brief training runs here (training.py). The harness's events say
which calls happened, on which model, from which line of which cell; each is
checked against the code at that line, and code that reaches into the grader is
a finding. Facts are JSON-ready so the reference's can be cached.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

from . import describe, model_file, model_worker
from .alignment import aligned
from .errors import TOO_MUCH
from .execute import Execution
from .facts import (Circumstances, CompileFacts, CompileWritten, Data, ExecutionFacts, Facts, Finding, FitFacts,
                    ModelFound, Saved, Setting, TrainingResult, Where, Written)

METHODS = ("compile", "fit", "evaluate")

# One event the harness sent: the kernel's JSON, untrusted and of any shape. What is read from it is
# checked against the code (verify_call) and becomes typed facts.
Event = dict[str, Any]
Cells = dict[int, str]  # In [n] → that cell's code
# The brief training: a snapshot's path and how the kernel saw it compiled → (training, digit3) as
# training.Trainer returns them.
Train = Callable[[Path, "dict[str, Any] | None"], TrainingResult]


# ---------------------------------------------------------------- reading the code

def _parsed(source: str) -> ast.Module | None:
    """A cell's code as Python sees it; magics (%matplotlib, !pip) become blank lines, keeping line numbers."""
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def _method_calls(cells: list[tuple[int, str]]) -> Iterator[tuple[int, str, ast.Call]]:
    """(cell, method, call node) for every .compile(, .fit( and .evaluate( in the notebook's code."""
    for number, source in cells:
        tree = _parsed(source)
        for node in ast.walk(tree) if tree else ():
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in METHODS:
                yield number, node.func.attr, node


def calls_in_source(cells: list[tuple[int, str]]) -> dict[str, list[int]]:
    """Cells whose code calls .compile(, .fit( or .evaluate( on something."""
    found: dict[str, list[int]] = {m: [] for m in METHODS}
    for number, method, _ in _method_calls(cells):
        if number not in found[method]:
            found[method].append(number)
    return found


# What only code that reaches into the grader writes. Honest notebooks of this lesson never do.
KERAS_METHODS = {"fit", "compile", "evaluate", "predict", "save", "train_function", "make_train_function",
                 "load_data", "get_file", "train_step", "test_step"}
INTERNALS = {"__closure__", "__globals__", "__code__", "get_referrers", "get_objects"}


def tampering(cells: list[tuple[int, str]]) -> list[Finding]:
    """Places where the code reaches into the grader or replaces Keras' methods: {cell, line, code, what}."""
    found: list[Finding] = []
    for number, source in cells:
        tree = _parsed(source)
        lines = source.splitlines()
        for node in ast.walk(tree) if tree else ():
            what = None
            text: str
            if isinstance(node, (ast.Name, ast.Attribute, ast.Constant)):
                text = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) \
                    else node.value if isinstance(node.value, str) else ""
                if "autograder_harness" in text or text.startswith("_autograder"):
                    what = "uses the grader's own harness"
                elif isinstance(node, ast.Attribute) and node.attr in INTERNALS:
                    what = f"reaches into other code's internals ({node.attr})"
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
                targets: list[ast.expr] = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
                if any(isinstance(t, ast.Attribute) and t.attr in KERAS_METHODS for t in targets):
                    what = "replaces one of Keras' methods"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr") \
                    and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) \
                    and node.args[1].value in KERAS_METHODS:
                what = "replaces one of Keras' methods"
            if what:
                line = getattr(node, "lineno", 1)
                code = lines[line - 1].strip() if 0 < line <= len(lines) else ""
                if not any(f["cell"] == number and f["line"] == line for f in found):
                    found.append({"cell": number, "line": line, "code": code[:200], "what": what})
    return found


def _call_at(cells: Cells, cell: int, line: int, method: str) -> ast.Call | None:
    """The .method( call whose lines include `line` in that cell, or None."""
    tree = _parsed(cells.get(cell, ""))
    for node in ast.walk(tree) if tree else ():
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == method \
                and node.lineno <= line <= (node.end_lineno or node.lineno):
            return node
    return None


def locate(event: Event, cells: Cells) -> Where:
    """Where a recorded call is in the student's code: {cell, line, code} of the running cell's line,
    and, when that line called a function of the student's, the cell and line inside it."""
    site = event.get("site") or {}
    where: Where = {"cell": event.get("cell"), "line": site.get("line"), "code": site.get("code", "")}
    inner = site.get("inner")
    if inner:
        for number, source in cells.items():
            lines = source.splitlines()
            n = inner.get("line") or 0
            if 0 < n <= len(lines) and lines[n - 1].strip() == inner.get("code"):
                where["inner"] = {"cell": number, "line": n, "code": inner["code"]}
                break
    return where


FIT_LITERALS = ("batch_size", "epochs", "shuffle", "initial_epoch")


def verify_call(event: Event, where: Where, cells: Cells) -> str | None:
    """Why a recorded call does not match the code that made it, or None when it does."""
    method = event["event"]
    target = where.get("inner") or where
    cell, line = target.get("cell"), target.get("line")
    if not cell or not line:
        return f"the grader recorded a model.{method} call that no line of your notebook made"
    node = _call_at(cells, cell, line, method)
    if node is None:
        return f"the grader recorded a model.{method} call, but In [{target['cell']}], line {target['line']} has none"
    if method == "fit":
        for kw in node.keywords:
            if kw.arg in FIT_LITERALS:
                try:
                    value = ast.literal_eval(kw.value)
                except ValueError:  # a variable, e.g. epochs=epochs: nothing to compare
                    continue
                if value != event.get(kw.arg):
                    return (f"your code says {kw.arg}={value!r} in In [{target['cell']}], line {target['line']}, "
                            f"but the grader's record says {event.get(kw.arg)!r}")
    return None


# ---------------------------------------------------------------- which model, which training

def _epochs_run(event: Event) -> int:
    """Epochs a fit really trains: from initial_epoch to epochs."""
    return max(0, int(event.get("epochs") or 1) - int(event.get("initial_epoch") or 0))


def _trained(event: Event) -> int:
    """How much a fit trains in a real run: epochs times samples (a step count when unknown)."""
    return _epochs_run(event) * int(event.get("samples") or event.get("steps_per_epoch") or 1)


def _sources(dataset: Data) -> tuple[Data | None, Data | None]:
    """(x, y) descriptions of the arrays a tf.data pipeline was made from (None where unknown)."""
    x, y, *_ = [*(dataset.get("sources") or []), None, None]
    return x, y


def choose_model(events: list[Event]) -> tuple[int | None, str]:
    """(model id, how it was chosen): the model whose weights were trained is the one checked."""
    finish = next((e for e in events if e["event"] == "finish"), None)
    names = {m["model"]["id"]: m["names"] for m in (finish or {}).get("models", [])}
    fitted = [e for e in events if e["event"] == "fit"]
    compiled = [e for e in events if e["event"] == "compile"]
    variable = next((i for i, n in names.items() if "model" in n), None)

    def label(model_id: int) -> str:
        return f"the variable {names[model_id][0]}" if names.get(model_id) else "your model"

    if fitted:
        fitted_ids = [e["model"]["id"] for e in fitted]
        chosen: int = variable if variable is not None and variable in fitted_ids else fitted_ids[-1]
        cell = next(e["cell"] for e in reversed(fitted) if e["model"]["id"] == chosen)
        return chosen, f"{label(chosen)} (the model you trained with fit in In [{cell}])"
    if variable is not None:
        return variable, "the variable model"
    if compiled:
        chosen = compiled[-1]["model"]["id"]
        return chosen, f"{label(chosen)} (the model you compiled in In [{compiled[-1]['cell']}])"
    if len(names) == 1:
        (chosen, found), = names.items()
        return chosen, f"the variable {found[0]} (the only Keras model in the notebook)"
    return None, ""


def _latest_snapshot(events: list[Event], model_id: int, before: int | None = None) -> Event | None:
    """The model's last snapshot (before event number `before`, when given: the compile in effect then)."""
    chosen = None
    for e in events[:before]:
        if e["event"] == "snapshot" and e["model"]["id"] == model_id and e.get("copy"):
            chosen = e
    return chosen


def _named_settings(call_cell: str, line: int, method: str) -> dict[str, str]:
    """{keyword: variable} for the settings the call on `line` passes by name (epochs=epochs)."""
    tree = _parsed(call_cell)
    for node in ast.walk(tree) if tree else ():
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == method
                and node.lineno <= line <= (node.end_lineno or node.lineno)):
            return {k.arg: k.value.id for k in node.keywords if k.arg and isinstance(k.value, ast.Name)}
    return {}


def _last_assignment(name: str, cells: Cells, before: tuple[int, int]) -> Where | None:
    """The cell and line that last set `name` before (cell, line): {cell, line, code}."""
    found: Where | None = None
    last = (0, 0)
    for number in sorted(n for n in cells if n <= before[0]):
        tree = _parsed(cells[number])
        lines = cells[number].splitlines()
        for node in ast.walk(tree) if tree else ():
            targets = (node.targets if isinstance(node, ast.Assign) else [node.target]
                       if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
            names = {t.id for target in targets for t in ast.walk(target) if isinstance(t, ast.Name)}
            if isinstance(node, ast.stmt) and name in names and last < (number, node.lineno) < before:
                last = (number, node.lineno)
                found = {"cell": number, "line": node.lineno, "code": lines[node.lineno - 1].strip()}
    return found


def set_in(where: Where, cells: Cells, method: str = "fit") -> dict[str, Where]:
    """For each setting a call passes by name (epochs=epochs), where that name was last set: the cell a
    student edits to change the value, which is not always the cell of the call."""
    cell = where.get("cell") if where else None
    if not cell or where.get("inner") or cell not in cells:
        return {}
    named = _named_settings(cells[cell], where.get("line") or 0, method)
    places = {key: _last_assignment(name, cells, (cell, where.get("line") or 0)) for key, name in named.items()}
    return {key: place for key, place in places.items() if place}


def _saved_is_not_trained(events: list[Event], model_id: int, cells: Cells,
                          models: model_worker.ModelWorker | None) -> list[Finding]:
    """A finding when the file saved at the end of the model's first fit does not hold the weights that fit
    left (their fingerprint, taken in the kernel before saving): something replaced how Keras saves, and
    what the grader reads is not the model that was trained."""
    saved = next((e for e in events if e["event"] == "snapshot" and e["model"]["id"] == model_id
                  and e.get("weights") and e.get("copy")), None)
    if saved is None or models is None:
        return []
    try:
        same = models.fingerprint(Path(saved["copy"])) == saved["weights"]
    except Exception:  # a file the grader cannot load is reported where the model is described
        return []
    if same:
        return []
    fit = next(e for e in reversed(events[:events.index(saved)]) if e["event"] == "fit")
    where = locate(fit, cells)
    return [{"cell": where.get("cell"), "line": where.get("line"), "code": where.get("code", ""),
             "what": "trained the model, but the file Keras saved holds other weights: something in the notebook "
                     "replaced how Keras saves models"}]


def _as_fit_ran_it(events: list[Event], model_id: int, fit_at: int) -> Event | None:
    """The snapshot of the model as the fit at events[fit_at] ran on it: the one fit left behind when fit
    built or changed it (saved as the call ended), else the latest before the call (compile's, or the one
    taken as fit started on a model changed since)."""
    for event in events[fit_at + 1:]:
        if event.get("model", {}).get("id") != model_id:
            continue
        if event["event"] == "snapshot" and event.get("why") == "fit" and event.get("copy"):
            return event
        if event["event"] in ("fit", "compile"):
            break
    return _latest_snapshot(events, model_id, before=fit_at)


ADDS_LAYERS = re.compile(r"\.add\(|\bSequential\(|\bModel\(")


def layers_added(cells: Cells, first_use: int | None) -> Where | None:
    """{"cell": n} of the last cell that adds layers (model.add(...), Sequential([...]), Model(...)) at or
    before the cell that first compiled or fitted the model: where a layer card points when no single call
    says which layer is wrong. None when no such cell is found."""
    found: Where | None = None
    for number, source in sorted(cells.items()):
        if first_use is not None and number > first_use:
            break
        if any(ADDS_LAYERS.search(code) and not code.lstrip().startswith("#") for code in source.splitlines()):
            found = {"cell": number, "line": None, "code": ""}
    return found


def _unsaved(events: list[Event], model_id: int) -> list[str]:
    """The moments the model could not be recorded (saved, or kept by the grader): what it was then is unknown."""
    return [f"your model could not be recorded when {WHEN.get(str(e.get('why')), 'it changed')}, In [{e['cell']}] "
            f"({e.get('error') or e.get('copy_error')})"[:300]
            for e in events if e["event"] in ("snapshot", "snapshot_failed") and e["model"]["id"] == model_id
            and (e["event"] == "snapshot_failed" or e.get("copy_error"))]


WHEN = {"compile": "it was compiled", "fit_start": "fit started", "fit": "fit ended", "finish": "the notebook ended"}


def fit_facts(events: list[Event], model_id: int, cells: Cells) -> FitFacts | None:
    """The fit that trained the model most, with the epochs of every fit on it added up."""
    fits = [(i, e) for i, e in enumerate(events) if e["event"] == "fit" and e["model"]["id"] == model_id]
    if not fits:
        return None
    index, main = max(fits, key=lambda item: (_trained(item[1]), item[0]))
    plans = [e.get("plan") or {} for _, e in fits]
    facts: FitFacts = {
        "x": main.get("x"), "y": main.get("y"), "batch_size": main.get("batch_size"), "shuffle": main.get("shuffle"),
        "validation_data": main.get("validation_data"), "validation_split": main.get("validation_split"),
        "given": main.get("given") or [], "initial_epoch": main.get("initial_epoch"),
        "steps_per_epoch": main.get("steps_per_epoch"),
        "epochs": sum(_epochs_run(e) for _, e in fits), "epochs_given": main.get("epochs"), "calls": len(fits),
        "odd_types": {k: v for _, e in fits for k, v in (e.get("odd_types") or {}).items()},
        "replayed": sum(max(0, (p.get("epochs") or 0) - (p.get("real_epochs") or 0)) for p in plans),
        "where": locate(main, cells)}
    facts["set_in"] = set_in(facts["where"], cells)
    facts["index"] = index
    x: Data = main.get("x") or {"kind": ""}
    if x.get("kind") == "dataset":  # a tf.data pipeline batches and shuffles by itself
        facts["shuffle"] = x.get("shuffle")
        facts["dataset"] = x.get("steps")
        facts["x"], facts["y"] = _sources(x)
    validation: Data = main.get("validation_data") or {"kind": ""}
    if validation.get("kind") == "dataset" and validation.get("sources"):
        facts["validation_data"] = {"kind": "tuple", "items": list(validation.get("sources") or [])}
    return facts


def collect(execution: Execution, models: model_worker.ModelWorker | None = None, train: Train | None = None, *,
            circumstances: Circumstances | None = None, reference: Facts | None = None) -> Facts:
    """Every fact about a run, made here and nowhere else. `models` loads and describes a snapshot,
    `train(path, compiled_with)` trains a copy of it (a model_worker.ModelWorker and a training.Trainer: both
    in the models' own process, not here). `circumstances`: what the pipeline knows of the run beyond its
    events; `reference`: the reference's facts, to pair a student's layers with the lesson's (alignment)."""
    events, cells = execution.events, dict(execution.sources)
    finish = next((e for e in events if e["event"] == "finish"), None)
    facts = _started(execution, events, finish)
    model_id, how = choose_model(events)
    if model_id is not None:
        _model_facts(facts, events, cells, model_id, how, finish, models, train)
    facts["compile"] = _compile_facts(facts)
    for e in events:
        if e["event"] in METHODS:
            problem = verify_call(e, locate(e, cells), cells)
            if problem:
                facts["mismatches"].append({"method": e["event"], "problem": problem})
    facts["unrecorded_calls"] = _unrecorded_calls(execution, events, facts["harness_installed"])
    if circumstances is not None:  # in this order, as the JSON has always had them
        facts["isolation"] = circumstances["isolation"]
        facts["repaired_slips"] = circumstances["repaired_slips"]
        facts["other_assignment"] = circumstances["other_assignment"]
        facts["data_repeated"] = circumstances["data_repeated"]
    if reference is not None:
        facts["alignment"] = aligned(reference["model"], facts["model"])
    return facts


def _started(execution: Execution, events: list[Event], finish: Event | None) -> Facts:
    """The facts every run has, before its model is looked at (keys in the JSON's order)."""
    # execute.Execution's own fields, as JSON (tests hold ExecutionFacts to them)
    ran = cast(ExecutionFacts, {k: v for k, v in dataclasses.asdict(execution).items() if k not in ("events", "sources")})
    facts: Facts = {
        "execution": ran,
        "harness_installed": any(e["event"] == "installed" for e in events),
        "model_found": None, "model": None, "model_error": None,
        "problems": list(execution.channel_problems),
        "namespace": (finish or {}).get("namespace", {}),
        "brief_training": None, "digit3": None, "compile": None, "compile_where": None,
        "fit": None, "fit_calls": 0, "evaluate": None,
        "tampering": tampering(execution.sources),
        "mismatches": [],
        "incomplete": list(execution.records_lost),
    }
    if finish and finish.get("replaced"):
        facts["tampering"].append({"cell": None, "line": None, "code": "",
                                   "what": "replaced Keras' " + ", ".join(finish["replaced"])})
    return facts


def _model_facts(facts: Facts, events: list[Event], cells: Cells, model_id: int, how: str, finish: Event | None,
                 models: model_worker.ModelWorker | None, train: Train | None) -> None:
    """What the chosen model is, how it was compiled, trained and evaluated."""
    facts["fit"] = fit_facts(events, model_id, cells)
    trained_at = facts["fit"]["index"] if facts["fit"] else None
    latest = _latest_snapshot(events, model_id)
    at_training = (_as_fit_ran_it(events, model_id, trained_at) if trained_at is not None else None) or latest
    failed = next((e for e in reversed(events) if e["event"] == "snapshot_failed"
                   and e["model"]["id"] == model_id), None)
    made = [e["cell"] for e in events if e.get("model", {}).get("id") == model_id and e.get("cell")]
    found: ModelFound = {"how": how, "id": model_id, "class": (latest or failed or {}).get("model", {}).get("class"),
                         "cell": made[-1] if made else None, "before_crash": finish is None,
                         "layers_where": layers_added(cells, (made or [None])[0])}
    facts["model_found"] = found
    if latest is None:
        facts["model_error"] = (failed or {}).get("error") or "the model could not be saved"
    else:
        _described(facts, latest, at_training, models, train)
    facts["tampering"] += _saved_is_not_trained(events, model_id, cells, models)
    facts["incomplete"] += _unsaved(events, model_id)
    _compile_calls(facts, events, cells, model_id, trained_at)
    facts["fit_calls"] = sum(e["event"] == "fit" for e in events)
    evaluates = [e for e in events if e["event"] == "evaluate"]
    mine = [e for e in evaluates if e["model"]["id"] == model_id]
    chosen = mine[-1] if mine else evaluates[-1] if evaluates else None
    if chosen:
        x: Data | None = chosen.get("x")
        y: Data | None = chosen.get("y")
        if x and x.get("kind") == "dataset":
            x, y = _sources(x)
        facts["evaluate"] = {"x": x, "y": y, "where": locate(chosen, cells)}


def _described(facts: Facts, latest: Event, at_training: Event | None, models: model_worker.ModelWorker | None,
               train: Train | None) -> None:
    """The grader's own description of the model's last snapshot, and its brief training of a fresh copy."""
    try:
        if models is None:
            raise model_worker.ModelError("no models' process to describe the model")
        # The models' process answers in JSON of these shapes (describe.describe_model, compile_settings).
        model = models.describe(Path(latest["copy"]))
        facts["model"] = model
        if at_training is not latest and at_training is not None:  # its compile settings alone
            model["compile"] = models.compile_settings(Path(at_training["copy"]))
    except model_file.UnsafeModel as exc:  # "too much to grade: ..." is its own reason
        facts["model_error"] = str(exc) if str(exc).startswith(TOO_MUCH) else f"the grader will not load it: {exc}"
    except (model_worker.ModelTooLarge, model_worker.ModelError) as exc:
        facts["model_error"] = str(exc)[:400]
    except Exception as exc:
        facts["model_error"] = f"{type(exc).__name__}: {exc}"[:400]
    if facts["model"] is not None and train is not None:
        try:
            trained = at_training or latest
            training, digit3 = train(Path(trained["copy"]), trained.get("compiled_with"))
            facts["brief_training"], facts["digit3"] = training, digit3
        except Exception as exc:
            facts["brief_training"] = {"error": f"{type(exc).__name__}: {exc}"[:400]}


def _compile_calls(facts: Facts, events: list[Event], cells: Cells, model_id: int, trained_at: int | None) -> None:
    """The compile in effect while the model trained the most (the last one, when it never trained)."""
    compiles = [e for e in events if e["event"] == "compile" and e["model"]["id"] == model_id]
    if not compiles:
        return
    before = [e for i, e in enumerate(events) if e["event"] == "compile" and e["model"]["id"] == model_id
              and (trained_at is None or i < trained_at)]
    chosen = (before or compiles)[-1]
    facts["compile_where"] = locate(chosen, cells)
    facts["compile_calls"] = len(compiles)
    facts["compile_given"] = chosen.get("given", [])
    facts["compile_written"] = {"optimizer": chosen.get("optimizer"), "loss": chosen.get("loss"),
                                "metrics": chosen.get("metrics")}


def _unrecorded_calls(execution: Execution, events: list[Event], installed: bool) -> dict[str, list[int]]:
    """A call in a cell that ran cleanly, with no event of that kind at all, means something replaced
    Keras' method: a finding, not "never called"."""
    failed_cells = {e.cell for e in execution.errors}
    ran_cleanly = [(n, src) for n, src in execution.sources if n not in failed_cells and n <= execution.last_cell]
    return {kind: found for kind, found in calls_in_source(ran_cleanly).items()
            if found and installed and not any(e["event"] == kind for e in events)}


def _compile_facts(facts: Facts) -> CompileFacts | None:
    """Canonical compile settings, from the saved model (what Keras really used)."""
    saved = facts["model"]["compile"] if facts["model"] else None
    if not saved:
        return None
    written: CompileWritten | dict[str, None] = facts.get("compile_written") or {}
    # A metric function of the student's own may carry Keras' name ("accuracy"): it is not Keras' metric.
    not_keras = {m["name"] for m in written.get("metrics") or [] if m and m.get("origin") not in (None, "keras")}
    metrics = [m for m in saved["metrics"] if m]
    out: CompileFacts = {
        "optimizer": _canonical("optimizer", saved["optimizer"], written.get("optimizer")),
        "loss": _canonical("loss", saved["loss"], written.get("loss")),
        "metrics": [describe.canonical_metric(dict(m)) if m["name"] not in not_keras else f"your own {m['name']}"
                    for m in metrics],
        "metrics_written": [describe.written(dict(m)) if m["name"] not in not_keras
                            else f"a function of your own named {m['name']}" for m in metrics],
        "given": facts.get("compile_given", []), "where": facts.get("compile_where"),
        "calls": facts.get("compile_calls", 0)}
    return out


def _canonical(kind: str, saved: Saved | None, said: Written | None) -> Setting | None:
    """describe's canonical optimizer or loss, with whether it is Keras' own, its class, and the student's words."""
    canonical = (describe.canonical_optimizer if kind == "optimizer" else describe.canonical_loss)(
        dict(saved) if saved is not None else None)
    if canonical is None or saved is None:
        return None
    out: Setting = {"name": canonical["name"], "changed": canonical["changed"], "written": canonical["written"]}
    out["keras"] = saved["keras"]
    out["class"] = saved["name"]
    said = said or {"kind": "", "name": ""}
    if said.get("origin"):  # the live object, by identity: Keras saves its own functions as "builtins"
        out["keras"] = said.get("origin") == "keras"
        out["origin"] = said.get("origin", "")
    if said["kind"] in ("name", "object", "function"):  # quote the student's own words
        out["written"] = describe.written({**said, "changed": out["changed"]})
    return out
