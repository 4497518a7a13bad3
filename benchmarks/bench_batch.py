"""Batch throughput: a class of 24 submissions graded by 2 workers, against the floor, in one run.

    python benchmarks/bench_batch.py [--students 24] [--data PATH] [--one-worker] [--cluster]

Measured in one run, interleaved: the floor (a fresh kernel that only imports TensorFlow, median of 3),
the class with kernels forked from each worker's fork server (the default) and the class with every
kernel started afresh (--no-fork-server, as before #11). For each: wall time per submission and CPU
time per submission (every process, kernels included: measure.py), both as ratios to the floor's, and
the peak memory of one worker slot (the worker, its fork server and its kernel; PSS).

With --cluster, the same class is graded by the local pool of 2 workers and by a local Dask
cluster of 2 single-threaded workers, in one run: the engine's own overhead.

The class is made of the example submissions and the fixture notebooks (every
kind of mistake, a few that fail to run; no endless cell, whose time limit
would dominate). Each timing starts from an empty output folder, with the
reference's facts already cached, as in a real class after the first run.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from autograder import Options, batch, data, rubric
from autograder.pipeline import reference_facts

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_grade import run_plain  # noqa: E402
from measure import CpuClock, PeakMemory  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent  # the repository: examples and fixtures

SLOW_ON_PURPOSE = {"never_ending_cell", "sleeps_in_c_forever"}  # they wait out their time limits


def make_class(folder: Path, students: int) -> None:
    pool = sorted((ROOT / "assignment" / "examples").glob("*.ipynb"))
    pool += sorted(p for p in (ROOT / "tests" / "fixtures").glob("*.ipynb") if p.stem not in SLOW_ON_PURPOSE)
    for i in range(students):
        shutil.copy(pool[i % len(pool)], folder / f"student{i:02d}_CNN.ipynb")


def timed_batch(source: Path, workers: int, options: Options, cluster: str | None = None,
                clock: CpuClock | None = None) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (with a clock) and the peak memory of one worker slot."""
    out = Path(tempfile.mkdtemp(prefix=f"bench-batch-{workers}-"))
    cpu = clock.seconds() if clock else 0.0
    started = time.perf_counter()
    with PeakMemory() as memory:
        summary = batch.run(source, out, options=options, workers=workers, cluster=cluster)
    seconds = time.perf_counter() - started
    assert summary["total"] == len(list(source.glob("*.ipynb")))
    shutil.rmtree(out)
    return seconds, (clock.seconds() - cpu) if clock else 0.0, memory.peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=24)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--one-worker", action="store_true", help="also grade the class with 1 worker")
    parser.add_argument("--cluster", action="store_true", help="compare the local pool with a local Dask cluster")
    args = parser.parse_args()
    options = Options(data=args.data)
    clock = CpuClock()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-class-") as tmp:
            source = Path(tmp)
            make_class(source, args.students)
            source_data = data.resolve(options.data)
            reference_facts(source_data, rubric.load(options.rubric), options)  # fill the cache, untimed
            if args.cluster:
                compare_cluster(source, options, args.students)
                return
            compare_launches(source, options, args, clock)
    finally:
        clock.close()


def floor(clock: CpuClock) -> tuple[float, float]:
    """Median wall and CPU seconds of a fresh kernel that only imports TensorFlow."""
    runs = []
    for _ in range(3):
        cpu, started = clock.seconds(), time.perf_counter()
        run_plain(["import tensorflow"])
        runs.append((time.perf_counter() - started, clock.seconds() - cpu))
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def compare_launches(source: Path, options: Options, args, clock: CpuClock) -> None:
    n = args.students
    print(f"CPU time: {clock.how}")
    floor_before = floor(clock)
    forked = timed_batch(source, 2, options, clock=clock)
    fresh = timed_batch(source, 2, dataclasses.replace(options, fork_server=False), clock=clock)
    floor_after = floor(clock)
    floor_wall = statistics.mean([floor_before[0], floor_after[0]])
    floor_cpu = statistics.mean([floor_before[1], floor_after[1]])
    print(f"floor (fresh kernel, import tensorflow): {floor_wall:.2f} s wall, {floor_cpu:.2f} s CPU")
    print(f"{n} submissions, 2 workers        total    wall/submission     CPU/submission    peak per slot")
    for name, (wall, cpu, peak) in (("forked kernels (default)", forked), ("kernels started afresh", fresh)):
        print(f"{name:28s} {wall:6.1f} s  {wall / n:5.2f} s = {wall / n / floor_wall:4.2f}x floor  "
              f"{cpu / n:5.2f} s = {cpu / n / floor_cpu:4.2f}x floor  {peak / 2**20:6.0f} MiB")
    print(f"the fork server grades the class in {forked[0] / fresh[0]:.2f}x the time, "
          f"{forked[1] / fresh[1]:.2f}x the CPU")
    if args.one_worker:
        one = timed_batch(source, 1, options)[0]
        print(f"{n} submissions, 1 worker: {one:6.1f} s; speed-up with 2 workers: {one / forked[0]:.2f}x")


def compare_cluster(source: Path, options: Options, n: int) -> None:
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        dask_s = timed_batch(source, 2, options, cluster=cluster.scheduler_address)[0]
    local_s = timed_batch(source, 2, options)[0]
    print(f"{n} submissions, local pool, 2 workers:        {local_s:6.1f} s  ({n / local_s * 60:.1f}/minute, "
          f"{local_s / n * 2 / 60:.3f} core-minutes each)")
    print(f"{n} submissions, Dask LocalCluster, 2 workers: {dask_s:6.1f} s  ({n / dask_s * 60:.1f}/minute)")
    print(f"Dask / local: {dask_s / local_s:.2f}x")


if __name__ == "__main__":
    main()
