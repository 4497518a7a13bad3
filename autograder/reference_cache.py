"""The cache of the reference notebook's facts.

The grader's expectations are the facts of the reference notebook, run through
the same pipeline as a submission. Running it costs as much as grading one
notebook, so its facts are cached under a key made of everything they depend
on: the reference, the rubric, the data, the harness, and the versions of the
grader and Keras. Change any of them and the reference is run again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from importlib import metadata
from pathlib import Path

from . import locations
from ._version import __version__
from .execute import HARNESS_SOURCE


def cache_key(reference: Path, rubric_digest: str, data_sha256: str) -> str:
    grader = hashlib.sha256()  # the grader's own code: a change to how facts are made redoes them
    for source in sorted([*locations.PACKAGE.glob("*.py"), HARNESS_SOURCE]):
        grader.update(source.read_bytes())
    parts = [__version__, metadata.version("keras"), metadata.version("tensorflow"),
             hashlib.sha256(Path(reference).read_bytes()).hexdigest(), rubric_digest, data_sha256,
             grader.hexdigest()]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def _path(key: str) -> Path:
    return locations.cache_dir() / f"reference-{key}.json"


def load(key: str) -> dict | None:
    try:
        return json.loads(_path(key).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None  # a missing or half-written cache file just means: run the reference again


def store(key: str, facts: dict) -> None:
    path = _path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".reference-", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(facts, f)
    os.replace(tmp, path)  # atomic: parallel graders never read half a file
