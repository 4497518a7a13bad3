"""The grader's version: one place, read by pyproject.toml (dynamic) and by the modules that report it."""

__version__ = "0.1.0"
