"""Batch grading on a real Dask cluster (a scheduler and two `autograder worker` processes on
127.0.0.1) gives the local pool's gradebook, survives a killed worker, gives up on a submission that
kills its worker every time, and resumes."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from autograder import locations
from conftest import CELL_TIMEOUT, FIXTURES, kernels_among

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _nthreads(address: str) -> int:
    from distributed import Client

    with Client(address, timeout="10s") as client:
        return sum(client.nthreads().values())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(address, worker launchers): a scheduler that gives up on a task after its 2nd dead worker."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}
    logs = tmp_path_factory.mktemp("cluster-logs")
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                  "--port", str(port), "--no-dashboard"], env=env, start_new_session=True,
                                 stdout=open(logs / "scheduler.log", "w"), stderr=subprocess.STDOUT)
    workers = [subprocess.Popen([sys.executable, "-m", "autograder", "worker", address, "--workers", "1"],
                                env=env, start_new_session=True, stdout=open(logs / f"worker{i}.log", "w"),
                                stderr=subprocess.STDOUT) for i in range(2)]
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if _nthreads(address) == 2:
                    break
            except OSError:
                pass
            time.sleep(1)
        else:
            raise RuntimeError("the cluster did not start: " + (logs / "worker0.log").read_text()[-2000:])
        yield address, workers
    finally:
        for proc in (*workers, scheduler):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()


def batch(source: Path, out: Path, *extra: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "autograder", "batch", str(source), "-o", str(out),
                           "--cell-timeout", str(CELL_TIMEOUT), *extra], capture_output=True, text=True, timeout=900)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def gradebook(out: Path) -> dict[str, tuple]:
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    checks = [c for c in rows[0] if "." in c] if rows else []
    return {r["student"]: (r["status"], r["score"], tuple(r[c] for c in checks)) for r in rows}


def mixed_class(root: Path) -> Path:
    root.mkdir(parents=True)
    shutil.copy(locations.REFERENCE, root / "ada_CNN.ipynb")
    # dev's kernel dies mid-notebook (a crash is graded from what ran before it): a path of its own on both
    # engines, at a tenth of the cost of a cell that runs into its time limit twice.
    for student, fixture in (("ben", "batch_32"), ("cleo", "truncated_json"), ("dev", "crash_after_the_model"),
                             ("eve", "not_a_notebook")):
        shutil.copy(FIXTURES / f"{fixture}.ipynb", root / f"{student}_CNN.ipynb")
    return root


def test_a_cluster_batch_gives_the_local_pools_gradebook(cluster, tmp_path):
    address, _ = cluster
    source = mixed_class(tmp_path / "class")
    local, remote = tmp_path / "local", tmp_path / "remote"
    batch(source, local, "--workers", "2")
    done = batch(source, remote, "--cluster", address)
    assert gradebook(local) == gradebook(remote)
    statuses = {s: row[0] for s, row in gradebook(remote).items()}
    assert statuses == {"ada": "graded", "ben": "graded", "cleo": "error", "dev": "graded", "eve": "error"}
    assert "graded on:" in done.stdout or "(on " in done.stdout  # where each was graded is said


def test_a_worker_killed_mid_batch_loses_no_row(cluster, tmp_path):
    address, workers = cluster
    source = tmp_path / "class"
    source.mkdir()
    for student in ("ada", "ben", "cleo", "dev"):
        shutil.copy(locations.REFERENCE, source / f"{student}_CNN.ipynb")
    run = subprocess.Popen([sys.executable, "-m", "autograder", "batch", str(source), "-o", str(tmp_path / "out"),
                            "--cluster", address], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    victim = None
    while victim is None and time.time() < deadline:  # a worker that is running a kernel right now
        for launcher in workers:  # the nanny's child is the worker process; the kernel runs under it
            for proc in psutil.Process(launcher.pid).children():
                try:
                    if kernels_among(proc.children(recursive=True)):
                        victim = proc
                except psutil.Error:
                    pass
        time.sleep(0.2)
    assert victim is not None, "no worker was grading"
    victim.kill()
    output, _ = run.communicate(timeout=600)
    assert run.returncode == 0, output
    rows = gradebook(tmp_path / "out")
    assert sorted(rows) == ["ada", "ben", "cleo", "dev"] and all(r[0] == "graded" for r in rows.values())


def test_a_submission_that_kills_its_worker_every_time_ends_as_one_error_row(cluster, tmp_path):
    address, _ = cluster
    source = tmp_path / "class"
    source.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os, signal\n"
        "pid = os.getppid()\n"
        "if open(f'/proc/{pid}/comm').read().strip() == 'autograder-fork':  # forked: the worker is one up\n"
        "    pid = int(open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[1])\n"
        "os.kill(pid, signal.SIGKILL)  # the grading process itself")])
    nbformat.write(nb, source / "mallory_CNN.ipynb")
    shutil.copy(locations.REFERENCE, source / "ada_CNN.ipynb")
    batch(source, tmp_path / "out", "--cluster", address, "--no-sandbox")  # unconfined, its parent is the worker
    rows = gradebook(tmp_path / "out")
    assert rows["ada"][0] == "graded" and rows["mallory"][0] == "error"
    with open(tmp_path / "out" / "gradebook.csv", newline="", encoding="utf-8") as f:
        reason = next(r["reason"] for r in csv.DictReader(f) if r["student"] == "mallory")
    assert "crashed on this submission every time" in reason


def test_an_interrupted_cluster_batch_resumes_with_only_the_missing(cluster, tmp_path):
    address, _ = cluster
    source = tmp_path / "class"
    source.mkdir()
    for student, fixture in (("ada", "batch_32"), ("ben", "epochs_5"), ("cleo", "no_softmax")):
        shutil.copy(FIXTURES / f"{fixture}.ipynb", source / f"{student}_CNN.ipynb")  # results are kept by content
    out = tmp_path / "out"
    run = subprocess.Popen([sys.executable, "-m", "autograder", "batch", str(source), "-o", str(out), "--cluster",
                            address], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and len(list((out / ".results").glob("*.json"))) < 1:
        time.sleep(0.3)
    os.killpg(run.pid, signal.SIGINT)
    output, _ = run.communicate(timeout=120)
    assert run.returncode == 130, output
    done_before = len(list((out / ".results").glob("*.json")))
    assert 1 <= done_before <= 3
    again = batch(source, out, "--cluster", address)
    assert f"{3 - done_before} to grade, {done_before} graded before" in again.stdout
    assert sorted(gradebook(out)) == ["ada", "ben", "cleo"]
