"""Every lesson notebook follows the course's anatomy and metadata conventions (docs/authoring.md)."""

import importlib
import re

import nbformat
import pytest

from notebook_code import NOTEBOOKS

LESSONS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def lesson_name(path):
    return path.stem.split("_", 1)[1]


def course_meta(cell):
    return cell.metadata.get("course", {})


@pytest.fixture(params=LESSONS, ids=lambda p: p.stem)
def notebook(request):
    return request.param, nbformat.read(request.param, as_version=4)


def test_there_are_lessons():
    assert [p.stem for p in LESSONS][:1] == ["00_welcome"]


def test_notebook_is_valid_and_runs_in_python3(notebook):
    path, nb = notebook
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"


def test_setup_cell_comes_first(notebook):
    _, nb = notebook
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert "course_utils.setup(" in first_code.source


def test_anatomy_sections_are_present(notebook):
    _, nb = notebook
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for heading in ("Common pitfalls", "Summary", "Compare with PyTorch"):
        assert re.search(rf"^#+ .*{heading}", markdown, re.MULTILINE | re.IGNORECASE), f"missing section: {heading}"


def test_every_solution_has_markers_and_a_check_right_after(notebook):
    path, nb = notebook
    cells = [c for c in nb.cells if c.cell_type == "code"]
    solutions = [i for i, c in enumerate(cells) if course_meta(c).get("role") == "solution"]
    assert solutions, "a lesson has at least one exercise"
    for i in solutions:
        exercise = course_meta(cells[i])["exercise"]
        assert exercise.startswith(lesson_name(path) + "."), f"{exercise}: ids start with the lesson name"
        source = cells[i].source
        assert source.count(BEGIN) == source.count(END) >= 1, f"{exercise}: unbalanced solution markers"
        later_checks = [c for c in cells[i + 1:] if course_meta(c).get("role") == "check"]
        assert later_checks and course_meta(later_checks[0])["exercise"] == exercise, \
            f"{exercise}: the next check cell must check this exercise"


def test_exercise_ids_are_unique_per_role(notebook):
    _, nb = notebook
    for role in ("solution", "check"):
        ids = [course_meta(c)["exercise"] for c in nb.cells if course_meta(c).get("role") == role]
        assert len(ids) == len(set(ids)), f"duplicate {role} cells: {ids}"


def test_check_cells_call_the_check_for_their_exercise(notebook):
    path, nb = notebook
    module = importlib.import_module(f"course_utils.checks.{lesson_name(path)}")
    for cell in nb.cells:
        if course_meta(cell).get("role") != "check":
            continue
        called = set(re.findall(r"\b(check_\w+)\(", cell.source))
        assert called, f"check cell for {course_meta(cell)['exercise']} calls no check"
        for name in called:
            assert getattr(module, name).exercise_id == course_meta(cell)["exercise"]


def test_committed_with_outputs_and_without_errors(notebook):
    _, nb = notebook
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code_cells), "re-execute: make notebooks"
    errors = [o for c in code_cells for o in c.outputs if o.output_type == "error"]
    assert not errors, f"error outputs: {[e.ename for e in errors]}"
    assert any("image/png" in o.get("data", {}) for c in code_cells for o in c.outputs), "a lesson shows a figure"


def test_the_lessons_own_solutions_follow_the_rules_the_grader_applies(notebook):
    """A student who hands in the solution must not be rejected: the grader vets every solution cell."""
    from course_utils.grading.status import grader_rejections

    _, nb = notebook
    assert grader_rejections(nb) == {}
