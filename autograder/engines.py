"""Where submissions are graded: the embedded default (LocalPool: spawned processes on this machine) or a running
Dask scheduler (DaskCluster), both concurrent.futures executors under one loop (grade_as_they_come: deadline,
crashed workers, Ctrl-C), shared by the batch and the service. A Task carries all a worker needs: the notebook's
bytes, the assignment (with the reference's facts) and the context; no shared filesystem."""

from __future__ import annotations

import multiprocessing
import socket
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Protocol, TypeVar

from . import data, datasets, locations, report, sandbox, settings
from .errors import SetupError
from .pipeline import grade, versions
from .settings import Assignment, GradingContext


@dataclass(frozen=True)
class Task:
    """All a worker needs to grade one submission, sent with it: no shared filesystem."""

    name: str  # the file's name, as the report shows it
    notebook: bytes
    assignment: Assignment  # knowing the reference's facts, computed once by the client
    context: GradingContext
    versions: dict[str, str]  # the client's grader, Keras and TensorFlow versions
    stage_file: Path | None = None  # where the worker keeps the grade's current stage (the service's live status)


class WorkerMismatch(RuntimeError):
    """A worker that cannot grade as the client would (other versions, other data)."""


def grade_task(task: Task) -> dict[str, Any]:
    """On a worker (a local process or a Dask worker): grade one submission and return its JSON result
    and HTML report. Refuses when this worker would not grade as the client does."""
    mine = versions()
    for name in ("grader", "keras", "tensorflow", "numpy"):
        if mine[name] != task.versions.get(name):
            raise WorkerMismatch(f"the worker on {socket.gethostname()} runs {name} {mine[name]}, the batch needs "
                                 f"{task.versions[name]}: install the same versions on every worker")
    expected = task.assignment.data
    try:  # this worker's own copy of the data (on another machine, another path)
        source = data.resolve(task.assignment.data_file, task.assignment.rubric.dataset)
    except SetupError as exc:
        raise WorkerMismatch(f"the worker on {socket.gethostname()} has no data file: {exc}") from None
    if source.sha256 != expected.sha256:
        title = datasets.named(source.dataset).title
        raise WorkerMismatch(f"the worker on {socket.gethostname()} has other {title} data ({source.description}): "
                             "give every worker the same --data file")
    # A worker is an edge of its own: its data and its cache are this machine's.
    assignment = replace(task.assignment, data=source)
    context = replace(task.context, cache=locations.cache_dir())
    with tempfile.TemporaryDirectory(prefix=f"autograder-task-{sandbox.owner_tag()}-") as folder:
        path = Path(folder) / task.name
        path.write_bytes(task.notebook)
        result = report.to_dict(grade(path, assignment, context, on_stage=_stage_writer(task.stage_file)))
    result["graded_on"] = socket.gethostname()
    return {"result": result}


def _stage_writer(path: Path | None) -> Callable[[str], None]:
    """Each stage, written whole (a reader never sees half a line); nothing when there is no such folder (a
    Dask worker on another machine): the stage is a courtesy, never a reason for a grade to fail."""
    def write(stage: str) -> None:
        if path is not None and path.parent.is_dir():
            try:
                report.atomic_write(path, stage)
            except OSError:
                pass
    return write


def deadline_s(assignment: Assignment, context: GradingContext) -> float:
    """How long one submission may take in a worker before the batch gives up on it: the notebook's
    own limit, plus the kernel's start, the grader's checks and the brief training."""
    return settings.notebook_timeout(assignment, context) + 180


Outcome = dict[str, Any]  # what grade_task returns: {"result": the JSON result}
E = TypeVar("E")  # what the caller grades: a batch's Entry, the service's Submission row
Done = Callable[[E, "Outcome | None", "str | None"], None]


class Engine(Protocol):
    """What the loop needs of a backend."""

    def slots(self) -> int: ...
    def submit(self, task: Task) -> Future[Outcome]: ...
    def crash(self, exc: BaseException) -> str | None: ...
    def give_up(self) -> bool: ...
    def restart(self) -> None: ...
    def close(self, interrupted: bool = False) -> None: ...


