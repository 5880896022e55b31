"""`course grade`: submissions, the graded run, scores, reports, resume; end to end with hostile submissions."""

import concurrent.futures as futures
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
from course_utils.grading import batch, grade, report, runner, seal, submissions
from course_utils.grading.grade import GradeError, load_source, plan
from course_utils.grading.runner import Limits
from course_utils.grading.session import WorkerError
from course_utils.grading.submissions import discover, read_notebook
from course_utils.remote import serve_call

REPO = Path(__file__).resolve().parent.parent
RM, RL = F.EXERCISES


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
    (lambda nb: nb.cells[7].metadata.__setitem__("course", {"exercise": "activations.relu", "role": "demo"}),
     "no check cell"),
    (lambda nb: nb.cells[7].__setitem__("source", "x = check_relu(relu)"), "only calls"),
    (lambda nb: nb.cells[7].__setitem__("source", "check_nothing(relu)"), "not a registered check"),
    (lambda nb: nb.cells[3].__setitem__("source", "### BEGIN SOLUTION\nx = 1"), "never closed"),
])
def test_a_source_that_cannot_be_graded_is_refused(tmp_path, lesson, edit, problem):
    notebook = F.read(lesson)
    edit(notebook)
    path = F.write(notebook, tmp_path / "bad.ipynb")
    with pytest.raises(GradeError, match=problem):
        load_source(path)


# -- the graded run -------------------------------------------------------------------------------


class InProcessSession:
    """Stands in for the sandboxed worker in fast tests: runs cells and calls in a namespace here."""

    def __init__(self, fail_at=None):
        self.namespace = {"__name__": "__main__"}
        self.cells = []
        self.output_bytes = 0
        self.fail_at = fail_at

    def run_cell(self, code, filename, timeout):
        self.cells.append(code)
        if self.fail_at and self.fail_at in code:
            raise WorkerError("died", "it was killed by SIGKILL")
        try:
            exec(compile(code, filename, "exec"), self.namespace)
            return {"ok": True}
        except BaseException as err:
            return {"ok": False, "error": {"type": type(err).__name__, "message": str(err), "line": None}}

    def transport(self, request):
        return serve_call(self.namespace, request)


def graded(source, notebook, session=None, limits=None):
    the_plan = plan(source, notebook)
    run = grade.run_plan(source, the_plan, session or InProcessSession(), limits or Limits(), time.monotonic() + 300)
    return grade.score(source, the_plan, run)


def by_exercise(scored):
    return {e["exercise"]: e for e in scored["exercises"]}


def test_only_solution_cells_come_from_the_submission(lesson):
    source = load_source(lesson)

    def tamper(nb):
        for cell in nb.cells:
            if cell.metadata.get("course", {}).get("role") == "check":
                cell.source = "pass  # the student emptied the check"
        nb.cells.insert(1, nbformat.v4.new_code_cell("def check_relu(f):\n    return None"))

    notebook = F.submission(lesson, {RM: "def row_means(x):\n    return x.mean(1)"}, drop=[RL], edit=tamper)
    the_plan = plan(source, notebook)
    kinds = [(step[0], step[1] if step[0] != "cell" else None) for step in the_plan.steps]
    assert kinds == [("cell", None), ("solution", RM), ("check", RM), ("solution", RL), ("check", RL), ("cell", None)]
    code = "\n".join(step[2] for step in the_plan.steps if step[0] != "check")
    assert "def check_relu(f)" not in code and "the student emptied" not in code
    assert the_plan.steps[1][2] == "def row_means(x):\n    return x.mean(1)"
    assert the_plan.missing == [RL] and "raise NotImplementedError" in the_plan.steps[3][2]   # missing: the stub
    calls = the_plan.steps[4][2]
    assert [(c.check, c.learners, c.kwargs, c.hidden) for c in calls] == [
        ("check_relu", ["relu"], {}, False), ("check_relu", ["relu"], {"seed": F.HIDDEN_SEED}, True)]
    # what the worker runs never holds a check cell, a hidden test or an instructor solution
    worker_code = "\n".join(step[2] for step in the_plan.steps if step[0] in ("cell", "solution"))
    assert "check_relu(relu" not in worker_code and str(F.HIDDEN_SEED) not in worker_code
    assert not any(line in worker_code for line in F.SOLUTION_LINES[:2])


