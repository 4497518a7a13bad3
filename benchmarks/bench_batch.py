"""Batch throughput: a class of 24 submissions graded with 1 and with 2 workers, in one run.

    python benchmarks/bench_batch.py [--students 24] [--data PATH] [--cluster]

With --cluster, the same class is graded by the local pool of 2 workers and by a local Dask
cluster of 2 single-threaded workers, in one run: the engine's own overhead.

The class is made of the example submissions and the fixture notebooks (every
kind of mistake, a few that fail to run; no endless cell, whose time limit
would dominate). Each timing starts from an empty output folder, with the
reference's facts already cached, as in a real class after the first run.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from autograder import Options, batch, data, rubric
from autograder.pipeline import reference_facts

ROOT = Path(__file__).resolve().parent.parent  # the repository: examples and fixtures

SLOW_ON_PURPOSE = {"never_ending_cell", "sleeps_in_c_forever"}  # they wait out their time limits


def make_class(folder: Path, students: int) -> None:
    pool = sorted((ROOT / "assignment" / "examples").glob("*.ipynb"))
    pool += sorted(p for p in (ROOT / "tests" / "fixtures").glob("*.ipynb") if p.stem not in SLOW_ON_PURPOSE)
    for i in range(students):
        shutil.copy(pool[i % len(pool)], folder / f"student{i:02d}_CNN.ipynb")


def timed_batch(source: Path, workers: int, options: Options, cluster: str | None = None) -> float:
    out = Path(tempfile.mkdtemp(prefix=f"bench-batch-{workers}-"))
    started = time.perf_counter()
    summary = batch.run(source, out, options=options, workers=workers, cluster=cluster)
    seconds = time.perf_counter() - started
    assert summary["total"] == len(list(source.glob("*.ipynb")))
    shutil.rmtree(out)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=24)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--cluster", action="store_true", help="compare the local pool with a local Dask cluster")
    args = parser.parse_args()
    options = Options(data=args.data)
    with tempfile.TemporaryDirectory(prefix="bench-class-") as tmp:
        source = Path(tmp)
        make_class(source, args.students)
        source_data = data.resolve(options.data)
        reference_facts(source_data, rubric.load(options.rubric), options)  # fill the cache, untimed
        if args.cluster:
            compare_cluster(source, options, args.students)
            return
        one = timed_batch(source, 1, options)
        two = timed_batch(source, 2, options)
    n = args.students
    print(f"{n} submissions, 1 worker:  {one:6.1f} s  ({n / one * 60:.1f} submissions/minute)")
    print(f"{n} submissions, 2 workers: {two:6.1f} s  ({n / two * 60:.1f} submissions/minute)")
    print(f"speed-up with 2 workers: {one / two:.2f}x")
    print(f"(for scale: the reference as written on full MNIST takes about 360 s here, per shared/ASSIGNMENT.md; "
          f"the 2-worker class took {two / 360:.0%} of that)")


def compare_cluster(source: Path, options: Options, n: int) -> None:
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        dask_s = timed_batch(source, 2, options, cluster=cluster.scheduler_address)
    local_s = timed_batch(source, 2, options)
    print(f"{n} submissions, local pool, 2 workers:        {local_s:6.1f} s  ({n / local_s * 60:.1f}/minute, "
          f"{local_s / n * 2 / 60:.3f} core-minutes each)")
    print(f"{n} submissions, Dask LocalCluster, 2 workers: {dask_s:6.1f} s  ({n / dask_s * 60:.1f}/minute)")
    print(f"Dask / local: {dask_s / local_s:.2f}x")


if __name__ == "__main__":
    main()
