"""The grader's own work and memory per notebook are bounded, whatever the notebook does.

The kernel has its sandbox; these notebooks aim past it, at the grader: a network of hundreds of layers,
one too large to train, a flood of compiled decoys, outputs and an exception hundreds of megabytes long,
a compile call whose record alone is megabytes. Each is graded in one child process (so that its peak
memory is the grader's own, measured), and each must end as a result, with the reason, in bounded time.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import FIXTURES

pytestmark = pytest.mark.slow  # real notebooks in real kernels

HOSTILE = ["too_much_400_layer_tower", "too_much_upsampled_64_times", "too_much_floods_of_calls_and_messages"]
PEAK_LIMIT_MIB = 1024
SECONDS_LIMIT = 300
CELL_TIMEOUT = 10  # the 210 MB exception never reaches the grader: its cell ends by this limit

SCRIPT = """
import json, sys, time
from autograder import GradingContext, grade
for path in sys.argv[2:]:
    started = time.perf_counter()
    result = grade(path, context=GradingContext(cell_timeout=int(sys.argv[1])))
    facts = result.facts or {}
    print(json.dumps({"name": result.submission["name"], "seconds": time.perf_counter() - started,
                      "status": result.status, "reason": result.reason,
                      "checks": {c.id: [c.status, c.message] for c in result.checks},
                      "errors": [e["ename"] for e in facts.get("execution", {}).get("errors", [])],
                      "cells_run": facts.get("execution", {}).get("cells_run"),
                      "incomplete": facts.get("incomplete"), "model_error": facts.get("model_error"),
                      "training": facts.get("brief_training")}), flush=True)
# VmHWM: this process's own peak. ru_maxrss is not: after fork and exec it starts from the parent's (pytest's)
# peak, so a test session that has grown past 1 GiB would be measured, not the grader.
peak_kib = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"peak_mib": peak_kib // 1024}))
"""


@pytest.fixture(scope="module")
def hostile():
    """{fixture name: what its grade said}, and the grading process's own peak memory (MiB)."""
    paths = [str(FIXTURES / f"{name}.ipynb") for name in HOSTILE]
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(CELL_TIMEOUT), *paths], capture_output=True,
                          text=True, timeout=len(HOSTILE) * SECONDS_LIMIT)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    return {line["name"].removesuffix(".ipynb"): line for line in lines[:-1]}, lines[-1]["peak_mib"]


def test_the_grader_s_own_memory_stays_under_one_gib_whatever_the_notebook_does(hostile):
    results, peak = hostile
    assert sorted(results) == sorted(HOSTILE)
    assert peak < PEAK_LIMIT_MIB, f"the grading process peaked at {peak} MiB"


@pytest.mark.parametrize("name", HOSTILE)
def test_each_hostile_notebook_ends_as_a_graded_result_in_bounded_time(hostile, name):
    result = hostile[0][name]
    assert result["status"] == "graded", result["reason"]
    assert result["seconds"] < SECONDS_LIMIT


def test_a_network_of_hundreds_of_layers_is_too_much_to_grade_not_a_stall(hostile):
    result = hostile[0]["too_much_400_layer_tower"]
    status, message = result["checks"]["model.found"]
    assert status == "fail" and "but it is too much to grade: it has 403 layers" in message
    assert result["checks"]["layers.order"][0] == "skipped"


def test_a_network_too_large_to_train_is_skipped_with_the_reason(hostile):
    result = hostile[0]["too_much_upsampled_64_times"]
    assert result["checks"]["layers.order"][0] in ("fail", "partial")  # described: it loads; training is the cost
    assert result["training"]["skipped"].startswith("too much to grade: training a copy of your network")
    assert "too much to grade" in result["checks"]["train.learns"][1]


def test_floods_of_calls_and_messages_are_lost_records_not_memory(hostile):
    result = hostile[0]["too_much_floods_of_calls_and_messages"]
    assert result["cells_run"] == 4  # every cell ran
    # The compile whose record is megabytes long is a lost record: nothing is credited. A display of 150 MB
    # never reaches the grader (no check reads it); the exception's 100 MB do not either, so its cell ends
    # by its time limit.
    assert result["errors"] == ["CellTimeout"]
    assert any("larger than the grader accepts" in reason for reason in result["incomplete"])
    assert "could not record everything" in result["checks"]["model.found"][1]
