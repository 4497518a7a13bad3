"""`autograder new SOLUTION.ipynb -o DIR`: a gradable assignment from one solution notebook.

The solution is run once in the sandbox, through the same fact collection as every grade; from its facts
come the expected values ([expected], expectations.py), the dataset, and which checks apply (no evaluate in
the solution, no evaluate check). The folder holds

    DIR/assignment.toml          what the lesson is, points, limits, [expected]; edit it freely
    DIR/reference/NAME.ipynb     the solution as given
    DIR/starter/NAME.ipynb       the student version (starter.py: the solution markers removed)

Nothing is written until the solution has run and everything checks out; a file an instructor changed by
hand is never overwritten without --force.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import nbformat
import tomlkit
from tomlkit.items import Table

from . import datasets, expectations, locations, pipeline, reference_cache, rubric, starter, submission
from .errors import SetupError, SubmissionError
from .facts import Facts, Where
from .settings import Assignment, GradingContext, resolve

FILE = "assignment.toml"
STAMP = "# Written by `autograder new` from "  # the first line; it ends with the digest of the rest

GENERIC_HEADER = """\
# How this assignment is graded: what the lesson is, points per check, limits, the brief-training budget, and
# the values the solution's network and settings have ([expected]). Written by `autograder new`; edit freely:
# the grader reads this file on every run, and a change here invalidates the cached reference results.
# docs/AUTHORING.md says what each table does.
#
# Each check's `lesson` names the part of the lesson that covers it; the report shows it as a hint. A check
# worth 0 points is shown for information, never as a failure. `short` is its column heading on the class page.
# Leave a check out (delete its table) and it is not graded.

"""

# Points, titles and headings of the checks a solution does not bring from --points-from: the CNN lesson's
# points, in words any lesson can use ({data}: the dataset's title).
DEFAULT_CHECKS: dict[str, dict[str, Any]] = {
    "notebook.runs": {"points": 5, "partial": 0.5, "title": "The notebook runs from top to bottom", "short": "Runs"},
    "data.prepared": {"points": 5, "title": "The {data} data is prepared", "short": "Data"},
    "model.found": {"points": 5, "title": "A Keras model was built", "short": "Model"},
    "model.sequential": {"points": 5, "title": "The model is {kind_words}", "short": "{kind}"},
    "layers.order": {"points": 15, "title": "The layers are in the right order", "short": "Layer order"},
    "layers.config": {"points": 10, "title": "Each layer has the right settings", "short": "Layer settings"},
    "layers.shapes": {"points": 10, "title": "Each layer has the right output shape and number of weights",
                      "short": "Shapes"},
    "compile.loss": {"points": 5, "title": "Loss function", "short": "Loss"},
    "compile.optimizer": {"points": 5, "title": "Optimizer", "short": "Optimizer"},
    "compile.metrics": {"points": 5, "title": "Metrics", "short": "Metrics"},
    "fit.batch_size": {"points": 5, "title": "Batch size", "short": "Batch size"},
    "fit.epochs": {"points": 5, "title": "Epochs", "short": "Epochs"},
    "fit.validation_data": {"points": 5, "title": "{validation}", "short": "Validation"},
    "fit.shuffle": {"points": 2, "title": "Shuffling", "short": "Shuffle"},
    "evaluate.test_data": {"points": 3, "title": "Evaluation on the test set", "short": "Evaluate"},
    "train.learns": {"points": 10, "title": "The network learns", "short": "Learns"},
    "predict.digit3": {"points": 0, "title": "What the network thinks of a handwritten 3", "short": "Digit 3"},
}


@dataclass(frozen=True)
class Written:
    """What `new` made, for the command to say."""

    folder: Path
    title: str
    dataset: str
    checks: tuple[str, ...]
    max_points: float
    placeholders: int  # starter cells waiting for the student's code
    markers: bool  # whether the solution had solution markers at all


def new(solution: Path, out: Path, *, title: str | None = None, points_from: Path | None = None,
        force: bool = False, context: GradingContext | None = None, data_file: Path | None = None,
        on_step: Callable[[str], None] = lambda step: None) -> Written:
    """Make the assignment folder `out` from `solution`. SetupError (naming the file, and the cell where it is
    one) when the solution cannot be an assignment; then nothing is written."""
    solution, out = Path(solution).resolve(), Path(out)
    context = context or GradingContext()
    try:
        notebook = submission.read(solution).notebook
    except SubmissionError as exc:
        raise SetupError(solution, exc.reason) from None
    student = starter.make(notebook, solution)  # unbalanced markers stop here, before anything runs
    _refuse_changed(out / FILE, force)
    name = solution.name
    base = _base_rules(points_from)
    lesson = {"title": title or _heading(notebook) or solution.stem, "notebook": name,
              "dataset": _dataset(notebook, solution), "reference": f"reference/{name}",
              "starter": f"starter/{name}"}
    with tempfile.TemporaryDirectory(prefix="autograder-new-") as scratch:
        draft = Path(scratch)
        _write_notebooks(draft, solution, student, name)
        # A draft to run the solution under: the checks' rules do not change what a run establishes.
        draft_checks = None if "checks" in base else {c: {"points": 1, "title": c} for c in rubric.CHECK_IDS}
        _write_rules(draft / FILE, base, lesson, checks=draft_checks, facts=None, source=solution)
        assignment = Assignment.load(draft, data_file=data_file)
        on_step(f"running {name} in the sandbox (as the grader runs every notebook)")
        facts = pipeline.run_and_capture(notebook, assignment, resolve(assignment, context))
        pipeline.refuse_unusable_solution(facts, solution)
        checks = _checks(facts, base, lesson["dataset"], notebook)
        _write_rules(draft / FILE, base, lesson, checks=checks, facts=facts, source=solution)
        final = Assignment.load(draft, data_file=data_file)  # the file as written must load
        # The solution's facts depend on its notebook, the rules' digest and the data: the same bytes in the
        # folder as here, so the same key. Stored under it, the first grade does not run the solution again.
        key = final.cache_key
        out.mkdir(parents=True, exist_ok=True)
        for part in (FILE, "reference", "starter"):
            target = out / part
            if target.is_dir():
                shutil.rmtree(target)
            shutil.move(str(draft / part), target)
    reference_cache.store(context.cache, key, facts)
    return Written(folder=out, title=lesson["title"], dataset=lesson["dataset"], checks=final.rubric.check_ids,
                   max_points=final.rubric.max_points, placeholders=len(starter.cells_needing_work(student)),
                   markers=starter.has_markers(notebook))


# ---------------------------------------------------------------- what the solution is


def _heading(notebook: nbformat.NotebookNode) -> str:
    """The notebook's first top-level markdown heading: the lesson's title."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            found = re.search(r"^#\s+(.+?)\s*#*\s*$", cell.source, re.MULTILINE)
            if found:
                return found.group(1)
    return ""


