"""The student's starter notebook, made from one solution notebook with solution markers.

An instructor writes the solution once and marks what students must write, as Otter-Grader and nbgrader do:

    code       a block from `# BEGIN SOLUTION` to `# END SOLUTION` (any number of '#', any case), or lines
               ending in `# SOLUTION`: replaced by one `# YOUR CODE HERE` at the first line's indentation
    markdown   from `<!-- BEGIN SOLUTION -->` to `<!-- END SOLUTION -->`: removed; a cell left empty is dropped

Every code cell of the starter has its outputs cleared. A marker without its partner is a MarkerError that
names the cell as the instructor sees it in Jupyter (counted from 1, every cell), never a starter that quietly
hands out part of the solution.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

from autograder.errors import SetupError

PLACEHOLDER = "# YOUR CODE HERE"  # what nbgrader writes, and what students of Otter's and nbgrader's lessons see

_BEGIN = re.compile(r"^\s*#+\s*BEGIN\s+SOLUTION\s*$", re.IGNORECASE)
_END = re.compile(r"^\s*#+\s*END\s+SOLUTION\s*$", re.IGNORECASE)
# Otter's `x = 2  # SOLUTION`. In capitals only, as Otter reads it: a comment `# Solution` may head given code.
_ONE_LINE = re.compile(r"#\s*SOLUTION\s*$")
_MD_MARKER = re.compile(r"<!--\s*(BEGIN|END)\s+SOLUTION\s*-->", re.IGNORECASE)
_MD_BEGIN, _MD_END = "<!-- BEGIN SOLUTION -->", "<!-- END SOLUTION -->"


class MarkerError(SetupError):
    """A solution marker without its partner: the starter would give away or lose part of the solution."""

    def __init__(self, path: Path | str, cell: int, kind: str, line: int, problem: str):
        self.cell, self.kind, self.line = cell, kind, line
        super().__init__(path, f"cell {cell} ({kind}), line {line}: {problem}")


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _tidy(lines: list[str]) -> str:
    """The cell's lines without the blank lines a removal left at its start or end."""
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines).rstrip()


def _join(before: str, after: str) -> str:
    """The text on both sides of a removed markdown solution. Markers on lines of their own take their lines
    with them, and a blank line on each side becomes one: the paragraphs around stay one blank line apart."""
    head, tail = before.rstrip(" \t"), after.lstrip(" \t")
    if not (head == "" or head.endswith("\n")) or not (tail == "" or tail.startswith("\n")):
        return before + after  # inside a line: only the span goes
    tail = tail[1:]
    if re.search(r"(?:^|\n)[ \t]*\n$", head) or head == "":
        tail = re.sub(r"^(?:[ \t]*\n)+", "", tail)
    return head + tail


def _code(source: str, path: Path | str, cell: int) -> str | None:
    """The starter's code for one cell, or None when the cell has no marker (it is kept as it is)."""
    kept: list[str] = []
    begun: int | None = None  # the line number of the open block's BEGIN
    placed = False  # the last kept line is a placeholder of ours: the next removal adds none
    changed = False
    for number, line in enumerate(source.splitlines(), start=1):
        if _BEGIN.match(line):
            if begun is not None:
                raise MarkerError(path, cell, "code", number, f'"{line.strip()}" is inside the solution block that '
                                  f'line {begun} began: end that one with "# END SOLUTION" first')
            begun, changed = number, True
            if not placed:
                kept.append(_indent(line) + PLACEHOLDER)
                placed = True
        elif _END.match(line):
            if begun is None:
                raise MarkerError(path, cell, "code", number,
                                  f'"{line.strip()}" has no "# BEGIN SOLUTION" before it in the same cell')
            begun = None
        elif begun is not None:
            continue
        elif _ONE_LINE.search(line):
            changed = True
            if not placed:
                kept.append(_indent(line) + PLACEHOLDER)
                placed = True
        else:
            kept.append(line)
            placed = False
    if begun is not None:
        opening = source.splitlines()[begun - 1].strip()
        raise MarkerError(path, cell, "code", begun,
                          f'"{opening}" has no "# END SOLUTION" after it in the same cell')
    return _tidy(kept) if changed else None


def _markdown(source: str, path: Path | str, cell: int) -> str | None:
    """The starter's text for one markdown cell, or None when the cell has no marker."""
    markers = list(_MD_MARKER.finditer(source))
    if not markers:
        return None
    spans: list[tuple[int, int]] = []
    begun: re.Match[str] | None = None
    for marker in markers:
        line = source.count("\n", 0, marker.start()) + 1
        if marker.group(1).upper() == "BEGIN":
            if begun is not None:
                began = source.count("\n", 0, begun.start()) + 1
                raise MarkerError(path, cell, "markdown", line, f'"{marker.group(0)}" is inside the solution that '
                                  f'line {began} began: end that one with "{_MD_END}" first')
            begun = marker
        else:
            if begun is None:
                raise MarkerError(path, cell, "markdown", line,
                                  f'"{marker.group(0)}" has no "{_MD_BEGIN}" before it in the same cell')
            spans.append((begun.start(), marker.end()))
            begun = None
    if begun is not None:
        raise MarkerError(path, cell, "markdown", source.count("\n", 0, begun.start()) + 1,
                          f'"{begun.group(0)}" has no "{_MD_END}" after it in the same cell')
    text = source[: spans[0][0]]
    for (_, end), (begin, _) in zip(spans, spans[1:] + [(len(source), 0)]):
        text = _join(text, source[end:begin])
    return _tidy(text.splitlines())


def make(solution: nbformat.NotebookNode, path: Path | str) -> nbformat.NotebookNode:
    """The student's starter: a new notebook, the solution's markers and what they mark removed.

    `path` is the solution's file, named by a MarkerError. The solution itself is not changed."""
    starter = copy.deepcopy(solution)
    cells = []
    for number, cell in enumerate(starter.cells, start=1):
        if cell.cell_type == "code":
            source = _code(cell.source, path, number)
            cell.outputs, cell.execution_count = [], None  # a starter carries no one's results
        elif cell.cell_type == "markdown":
            source = _markdown(cell.source, path, number)
            if source is not None and not source.strip():
                continue  # a cell that was all solution: nothing for the student to read
        else:
            source = None
        if source is not None:
            cell.source = source
        cells.append(cell)
    starter.cells = cells
    return starter


def has_markers(notebook: nbformat.NotebookNode) -> bool:
    """Whether any solution marker is present: without one, the starter would be the solution itself."""
    for cell in notebook.cells:
        if cell.cell_type == "code" and any(_BEGIN.match(line) or _END.match(line) or _ONE_LINE.search(line)
                                            for line in cell.source.splitlines()):
            return True
        if cell.cell_type == "markdown" and _MD_MARKER.search(cell.source):
            return True
    return False


def cells_needing_work(starter: nbformat.NotebookNode) -> list[int]:
    """The indexes (from 0, in `starter.cells`) of the code cells that hold a `# YOUR CODE HERE`."""
    return [index for index, cell in enumerate(starter.cells)
            if cell.cell_type == "code" and any(line.strip() == PLACEHOLDER for line in cell.source.splitlines())]
