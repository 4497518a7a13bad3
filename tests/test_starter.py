"""The starter made from one marked solution notebook (autograder/starter.py): no kernel, no TensorFlow."""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

from autograder import locations, starter
from autograder.errors import SetupError

MARKED = Path(__file__).resolve().parent.parent / "reference" / "marked" / "CNN.ipynb"


def _make(*cells: nbformat.NotebookNode) -> nbformat.NotebookNode:
    return starter.make(new_notebook(cells=list(cells)), "solution.ipynb")


def _code(nb: nbformat.NotebookNode) -> list[str]:
    return [cell.source for cell in nb.cells if cell.cell_type == "code"]


def test_the_marked_cnn_solution_makes_exactly_the_packaged_starter():
    made = starter.make(nbformat.read(MARKED, as_version=4), MARKED)
    assert made == nbformat.read(locations.STARTER, as_version=4)
    nbformat.validate(made)


def test_the_marked_cnn_solution_runs_the_reference_code_then_the_self_check():
    marked = nbformat.read(MARKED, as_version=4)
    markers = {"# BEGIN SOLUTION", "# END SOLUTION"}
    without_markers = ["\n".join(line for line in source.splitlines() if line.strip() not in markers)
                       for source in _code(marked)]
    self_check = _code(nbformat.read(locations.STARTER, as_version=4))[-1]
    assert "self_check()" in self_check
    assert without_markers == _code(nbformat.read(locations.REFERENCE, as_version=4)) + [self_check]


def test_a_cell_that_is_all_solution_becomes_exactly_the_placeholder():
    made = _make(new_code_cell("\n# BEGIN SOLUTION\nmodel = Sequential()\n\n# END SOLUTION\n\n"))
    assert _code(made) == ["# YOUR CODE HERE"]


def test_a_block_between_given_code_keeps_the_code_around_it():
    made = _make(new_code_cell("x = 1\n\n# BEGIN SOLUTION\ny = 2\n# END SOLUTION\n\nprint(x)"))
    assert _code(made) == ["x = 1\n\n# YOUR CODE HERE\n\nprint(x)"]


def test_nbgraders_markers_in_any_case_and_the_placeholder_at_the_begin_lines_indentation():
    made = _make(new_code_cell("def f(x):\n    ### begin solution\n    return x\n    ### END Solution  \nf(1)"))
    assert _code(made) == ["def f(x):\n    # YOUR CODE HERE\nf(1)"]


def test_one_line_solutions_are_removed_and_consecutive_ones_leave_one_placeholder():
    made = _make(new_code_cell("a = 1  # SOLUTION\nb = 2 #SOLUTION\nc = 3\nif c:\n    d = 4  ## SOLUTION"))
    assert _code(made) == ["# YOUR CODE HERE\nc = 3\nif c:\n    # YOUR CODE HERE"]


def test_a_comment_that_only_mentions_the_solution_is_kept():
    given = "# Solution\nx = 1  # the solution\ny = 2  # compare with the solution below"
    assert _code(_make(new_code_cell(given))) == [given]


def test_markdown_solutions_are_removed_and_a_cell_left_empty_is_dropped():
    made = _make(new_markdown_cell("Why?\n\n<!-- BEGIN SOLUTION -->\nBecause.\n<!-- END SOLUTION -->\n\nNext."),
                 new_markdown_cell("<!-- BEGIN SOLUTION -->\n## Creating the network\n<!-- END SOLUTION -->\n"),
                 new_markdown_cell("Answer: <!--begin solution-->42<!-- END SOLUTION -->."),
                 new_code_cell("x = 1"))
    assert [(cell.cell_type, cell.source) for cell in made.cells] == [
        ("markdown", "Why?\n\nNext."), ("markdown", "Answer: ."), ("code", "x = 1")]


def test_outputs_are_cleared_and_everything_else_is_kept():
    ran = new_code_cell("print(1)", id="ran", execution_count=3,
                        outputs=[new_output("stream", name="stdout", text="1\n")])
    made = _make(new_markdown_cell("# Title", id="title"), ran, new_raw_cell("raw", id="raw"))
    assert made.cells[1].outputs == [] and made.cells[1].execution_count is None
    assert [(c.cell_type, c.source, c.id) for c in made.cells] == [
        ("markdown", "# Title", "title"), ("code", "print(1)", "ran"), ("raw", "raw", "raw")]