class LocalPool:
    """The embedded default: spawned worker processes on this machine, no server."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool = self._new()

    def _new(self) -> ProcessPoolExecutor:
        # spawn: fresh workers, no TensorFlow state copied by fork
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"))

    def slots(self) -> int:
        return self.workers

    def submit(self, task: Task) -> Future[Outcome]:
        return self._pool.submit(grade_task, task)

    def crash(self, exc: BaseException) -> str | None:
        """Why a submission crashed its worker, when this exception says so (the pool is then broken)."""
        return "the grading process crashed on this submission" if isinstance(exc, BrokenProcessPool) else None

    def give_up(self) -> bool:
        """Stop a submission that outlived its deadline; True when the others running were stopped too."""
        self.restart()
        return True

    def restart(self) -> None:
        sandbox.stop_descendants()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new()

    def close(self, interrupted: bool = False) -> None:
        if interrupted:  # never wait for a worker that may be stuck: Ctrl-C always ends the batch
            sandbox.stop_descendants()
        self._pool.shutdown(wait=not interrupted, cancel_futures=True)


class DaskCluster:
    """The same tasks on a running Dask scheduler (`--cluster tcp://host:8786`): its workers each grade
    one submission per thread; a task whose worker dies is retried elsewhere, up to the scheduler's
    allowed-failures, then reported as crashing its worker."""

    def __init__(self, address: str) -> None:
        from distributed import Client

        try:
            self.client = Client(address, timeout="30s")
        except OSError as exc:
            raise SetupError(None, f"cannot reach the Dask scheduler at {address} ({exc}); start it with "
                                   "`dask scheduler` and workers with `autograder worker ADDRESS`") from None
        self._executor = self.client.get_executor(pure=False)

    def slots(self) -> int:
        threads: dict[str, int] = self.client.nthreads()
        return max(1, sum(threads.values()))

    def submit(self, task: Task) -> Future[Outcome]:
        future: Future[Outcome] = self._executor.submit(grade_task, task)
        return future

    def crash(self, exc: BaseException) -> str | None:
        from distributed.scheduler import KilledWorker

        if isinstance(exc, KilledWorker):
            return "the grading process crashed on this submission every time the cluster tried it"
        return None

    def give_up(self) -> bool:
        return False  # a Dask task cannot be stopped from here; its kernel's own limits end it

    def restart(self) -> None:
        pass  # the scheduler reschedules by itself

    def close(self, interrupted: bool = False) -> None:
        self._executor.shutdown(wait=False)
        self.client.close()


def engine_for(cluster: str | None, workers: int) -> Engine:
    """The local pool, or the Dask cluster at `cluster` (the CLI also reads $DASK_SCHEDULER_ADDRESS)."""
    return DaskCluster(cluster) if cluster else LocalPool(workers)


def grade_all(todo: list[E], make_task: Callable[[E], Task], engine: Engine, deadline: float,
              on_done: Done[E]) -> None:
    """Grade `todo` on the engine, then close it (at once on Ctrl-C)."""
    waiting = list(todo)
    try:
        grade_as_they_come(lambda n: [waiting.pop(0) for _ in range(min(n, len(waiting)))], make_task, engine,
                           deadline, on_done)
    except KeyboardInterrupt:
        engine.close(interrupted=True)
        raise
    engine.close()


def grade_as_they_come(take: Callable[[int], list[E]], make_task: Callable[[E], Task], engine: Engine,
                       deadline: float, on_done: Done[E], more: Callable[[], bool] | None = None,
                       tick: float = 2) -> None:
    """Grade what take(n) gives (at most n entries to start now) on the engine, at most as many at once as
    it has slots, calling on_done(entry, outcome or None, reason) for each. Returns when take gives nothing
    and nothing runs, unless more() (which may wait for work) says to go on: the service's loop. One engine
    loop for every backend and for both the batch and the service."""
    again: list[E] = []  # entries whose worker was stopped under them
    running: dict[Future[Outcome], E] = {}
    started: dict[Future[Outcome], float] = {}
    while True:
        room = engine.slots() - len(running)
        starting, again = again[:room], again[room:]
        if room > len(starting):
            starting += take(room - len(starting))
        for entry in starting:
            future = engine.submit(make_task(entry))
            running[future], started[future] = entry, time.monotonic()
        if not running:
            if more is None or not more():
                return
            continue
        done, _ = wait(running, timeout=tick, return_when=FIRST_COMPLETED)
        for future in done:
            if future not in running:
                continue
            entry = running.pop(future)
            try:
                on_done(entry, future.result(), None)
            except Exception as exc:  # one bad submission never stops the others
                crashed = engine.crash(exc)
                on_done(entry, None, crashed or f"the grader failed: {type(exc).__name__}: {exc}")
                if crashed and isinstance(engine, LocalPool):  # the pool is broken: redo the rest
                    again = list(running.values()) + again
                    running.clear()
                    engine.restart()
                    break
        late = [f for f in running if time.monotonic() - started[f] > deadline]
        for future in late:
            on_done(running.pop(future), None, f"grading took longer than {deadline:.0f} seconds and was stopped")
            future.cancel()
        if late and engine.give_up():  # the others running on the stopped workers start again
            again = list(running.values()) + again
            running.clear()
