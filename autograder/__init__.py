"""cnn-autograder: grades the beginner CNN.ipynb (Keras on MNIST) and writes a feedback report."""

__version__ = "0.1.0"

from .pipeline import GradeResult, Options, grade  # noqa: E402
from .selfcheck import self_check  # noqa: E402

__all__ = ["GradeResult", "Options", "grade", "self_check", "__version__"]
