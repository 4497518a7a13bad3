"""Fast checks of the comparison logic on plain data (no kernel)."""

from __future__ import annotations

import csv
import dataclasses
import os
import datetime
import io
import json
import re
import shutil
import socket
import subprocess
import tempfile
import sys
import time
import zipfile
from pathlib import Path

import psutil
import pytest

from autograder import alignment, capture, checks, classfolder, events, forking, gradebook, kernel, lms, locations, report, rubric, sandbox, slips, words
from autograder import describe, model_file
from autograder.errors import SetupError


def model(*classes):
    return {"layers": [{"class": c, "settings": {}, "output_shape": None, "params": 0} for c in classes]}


REF = model("Conv2D", "MaxPooling2D", "Conv2D", "Dropout", "Conv2D", "Flatten", "Dense", "Dense")


def ops(stu):
    return [(r["op"], r["ref"], r["stu"]) for r in alignment.align_layers(REF, stu)]


def test_identical_networks_align_one_to_one():
    assert all(op == "same" for op, *_ in ops(REF))


def test_missing_and_extra_layers():
    rows = ops(model("Conv2D", "MaxPooling2D", "Conv2D", "Conv2D", "Flatten", "Dense", "Dense", "Dense"))
    assert ("missing", 3, None) in rows
    assert ("extra", None, 6) in rows and ("same", 7, 7) in rows  # the last layer is the output, kept paired


def layers(*specs):
    return {"layers": [{"class": c, "settings": dict(settings), "output_shape": None, "params": 0} for c, settings in specs]}


LESSON = layers(("Conv2D", {"filters": 32}), ("MaxPooling2D", {}), ("Conv2D", {"filters": 64}), ("Dropout", {}),
                ("Conv2D", {"filters": 32}), ("Flatten", {}), ("Dense", {"units": 32, "activation": "relu"}),
                ("Dense", {"units": 10, "activation": "softmax"}))


@pytest.mark.parametrize("student, missing, extra, pairs", [
    # the hidden Dense left out: the output layer pairs with the lesson's output, the hidden one is missing
    (LESSON["layers"][:6] + LESSON["layers"][7:], [6], [], {6: 7}),
    # the output's activation wrong as well: still paired by its role, not with the hidden Dense
    (LESSON["layers"][:6] + [{**LESSON["layers"][7], "settings": {"units": 10, "activation": "relu"}}], [6], [], {6: 7}),
    # the second Conv2D (64 filters) left out: the third pairs with the third, not told to have 64 filters
    (LESSON["layers"][:2] + LESSON["layers"][3:], [2], [], {0: 0, 3: 4}),
    # an extra Dense(64) before the lesson's two: the extra one is the one that matches nothing
    (LESSON["layers"][:6] + [{"class": "Dense", "settings": {"units": 64, "activation": "relu"}}] + LESSON["layers"][6:],
     [], [6], {7: 6, 8: 7}),
])
def test_layers_pair_by_role_and_settings_when_a_class_has_more_or_fewer(student, missing, extra, pairs):
    rows = alignment.align_layers(LESSON, {"layers": student})
    assert [r["ref"] for r in rows if r["op"] == "missing"] == missing
    assert [r["stu"] for r in rows if r["op"] == "extra"] == extra
    assert {r["stu"]: r["ref"] for r in rows if r["op"] in ("same", "moved") and r["stu"] in pairs} == pairs


def test_swapped_neighbours_are_moved_not_missing():
    rows = ops(model("Conv2D", "Conv2D", "MaxPooling2D", "Dropout", "Conv2D", "Flatten", "Dense", "Dense"))
    assert [op for op, *_ in rows].count("moved") == 1
    assert not any(op in ("missing", "extra") for op, *_ in rows)


def test_positions_in_words():
    classes = ["Conv2D", "MaxPooling2D", "Conv2D"]
    assert alignment.position(classes, 0) == "layer 1, the first layer"
    assert alignment.position(classes, 2) == "layer 3, right after the 1st MaxPooling2D"
    assert [words.ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22)] == \
        ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd"]


def test_canonical_names_follow_keras():
    assert describe.canonical_metric({"kind": "name", "name": "acc"}) == "accuracy"
    assert describe.canonical_metric({"kind": "object", "name": "CategoricalAccuracy"}) == "accuracy"
    assert describe.canonical_loss({"kind": "object", "name": "CategoricalCrossentropy"})["name"] == "categorical_crossentropy"
    assert describe.canonical_loss({"kind": "name", "name": "mse"})["name"] == "mean_squared_error"
    assert describe.canonical_optimizer({"kind": "object", "name": "RMSprop", "changed": {}})["name"] == "rmsprop"
    assert describe.written({"kind": "object", "name": "RMSprop", "changed": {"learning_rate": 0.5}}) == \
        "RMSprop(learning_rate=0.5)"


def test_known_slips_are_explained():
    assert "scores[1]" in checks.explain_error("NameError", "name 'test_acc' is not defined", "print(test_acc)")
    assert "from tensorflow.keras.layers import Conv2D" in checks.explain_error(
        "NameError", "name 'Conv2D' is not defined", "")
    assert checks.explain_error("ValueError", "something else", "") == ""


