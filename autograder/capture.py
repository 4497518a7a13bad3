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
from pathlib import Path

from . import describe, model_file, model_worker
from .errors import TOO_MUCH
from .execute import Execution
from .facts import Facts

METHODS = ("compile", "fit", "evaluate")


# ---------------------------------------------------------------- reading the code

def _parse(source: str):
    try:
        return ast.parse("\n".join(l if not l.lstrip().startswith(("%", "!")) else "" for l in source.splitlines()))
    except SyntaxError:
        return None


def _method_calls(cells: list[tuple[int, str]]):
    """(cell, method, call node) for every .compile(, .fit( and .evaluate( in the notebook's code."""
    for number, source in cells:
        tree = _parse(source)
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


def tampering(cells: list[tuple[int, str]]) -> list[dict]:
    """Places where the code reaches into the grader or replaces Keras' methods: {cell, line, code, what}."""
    found = []
    for number, source in cells:
        tree = _parse(source)
        lines = source.splitlines()
        for node in ast.walk(tree) if tree else ():
            what = None
            if isinstance(node, (ast.Name, ast.Attribute, ast.Constant)):
                text = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) \
                    else node.value if isinstance(node.value, str) else ""
                if "autograder_harness" in text or text.startswith("_autograder"):
                    what = "uses the grader's own harness"
                elif isinstance(node, ast.Attribute) and node.attr in INTERNALS:
                    what = f"reaches into other code's internals ({node.attr})"
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
                targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
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


def _call_at(cells: dict[int, str], cell: int, line: int, method: str):
    """The .method( call whose lines include `line` in that cell, or None."""
    tree = _parse(cells.get(cell, ""))
    for node in ast.walk(tree) if tree else ():
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == method \
                and node.lineno <= line <= (node.end_lineno or node.lineno):
            return node
    return None


def locate(event: dict, cells: dict[int, str]) -> dict:
    """Where a recorded call is in the student's code: {cell, line, code} of the running cell's line,
    and, when that line called a function of the student's, the cell and line inside it."""
    site = event.get("site") or {}
    where = {"cell": event.get("cell"), "line": site.get("line"), "code": site.get("code", "")}
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


def verify_call(event: dict, where: dict, cells: dict[int, str]) -> str | None:
    """Why a recorded call does not match the code that made it, or None when it does."""
    method = event["event"]
    target = where.get("inner") or where
    if not target.get("cell") or not target.get("line"):
        return f"the grader recorded a model.{method} call that no line of your notebook made"
    node = _call_at(cells, target["cell"], target["line"], method)
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

def _epochs_run(event: dict) -> int:
    """Epochs a fit really trains: from initial_epoch to epochs."""
    return max(0, int(event.get("epochs") or 1) - int(event.get("initial_epoch") or 0))


def _trained(event: dict) -> int:
    """How much a fit trains in a real run: epochs times samples (a step count when unknown)."""
    return _epochs_run(event) * int(event.get("samples") or event.get("steps_per_epoch") or 1)


def _sources(dataset: dict) -> list:
    """(x, y) descriptions of the arrays a tf.data pipeline was made from (None where unknown)."""
    return ((dataset.get("sources") or []) + [None, None])[:2]


def choose_model(events: list[dict]) -> tuple[int | None, str]:
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
        chosen = variable if variable in fitted_ids else fitted_ids[-1]
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


def _latest_snapshot(events: list[dict], model_id: int, before: int | None = None) -> dict | None:
    """The model's last snapshot (before event number `before`, when given: the compile in effect then)."""
    chosen = None
    for index, e in enumerate(events[:before]):
        if e["event"] == "snapshot" and e["model"]["id"] == model_id and e.get("copy"):
            chosen = e
    return chosen


