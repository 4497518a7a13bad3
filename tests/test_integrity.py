"""Nothing the student's process says is trusted: tricks earn nothing that did not happen, and no
notebook can stop the grader or see more of the host than the runtime it needs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import nbformat
import pytest

from autograder import GradingContext, grade, locations, sandbox
from conftest import CELL_TIMEOUT, FIXTURES, by_id

pytestmark = pytest.mark.slow  # real notebooks in real kernels

LAYERS = {layer.name: layer for layer in sandbox.probe()}
NEEDS_SANDBOX = pytest.mark.skipif(not all(l.active for l in LAYERS.values()) and not os.environ.get("CI"),
                                   reason="sandbox layers missing here (see `autograder doctor`)")


def test_a_recompile_before_a_tiny_fit_is_graded_by_the_training_that_happened(graded):
    checks = by_id(graded("trick_recompile_before_a_tiny_fit"))
    assert checks["compile.optimizer"].found == "'adam'"
    assert "compile 2 times" in checks["compile.optimizer"].details[0]
    assert checks["fit.batch_size"].found == "32"
    assert "15 epochs over 2 calls" in checks["fit.epochs"].message


def test_the_model_that_was_trained_is_the_one_checked(graded):
    found = by_id(graded("trick_model_variable_never_trained"))["model.found"]
    assert found.found.startswith("the variable net (the model you trained with fit in In [5])")


@pytest.mark.parametrize("name, check_id, words", [
    ("trick_optimizer_class_named_rmsprop", "compile.optimizer", "a class or function of your own named RMSprop"),
    ("trick_loss_class_that_is_mse", "compile.loss", "a class or function of your own named CategoricalCrossentropy"),
    ("trick_dense_subclass_without_activation", "model.found", "a layer class of your own, not Keras': Dense"),
])
def test_a_class_named_like_keras_own_is_not_keras_own(graded, name, check_id, words):
    check = by_id(graded(name))[check_id]
    assert check.status == "fail" and words in check.message


def test_training_on_the_test_set_from_the_last_epoch_counts_for_what_it_does(graded):
    checks = by_id(graded("trick_fit_on_test_set_from_epoch_9"))
    assert any("trains on the test images" in d for d in checks["data.prepared"].details)
    assert checks["fit.epochs"].found == "1" and "initial_epoch=9" in checks["fit.epochs"].message


def test_code_that_never_runs_is_never_credited(graded):
    checks = by_id(graded("trick_dead_fit_with_the_right_settings"))
    assert checks["fit.batch_size"].found == "32" and checks["fit.epochs"].found == "1"


def test_a_model_that_could_not_be_recorded_earns_nothing_and_the_report_says_why(graded):
    result = graded("trick_saving_fails_before_the_real_training")
    found = by_id(result)["model.found"]
    assert found.status == "fail" and "could not record everything" in found.message
    assert "No space left on device" in found.message and "In [11]" in found.message
    assert result.facts["incomplete"] and result.score == by_id(result)["notebook.runs"].points


def test_replacing_the_harness_earns_nothing(graded):
    result = graded("trick_replaces_the_harness")
    assert result.score == 5  # the cells ran; nothing the kernel said is credited
    assert "In [4], line 2 (harness = sys.modules['_autograder_harness']) uses the grader's own harness" in \
        by_id(result)["train.learns"].message


def _notebook(path: Path, *cells: str) -> Path:
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), path)
    return path


@NEEDS_SANDBOX
def test_the_kernel_finds_nothing_of_the_host_it_does_not_need(tmp_path, monkeypatch):
    """A probe looks for the reference (directly, through .git, through other submissions), a root-only
    file, host Unix sockets and the grader's environment; each cell asserts it found nothing."""
    monkeypatch.setenv("AUTOGRADER_PROBE_SECRET", "must-not-leak")
    path_socket = tmp_path / "host.sock"
    listeners = [socket.socket(socket.AF_UNIX), socket.socket(socket.AF_UNIX)]
    listeners[0].bind(str(path_socket))
    abstract = f"\0autograder-probe-{uuid.uuid4().hex}"
    listeners[1].bind(abstract)
    for s in listeners:
        s.listen(1)
    checkout = locations.PACKAGE.parent
    try:
        nb = _notebook(
            tmp_path / "CNN.ipynb",
            f"import os\nassert not os.path.exists({str(locations.REFERENCE)!r})",
            f"assert not os.path.exists({str(checkout / '.git')!r})",
            f"assert not os.path.exists({str(FIXTURES)!r})",
            "assert os.getuid() == 65534 and os.geteuid() == 65534",
            "try:\n    open('/etc/shadow').read()\n    raise AssertionError('read /etc/shadow')\nexcept OSError:\n    pass",
            "assert not [k for k in os.environ if 'AUTOGRADER_PROBE' in k or k.startswith(('SSH', 'AWS', 'CI'))]",
            "import socket\nfor address in (%r, %r):\n    s = socket.socket(socket.AF_UNIX)\n    try:\n"
            "        s.connect(address)\n        raise AssertionError('reached ' + repr(address))\n"
            "    except OSError:\n        pass" % (str(path_socket), abstract),
            "assert not [d for d in ('var', 'run', 'opt', 'srv', 'mnt', 'boot', 'media') if os.path.exists('/' + d)]")
        result = grade(nb, context=GradingContext(cell_timeout=CELL_TIMEOUT))
    finally:
        for s in listeners:
            s.close()
    execution = result.facts["execution"]
    assert execution["cells_run"] == 8
    assert execution["errors"] == [], [(e["cell"], e["evalue"]) for e in execution["errors"]]


def test_grading_several_notebooks_goes_on_past_a_broken_one(tmp_path):
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{")
    empty = _notebook(tmp_path / "empty.ipynb")
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", str(broken), str(empty), "-o",
                           str(tmp_path / "out"), "--cell-timeout", str(CELL_TIMEOUT)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 1  # one could not be graded
    for stem in ("broken", "empty"):
        assert json.loads((tmp_path / "out" / f"{stem}.result.json").read_text())["status"] in ("error", "graded")
