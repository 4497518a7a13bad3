"""`autograder new`: any Keras lesson from its solution notebook, graded as well as the CNN lesson.

The second lesson (tests/lessons/make_lessons.py) differs from the CNN in everything issue #22 names: a
Dense-only network, Fashion-MNIST, validation_split, no evaluate, adam and a sparse loss. Its folder is made
once per session by the real command (one run of the solution in the sandbox), and its students' notebooks
are graded once each."""

from __future__ import annotations

import json
import shutil

import nbformat
import pytest
from click.testing import CliRunner

from autograder import Assignment, GradingContext, authoring, checks, cli, grade, locations, report, rubric
from autograder.errors import SetupError
from autograder.pipeline import reference_facts
from conftest import ROOT, by_id

pytestmark = pytest.mark.slow

LESSON = ROOT / "tests" / "lessons" / "fashion_dense"
NO_CNN_WORDS = ("MNIST digit", "CNN", "digit", "handwritten", "convolution")


@pytest.fixture(scope="session")
def fashion(tmp_path_factory):
    """The lesson's folder as `autograder new` writes it, and its students graded with it."""
    out = tmp_path_factory.mktemp("lessons") / "fashion"
    made = authoring.new(LESSON / "solution.ipynb", out)
    assignment = Assignment.load(out)
    context = GradingContext()
    students = {"reference": out / "reference" / "solution.ipynb", "starter": out / "starter" / "solution.ipynb",
                "wrong_units": LESSON / "wrong_units.ipynb", "own_names": LESSON / "own_names.ipynb"}
    # In this process, one after another: its fork server and models' process are warm already, and four
    # notebooks do not repay two new workers' TensorFlow imports on two cores.
    return {"out": out, "made": made, "assignment": assignment,
            "graded": {name: grade(path, assignment, context) for name, path in students.items()}}


def statuses(result) -> dict[str, str]:
    return {c.id: c.status for c in result.checks}


def test_new_writes_the_lessons_expectations_from_its_solution(fashion):
    out, made = fashion["out"], fashion["made"]
    rules = rubric.load(out / "assignment.toml")
    assert (made.title, made.dataset) == ("Dense network on Fashion-MNIST", "fashion_mnist")
    assert (rules.title, rules.dataset, rules.notebook) == ("Dense network on Fashion-MNIST", "fashion_mnist",
                                                            "solution.ipynb")
    # what the lesson has not: no evaluate, no handwritten digit; and the validation it has, in its own words
    assert "evaluate.test_data" not in rules.checks and "predict.digit3" not in rules.checks
    assert rules.checks["fit.validation_data"].title == "Validation on 20% of the training data"
    assert rules.checks["data.prepared"].title == "The Fashion-MNIST data is prepared"
    assert rules.checks["compile.loss"].lesson.startswith("Compiling: model.compile(")
    expected = rules.expected or {}
    assert [layer["class"] for layer in expected["layers"]] == ["Flatten", "Dense", "Dense"]
    assert [layer.get("units") for layer in expected["layers"]] == [None, 128, 10]
    assert expected["compile"] == {"loss": "sparse_categorical_crossentropy", "optimizer": "adam",
                                   "metrics": ["accuracy"]}
    assert expected["fit"] == {"batch_size": 32, "epochs": 5, "shuffle": True, "validation_split": 0.2}
    assert (out / "reference" / "solution.ipynb").read_bytes() == (LESSON / "solution.ipynb").read_bytes()


def test_the_starter_keeps_the_data_cell_and_leaves_the_rest_to_the_student(fashion):
    out = fashion["out"]
    student = nbformat.read(out / "starter" / "solution.ipynb", as_version=4)
    code = [c.source for c in student.cells if c.cell_type == "code"]
    assert code[0].startswith("from tensorflow import keras") and code[1:] == ["# YOUR CODE HERE"] * 3
    assert fashion["made"].placeholders == 3 and fashion["made"].markers
    assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")


