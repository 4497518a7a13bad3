"""Where students and instructors already work: self-check inside Jupyter, Gradescope, course CI."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile

import nbformat
import pytest
from nbclient import NotebookClient

from autograder import gradescope, locations
from conftest import FIXTURES, ROOT

pytestmark = pytest.mark.slow  # real notebooks in real kernels

SELF_CHECK = "from autograder import self_check\nself_check()"


def run_in_kernel(nb, folder):
    """Execute like a student's Jupyter would: a plain python3 kernel working in the notebook's folder."""
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
    client.execute(env={k: v for k, v in os.environ.items() if k != "AUTOGRADER_GRADING"})
    return nb


def outputs_text(cell) -> str:
    parts = []
    for out in cell.outputs:
        parts.append(out.get("text", ""))
        parts.append(out.get("data", {}).get("text/html", ""))
        parts.append(out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def just_the_check(*cells):
    """What the student's kernel ran: here only the last cells (no MNIST download in tests)."""
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in (*cells, SELF_CHECK)])


def test_self_check_grades_the_saved_notebook_and_shows_the_report_inline(tmp_path):
    nb = nbformat.read(FIXTURES / "batch_32.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(SELF_CHECK))
    nbformat.write(nb, tmp_path / "CNN.ipynb")  # saved: what the kernel ran is in the file
    ran = run_in_kernel(just_the_check(), tmp_path)
    shown = outputs_text(ran.cells[-1])
    assert "Grading CNN.ipynb as saved at" in shown and "not in the saved file" not in shown
    assert "95 / 100 points" in shown
    assert "iframe srcdoc=" in shown and "data-check=&quot;fit.batch_size&quot; data-status=&quot;fail&quot;" in shown
    assert (tmp_path / "CNN.report.html").exists() and (tmp_path / "CNN.result.json").exists()


def test_self_check_warns_when_the_notebook_is_not_saved(tmp_path):
    saved = nbformat.read(locations.REFERENCE, as_version=4)
    saved.cells.append(nbformat.v4.new_code_cell(SELF_CHECK))
    nbformat.write(saved, tmp_path / "CNN.ipynb")
    edited = just_the_check("epochs = 5")  # the student changed a cell and ran it, but did not save
    shown = outputs_text(run_in_kernel(edited, tmp_path).cells[-1])
    assert "not in the saved file" in shown and "'epochs = 5'" in shown and "Ctrl-S" in shown
    assert "100 / 100 points" in shown  # it graded what is on disk, and said so


def test_self_check_does_nothing_inside_a_graded_notebook(graded):
    starter_like = graded(ROOT / "assignment" / "CNN.ipynb")  # its last cell calls self_check()
    assert starter_like.status == "graded"
    assert not [e for e in starter_like.facts["execution"]["errors"] if "self_check" in e["source"]]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return gradescope.build_bundle(tmp_path_factory.mktemp("gs") / "autograder.zip")


def test_gradescope_bundle_layout(bundle):
    with zipfile.ZipFile(bundle) as zf:
        names = set(zf.namelist())
        for name in ("setup.sh", "run_autograder"):
            assert name in names
            assert stat.S_IMODE(zf.getinfo(name).external_attr >> 16) & 0o111, f"{name} must be executable"
        assert {"source/pyproject.toml", "source/autograder/pipeline.py", "source/autograder/templates/report.html.j2",
                "source/autograder/reference/CNN.ipynb", "source/autograder/assignment/assignment.toml",
                "source/autograder/assignment/handwritten-3.png",
                "source/autograder/data/mnist-embedded.npz"} <= names
        assert not any("examples/" in n for n in names)  # the demo class is not the grader's
        requirements = zf.read("source/requirements.txt").decode()
        assert "tensorflow==" in requirements and "keras==" in requirements
        assert "autograder reference" in zf.read("setup.sh").decode()
        assert not any("__pycache__" in n for n in names)
        assert "bubblewrap" in zf.read("setup.sh").decode()


def test_the_bundles_source_builds_a_package_that_carries_its_files(bundle, tmp_path):
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(tmp_path)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                            str(tmp_path / "dist"), str(tmp_path / "source")], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    with zipfile.ZipFile(next((tmp_path / "dist").glob("*.whl"))) as wheel:
        names = set(wheel.namelist())
    assert {"autograder/reference/CNN.ipynb", "autograder/templates/report.html.j2",
            "autograder/assignment/assignment.toml", "autograder/data/mnist-embedded.npz"} <= names


REQUIRED_TEST_FIELDS = {"name", "score", "max_score", "output", "output_format", "visibility"}  # and "status" when scored


@pytest.mark.parametrize("fixture, expect", [
    ("reference", {"score": 100, "failed": []}),
    ("no_softmax", {"failed": ["layers.config", "train.learns"]}),
    ("not_a_notebook", {"score": 0, "tests": 0}),
])
def test_run_autograder_writes_valid_results_json(bundle, tmp_path, fixture, expect):
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    source = locations.REFERENCE if fixture == "reference" else FIXTURES / f"{fixture}.ipynb"
    shutil.copy(source, root / "submission" / "CNN.ipynb")
    with zipfile.ZipFile(bundle) as zf:
        zf.extract("run_autograder", root)
    script = root / "run_autograder"
    script.chmod(0o755)
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), AUTOGRADER_PYTHON=sys.executable)
    proc = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((root / "results" / "results.json").read_text())
    assert isinstance(data["score"], (int, float)) and isinstance(data["execution_time"], int)
    assert data["output"] and data["visibility"] in ("visible", "hidden", "after_due_date", "after_published")
    for test in data["tests"]:
        assert REQUIRED_TEST_FIELDS <= set(test)
        assert test["output_format"] in ("text", "html", "md") and test["visibility"] == "visible"
        if test["max_score"]:
            assert test["status"] in ("passed", "failed")
        else:  # information (the handwritten 3): no red "failed"
            assert "status" not in test and "no points" in test["name"]
        assert 0 <= test["score"] <= test["max_score"]
    if "score" in expect:
        assert data["score"] == expect["score"]
    if "tests" in expect:
        assert len(data["tests"]) == expect["tests"] and "could not be graded" in data["output"]
    if "failed" in expect:
        failed = sorted(t["tags"][0] for t in data["tests"] if t.get("status") == "failed" and t["max_score"] > 0)
        assert failed == expect["failed"]


def test_empty_submission_folder_still_gives_results(tmp_path):
    (tmp_path / "submission").mkdir()
    data = gradescope.run(tmp_path / "submission", tmp_path / "results" / "results.json")
    assert data["score"] == 0 and "no .ipynb" in data["output"]
    assert json.loads((tmp_path / "results" / "results.json").read_text()) == data


def test_course_ci_workflow_runs_the_reference_check():
    workflow = (ROOT / "assignment" / "ci" / "reference.yml").read_text()
    assert "autograder reference" in workflow and "pip install" in workflow
