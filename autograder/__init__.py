"""cnn-autograder: grades the beginner CNN.ipynb (Keras on MNIST) and writes a feedback report."""

from ._version import __version__
from .pipeline import grade
from .settings import Options
from .results import GradeResult
from .selfcheck import self_check

__all__ = ["GradeResult", "Options", "grade", "self_check", "__version__"]