def test_the_lessons_solution_earns_full_marks(fashion):
    result = fashion["graded"]["reference"]
    assert result.status == "graded" and result.score == result.max_score, statuses(result)
    assert result.assignment == {"title": "Dense network on Fashion-MNIST", "notebook": "solution.ipynb",
                                 "dataset": "fashion_mnist"}
    assert "fashion-mnist" in result.data_source["description"].lower()


def test_the_starter_earns_only_the_points_of_the_cells_that_need_no_work(fashion):
    result = fashion["graded"]["starter"]
    free = {"notebook.runs", "data.prepared"}  # the starter's data cell runs as given
    assert result.status == "graded" and result.score < result.max_score
    assert result.score <= sum(c.max_points for c in result.checks if c.id in free)
    assert by_id(result)["model.found"].status == "fail"


def test_wrong_units_lose_only_layer_checks(fashion):
    result = fashion["graded"]["wrong_units"]
    lost = {c.id for c in result.checks if c.points < c.max_points}
    assert lost and lost <= {"layers.config", "layers.shapes"}, statuses(result)
    config = by_id(result)["layers.config"]
    said = " ".join([config.message, *config.details])
    assert "128" in said and "64" in said, said


def test_the_lessons_network_under_a_students_own_names_earns_full_marks(fashion):
    result = fashion["graded"]["own_names"]
    assert result.score == result.max_score, {c.id: c.message for c in result.checks if c.status != "pass"}


def test_reports_of_another_lesson_speak_of_it_not_of_the_cnn(fashion):
    for name in ("reference", "wrong_units", "starter"):
        result = fashion["graded"][name]
        page = report.render_html(result)
        assert "Dense network on Fashion-MNIST" in page or "Fashion-MNIST" in page
        words = [c.message + " " + (c.hint or "") + " " + c.title for c in result.checks]
        for word in NO_CNN_WORDS:
            assert all(word not in text for text in words), (name, word)
        assert "handwritten 3" not in page and "MNIST’s 60,000" not in page


def test_an_edited_expectation_changes_what_the_checks_expect(fashion, tmp_path):
    folder = tmp_path / "edited"
    shutil.copytree(fashion["out"], folder)
    path = folder / "assignment.toml"
    path.write_text(path.read_text().replace("batch_size = 32", "batch_size = 64"))
    edited = Assignment.load(folder)
    ref, _ = reference_facts(edited, GradingContext())  # the solution's cached facts, the file's values on top
    assert ref["fit"]["batch_size"] == 64
    solution = fashion["graded"]["reference"]
    found = by_id_list(checks.run_checks(json.loads(json.dumps(solution.facts)), ref, edited.rubric))
    assert found["fit.batch_size"].status == "fail" and "64" in found["fit.batch_size"].expected
    assert found["compile.loss"].status == "pass"


def by_id_list(results):
    return {c.id: c for c in results}


def test_new_refuses_to_overwrite_a_changed_assignment_file(fashion, tmp_path):
    folder = tmp_path / "mine"
    shutil.copytree(fashion["out"], folder)
    path = folder / "assignment.toml"
    path.write_text(path.read_text().replace("points = 15", "points = 20"))
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    ran = CliRunner().invoke(cli.main, ["new", str(LESSON / "solution.ipynb"), "-o", str(folder)])
    assert ran.exit_code == 3, ran.output
    assert "changed since `autograder new` wrote it" in ran.output and "--force" in ran.output
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before  # nothing written


def test_grading_commands_take_the_assignment_folder(fashion, tmp_path):
    ran = CliRunner().invoke(cli.main, ["grade", str(LESSON / "own_names.ipynb"), "--assignment",
                                        str(fashion["out"]), "-o", str(tmp_path)])
    assert ran.exit_code == 0, ran.output
    data = json.loads((tmp_path / "own_names.result.json").read_text())
    assert data["assignment"]["dataset"] == "fashion_mnist" and data["score"] == data["max_score"]


