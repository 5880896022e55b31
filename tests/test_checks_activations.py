"""The checks of 01_activations: the notebook's solutions pass, every known mistake fails with its hint."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from course_utils.checking import CheckFailure
from course_utils.checks import activations
from course_utils.checks.activations import CHECKS, GRADCHECK_SHAPE, MISTAKES
from course_utils.torch_ref import torch_reference
from notebook_code import load_solutions

BACKWARDS = [name for name in CHECKS if name.endswith("_backward")]


@pytest.fixture(scope="module")
def solution():
    return load_solutions("activations")


def failure_of(check, learner, **kwargs):
    with pytest.raises(CheckFailure) as info:
        check(learner, **kwargs)
    return info.value.result


def test_every_exercise_has_a_check_and_mistakes():
    assert set(CHECKS) == set(MISTAKES)
    assert all(len(MISTAKES[name]) >= 3 for name in CHECKS)
    assert {check.exercise_id for check in CHECKS.values()} == {f"activations.{name}" for name in CHECKS}


@pytest.mark.parametrize("seed", [0, 2026])
@pytest.mark.parametrize("name", list(CHECKS))
def test_the_notebook_solution_passes(solution, name, seed):
    result = CHECKS[name](solution[name], seed=seed)
    assert result.passed and result.cases >= 9
    assert result.max_error < 1e-12


@pytest.mark.parametrize(
    "name, mistake",
    [(name, mistake) for name, mistakes in MISTAKES.items() for mistake in mistakes],
    ids=lambda value: value if isinstance(value, str) else value.hint[:40],
)
def test_each_known_mistake_fails_with_its_hint(name, mistake):
    result = failure_of(CHECKS[name], mistake.fn)
    assert result.status == "failed" and result.points == 0
    assert result.hint == mistake.hint


@pytest.mark.parametrize("name", list(CHECKS))
def test_stub_reports_not_implemented(name):
    def stub(*args, **kwargs):
        raise NotImplementedError

    result = CHECKS[name](stub)
    assert result.status == "not implemented" and result.points == 0


# -- wrong answers that are not in the mistake lists ---------------------------------------------------------


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "silu"])
def test_float32_output_fails_on_the_dtype(solution, name):
    result = failure_of(CHECKS[name], lambda x: solution[name](x).astype(np.float32))
    assert "float32" in result.message and "float64" in result.message


def test_wrong_shape_is_named(solution):
    result = failure_of(CHECKS["softmax"], lambda x, axis=-1: solution["softmax"](x, axis).ravel())
    assert "shape" in result.message and "expected shape" in result.message


def test_nan_output_is_reported_as_nonfinite(solution):
    def sigmoid(x):
        out = solution["sigmoid"](x)
        return np.where(x == 0, np.nan, out)

    result = failure_of(CHECKS["sigmoid"], sigmoid)
    assert "NaN" in result.message and "x = [-1000, -40, -1, 0, 1, 40, 1000]" in result.message


def test_a_list_instead_of_an_array_fails(solution):
    result = failure_of(CHECKS["relu"], lambda x: solution["relu"](x).tolist())
    assert "NumPy array" in result.message


def test_value_failure_names_case_and_worst_index(solution):
    def relu(x):
        out = solution["relu"](x)
        return out + (out > 1.5) * 1e-3

    result = failure_of(CHECKS["relu"], relu)
    assert "x = [-2, -0.5, 0, 0.5, 2]" in result.message and "worst at index (4,)" in result.message


def test_calling_torch_is_refused():
    def sigmoid(x):
        return torch.sigmoid(torch.from_numpy(x)).numpy()

    result = failure_of(CHECKS["sigmoid"], sigmoid)
    assert "torch" in result.message and "NumPy only" in result.message


def test_np_tanh_is_refused_in_the_tanh_exercise():
    result = failure_of(CHECKS["tanh"], lambda x: np.tanh(x))
    assert "np.exp" in result.message


def test_np_tanh_is_allowed_in_the_backward():
    assert CHECKS["tanh_backward"](lambda dout, x: dout * (1 - np.tanh(x) ** 2)).passed


def test_editing_the_input_in_place_fails(solution):
    def relu_backward(dout, x):
        dout[x <= 0] = 0.0
        return dout

    result = failure_of(CHECKS["relu_backward"], relu_backward)
    assert "changed its argument `dout` in place" in result.message


def test_overflow_with_right_values_fails_even_without_a_known_mistake():
    def sigmoid(x):  # right values, but exp(-x) overflows for x = -1000 (not exactly a listed variant)
        return 1.0 / (np.exp(-x) + 1.0) + 0.0 * x

    result = failure_of(CHECKS["sigmoid"], sigmoid)
    assert "overflow" in result.message and "x = [-1000]" in result.message


def test_prelu_backward_must_return_a_pair(solution):
    result = failure_of(CHECKS["prelu_backward"], lambda dout, x, weight: solution["prelu_backward"](dout, x, weight)[0])
    assert "(dx, dweight)" in result.message


def test_the_softmax_default_axis_is_minus_one(solution):
    result = failure_of(CHECKS["softmax"], lambda x, axis=0: solution["softmax"](x, axis=axis))
    assert "default axis" in result.message


def test_leaky_relu_default_slope_is_used(solution):
    result = failure_of(CHECKS["leaky_relu"], lambda x, negative_slope=0.1: solution["leaky_relu"](x, negative_slope))
    assert "default negative_slope" in result.message


@pytest.mark.parametrize("name", BACKWARDS)
def test_finite_differences_catch_a_backward_wrong_only_on_their_case(solution, name):
    """The finite-difference confirmation is a real comparison: it fails where torch was not asked."""
    correct = solution[name]

    def slightly_wrong(dout, x, *args, **kwargs):
        grads = correct(dout, x, *args, **kwargs)
        if x.shape != GRADCHECK_SHAPE:
            return grads
        if isinstance(grads, tuple):
            return grads[0] * 1.001, grads[1]
        return grads * 1.001

    result = failure_of(CHECKS[name], slightly_wrong)
    assert "finite differences" in result.message and "tolerance" in result.message
    assert "rel error" in result.message


# -- the solutions on random shapes (hypothesis) -------------------------------------------------------------

shapes = st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple)


@settings(max_examples=15, deadline=None)
@given(shape=shapes, data=st.data())
def test_solution_softmax_matches_torch_on_any_axis(solution, shape, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x, dout = rng.normal(size=shape) * 10, rng.normal(size=shape)
    out, (dx,) = torch_reference(lambda t: F.softmax(t, dim=axis), x, dout=dout)
    np.testing.assert_allclose(solution["softmax"](x, axis=axis), out, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(solution["softmax_backward"](dout, x, axis=axis), dx, rtol=1e-8, atol=1e-14)


@settings(max_examples=15, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=2, max_size=4).map(tuple), shared=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_solution_prelu_matches_torch(solution, shape, shared, seed):
    rng = np.random.default_rng(seed)
    x, dout = rng.normal(size=shape), rng.normal(size=shape)
    weight = rng.uniform(-1.0, 2.0, size=1 if shared else shape[1])
    out, (dx, dweight) = torch_reference(F.prelu, x, weight, dout=dout)
    ours_dx, ours_dweight = solution["prelu_backward"](dout, x, weight)
    np.testing.assert_allclose(solution["prelu"](x, weight), out, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ours_dx, dx, rtol=1e-12, atol=1e-15)
    assert ours_dweight.shape == weight.shape
    np.testing.assert_allclose(ours_dweight, dweight, rtol=1e-10, atol=1e-12)


def test_gradcheck_shape_is_not_used_by_any_other_case():
    """The finite-difference test above relies on this: no regular case has GRADCHECK_SHAPE."""
    for seed in (0, 2026):
        arrays = [x for _, x in activations._saturating_cases(seed)]
        arrays += [x for _, x in activations._relu_like_cases(seed)]
        arrays += [x for _, x, _ in activations._prelu_cases(seed)]
        arrays += [x for _, x, _ in activations._softmax_cases(seed)]
        assert all(x.shape != GRADCHECK_SHAPE for x in arrays)


# -- wrong answers that passed before issue 8 ----------------------------------------------------------------


def test_a_sigmoid_that_loses_the_far_tail_fails():
    # 0.5 (1 + tanh(x/2)) is right on paper, but tanh(-20) rounds to -1 and sigmoid(-40) = 4e-18 comes out as 0
    result = failure_of(CHECKS["sigmoid"], lambda x: 0.5 * (1.0 + np.tanh(x / 2)))
    assert "far in the negative tail" in result.message


def test_a_silu_on_a_cancelling_sigmoid_fails_with_its_hint():
    def silu(x):
        z = np.exp(-np.abs(x))
        return x * np.where(x >= 0, 1 / (1 + z), 1 - 1 / (1 + z))

    result = failure_of(CHECKS["silu"], silu)
    assert "far in the negative tail" in result.message and "cancels to 0" in result.hint


def test_tanh_on_a_naive_sigmoid_is_not_blamed_on_np_where():
    def naive_sigmoid(x):
        return 1 / (1 + np.exp(-x))

    result = failure_of(CHECKS["tanh"], lambda x: 2 * naive_sigmoid(2 * x) - 1)
    assert "overflow" in result.message and "np.where" not in result.hint and "2σ(2x) − 1" in result.hint


@pytest.mark.parametrize("name", ["leaky_relu", "leaky_relu_backward"])
def test_the_max_form_of_leaky_relu_fails_with_a_slope_above_1(name):
    if name == "leaky_relu":
        learner = lambda x, negative_slope=0.01: np.maximum(x, negative_slope * x)  # noqa: E731
    else:
        learner = lambda dout, x, negative_slope=0.01: dout * np.where(x > negative_slope * x, 1.0, negative_slope)  # noqa: E731
    result = failure_of(CHECKS[name], learner)
    assert "negative_slope=1.5" in result.message and "above 1" in result.hint


@pytest.mark.parametrize("name", ["prelu", "prelu_backward"])
def test_a_per_element_weight_on_1d_input_is_rejected_as_in_torch(solution, name):
    with pytest.raises(RuntimeError):
        F.prelu(torch.zeros(6, dtype=torch.float64), torch.ones(6, dtype=torch.float64))
    args = (np.ones(6),) if name == "prelu_backward" else ()
    with pytest.raises(ValueError):
        solution[name](*args, np.ones(6), np.full(6, 0.25))

    def accepts_it(*a):  # right on every other case, but broadcasts a (6,) weight over a 1-D x
        x, weight = a[-2], a[-1]
        if x.ndim == 1 and weight.size > 1:
            return solution[name](*a[:-1], np.array([0.25]))
        return solution[name](*a)

    result = failure_of(CHECKS[name], accepts_it)
    assert "1-D x of shape (6,)" in result.message and "ValueError" in result.message


def test_np_tanh_is_refused_through_the_remote_channel_too(solution):
    from course_utils.remote import LearnerRef, loopback

    namespace = dict(solution, tanh=lambda x: np.tanh(x))
    result, _ = CHECKS["tanh"].evaluate(LearnerRef("tanh"), channel=loopback(namespace))
    assert result.status == "failed" and "np.exp" in result.message


def test_a_hint_is_not_blamed_on_a_mistake_the_earlier_cases_ruled_out():
    # Right at x = +1000 (so not np.where's overflow), overflows only at x = -1000: the naive sigmoid's hint
    def sigmoid(x):
        return 1.0 / (1.0 + np.exp(-x))

    result = failure_of(CHECKS["sigmoid"], sigmoid)
    assert result.hint == activations.SIGMOID_MISTAKES[1].hint