def _parsed(source: str) -> ast.Module | None:
    """A cell's code as Python sees it; magics (%matplotlib, !pip) become blank lines, keeping line numbers."""
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def _named_settings(call_cell: str, line: int, method: str) -> dict[str, str]:
    """{keyword: variable} for the settings the call on `line` passes by name (epochs=epochs)."""
    tree = _parsed(call_cell)
    for node in ast.walk(tree) if tree else ():
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == method
                and node.lineno <= line <= (node.end_lineno or node.lineno)):
            return {k.arg: k.value.id for k in node.keywords if k.arg and isinstance(k.value, ast.Name)}
    return {}


def _last_assignment(name: str, cells: dict[int, str], before: tuple[int, int]) -> dict | None:
    """The cell and line that last set `name` before (cell, line): {cell, line, code}."""
    found = None
    for number in sorted(n for n in cells if n <= before[0]):
        tree = _parsed(cells[number])
        lines = cells[number].splitlines()
        for node in ast.walk(tree) if tree else ():
            targets = (node.targets if isinstance(node, ast.Assign) else [node.target]
                       if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
            names = {t.id for target in targets for t in ast.walk(target) if isinstance(t, ast.Name)}
            if name in names and (number, node.lineno) < before and (found is None or (number, node.lineno) > (found["cell"], found["line"])):
                found = {"cell": number, "line": node.lineno, "code": lines[node.lineno - 1].strip()}
    return found


def set_in(where: dict, cells: dict[int, str], method: str = "fit") -> dict[str, dict]:
    """For each setting a call passes by name (epochs=epochs), where that name was last set: the cell a
    student edits to change the value, which is not always the cell of the call."""
    if not where or not where.get("cell") or where.get("inner") or where["cell"] not in cells:
        return {}
    named = _named_settings(cells[where["cell"]], where.get("line") or 0, method)
    places = {key: _last_assignment(name, cells, (where["cell"], where.get("line") or 0)) for key, name in named.items()}
    return {key: place for key, place in places.items() if place}


def _saved_is_not_trained(events: list[dict], model_id: int, cells: dict[int, str], models) -> list[dict]:
    """A finding when the file saved at the end of the model's first fit does not hold the weights that fit
    left (their fingerprint, taken in the kernel before saving): something replaced how Keras saves, and
    what the grader reads is not the model that was trained."""
    saved = next((e for e in events if e["event"] == "snapshot" and e["model"]["id"] == model_id
                  and e.get("weights") and e.get("copy")), None)
    if saved is None:
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


def _as_fit_ran_it(events: list[dict], model_id: int, fit_at: int) -> dict | None:
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


def layers_added(cells: dict[int, str], first_use: int | None) -> dict | None:
    """{"cell": n} of the last cell that adds layers (model.add(...), Sequential([...]), Model(...)) at or
    before the cell that first compiled or fitted the model: where a layer card points when no single call
    says which layer is wrong. None when no such cell is found."""
    found = None
    for number, source in sorted(cells.items()):
        if first_use is not None and number > first_use:
            break
        if any(ADDS_LAYERS.search(code) and not code.lstrip().startswith("#") for code in source.splitlines()):
            found = {"cell": number, "line": None, "code": ""}
    return found


def _unsaved(events: list[dict], model_id: int) -> list[str]:
    """The moments the model could not be recorded (saved, or kept by the grader): what it was then is unknown."""
    return [f"your model could not be recorded when {WHEN.get(e.get('why'), 'it changed')}, In [{e['cell']}] "
            f"({e.get('error') or e.get('copy_error')})"[:300]
            for e in events if e["event"] in ("snapshot", "snapshot_failed") and e["model"]["id"] == model_id
            and (e["event"] == "snapshot_failed" or e.get("copy_error"))]


WHEN = {"compile": "it was compiled", "fit_start": "fit started", "fit": "fit ended", "finish": "the notebook ended"}


def fit_facts(events: list[dict], model_id: int, cells: dict[int, str]) -> dict | None:
    """The fit that trained the model most, with the epochs of every fit on it added up."""
    fits = [(i, e) for i, e in enumerate(events) if e["event"] == "fit" and e["model"]["id"] == model_id]
    if not fits:
        return None
    index, main = max(fits, key=lambda item: (_trained(item[1]), item[0]))
    facts = {k: main.get(k) for k in ("x", "y", "batch_size", "shuffle", "validation_data", "validation_split",
                                      "given", "initial_epoch", "steps_per_epoch")}
    facts["epochs"] = sum(_epochs_run(e) for _, e in fits)
    facts["epochs_given"] = main.get("epochs")
    facts["calls"] = len(fits)
    facts["odd_types"] = {k: v for _, e in fits for k, v in (e.get("odd_types") or {}).items()}
    plans = [e.get("plan") or {} for _, e in fits]
    facts["replayed"] = sum(max(0, (p.get("epochs") or 0) - (p.get("real_epochs") or 0)) for p in plans)
    facts["where"] = locate(main, cells)
    facts["set_in"] = set_in(facts["where"], cells)
    facts["index"] = index
    x = main.get("x") or {}
    if x.get("kind") == "dataset":  # a tf.data pipeline batches and shuffles by itself
        facts["shuffle"] = x.get("shuffle")
        facts["dataset"] = x.get("steps")
        facts["x"], facts["y"] = _sources(x)
    validation = main.get("validation_data") or {}
    if validation.get("kind") == "dataset" and validation.get("sources"):
        facts["validation_data"] = {"kind": "tuple", "items": validation["sources"]}
    return facts


def collect(execution: Execution, models=None, train=None) -> Facts:
    """Facts about the submission. `models` loads and describes a snapshot, `train(path)` trains a copy of
    it (a model_worker.ModelWorker and a training.Trainer: both in the models' own process, not here)."""
    events = execution.events
    cells = dict(execution.sources)
    failed_cells = {e.cell for e in execution.errors}
    ran_cleanly = [(n, src) for n, src in execution.sources if n not in failed_cells and n <= execution.last_cell]
    finish = next((e for e in events if e["event"] == "finish"), None)
    facts = {
        "execution": {k: v for k, v in dataclasses.asdict(execution).items() if k not in ("events", "sources")},
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
    model_id, how = choose_model(events)
    if model_id is not None:
        facts["fit"] = fit_facts(events, model_id, cells)
        trained_at = facts["fit"]["index"] if facts["fit"] else None
        latest = _latest_snapshot(events, model_id)
        at_training = (_as_fit_ran_it(events, model_id, trained_at) if trained_at is not None else None) or latest
        failed = next((e for e in reversed(events) if e["event"] == "snapshot_failed"
                       and e["model"]["id"] == model_id), None)
        made = [e["cell"] for e in events if e.get("model", {}).get("id") == model_id and e.get("cell")]
        facts["model_found"] = {"how": how, "id": model_id, "class": (latest or failed or {}).get("model", {}).get("class"),
                                "cell": made[-1] if made else None, "before_crash": finish is None,
                                "layers_where": layers_added(cells, (made or [None])[0])}
        if latest is None:
            facts["model_error"] = (failed or {}).get("error") or "the model could not be saved"
        else:
            try:
                facts["model"] = models.describe(Path(latest["copy"]))
                if at_training is not latest and at_training is not None:  # its compile settings alone
                    facts["model"]["compile"] = models.compile_settings(Path(at_training["copy"]))
            except model_file.UnsafeModel as exc:  # "too much to grade: ..." is its own reason
                facts["model_error"] = str(exc) if str(exc).startswith(TOO_MUCH) else f"the grader will not load it: {exc}"
            except (model_worker.ModelTooLarge, model_worker.ModelError) as exc:
                facts["model_error"] = str(exc)[:400]
            except Exception as exc:
                facts["model_error"] = f"{type(exc).__name__}: {exc}"[:400]
            if facts["model"] is not None and train is not None:
                try:
                    trained = at_training or latest
                    facts["brief_training"], facts["digit3"] = train(Path(trained["copy"]), trained.get("compiled_with"))
                except Exception as exc:
                    facts["brief_training"] = {"error": f"{type(exc).__name__}: {exc}"[:400]}
        facts["tampering"] += _saved_is_not_trained(events, model_id, cells, models)
        facts["incomplete"] += _unsaved(events, model_id)
        compiles = [e for e in events if e["event"] == "compile" and e["model"]["id"] == model_id]
        if compiles:
            before = [e for i, e in enumerate(events) if e["event"] == "compile" and e["model"]["id"] == model_id
                      and (trained_at is None or i < trained_at)]
            chosen = (before or compiles)[-1]
            facts["compile_where"] = locate(chosen, cells)
            facts["compile_calls"] = len(compiles)
            facts["compile_given"] = chosen.get("given", [])
            facts["compile_written"] = {k: chosen.get(k) for k in ("optimizer", "loss", "metrics")}
        facts["fit_calls"] = sum(e["event"] == "fit" for e in events)
        evaluates = [e for e in events if e["event"] == "evaluate"]
        mine = [e for e in evaluates if e["model"]["id"] == model_id]
        chosen_eval = (mine or evaluates or [None])[-1]
        if chosen_eval:
            x, y = chosen_eval.get("x"), chosen_eval.get("y")
            if (x or {}).get("kind") == "dataset":
                x, y = _sources(x)
            facts["evaluate"] = {"x": x, "y": y, "where": locate(chosen_eval, cells)}
    facts["compile"] = _compile_facts(facts)
    for e in events:
        if e["event"] in METHODS:
            problem = verify_call(e, locate(e, cells), cells)
            if problem:
                facts["mismatches"].append({"method": e["event"], "problem": problem})
    # A call in a cell that ran cleanly, with no event of that kind at all, means something replaced
    # Keras' method: a finding, not "never called".
    in_source = calls_in_source(ran_cleanly)
    facts["unrecorded_calls"] = {kind: found for kind, found in in_source.items()
                                 if found and facts["harness_installed"] and not any(e["event"] == kind for e in events)}
    return facts


def _compile_facts(facts: dict) -> dict | None:
    """Canonical compile settings, from the saved model (what Keras really used)."""
    saved = (facts["model"] or {}).get("compile")
    if not saved:
        return None
    written = facts.get("compile_written") or {}
    # A metric function of the student's own may carry Keras' name ("accuracy"): it is not Keras' metric.
    not_keras = {m["name"] for m in written.get("metrics") or [] if m and m.get("origin") not in (None, "keras")}
    out = {"optimizer": describe.canonical_optimizer(saved["optimizer"]), "loss": describe.canonical_loss(saved["loss"]),
           "metrics": [describe.canonical_metric(m) if m["name"] not in not_keras else f"your own {m['name']}"
                       for m in saved["metrics"] if m],
           "metrics_written": [describe.written(m) if m["name"] not in not_keras else f"a function of your own named {m['name']}"
                               for m in saved["metrics"] if m],
           "given": facts.get("compile_given", []), "where": facts.get("compile_where"),
           "calls": facts.get("compile_calls", 0)}
    for kind in ("optimizer", "loss"):
        if out[kind] is not None:
            out[kind]["keras"] = saved[kind]["keras"]
            out[kind]["class"] = saved[kind]["name"]
            said = written.get(kind) or {}
            if said.get("origin"):  # the live object, by identity: Keras saves its own functions as "builtins"
                out[kind]["keras"] = said["origin"] == "keras"
                out[kind]["origin"] = said["origin"]
            if said.get("kind") in ("name", "object", "function"):  # quote the student's own words
                out[kind]["written"] = describe.written({**said, "changed": out[kind]["changed"]})
    return out