def test_several_student_cells_for_one_exercise_all_run(lesson):
    source = load_source(lesson)

    def split(nb):
        extra = nbformat.v4.new_code_cell("def helper(x):\n    return np.maximum(x, 0)", metadata={
            "course": {"exercise": RL, "role": "solution"}})
        nb.cells.insert(6, extra)

    notebook = F.submission(lesson, {RL: "def relu(x):\n    return helper(x)"}, edit=split)
    mine = [step[2] for step in plan(source, notebook).steps if step[0] == "solution" and step[1] == RL]
    assert mine == ["def helper(x):\n    return np.maximum(x, 0)", "def relu(x):\n    return helper(x)"]
    assert by_exercise(graded(source, notebook))[RL]["status"] == "passed"


def test_the_verdict_comes_from_the_grader_and_hidden_tests_can_fail_an_exercise(lesson):
    source = load_source(lesson)
    scored = graded(source, F.read(lesson))
    assert scored["status"] == grade.GRADED
    assert [(e["status"], e["points"], e["max_points"]) for e in scored["exercises"]] == [
        ("passed", 1.0, 1.0), ("passed", 1.0, 1.0)]
    # right on every visible case, wrong on a shape only the hidden seed produces
    from course_utils.checks.activations import _relu_like_cases

    visible = {x.shape for _, x in _relu_like_cases(0)}
    hidden_only = sorted({x.shape for _, x in _relu_like_cases(F.HIDDEN_SEED)} - visible)[0]
    overfit = f"def relu(x):\n    return -np.abs(x) if x.shape == {hidden_only!r} else np.maximum(x, 0)"
    entry = by_exercise(graded(source, F.submission(lesson, {RL: overfit})))[RL]
    assert entry["status"] == "failed" and entry["points"] == 0 and "hidden tests" in entry["message"]
    assert str(F.HIDDEN_SEED) not in json.dumps(entry) and not entry["hint"]


def test_wrong_and_broken_solutions_are_named(lesson):
    source = load_source(lesson)
    notebook = F.submission(lesson, {RM: "def row_means(x)\n    return x.mean(1)",
                                     RL: "def relu(x):\n    return np.maximum(x, 0) + 1"})
    entries = by_exercise(graded(source, notebook))
    assert entries[RM]["status"] == "failed" and "your solution cell raised SyntaxError" in entries[RM]["message"]
    assert entries[RL]["status"] == "failed" and entries[RL]["points"] == 0
    raising = F.submission(lesson, {RL: "def relu(x):\n    raise ValueError('boom')"})
    assert "raised ValueError" in by_exercise(graded(source, raising))[RL]["message"]


def test_a_rejected_cell_is_not_run_and_says_which_rule(lesson):
    source = load_source(lesson)
    notebook = F.submission(lesson, {RL: "import torch\ndef relu(x):\n    return torch.relu(torch.tensor(x)).numpy()"})
    session = InProcessSession()
    entries = by_exercise(graded(source, notebook, session))
    assert entries[RL]["status"] == grade.REJECTED and entries[RL]["points"] == 0
    assert "line 1" in entries[RL]["message"] and "numpy and math" in entries[RL]["message"]
    assert not any("torch.relu" in code for code in session.cells)
    assert entries[RM]["status"] == "passed"


def test_a_dead_worker_stops_the_run_and_keeps_what_was_scored(lesson):
    source = load_source(lesson)
    notebook = F.submission(lesson, {RL: "def relu(x):\n    return np.maximum(x, 0)  # KILL"})
    scored = graded(source, notebook, InProcessSession(fail_at="KILL"))
    assert scored["status"] == grade.CRASHED and "SIGKILL" in scored["message"]
    assert [e["status"] for e in scored["exercises"]] == ["passed", grade.NOT_RUN]


