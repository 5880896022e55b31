"""`course status`: the learner's progress table."""

from pathlib import Path

import pytest

import grading_fixtures as F
from course_utils.cli import main
from course_utils.grading import status
from course_utils.grading.runner import RunOutcome, Step, StepOutcome

RM, DB = F.EXERCISES


def _result(exercise, state, message=""):
    return {"exercise": exercise, "status": state, "points": 0.0, "max_points": 1.0, "message": message,
            "hint": "", "device": "cpu", "cases": 1, "max_error": None}


def test_rows_follow_the_notebook_and_the_last_result_wins(tmp_path):
    notebook = F.read(F.build_lesson(tmp_path))
    steps = [Step("check_row_means(row_means)", kind="check", exercise=RM, collect=True),
             Step("check_row_means(row_means)", kind="check", exercise=RM, collect=True),
             Step("check_double(double)", kind="check", exercise=DB, collect=True),
             Step("check_row_means(lambda x: x)  # a demo of a wrong version", kind="cell", collect=True)]
    outcome = RunOutcome([
        StepOutcome(steps[0], status="error", results=[_result(RM, "failed", "on case x, wrong\nsecond line")]),
        StepOutcome(steps[1], status="ok", results=[_result(RM, "passed", "7 cases match")]),
        StepOutcome(steps[2], status="error", ename="NameError", evalue="name 'double' is not defined"),
        StepOutcome(steps[3], status="error", results=[_result(RM, "failed", "a demo")]),
    ])
    rows = status._rows(Path("00_fixture.ipynb"), notebook, outcome)
    assert [(r.exercise, r.status) for r in rows] == [(RM, "passed"), (DB, "error")]
    assert rows[0].message == "" and "NameError: name 'double' is not defined" in rows[1].message


def test_table_shows_one_line_per_exercise_and_a_summary():
    rows = [status.Row("00_welcome", "welcome.row_means", "passed"),
            status.Row("01_activations", "activations.sigmoid", "failed", "on case x = [-1000] (saturation), "
                       "output is NaN at index (0,)\nmore detail that is not shown " + "x" * 200),
            status.Row("01_activations", "activations.tanh", "not implemented")]
    text = status.table(rows, width=100)
    lines = text.splitlines()
    assert lines[0].split() == ["lesson", "exercise", "status", "message"]
    assert "✔ passed" in lines[2] and "✘ failed" in lines[3] and "… not implemented" in lines[4]
    assert "saturation" in lines[3] and "more detail" not in text
    assert all(len(line) <= 100 for line in lines)
    assert lines[-1] == "1/3 exercises passed (1 failed, 1 not implemented)"


def test_default_notebooks(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01_b.ipynb").write_text("{}")
    (tmp_path / "notebooks" / "00_a.ipynb").write_text("{}")
    assert [p.name for p in status.default_notebooks(tmp_path)] == ["00_a.ipynb", "01_b.ipynb"]
    (tmp_path / "mine.ipynb").write_text("{}")
    assert [p.name for p in status.default_notebooks(tmp_path)] == ["mine.ipynb"]


@pytest.mark.slow
def test_status_runs_the_learners_notebooks(tmp_path, capsys):
    lesson = F.build_lesson(tmp_path / "lesson")
    learner = tmp_path / "learner"
    first = F.write(F.submission(lesson, drop=[DB]), learner / "00_fixture.ipynb")
    second = F.released(lesson)
    for cell in second.cells:
        if cell.metadata.get("course") == {"exercise": DB, "role": "solution"}:
            cell.source = "def double(x):\n    return x + 1"
    second = F.write(second, learner / "01_fixture.ipynb")
    before = first.read_bytes()
    assert main(["status", str(first), str(second)]) == 0
    out = capsys.readouterr().out
    lines = {tuple(line.split()[:2]): line for line in out.splitlines() if line.startswith(("00_", "01_"))}
    assert "✔ passed" in lines[("00_fixture", RM)]
    assert "! error" in lines[("00_fixture", DB)] and "NameError" in lines[("00_fixture", DB)]
    assert "… not implemented" in lines[("01_fixture", RM)]
    assert "✘ failed" in lines[("01_fixture", DB)] and "on case" in lines[("01_fixture", DB)]
    assert "1/4 exercises passed" in out
    assert first.read_bytes() == before        # the learner's notebook is not modified
