import pytest

from course_utils.checking import CheckFailure
from course_utils.checks.welcome import ROW_MEANS_MISTAKES, check_row_means
from notebook_code import load_solutions


@pytest.fixture(scope="module")
def solution():
    return load_solutions("welcome")


def test_the_notebook_solution_passes(solution):
    assert check_row_means(solution["row_means"]).passed
    assert check_row_means(solution["row_means"], seed=2026).passed


@pytest.mark.parametrize("mistake", ROW_MEANS_MISTAKES, ids=lambda m: m.hint[:40])
def test_each_known_mistake_fails_with_its_hint(mistake):
    with pytest.raises(CheckFailure) as info:
        check_row_means(mistake.fn)
    assert info.value.result.hint == mistake.hint


def test_stub_reports_not_implemented():
    def row_means(x):
        raise NotImplementedError

    assert check_row_means(row_means).status == "not implemented"
