"""The fixture notebooks the selected tests ask for by name, graded two at a time before the first is read,
as a batch grades a class on two workers (results are GradeResults, pickled back); each still once per session.

Hostile notebooks are left to be graded alone, in the test process: a fork bomb or an endless loop beside
another notebook would slow that one's cells, and a verdict must not depend on its neighbour."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ALONE = {"fork_bomb", "memory_bomb", "disk_filler", "disk_filler_many_files", "sleeps_in_c_forever",
         "prints_200000_lines", "never_ending_cell"}
# Notebooks whose point is one cell that never ends: a shorter cell limit shows the same (the cell stopped,
# the kernel's answer or silence, the cells after it) in less time. The cells before it take a few seconds.
ENDLESS_LIMIT = {"never_ending_cell": 12, "sleeps_in_c_forever": 8}
WORKERS = 2


def grade_one(path: Path, assignment, context):
    """In a worker: one grade, as pipeline.grade gives it."""
    from autograder import grade

    return grade(path, assignment, context)


def grade_all(paths: dict[str, Path], assignment, context) -> dict:
    """{name: GradeResult} for every path, on WORKERS spawned processes (fresh: no TensorFlow state copied)."""
    with ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {name: pool.submit(grade_one, path, assignment, context) for name, path in paths.items()}
        return {name: future.result() for name, future in futures.items()}
