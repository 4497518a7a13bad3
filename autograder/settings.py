"""One configuration, built once at the edge (the CLI, self_check, the service, a batch's worker) and passed down:

- `Assignment`: what is expected — the rubric, the reference notebook (and its facts, once known), the data.
- `GradingContext`: how this run grades — isolation, time limits, what the kernel must not see, the cache.
- `Settings`: the two resolved into every limit and budget one grade runs under (`resolve`). No stage reads
  the rubric's tables, an option, an environment variable or a file of settings of its own.

Precedence, for every value: a flag (GradingContext) wins over the rubric, which wins over the defaults here.
The data source has its own documented order (data.resolve: --data, then the Keras cache, then the
embedded subset)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

from . import data, locations, reference_cache
from .errors import SetupError
from . import rubric as rubric_mod
from .facts import Facts
from .rubric import Rubric


def _rules_file(folder: Path | None) -> Path:
    if folder is None:
        return locations.RUBRIC
    folder = Path(folder)
    if not (folder / "assignment.toml").is_file():
        raise SetupError(folder, "no assignment.toml in this folder; make one with "
                                 "`autograder new SOLUTION.ipynb -o FOLDER`")
    return folder / "assignment.toml"


@dataclass(frozen=True)
class Assignment:
    """What is expected of a submission. `load` it at the edge; `knowing` adds the reference's facts once they
    are computed (a batch ships them with every task)."""

    rubric: Rubric
    reference_path: Path
    data: data.DataSource
    data_file: Path | None = None  # what --data named (a worker on another machine resolves it again)
    reference: Facts | None = None  # the reference notebook's facts, once known

    @classmethod
    def load(cls, folder: Path | None = None, *, reference: Path | None = None, rubric: Path | None = None,
             data_file: Path | None = None) -> Assignment:
        """An assignment folder (`folder`/assignment.toml, the notebooks it names), by default the lesson
        shipped with the grader; --reference and --rubric override its parts. SetupError names the file when
        one is wrong."""
        rules_path = Path(rubric) if rubric else _rules_file(folder)
        rules = rubric_mod.load(rules_path)
        solution = Path(reference) if reference else rules.reference or locations.REFERENCE
        if not solution.is_file():
            raise SetupError(solution, f"the solution notebook is missing; {rules_path.name} names it in "
                                       "[assignment] reference (relative to that file)")
        return cls(rubric=rules, reference_path=solution, data=data.resolve(data_file, rules.dataset),
                   data_file=data_file)

    @property
    def starter_path(self) -> Path | None:
        """What students were given (the batch's similarity discounts it), when the assignment names it."""
        return self.rubric.starter

    def knowing(self, reference: Facts) -> Assignment:
        return dataclasses.replace(self, reference=reference)

    @property
    def cache_key(self) -> str:
        """Everything the reference's facts depend on (reference_cache.cache_key)."""
        return reference_cache.cache_key(self.reference_path, self.rubric.digest, self.data.sha256)


@dataclass(frozen=True)
class GradingContext:
    """How this run grades, as the user says it (flags, the API)."""

    cell_timeout: float | None = None  # seconds; None: the rubric's
    notebook_timeout: float | None = None
    sandbox: bool = True  # confine the kernel with every layer this machine supports
    fork_server: bool = True  # fork kernels from a process that imported TensorFlow once (forking.py)
    hide: tuple[Path, ...] = ()  # more folders the kernel must not see (a batch's submissions, its output)
    cache: Path = field(default_factory=locations.cache_dir)  # the reference's facts, brief trainings, data copies

    def hiding(self, *folders: Path) -> GradingContext:
        return dataclasses.replace(self, hide=(*self.hide, *(Path(f).resolve() for f in folders)))


AUTO_TIMEOUT = (10, 30, 120)  # "auto": ten times the reference's slowest cell, from 30 s to 120 s
KERNEL_STARTUP_S = 120  # a kernel with TensorFlow takes ~5 s to start; a loaded machine, much longer
FINISH_S = 60  # the grader's own last step in the kernel (snapshot of the final model)


@dataclass(frozen=True)
class Settings:
    """Everything one grade needs, resolved from the assignment and the context (see resolve)."""

    cell_timeout_s: int  # one cell
    notebook_timeout_s: float  # all cells together
    cpu_seconds: int  # the kernel's CPU-time limit (sandbox)
    kernel_startup_s: int
    finish_s: int
    harness: dict[str, int]  # what the kernel-side harness is told (seed, fit_samples, ...: the rubric's [harness])
    training: dict[str, float]  # the brief training's budget and thresholds (the rubric's [training])
    learns_target: float | None  # the held-out accuracy that passes train.learns; None while grading the reference
    forgive: tuple[str, ...]  # the lesson's slips that cost nothing
    sandbox: bool
    fork_server: bool
    hidden: tuple[Path, ...]  # what the kernel must not see: the caller's folders and the grader's own files
    cache: Path


def cell_timeout(rubric: Rubric, reference: Facts | None, context: GradingContext) -> int:
    """Seconds one cell may run: --cell-timeout, else the rubric's number, else derived from what the
    reference needs, so an endless loop costs a class seconds, not minutes. Whole seconds: nbclient's
    timeout is an int."""
    if context.cell_timeout:
        return math.ceil(context.cell_timeout)
    limit = rubric.limits["cell_timeout_s"]
    if isinstance(limit, (int, float)):  # else "auto" (rubric.load allows nothing else)
        return math.ceil(limit)
    factor, low, high = AUTO_TIMEOUT
    seconds = reference["execution"]["cell_seconds"].values() if reference else []
    slowest = max(seconds, default=high / factor)
    return int(min(high, max(low, math.ceil(factor * slowest))))


def _learns_target(rubric: Rubric, reference: Facts | None) -> float | None:
    training = reference["brief_training"] if reference else None
    accuracy = (training or {}).get("heldout_accuracy")
    return None if accuracy is None else accuracy - rubric.training["pass_within"]


def notebook_timeout(assignment: Assignment, context: GradingContext) -> float:
    return context.notebook_timeout or float(assignment.rubric.limits["notebook_timeout_s"])


def resolve(assignment: Assignment, context: GradingContext) -> Settings:
    """The settings for one grade: of a submission once `assignment.reference` is known, of the reference
    notebook itself before."""
    rubric, reference = assignment.rubric, assignment.reference
    total = notebook_timeout(assignment, context)
    return Settings(
        cell_timeout_s=cell_timeout(rubric, reference, context),
        notebook_timeout_s=total,
        cpu_seconds=int(2 * total + KERNEL_STARTUP_S),
        kernel_startup_s=KERNEL_STARTUP_S, finish_s=FINISH_S,
        harness=dict(rubric.harness), training=dict(rubric.training), forgive=rubric.forgive,
        learns_target=_learns_target(rubric, reference),
        sandbox=context.sandbox, fork_server=context.fork_server,
        # The grader's own folders, wherever they are (a cache inside the virtual environment is inside what
        # the kernel must read): the kernel sees none of them.
        hidden=(*context.hide, locations.REFERENCE, assignment.reference_path, rubric.path, context.cache),
        cache=context.cache)
