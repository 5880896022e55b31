"""The check engine, through a small fixture check and the welcome check."""

import json
import numpy as np
import pytest
import torch

from course_utils.checking import (
    RESULT_MIME, CheckFailure, Mistake, exercise, run_exercise, skip_if_unfinished,
)

SQUARE_MISTAKES = [Mistake("you doubled instead of squaring", lambda x: 2 * x)]


@exercise("fixture.square", points=3, compared="torch.square")
def check_square(c, square):
    for case, x in [("x = [-3, 0.5, 4]", np.array([-3.0, 0.5, 4.0])), ("x of shape (2, 3)", np.ones((2, 3)) * 7)]:
        c.compare(square, torch.square, x, case=case, mistakes=SQUARE_MISTAKES)


EXP_MISTAKES = [Mistake("1/(1/exp(x)) overflows on the way", lambda x: 1 / (1 / np.exp(x)))]


@exercise("fixture.exp", compared="torch.exp")
def check_exp(c, exp):
    c.compare(exp, torch.exp, np.array([1.0, 800.0]), case="x = [1, 800]", mistakes=EXP_MISTAKES)


def test_pass_returns_a_full_marks_result_and_prints_one_line(capsys):
    result = check_square(lambda x: x * x)
    assert result.passed and result.points == result.max_points == 3
    assert result.cases == 2 and result.max_error == 0.0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "fixture.square" in out and "cpu" in out


def test_failure_is_an_assertion_error_with_case_and_hint():
    with pytest.raises(AssertionError) as info:
        check_square(lambda x: 2 * x)
    failure = info.value
    assert isinstance(failure, CheckFailure)
    assert "x = [-3, 0.5, 4]" in str(failure) and "worst at index" in str(failure)
    assert failure.result.hint == "you doubled instead of squaring"
    assert failure.result.points == 0 and failure.result.status == "failed"


def test_a_mistake_that_coincides_with_the_answer_explains_nothing():
    # at x = 2, 2*x == x*x, so a wrong answer that is off elsewhere is not blamed on "doubling"
    with pytest.raises(CheckFailure) as info:
        check_square(lambda x: x * x + 1)
    assert info.value.result.hint != "you doubled instead of squaring"


def test_stub_is_not_implemented_not_an_error():
    def square(x):
        raise NotImplementedError("write square")

    result = check_square(square)
    assert result.status == "not implemented" and result.points == 0
    assert "write square" in result.message


def test_exception_in_learner_code_is_reported_with_its_line_and_no_course_frames():
    def square(x):
        return x.reshape(7, -1) ** 2

    with pytest.raises(CheckFailure) as info:
        check_square(square)
    assert "raised ValueError" in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_in_ipython_a_failure_shows_its_box_and_one_line_not_a_traceback(monkeypatch):
    from course_utils import checking

    shown = []
    monkeypatch.setattr(checking, "show", lambda result: (shown.append(result), setattr(result, "_shown", True)))
    with pytest.raises(CheckFailure) as info:
        check_square(lambda x: 2 * x)
    lines = info.value._render_traceback_()
    again = info.value._render_traceback_()
    assert len(shown) == 1 and shown[0].status == "failed"            # the box, once
    assert len(lines) == 1 and "did not pass" in lines[0] and lines == again
    assert "checking.py" not in "".join(lines)


def test_calling_torch_is_caught():
    with pytest.raises(CheckFailure, match="called torch"):
        check_square(lambda x: torch.square(torch.from_numpy(x)).numpy())


def test_helper_functions_that_call_torch_are_caught():
    def helper(x):
        return torch.as_tensor(x)

    with pytest.raises(CheckFailure, match="NumPy only"):
        check_square(lambda x: helper(x).numpy() ** 2)


def test_editing_the_input_in_place_is_caught():
    def square(x):
        x *= x
        return x

    with pytest.raises(CheckFailure, match="changed its argument `x` in place"):
        check_square(square)


def test_overflow_is_a_failure_even_when_the_value_survives():
    with pytest.raises(CheckFailure, match="overflow"):
        check_exp(lambda x: 1 / (1 / np.exp(x)))  # exp(800) overflows to inf; 1/(1/inf) stays inf


def test_an_overflowing_mistake_is_named_even_when_its_values_are_right():
    with pytest.raises(CheckFailure) as info:
        check_exp(lambda x: 1 / (1 / np.exp(x)))
    assert info.value.result.hint == EXP_MISTAKES[0].hint


def test_wrong_dtype_and_wrong_type_are_explained():
    with pytest.raises(CheckFailure, match="float32"):
        check_square(lambda x: (x * x).astype(np.float32))
    with pytest.raises(CheckFailure, match="return a NumPy array"):
        check_square(lambda x: (x * x).tolist())


def test_passing_a_result_instead_of_a_function():
    with pytest.raises(CheckFailure, match="expected your function"):
        check_square(np.ones(3))
    with pytest.raises(CheckFailure, match="got None"):
        check_square(None)


def test_results_serialise_for_the_grader():
    result, cause = run_exercise("fixture.square", check_square.__wrapped__, lambda x: x * x, (), {},
                                 points=3, compared="torch", numpy_only=True, fail_on_overflow=True)
    assert cause is None
    assert '"exercise": "fixture.square"' in json.dumps(result.to_dict())
    assert result.mimebundle(with_result=True)[RESULT_MIME]["points"] == 3
    assert RESULT_MIME not in result.mimebundle()


def test_a_learner_object_that_is_not_plain_data_is_refused():
    class Sneaky(float):
        def __eq__(self, other):
            return True

    result, _ = check_square.evaluate(lambda x: [Sneaky(1.0)])
    assert result.status == "failed"
    evaluated, _ = check_square.evaluate(lambda x: object())
    assert evaluated.status == "failed" and "object" in evaluated.message


def test_skip_if_unfinished_swallows_only_not_implemented(capsys):
    with skip_if_unfinished():
        raise NotImplementedError("write relu")
    assert "write relu" in capsys.readouterr().out
    with pytest.raises(ZeroDivisionError):
        with skip_if_unfinished():
            1 / 0


def test_expect_tuple_names_what_came_back_and_what_should():
    from course_utils.checking import Checker, _CaseFailed

    c = Checker("fixture.tuple")
    assert c.expect_tuple([1, 2], ("out", "cache"), case="x", what="`f`") == (1, 2)
    with pytest.raises(_CaseFailed) as info:
        c.expect_tuple(np.zeros(3), ("out", "cache"), case="x", what="`f`")
    assert "returned a ndarray; it should return 2: (out, cache)" in info.value.message
    assert "out, cache" in info.value.hint
    with pytest.raises(_CaseFailed) as info:
        c.expect_tuple((1, 2), 3, case="x", what="`f`", hint="own hint")
    assert info.value.message.endswith("returned 2 values; it should return 3") and info.value.hint == "own hint"
