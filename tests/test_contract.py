"""The check contract: every check reaches learner code only through Checker.call, and gets plain data back.

Each lesson's checks run on the lesson's own solutions through a loopback RemoteChannel, exactly as the
grader runs them against a sandboxed worker: the learner's names are LearnerRefs, and every call
crosses the plain-data encoding. A check that touches a learner object directly fails here.
"""

import nbformat
import pytest

from course_utils.grading.checkcalls import check_functions, parse_check_calls, resolve_check
from course_utils.grading.markers import split_hidden
from course_utils.remote import LearnerRef, loopback
from notebook_code import NOTEBOOKS, load_solutions


def _check_cells(path):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        meta = cell.metadata.get("course", {})
        if cell.cell_type == "code" and meta.get("role") == "check":
            yield meta["exercise"], cell.source


LESSONS = sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_check_passes_its_solution_through_the_remote_channel(lesson):
    namespace = load_solutions(lesson.split("_", 1)[1])
    checks = check_functions()
    ran = 0
    for exercise, source in _check_cells(NOTEBOOKS / f"{lesson}.ipynb"):
        visible, hidden = split_hidden(source)
        for call in parse_check_calls(visible + "\n" + (hidden or "")):
            check = resolve_check(call.check, exercise, checks)
            assert check is not None and check.exercise_id.split(".")[0] == exercise.split(".")[0], call.check
            result, _ = check.evaluate(*[LearnerRef(n) for n in call.learners], channel=loopback(namespace),
                                       **call.kwargs)
            assert result.status == "passed", f"{exercise} ({call.check}): {result.line()}"
            ran += 1
    assert ran > 0


def test_a_check_name_two_lessons_share_resolves_to_the_cells_own_lesson():
    from course_utils.checking import exercise

    @exercise("lessonb.train_step")
    def check_twin(c, fn):
        pass

    @exercise("lessona.train_step")
    def check_twin(c, fn):  # noqa: F811  (registered twice under one name, on purpose)
        pass

    checks = check_functions()
    assert resolve_check("check_twin", "lessonb.train_step", checks).exercise_id == "lessonb.train_step"
    assert resolve_check("check_twin", "lessona.other", checks).exercise_id == "lessona.train_step"
    assert resolve_check("check_twin", "lessonc.x", checks) is None
    from course_utils.checking import REGISTRY

    REGISTRY.pop("lessonb.train_step")
    REGISTRY.pop("lessona.train_step")