def test_the_solution_notebook_is_not_changed():
    solution = new_notebook(cells=[
        new_markdown_cell("<!-- BEGIN SOLUTION -->\nsecret\n<!-- END SOLUTION -->"),
        new_code_cell("# BEGIN SOLUTION\nx = 1\n# END SOLUTION", execution_count=1,
                      outputs=[new_output("stream", name="stdout", text="1\n")])])
    solution.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    before = copy.deepcopy(solution)
    made = starter.make(solution, "solution.ipynb")
    assert solution == before
    assert made is not solution and made.metadata == solution.metadata
    nbformat.validate(made)


@pytest.mark.parametrize("cells, where, says", [
    ([new_code_cell("x = 1\n# BEGIN SOLUTION\ny = 2")],
     "cell 1 (code), line 2", 'has no "# END SOLUTION" after it in the same cell'),
    ([new_markdown_cell("Intro"), new_code_cell("x = 1\n  # END SOLUTION")],
     "cell 2 (code), line 2", 'has no "# BEGIN SOLUTION" before it in the same cell'),
    ([new_code_cell("# BEGIN SOLUTION\nx\n### BEGIN SOLUTION\ny\n# END SOLUTION")],
     "cell 1 (code), line 3", "is inside the solution block that line 1 began"),
    ([new_code_cell("x"), new_code_cell("y"), new_markdown_cell("Why?\n\n<!-- BEGIN SOLUTION -->\nBecause.")],
     "cell 3 (markdown), line 3", 'has no "<!-- END SOLUTION -->" after it in the same cell'),
    ([new_markdown_cell("Because.\n<!-- END SOLUTION -->")],
     "cell 1 (markdown), line 2", 'has no "<!-- BEGIN SOLUTION -->" before it in the same cell'),
    ([new_markdown_cell("<!-- BEGIN SOLUTION -->\na\n<!-- BEGIN SOLUTION -->b<!-- END SOLUTION -->")],
     "cell 1 (markdown), line 3", "is inside the solution that line 1 began"),
], ids=["code-begin-alone", "code-end-alone", "code-begin-in-begin",
        "markdown-begin-alone", "markdown-end-alone", "markdown-begin-in-begin"])
def test_an_unpaired_marker_names_the_cell_its_kind_and_line(cells, where, says):
    with pytest.raises(starter.MarkerError) as raised:
        _make(*cells)
    assert isinstance(raised.value, SetupError) and raised.value.path == "solution.ipynb"
    assert raised.value.reason.startswith(where + ": ") and says in raised.value.reason


def test_has_markers_finds_any_marker_and_none_in_a_starter():
    assert starter.has_markers(new_notebook(cells=[new_code_cell("x = 1  # SOLUTION")]))
    assert starter.has_markers(new_notebook(cells=[new_markdown_cell("<!-- BEGIN SOLUTION -->a<!-- END SOLUTION -->")]))
    assert starter.has_markers(nbformat.read(MARKED, as_version=4))
    assert not starter.has_markers(nbformat.read(locations.REFERENCE, as_version=4))
    assert not starter.has_markers(nbformat.read(locations.STARTER, as_version=4))


def test_cells_needing_work_are_the_starters_placeholder_cells():
    made = _make(new_markdown_cell("# Title"), new_code_cell("import numpy"),
                 new_code_cell("# BEGIN SOLUTION\nx = 1\n# END SOLUTION"), new_code_cell("y = 2  # SOLUTION"))
    assert starter.cells_needing_work(made) == [2, 3]
    assert starter.cells_needing_work(nbformat.read(locations.STARTER, as_version=4)) == [11, 13, 15, 17, 19]


def test_new_refuses_unbalanced_markers_before_running_anything_and_writes_nothing(tmp_path):
    from autograder import authoring

    solution = tmp_path / "Dense.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell("# Dense"),
                                       new_code_cell("from tensorflow.keras.datasets import mnist"),
                                       new_code_cell("# BEGIN SOLUTION\nmodel = None")]), solution)
    with pytest.raises(starter.MarkerError) as raised:
        authoring.new(solution, tmp_path / "out")
    assert "cell 3 (code), line 1" in str(raised.value) and "# END SOLUTION" in str(raised.value)
    assert not (tmp_path / "out").exists()


def test_new_refuses_a_solution_that_loads_no_dataset_the_grader_serves(tmp_path):
    from autograder import authoring

    solution = tmp_path / "Iris.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("from sklearn.datasets import load_iris  # SOLUTION")]), solution)
    with pytest.raises(SetupError) as raised:
        authoring.new(solution, tmp_path / "out")
    assert "MNIST, Fashion-MNIST, CIFAR-10" in raised.value.reason and not (tmp_path / "out").exists()
