"""`course release`: stubs, hidden tests removed, no leak for any lesson, and the release runs to the end."""

import textwrap
from pathlib import Path

import nbformat
import pytest

import grading_fixtures as F
from course_utils.cli import main
from course_utils.grading import markers
from course_utils.grading.release import ReleaseError, check_released, leaks, release, release_notebook

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
LESSONS = sorted(NOTEBOOKS.glob("*.ipynb"))


def test_solution_region_becomes_a_stub_at_its_indentation():
    source = textwrap.dedent('''\
        def f(xs):
            """Doc."""
            total = 0
            for x in xs:
                ### BEGIN SOLUTION
                total += x * x
                ### END SOLUTION
            return total''')
    student = markers.student_source(source, "code", "demo.f")
    assert "total += x * x" not in student
    assert '        # YOUR CODE HERE\n        raise NotImplementedError(\'demo.f\')\n    return total' in student
    assert 'def f(xs):\n    """Doc."""' in student
    compile(student, "<student>", "exec")  # the stub keeps the cell valid Python


def test_hidden_tests_are_split_off_and_dedented():
    public, hidden = markers.split_hidden("check(f)\n### BEGIN HIDDEN TESTS\nassert f(2) == 4\n### END HIDDEN TESTS\n")
    assert public == "check(f)"
    assert hidden == "assert f(2) == 4\n"
    assert markers.split_hidden("check(f)") == ("check(f)", None)


@pytest.mark.parametrize("source", [
    "### BEGIN SOLUTION\nx = 1",                                   # never closed
    "x = 1\n### END SOLUTION",                                     # END without BEGIN
    "### BEGIN SOLUTION\n### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS\n### END SOLUTION",  # nested
])
def test_markers_that_do_not_pair_up_are_refused(source):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source)]
    with pytest.raises(ReleaseError):
        release_notebook(notebook)


def test_released_fixture_lesson(tmp_path):
    source = F.read(F.build_lesson(tmp_path))
    released = release_notebook(source)
    text = "\n".join(c.source for c in released.cells)
    assert str(F.HIDDEN_SEED) not in text and "HIDDEN TESTS" not in text and "SOLUTION" not in text
    for line in F.SOLUTION_LINES:
        assert line not in text
    assert "_YOUR ANSWER HERE_" in released.cells[5].source  # a markdown answer region
    for before, after in zip(source.cells, released.cells):
        assert after.metadata.get("course") == before.metadata.get("course")  # exercise ids stay
        if after.metadata.get("course", {}).get("role") != "check":
            assert "tags" not in after.metadata or "raises-exception" not in after.metadata["tags"]
        if after.cell_type == "code":
            assert after.outputs == [] and after.execution_count is None
    solutions = [c for c in released.cells if c.metadata.get("course", {}).get("role") == "solution"]
    assert len(solutions) == 2 and all("raise NotImplementedError" in c.source for c in solutions)
    assert released.cells[7].source == "check_relu(relu)"
    # Run All carries on past a failed check in the student version (not in the solution notebook)
    checks = [c for c in released.cells if c.metadata.get("course", {}).get("role") == "check"]
    assert all("raises-exception" in c.metadata.get("tags", []) for c in checks) and len(checks) == 2
    assert not any("raises-exception" in c.metadata.get("tags", []) for c in source.cells)


def test_leaks_notices_a_solution_put_back(tmp_path):
    source = F.read(F.build_lesson(tmp_path))
    released = release_notebook(source)
    assert leaks(source, released) == []
    released.cells[3].source += "\n    total = x.sum(axis=1)\n    return total / x.shape[1]"
    released.cells[1].outputs = [nbformat.v4.new_output("stream", text="hi")]
    problems = leaks(source, released)
    assert any("solution region of source cell 3" in p for p in problems)
    assert any("outputs" in p for p in problems)


def test_release_command_writes_each_lesson_and_protects_the_source(tmp_path, capsys):
    F.build_lesson(tmp_path / "lessons")
    F.build_lesson(tmp_path / "lessons", name="01_other.ipynb")
    assert main(["release", str(tmp_path / "lessons"), "--out", str(tmp_path / "student")]) == 0
    written = sorted(p.name for p in (tmp_path / "student").glob("*.ipynb"))
    assert written == ["00_fixture.ipynb", "01_other.ipynb"]
    assert main(["release", str(tmp_path / "lessons"), "--out", str(tmp_path / "lessons")]) == 2
    assert "overwrite" in capsys.readouterr().err
    assert F.read(tmp_path / "lessons" / "00_fixture.ipynb").cells[3].source == F.ROW_MEANS


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_student_version_of_every_lesson_holds_no_solution_and_no_hidden_test(lesson):
    source = nbformat.read(lesson, as_version=4)
    released = release_notebook(source, name=lesson.name)   # refuses (raises) if leaks() finds anything
    text = "\n".join(c.source for c in released.cells).upper()
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text and "HIDDEN TEST" not in text
    exercises = set()
    for index, (before, after) in enumerate(zip(source.cells, released.cells)):
        assert after.metadata.get("course") == before.metadata.get("course")
        if after.cell_type == "code":
            assert not after.outputs and after.execution_count is None
        exercise, role = markers.course_meta(before)
        if role in ("solution", "check"):
            exercises.add(exercise)
        public = "".join(s.text for s in markers.segments(before.source) if s.kind == markers.TEXT)
        for kind in (markers.SOLUTION, markers.HIDDEN):
            for body in markers.region_bodies(before.source, kind):
                for line in body.splitlines():
                    line = line.strip()
                    if len(line) >= 12 and not line.startswith("#") and line not in public:
                        assert line not in after.source, f"cell {index}: {kind} line {line!r} reached the student"
        if role == "solution":
            assert "raise NotImplementedError" in after.source
    assert exercises, "a lesson has exercises"
    assert len(released.cells) == len(source.cells)


@pytest.mark.slow
@pytest.mark.parametrize("lesson", [None, *LESSONS], ids=["fixture", *[p.stem for p in LESSONS]])
def test_released_notebook_runs_to_the_end_with_not_implemented(lesson, tmp_path):
    source = F.build_lesson(tmp_path / "lesson") if lesson is None else lesson
    [path] = release(source, tmp_path / "student")
    [report] = check_released([path], workers=1, cell_timeout=120)
    assert report.problems == []
    expected = {markers.course_meta(c)[0] for c in F.read(source).cells} - {None}
    assert set(report.exercises) == expected
    assert all(statuses == {"not implemented"} for statuses in report.exercises.values())