def _dataset(notebook: nbformat.NotebookNode, path: Path) -> str:
    """The Keras dataset the solution loads (the first one named in its code)."""
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    found = sorted((m.start(), name) for name in datasets.DATASETS
                   for m in re.finditer(rf"\b{name}\b", code))
    if not found:
        raise SetupError(path, "the solution loads none of the datasets the grader can serve ("
                               + ", ".join(d.title for d in datasets.DATASETS.values())
                               + "); load one with keras.datasets, e.g. `from tensorflow.keras.datasets import "
                                 "fashion_mnist` and `fashion_mnist.load_data()`")
    return found[0][1]


def _checks(facts: Facts, base: tomlkit.TOMLDocument, dataset: str,
            notebook: nbformat.NotebookNode) -> dict[str, dict[str, Any]]:
    """The checks that apply to this solution, each with its rule: from --points-from where it has one, else
    DEFAULT_CHECKS with a lesson line pointing at the part of the solution it is about."""
    fit, model = facts["fit"], facts["model"]
    assert model is not None and fit  # _refuse_broken
    split = fit.get("validation_split") or 0.0
    skip = set()
    if not facts.get("evaluate"):
        skip.add("evaluate.test_data")
    if dataset != "mnist" or not facts.get("digit3"):
        skip.add("predict.digit3")  # the lesson's own handwritten 3 is an MNIST digit
    if not fit.get("validation_data") and not split:
        skip.add("fit.validation_data")
    given = base.get("checks", {})
    words = {"data": datasets.named(dataset).title,
             "kind": "Sequential" if model["class"] == "Sequential" else "Functional",
             "kind_words": "Sequential" if model["class"] == "Sequential" else "built with the functional API",
             "validation": (f"Validation on {round(100 * split)}% of the training data" if split
                            else "Validation on the test set")}
    places = _places(facts, notebook)
    checks: dict[str, dict[str, Any]] = {}
    for check_id in rubric.CHECK_IDS:
        if check_id in skip:
            continue
        if check_id in given:
            checks[check_id] = given[check_id]
            continue
        rule = {k: v.format(**words) if isinstance(v, str) else v for k, v in DEFAULT_CHECKS[check_id].items()}
        rule["lesson"] = places.get(check_id.split(".")[0], places["notebook"])
        checks[check_id] = rule
    return checks


