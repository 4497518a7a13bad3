"""Hostile and broken submissions inside the sandbox: each one a stated result within its time bound,
nothing left running, nothing written outside the scratch folder, the grader not fooled.

These need every layer (bubblewrap, prlimit, cgroup v1 as root). Where a layer is missing they skip,
except in CI (CI=true), where .ci/run installs bubblewrap and a missing layer is a broken setup.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import nbformat
import psutil
import pytest

from autograder import GradingContext, grade, locations, sandbox
from conftest import CELL_TIMEOUT, FIXTURES, by_id, kernels_among

pytestmark = pytest.mark.slow  # real notebooks in real kernels

LAYERS = {layer.name: layer for layer in sandbox.probe()}
MISSING = [name for name, layer in LAYERS.items() if not layer.active]
if MISSING:
    if os.environ.get("CI"):
        raise RuntimeError(f"sandbox layers missing in CI: {MISSING}; see `autograder doctor`")
    pytest.skip(f"sandbox layers missing here: {MISSING}", allow_module_level=True)


def cell_errors(result) -> list[tuple[str, str]]:
    return [(e["kind"], e["ename"]) for e in result.facts["execution"]["errors"]]


def no_kernel_left() -> bool:
    time.sleep(0.5)
    return not kernels_among(psutil.Process().children(recursive=True))


def test_report_names_every_active_layer(graded):
    result = graded(locations.REFERENCE)
    assert result.full_marks
    assert result.isolation["active"] == ["network", "filesystem", "user", "limits", "processes", "disk"]
    assert "active: network, filesystem" in result.isolation["summary"]


def test_with_the_layers_switched_off_it_still_grades_and_says_so():
    result = grade(locations.REFERENCE, context=GradingContext(sandbox=False))
    assert result.full_marks
    assert result.isolation["active"] == [] and result.isolation["summary"].startswith("none")


@pytest.fixture
def listener():
    """A server on the host's loopback that records whether anybody connected."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(30)
    seen = []
    def accept():
        try:
            seen.append(server.accept())
        except OSError:  # timed out or closed: nobody came
            pass

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1], seen
    server.close()


def write_notebook(path: Path, *cells: str) -> Path:
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), path)
    return path


def test_network_call_fails_inside(tmp_path, listener):
    port, seen = listener
    nb = write_notebook(tmp_path / "CNN.ipynb",
                        f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=5).send(b'hi')",
                        "import urllib.request\nurllib.request.urlopen('http://example.com', timeout=5)")
    result = grade(nb, context=GradingContext(cell_timeout=CELL_TIMEOUT))
    assert [ename for _, ename in cell_errors(result)] == ["ConnectionRefusedError", "URLError"]
    time.sleep(0.5)
    assert seen == []  # the host's server never heard from the kernel


def test_files_outside_the_scratch_folder_are_out_of_reach(tmp_path):
    victims = [locations.cache_dir() / "pwned.txt", Path.home() / "pwned-by-a-student.txt",
               tmp_path / "pwned-next-to-the-submission.txt"]
    nb = write_notebook(
        tmp_path / "CNN.ipynb",
        f"print(open({str(locations.REFERENCE)!r}).read()[:50])",
        *[f"open({str(v)!r}, 'w').write('gotcha')" for v in victims],
        "import os\nprint(sorted(os.listdir(os.path.expanduser('~'))))")
    result = grade(nb, context=GradingContext(cell_timeout=CELL_TIMEOUT))
    errors = result.facts["execution"]["errors"]
    assert errors[0]["ename"] == "FileNotFoundError"  # the reference notebook is hidden
    for victim in victims:
        assert not victim.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CNN.ipynb"]


def test_the_grader_s_cache_is_hidden_and_dev_shm_counts_toward_the_one_scratch_limit(tmp_path, monkeypatch):
    # A cache folder inside what the kernel must read (the virtual environment): still out of its sight.
    cache = Path(sys.prefix) / f"autograder-cache-test-{uuid.uuid4().hex[:8]}"
    cache.mkdir()
    (cache / "another-students-result.json").write_text("{}")
    monkeypatch.setenv("AUTOGRADER_CACHE", str(cache))
    try:
        nb = write_notebook(
            tmp_path / "CNN.ipynb",
            f"import os\nassert not os.path.exists({str(cache)!r}) or os.listdir({str(cache)!r}) == [], 'cache seen'",
            "assert os.stat('/dev/shm').st_dev == os.stat(os.path.expanduser('~')).st_dev, 'shm apart'",
            "open('/dev/shm/x', 'wb').write(b'1')")
        result = grade(nb, context=GradingContext(cell_timeout=CELL_TIMEOUT))
        assert result.facts["execution"]["errors"] == []  # each assertion held; /dev/shm is writable
        assert result.facts["execution"]["cells_run"] == 3
    finally:
        shutil.rmtree(cache, ignore_errors=True)