# ---------------------------------------------------------------- what the grader reads from the kernel


@pytest.fixture
def channel(tmp_path):
    """A real channel on a Unix socket, and the harness's end of it."""
    ch = events.Channel(socket_path=tmp_path / "events", copies=tmp_path / "grader-copies")
    ch.start()
    harness = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    harness.connect(str(tmp_path / "events"))
    harness.settimeout(10)
    yield ch, harness
    harness.close()
    ch.close()


def _send(harness, event, payload=b"") -> bytes:
    """As the harness sends: the event, its bytes, then the grader's acknowledgement (b"" once it hung up)."""
    try:
        harness.sendall((event if isinstance(event, bytes) else json.dumps(event).encode()) + b"\n" + payload)
        return harness.recv(1)
    except OSError:
        return b""


def test_a_snapshot_travels_on_the_socket_and_is_kept_in_the_grader_s_own_folder(channel, tmp_path):
    ch, harness = channel
    # "why" names the file the grader writes: a name the kernel chose must not become a path.
    assert _send(harness, {"event": "snapshot", "model": {"id": 1}, "why": "../../../etc/x", "size": 5}, b"model") == b"1"
    assert _send(harness, {"event": "fit", "model": {"id": 1}}) == b"1"
    assert _send(harness, {"event": "fit", "model": "not a model"}) == b"1"  # malformed: a problem, not a crash
    assert _send(harness, b"[1, 2]") == b"1"
    time.sleep(0.2)
    kept = list((tmp_path / "grader-copies").iterdir())
    assert [p.name for p in kept] == ["0-model.keras"] and kept[0].read_bytes() == b"model"
    assert [e["event"] for e in ch.events] == ["snapshot", "fit"] and ch.events[0]["copy"] == str(kept[0])
    assert ch.lost == [] and len(ch.problems) == 2


def test_a_snapshot_larger_than_the_grader_keeps_is_a_lost_record_not_a_stall(channel):
    ch, harness = channel
    assert _send(harness, {"event": "snapshot", "model": {"id": 1}, "why": "fit",
                           "size": events.MAX_MODEL_BYTES + 1}) == b""  # the grader hangs up at once
    assert _send(harness, {"event": "fit", "model": {"id": 1}}) == b""
    assert ch.events == [] and "more than the 50 MB" in ch.lost[0]


def test_records_past_the_total_limit_are_lost_and_said(channel, monkeypatch):
    ch, harness = channel
    monkeypatch.setattr(events, "MAX_EVENT_BYTES", 3000)  # each event is ~1,250 bytes
    metrics = {"event": "compile", "model": {"id": 1}, "metrics": ["accuracy"] * 100}
    answers = [_send(harness, metrics) for _ in range(3)]
    assert answers == [b"1", b"1", b""]  # the third would pass 3,000 bytes: not recorded, and the grader stops
    assert len(ch.events) == 2 and ch.lost[0].startswith("too much to grade")


def test_an_endless_line_is_a_lost_record(channel):
    ch, harness = channel
    try:
        harness.sendall(b"x" * (events.MAX_LINE + 2))
    except OSError:
        pass
    time.sleep(0.5)
    assert ch.events == [] and "larger than the grader accepts" in ch.lost[0]


def _keras_file(path, layers):
    config = {"class_name": "Sequential", "config": {"layers": layers}}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", __import__("json").dumps(config))
    return path


def test_a_crafted_model_is_refused_before_its_weights_are_allocated(tmp_path):
    huge = _keras_file(tmp_path / "huge.keras", [
        {"class_name": "Dense", "module": "keras.layers", "config": {"units": 40000},
         "build_config": {"input_shape": [None, 40000]}}])
    with pytest.raises(model_file.UnsafeModel, match="1,600,040,000 weights"):
        model_file.load_safely(huge)
    own = _keras_file(tmp_path / "own.keras", [
        {"class_name": "Dense", "module": "__main__", "config": {"units": 10, "name": "dense"}}])
    with pytest.raises(model_file.UnsafeModel, match="class of your own"):
        model_file.load_safely(own)
    (tmp_path / "junk.keras").write_bytes(b"not a zip")
    with pytest.raises(model_file.UnsafeModel, match="not a Keras model file"):
        model_file.read_config(tmp_path / "junk.keras")


@pytest.mark.parametrize("code, flagged", [
    ("import keras\nkeras.Model.fit = lambda *a, **k: None", True),
    ("import sys\nsys.modules['_autograder_harness'].finish = print", True),
    ("setattr(keras.Model, 'evaluate', print)", True),
    ("f = model.fit.__globals__", True),
    ("history = model.fit(x, y, batch_size=64)\nmodel.save('m.keras')\nself_check()", False),
    ("class CB(keras.callbacks.Callback):\n    def on_epoch_end(self, e, logs=None):\n"
     "        self.model.evaluate(x, y)", False),
])
def test_code_that_reaches_into_the_grader_is_found_and_honest_code_is_not(code, flagged):
    assert bool(capture.tampering([(3, code)])) == flagged