def test_infrastructure_failures_are_retried_before_a_student_is_blamed(lesson, monkeypatch):
    source = load_source(lesson)
    starts = []

    class Flaky(InProcessSession):
        def __init__(self, limits, sandboxed=True):
            super().__init__()

        def start(self):
            starts.append(1)
            if len(starts) < 3:
                raise WorkerError("start", "bubblewrap: cannot create namespace")
            return self

        def close(self):
            pass

    monkeypatch.setattr(grade, "WorkerSession", Flaky)
    scored = grade.grade_notebook(source, F.read(lesson), Limits(), retries=2)
    assert len(starts) == 3 and scored["status"] == grade.GRADED and scored["attempts"] == 3
    starts.clear()
    assert grade.grade_notebook(source, F.read(lesson), Limits(), retries=1)["status"] == runner.GRADER_ERROR


def test_student_text_quoting_instructor_code_is_redacted(lesson):
    source = load_source(lesson)
    solution_line = F.SOLUTION_LINES[2]
    half = len(solution_line) // 2   # assembled at run time, so it is not the student's own code
    notebook = F.submission(lesson, {RL: f"def relu(x):\n    raise ValueError({solution_line[:half]!r} + "
                                         f"{solution_line[half:]!r})"})
    text = json.dumps(graded(source, notebook))
    assert solution_line not in text and "[instructor code removed]" in text


def _passed(exercise, points, message="fine"):
    return {"exercise": exercise, "status": "passed", "points": float(points), "max_points": float(points),
            "message": message, "hint": "", "device": "cpu", "cases": 3, "max_error": 0.0}


def test_reports(tmp_path):
    records = [
        {"student": "=cmd()", "status": "graded", "message": "", "exercises": [
            dict(_passed(RM, 1)), dict(_passed(RL, 2), status="failed", points=0.0, message="x ``` y", hint="h")]},
        {"student": "bob", "status": "invalid json", "message": "bob.ipynb is not valid JSON", "exercises": []},
    ]
    report.write_reports(tmp_path, "00_fixture.ipynb", [RM, RL], records, {RM: 1, RL: 2},
                         {"=cmd()": "cmd", "bob": "bob"}, sandbox=batch.SANDBOXED)
    rows = list(csv.reader(open(tmp_path / "gradebook.csv")))
    assert rows[0] == ["student", RM, RL, "total", "max_total", "status", "message", "sandbox"]
    assert rows[1][:6] == ["'=cmd()", "1", "0", "1", "3", "graded"] and rows[1][-1] == batch.SANDBOXED
    assert rows[2][:6] == ["bob", "", "", "0", "3", "invalid json"]
    feedback = (tmp_path / "feedback" / "cmd.md").read_text()
    assert "**Score: 1 / 3**" in feedback and "````text\nx ``` y\n````" in feedback and "h" in feedback
    data = json.loads((tmp_path / "grades.json").read_text())
    assert data["statuses"] == {"graded": 1, "invalid json": 1} and data["students"][0]["total"] == 1
    assert data["sandbox"] == batch.SANDBOXED
    assert not list(tmp_path.rglob(".*.tmp-*"))  # atomic writes leave no temporary files


# -- batches, resume, seals, exit status (grading stubbed out) ------------------------------------


def _fake_grading(monkeypatch, interrupt_after=None, status=None):
    """Grade in this process: a solution containing WRONG fails, anything else passes."""
    calls = []

    def fake_grade_one(source_path, notebook_path, limits, sandboxed):
        if interrupt_after is not None and len(calls) >= interrupt_after:
            raise KeyboardInterrupt
        calls.append(notebook_path)
        if status:
            return {"status": status, "message": "the sandbox could not start", "exercises": []}
        text = Path(notebook_path).read_text()
        exercises = []
        for exercise, points in ((RM, 1.0), (RL, 1.0)):
            wrong = f"WRONG {exercise}" in text
            exercises.append({"exercise": exercise, "status": "failed" if wrong else "passed",
                              "points": 0.0 if wrong else points, "max_points": points, "message": "", "hint": ""})
        return {"status": grade.GRADED, "message": "", "exercises": exercises}

    class InlineExecutor(futures.ThreadPoolExecutor):
        def submit(self, fn, *args):
            future = futures.Future()
            try:
                future.set_result(fn(*args))
            except BaseException as err:  # Ctrl-C surfaces when its result is read, as with a real pool
                future.set_exception(err)
            return future

    monkeypatch.setattr(batch, "_grade_one", fake_grade_one)
    monkeypatch.setattr(batch, "_executor", lambda workers: InlineExecutor(1))
    monkeypatch.setattr(batch.futures, "as_completed", lambda pending: list(pending))  # in submission order
    monkeypatch.setattr(batch.isolation, "probe", lambda: None)
    return calls


