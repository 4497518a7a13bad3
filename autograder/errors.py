"""Errors the grader raises. Each says which file is at fault and what to do.

    GraderError                  anything the grader cannot work around
    ├── SubmissionError          the submission cannot be graded at all (not a notebook, missing, ...)
    └── SetupError               the grader's own inputs are wrong (rubric, data file, reference)

A submission that runs badly is NOT an error: it is a graded result with reasons.
"""

from __future__ import annotations

from pathlib import Path

# How every one of the grader's own limits begins its reason (events, model_file, model_worker), so that the
# report can say it in so many words (checks.check_model_found).
TOO_MUCH = "too much to grade"


class GraderError(Exception):
    """Base class: the grader could not do what it was asked."""

    def __init__(self, path: Path | str | None, reason: str):
        self.path = str(path) if path is not None else None
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


class SubmissionError(GraderError, ValueError):
    """The submitted file cannot be graded (missing, not JSON, not a notebook, ...)."""


class SetupError(GraderError, RuntimeError):
    """The grader's own configuration is wrong: a rubric, a data file or the reference notebook."""
