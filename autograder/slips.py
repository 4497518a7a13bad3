"""The lesson's own slips, repaired before the notebook runs when the rubric forgives them.

The lesson prints `model.add(MaxPooling2D()))`, one ')' too many: typed as shown it is a
SyntaxError, the whole cell does not run, and every layer in it is lost. The grader runs a
copy of the notebook in which that line has its extra ')' removed (the submission itself is
never changed), and says so in the report. The other slips (test_acc, where the pooling
layer goes) are forgiven by the checks themselves.
"""

from __future__ import annotations

import ast

import nbformat

LESSON_LINE = "MaxPooling2D()))"


def _parses(source: str) -> bool:
    try:
        ast.parse("\n".join("" if l.lstrip().startswith(("%", "!")) else l for l in source.splitlines()))
        return True
    except SyntaxError:
        return False


def repair(notebook: nbformat.NotebookNode, forgive: tuple[str, ...]) -> list[str]:
    """Remove the lesson's extra ')' where it breaks a cell; return one sentence per repair."""
    if "extra_parenthesis" not in forgive:
        return []
    notes, number = [], 0
    for cell in notebook.cells:
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        number += 1
        if LESSON_LINE not in cell.source or _parses(cell.source):
            continue
        lines = cell.source.splitlines()
        fixed = [l.replace(LESSON_LINE, "MaxPooling2D())") if l.rstrip().endswith(LESSON_LINE) else l for l in lines]
        if _parses("\n".join(fixed)):
            cell.source = "\n".join(fixed)
            line = next(i for i, l in enumerate(lines, 1) if l.rstrip().endswith(LESSON_LINE))
            notes.append(f"In [{number}], line {line}: the lesson's model.add(MaxPooling2D())) has one ')' too "
                         "many. The grader ran your line without it, so no points are lost; remove it in your "
                         "notebook too.")
    return notes
