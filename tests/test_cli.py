"""The `autograder` command as users run it."""

from __future__ import annotations

import pytest

import json
import shutil
import subprocess
import sys

from conftest import FIXTURES

pytestmark = pytest.mark.slow  # real notebooks in real kernels


def run(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True, text=True, **kwargs)


def test_reference_command_passes_for_ci(tmp_path):
    proc = run("reference", "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "100 / 100" in proc.stdout and "full marks" in proc.stdout
    data = json.loads((tmp_path / "reference.result.json").read_text())
    assert data["status"] == "graded" and data["score"] == data["max_score"] == 100
    assert (tmp_path / "reference.report.html").stat().st_size > 10_000
    assert "oneDNN" not in proc.stderr and "cuda" not in proc.stderr.lower()  # TensorFlow's noise is hidden


def test_reference_command_fails_when_the_rubric_is_broken(tmp_path):
    rubric = tmp_path / "rubric.toml"
    rubric.write_text("[limits]\ncell_timeout_s = 5\n")
    proc = run("reference", "--rubric", str(rubric))
    assert proc.returncode == 3
    assert str(rubric) in proc.stdout and "[limits] lacks notebook_timeout_s" in proc.stdout


def test_grade_writes_report_next_to_the_notebook_and_exits_0_for_a_low_score(tmp_path):
    notebook = tmp_path / "CNN.ipynb"
    shutil.copy(FIXTURES / "batch_32.ipynb", notebook)
    proc = run("grade", str(notebook))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "fit.batch_size" in proc.stdout and "95 / 100" in proc.stdout
    data = json.loads((tmp_path / "CNN.result.json").read_text())
    assert {c["id"]: c["status"] for c in data["checks"]}["fit.batch_size"] == "fail"
    assert (tmp_path / "CNN.report.html").exists()