def _places(facts: Facts, notebook: nbformat.NotebookNode) -> dict[str, str]:
    """Where in the solution each part of the lesson is, as a lesson line: 'Compiling: model.compile(...)'."""
    code_cells = [i for i, c in enumerate(notebook.cells) if c.cell_type == "code"]

    def place(where: Where | None) -> str:
        if not where or not where.get("cell"):
            return ""
        number = int(where["cell"] or 0)  # In [n]: the n-th code cell, as the solution ran top to bottom
        index = code_cells[number - 1] if 0 < number <= len(code_cells) else -1
        heading = next((_section(notebook.cells[i].source) for i in range(index, -1, -1)
                        if notebook.cells[i].cell_type == "markdown" and _section(notebook.cells[i].source)), "")
        code = where.get("code", "").strip()
        return ": ".join(part for part in (heading, code[:90]) if part)

    found, compiled, fit, evaluate = facts["model_found"], facts["compile"], facts["fit"], facts.get("evaluate")
    layers = place(found.get("layers_where")) if found else ""
    places = {"notebook": "the solution, from top to bottom (Kernel → Restart & Run All)",
              "model": layers, "layers": layers, "train": layers, "predict": layers,
              "compile": place(compiled["where"] if compiled else None),
              "fit": place(fit.get("where") if fit else None), "data": place(fit.get("where") if fit else None),
              "evaluate": place(evaluate["where"] if evaluate else None)}
    return {k: v or places["notebook"] for k, v in places.items()}


def _section(markdown: str) -> str:
    """A markdown cell's heading (its first line starting with #), without the #s; else its first bold words."""
    found = re.search(r"^#+\s+(.+?)\s*$", markdown, re.MULTILINE) or re.search(r"\*\*(.+?)\*\*", markdown)
    return found.group(1).rstrip(".") if found else ""


# ---------------------------------------------------------------- the folder


def _base_rules(points_from: Path | None) -> tomlkit.TOMLDocument:
    """The rules the new file starts from: --points-from's whole file (its points, titles, limits, comments),
    else the packaged lesson's limits and budgets with a header for any lesson and no checks of its own."""
    if points_from is not None:
        rubric.load(points_from)  # its mistakes are named here, by their file
        text = _unstamped(Path(points_from).read_text(encoding="utf-8"))
        return tomlkit.parse(text)
    text = _unstamped(locations.RUBRIC.read_text(encoding="utf-8"))
    doc = tomlkit.parse(GENERIC_HEADER + text[text.index("\n[assignment]") + 1:])
    for table in ("slips", "checks", "expected", "release"):
        doc.pop(table, None)
    return doc


def _unstamped(text: str) -> str:
    return text.split("\n", 1)[1] if text.startswith(STAMP) else text


def _write_rules(path: Path, base: tomlkit.TOMLDocument, lesson: dict[str, str],
                 checks: dict[str, dict[str, Any]] | None, facts: Facts | None, source: Path) -> None:
    doc = tomlkit.parse(tomlkit.dumps(base))  # a copy: the draft is written twice
    about = doc.get("assignment")
    if not isinstance(about, Table):
        about = tomlkit.table()
        doc["assignment"] = about
    for key, value in lesson.items():
        if about.get(key) != value:
            item = tomlkit.item(value)
            old = about.item(key) if key in about else None
            comment = old.trivia.comment if isinstance(old, tomlkit.items.Item) else ""
            if comment:
                item.comment(comment.lstrip("# "))  # kept, with its alignment redone for the new value
            about[key] = item
    if checks is not None:
        table = tomlkit.table(is_super_table=True)
        for check_id, rule in checks.items():
            table[check_id] = rule
        doc["checks"] = table
    if facts is not None:
        if "expected" not in doc:
            doc.add(tomlkit.nl())
            for line in EXPECTED_COMMENT:
                doc.add(tomlkit.comment(line))
        doc["expected"] = expectations.derive(facts)
    text = tomlkit.dumps(doc)
    path.write_text(f"{STAMP}{source.name}; sha256 of the rest: {_digest(text)}\n{text}", encoding="utf-8")


EXPECTED_COMMENT = (
    "What the solution built and how it trained, as the checks expect it. Change a value here and the checks",
    "expect the new one (the solution is not run again for that); the brief training's pass line still comes",
    "from training the solution's own network. Shapes leave out the batch; `params` counts a layer's weights.",
)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _refuse_changed(path: Path, force: bool) -> None:
    """An assignment.toml `new` wrote and nobody changed may be replaced; one changed by hand, only with --force."""
    if force or not path.exists():
        return
    text = path.read_text(encoding="utf-8")
    first, _, rest = text.partition("\n")
    if not (first.startswith(STAMP) and first.endswith(_digest(rest))):
        raise SetupError(path, "this assignment file was changed since `autograder new` wrote it; pass --force "
                               "to replace it (the changes are lost), or give another -o folder")


def _write_notebooks(folder: Path, solution: Path, student: nbformat.NotebookNode, name: str) -> None:
    (folder / "reference").mkdir()
    (folder / "starter").mkdir()
    shutil.copyfile(solution, folder / "reference" / name)  # the solution as given, byte for byte
    nbformat.write(student, folder / "starter" / name)
