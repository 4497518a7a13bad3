"""cnn-autograder: grades the beginner CNN.ipynb (Keras on MNIST) and writes a feedback report."""

from ._version import __version__
from .pipeline import grade
from .settings import Assignment, GradingContext
from .results import GradeResult
from .selfcheck import self_check

__all__ = ["Assignment", "GradeResult", "GradingContext", "grade", "self_check", "__version__"]
