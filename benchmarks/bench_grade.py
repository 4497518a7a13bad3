"""How long grading one notebook takes, as the user waits, as ratios measured in one run.

    python benchmarks/bench_grade.py [--repeat 5] [--before REV] [--data PATH]

Timings, all on this machine in this run, interleaved so that drift hits all alike:
- floor: a fresh kernel that only runs `import tensorflow` (what any notebook
  grader must pay at least);
- grade: the command `autograder grade reference/CNN.ipynb`, from process start
  to exit, with the reference's facts cached (as for every submission after the
  first); by default its kernel is forked from the fork server;
- grade, --no-fork-server: the same command, its kernel started afresh (before #11);
- grade, --no-sandbox: the same command without confinement (what the sandbox costs);
- with --before REV: the same command of the grader at git revision REV (its own cache folder);
- as written: the reference notebook executed as the lesson wrote it (10 real
  epochs), with only `mnist.load_data()` redirected to the same data.
Wall time and CPU time (this process and everything it starts, kernels included: measure.py) of every
run; the peak memory of the grading command's process tree (PSS) in one more run of each, apart, since
sampling it costs CPU. The ratios matter, not the seconds: this machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from autograder import Assignment, grade, kernel, locations, sandbox

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import CpuClock, PeakMemory  # noqa: E402

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
        client = NotebookClient(nb, km=kernel.kernel_manager(bare, fork=False), timeout=timeout,
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
    try:
        asyncio.run(go())
    finally:
        shutil.rmtree(bare.scratch, ignore_errors=True)
    return time.perf_counter() - started


VARIANTS = {"grade": [], "grade, --no-fork-server": ["--no-fork-server"], "grade, --no-sandbox": ["--no-sandbox"]}


def timed(clock: CpuClock, run) -> tuple[float, float]:
    """Wall seconds and CPU seconds of run()."""
    cpu, started = clock.seconds(), time.perf_counter()
    run()
    return time.perf_counter() - started, clock.seconds() - cpu


def peak_memory(run) -> int:
    """Bytes: the peak PSS of the process tree run() starts."""
    with PeakMemory(interval=0.2) as memory:
        run()
    return memory.peak


def grade_command(flags: list[str], data_path: Path | None, out: Path, env: dict | None = None) -> None:
    """`autograder grade` as a user runs it: a new process, start to exit."""
    argv = [sys.executable, "-m", "autograder", "grade", str(locations.REFERENCE), "-o", str(out), *flags]
    argv += ["--data", str(data_path)] if data_path else []
    # `-m` puts the working folder first on sys.path: run another version from its own checkout
    cwd = env["PYTHONPATH"] if env and "PYTHONPATH" in env else None
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd)


def older_grader(revision: str) -> tuple[Path, dict]:
    """A checkout of the grader at `revision`, and the environment that runs it (its own cache folder)."""
    from measure import checkout

    code = checkout(revision)
    env = {**os.environ, "PYTHONPATH": str(code), "AUTOGRADER_CACHE": tempfile.mkdtemp(prefix="bench-cache-")}
    return code, env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--data", type=Path, help="MNIST .npz (default: the grader's own choice)")
    parser.add_argument("--skip-as-written", action="store_true", help="skip the slow 10-epoch run")
    parser.add_argument("--before", metavar="REV", help="also time the grader at git revision REV")
    args = parser.parse_args()
    clock = CpuClock()
    try:
        measure(args, clock)
    finally:
        clock.close()


def measure(args, clock: CpuClock) -> None:
    assignment = Assignment.load(data_file=args.data)
    source = assignment.data
    print(f"data: {source.description}")
    print(f"CPU time: {clock.how}")
    result = grade(locations.REFERENCE, assignment)  # fills the reference cache, not timed
    assert result.full_marks, "the reference should earn full marks"
    print(f"sandbox layers: {', '.join(result.isolation['active']) or 'none'}")
    out = Path(tempfile.mkdtemp(prefix="bench-grade-"))
    commands = {name: (flags, None) for name, flags in VARIANTS.items()}
    code = None
    if args.before:
        code, env = older_grader(args.before)
        commands[f"grade at {args.before}"] = ([], env)
        grade_command([], args.data, out, env)  # fills that version's reference cache, not timed
    try:
        runs = {"floor": [], **{name: [] for name in commands}}
        for i in range(args.repeat):
            runs["floor"].append(timed(clock, lambda: run_plain(["import tensorflow"])))
            for name, (flags, env) in commands.items():
                runs[name].append(timed(clock, lambda: grade_command(flags, args.data, out, env)))
            print(f"  run {i + 1}: " + ", ".join(f"{name} {r[-1][0]:.2f} s" for name, r in runs.items()))
        peaks = {name: peak_memory(lambda: grade_command(flags, args.data, out, env))
                 for name, (flags, env) in commands.items()}
    finally:
        if code is not None:
            from measure import drop_checkout

            drop_checkout(code)
    median = {name: [statistics.median(r[k] for r in values) for k in range(2)] for name, values in runs.items()}
    floor_wall, floor_cpu = median["floor"]
    print(f"\nmedians of {args.repeat}          wall      ratio    CPU      ratio    peak memory")
    for name, (wall, cpu) in median.items():
        memory = f"{peaks[name] / 2**20:6.0f} MiB" if name in peaks else "      -"
        print(f"{name:26s} {wall:6.2f} s  {wall / floor_wall:5.2f}x  {cpu:6.2f} s  {cpu / floor_cpu:5.2f}x  {memory}")
    fork, fresh = median["grade"][0], median["grade, --no-fork-server"][0]
    print(f"fork server: the command takes {fork / fresh:.2f}x the time of one that starts its kernel afresh")
    print(f"sandbox cost: {(fork / median['grade, --no-sandbox'][0] - 1) * 100:+.1f}%")
    if not args.skip_as_written:
        cells = [REDIRECT_ONLY.format(path=str(source.path))]
        cells += [c.source for c in nbformat.read(locations.REFERENCE, as_version=4).cells if c.cell_type == "code"]
        as_written = run_plain(cells)
        print(f"reference as written (10 epochs):        {as_written:.2f} s")
        print(f"ratio grade / as written: {fork / as_written:.3f} ({as_written / fork:.1f}x faster)")


if __name__ == "__main__":
    main()
