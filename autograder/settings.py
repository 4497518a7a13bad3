"""One configuration: what the user asked for (Options: flags or the API) and the rubric, resolved once
into the Settings every stage reads. No stage reads the rubric's tables or picks a limit of its own.

Precedence, for every value: a flag (Options) wins over the rubric, which wins over the defaults here.
The data source has its own documented order (data.resolve: --data, then the Keras cache, then the
embedded subset)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from . import locations
from .rubric import Rubric


@dataclass(frozen=True)
class Options:
    """How to grade, as the user says it. Paths default to the reference and rubric shipped with the grader."""

    data: Path | None = None  # an .npz with x_train, y_train, x_test, y_test
    reference: Path = locations.REFERENCE
    rubric: Path = locations.RUBRIC
    cell_timeout: float | None = None  # seconds; None: the rubric's
    notebook_timeout: float | None = None
    sandbox: bool = True  # confine the kernel with every layer this machine supports
    fork_server: bool = True  # fork kernels from a process that imported TensorFlow once (forking.py)
    hide: tuple[Path, ...] = ()  # more folders the kernel must not see (a batch's submissions)


AUTO_TIMEOUT = (10, 30, 120)  # "auto": ten times the reference's slowest cell, from 30 s to 120 s
KERNEL_STARTUP_S = 120  # a kernel with TensorFlow takes ~5 s to start; a loaded machine, much longer
FINISH_S = 60  # the grader's own last step in the kernel (snapshot of the final model)


@dataclass(frozen=True)
class Settings:
    """Everything one grade needs, resolved from Options and the rubric (see resolve)."""

    cell_timeout_s: int  # one cell
    notebook_timeout_s: float  # all cells together
    cpu_seconds: int  # the kernel's CPU-time limit (sandbox)
    kernel_startup_s: int
    finish_s: int
    harness: dict  # what the kernel-side harness is told (seed, fit_samples, ...: the rubric's [harness])
    training: dict  # the brief training's budget and thresholds (the rubric's [training])
    learns_target: float | None  # the held-out accuracy that passes train.learns; None while grading the reference
    forgive: tuple[str, ...]  # the lesson's slips that cost nothing
    sandbox: bool
    fork_server: bool
    hidden: tuple[Path, ...]  # what the kernel must not see: the caller's folders and the grader's own files


def cell_timeout(rubric: Rubric, reference: dict, options: Options) -> int:
    """Seconds one cell may run: --cell-timeout, else the rubric's number, else derived from what the
    reference needs, so an endless loop costs a class seconds, not minutes. Whole seconds: nbclient's
    timeout is an int."""
    if options.cell_timeout:
        return math.ceil(options.cell_timeout)
    limit = rubric.limits["cell_timeout_s"]
    if limit != "auto":
        return math.ceil(limit)
    factor, low, high = AUTO_TIMEOUT
    slowest = max((reference.get("execution") or {}).get("cell_seconds", {}).values(), default=high / factor)
    return int(min(high, max(low, math.ceil(factor * slowest))))


def _learns_target(rubric: Rubric, reference: dict) -> float | None:
    accuracy = (reference.get("brief_training") or {}).get("heldout_accuracy")
    return None if accuracy is None else accuracy - rubric.training["pass_within"]


def resolve(options: Options, rubric: Rubric, reference: dict | None = None) -> Settings:
    """The settings for one grade; `reference` is the reference's facts ({} while grading the reference)."""
    notebook_timeout = options.notebook_timeout or rubric.limits["notebook_timeout_s"]
    return Settings(
        cell_timeout_s=cell_timeout(rubric, reference or {}, options),
        notebook_timeout_s=notebook_timeout,
        cpu_seconds=int(2 * notebook_timeout + KERNEL_STARTUP_S),
        kernel_startup_s=KERNEL_STARTUP_S, finish_s=FINISH_S,
        harness=dict(rubric.harness), training=dict(rubric.training), forgive=rubric.forgive,
        learns_target=_learns_target(rubric, reference or {}),
        sandbox=options.sandbox, fork_server=options.fork_server,
        # The grader's own folders, wherever they are (a cache inside the virtual environment is inside what
        # the kernel must read): the kernel sees none of them.
        hidden=(*options.hide, locations.REFERENCE, Path(options.reference), Path(options.rubric),
                locations.cache_dir()))
