"""A kernel's life in one `with` (execute.Kernel): its confinement made, the notebook run cell by cell
with the harness, how it was confined said, and nothing of it left once the `with` is left."""

from __future__ import annotations

import copy

import nbformat
import psutil
import pytest

from autograder import execute, forking, locations, rubric, sandbox
from conftest import CELL_TIMEOUT, kernels_among

pytestmark = pytest.mark.slow  # a real kernel


def options(**changes):
    return execute.KernelOptions(cpu_seconds=60, cell_timeout=CELL_TIMEOUT, notebook_timeout=300, finish_timeout=60,
                                 startup_timeout=120, **changes)


def harness():
    return {"data_path": "/nowhere", "data_source": "none", **rubric.load(locations.RUBRIC).harness}


def notebook(*cells):
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])


@pytest.mark.parametrize("fork", [True, False])
def test_a_kernel_s_whole_life_runs_the_cells_says_how_it_started_and_leaves_nothing(fork):
    nb = notebook("print('hi')", "1 / 0", "import os\nopen(os.path.expanduser('~/left.txt'), 'w').write('x')")
    with execute.Kernel(options(fork=fork)) as kernel:
        kernel.save(nb)
        assert nbformat.read(kernel.home / "CNN.ipynb", as_version=4).cells[1].source == "1 / 0"
        execution = kernel.run(copy.deepcopy(nb), harness())
        isolation = kernel.isolation
        scratch, records = kernel.sandbox.scratch, kernel.sandbox.records
        assert (kernel.home / "left.txt").read_text() == "x"  # the kernel's home is the one the grader reads
    assert execution.cells_run == 3 and execution.harness_error is None and not execution.kernel_died
    assert [(e.cell, e.kind, e.ename) for e in execution.errors] == [(2, "error", "ZeroDivisionError")]
    forked = fork and forking.usable(True)
    assert isolation["kernel_start"] == ("forked from a process that had imported TensorFlow and Keras (and run "
                                         "nothing else)" if forked else "a new Python process")
    assert isolation["active"] == [layer.name for layer in sandbox.probe() if layer.active]
    assert not scratch.exists() and not records.exists()
    assert kernels_among(psutil.Process().children(recursive=True)) == []
    busy = [g for c in ("pids", "memory") for g in (sandbox.CGROUP_ROOT / c).glob(f"cnn-autograder-{sandbox.owner_tag()}-*")]
    assert busy == []  # its groups removed


def test_a_kernel_s_confinement_exists_only_inside_its_with():
    kernel = execute.Kernel(options())
    with pytest.raises(RuntimeError, match="only inside its `with`"):
        kernel.home
    with kernel:
        home = kernel.home
        assert home.is_dir()
    assert not home.exists()
