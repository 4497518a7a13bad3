"""The student's code observes a real run: MNIST's sizes, every epoch, files that save, a model
kept when a later cell crashes. Fixtures are written the way students write (tests/fixtures/
make_fixtures.py, STUDENTS); each is graded once per session and must earn what a real run earns."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import by_id

pytestmark = pytest.mark.slow  # real notebooks in real kernels

HABITS = ["habit_hard_coded_sizes", "habit_history_plots_and_callback", "habit_early_stopping_and_checkpoint",
          "habit_saves_files", "habit_predict_and_return_dict", "habit_keywords_and_steps", "habit_tf_data",
          "habit_fit_in_a_loop", "habit_generator"]


@pytest.mark.parametrize("name", HABITS)
def test_everyday_code_runs_as_on_a_students_machine(graded, name):
    result = graded(name)
    assert result.facts["execution"]["errors"] == [], result.facts["execution"]["errors"]
    assert result.full_marks, [(c.id, c.message) for c in result.checks if c.status != "pass"]


def test_load_data_has_mnists_real_sizes(graded):
    fit = graded("habit_hard_coded_sizes").facts["fit"]
    assert fit["x"]["shape"] == [60000, 28, 28, 1] and fit["validation_data"]["items"][0]["shape"] == [10000, 28, 28, 1]
    assert fit["validation_data"]["items"][0]["split"] == "test"
    assert graded("habit_hard_coded_sizes").data_source["repeated"]  # and the report says so


def test_fit_keeps_every_epoch_cheaply(graded):
    result = graded("habit_history_plots_and_callback")  # the notebook asserts len(history) == epochs itself
    fit_cell = result.facts["fit"]["where"]["cell"]
    assert result.facts["execution"]["cell_seconds"][fit_cell] < 10


def test_an_absurd_epoch_count_costs_seconds_and_the_report_says_so(graded):
    result = graded("epochs_1000")
    epochs = by_id(result)["fit.epochs"]
    assert result.facts["execution"]["errors"] == []
    assert result.facts["execution"]["cell_seconds"][11] < 15
    assert "trained the first 20 of your 1,000 epochs" in epochs.details[0]


def test_a_fit_in_a_loop_counts_every_epoch(graded):
    result = graded("habit_fit_in_a_loop")
    assert result.facts["fit"]["epochs"] == 10 and result.facts["fit"]["calls"] == 10
    assert "over 10 calls of model.fit" in by_id(result)["fit.epochs"].message


def test_a_tf_data_pipeline_is_graded_for_what_it_means(graded):
    fit = graded("habit_tf_data").facts["fit"]
    assert fit["batch_size"] == 64 and fit["shuffle"] is True
    assert fit["dataset"][-2:] == ["ShuffleDataset", "BatchDataset"]
    assert "tf.data" in by_id(graded("habit_tf_data"))["fit.batch_size"].message


def test_what_a_generator_hides_is_said_not_failed(graded):
    checks = by_id(graded("habit_generator"))
    assert checks["fit.batch_size"].status == "pass" and "cannot see the batch size" in checks["fit.batch_size"].message
    assert checks["fit.validation_data"].message == "model.fit validates on the test images and labels."
    assert checks["data.prepared"].status == "pass"  # read from train_images, as fit's data is a generator


def test_files_the_student_saves_work_and_stay_inside(graded):
    result = graded("habit_saves_files")
    assert result.facts["execution"]["errors"] == []
    assert not Path("/number.h5").exists() and not (Path.home() / "notes.txt").exists()


def test_a_crash_in_a_later_cell_keeps_the_model_and_says_which_cell(graded):
    result = graded("crash_after_the_model")
    checks = by_id(result)
    assert checks["notebook.runs"].status == "fail" and "In [7]" in checks["notebook.runs"].details[0]
    assert "stopped before its end" in checks["model.found"].message
    assert checks["train.learns"].status == "pass"  # the grader trained its own copy of the kept model


def test_processes_left_running_are_stopped_and_reported(graded):
    runs = by_id(graded("processes_left_running"))["notebook.runs"]
    assert runs.details == ["In [7] started 3 processes that kept running; the grader stopped them before the "
                            "next cell."]


def test_another_assignment_gets_one_clear_sentence_first(graded):
    runs = by_id(graded("loads_cifar10"))["notebook.runs"]
    assert runs.details[0].startswith("In [2] loads CIFAR-10 (cifar10.load_data()). This assignment is graded on MNIST")


def test_every_located_finding_quotes_the_line_it_names(graded):
    """A message and its location agree: the quoted code is the cell's line at that number."""
    for name in ("batch_32", "evaluate_on_training_data", "wrong_optimizer_adam", "epochs_5", "replaces_model_fit",
                 "trick_recompile_before_a_tiny_fit", "lesson_test_acc_slip"):
        result = graded(name)
        cells = {n: src for n, src in _sources(result)}
        located = [c.where for c in result.checks if c.status != "pass" and c.where and c.where.get("line")]
        located += [e for e in result.facts["execution"]["errors"] if e.get("line")]
        assert located, name
        for where in located:
            line = cells[where["cell"]].splitlines()[where["line"] - 1].strip()
            assert line == where["code"], (name, where)


def _sources(result):
    import nbformat

    nb = nbformat.read(result.submission["path"], as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    return list(enumerate(code, start=1))