def test_a_recorded_call_must_match_the_line_that_made_it():
    cells = {4: "model.fit(x, y,\n          batch_size=32, epochs=epochs)"}
    event = {"event": "fit", "cell": 4, "site": {"line": 1, "code": "model.fit(x, y,"}, "batch_size": 64}
    assert "batch_size=32" in capture.verify_call(event, capture.locate(event, cells), cells)
    event["batch_size"] = 32
    assert capture.verify_call(event, capture.locate(event, cells), cells) is None
    event["site"] = {"line": 2, "code": "batch_size=32, epochs=epochs)"}  # a multi-line call, its second line
    assert capture.verify_call(event, capture.locate(event, cells), cells) is None
    event["site"] = None  # a call no line of the notebook made
    assert "no line of your notebook" in capture.verify_call(event, capture.locate(event, cells), cells)


def _fit(model, cell, epochs, samples, batch=64, initial=0):
    return {"event": "fit", "model": {"id": model}, "cell": cell, "epochs": epochs, "initial_epoch": initial,
            "samples": samples, "batch_size": batch, "site": {"line": 1, "code": ""}}


def test_the_trained_model_and_the_training_that_counts_are_chosen():
    loop = [_fit(1, 5, 1, 60000) for _ in range(10)]
    facts = capture.fit_facts(loop, 1, {})
    assert facts["epochs"] == 10 and facts["calls"] == 10
    trick = [_fit(1, 5, 5, 60000, batch=32), _fit(1, 6, 10, 1, batch=64)]
    facts = capture.fit_facts(trick, 1, {})
    assert facts["batch_size"] == 32 and facts["epochs"] == 15
    finish = {"event": "finish", "models": [{"model": {"id": 1}, "names": ["model"]},
                                            {"model": {"id": 2}, "names": ["net"]}]}
    assert capture.choose_model([_fit(2, 5, 10, 60000), finish])[0] == 2  # model never fitted: net is graded
    assert capture.choose_model([_fit(1, 5, 10, 60000), _fit(2, 6, 10, 60000), finish])[0] == 1


def test_the_lessons_extra_parenthesis_is_repaired_in_the_copy_that_runs():
    nb = __import__("nbformat").v4.new_notebook(cells=[
        __import__("nbformat").v4.new_code_cell("x = 1"),
        __import__("nbformat").v4.new_code_cell("model.add(Conv2D(32, 3))\nmodel.add(MaxPooling2D()))")])
    notes = slips.repair(nb, ("extra_parenthesis",))
    assert nb.cells[1].source.endswith("model.add(MaxPooling2D())") and notes[0].startswith("In [2], line 2:")
    assert slips.repair(nb, ("extra_parenthesis",)) == []  # nothing left to repair


# ---------------------------------------------------------------- configuration, sandbox, names


@pytest.mark.parametrize("old, new, words", [
    ("train_images = 2000", "train_imags = 2000", "[training] has an unknown key 'train_imags'; allowed: seed"),
    ("pass_within = 0.10", 'pass_within = "a lot"', "[training] pass_within is 'a lot'; it must be a number"),
    ("[training]", "[trainin]", "unknown table [trainin]"),
    ('cell_timeout_s = "auto"', 'cell_timeout_s = "soon"', "cell_timeout_s is 'soon'"),
    ('forgive = ["extra_parenthesis", "test_acc", "pooling_below_second_conv"]', 'forgive = ["typo"]',
     "[slips] forgive names typo; known slips: extra_parenthesis"),
    ('short = "Loss"', 'short = "Loss"\nvisibility = "secret"', "visibility is 'secret'; it must be one of visible"),
    ('short = "Loss"', 'short = "Loss"\nshow_expected = "no"', "show_expected is 'no'; it must be true or false"),
    ('short = "Loss"', 'short = "Loss"\nvisibility = "after_due_date"', "shown after the due date, but [release]"),
])
def test_a_rubric_mistake_names_the_file_the_key_and_what_is_allowed(tmp_path, old, new, words):
    path = tmp_path / "rubric.toml"
    text = locations.RUBRIC.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    with pytest.raises(SetupError) as raised:
        rubric.load(path)
    assert raised.value.path == str(path) and words in raised.value.reason


def test_the_kernel_environment_is_an_allow_list(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "nope")
    box = sandbox.Sandbox(scratch=tmp_path, readable=[], hide=[], cpu_seconds=10, enabled=False)
    env = kernel.kernel_env(box)
    assert "AWS_SECRET_ACCESS_KEY" not in env and env["AUTOGRADER_GRADING"] == "1"
    assert set(env) <= {"PATH", "HOME", "LANG", "TMPDIR", "KERAS_HOME", "MPLCONFIGDIR", "TF_CPP_MIN_LOG_LEVEL",
                        "PYTHONHASHSEED", "MPLBACKEND", "PYDEVD_DISABLE_FILE_VALIDATION", "AUTOGRADER_GRADING",
                        *forking.PASS_THROUGH}


