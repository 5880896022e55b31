"""Tests for the 08_cnn checks: the notebook's solutions pass, every known mistake is named with its hint."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course_utils.checking import NOT_IMPLEMENTED, REGISTRY, CheckFailure
from course_utils.checks import cnn as checks
from notebook_code import course_cells, load_solutions


@pytest.fixture(scope="module")
def solutions():
    return load_solutions("cnn")


def expect_failure(check, *learners, hint=None):
    with pytest.raises(CheckFailure) as info:
        check(*learners)
    result = info.value.result
    assert result.status == "failed"
    if hint is not None:
        assert result.hint == hint, f"got message {result.message!r} with hint {result.hint!r}"
    return result


def stub(*args, **kwargs):
    raise NotImplementedError


# ---- the solutions pass ----------------------------------------------------------------------

CHECKS = [
    (checks.check_cnn_flatten, ("flatten", "unflatten")),
    (checks.check_cnn_forward, ("cnn_forward",)),
    (checks.check_cnn_backward, ("cnn_forward", "cnn_backward")),
    (checks.check_cnn_train_step, ("train_step",)),
]


@pytest.mark.parametrize("check, names", CHECKS, ids=[c.exercise_id for c, _ in CHECKS])
def test_solution_passes(solutions, check, names):
    result = check(*[solutions[n] for n in names])
    assert result.passed and result.points == check.points
    assert result.cases >= 6
    assert check(*[solutions[n] for n in names], seed=2026).passed   # the hidden tests


def test_notebook_cells_pair_up():
    solution_ids = [c.metadata["course"]["exercise"] for c in course_cells("cnn", "solution")]
    check_ids = [c.metadata["course"]["exercise"] for c in course_cells("cnn", "check")]
    assert solution_ids == check_ids == [c.exercise_id for c, _ in CHECKS]
    assert all(i in REGISTRY for i in solution_ids)


def test_solutions_build_on_the_course_layers(solutions):
    # The solutions call conv2d_forward & co. from course_utils.layers, imported by the setup cell.
    source = "\n".join(c.source for c in course_cells("cnn", "solution"))
    assert "conv2d_forward(" in source and "max_pool2d_backward(" in source and "sgd_momentum_step(" in source
    assert solutions["conv2d_forward"].__module__ == "course_utils.layers.conv"


# ---- every known mistake is named --------------------------------------------------------------

@pytest.mark.parametrize("index", range(len(checks.FLATTEN_MISTAKES)))
def test_flatten_mistake_is_named(solutions, index):
    mistake = checks.FLATTEN_MISTAKES[index]
    expect_failure(checks.check_cnn_flatten, mistake.fn, solutions["unflatten"], hint=mistake.hint)


@pytest.mark.parametrize("index", range(len(checks.UNFLATTEN_MISTAKES)))
def test_unflatten_mistake_is_named(solutions, index):
    mistake = checks.UNFLATTEN_MISTAKES[index]
    expect_failure(checks.check_cnn_flatten, solutions["flatten"], mistake.fn, hint=mistake.hint)


@pytest.mark.parametrize("index", range(len(checks.FORWARD_MISTAKES)))
def test_forward_mistake_is_named(index):
    mistake = checks.FORWARD_MISTAKES[index]
    expect_failure(checks.check_cnn_forward, mistake.fn, hint=mistake.hint)


def _forward_keeping_inputs(solutions):
    """A learner forward whose cache is just its inputs, so that a Mistake can play the backward pass."""
    def cnn_forward(x, y, params, reg=0.0):
        loss, logits, _ = solutions["cnn_forward"](x, y, params, reg)
        return loss, logits, (x, y, params, reg)

    return cnn_forward


@pytest.mark.parametrize("index", range(len(checks.BACKWARD_MISTAKES)))
def test_backward_mistake_is_named(solutions, index):
    mistake = checks.BACKWARD_MISTAKES[index]
    expect_failure(checks.check_cnn_backward, _forward_keeping_inputs(solutions),
                   lambda cache: mistake.fn(*cache), hint=mistake.hint)


def test_backward_of_the_shim_passes_with_the_right_gradients(solutions):
    # the shim itself is sound: with the right gradients it passes
    right = lambda cache: checks._numpy_cnn(*cache)[2]
    assert checks.check_cnn_backward(_forward_keeping_inputs(solutions), right).passed


@pytest.mark.parametrize("index", range(len(checks.STEP_MISTAKES)))
def test_train_step_mistake_is_named(index):
    mistake = checks.STEP_MISTAKES[index]
    expect_failure(checks.check_cnn_train_step, mistake.fn, hint=mistake.hint)


def test_missing_relu_hint_names_the_missing_one():
    both, first, second = checks.FORWARD_MISTAKES[:3]
    assert "both" in both.hint and "first" in first.hint and "second" in second.hint


def test_shared_weight_mistakes_speak_of_two_uses():
    for mistake in checks.BACKWARD_MISTAKES[:2]:
        assert "used twice" in mistake.hint and "added up" in mistake.hint


# ---- stubs -------------------------------------------------------------------------------------

def test_stubs_are_not_implemented(solutions):
    runs = [(checks.check_cnn_flatten, (stub, stub)), (checks.check_cnn_flatten, (solutions["flatten"], stub)),
            (checks.check_cnn_forward, (stub,)), (checks.check_cnn_backward, (stub, stub)),
            (checks.check_cnn_backward, (solutions["cnn_forward"], stub)), (checks.check_cnn_train_step, (stub,))]
    for check, learners in runs:
        result = check(*learners)
        assert result.status == NOT_IMPLEMENTED and result.points == 0, (check.exercise_id, result.line())


# ---- other wrong answers fail sensibly ----------------------------------------------------------

def test_flatten_float32_and_flatten_as_unflatten(solutions):
    result = expect_failure(checks.check_cnn_flatten, lambda x: x.reshape(len(x), -1).astype(np.float32),
                            solutions["unflatten"])
    assert "float32" in result.message
    result = expect_failure(checks.check_cnn_flatten, solutions["flatten"], lambda d, shape: d)
    assert result.hint == checks.UNFLATTEN_MISTAKES[-1].hint


def test_forward_must_return_loss_logits_and_cache(solutions):
    result = expect_failure(checks.check_cnn_forward, lambda *a: solutions["cnn_forward"](*a)[:2])
    assert "(loss, logits, cache)" in result.message
    result = expect_failure(checks.check_cnn_forward,
                            lambda x, y, p, reg=0.0: (np.full(len(y), 1.0),) + solutions["cnn_forward"](x, y, p, reg)[1:])
    assert "one number" in result.message


def test_forward_with_an_object_in_its_cache_is_refused(solutions):
    def cnn_forward(x, y, params, reg=0.0):
        loss, logits, cache = solutions["cnn_forward"](x, y, params, reg)
        return loss, logits, (cache, lambda: None)

    result = expect_failure(checks.check_cnn_forward, cnn_forward)
    assert "is a function" in result.message and "plain" not in result.message


def test_forward_that_calls_torch_is_refused(solutions):
    import torch

    def cnn_forward(x, y, params, reg=0.0):
        torch.zeros(1)
        return solutions["cnn_forward"](x, y, params, reg)

    result = expect_failure(checks.check_cnn_forward, cnn_forward)
    assert "torch" in result.message and "NumPy only" in result.message


def test_backward_with_a_wrong_forward_says_fix_the_forward_first(solutions):
    wrong_forward = checks.FORWARD_MISTAKES[1].fn          # no ReLU after conv1; its "cache" is the gradients
    result = expect_failure(checks.check_cnn_backward, wrong_forward, lambda cache: cache)
    assert "check_cnn_forward" in result.hint


def test_backward_result_structure(solutions):
    forward = solutions["cnn_forward"]
    result = expect_failure(checks.check_cnn_backward, forward,
                            lambda cache: list(solutions["cnn_backward"](cache).values()))
    assert "dict" in result.message
    result = expect_failure(checks.check_cnn_backward, forward,
                            lambda cache: {k: v for k, v in solutions["cnn_backward"](cache).items() if k != "b2"})
    assert "'b2'" in result.message


def test_backward_with_nan_gradients_fails(solutions):
    def cnn_backward(cache):
        grads = solutions["cnn_backward"](cache)
        return {**grads, "w2": grads["w2"] * np.nan}

    result = expect_failure(checks.check_cnn_backward, solutions["cnn_forward"], cnn_backward)
    assert "grads['w2']" in result.message and "NaN" in result.message


def test_train_step_structure_and_in_place_updates(solutions):
    result = expect_failure(checks.check_cnn_train_step, lambda *a: solutions["train_step"](*a)[0])
    assert "(new_params, new_state, loss)" in result.message

    def in_place(params, state, x, y, lr, momentum=0.9, reg=0.0):
        new_params, new_state, loss = solutions["train_step"](params, state, x, y, lr, momentum, reg)
        for name in params:
            params[name][...] = new_params[name]     # updates the caller's arrays, then returns them
        return params, new_state, loss

    assert checks.check_cnn_train_step(in_place).passed   # allowed: the check keeps its own copies


def test_failure_does_not_reveal_expected_values(solutions):
    def off(x, y, params, reg=0.0):
        loss, logits, cache = solutions["cnn_forward"](x, y, params, reg)
        return loss + 0.25, logits, cache

    result = expect_failure(checks.check_cnn_forward, off)
    _, x, y, params, reg = next(checks._cnn_cases())
    expected = solutions["cnn_forward"](x, y, params, reg)[0]
    assert f"{expected:.3g}" not in result.message and f"{expected + 0.25:.3g}" not in result.message


# ---- properties -----------------------------------------------------------------------------------

@settings(max_examples=20, deadline=None)
@given(shape=st.tuples(*[st.integers(1, 5)] * 4), seed=st.integers(0, 2 ** 16))
def test_unflatten_inverts_flatten_on_random_shapes(solutions, shape, seed):
    x = np.random.default_rng(seed).normal(size=shape)
    flat = solutions["flatten"](x)
    assert flat.shape == (shape[0], int(np.prod(shape[1:])))
    assert np.array_equal(solutions["unflatten"](flat, shape), x)
    c, h, w = shape[1:]
    n, ci, i, j = (s - 1 for s in shape)
    assert flat[n, ci * h * w + i * w + j] == x[n, ci, i, j]   # the NCHW index formula of section 3
