"""The cache of the reference notebook's facts (and of brief trainings).

The grader's expectations are the facts of the reference notebook, run through
the same pipeline as a submission. Running it costs as much as grading one
notebook, so its facts are cached under a key made of everything they depend
on: the reference, the rubric, the data, the harness, and the versions of the
grader and Keras. Change any of them and the reference is run again.

The brief training of a network (training.py) is stored here too, under a key of
its config, budget and data and the same versions: the lesson's network, trained
once for the reference, is not trained again for every student who built it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from . import locations
from ._version import __version__
from .execute import HARNESS_SOURCE


@functools.lru_cache(maxsize=1)
def grader_digest() -> str:
    """The grader's own code and the versions it runs on: a change to how facts are made redoes them."""
    grader = hashlib.sha256()
    for source in sorted([*locations.PACKAGE.glob("*.py"), HARNESS_SOURCE]):
        grader.update(source.read_bytes())
    parts = [__version__, metadata.version("keras"), metadata.version("tensorflow"), grader.hexdigest()]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def cache_key(reference: Path, rubric_digest: str, data_sha256: str) -> str:
    parts = [grader_digest(), hashlib.sha256(Path(reference).read_bytes()).hexdigest(), rubric_digest, data_sha256]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def _path(cache: Path, key: str, kind: str) -> Path:
    return cache / f"{kind}-{key}.json"


def load(cache: Path, key: str, kind: str = "reference") -> Any:
    """What was stored under key in the cache folder, or None."""
    try:
        return json.loads(_path(cache, key, kind).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None  # a missing or half-written cache file just means: run it again


def store(cache: Path, key: str, facts: Any, kind: str = "reference") -> None:
    path = _path(cache, key, kind)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{kind}-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(facts, f)
        os.replace(tmp, path)  # atomic: parallel graders never read half a file
    except OSError:
        if kind == "reference":
            raise
        # a brief training not stored is only trained again