def _batch(tmp_path, lesson):
    subs = tmp_path / "subs"
    F.write(F.read(lesson), subs / "ann.ipynb")
    F.write(F.submission(lesson, {RM: f"def row_means(x):\n    return x  # WRONG {RM}"}), subs / "ben.ipynb")
    F.write(F.submission(lesson, {RL: f"def relu(x):\n    return x  # WRONG {RL}"}), subs / "cat.ipynb")
    F.write(F.read(lesson), subs / "dan" / "00_fixture.ipynb")
    (subs / "eve.ipynb").write_text("{oops")
    return subs


def quiet(*args):
    pass


def test_interrupted_run_resumes_to_the_same_gradebook(tmp_path, lesson, monkeypatch):
    monkeypatch.setenv(seal.KEY_ENV, str(tmp_path / "grader.key"))
    subs = _batch(tmp_path, lesson)
    _fake_grading(monkeypatch)
    clean = batch.grade_batch(lesson, subs, tmp_path / "clean", workers=2, progress=False, log=quiet)
    assert clean.exit_code == 0 and clean.statuses == {"graded": 4, "invalid json": 1}
    expected = gradebook(tmp_path / "clean")
    assert expected["ann"]["total"] == "2" and expected["ben"]["total"] == "1" and expected["cat"]["total"] == "1"

    out = tmp_path / "out"
    _fake_grading(monkeypatch, interrupt_after=2)
    first = batch.grade_batch(lesson, subs, out, workers=1, progress=False, log=quiet)
    assert first.interrupted and first.exit_code == 130
    assert sum(row["status"] == grade.NOT_GRADED for row in gradebook(out).values()) == 2
    assert len(list((out / "results").glob("*.json"))) == 3          # two graded + the invalid one

    calls = _fake_grading(monkeypatch)
    second = batch.grade_batch(lesson, subs, out, workers=2, progress=False, log=quiet)
    assert second.exit_code == 0 and second.skipped == 3 and len(calls) == 2
    assert gradebook(out) == expected

    calls = _fake_grading(monkeypatch)                                # nothing to do the third time
    assert batch.grade_batch(lesson, subs, out, progress=False, log=quiet).skipped == 5 and not calls
    F.write(F.submission(lesson, {RL: f"def relu(x):\n    return x  # WRONG {RL}"}), subs / "ann.ipynb")
    batch.grade_batch(lesson, subs, out, progress=False, log=quiet)
    assert len(calls) == 1 and gradebook(out)["ann"]["total"] == "1"  # a changed submission is graded again
    calls = _fake_grading(monkeypatch)
    batch.grade_batch(lesson, subs, out, force=True, progress=False, log=quiet)
    assert len(calls) == 4


def test_a_resume_trusts_only_records_this_grader_sealed(tmp_path, lesson, monkeypatch):
    monkeypatch.setenv(seal.KEY_ENV, str(tmp_path / "grader.key"))
    subs = _batch(tmp_path, lesson)
    out = tmp_path / "out"
    calls = _fake_grading(monkeypatch)
    batch.grade_batch(lesson, subs, out, progress=False, log=quiet)
    assert gradebook(out)["ben"]["total"] == "1"
    forged = result(out, "ben")
    forged["exercises"][0].update(status="passed", points=1.0)       # a hand-edited (or planted) record
    (out / "results" / "ben.json").write_text(json.dumps(forged))
    planted = dict(result(out, "cat"), seal="0" * 64)
    (out / "results" / "cat.json").write_text(json.dumps(planted))
    messages = []
    calls.clear()
    batch.grade_batch(lesson, subs, out, progress=False, log=messages.append)
    assert sorted(Path(p).stem for p in calls) == ["ben", "cat"]
    assert gradebook(out)["ben"]["total"] == "1" and "not sealed by this grader" in " ".join(messages)
    assert seal.is_sealed(result(out, "ben"), seal.grader_key())
    assert oct((tmp_path / "grader.key").stat().st_mode & 0o777) == "0o600"


