"""The submitted notebooks, byte for byte, under DIR/files/SHA256.ipynb (the same bytes are stored once).

A file is written to a temporary name, flushed to the disk, renamed into place and its folder flushed:
after store() returns, a power cut or kill -9 cannot lose it or leave half of it."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from .. import submission
from ..errors import SubmissionError


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def store(folder: Path, raw: bytes) -> str:
    """Keep these bytes durably; returns their SHA-256, the file's name."""
    sha = hashlib.sha256(raw).hexdigest()
    target = path_of(folder, sha)
    if target.exists():
        return sha
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-", suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(raw)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
    _fsync_folder(target.parent)
    return sha


def path_of(folder: Path, sha: str) -> Path:
    return Path(folder) / "files" / f"{sha}.ipynb"


def stage_of(folder: Path, submission_id: int) -> Path:
    """Where the worker grading this submission writes what it is doing now (engines.Task.stage_file)."""
    return Path(folder) / "stages" / f"{submission_id}.txt"


def stage(folder: Path, submission_id: int) -> str | None:
    """The running grade's current stage, as its worker wrote it; None before its first word (or on a
    worker that cannot reach DIR, a Dask worker elsewhere)."""
    try:
        return stage_of(folder, submission_id).read_text(encoding="utf-8") or None
    except OSError:
        return None


ZIP_MAGIC = b"PK\x03\x04"


def why_not_a_notebook(raw: bytes, name: str, expected: str = "CNN.ipynb") -> str:
    """Why these bytes cannot be graded, in words a student can act on; '' for a notebook. The same check
    as batch's (submission.read), so the service and the batch accept the same files."""
    if not raw:
        return f"{name} is empty. Save your notebook in Jupyter (File → Save Notebook), then upload it again."
    if raw.startswith(ZIP_MAGIC):
        return f"{name} is a .zip file, not a notebook. Unzip it and upload the {expected} that is inside."
    with tempfile.TemporaryDirectory(prefix="autograder-upload-") as folder:
        path = Path(folder) / "upload.ipynb"
        path.write_bytes(raw)
        try:
            submission.read(path)
        except SubmissionError as exc:
            return f"{name} is {exc.reason}"
    return ""
