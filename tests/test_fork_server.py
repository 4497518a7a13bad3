"""Kernels forked from the fork server (autograder/forking.py): each submission still runs in a process
no earlier submission ran code in, with its own scratch folder, /tmp and cgroups, and nothing left of
the previous one. One fork server serves every grade of this test process, as it serves a batch worker."""

from __future__ import annotations

import os

import nbformat
import psutil
import pytest

from autograder import GradingContext, forking, grade, locations
from conftest import CELL_TIMEOUT, kernels_among

pytestmark = pytest.mark.slow

if not forking.usable(True):
    pytest.skip("kernels are started afresh on this machine (the fork server needs Linux and root)",
                allow_module_level=True)

PLANT = '''
import os, subprocess, keras, tensorflow as tf
for path in ("/home/student/planted.txt", "/tmp/planted.txt", "/dev/shm/planted", "/home/student/.keras/planted"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "w").write("left by an earlier submission")
subprocess.Popen(["sleep", "300"], start_new_session=True)  # a process that outlives its notebook
keras.PLANTED = tf.PLANTED = os.PLANTED = True  # changed module state
os.environ["PLANTED"] = "1"
tf.constant([1.0]) * 2  # TensorFlow's thread pools started in this process
'''

LOOK = '''
import os, keras, tensorflow as tf
found = [p for p in ("/home/student/planted.txt", "/tmp/planted.txt", "/dev/shm/planted", "/home/student/.keras/planted")
         if os.path.exists(p)]
found += [name for name, module in (("keras", keras), ("tensorflow", tf), ("os", os)) if hasattr(module, "PLANTED")]
found += ["environment"] * ("PLANTED" in os.environ)
others = [pid for pid in os.listdir("/proc") if pid.isdigit() and int(pid) != os.getpid()]
found += [open(f"/proc/{pid}/cmdline").read() for pid in others if "sleep" in open(f"/proc/{pid}/cmdline").read()]
assert not found, f"left by the earlier submission: {found}"
print("pid", os.getpid(), "processes", len(others) + 1)

# What the fork server's imports remembered of its own environment is the kernel's own here
import platform, site, tempfile, matplotlib, keras.src.backend.config as keras_config
here = {"tmp": tempfile.gettempdir(), "host": platform.node(), "user site": site.getusersitepackages(),
        "keras home": keras_config.keras_home(), "matplotlib": matplotlib.get_configdir()}
assert here == {"tmp": "/tmp", "host": "student", "user site": "/home/student/.local/lib/python%d.%d/site-packages"
                % __import__("sys").version_info[:2], "keras home": "/home/student/.keras",
                "matplotlib": "/home/student/.config/matplotlib"}, here
'''


def notebook(path, *cells):
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), path)
    return path


@pytest.fixture(scope="module")
def planted_then_looked(tmp_path_factory):
    """Grade a notebook that plants files, a process and module state, then one that looks for them."""
    folder = tmp_path_factory.mktemp("fork")
    context = GradingContext(cell_timeout=CELL_TIMEOUT)
    first = grade(notebook(folder / "plants.ipynb", PLANT), context=context)
    server = forking.server().process.pid
    sleepers = [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "300"]]
    second = grade(notebook(folder / "looks.ipynb", LOOK), context=context)
    return first, second, server, sleepers


def test_both_kernels_were_forked_from_one_server(planted_then_looked):
    first, second, server, _ = planted_then_looked
    for result in (first, second):
        assert result.isolation["kernel_start"].startswith("forked")
    assert forking.server().process.pid == server  # the same server: nothing was restarted in between


def test_what_a_submission_planted_is_gone_for_the_next(planted_then_looked):
    first, second, _, _ = planted_then_looked
    assert first.facts["execution"]["errors"] == []  # everything was planted
    errors = second.facts["execution"]["errors"]
    assert errors == [], errors[0]["evalue"] if errors else ""
    outputs = second.facts["execution"]
    assert outputs["cells_run"] == 1


def test_a_process_left_running_is_killed_with_its_submission(planted_then_looked):
    _, _, _, sleepers = planted_then_looked
    assert sleepers == []  # killed with the first submission's cgroup, before the second started
    assert kernels_among(psutil.Process().children(recursive=True)) == []


def test_the_fork_server_runs_no_student_code_and_holds_no_kernel(planted_then_looked):
    server = psutil.Process(forking.server().process.pid)
    assert server.name() == "autograder-fork" and server.children() == []
    assert server.uids().real == os.getuid()  # the grader's user; kernels run as nobody


def test_started_afresh_when_asked_it_grades_the_same(graded):
    forked = graded(locations.REFERENCE)
    fresh = grade(locations.REFERENCE, context=GradingContext(cell_timeout=CELL_TIMEOUT, fork_server=False))
    assert fresh.isolation["kernel_start"] == "a new Python process"
    assert [(c.id, c.status, c.points) for c in fresh.checks] == [(c.id, c.status, c.points) for c in forked.checks]
    assert fresh.isolation["active"] == forked.isolation["active"]


def test_a_fork_server_killed_mid_notebook_costs_the_student_nothing(tmp_path, graded):
    """The grader's own fork server dies (the OOM killer, an operator) while a kernel it forked runs the
    reference: the kernel dies with it, and the notebook is run again from a new server."""
    import threading
    import time

    reference = nbformat.read(locations.REFERENCE, as_version=4)
    reference.cells.insert(0, nbformat.v4.new_code_cell("import time\ntime.sleep(3)"))
    path = tmp_path / "CNN.ipynb"
    nbformat.write(reference, path)
    killed = []

    def kill_the_server_once_a_kernel_runs():
        deadline = time.time() + 60
        while time.time() < deadline and not killed:
            children = psutil.Process().children(recursive=True)
            if kernels_among(children):
                for p in children:
                    if p.name() == "autograder-fork":
                        p.kill()
                        killed.append(p.pid)
            time.sleep(0.2)

    killer = threading.Thread(target=kill_the_server_once_a_kernel_runs)
    killer.start()
    result = grade(path, context=GradingContext(cell_timeout=CELL_TIMEOUT))
    killer.join()
    assert killed, "the fork server was never seen running a kernel"
    assert "run a second time" in result.isolation["kernel_start"]
    assert not result.facts["execution"]["kernel_died"] and result.full_marks
    assert forking.server().process.pid not in killed  # a new server


def test_a_killed_grader_s_fork_server_home_is_removed_by_the_next_start():
    """kill -9 of a grader leaves its fork server's home behind (nothing of the grader runs to clean up); the
    server dies with it, and the next grader's start removes the home, never a live grader's."""
    import signal
    import subprocess
    import sys
    import time

    from autograder import sandbox

    code = ("from autograder import forking\nserver = forking.server()\n"
            "print(server.home, server.process.pid, flush=True)\nimport time\ntime.sleep(300)")
    grader = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    home, server = grader.stdout.readline().split()
    sandbox.remove_stale_folders()
    assert os.path.isdir(home)  # its grader is alive
    grader.send_signal(signal.SIGKILL)
    grader.wait()
    deadline = time.time() + 10
    while psutil.pid_exists(int(server)) and time.time() < deadline:
        time.sleep(0.1)
    assert not psutil.pid_exists(int(server)) or psutil.Process(int(server)).status() == psutil.STATUS_ZOMBIE
    assert os.path.isdir(home)  # left behind
    forking.shutdown()
    forking.server()  # the next start
    assert not os.path.exists(home)
    assert forking.server().home.is_dir()