def test_the_sandbox_binds_the_runtime_read_only_and_nothing_else_of_the_host(tmp_path):
    layers = tuple(sandbox.Layer(n, True, "") for n in ("network", "filesystem", "user", "limits"))
    box = sandbox.Sandbox(scratch=tmp_path, readable=[], hide=[locations.REFERENCE], cpu_seconds=10, layers=layers)
    box.prepare()
    argv = box.wrap(["python", "-m", "ipykernel_launcher"])
    bwrap = argv[argv.index("bwrap"):]
    assert bwrap[1:4] == ["--bind", str(box.root), "/"]  # the kernel's own root, not the host's
    binds = [bwrap[i + 1] for i, a in enumerate(bwrap) if a == "--ro-bind"]
    assert "/" not in binds and "/etc" not in binds and str(locations.PACKAGE.parent) not in binds
    assert all(Path(b).exists() for b in binds)
    writable = [bwrap[i + 1] for i, a in enumerate(bwrap) if a == "--bind"]
    # All the kernel may write lies in the scratch folder: its root, its /dev/shm, the socket's folder.
    assert writable == [str(box.root), str(box.ipc_dir), str(box.shm)]
    assert all(Path(w).is_relative_to(box.scratch) for w in writable)
    assert argv[-3:] == ["python", "-m", "ipykernel_launcher"] and "--unshare-net" in bwrap


def test_the_fork_server_confines_with_the_very_plan_bubblewrap_would_get(tmp_path):
    from autograder.harness import fork_server

    layers = tuple(sandbox.Layer(n, True, "") for n in ("network", "filesystem", "user", "limits"))
    secret = Path(sandbox.__file__).resolve()  # a file inside a folder the kernel must read
    box = sandbox.Sandbox(scratch=tmp_path, readable=[], hide=[secret], cpu_seconds=10, layers=layers)
    box.prepare()
    plan = forking.plan(box)
    assert plan["bwrap"] == box.bwrap_args() and plan["network"] and plan["limits"]["cpu"] == 10
    confinement = fork_server.Confinement(plan["bwrap"])
    assert confinement.root == str(box.root) and confinement.proc == "/proc"
    assert confinement.chdir == sandbox.HOME_INSIDE and confinement.hostname == "student"
    read_only = [operands[1] for option, operands in confinement.steps if option == "--ro-bind"]
    writable = [operands[1] for option, operands in confinement.steps if option == "--bind"]
    # the new root aside, only the sockets and /dev/shm, which lies in the scratch folder too
    assert "/usr" in read_only and writable == [str(box.ipc_dir), "/dev/shm"]
    assert ("--ro-bind", ["/dev/null", str(secret)]) in confinement.steps  # hidden behind an empty file
    with pytest.raises(ValueError, match="as root only"):
        fork_server.Confinement(["--bind", str(box.root), "/", "--unshare-user", "--uid", "65534"])
    with pytest.raises(ValueError, match="no new root"):
        fork_server.Confinement(["--ro-bind", "/usr", "/usr"])


@pytest.mark.parametrize("option", ["--remount-ro", "--bind-try", "--seccomp", "--overlay-src", "--frobnicate"])
def test_the_fork_server_refuses_a_bubblewrap_option_it_would_skip(tmp_path, option):
    from autograder.harness import fork_server

    args = ["bwrap", "--bind", str(tmp_path), "/", "--ro-bind", "/usr", "/usr", option, "/x", "--chdir", "/"]
    with pytest.raises(ValueError, match=f"^{option}: a bubblewrap option the fork server cannot carry out"):
        fork_server.Confinement(args)
    with pytest.raises(ValueError, match="--chdir: expects 1 operands"):
        fork_server.Confinement(["--bind", str(tmp_path), "/", "--chdir"])
    assert fork_server.Confinement(args[:7]).steps == [("--ro-bind", ["/usr", "/usr"])]  # known ones pass


def test_a_runtime_reached_through_a_link_is_also_where_the_kernel_looks(tmp_path, monkeypatch):
    link = tmp_path / "venv"
    link.symlink_to(Path(sys.prefix).resolve())
    monkeypatch.setattr(sys, "prefix", str(link))
    layers = tuple(sandbox.Layer(n, True, "") for n in ("network", "filesystem", "user", "limits"))
    box = sandbox.Sandbox(scratch=tmp_path / "scratch", readable=[], hide=[], cpu_seconds=10, layers=layers)
    box.prepare()
    args = box.bwrap_args()
    at = [args[i + 1:i + 3] for i, a in enumerate(args) if a == "--ro-bind" and args[i + 2] == str(link)]
    assert at == [[str(Path(sys.prefix).resolve()), str(link)]]
    assert (box.root / str(link).lstrip("/")).is_dir()  # where the bind lands, made inside the kernel's root


