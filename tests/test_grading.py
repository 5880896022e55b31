"""`course grade`: submissions, the graded run, scores, reports, resume; end to end with hostile submissions."""

import asyncio
import csv
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import nbformat
import pytest

import grading_fixtures as F
from course_utils.cli import main
from course_utils.grading import batch, grade, report, runner, submissions
from course_utils.grading.grade import GradeError, Watch, build_steps, load_source, score
from course_utils.grading.runner import Limits, RunOutcome, StepOutcome
from course_utils.grading.submissions import discover, read_notebook

REPO = Path(__file__).resolve().parent.parent
RM, DB = F.EXERCISES


@pytest.fixture
def lesson(tmp_path):
    return F.build_lesson(tmp_path / "lesson")


def gradebook(out):
    with open(Path(out) / "gradebook.csv", newline="") as f:
        return {row["student"]: row for row in csv.DictReader(f)}


def result(out, student):
    return json.loads((Path(out) / "results" / f"{student}.json").read_text())


# -- finding and reading submissions --------------------------------------------------------------


def test_submission_layouts(tmp_path, lesson):
    subs = tmp_path / "subs"
    F.write(F.read(lesson), subs / "alice.ipynb")
    F.write(F.read(lesson), subs / "bob" / "00_fixture.ipynb")
    F.write(F.read(lesson), subs / "bob" / "scratch.ipynb")             # named like the source wins
    F.write(F.read(lesson), subs / "carol" / "work" / "my_copy.ipynb")  # the only notebook in the folder
    (subs / "dave").mkdir()
    F.write(F.read(lesson), subs / "erin" / "a.ipynb")
    F.write(F.read(lesson), subs / "erin" / "b.ipynb")
    F.write(F.read(lesson), subs / "Frank.ipynb")
    F.write(F.read(lesson), subs / "frank" / "00_fixture.ipynb")         # same id, other letter case
    (subs / "gina.pdf").write_bytes(b"%PDF-1.4")
    (subs / ".DS_Store").write_bytes(b"junk")
    F.write(F.read(lesson), subs / ".ipynb_checkpoints" / "alice-checkpoint.ipynb")
    found = {s.student: s for s in discover(subs, "00_fixture.ipynb")}
    assert sorted(found) == ["Frank", "alice", "bob", "carol", "dave", "erin", "gina"]
    assert found["alice"].problem is None and found["alice"].path.name == "alice.ipynb"
    assert found["bob"].path.name == "00_fixture.ipynb"
    assert found["carol"].path.name == "my_copy.ipynb"
    assert found["dave"].problem[0] == submissions.NO_NOTEBOOK
    assert found["erin"].problem[0] == submissions.AMBIGUOUS
    assert found["Frank"].problem[0] == submissions.DUPLICATE and len(found["Frank"].paths) == 2
    assert found["gina"].problem[0] == submissions.NOT_A_NOTEBOOK


