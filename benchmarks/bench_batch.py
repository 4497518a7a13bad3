"""Batch throughput: a class of 24 submissions graded by 2 workers, against the floor, in one run.

    python benchmarks/bench_batch.py [--students 24] [--class mixed|ordinary] [--before REV] [--data PATH]
    python benchmarks/bench_batch.py --cluster

Measured in one run: the floor (a fresh kernel that only imports TensorFlow, median of 3, before and
after), then the class graded by 2 workers in three ways: kernels forked from each worker's fork server
(the default), every kernel started afresh (--no-fork-server), and, with --before REV, the grader as it
was at git revision REV (e.g. the commit before #11). Each way runs in a process of its own with an
empty cache folder (the reference is run first, untimed, as an instructor's first batch does). For each:
wall time per submission and CPU time per submission (every process, kernels included: measure.py),
both as ratios to the floor's, and the peak memory of one worker slot (a worker, its fork server and
its kernel; PSS).

The classes: `mixed` is the example submissions and the fixture notebooks in name order (every kind of
mistake, bombs, a few that fail to run; no endless cell, whose time limit would dominate); `ordinary`
is notebooks written as students write them (students who followed the lesson on their own, the
examples, the habit_ fixtures).

With --cluster, the same class is graded by the local pool of 2 workers and by a local Dask cluster of
2 single-threaded workers, in one run: the engine's own overhead.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent  # the repository: examples and fixtures
sys.path.insert(0, str(HERE))

SLOW_ON_PURPOSE = {"never_ending_cell", "sleeps_in_c_forever"}  # they wait out their time limits


def make_class(folder: Path, students: int, kind: str = "mixed") -> None:
    fixtures = ROOT / "tests" / "fixtures"
    pool = sorted((ROOT / "assignment" / "examples").glob("*.ipynb"))
    if kind == "ordinary":
        pool = sorted((fixtures / "similarity_class").glob("*.ipynb")) + pool + sorted(fixtures.glob("habit_*.ipynb"))
    else:
        pool += sorted(p for p in fixtures.glob("*.ipynb") if p.stem not in SLOW_ON_PURPOSE)
    for i in range(students):
        shutil.copy(pool[i % len(pool)], folder / f"student{i:02d}_CNN.ipynb")


def grade_class(source: Path, workers: int, fork_server: bool, data_path: str | None) -> dict:
    """In this process: fill the reference cache (untimed), then grade the class. Wall seconds and the
    peak memory of one worker slot, as JSON on the last line of stdout."""
    from autograder import Assignment, GradingContext, batch
    from autograder.pipeline import reference_facts
    from measure import PeakMemory, cpu_seconds

    assignment = Assignment.load(data_file=Path(data_path) if data_path else None)
    context = GradingContext(fork_server=fork_server)
    reference_facts(assignment, context)
    out = Path(tempfile.mkdtemp(prefix=f"bench-batch-{workers}-"))
    cpu, started = cpu_seconds(), time.perf_counter()
    with PeakMemory(interval=1.0) as memory:  # sampling costs CPU: seldom
        summary = batch.run(source, out, assignment, context, workers=workers)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    assert summary["total"] == len(list(source.glob("*.ipynb")))
    shutil.rmtree(out)
    return {"wall": seconds, "cpu": cpu, "peak": memory.peak}


def run_variant(source: Path, args, *, fork_server: bool = True, code: Path | None = None) -> dict:
    """One way of grading the class, in a new process with an empty cache: wall, CPU, peak memory."""
    env = {**os.environ, "AUTOGRADER_CACHE": tempfile.mkdtemp(prefix="bench-cache-")}
    if code is not None:  # another version of the grader
        env["PYTHONPATH"] = os.pathsep.join([str(code), env.get("PYTHONPATH", "")])
    argv = [sys.executable, str(Path(__file__).resolve()), "--grade-class", str(source), "--workers", "2"]
    argv += [] if fork_server else ["--no-fork-server"]
    argv += ["--data", str(args.data)] if args.data else []
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    shutil.rmtree(env["AUTOGRADER_CACHE"], ignore_errors=True)
    return measured


def floor(clock) -> tuple[float, float]:
    """Median wall and CPU seconds of a fresh kernel that only imports TensorFlow."""
    from bench_grade import run_plain

    runs = []
    for _ in range(3):
        cpu, started = clock.seconds(), time.perf_counter()
        run_plain(["import tensorflow"])
        runs.append((time.perf_counter() - started, clock.seconds() - cpu))
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def compare(args, clock) -> None:
    from measure import checkout, drop_checkout

    n = args.students
    with tempfile.TemporaryDirectory(prefix="bench-class-") as tmp:
        source = Path(tmp)
        make_class(source, n, args.kind)
        print(f"class: {n} submissions, {args.kind}; 2 workers; CPU time: {clock.how}")
        floor_before = floor(clock)
        ways = {"forked kernels (default)": run_variant(source, args),
                "kernels started afresh": run_variant(source, args, fork_server=False)}
        if args.before:
            code = checkout(args.before)
            try:
                ways[f"the grader at {args.before}"] = run_variant(source, args, code=code)
            finally:
                drop_checkout(code)
        floor_after = floor(clock)
    floor_wall = statistics.mean([floor_before[0], floor_after[0]])
    floor_cpu = statistics.mean([floor_before[1], floor_after[1]])
    print(f"floor (fresh kernel, import tensorflow): {floor_wall:.2f} s wall, {floor_cpu:.2f} s CPU")
    print(f"{'':30s} {'total':>8s}   {'wall per submission':22s} {'CPU per submission':22s} peak per slot")
    for name, m in ways.items():
        wall, cpu = m["wall"] / n, m["cpu"] / n
        print(f"{name:30s} {m['wall']:6.1f} s   {wall:5.2f} s = {wall / floor_wall:4.2f}x floor   "
              f"{cpu:5.2f} s = {cpu / floor_cpu:4.2f}x floor   {m['peak'] / 2**20:6.0f} MiB")


def compare_cluster(args) -> None:
    from distributed import LocalCluster

    from autograder import Assignment, GradingContext, batch
    from autograder.pipeline import reference_facts

    assignment, context = Assignment.load(data_file=args.data), GradingContext()
    n = args.students
    with tempfile.TemporaryDirectory(prefix="bench-class-") as tmp:
        source = Path(tmp)
        make_class(source, n, args.kind)
        reference_facts(assignment, context)

        def timed(cluster=None) -> float:
            out = Path(tempfile.mkdtemp(prefix="bench-batch-"))
            started = time.perf_counter()
            batch.run(source, out, assignment, context, workers=2, cluster=cluster)
            shutil.rmtree(out)
            return time.perf_counter() - started

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            dask_s = timed(cluster.scheduler_address)
        local_s = timed()
    print(f"{n} submissions, local pool, 2 workers:        {local_s:6.1f} s  ({n / local_s * 60:.1f}/minute)")
    print(f"{n} submissions, Dask LocalCluster, 2 workers: {dask_s:6.1f} s  ({n / dask_s * 60:.1f}/minute)")
    print(f"Dask / local: {dask_s / local_s:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=24)
    parser.add_argument("--class", dest="kind", choices=("mixed", "ordinary"), default="mixed")
    parser.add_argument("--data", type=Path)
    parser.add_argument("--before", metavar="REV", help="also grade the class with the grader at git revision REV")
    parser.add_argument("--cluster", action="store_true", help="compare the local pool with a local Dask cluster")
    parser.add_argument("--grade-class", type=Path, help=argparse.SUPPRESS)  # one way, in a process of its own
    parser.add_argument("--workers", type=int, default=2, help=argparse.SUPPRESS)
    parser.add_argument("--no-fork-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.grade_class:
        result = grade_class(args.grade_class, args.workers, not args.no_fork_server,
                             str(args.data) if args.data else None)
        print(json.dumps(result))
        return
    if args.cluster:
        compare_cluster(args)
        return
    from measure import CpuClock

    clock = CpuClock()
    try:
        compare(args, clock)
    finally:
        clock.close()


if __name__ == "__main__":
    main()
