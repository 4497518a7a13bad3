"""Where the grader finds its own files: inside the installed package, found with importlib, so an
installed wheel works from any folder. A course points at its own lesson with --assignment DIR (a folder
`autograder new` wrote), or at its own reference and rubric with --reference and --rubric.

In the repository, templates/, reference/ and assignment/ are mapped into the package as
autograder.templates, autograder.reference and autograder.assignment (pyproject.toml).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def _folder(package: str) -> Path:
    """The folder of one of the grader's asset packages: inside the installed package (a wheel), else
    beside it (a checkout, when Python imports the package from the repository itself)."""
    spec = importlib.util.find_spec(package)
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))).resolve()
    # A checkout; or a kernel that imports the grader for self_check() and cannot see these files:
    # importing must not fail there, only reading them would.
    return PACKAGE.parent / package.rpartition(".")[2]


TEMPLATES = _folder("autograder.templates")
REFERENCE = _folder("autograder.reference") / "CNN.ipynb"
ASSIGNMENT = _folder("autograder.assignment")  # the packaged lesson: an assignment folder (settings.Assignment.load)
RUBRIC = ASSIGNMENT / "assignment.toml"
STARTER = _folder("autograder.assignment") / "CNN.ipynb"
HANDWRITTEN_3 = _folder("autograder.assignment") / "handwritten-3.png"
EMBEDDED_MNIST = PACKAGE / "data" / "mnist-embedded.npz"


def embedded(name: str) -> Path:
    """One of the real dataset subsets shipped in the package (datasets.Dataset.embedded)."""
    return PACKAGE / "data" / name


def cache_dir() -> Path:
    """Cached reference results: $AUTOGRADER_CACHE, else $XDG_CACHE_HOME/cnn-autograder."""
    if os.environ.get("AUTOGRADER_CACHE"):
        return Path(os.environ["AUTOGRADER_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cnn-autograder"


def keras_cache_mnist() -> Path:
    """Where Keras keeps the full mnist.npz it downloads."""
    home = os.environ.get("KERAS_HOME") or Path.home() / ".keras"
    return Path(home) / "datasets" / "mnist.npz"