def test_a_solution_that_fails_names_its_cell_and_writes_nothing(tmp_path):
    nb = nbformat.read(LESSON / "solution.ipynb", as_version=4)
    nb.cells[4].source = nb.cells[4].source.replace("Dense(10,", "Dense(10, activation_typo='x',")
    solution = tmp_path / "broken.ipynb"
    nbformat.write(nb, solution)
    with pytest.raises(SetupError) as raised:
        authoring.new(solution, tmp_path / "out")
    assert "In [2]" in raised.value.reason and "without an error" in raised.value.reason
    assert not (tmp_path / "out").exists()


def test_a_solution_that_builds_no_model_is_refused(tmp_path):
    nb = nbformat.read(LESSON / "solution.ipynb", as_version=4)
    nb.cells = nb.cells[:3]  # the data alone
    solution = tmp_path / "data_only.ipynb"
    nbformat.write(nb, solution)
    with pytest.raises(SetupError) as raised:
        authoring.new(solution, tmp_path / "out")
    assert "builds no Keras model" in raised.value.reason and not (tmp_path / "out").exists()


def test_the_packaged_cnn_lesson_is_what_new_makes_of_its_marked_solution(tmp_path):
    out = tmp_path / "cnn"
    authoring.new(ROOT / "reference" / "marked" / "CNN.ipynb", out, points_from=locations.RUBRIC)
    starter = nbformat.read(out / "starter" / "CNN.ipynb", as_version=4)
    given = nbformat.read(locations.STARTER, as_version=4)
    assert [(c.cell_type, c.source) for c in starter.cells] == [(c.cell_type, c.source) for c in given.cells]
    made, packaged = rubric.load(out / "assignment.toml"), rubric.load(locations.RUBRIC)
    assert made.expected == packaged.expected
    assert made.checks == packaged.checks and made.training == packaged.training
    assert (made.title, made.dataset, made.column) == (packaged.title, packaged.dataset, packaged.column)


def test_a_functional_lesson_expects_a_functional_model(tmp_path):
    out = tmp_path / "functional"
    authoring.new(ROOT / "tests" / "lessons" / "fashion_functional" / "solution.ipynb", out)
    assignment = Assignment.load(out)
    assert assignment.rubric.expected["model"] == "Functional"
    assert assignment.rubric.checks["model.sequential"].title == "The model is built with the functional API"
    reference = grade(out / "reference" / "solution.ipynb", assignment)
    assert reference.score == reference.max_score, statuses(reference)
    sequential = grade(LESSON / "solution.ipynb", assignment)  # the same layers in a Sequential
    lost = {c.id: c for c in sequential.checks if c.points < c.max_points}
    assert list(lost) == ["model.sequential"], statuses(sequential)
    assert "keras.Model(inputs, outputs)" in lost["model.sequential"].message


def test_a_gradescope_bundle_of_a_lesson_grades_with_its_folder(fashion, tmp_path):
    import os
    import subprocess
    import sys
    import zipfile

    from autograder import gradescope

    bundle = gradescope.build_bundle(tmp_path / "dense.zip", fashion["out"])
    root = tmp_path / "autograder"  # as Gradescope unpacks it: run_autograder, and source/lesson
    with zipfile.ZipFile(bundle) as zf:
        names = set(zf.namelist())
        zf.extractall(root, ["run_autograder", *(n for n in names if n.startswith("source/lesson/"))])
    assert {"source/lesson/assignment.toml", "source/lesson/reference/solution.ipynb",
            "source/lesson/starter/solution.ipynb"} <= names
    (root / "submission").mkdir()
    shutil.copy(LESSON / "wrong_units.ipynb", root / "submission" / "solution.ipynb")
    (root / "run_autograder").chmod(0o755)
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), AUTOGRADER_PYTHON=sys.executable)
    proc = subprocess.run([str(root / "run_autograder")], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((root / "results" / "results.json").read_text())
    tests = {t["tags"][0]: t for t in data["tests"]}
    assert "evaluate.test_data" not in tests and tests["fit.validation_data"]["status"] == "passed"
    assert tests["layers.config"]["status"] == "failed"
    assert 0 < data["score"] < sum(t["max_score"] for t in tests.values())
