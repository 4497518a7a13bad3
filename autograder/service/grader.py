"""The thread that grades: the reference once, then the queue, on the batch's engine (the local pool of warm
worker processes, or a Dask cluster) through its own loop (engines.grade_as_they_come: deadline, crashed
workers, restarts)."""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from sqlalchemy.orm import sessionmaker

from typing import Any

from .. import engines, report
from ..pipeline import error_result, reference_facts, versions
from ..settings import Assignment, GradingContext
from . import files, queue

log = logging.getLogger("autograder.service")


class Grader:
    """Started once per service; wake() after a submission is queued starts it at once if a slot is free."""

    def __init__(self, sessions: sessionmaker[Any], folder: Path, assignment: Assignment, context: GradingContext,
                 cluster: str | None, workers: int, score_policy: str = "latest") -> None:
        self.sessions, self.folder, self.score_policy = sessions, Path(folder), score_policy
        self.assignment = assignment
        # The kernels must not see the service's folder: other students' files, reports, the database.
        self.context = context.hiding(self.folder)
        self.cluster, self.workers = cluster, workers
        self.ready = threading.Event()  # the reference is graded: submissions are being graded
        self.problem = ""  # why nothing can be graded (the grader's own setup), for /api/health
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, name="grader", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _run(self) -> None:
        try:
            # In a process of its own: TensorFlow stays out of the web server.
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as once:
                reference, _ = once.submit(reference_facts, self.assignment, self.context).result()
            self.assignment = self.assignment.knowing(reference)
            self.versions = versions()
            engine = engines.engine_for(self.cluster, self.workers)
        except Exception as exc:  # a wrong rubric, data file or reference: said on /api/health, and logged
            self.problem = f"the grader cannot start: {exc}"
            raise
        self.ready.set()
        while not self._stop.is_set():
            try:
                engines.grade_as_they_come(self._take, self._task, engine,
                                           engines.deadline_s(self.assignment, self.context), self._done,
                                           more=self._more, tick=0.2)
            except Exception as exc:  # the database went away, the disk is full: say so, start again
                log.exception("grading stopped")
                self.problem = f"grading stopped ({type(exc).__name__}: {exc}); starting again in 10 s"
                engine.close(interrupted=True)
                time.sleep(10)
                queue.requeue_running(self.sessions)  # what was running when it stopped starts afresh
                engine = engines.engine_for(self.cluster, self.workers)
                self.problem = ""
        engine.close()

    def _more(self) -> bool:
        """Wait for a submission (or half a second), and say whether to go on."""
        self._wake.wait(0.5)
        self._wake.clear()
        return not self._stop.is_set()

    def _take(self, n: int) -> list[queue.Claim]:
        return [] if self._stop.is_set() else queue.claim(self.sessions, n)

    def _task(self, claim: queue.Claim) -> engines.Task:
        stage = files.stage_of(self.folder, claim.id)
        stage.parent.mkdir(exist_ok=True)
        stage.unlink(missing_ok=True)  # an earlier attempt's last word is not this one's
        return engines.Task(name=claim.filename, notebook=files.path_of(self.folder, claim.sha256).read_bytes(),
                            assignment=self.assignment, context=self.context, versions=self.versions,
                            stage_file=stage)

    def _done(self, claim: queue.Claim, outcome: engines.Outcome | None, reason: str | None) -> None:
        """Write the reports, then record the grade (only if this attempt still owns the submission)."""
        result = outcome["result"] if outcome else report.to_dict(error_result(Path(claim.filename), reason or ""))
        stem = f"{claim.id}-{claim.attempt}"
        report.write_dict(result, self.folder / "reports", stem, instructor_copy=True)
        queue.complete(self.sessions, claim, result, stem, self.score_policy)
        files.stage_of(self.folder, claim.id).unlink(missing_ok=True)

