"""The facts as one typed record, built in one place (capture.collect), without a kernel: what the type
checker is told about them matches what the stages really make, and the checks' modules import no circle."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

from autograder import capture, execute
from autograder.facts import CIRCUMSTANCES, CellErrorFacts, Circumstances, ExecutionFacts, Facts

PACKAGE = Path(capture.__file__).resolve().parent
REFERENCE = json.loads((Path(__file__).resolve().parent / "fixtures" / "reference_facts.json").read_text())


def test_the_execution_facts_are_the_fields_execute_records():
    fields = {f.name for f in dataclasses.fields(execute.Execution)}
    assert set(ExecutionFacts.__annotations__) == fields - {"events", "sources"}
    # a cell's error as recorded, and the sentence run_checks adds when the lesson's slip caused it
    assert set(CellErrorFacts.__annotations__) == {f.name for f in dataclasses.fields(execute.CellError)} | {"forgiven"}


def _ran(*cells: str) -> execute.Execution:
    """A run whose harness started and finished without a model (what a notebook of plain Python gives)."""
    return execute.Execution(code_cells=len(cells), cells_run=len(cells), sources=list(enumerate(cells, 1)),
                             last_cell=len(cells), events=[{"event": "installed", "cell": 0},
                                                           {"event": "finish", "models": [], "namespace": {}}])


CIRCUMSTANCES_OF_A_RUN: Circumstances = {
    "isolation": {"active": [], "missing": ["network"], "layers": [], "summary": "none", "kernel_start": "a new process"},
    "repaired_slips": [], "other_assignment": [], "data_repeated": False}


def test_one_call_builds_the_facts_the_pipeline_used_to_assemble_in_three_places_byte_for_byte():
    whole = capture.collect(_ran("x = 1", "print(x)"), circumstances=CIRCUMSTANCES_OF_A_RUN, reference=REFERENCE)
    assembled = capture.collect(_ran("x = 1", "print(x)"))  # as pipeline.py and run_checks did, key by key
    assembled.update(CIRCUMSTANCES_OF_A_RUN)
    assembled["alignment"] = []  # run_checks' pairing when the student has no model
    assert json.dumps(whole) == json.dumps(assembled)
    assert list(whole)[-5:] == [*CIRCUMSTANCES, "alignment"]


def test_the_facts_of_a_run_without_a_model_say_so_and_hold_only_documented_keys():
    facts: Facts = capture.collect(_ran("import os", "os.getcwd()"))
    assert facts["model_found"] is None and facts["model"] is None and facts["fit"] is None
    assert facts["harness_installed"] is True and facts["tampering"] == [] and facts["unrecorded_calls"] == {}
    assert set(facts) <= set(Facts.__annotations__)
    assert "alignment" not in facts and "isolation" not in facts  # the reference's own facts carry neither


def test_code_that_calls_fit_with_no_event_is_a_finding_not_a_missing_call():
    facts = capture.collect(_ran("model.fit(x, y, epochs=5)"))
    assert facts["unrecorded_calls"] == {"fit": [1]}


# ---------------------------------------------------------------- import circles

CHECKING = {"facts", "capture", "checks", "hints", "words", "alignment", "rubric", "results", "slips", "errors"}


def _imports(module: Path) -> set[str]:
    """The package's modules that `module` imports anywhere (top level, in functions, under TYPE_CHECKING)."""
    found = set()
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
    return {name for name in found if (PACKAGE / f"{name}.py").exists()}


def _reaches(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), list(graph.get(start, ()))
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += graph.get(name, ())
    return seen


def test_no_module_that_grades_imports_one_that_imports_it_back():
    graph = {path.stem: _imports(path) for path in PACKAGE.glob("*.py")}
    assert "checks" not in _reaches(graph, "rubric")  # the circle checks → hints → rubric → checks, gone
    circles = {name for name in CHECKING if name in _reaches(graph, name)}
    assert circles == set(), {name: graph[name] for name in circles}
