"""`course status`: the learner's progress table."""

from pathlib import Path

import pytest

import grading_fixtures as F
from course_utils.cli import main
from course_utils.grading import status
from course_utils.grading.runner import RunOutcome, Step, StepOutcome

RM, RL = F.EXERCISES


def _result(exercise, state, message=""):
    return {"exercise": exercise, "status": state, "points": 0.0, "max_points": 1.0, "message": message,
            "hint": "", "device": "cpu", "cases": 1, "max_error": None}


def test_rows_follow_the_notebook_and_the_last_result_wins(tmp_path):
    notebook = F.read(F.build_lesson(tmp_path))
    steps = [Step("check_row_means(row_means)", kind="check", exercise=RM, collect=True),
             Step("check_row_means(row_means)", kind="check", exercise=RM, collect=True),
             Step("check_relu(relu)", kind="check", exercise=RL, collect=True),
             Step("check_row_means(lambda x: x)  # a demo of a wrong version", kind="cell", collect=True)]
    outcome = RunOutcome([
        StepOutcome(steps[0], status="error", results=[_result(RM, "failed", "on case x, wrong\nsecond line")]),
        StepOutcome(steps[1], status="ok", results=[_result(RM, "passed", "7 cases match")]),
        StepOutcome(steps[2], status="error", ename="NameError", evalue="name 'relu' is not defined"),
        StepOutcome(steps[3], status="error", results=[_result(RM, "failed", "a demo")]),
    ])
    rows = status._rows(Path("00_fixture.ipynb"), notebook, outcome)
    assert [(r.exercise, r.status) for r in rows] == [(RM, "passed"), (RL, "error")]
    assert rows[0].message == "" and "NameError: name 'relu' is not defined" in rows[1].message


def test_a_cell_the_grader_would_refuse_shows_as_rejected(tmp_path):
    lesson = F.build_lesson(tmp_path)
    notebook = F.submission(lesson, {RL: "import torch\ndef relu(x):\n    return torch.relu(torch.tensor(x)).numpy()"})
    outcome = RunOutcome([StepOutcome(Step("check_relu(relu)", kind="check", exercise=RL, collect=True),
                                      status="ok", results=[_result(RL, "passed")])])
    rows = {r.exercise: r for r in status._rows(Path("00_fixture.ipynb"), notebook, outcome)}
    assert rows[RL].status == "rejected" and "line 1" in rows[RL].message and "numpy and math" in rows[RL].message


@pytest.mark.parametrize("width", [80, 120])
def test_table_shows_each_exercise_with_its_message_and_hint_wrapped_to_the_terminal(width):
    hint = "exp(-x) overflows for large negative x; rewrite the formula so that exp only sees non-positive numbers"
    rows = [status.Row("00_welcome", "welcome.row_means", "passed"),
            status.Row("01_activations", "activations.sigmoid", "failed", "on case x = [-1000] (saturation), "
                       "output is NaN at index (0,)\nmore detail " + "x" * 200, hint),
            status.Row("01_activations", "activations.tanh", "not implemented")]
    text = status.table(rows, width=width)
    lines = text.splitlines()
    assert lines[0] == "00_welcome" and "✔ welcome.row_means" in lines[1] and lines[1].endswith("passed")
    assert any(line.strip().startswith("✘ activations.sigmoid") and line.endswith("failed") for line in lines)
    assert "saturation" in text and "more detail" in text and "Hint: exp(-x)" in text
    assert " ".join(text.split()).count("non-positive numbers") == 1          # the hint, whole
    assert all(len(line) <= width for line in lines)
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
    first = F.write(F.submission(lesson, drop=[RL]), learner / "00_fixture.ipynb")
    second = F.released(lesson)
    for cell in second.cells:
        if cell.metadata.get("course") == {"exercise": RL, "role": "solution"}:
            cell.source = "def relu(x):\n    return np.abs(x)"
    second = F.write(second, learner / "01_fixture.ipynb")
    before = first.read_bytes()
    assert main(["status", str(first), str(second)]) == 0
    out = capsys.readouterr().out
    blocks = {block.splitlines()[0]: block for block in out.split("\n\n") if block.startswith(("00_", "01_"))}
    assert f"✔ {RM}" in blocks["00_fixture"]
    assert f"! {RL}" in blocks["00_fixture"] and "NameError" in blocks["00_fixture"]
    assert f"… {RM}" in blocks["01_fixture"]
    assert f"✘ {RL}" in blocks["01_fixture"] and "on case" in blocks["01_fixture"] and "Hint:" in blocks["01_fixture"]
    assert "1/4 exercises passed" in out
    assert first.read_bytes() == before        # the learner's notebook is not modified
