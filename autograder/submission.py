"""Read a submitted .ipynb and check that it is a notebook. The file itself is never changed."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .errors import SubmissionError

MAX_BYTES = 200 * 1024 * 1024  # larger than any honest notebook; outputs are dropped anyway


@dataclass
class Submission:
    path: Path
    sha256: str
    notebook: nbformat.NotebookNode  # a copy with outputs cleared, safe to execute


def read(path: Path) -> Submission:
    path = Path(path)
    if not path.exists():
        raise SubmissionError(path, "file not found")
    if not path.is_file():
        raise SubmissionError(path, "not a file (a folder?); give the path to the .ipynb file")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise SubmissionError(path, f"the file is {size / 2**20:.0f} MB, too large to be a notebook")
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8")
        data = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SubmissionError(path, f"not a Jupyter notebook: the file is not valid JSON ({exc}). "
                                    "Download it again from Jupyter with File → Download as → Notebook (.ipynb)") from None
    except RecursionError:  # thousands of nested brackets: JSON, but nothing Jupyter ever writes
        raise SubmissionError(path, "not a Jupyter notebook: its JSON is nested thousands of levels deep. "
                                    "Download it again from Jupyter with File → Download as → Notebook (.ipynb)") from None
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        raise SubmissionError(path, "not a Jupyter notebook: the JSON has no cells")
    try:
        notebook = nbformat.reads(text, as_version=4)
        nbformat.validate(notebook)
    except Exception as exc:  # nbformat raises several kinds for broken files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SubmissionError(path, f"not a valid Jupyter notebook ({first})") from None
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return Submission(path=path, sha256=digest, notebook=notebook)
