import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from course_utils.compare import Reference, assert_close, find_mismatch, is_match, rel_error


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
    assert "2 of 12 entries" in mismatch.text and "atol up to" in mismatch.text
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


# -- the course's rule for a match (course_utils/compare.py) -------------------------------------------------


def _reference(values, noise):
    return Reference(np.asarray(values, dtype=np.float64), noise)


def test_a_tiny_answer_must_keep_its_size():
    # sigmoid(-40) is 4.2e-18: an output of 0 there is wrong, even though the difference is below 1e-8
    expected = _reference([4.248354255291589e-18, 3.7200759760208356e-44, 9.85967654375977e-305], 4.5e-31)
    assert find_mismatch(np.zeros(3), expected) is not None
    assert find_mismatch(expected * (1 + 1e-12), expected) is None


def test_rounding_noise_of_the_reference_is_allowed():
    # layer norm over one feature: the exact gradient is 0, torch's is rounding noise of about 1e-14
    expected = _reference([0.0, 7.1e-15, 0.0, -1.4e-14], 1.4e-14)
    assert find_mismatch(np.zeros(4), expected) is None


def test_a_more_accurate_tiny_value_than_torch_is_allowed():
    # tanh'(18): torch computes 1 - t^2 with t rounded near 1 (8.9e-16); the exact value is 9.2e-16
    assert find_mismatch(np.array([9.2e-16]), _reference([8.881784197001252e-16], 2.4e-30)) is None


def test_without_a_known_noise_the_absolute_allowance_is_atol():
    assert find_mismatch(np.array([0.0, 1.0]), np.array([4e-18, 1.0])) is None
    assert find_mismatch(np.array([2e-8, 1.0]), np.array([0.0, 1.0])) is not None


def test_a_single_value_gets_no_error_figures():
    text = find_mismatch(np.array(1.0), np.array(2.4166666666666665)).text
    assert "error" not in text.split("(tolerance")[0] and "2.41" not in text


def test_the_same_error_on_every_entry_is_withheld():
    expected = np.array([1.0, 2.0, 3.0])
    assert "abs error" not in find_mismatch(expected + 0.5, expected).text
    assert "rel error" not in find_mismatch(expected * 1.5, expected).text
    shown = find_mismatch(expected + np.array([0.5, 0.0, 2.0]), expected).text
    assert "max abs error 2" in shown and "max rel error" in shown


def test_the_relative_error_is_measured_against_the_larger_value():
    text = find_mismatch(np.array([1.0, 2.0, 3.0]), np.array([1.0, 3.0, 6.0])).text
    assert "max rel error 0.5" in text and "2 of 3" in text


def test_reference_views_keep_their_noise_and_arithmetic_drops_it():
    calls = []
    ref = Reference(np.arange(6.0).reshape(2, 3), lambda: calls.append(1) or 1e-16)
    assert type(ref * 2) is np.ndarray and type(ref[0]) is Reference
    assert ref[1].noise == 1e-16 and ref.noise == 1e-16 and len(calls) == 2  # each view estimates once


def test_printed_relative_errors_follow_the_same_rule():
    assert is_match(0.0) and is_match(1e-6) and not is_match(2e-6) and not is_match(float("nan"))