@pytest.mark.parametrize("relative, identity", [
    ("alice_CNN.ipynb", ("alice", "", "", False)),
    ("smithjane_LATE_12345_67890_CNN.ipynb", ("smithjane", "canvas", "12345", True)),
    ("smithjane_12345_67890_CNN.ipynb", ("smithjane", "canvas", "12345", False)),
    ("Jane Smith_12345_assignsubmission_file_/CNN.ipynb", ("Jane Smith", "moodle", "12345", False)),
    ("Jane Smith - CNN.ipynb", ("Jane Smith", "classroom", "", False)),
    ("bob/CNN.ipynb", ("bob", "", "", False)),
])
def test_the_student_and_their_lms_ids_are_read_from_lms_file_names(relative, identity):
    who = lms.identify(Path(relative))
    assert (who.student, who.system, who.lms_id, who.late) == identity


def _class_rows():
    row = {"name": "", "score": None, "sis_user_id": "", "sis_login_id": "", "section": "", "canvas_id": "",
           "comment": ""}
    return [{**row, "student": "smithjane", "lms": "canvas", "lms_id": "12345", "score": 87.5, "name": "Jane Smith",
             "comment": "Fix first, in your notebook: Batch size (In [11])."},
            {**row, "student": "Ann Lee", "lms": "moodle", "lms_id": "678", "score": 100.0,
             "comment": "Every check passed."},
            {**row, "student": "bob", "lms": "", "lms_id": "", "score": 40.0}]


def test_the_canvas_file_has_canvas_identity_columns_and_one_assignment_column():
    text, left_out = lms.canvas_csv(_class_rows(), "CNN (4242)")
    rows = list(csv.reader(io.StringIO(text)))
    # Canvas' gradebook import: these five identity columns, then one column per assignment, "Name (id)".
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "CNN (4242)"]
    assert rows[1] == ["Jane Smith", "12345", "", "", "", "87.5"]
    assert len(rows) == 2 and left_out == ["Ann Lee", "bob"]  # no Canvas id: Canvas could not match them


def test_the_moodle_file_is_the_offline_grading_worksheet_keyed_by_participant():
    text, left_out = lms.moodle_csv(_class_rows())
    rows = list(csv.DictReader(io.StringIO(text)))
    # Moodle's assignfeedback_offline importer needs Identifier, Grade and "Last modified (grade)".
    assert {"Identifier", "Grade", "Last modified (grade)", "Feedback comments"} <= set(rows[0])
    assert len(rows) == 1 and rows[0]["Identifier"] == "Participant 678" and rows[0]["Grade"] == "100"
    assert rows[0]["Feedback comments"].startswith("100 / 100.") and left_out == ["smithjane", "bob"]
    assert datetime.datetime.strptime(rows[0]["Last modified (grade)"], "%Y-%m-%d %H:%M:%S")


def test_lms_grades_are_out_of_the_assignments_maximum_rounded_as_the_lms_rounds():
    scale = lms.Scale(rubric_max=100, lms_max=20)
    assert [scale.grade(s) for s in (100, 87.5, 95, 33.333, None)] == ["20", "17.5", "19", "6.67", ""]
    assert lms.Scale(100, 7).grade(95) == "6.65" and lms.Scale(100, 3).grade(12.5) == "0.38"  # halves go up
    text, _ = lms.canvas_csv(_class_rows(), "CNN (4242)", scale)
    assert list(csv.reader(io.StringIO(text)))[1][5] == "17.5"  # 87.5 / 100 in a column worth 20 points
    text, _ = lms.moodle_csv(_class_rows(), lms.Scale(100, 10))
    (row,) = csv.DictReader(io.StringIO(text))
    assert (row["Grade"], row["Maximum Grade"]) == ("10", "10")
    # The comment repeats the grade the student sees in Moodle and names nothing they never receive.
    assert row["Feedback comments"] == "10 / 10. Every check passed."


def test_the_assignments_maximum_is_read_from_the_lms_export_used_as_roster(tmp_path):
    canvas = tmp_path / "canvas-export.csv"
    canvas.write_text("Student,ID,SIS User ID,SIS Login ID,Section,Quiz 1 (11),CNN (4242)\n"
                      "    Points Possible,,,,,10,20\n"
                      "Jane Smith,12345,S-1,jsmith,Period 2,9,\n")
    assert lms.points_possible(canvas, "CNN (4242)") == 20 and lms.points_possible(canvas, "CNN") is None
    assert "Points Possible" not in lms.read_roster(canvas)  # a row of Canvas' export, not a student
    moodle = tmp_path / "worksheet.csv"
    moodle.write_text("Identifier,Full name,Email address,Status,Grade,Maximum Grade,Grade can be changed\n"
                      "Participant 678,Ann Lee,ann@example.org,Submitted,,10.00,Yes\n")
    assert lms.points_possible(moodle, "CNN") == 10
    assert lms.lookup(lms.read_roster(moodle), "Ann Lee", "678")["name"] == "Ann Lee"


