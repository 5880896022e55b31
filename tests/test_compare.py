import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from course_utils.compare import assert_close, find_mismatch, rel_error


def test_rel_error_follows_cs231n():
    assert rel_error(np.array([1.0]), np.array([1.0])) == 0.0
    assert rel_error(np.array([1.0]), np.array([3.0])) == pytest.approx(0.5)
    # tiny values use the 1e-8 floor instead of dividing by ~0
    assert rel_error(np.array([0.0]), np.array([1e-12])) == pytest.approx(1e-4)


@settings(max_examples=30, deadline=None)
@given(arrays(np.float64, array_shapes(max_dims=3, max_side=5), elements=st.floats(-1e6, 1e6)))
def test_an_array_matches_itself(x):
    assert find_mismatch(x, x.copy()) is None
    assert rel_error(x, x) == 0.0


def test_shape_mismatch_is_named_plainly():
    mismatch = find_mismatch(np.zeros(3), np.zeros((3, 1)), name="dx")
    assert mismatch.kind == "shape"
    assert "dx has shape (3,), expected shape (3, 1)" in mismatch.text


def test_dtype_mismatch_is_named_plainly():
    mismatch = find_mismatch(np.zeros(3, dtype=np.float32), np.zeros(3))
    assert mismatch.kind == "dtype" and "float32" in mismatch.text


def test_non_array_is_reported():
    assert find_mismatch([1.0, 2.0], np.zeros(2)).kind == "type"


def test_value_mismatch_reports_worst_index_and_errors_but_not_the_values():
    expected = np.arange(12, dtype=float).reshape(3, 4)
    actual = expected.copy()
    actual[2, 1] += 0.5
    actual[0, 0] += 0.01
    mismatch = find_mismatch(actual, expected)
    assert mismatch.kind == "value"
    assert mismatch.worst_index == (2, 1)
    assert mismatch.max_abs == pytest.approx(0.5)
    assert "2 of 12 entries" in mismatch.text and "atol=" in mismatch.text
    assert "9.0" not in mismatch.text  # the expected value at the worst index is not shown


def test_nan_where_a_number_was_expected():
    actual = np.array([0.5, np.nan, 1.0])
    mismatch = find_mismatch(actual, np.array([0.5, 0.25, 1.0]))
    assert mismatch.kind == "nonfinite" and mismatch.worst_index == (1,) and "NaN" in mismatch.text


def test_matching_infinities_and_nans_agree():
    x = np.array([np.inf, -np.inf, np.nan, 1.0])
    assert find_mismatch(x, x.copy()) is None


def test_assert_close_raises_assertion_error_with_the_message():
    with pytest.raises(AssertionError, match="worst at index"):
        assert_close(np.array([1.0, 2.0]), np.array([1.0, 2.5]))
    assert assert_close(np.array([1.0]), np.array([1.0 + 1e-12])) < 1e-11


def test_absolute_error_is_withheld_when_it_would_reveal_the_answer():
    assert "abs error" not in find_mismatch(np.array(0.0), np.array(2.5)).text
    assert "abs error" not in find_mismatch(np.zeros(3), np.array([1.0, 2.0, 3.0])).text
    assert "2.5" not in find_mismatch(np.array(1.0), np.array(2.5)).text