@pytest.mark.parametrize("name, enames", [
    ("memory_bomb", {"MemoryError"}),
    ("disk_filler", {"OSError"}),
    ("disk_filler_many_files", {"OSError"}),
    # The forks are copies of the kernel: at the process limit the kernel fails or dies, contained; on a
    # slower CPU the cell time limit may stop it first. Each is containment; the bounds below hold for all.
    ("fork_bomb", {"BlockingIOError", "DeadKernelError", "CellTimeout"}),
])
def test_resource_bombs_are_stopped_by_limits(graded, name, enames):
    started = time.perf_counter()
    result = graded(name)
    assert result.status == "graded"
    errors = result.facts["execution"]["errors"]
    assert errors and errors[0]["ename"] in enames, errors
    if errors[0]["kind"] == "error":
        assert result.facts["execution"]["cells_run"] == 2 and len(errors) == 1  # the next cell still ran
    assert no_kernel_left()
    assert time.perf_counter() - started < 120
    busy = [g for c in ("pids", "memory") for g in (sandbox.CGROUP_ROOT / c).glob("cnn-autograder-*")
            if (g / "cgroup.procs").read_text().strip()]
    assert busy == []  # every process of every kernel is gone


def test_disk_fillers_hit_the_file_and_the_folder_limits(graded):
    assert "File too large" in graded("disk_filler").facts["execution"]["errors"][0]["evalue"]
    assert "No space left" in graded("disk_filler_many_files").facts["execution"]["errors"][0]["evalue"]


def test_endless_print_is_cut_and_said(graded):
    result = graded("prints_200000_lines")
    runs = by_id(result)["notebook.runs"]
    assert runs.status == "pass"
    assert any("kept only the first 100,000" in d for d in runs.details)


def test_sleep_in_c_that_ignores_interrupts_is_killed_in_time(graded):
    started = time.perf_counter()
    result = graded("sleeps_in_c_forever")
    execution = result.facts["execution"]
    assert execution["kernel_stuck"] and cell_errors(result)[0][0] == "timeout"
    assert by_id(result)["notebook.runs"].status == "fail" and "stopped answering" in by_id(result)["notebook.runs"].message
    assert no_kernel_left()
    assert execution["seconds"] < CELL_TIMEOUT + 60


def test_replacing_model_fit_is_a_stated_finding_not_a_pass(graded):
    checks = by_id(graded("replaces_model_fit"))
    for check_id in ("fit.batch_size", "fit.epochs", "compile.optimizer", "train.learns"):
        assert checks[check_id].status == "fail"
        assert checks[check_id].message.startswith("In [10], line 3 (keras.Model.fit = lambda self, *args, "
                                                   "**kwargs: None) replaces one of Keras' methods")
        assert checks[check_id].where["cell"] == 10


def test_reaching_for_the_harness_is_a_stated_finding(graded):
    batch_size = by_id(graded("tampers_with_record"))["fit.batch_size"]
    assert batch_size.status == "fail" and "uses the grader's own harness" in batch_size.message


@pytest.mark.parametrize("name", ["no_cells", "only_markdown"])
def test_notebooks_without_code_get_a_clear_verdict(graded, name):
    result = graded(name)
    runs = by_id(result)["notebook.runs"]
    assert runs.status == "fail" and "no code" in runs.message
    assert by_id(result)["model.found"].status == "fail"


def test_a_50_mb_notebook_of_outputs_is_graded(tmp_path):
    nb = nbformat.read(locations.REFERENCE, as_version=4)
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * (50 * 2**20))]
    path = tmp_path / "CNN.ipynb"
    nbformat.write(nb, path)
    assert path.stat().st_size > 50 * 2**20
    result = grade(path, context=GradingContext(cell_timeout=CELL_TIMEOUT))
    assert result.full_marks  # outputs are dropped before running


def test_scratch_mounts_left_by_a_killed_grader_are_removed_later(tmp_path):
    old = Path(tempfile.mkdtemp(prefix="autograder-"))
    young = Path(tempfile.mkdtemp(prefix="autograder-"))
    for folder in (old, young):
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "cnn-autograder", str(folder)], check=True)
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    sandbox._remove_stale_mounts()
    mounted = Path("/proc/mounts").read_text()
    assert str(old) not in mounted and not old.exists()
    assert str(young) in mounted  # maybe another grader's, still at work
    subprocess.run(["umount", str(young)], check=True)
    young.rmdir()


def test_record_folders_left_by_a_killed_grader_are_removed_later():
    old, young = (Path(tempfile.mkdtemp(prefix="autograder-records-")) for _ in range(2))
    (old / "1-fit.keras").write_bytes(b"model")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    with sandbox.Sandbox.new(readable=[], hide=[], cpu_seconds=10, enabled=False) as box:
        assert box.records.is_dir()  # its own, made as it is first needed
        assert not old.exists() and young.exists()
    assert not box.records.exists()
    young.rmdir()