def test_a_canvas_roster_gives_names_and_sis_ids(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("Student,ID,SIS User ID,SIS Login ID,Section\nJane Smith,12345,S-1,jsmith,Period 2\n")
    person = lms.lookup(lms.read_roster(roster), "smithjane", "12345")
    assert person["name"] == "Jane Smith" and person["sis_user_id"] == "S-1" and person["section"] == "Period 2"


def test_the_auto_cell_limit_is_whole_seconds_from_the_references_slowest_cell():
    from autograder.settings import GradingContext, cell_timeout

    rules = rubric.load(locations.RUBRIC)
    assert cell_timeout(rules, {"execution": {"cell_seconds": {"11": 3.693}}}, GradingContext()) == 37
    assert cell_timeout(rules, {"execution": {"cell_seconds": {"11": 0.5}}}, GradingContext()) == 30
    assert cell_timeout(rules, {"execution": {"cell_seconds": {"11": 60}}}, GradingContext()) == 120
    assert cell_timeout(rules, {}, GradingContext(cell_timeout=12)) == 12


def test_the_temporary_folders_of_a_killed_grader_are_removed_by_the_next_start_and_a_live_ones_kept():
    # A real grader process makes its folders as a grade does (scratch, record, fork server's home), then is
    # killed with SIGKILL: nothing of its own can clean up.
    code = ("from autograder import sandbox\nfor prefix in ('autograder-', 'autograder-records-', "
            "'autograder-forkserver-'):\n    print(sandbox.owned_tempdir(prefix), flush=True)\n"
            "import time\ntime.sleep(300)")
    grader = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        theirs = [Path(grader.stdout.readline().strip()) for _ in range(3)]
        ours = sandbox.owned_tempdir("autograder-forkserver-")
        reused = Path(tempfile.mkdtemp(prefix=f"autograder-records-{os.getpid()}.1-"))  # our pid, once another's
        unowned = Path(tempfile.mkdtemp(prefix="autograder-forkserver-"))  # an older grader's, young
        sandbox.remove_stale_folders()
        assert all(f.is_dir() for f in theirs)  # its grader still runs
        assert not reused.exists()
    finally:
        grader.kill()
        grader.wait()
    sandbox.remove_stale_folders()
    assert not any(f.exists() for f in theirs)
    assert ours.is_dir() and unowned.is_dir()
    ours.rmdir()
    unowned.rmdir()


@pytest.mark.skipif(not shutil.which("setpriv"), reason="setpriv (util-linux) is not installed")
def test_a_launch_whose_grader_died_first_never_starts_and_one_whose_grader_dies_later_is_killed(tmp_path):
    marker = tmp_path / "ran"
    # Armed by another process: run from here, its parent is not that grader, so nothing starts.
    built = subprocess.run([sys.executable, "-c", "import json; from autograder.sandbox import Sandbox; "
                            f"print(json.dumps(Sandbox._tied_to_grader(['touch', {str(marker)!r}])))"],
                           capture_output=True, text=True, check=True)
    assert subprocess.run(json.loads(built.stdout)).returncode == 1 and not marker.exists()
    # A grader that launches and dies at once takes its launch with it.
    grader = subprocess.run([sys.executable, "-c", "import os, subprocess; from autograder.sandbox import Sandbox; "
                             "p = subprocess.Popen(Sandbox._tied_to_grader(['sleep', '300'])); print(p.pid)"],
                            capture_output=True, text=True, check=True)
    time.sleep(0.5)
    assert not psutil.pid_exists(int(grader.stdout)) or \
        psutil.Process(int(grader.stdout)).status() == psutil.STATUS_ZOMBIE
    # Built and run here: it runs.
    subprocess.run(sandbox.Sandbox._tied_to_grader(["touch", str(marker)]), check=True)
    assert marker.exists()


def _result(*checks_, due=""):
    """A JSON result with these (id, status, points, max_points[, visibility, show_expected]) checks."""
    out = []
    for check_id, status, points, max_points, *rest in checks_:
        c = checks.CheckResult(id=check_id, title=check_id.title(), status=status, points=points,
                               max_points=max_points, expected="64", found="32", message="Your value 32; the lesson uses 64.",
                               hint="Use 64.", lesson="step", details=["the lesson uses 64"])
        if rest:
            c.visibility, c.show_expected = rest
        out.append(dataclasses.asdict(c))
    return {"checks": out, "due": due}


def test_problems_come_first_by_points_lost_and_zero_point_checks_are_information():
    v = report.view(_result(("fit.epochs", "fail", 0, 5), ("layers.order", "partial", 7.5, 15),
                            ("compile.loss", "pass", 5, 5), ("predict.digit3", "fail", 0, 0),
                            ("layers.shapes", "skipped", 0, 10)))
    assert [c["id"] for c in v["problems"]] == ["layers.order", "fit.epochs"]  # 7.5 lost before 5
    assert [c["id"] for c in v["info"]] == ["predict.digit3"] and [c["id"] for c in v["passed"]] == ["compile.loss"]
    assert [c["id"] for c in v["not_checked"]] == ["layers.shapes"]
    assert (v["score"], v["max_score"]) == (12.5, 35)


def test_the_rubrics_visibility_holds_back_checks_and_expected_values_from_students_only():
    data = _result(("fit.batch_size", "fail", 0, 5, "visible", False), ("fit.epochs", "fail", 0, 5, "hidden", True),
                   ("compile.loss", "fail", 0, 5, "after_due_date", True), due="2999-01-01T00:00:00")
    student, teacher = report.view(data, "student"), report.view(data, "instructor")
    (shown,) = student["problems"]
    assert shown["id"] == "fit.batch_size" and "64" not in json.dumps({k: shown[k] for k in
                                                                      ("expected", "message", "hint", "details")})
    assert student["held"]["count"] == 2 and student["max_score"] == 5
    assert len(teacher["problems"]) == 3 and teacher["problems"][0]["expected"] == "64"
    html = report.render_html({**data, "status": "error", "reason": "x", "submission": {"name": "CNN.ipynb"},
                               "isolation": None, "data_source": None, "timings": {}, "graded_at": "",
                               "versions": {"grader": "1", "keras": "3", "tensorflow": "2", "python": "3"}})
    assert "Not graded" in html
    past = report.view({**data, "due": "2000-01-01T00:00:00"}, "student")
    assert {c["id"] for c in past["problems"]} == {"fit.batch_size", "compile.loss"}


def test_gradescope_gets_the_rubrics_visibility_and_no_kept_back_expected_value():
    from autograder import gradescope

    hidden = checks.CheckResult(id="fit.batch_size", title="Batch size", status="fail", points=0, max_points=5,
                                expected="64", found="32", message="Your batch_size is 32; the lesson uses 64.",
                                hint="Use 64.", lesson="Training, step 3", details=[], visibility="after_due_date",
                                show_expected=False)
    entry = gradescope._test_entry(hidden, 11)
    assert entry["visibility"] == "after_due_date" and entry["status"] == "failed"
    assert "64" not in entry["output"] and "Found: 32" in entry["output"]


def test_a_check_explained_by_another_comes_after_its_cause_in_the_summary():
    data = _result(("layers.config", "partial", 5, 10), ("train.learns", "fail", 0, 10))
    data["checks"][1]["caused_by"] = ["layers.config"]
    assert [c["id"] for c in report.view(data)["problems"]] == ["layers.config", "train.learns"]


def test_data_is_described_in_words_not_tuples():
    test = [{"kind": "array", "shape": [10000, 28, 28, 1], "split": "test"},
            {"kind": "array", "shape": [10000, 10], "split": "test"}]
    assert report._describe_data({"kind": "tuple", "items": test}) == \
        "the test images (10,000 × 28 × 28 × 1) and the test labels (10,000 × 10)"


def test_similarity_lists_copied_code_under_new_names_and_shared_rare_mistakes_only():
    from autograder import similarity

    base = similarity.Base.of([locations.STARTER, locations.REFERENCE])
    folder = Path(__file__).resolve().parent / "fixtures" / "similarity_class"
    prints = {p.name.split("_")[0]: similarity.print_of(p, {"checks": []}, base) for p in sorted(folder.glob("*.ipynb"))}
    assert len(prints) == 16 and not prints["student01"].fingerprints  # model.summary() alone: nothing rare
    pairs = similarity.compare(prints, 0.5)
    assert [(p.a, p.b) for p in pairs] == [("ivy", "jon"), ("kai", "lea")]  # the twelve others: never
    # Mistakes alone: two rare ones shared make a pair; one (a common slip) does not.
    wrong = [["fit.batch_size", "Batch size", "32"], ["compile.optimizer", "Optimizer", "'adam'"]]
    alone = {f"s{i}": similarity.Print() for i in range(10)}
    two = similarity.compare({**alone, "x": similarity.Print(mistakes=wrong), "y": similarity.Print(mistakes=wrong)}, 0.5)
    assert [(p.a, p.b, p.mistakes) for p in two] == [("x", "y", sorted(wrong))]
    one = similarity.compare({**alone, "x": similarity.Print(mistakes=wrong[:1]), "y": similarity.Print(mistakes=wrong[:1])}, 0.5)
    assert one == []


def test_a_float32_setting_reads_as_the_student_wrote_it():
    import numpy as np

    assert describe._plain(float(np.float32(0.0005))) == 0.0005  # not 0.0005000000237487257
    assert describe._plain(float(np.float32(0.9))) == 0.9 and describe._plain(1e-07) == 1e-07


def test_one_changed_lesson_line_in_common_is_not_a_link():
    # Found on the fixtures: batch_32 and a notebook made from it shared only the fit line with
    # batch_size=32, and the code signal listed them at 1.0 although one shared mistake is not enough.
    from autograder import similarity

    base = similarity.Base.of([locations.STARTER, locations.REFERENCE])
    fixtures = Path(__file__).resolve().parent / "fixtures"
    one_line = similarity.print_of(fixtures / "batch_32.ipynb", {"checks": []}, base)
    assert len(set(one_line.fingerprints.values())) == 1  # the one changed line
    alone = {f"s{i}": similarity.Print() for i in range(10)}
    assert similarity.compare({**alone, "a": one_line, "b": one_line}, 0.5) == []
    # The copy with renamed variables is still found: many lines in common.
    copied = [similarity.print_of(fixtures / "similarity_class" / f"{s}_CNN.ipynb", {"checks": []}, base)
              for s in ("ivy", "jon")]
    assert [(p.a, p.b) for p in similarity.compare({**alone, "a": copied[0], "b": copied[1]}, 0.5)] == [("a", "b")]


def test_the_brief_trainings_copy_is_float64_in_every_float_policy_and_nothing_else():
    from autograder import arithmetic

    spec = {"config": {"layers": [
        {"class_name": "InputLayer", "config": {"dtype": "float32", "batch_shape": [None, 28, 28, 1]}},
        {"class_name": "Conv2D", "config": {"dtype": {"module": "keras", "class_name": "DTypePolicy",
                                                       "config": {"name": "mixed_float16"}}}},
        {"class_name": "Embedding", "config": {"dtype": "int32"}},
        {"class_name": "Dense", "config": {"dtype": None}}]}}
    layers = arithmetic.in_float64(spec)["config"]["layers"]
    assert [layer["config"]["dtype"] for layer in layers] == ["float64", "float64", "int32", None]


def test_a_class_graded_with_different_versions_is_said_so_with_who_got_which():
    entries = [classfolder.Entry(student=name, path=Path(f"{name}.ipynb"), file=f"{name}.ipynb", stem=name)
               for name in ("ada", "ben", "cleo")]
    made_with = {"grader": "1", "tensorflow": "2.21.0", "keras": "3.15.1", "numpy": "2.4.6", "machine": "x86_64"}
    results = {e: {"status": "graded", "score": 100, "max_score": 100, "percent": 100.0, "checks": [],
                   "versions": dict(made_with)} for e in entries}
    assert gradebook.mixed_versions(entries, results) == []
    results[entries[1]]["versions"]["tensorflow"] = "2.22.0"
    groups = gradebook.mixed_versions(entries, results)
    assert [g["students"] for g in groups] == [["ada", "cleo"], ["ben"]]
    assert "tensorflow 2.22.0" in groups[1]["versions"]
    page = report.render_class(gradebook.summarise(entries, results, {}, rubric.load(locations.RUBRIC)))
    assert "Graded with different versions" in page and "tensorflow 2.22.0, keras 3.15.1" in page


def test_a_setting_passed_by_name_is_located_where_it_was_set():
    cells = {8: "%matplotlib inline\nfrom keras import layers\nbatch = 32\nepochs = 5",
             9: "epochs, other = 7, 1",  # set again: the last assignment before the call counts
             11: "size = 64\nmodel.fit(train_images, train_labels,\n          batch_size=batch, epochs=epochs,\n"
                 "          shuffle=True)\nepochs = 99"}
    found = capture.set_in({"cell": 11, "line": 2, "code": "model.fit(train_images, train_labels,"}, cells)
    assert found == {"batch_size": {"cell": 8, "line": 3, "code": "batch = 32"},
                     "epochs": {"cell": 9, "line": 1, "code": "epochs, other = 7, 1"}}
    # A literal, or a call inside the student's own function, names no other cell.
    assert capture.set_in({"cell": 1, "line": 1}, {1: "model.fit(x, y, epochs=5)"}) == {}
    assert capture.set_in({"cell": 11, "line": 2, "inner": {"cell": 3}}, cells) == {}


def test_a_check_worth_no_points_is_information_on_the_class_page_and_in_the_gradebook(tmp_path):
    facts = json.loads((Path(__file__).resolve().parent / "fixtures" / "reference_facts.json").read_text())
    student = json.loads(json.dumps(facts))
    student["digit3"]["guess"] = 8  # the wrong digit: worth no points
    found = checks.run_checks(student, facts, rubric.load(locations.RUBRIC))
    result = {"status": "graded", "reason": None, "score": 100.0, "max_score": 100, "percent": 100.0, "due": "",
              "checks": [dataclasses.asdict(c) for c in found]}
    entry = classfolder.Entry(student="ada", path=tmp_path / "ada.ipynb", file="ada.ipynb", stem="ada")
    summary = gradebook.summarise([entry], {entry: result}, {}, rubric.load(locations.RUBRIC))
    html = report.render_class(summary)
    cell = re.search(r'<td class="c [^"]*" data-status="(\w+)" title="What it says about the handwritten 3: ([^"]*)"', html)
    assert cell and cell.group(1) == "info" and "8" in cell.group(2)
    gradebook.write_gradebook(tmp_path / "gradebook.csv", summary)
    (row,) = csv.DictReader(io.StringIO((tmp_path / "gradebook.csv").read_text()))
    assert row["predict.digit3"] == "info: 8" and row["fit.epochs"] == "5.0"
