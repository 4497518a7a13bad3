"""Files that are not gradable notebooks give a clear result with a reason, never a crash."""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest

from autograder import grade
from conftest import FIXTURES

pytestmark = pytest.mark.slow  # real notebooks in real kernels


@pytest.mark.parametrize("name, words", [
    ("not_a_notebook", "not valid JSON"),
    ("truncated_json", "not valid JSON"),
])
def test_unreadable_file_is_an_error_result_with_a_reason(name, words):
    result = grade(FIXTURES / f"{name}.ipynb")
    assert result.status == "error"
    assert words in result.reason
    assert result.score == 0 and not result.checks


def test_json_that_is_not_a_notebook(tmp_path):
    path = tmp_path / "CNN.ipynb"
    path.write_text(json.dumps({"hello": "world"}))
    result = grade(path)
    assert result.status == "error" and "no cells" in result.reason


def test_missing_file_and_folder(tmp_path):
    assert "file not found" in grade(tmp_path / "nope.ipynb").reason
    assert "not a file" in grade(tmp_path).reason


def test_nbformat_3_notebook_is_upgraded_and_graded(tmp_path, graded):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    path = tmp_path / "old.ipynb"
    path.write_text(nbformat.writes(nb, version=3))
    assert '"nbformat": 3' in path.read_text()
    result = grade(path)
    assert result.status == "graded"
    assert {c.id: c.status for c in result.checks}["model.found"] == "fail"


def test_cli_writes_an_error_result_and_exits_1(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(FIXTURES / "not_a_notebook.ipynb"),
                           "-o", str(out)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "not graded" in proc.stdout
    data = json.loads((out / "not_a_notebook.result.json").read_text())
    assert data["status"] == "error" and "not valid JSON" in data["reason"]
    assert "Not graded" in (out / "not_a_notebook.report.html").read_text()
