"""self_check(): a student grades their own saved notebook from its last cell, no terminal needed.

    from autograder import self_check
    self_check()

It grades the file on disk (what the teacher will get), so it first compares
the cells this kernel has run with the cells in the saved file and warns when
they differ: "save first". The report is shown inline and written beside the
notebook. Inside a notebook being graded it does nothing.
"""

from __future__ import annotations

import html
import os
import time
from datetime import datetime
from pathlib import Path

from . import report
from .pipeline import grade
from .results import GradeResult
from .settings import Assignment, GradingContext

MAGIC_LINE = "self_check"


def notebook_path(explicit: str | os.PathLike[str] | None = None, name: str = "CNN.ipynb") -> Path:
    """The notebook this kernel belongs to: an explicit path; else what Jupyter or VS Code tell the
    kernel; else the assignment's notebook (`name`) in the working folder."""
    if explicit:
        return Path(explicit)
    try:
        from IPython import get_ipython

        vscode = (get_ipython().user_ns or {}).get("__vsc_ipynb_file__")
        if vscode:
            return Path(vscode)
    except Exception:
        pass
    session = os.environ.get("JPY_SESSION_NAME")  # set by Jupyter Server for notebook kernels
    if session and session.endswith(".ipynb") and Path(session).exists():
        return Path(session)
    return Path(name)


def unsaved_cells(path: Path) -> list[str]:
    """First lines of cells this kernel ran that are not in the saved file (the self-check cell aside)."""
    try:
        import nbformat
        from IPython import get_ipython

        ran = get_ipython().user_ns.get("In", [])
        saved = {c.source.strip() for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"}
    except Exception:
        return []
    missing = []
    for source in ran[1:]:
        code = source.strip()
        if not code or MAGIC_LINE in code or code.startswith(("get_ipython()", "%")):
            continue
        if code not in saved:
            missing.append(code.splitlines()[0][:70])
    return missing


def _ago(mtime: float) -> str:
    minutes = int((time.time() - mtime) // 60)
    when = datetime.fromtimestamp(mtime).strftime("%H:%M")
    return f"{when}, {'just now' if minutes < 1 else f'{minutes} minute' + ('s' if minutes != 1 else '') + ' ago'}"


def self_check(path: str | os.PathLike[str] | None = None, *,
               assignment: Assignment | str | os.PathLike[str] | None = None,
               context: GradingContext | None = None, show: bool = True) -> GradeResult | None:
    """Grade the saved notebook and show the feedback here. Returns the GradeResult (None when skipped).
    assignment: an Assignment, or the folder `autograder new` wrote (default: the CNN lesson)."""
    if os.environ.get("AUTOGRADER_GRADING"):
        print("(self_check is skipped while the notebook is being graded)")
        return None
    if isinstance(assignment, (str, os.PathLike)):
        assignment = Assignment.load(Path(assignment))
    name = assignment.rubric.notebook if assignment else "CNN.ipynb"
    path = notebook_path(path, name)
    if not path.exists():
        print(f"Could not find {path}. Save your notebook as {name} in this folder, or call "
              f"self_check('path/to/your notebook.ipynb').")
        return None
    notes = [f"Grading {path.name} as saved at {_ago(path.stat().st_mtime)}."]
    changed = unsaved_cells(path)
    if changed:
        notes.append(f"⚠ {len(changed)} cell(s) you ran are not in the saved file (for example: "
                     f"{changed[0]!r}). Save the notebook (Ctrl-S or File → Save) and run this cell again "
                     "to check your latest work.")
    print(" ".join(notes) + " This takes about half a minute…", flush=True)
    result = grade(path, assignment, context)
    html_path, _ = report.write(result, path.parent, path.stem)
    if show:
        _display(result, html_path, notes)
    return result


def _display(result: GradeResult, html_path: Path, notes: list[str]) -> None:
    from IPython.display import HTML, display

    if result.status == "graded":
        seen = report.view(report.to_dict(result))  # the rubric's visibility: a hidden check's points are not shown
        headline = f"<b>{seen['score']:g} / {seen['max_score']:g} points</b>"
    else:
        headline = f"<b>Not graded:</b> {html.escape(result.reason or '')}"
    page = report.render_html(result)
    display(HTML(
        f"<p>{headline}. {' '.join(html.escape(n) for n in notes)} "
        f"The full report is <a href='{html.escape(html_path.name)}' target='_blank'>{html.escape(html_path.name)}</a>.</p>"
        f"<iframe srcdoc=\"{html.escape(page, quote=True)}\" style='width:100%;height:640px;border:1px solid #ccc'"
        f" title='Feedback report'></iframe>"))
