"""How long grading one notebook takes, as ratios measured in one run.

    python benchmarks/bench_grade.py [--repeat 5] [--data PATH]

Three timings, all on this machine in this run:
- floor: a fresh kernel that only runs `import tensorflow` (what any notebook
  grader must pay at least);
- grade: `autograder.grade(reference/CNN.ipynb)` with the reference's facts
  cached, as every submission after the first in a class is graded;
- as written: the reference notebook executed as the lesson wrote it (10 real
  epochs), with only `mnist.load_data()` redirected to the same data.
The ratios matter, not the seconds: this machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import dataclasses
import asyncio
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from autograder import Options, data, grade, kernel, locations, sandbox

REDIRECT_ONLY = """
import keras.src.datasets.mnist as _m
_m.get_file = lambda *a, **k: {path!r}
del _m
"""


def run_plain(cells: list[str], timeout: int = 1800) -> float:
    """Seconds to start a fresh grading kernel and run these cells (no harness)."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    bare = sandbox.Sandbox(scratch=Path(tempfile.mkdtemp(prefix="bench-")), readable=[], hide=[], cpu_seconds=0,
                           enabled=False)
    bare.prepare()

    async def go():
        client = NotebookClient(nb, km=kernel.kernel_manager(bare), timeout=timeout,
                                resources={"metadata": {"path": str(bare.home)}})
        try:
            async with client.async_setup_kernel(env=kernel.kernel_env(bare), stdout=subprocess.DEVNULL,
                                                 stderr=subprocess.DEVNULL):
                for i, cell in enumerate(nb.cells):
                    await client.async_execute_cell(cell, i)
        finally:
            client.kc.stop_channels()
            await client.km.shutdown_kernel(now=True)

    started = time.perf_counter()
    asyncio.run(go())
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--data", type=Path, help="MNIST .npz (default: the grader's own choice)")
    parser.add_argument("--skip-as-written", action="store_true", help="skip the slow 10-epoch run")
    args = parser.parse_args()
    options = Options(data=args.data)
    source = data.resolve(args.data)
    print(f"data: {source.description}")

    unconfined = dataclasses.replace(options, sandbox=False)
    grade(locations.REFERENCE, options)  # fills the reference cache, not timed
    floors, grades, bare = [], [], []
    for i in range(args.repeat):  # interleaved, so drift on a shared machine hits all alike
        floors.append(run_plain(["import tensorflow"]))
        for times, opts in ((grades, options), (bare, unconfined)):
            started = time.perf_counter()
            result = grade(locations.REFERENCE, opts)
            times.append(time.perf_counter() - started)
            assert result.full_marks, "the reference should earn full marks"
            if opts is options:
                layers = result.isolation["active"]
        print(f"  run {i + 1}: floor {floors[-1]:.2f} s, grade {grades[-1]:.2f} s, without sandbox {bare[-1]:.2f} s")
    floor, graded, unsandboxed = statistics.median(floors), statistics.median(grades), statistics.median(bare)
    print(f"sandbox layers: {', '.join(layers) or 'none'}")
    print(f"floor (fresh kernel, import tensorflow): median {floor:.2f} s")
    print(f"grade the reference, sandboxed:          median {graded:.2f} s")
    print(f"grade the reference, --no-sandbox:       median {unsandboxed:.2f} s")
    print(f"ratio grade / floor: {graded / floor:.2f}x (without sandbox {unsandboxed / floor:.2f}x)")
    print(f"sandbox cost: {(graded / unsandboxed - 1) * 100:+.1f}%")
    if not args.skip_as_written:
        cells = [REDIRECT_ONLY.format(path=str(source.path))]
        cells += [c.source for c in nbformat.read(locations.REFERENCE, as_version=4).cells if c.cell_type == "code"]
        as_written = run_plain(cells)
        print(f"reference as written (10 epochs):        {as_written:.2f} s")
        print(f"ratio grade / as written: {graded / as_written:.3f} ({as_written / graded:.1f}x faster)")


if __name__ == "__main__":
    main()
