"""The thread that grades: the reference once, then the queue, on batch's engine (the local pool of warm
worker processes, or a Dask cluster) through batch's own loop (deadline, crashed workers, restarts)."""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from sqlalchemy.orm import sessionmaker

from .. import batch, data, report
from .. import rubric as rubric_mod
from ..pipeline import error_result, reference_facts, versions
from ..settings import Options
from . import files, queue

log = logging.getLogger("autograder.service")


def reference_of(options: Options) -> tuple[dict, str]:
    """In a process of its own (TensorFlow stays out of the web server): the reference's facts, from the
    cache or a run, and the data's hash, as batch computes them."""
    source = data.resolve(options.data)
    facts, _ = reference_facts(source, rubric_mod.load(options.rubric), options)
    return facts, source.sha256


class Grader:
    """Started once per service; wake() after a submission is queued starts it at once if a slot is free."""

    def __init__(self, sessions: sessionmaker, folder: Path, options: Options, cluster: str | None, workers: int,
                 score_policy: str = "latest"):
        self.sessions, self.folder, self.score_policy = sessions, Path(folder), score_policy
        # The kernels must not see the service's folder: other students' files, reports, the database.
        self.options = dataclasses.replace(options, hide=(*options.hide, self.folder.resolve()))
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
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as once:
                self.reference, self.data_sha256 = once.submit(reference_of, self.options).result()
            rubric = rubric_mod.load(self.options.rubric)
            self.versions = versions()
            engine = batch.engine_for(self.cluster, self.workers)
        except Exception as exc:  # a wrong rubric, data file or reference: said on /api/health, and logged
            self.problem = f"the grader cannot start: {exc}"
            raise
        self.ready.set()
        while not self._stop.is_set():
            try:
                batch.grade_as_they_come(self._take, self._task, engine, batch.deadline_s(self.options, rubric),
                                         self._done, more=self._more, tick=0.2)
            except Exception as exc:  # the database went away, the disk is full: say so, start again
                log.exception("grading stopped")
                self.problem = f"grading stopped ({type(exc).__name__}: {exc}); starting again in 10 s"
                engine.close(interrupted=True)
                time.sleep(10)
                queue.requeue_running(self.sessions)  # what was running when it stopped starts afresh
                engine = batch.engine_for(self.cluster, self.workers)
                self.problem = ""
        engine.close()

    def _more(self) -> bool:
        """Wait for a submission (or half a second), and say whether to go on."""
        self._wake.wait(0.5)
        self._wake.clear()
        return not self._stop.is_set()

    def _take(self, n: int) -> list[queue.Claim]:
        return [] if self._stop.is_set() else queue.claim(self.sessions, n)

    def _task(self, claim: queue.Claim) -> batch.Task:
        return batch.Task(name=claim.filename, notebook=files.path_of(self.folder, claim.sha256).read_bytes(),
                          options=self.options, reference=self.reference, data_sha256=self.data_sha256,
                          versions=self.versions)

    def _done(self, claim: queue.Claim, outcome: dict | None, reason: str | None) -> None:
        """Write the reports, then record the grade (only if this attempt still owns the submission)."""
        result = outcome["result"] if outcome else report.to_dict(error_result(Path(claim.filename), reason))
        stem = f"{claim.id}-{claim.attempt}"
        report.write_dict(result, self.folder / "reports", stem, instructor_copy=True)
        queue.complete(self.sessions, claim, result, stem, self.score_policy)

