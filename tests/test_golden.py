"""The example class keeps its verdicts: what each student is told (statuses, points, messages, tips,
where) is the same as tests/golden/example_class.json. A redesign must not change it; a change of
behaviour that is meant remakes the file (tests/golden/remake.py) in the same commit.

Statuses, points and words are compared exactly, on any machine. The figures the brief training
produced ("76%") are compared within the rubric's borderline_within, the most the grader allows a figure
to move between machines: on x86-64 they are identical (arithmetic.py), elsewhere they may not be."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from autograder import GradingContext, batch, locations, rubric
from conftest import CELL_TIMEOUT, ROOT

sys.path.insert(0, str(Path(__file__).resolve().parent / "golden"))
from remake import essentials  # noqa: E402

pytestmark = pytest.mark.slow  # real notebooks in real kernels

GOLDEN = json.loads((Path(__file__).resolve().parent / "golden" / "example_class.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def example_class(tmp_path_factory):
    out = tmp_path_factory.mktemp("example-class")
    batch.run(ROOT / "assignment" / "examples", out, context=GradingContext(cell_timeout=CELL_TIMEOUT), workers=2)
    return {p.name.split(".")[0]: essentials(json.loads(p.read_text(encoding="utf-8")))
            for p in sorted(out.glob("*.result.json"))}


TOLERANCE = 100 * rubric.load(locations.RUBRIC).training["borderline_within"]  # percentage points


@pytest.mark.parametrize("student", sorted(GOLDEN))
def test_every_student_of_the_example_class_is_told_the_same(example_class, student):
    now, then = example_class[student], GOLDEN[student]
    for new, old in zip(now["checks"], then["checks"]):
        figures, golden_figures = new.pop("figures", []), old.pop("figures", [])
        assert new == old, f"{student}, {old['id']}"  # one check at a time: the diff stays readable
        assert figures == pytest.approx(golden_figures, abs=TOLERANCE), f"{student}, {old['id']}: training figures"
    assert now == then