@pytest.mark.parametrize("content, status", [
    (b"{not json", submissions.INVALID_JSON),
    (b"", submissions.EMPTY),
    (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", submissions.NOT_A_NOTEBOOK),
    (b'{"hello": "world"}', submissions.NOT_A_NOTEBOOK),
    (b'{"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": []}', submissions.UNSUPPORTED_FORMAT),
    (b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}', submissions.EMPTY),
    (b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": 7}', submissions.NOT_A_NOTEBOOK),
])
def test_bad_files_get_a_clear_status(tmp_path, content, status):
    path = tmp_path / "x.ipynb"
    path.write_bytes(content)
    notebook, problem = read_notebook(path)
    assert notebook is None and problem[0] == status and "x.ipynb" in problem[1]


def test_a_notebook_for_another_lesson_or_without_ids(lesson):
    source = load_source(lesson)
    other = nbformat.v4.new_notebook()
    other.cells = [nbformat.v4.new_code_cell("def sigmoid(x): ...", metadata={
        "course": {"exercise": "activations.sigmoid", "role": "solution"}})]
    assert grade.submission_problem(source, other)[0] == submissions.WRONG_LESSON
    other.cells[0].metadata = {}
    assert grade.submission_problem(source, other)[0] == submissions.NO_EXERCISES
    assert grade.submission_problem(source, F.read(lesson)) is None


def test_safe_names():
    assert submissions.safe_name("alice_1.x") == "alice_1.x"
    odd = submissions.safe_name("../../etc/passwd")
    assert "/" not in odd and not odd.startswith(".")
    assert submissions.safe_name("a b") != submissions.safe_name("a_b")


@pytest.mark.parametrize("edit, problem", [
    (lambda nb: nb.cells[8].__setitem__("source", "### BEGIN SOLUTION\nx = 1\n### END SOLUTION"),
     "not a solution cell"),
    (lambda nb: nb.cells[7].metadata.__setitem__("course", {"exercise": "fixture.double", "role": "demo"}),
     "no check cell"),
    (lambda nb: nb.cells[3].__setitem__("source", "### BEGIN SOLUTION\nx = 1"), "never closed"),
])
def test_a_source_that_cannot_be_graded_is_refused(tmp_path, lesson, edit, problem):
    notebook = F.read(lesson)
    edit(notebook)
    path = F.write(notebook, tmp_path / "bad.ipynb")
    with pytest.raises(GradeError, match=problem):
        load_source(path)


# -- the graded run -------------------------------------------------------------------------------


def test_only_solution_cells_come_from_the_submission(lesson):
    source = load_source(lesson)

    def tamper(nb):
        for cell in nb.cells:
            if cell.metadata.get("course", {}).get("role") == "check":
                cell.source = "pass  # the student emptied the check"
        nb.cells.insert(1, nbformat.v4.new_code_cell("def check_double(f):\n    return None"))

    notebook = F.submission(lesson, {RM: "def row_means(x):\n    return x.mean(1)"}, drop=[DB], edit=tamper)
    steps, missing = build_steps(source, notebook)
    kinds = [(s.kind, s.exercise) for s in steps]
    assert kinds == [("cell", None), ("baseline", None), ("solution", RM), ("check", RM),
                     ("solution", DB), ("check", DB), ("hidden", DB), ("cell", None)]
    code = "\n".join(s.code for s in steps)
    assert "def check_double(f)" not in code and "the student emptied" not in code
    assert steps[2].code == "def row_means(x):\n    return x.mean(1)"
    assert missing == [DB] and "raise NotImplementedError" in steps[4].code       # missing: the stub
    assert steps[5].code == "check_double(double)" and F.HIDDEN_SECRET in steps[6].code
    assert steps[0].user_expressions is None                                       # before the baseline
    assert all(s.user_expressions == {"integrity": grade.VERIFY_EXPR} for s in steps[2:])


def test_several_student_cells_for_one_exercise_all_run(lesson):
    source = load_source(lesson)

    def split(nb):
        extra = nbformat.v4.new_code_cell("def helper(x):\n    return x * 2", metadata={
            "course": {"exercise": DB, "role": "solution"}})
        nb.cells.insert(6, extra)

    steps, _ = build_steps(source, F.submission(lesson, {DB: "def double(x):\n    return helper(x)"}, edit=split))
    mine = [s.code for s in steps if s.kind == "solution" and s.exercise == DB]
    assert mine == ["def helper(x):\n    return x * 2", "def double(x):\n    return helper(x)"]


def _passed(exercise, points, message="fine"):
    return {"exercise": exercise, "status": "passed", "points": float(points), "max_points": float(points),
            "message": message, "hint": "", "device": "cpu", "cases": 3, "max_error": 0.0}


def _fake_run(steps, results=None, errors=None, stop=None, stopped_at=None, statuses=None):
    """A RunOutcome as the runner would produce it, without a kernel."""
    results, errors, statuses = results or {}, errors or {}, statuses or {}
    outcome = RunOutcome([StepOutcome(s, status="ok") for s in steps])
    for index, step_outcome in enumerate(outcome.steps):
        key = (step_outcome.step.kind, step_outcome.step.exercise)
        step_outcome.results = list(results.get(key, []))
        if key in errors:
            step_outcome.status, step_outcome.ename, step_outcome.evalue = "error", *errors[key]
        step_outcome.status = statuses.get(key, step_outcome.status)
        if stopped_at is not None and index > stopped_at:
            step_outcome.status = "not run"
    outcome.stop, outcome.stopped_at = (stop, stopped_at) if stop else (None, None)
    if stop:
        outcome.stop_detail = f"stopped: {stop}"
    return outcome


def _watch(points=None):
    watch = Watch()
    watch.baseline = {"points": points or {RM: 1, DB: 2}, "check_names": ["check_row_means", "check_double"]}
    return watch


def test_scores_come_from_the_check_cells_and_hidden_tests_can_fail_an_exercise(lesson):
    source = load_source(lesson)
    steps, missing = build_steps(source, F.read(lesson))
    run = _fake_run(steps, results={("check", RM): [_passed(RM, 1)], ("check", DB): [_passed(DB, 2)],
                                    ("solution", RM): [_passed(RM, 1)] * 3},       # results there do not count
                    errors={("hidden", DB): ("AssertionError", f"expected [{F.HIDDEN_EXPECTED}] {F.HIDDEN_SECRET}")})
    scored = score(source, steps, missing, run, _watch())
    by_id = {e["exercise"]: e for e in scored["exercises"]}
    assert scored["status"] == grade.GRADED
    assert by_id[RM]["status"] == "passed" and by_id[RM]["points"] == 1
    assert by_id[DB]["status"] == "failed" and by_id[DB]["points"] == 0 and "hidden tests" in by_id[DB]["message"]
    text = json.dumps(scored)
    assert F.HIDDEN_SECRET not in text and F.HIDDEN_EXPECTED not in text


def test_errors_timeouts_and_stops_are_named(lesson):
    source = load_source(lesson)
    steps, missing = build_steps(source, F.read(lesson))
    run = _fake_run(steps, errors={("solution", RM): ("SyntaxError", "invalid syntax (line 2)"),
                                   ("check", RM): ("NameError", "name 'row_means' is not defined")},
                    statuses={("check", DB): "timeout"})
    by_id = {e["exercise"]: e for e in score(source, steps, missing, run, _watch())["exercises"]}
    assert by_id[RM]["status"] == grade.ERROR and "your solution cell raised SyntaxError" in by_id[RM]["message"]
    assert by_id[DB]["status"] == grade.EX_TIMEOUT
    stopped = _fake_run(steps, results={("check", RM): [_passed(RM, 1)]}, stop=runner.DIED, stopped_at=4)
    scored = score(source, steps, missing, stopped, _watch())
    assert scored["status"] == runner.DIED
    assert [e["status"] for e in scored["exercises"]] == ["passed", grade.NOT_RUN]
    assert sum(e["points"] for e in scored["exercises"]) == 1


def test_a_check_that_detected_tampering_scores_nothing(lesson):
    source = load_source(lesson)
    steps, missing = build_steps(source, F.read(lesson))
    check_rm = next(i for i, s in enumerate(steps) if s.kind == "check")
    run = _fake_run(steps, results={("check", RM): [_passed(RM, 1)]}, stop=runner.TAMPERING, stopped_at=check_rm)
    scored = score(source, steps, missing, run, _watch())
    assert scored["status"] == runner.TAMPERING
    assert all(e["points"] == 0 for e in scored["exercises"])


def test_watch_flags_changed_checkers_and_surplus_results():
    watch = Watch()
    baseline = runner.StepOutcome(grade._baseline_step())
    baseline.expressions = {"baseline": repr(json.dumps({"points": {RM: 1}, "check_names": ["check_row_means"]}))}
    assert watch(baseline, None) is None and watch.points == {RM: 1}
    step = runner.Step("check_row_means(row_means)", kind="check", exercise=RM,
                       user_expressions={"integrity": grade.VERIFY_EXPR})
    clean = StepOutcome(step, status="ok", results=[_passed(RM, 1)], expressions={"integrity": repr("[]")})
    assert watch(clean, None) is None
    forged = StepOutcome(step, status="ok", results=[_passed(RM, 1)] * 2, expressions={"integrity": repr("[]")})
    assert watch(forged, None)[0] == runner.TAMPERING
    patched = StepOutcome(step, status="ok", expressions={"integrity": repr('["course_utils.checking.show"]')})
    assert "course_utils.checking.show" in watch(patched, None)[1]
    broken = StepOutcome(step, status="ok", expressions={"integrity": None})
    assert watch(broken, None)[0] == runner.TAMPERING
    assert watch.expected_results("check_row_means(f)\ncheck_row_means(g, seed=1)") == 2


def test_student_text_quoting_hidden_tests_is_redacted(lesson):
    source = load_source(lesson)
    steps, missing = build_steps(source, F.read(lesson))
    hidden_line = next(line for line in F.CHECK_DOUBLE.splitlines() if F.HIDDEN_SECRET in line)
    leaky = dict(_passed(RM, 1), status="failed", message=f"your row_means raised ValueError: {hidden_line}")
    run = _fake_run(steps, results={("check", RM): [leaky]})
    scored = score(source, steps, missing, run, _watch())
    assert F.HIDDEN_SECRET not in json.dumps(scored) and "[instructor code removed]" in json.dumps(scored)


def test_reports(tmp_path):
    records = [
        {"student": "=cmd()", "status": "graded", "message": "", "exercises": [
            dict(_passed(RM, 1)), dict(_passed(DB, 2), status="failed", points=0.0, message="x ``` y", hint="h")]},
        {"student": "bob", "status": "invalid json", "message": "bob.ipynb is not valid JSON", "exercises": []},
    ]
    report.write_reports(tmp_path, "00_fixture.ipynb", [RM, DB], records, {RM: 1, DB: 2},
                         {"=cmd()": "cmd", "bob": "bob"})
    rows = list(csv.reader(open(tmp_path / "gradebook.csv")))
    assert rows[0] == ["student", RM, DB, "total", "max_total", "status", "message"]
    assert rows[1][:6] == ["'=cmd()", "1", "0", "1", "3", "graded"]
    assert rows[2][:6] == ["bob", "", "", "0", "3", "invalid json"]
    feedback = (tmp_path / "feedback" / "cmd.md").read_text()
    assert "**Score: 1 / 3**" in feedback and "````text\nx ``` y\n````" in feedback and "h" in feedback
    data = json.loads((tmp_path / "grades.json").read_text())
    assert data["statuses"] == {"graded": 1, "invalid json": 1} and data["students"][0]["total"] == 1
    assert not list(tmp_path.rglob(".*.tmp-*"))  # atomic writes leave no temporary files


# -- batches, resume, exit status (with a stand-in for the kernels) -------------------------------


def _install_fake_runner(monkeypatch, interrupt_after=None):
    """Replace the kernel pool: a solution containing WRONG fails its check, anything else passes."""
    calls = []

    async def fake_pool(jobs, limits, *, workers, on_done=None, **options):
        for index, (steps, options) in enumerate(jobs):
            if interrupt_after is not None and len(calls) >= interrupt_after:
                raise KeyboardInterrupt
            outcome = RunOutcome([StepOutcome(s, status="ok") for s in steps])
            wrong = set()
            for step_outcome in outcome.steps:
                step = step_outcome.step
                if step.kind == "baseline":
                    step_outcome.expressions = {"baseline": repr(json.dumps(
                        {"points": {RM: 1, DB: 2}, "check_names": ["check_row_means", "check_double"]}))}
                if step.kind == "solution" and "WRONG" in step.code:
                    wrong.add(step.exercise)
                if step.kind == "check":
                    points = {RM: 1, DB: 2}[step.exercise]
                    step_outcome.results = [dict(_passed(step.exercise, points), status="failed", points=0.0)
                                            if step.exercise in wrong else _passed(step.exercise, points)]
                if step.user_expressions and "integrity" in step.user_expressions:
                    step_outcome.expressions = {"integrity": repr("[]")}
                options["on_step"](step_outcome, outcome)
            calls.append(index)
            on_done(index, outcome)
            await asyncio.sleep(0)
        return []

    monkeypatch.setattr(runner, "run_pool", fake_pool)
    return calls


def _batch(tmp_path, lesson):
    subs = tmp_path / "subs"
    F.write(F.read(lesson), subs / "ann.ipynb")
    F.write(F.submission(lesson, {RM: "def row_means(x):\n    return x  # WRONG"}), subs / "ben.ipynb")
    F.write(F.submission(lesson, drop=[DB]), subs / "cat.ipynb")
    F.write(F.read(lesson), subs / "dan" / "00_fixture.ipynb")
    (subs / "eve.ipynb").write_text("{oops")
    return subs


def test_interrupted_run_resumes_to_the_same_gradebook(tmp_path, lesson, monkeypatch):
    subs = _batch(tmp_path, lesson)
    _install_fake_runner(monkeypatch)
    clean = batch.grade_batch(lesson, subs, tmp_path / "clean", workers=2, progress=False, log=lambda *a: None)
    assert clean.exit_code == 0 and clean.statuses == {"graded": 4, "invalid json": 1}
    expected = gradebook(tmp_path / "clean")
    assert expected["ann"]["total"] == "3" and expected["ben"]["total"] == "2" and expected["cat"]["total"] == "1"

    out = tmp_path / "out"
    _install_fake_runner(monkeypatch, interrupt_after=2)
    first = batch.grade_batch(lesson, subs, out, workers=1, progress=False, log=lambda *a: None)
    assert first.interrupted and first.exit_code == 130
    partial = gradebook(out)
    assert sum(row["status"] == grade.NOT_GRADED for row in partial.values()) == 2
    assert len(list((out / "results").glob("*.json"))) == 3          # two graded + the invalid one

    calls = _install_fake_runner(monkeypatch)
    second = batch.grade_batch(lesson, subs, out, workers=2, progress=False, log=lambda *a: None)
    assert second.exit_code == 0 and second.skipped == 3 and len(calls) == 2
    assert gradebook(out) == expected

    calls = _install_fake_runner(monkeypatch)                         # nothing to do the third time
    assert batch.grade_batch(lesson, subs, out, progress=False, log=lambda *a: None).skipped == 5 and not calls
    F.write(F.submission(lesson, {DB: "def double(x):\n    return x  # WRONG"}), subs / "ann.ipynb")
    batch.grade_batch(lesson, subs, out, progress=False, log=lambda *a: None)
    assert len(calls) == 1 and gradebook(out)["ann"]["total"] == "1"  # a changed submission is graded again
    calls = _install_fake_runner(monkeypatch)
    batch.grade_batch(lesson, subs, out, force=True, progress=False, log=lambda *a: None)
    assert len(calls) == 4


def test_grader_errors_make_the_exit_status_nonzero_and_are_retried(tmp_path, lesson, monkeypatch):
    subs = tmp_path / "subs"
    F.write(F.read(lesson), subs / "ann.ipynb")

    async def broken_pool(jobs, limits, *, workers, on_done=None, **options):
        for index, (steps, options) in enumerate(jobs):
            outcome = RunOutcome([StepOutcome(s) for s in steps], stop=runner.GRADER_ERROR,
                                 stop_detail="the kernel did not start")
            on_done(index, outcome)

    monkeypatch.setattr(runner, "run_pool", broken_pool)
    monkeypatch.setattr(batch, "_reference_points", lambda *a: {RM: 1, DB: 2})
    summary = batch.grade_batch(lesson, subs, tmp_path / "out", progress=False, log=lambda *a: None)
    assert summary.exit_code == 1 and result(tmp_path / "out", "ann")["status"] == runner.GRADER_ERROR
    calls = _install_fake_runner(monkeypatch)
    assert batch.grade_batch(lesson, subs, tmp_path / "out", progress=False, log=lambda *a: None).exit_code == 0
    assert calls == [0]


def test_grade_command_refuses_a_bad_source(tmp_path, capsys):
    (tmp_path / "subs").mkdir()
    bad = F.write(nbformat.v4.new_notebook(), tmp_path / "lesson.ipynb")
    assert main(["grade", str(bad), str(tmp_path / "subs"), "--out", str(tmp_path / "out")]) == 2
    assert "no cell carries an exercise id" in capsys.readouterr().err


# -- end to end, with real kernels ----------------------------------------------------------------


def _marked_processes(marker):
    """Processes whose environment carries `marker` (kernels and anything they started)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if marker.encode() in Path(f"/proc/{entry}/environ").read_bytes():
                    found.append(int(entry))
            except OSError:
                pass
    return found


@pytest.mark.slow
def test_solution_gets_full_marks_and_the_release_gets_zero(tmp_path, lesson):
    subs = tmp_path / "subs"
    F.write(F.read(lesson), subs / "solution.ipynb")
    F.write(F.released(lesson), subs / "student.ipynb")
    out = tmp_path / "out"
    assert main(["grade", str(lesson), str(subs), "--out", str(out), "--workers", "2", "--no-progress"]) == 0
    book = gradebook(out)
    assert book["solution"]["total"] == book["solution"]["max_total"] == "3"
    assert book["student"]["total"] == "0" and book["student"]["status"] == "graded"
    assert [e["status"] for e in result(out, "student")["exercises"]] == ["not implemented"] * 2
    assert [e["status"] for e in result(out, "solution")["exercises"]] == ["passed"] * 2
    assert (out / "feedback" / "student.md").exists() and (out / "grades.json").exists()


HOSTILE = {
    # student: (answers, other submission() options, expected status, expected exercise statuses, total)
    "correct": ({}, {}, "graded", ["passed", "passed"], 3),
    "timeout": ({RM: "def row_means(x):\n    while x.shape[0] == 1:\n        pass\n    return x.mean(axis=1)"}, {},
                "timeout", ["timeout", "passed"], 2),
    "memory": ({RM: "hog = []\nfor _ in range(100):\n    hog.append(bytearray(64 * 2**20))"}, {},
               "memory", ["error", "passed"], 2),
    "osexit": ({RM: "import os\nos._exit(0)"}, {}, "kernel died", ["not run", "not run"], 0),
    "segfault": ({RM: "import ctypes\nctypes.string_at(0)"}, {}, "kernel died", ["not run", "not run"], 0),
    "flood": ({RM: "while True:\n    print('spam ' * 1000)"}, {}, "output too large", ["not run", "not run"], 0),
    "redefine": ({RM: "check_row_means = lambda f: None\ndef row_means(x):\n    return x"}, {},
                 "tampering", ["not run", "not run"], 0),
    "patch": ({RM: "import course_utils.checking as c\nc.find_mismatch = lambda *a, **k: None\n"
                   "def row_means(x):\n    return x"}, {}, "tampering", ["not run", "not run"], 0),
    "broken": ({RM: "def row_means(x)\n    return x.mean(1)", DB: "import sys\nsys.exit(3)"}, {},
               "graded", ["error", "error"], 0),
    "forged": ({RM: "from IPython.display import publish_display_data\n"
                    "publish_display_data({'application/vnd.course.check+json': {'exercise': 'welcome.row_means', "
                    "'status': 'passed', 'points': 1, 'max_points': 1, 'message': 'forged'}, 'text/plain': 'ok'})\n"
                    "def row_means(x):\n    raise NotImplementedError"},
               {"extra_cells": ["def check_double(f):\n    print('all good')"],
                "edit": lambda nb: [c.__setitem__("source", "pass") for c in nb.cells
                                    if c.metadata.get("course", {}).get("role") == "check"]},
               "graded", ["not implemented", "passed"], 2),
    "orphan": ({RM: "import os, subprocess\nassert 'GRADER_API_TOKEN' not in os.environ\n"
                    "subprocess.Popen(['sleep', '9876'])\ndef row_means(x):\n    return x.mean(axis=1)"}, {"drop": [DB]},
               "graded", ["passed", "missing"], 1),
}


@pytest.mark.slow
def test_hostile_and_broken_submissions_each_get_their_status(tmp_path, lesson, monkeypatch):
    monkeypatch.setenv("GRADER_API_TOKEN", "not for students")   # credentials stay out of the kernels
    subs = tmp_path / "subs"
    for student, (answers, options, *_ ) in HOSTILE.items():
        F.write(F.submission(lesson, answers, **options), subs / f"{student}.ipynb")
    F.write(F.released(lesson), subs / "stub.ipynb")
    F.write(F.submission(lesson, {RM: "def row_means(x):\n    return x.mean(axis=0)",
                                  DB: "def double(x):\n    return np.abs(x) * 2"}), subs / "wrong" / "00_fixture.ipynb")
    F.write(F.read(lesson), subs / "wrong" / "scratch.ipynb")
    (subs / "notes.txt").write_text("not a notebook")
    (subs / "garbage.ipynb").write_text("{oops")
    (subs / "old.ipynb").write_text(json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": []}))
    F.write(nbformat.v4.new_notebook(), subs / "empty.ipynb")
    other = nbformat.v4.new_notebook()
    other.cells = [nbformat.v4.new_code_cell("def sigmoid(x): ...", metadata={
        "course": {"exercise": "activations.sigmoid", "role": "solution"}})]
    F.write(other, subs / "other_lesson.ipynb")
    F.write(F.read(lesson), subs / "dup.ipynb")
    F.write(F.read(lesson), subs / "dup" / "00_fixture.ipynb")

    marker = f"COURSE_TEST_{uuid.uuid4().hex}"
    out = tmp_path / "out"
    limits = Limits(cell_timeout=12, total_timeout=120, memory_mb=3000, max_output_bytes=2**20)
    summary = batch.grade_batch(lesson, subs, out, workers=2, limits=limits, progress=False, log=lambda *a: None,
                                env={"COURSE_TEST_MARKER": marker})
    assert summary.exit_code == 0
    book = gradebook(out)
    for student, (_, _, status, statuses, total) in HOSTILE.items():
        record = result(out, student)
        assert (record["status"], [e["status"] for e in record["exercises"]]) == (status, statuses), \
            (student, record["message"], record["exercises"])
        assert book[student]["total"] == str(total), student
    assert "SIGSEGV" in result(out, "segfault")["message"]
    assert "check_row_means" in result(out, "redefine")["message"]
    assert "find_mismatch" in result(out, "patch")["message"]
    broken = result(out, "broken")["exercises"]
    assert "SyntaxError" in broken[0]["message"] and "sys.exit" in broken[1]["message"]
    assert "ignored" in " ".join(result(out, "forged")["notes"])
    assert [e["status"] for e in result(out, "stub")["exercises"]] == ["not implemented"] * 2
    wrong = result(out, "wrong")
    assert [e["status"] for e in wrong["exercises"]] == ["failed", "failed"]
    assert "axis=1" in wrong["exercises"][0]["hint"] and "hidden tests" in wrong["exercises"][1]["message"]
    for student, status in [("notes", "not a notebook"), ("garbage", "invalid json"), ("old", "unsupported format"),
                            ("empty", "empty"), ("other_lesson", "wrong lesson"), ("dup", "duplicate")]:
        assert book[student]["status"] == status and book[student]["total"] == "0", student
    assert all(row["max_total"] == "3" for row in book.values())
    assert len(list((out / "feedback").glob("*.md"))) == len(book)
    for path in out.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert F.HIDDEN_SECRET not in text and F.HIDDEN_EXPECTED not in text, path
    assert _marked_processes(marker) == []                    # no kernel, no `sleep 9876` left behind


@pytest.mark.slow
def test_a_grading_run_interrupted_with_ctrl_c_resumes_to_the_same_gradebook(tmp_path, lesson):
    subs = tmp_path / "subs"
    F.write(F.read(lesson), subs / "ann.ipynb")
    F.write(F.submission(lesson, {RM: "def row_means(x):\n    return x.mean(axis=0)"}), subs / "ben.ipynb")
    F.write(F.released(lesson), subs / "cat.ipynb")
    F.write(F.submission(lesson, drop=[RM]), subs / "dan.ipynb")
    clean = tmp_path / "clean"
    assert main(["grade", str(lesson), str(subs), "--out", str(clean), "--workers", "2", "--no-progress"]) == 0

    out = tmp_path / "out"
    marker = f"COURSE_TEST_{uuid.uuid4().hex}"
    command = [sys.executable, "-m", "course_utils", "grade", str(lesson), str(subs), "--out", str(out),
               "--workers", "1", "--no-progress"]
    process = subprocess.Popen(command, cwd=REPO, env={**os.environ, "COURSE_TEST_MARKER": marker},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while not list((out / "results").glob("*.json")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=60)[0].decode()
    assert process.returncode == 130, output
    assert "interrupted" in output
    done = len(list((out / "results").glob("*.json")))
    assert 1 <= done < 4
    assert _marked_processes(marker) == []

    assert main(["grade", str(lesson), str(subs), "--out", str(out), "--workers", "2", "--no-progress"]) == 0
    assert gradebook(out) == gradebook(clean)