def test_grader_errors_make_the_exit_status_nonzero_and_are_retried(tmp_path, lesson, monkeypatch):
    monkeypatch.setenv(seal.KEY_ENV, str(tmp_path / "grader.key"))
    subs = tmp_path / "subs"
    F.write(F.read(lesson), subs / "ann.ipynb")
    _fake_grading(monkeypatch, status=runner.GRADER_ERROR)
    summary = batch.grade_batch(lesson, subs, tmp_path / "out", progress=False, log=quiet)
    assert summary.exit_code == 1 and result(tmp_path / "out", "ann")["status"] == runner.GRADER_ERROR
    calls = _fake_grading(monkeypatch)
    assert batch.grade_batch(lesson, subs, tmp_path / "out", progress=False, log=quiet).exit_code == 0
    assert len(calls) == 1


def test_grading_refuses_to_run_unsandboxed_unless_told(tmp_path, lesson, monkeypatch, capsys):
    monkeypatch.setenv(seal.KEY_ENV, str(tmp_path / "grader.key"))
    subs = tmp_path / "subs"
    F.write(F.read(lesson), subs / "ann.ipynb")
    _fake_grading(monkeypatch)
    monkeypatch.setattr(batch.isolation, "probe", lambda: "bubblewrap (bwrap) is not installed")
    assert main(["grade", str(lesson), str(subs), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "bwrap" in err and "--unsafe-no-sandbox" in err and not (tmp_path / "out").exists()
    assert main(["grade", str(lesson), str(subs), "--out", str(tmp_path / "out"), "--no-progress",
                 "--unsafe-no-sandbox"]) == 0
    assert "WARNING" in capsys.readouterr().err
    assert gradebook(tmp_path / "out")["ann"]["sandbox"] == batch.UNSANDBOXED


def test_grade_command_refuses_a_bad_source(tmp_path, capsys):
    (tmp_path / "subs").mkdir()
    bad = F.write(nbformat.v4.new_notebook(), tmp_path / "lesson.ipynb")
    assert main(["grade", str(bad), str(tmp_path / "subs"), "--out", str(tmp_path / "out")]) == 2
    assert "no cell carries an exercise id" in capsys.readouterr().err




@pytest.mark.slow
def test_without_the_sandbox_the_worker_still_runs_apart_and_the_verdict_is_computed_here(lesson):
    source = load_source(lesson)
    solution = grade.grade_notebook(source, F.read(lesson), Limits(), sandboxed=False)
    assert solution["status"] == grade.GRADED and [e["points"] for e in solution["exercises"]] == [1.0, 1.0]
    stub = grade.grade_notebook(source, F.released(lesson), Limits(), sandboxed=False)
    assert [e["status"] for e in stub["exercises"]] == ["not implemented", "not implemented"]


@pytest.mark.slow
def test_a_grading_run_interrupted_with_ctrl_c_resumes_to_the_same_gradebook(tmp_path, lesson):
    import signal
    import subprocess
    import sys

    env = {**os.environ, seal.KEY_ENV: str(tmp_path / "grader.key")}
    subs = tmp_path / "subs"
    F.write(F.read(lesson), subs / "ann.ipynb")
    F.write(F.submission(lesson, {RM: "def row_means(x):\n    return x.mean(axis=0)"}), subs / "ben.ipynb")
    F.write(F.released(lesson), subs / "cat.ipynb")
    F.write(F.submission(lesson, drop=[RM]), subs / "dan.ipynb")

    def grade_command(out, workers):
        return [sys.executable, "-m", "course_utils", "grade", str(lesson), str(subs), "--out", str(out),
                "--workers", str(workers), "--no-progress"]

    clean = tmp_path / "clean"
    assert subprocess.run(grade_command(clean, 2), cwd=REPO, env=env, capture_output=True).returncode == 0
    out = tmp_path / "out"
    process = subprocess.Popen(grade_command(out, 1), cwd=REPO, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 180
    while not list((out / "results").glob("*.json")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGINT)  # as Ctrl-C in a terminal: the whole foreground group
    output = process.communicate(timeout=120)[0].decode()
    assert process.returncode == 130 and "interrupted" in output, output
    assert 1 <= len(list((out / "results").glob("*.json"))) < 4
    assert subprocess.run(grade_command(out, 2), cwd=REPO, env=env, capture_output=True).returncode == 0
    assert gradebook(out) == gradebook(clean)
