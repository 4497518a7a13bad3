"""Where the grader finds its own files. Every path can be overridden from the CLI."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent  # the repository (the grader is installed with `pip install -e .`)

REFERENCE = ROOT / "reference" / "CNN.ipynb"
RUBRIC = ROOT / "assignment" / "rubric.toml"
TEMPLATES = ROOT / "templates"
EMBEDDED_MNIST = PACKAGE / "data" / "mnist-embedded.npz"
HANDWRITTEN_3 = PACKAGE / "data" / "handwritten-3.png"
EXAMPLES = ROOT / "assignment" / "examples"


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
