"""Tests of the checks of 03_normalization, run against the notebook's own solution cells."""

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from course_utils.checking import Checker, CheckFailure, _CaseFailed
from course_utils.checks import normalization as norm
from course_utils.torch_ref import torch_reference
from notebook_code import load_solutions

EXERCISES = ["fit_standardizer", "standardize", "fit_minmax", "minmax_scale",
             "batchnorm_forward", "batchnorm_backward", "layernorm_forward", "layernorm_backward"]
BACKWARD_NEEDS = {"batchnorm_backward": "batchnorm_forward", "layernorm_backward": "layernorm_forward"}


@pytest.fixture(scope="module")
def solution():
    return load_solutions("normalization")


def run_check(name, fn, solution, **kwargs):
    """Call check_<name> with fn, adding the solution's forward pass for a backward check."""
    check = getattr(norm, f"check_{name}")
    extra = [solution[BACKWARD_NEEDS[name]]] if name in BACKWARD_NEEDS else []
    return check(fn, *extra, **kwargs)


def test_the_notebook_defines_every_exercise(solution):
    assert all(callable(solution.get(name)) for name in EXERCISES)


@pytest.mark.parametrize("name", EXERCISES)
@pytest.mark.parametrize("seed", [0, 2026])
def test_the_notebook_solution_passes(solution, name, seed):
    result = run_check(name, solution[name], solution, seed=seed)
    assert result.passed
    assert result.cases >= 7


@pytest.mark.parametrize("name", EXERCISES)
def test_stub_reports_not_implemented(solution, name):
    def stub(*args, **kwargs):
        raise NotImplementedError(f"write {name}")

    assert run_check(name, stub, solution).status == "not implemented"


# -- every known mistake fails its check with its own hint -------------------------------------

def _mistake_params(mistakes, name):
    return [pytest.param(m, id=f"{name}: {m.hint[:50]}") for m in mistakes]


FORWARD_MISTAKES = {
    "fit_standardizer": norm.FIT_STANDARDIZER_MISTAKES,
    "standardize": norm.STANDARDIZE_MISTAKES,
    "fit_minmax": norm.FIT_MINMAX_MISTAKES,
    "minmax_scale": norm.MINMAX_SCALE_MISTAKES,
    "batchnorm_forward": norm.BATCHNORM_FORWARD_MISTAKES,
    "layernorm_forward": norm.LAYERNORM_FORWARD_MISTAKES,
}


@pytest.mark.parametrize("name, mistake", [
    pytest.param(name, m, id=f"{name}: {m.hint[:50]}") for name, mistakes in FORWARD_MISTAKES.items() for m in mistakes
])
def test_each_forward_mistake_fails_with_its_hint(solution, name, mistake):
    with pytest.raises(CheckFailure) as info:
        run_check(name, mistake.fn, solution)
    assert info.value.result.hint == mistake.hint
    assert info.value.result.status == "failed"


def _forward_keeping_inputs(forward, extra_outputs):
    """A forward pass whose cache is simply its inputs, so a mistake's backward can recompute everything."""

    def forward_with_inputs(*args):
        result = forward(*args)
        return (result[0], args, *result[2:2 + extra_outputs])

    return forward_with_inputs


@pytest.mark.parametrize("mistake", _mistake_params(norm.BATCHNORM_BACKWARD_MISTAKES, "batchnorm_backward"))
def test_each_batchnorm_backward_mistake_fails_with_its_hint(solution, mistake):
    forward = _forward_keeping_inputs(solution["batchnorm_forward"], extra_outputs=2)
    with pytest.raises(CheckFailure) as info:
        norm.check_batchnorm_backward(lambda dout, cache: mistake.fn(dout, *cache), forward)
    assert info.value.result.hint == mistake.hint


@pytest.mark.parametrize("mistake", _mistake_params(norm.LAYERNORM_BACKWARD_MISTAKES, "layernorm_backward"))
def test_each_layernorm_backward_mistake_fails_with_its_hint(solution, mistake):
    forward = _forward_keeping_inputs(solution["layernorm_forward"], extra_outputs=0)
    with pytest.raises(CheckFailure) as info:
        norm.check_layernorm_backward(lambda dout, cache: mistake.fn(dout, *cache), forward)
    assert info.value.result.hint == mistake.hint


def test_the_inputs_keeping_forward_really_passes(solution):
    """Guards the two tests above: with the right backward formula, the adapter passes."""
    bn = _forward_keeping_inputs(solution["batchnorm_forward"], extra_outputs=2)
    ln = _forward_keeping_inputs(solution["layernorm_forward"], extra_outputs=0)
    assert norm.check_batchnorm_backward(lambda dout, cache: norm._batchnorm_backward(dout, *cache), bn).passed
    assert norm.check_layernorm_backward(lambda dout, cache: norm._layernorm_backward(dout, *cache), ln).passed


# -- other wrong answers fail with a sensible message --------------------------------------------

def test_standardize_with_a_zero_std_is_caught_as_nan(solution):
    def fit_without_guard(X):
        return X.mean(axis=0), X.std(axis=0)

    with pytest.raises(CheckFailure) as info:
        norm.check_fit_standardizer(fit_without_guard)
    assert "constant feature" in info.value.result.message
    assert "max == min" in info.value.result.hint or "store 1" in info.value.result.hint


def test_float32_output_is_reported(solution):
    with pytest.raises(CheckFailure) as info:
        norm.check_standardize(lambda X, mean, std: ((X - mean) / std).astype(np.float32))
    assert "float32" in info.value.result.message


def test_a_single_value_instead_of_a_tuple_is_reported(solution):
    with pytest.raises(CheckFailure) as info:
        norm.check_fit_minmax(lambda X: X.min(axis=0))
    assert "(x_min, x_range)" in info.value.result.message


def test_batchnorm_forward_returning_only_out_and_cache_is_reported(solution):
    def two_values(*args, **kwargs):
        out, cache, _, _ = solution["batchnorm_forward"](*args, **kwargs)
        return out, cache

    with pytest.raises(CheckFailure) as info:
        norm.check_batchnorm_forward(two_values)
    assert "(out, cache, running_mean, running_var)" in info.value.result.message


def test_batchnorm_updating_running_stats_in_place_is_reported(solution):
    def in_place(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
        out, cache, new_mean, new_var = solution["batchnorm_forward"](
            x, gamma, beta, running_mean, running_var, training, momentum, eps)
        running_mean[...] = new_mean          # torch's F.batch_norm style
        running_var[...] = new_var
        return out, cache, running_mean, running_var

    with pytest.raises(CheckFailure) as info:
        norm.check_batchnorm_forward(in_place)
    assert "in place" in info.value.result.message


def test_batchnorm_forward_that_calls_torch_is_reported():
    def with_torch(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
        rm, rv = torch.tensor(running_mean), torch.tensor(running_var)
        out = F.batch_norm(torch.tensor(x), rm, rv, torch.tensor(gamma), torch.tensor(beta), training, momentum, eps)
        return out.numpy(), None, rm.numpy(), rv.numpy()

    with pytest.raises(CheckFailure) as info:
        norm.check_batchnorm_forward(with_torch)
    assert "from scratch" in info.value.result.message


def test_nan_output_is_reported(solution):
    with pytest.raises(CheckFailure) as info:
        norm.check_layernorm_forward(lambda x, shape, gamma, beta, eps=1e-5: (np.full(x.shape, np.nan), None))
    assert "NaN" in info.value.result.message


def test_backward_check_refuses_a_wrong_forward(solution):
    def wrong_forward(*args, **kwargs):
        out, cache, rm, rv = solution["batchnorm_forward"](*args, **kwargs)
        return out * 2, cache, rm, rv

    with pytest.raises(CheckFailure) as info:
        norm.check_batchnorm_backward(solution["batchnorm_backward"], wrong_forward)
    assert "forward pass's check pass first" in info.value.result.hint


def test_backward_built_on_a_lying_cache_fails(solution):
    """A forward whose output is right but whose cache is not (a wrong inv_std): the gradients are caught."""

    def forward_with_bad_cache(*args, **kwargs):
        out, cache, rm, rv = solution["batchnorm_forward"](*args, **kwargs)
        x_hat, inv_std, gamma, axes, shape, training = cache
        return out, (x_hat, inv_std * 1.5, gamma, axes, shape, training), rm, rv

    with pytest.raises(CheckFailure) as info:
        norm.check_batchnorm_backward(solution["batchnorm_backward"], forward_with_bad_cache)
    assert "dx" in info.value.result.message


def test_the_finite_difference_comparison_can_fail():
    """The centred-difference stage on its own: a gradient off by 1% is rejected, the right one accepted."""
    rng = np.random.default_rng(0)
    x, gamma, beta, dout = rng.normal(size=(4, 3)), rng.normal(size=3), rng.normal(size=3), rng.normal(size=(4, 3))
    rm, rv = np.zeros(3), np.ones(3)
    forward = lambda *args: norm._batchnorm(*args)
    numeric = norm._fd_batchnorm(forward, x, gamma, beta, rm, rv, True, 0.1, 1e-5, dout)
    right = norm._batchnorm_backward(dout, x, gamma, beta, rm, rv)
    checker = Checker("normalization.test")
    names = ("dx", "dgamma", "dbeta")
    norm._finite_difference_check(checker, numeric, right, "test", names)
    assert checker.cases == 1  # one case, three gradients compared
    wrong = (right[0] * 1.01, right[1], right[2])
    with pytest.raises(_CaseFailed, match="centred differences"):
        norm._finite_difference_check(checker, numeric, wrong, "test", names)


def test_the_finite_difference_harnesses_differentiate_the_forward_they_are_given():
    rng = np.random.default_rng(1)
    x, dout = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 3, 4))
    gamma, beta = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    numeric = norm._fd_layernorm(lambda *args: norm._layernorm(*args), x, (3, 4), gamma, beta, 1e-5, dout)
    for num, ana in zip(numeric, norm._layernorm_backward(dout, x, (3, 4), gamma, beta)):
        np.testing.assert_allclose(num, ana, rtol=1e-5, atol=1e-7)


def test_messages_never_contain_expected_values(solution):
    """A failure names the case and the errors, not the reference numbers."""
    with pytest.raises(CheckFailure) as info:
        norm.check_fit_standardizer(lambda X: (X.mean(axis=0) + 1.0, X.std(axis=0)))
    message = info.value.result.message
    X = next(norm._fit_cases())[1]
    for value in X.mean(axis=0):
        assert f"{value:.4g}" not in message


# -- properties of the solution on random shapes --------------------------------------------------

small_settings = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@small_settings
@given(n=st.integers(1, 12), d=st.integers(1, 6), seed=st.integers(0, 2**16), constant=st.booleans())
def test_standardized_training_data_has_mean_0_and_std_1_or_0(solution, n, d, seed, constant):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * 10.0 ** rng.uniform(-3, 3, size=d) + rng.normal(size=d) * 100
    if constant:
        X[:, 0] = 0.1
    mean, std = solution["fit_standardizer"](X)
    Z = solution["standardize"](X, mean, std)
    assert np.all(np.isfinite(Z))
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-9)
    is_constant = X.max(axis=0) == X.min(axis=0)
    np.testing.assert_allclose(Z.std(axis=0), np.where(is_constant, 0.0, 1.0), atol=1e-9)
    x_min, x_range = solution["fit_minmax"](X)
    M = solution["minmax_scale"](X, x_min, x_range)
    np.testing.assert_allclose(M.min(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(M.max(axis=0), np.where(is_constant, 0.0, 1.0), atol=1e-12)


@small_settings
@given(shape=st.one_of(st.tuples(st.integers(2, 6), st.integers(1, 5)),
                       st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(2, 3))),
       training=st.booleans(), seed=st.integers(0, 2**16))
def test_batchnorm_matches_torch_on_random_shapes(solution, shape, training, seed):
    rng = np.random.default_rng(seed)
    c = shape[1]
    x, dout = rng.normal(size=shape) * 2 + 1, rng.normal(size=shape)
    gamma, beta, rm, rv = rng.normal(size=c), rng.normal(size=c), rng.normal(size=c), rng.uniform(0.5, 2, size=c)
    out, cache, new_rm, new_rv = solution["batchnorm_forward"](x, gamma, beta, rm, rv, training, 0.1, 1e-5)
    grads = solution["batchnorm_backward"](dout, cache)
    (ref_out, ref_rm, ref_rv), _ = torch_reference(norm._torch_batchnorm, x, gamma, beta, rm, rv, training, 0.1, 1e-5)
    _, ref_grads = torch_reference(norm._torch_batchnorm_out, x, gamma, beta, rm, rv, training, 0.1, 1e-5,
                                   dout=dout, wrt=[0, 1, 2])
    for mine, ref in zip((out, new_rm, new_rv, *grads), (ref_out, ref_rm, ref_rv, *ref_grads)):
        np.testing.assert_allclose(mine, ref, rtol=1e-9, atol=1e-10)


@small_settings
@given(shape=st.lists(st.integers(1, 4), min_size=2, max_size=4), seed=st.integers(0, 2**16), data=st.data())
def test_layernorm_matches_torch_on_random_shapes(solution, shape, seed, data):
    k = data.draw(st.integers(1, len(shape) - 1))
    normalized = tuple(shape[len(shape) - k:])
    rng = np.random.default_rng(seed)
    x, dout = rng.normal(size=shape), rng.normal(size=shape)
    gamma, beta = rng.normal(size=normalized), rng.normal(size=normalized)
    out, cache = solution["layernorm_forward"](x, normalized, gamma, beta, 1e-5)
    grads = solution["layernorm_backward"](dout, cache)
    ref_out, ref_grads = torch_reference(norm._torch_layernorm, x, normalized, gamma, beta, 1e-5,
                                         dout=dout, wrt=[0, 2, 3])
    for mine, ref in zip((out, *grads), (ref_out, *ref_grads)):
        np.testing.assert_allclose(mine, ref, rtol=1e-9, atol=1e-10)


def test_batchnorm_with_one_value_per_channel_in_training_mode_raises_like_torch(solution):
    x = np.array([[1.0, 2.0, 3.0]])
    args = (x, np.ones(3), np.zeros(3), np.zeros(3), np.ones(3))
    with pytest.raises(ValueError):
        F.batch_norm(torch.tensor(x), None, None, training=True)
    with pytest.raises(ValueError):
        solution["batchnorm_forward"](*args, training=True)
    out, _, rm, rv = solution["batchnorm_forward"](*args, training=False)   # eval mode is fine
    assert np.all(np.isfinite(out)) and np.array_equal(rm, np.zeros(3)) and np.array_equal(rv, np.ones(3))


# -- the check contract: learner code only through Checker.call, also for the centred differences ------

@pytest.mark.parametrize("name", ["batchnorm_backward", "layernorm_backward"])
def test_backward_checks_pass_through_the_remote_channel(solution, name):
    from course_utils.remote import LearnerRef, loopback

    forward = BACKWARD_NEEDS[name]
    check = getattr(norm, f"check_{name}")
    channel = loopback({name: solution[name], forward: solution[forward]})
    result, _ = check.evaluate(LearnerRef(name), LearnerRef(forward), channel=channel)
    assert result.passed, result.line()


@pytest.mark.parametrize("mistake", _mistake_params(norm.BATCHNORM_FORWARD_MISTAKES[:4], "batchnorm_forward"))
def test_forward_hints_are_the_same_through_the_remote_channel(mistake):
    from course_utils.remote import LearnerRef, loopback

    result, _ = norm.check_batchnorm_forward.evaluate(LearnerRef("batchnorm_forward"),
                                                      channel=loopback({"batchnorm_forward": mistake.fn}))
    assert result.status == "failed" and result.hint == mistake.hint


# -- bugs that used to pass or get only a generic message ------------------------------------------------

def test_running_var_corrected_with_the_batch_size_instead_of_every_value_is_named():
    mistake = next(m for m in norm.BATCHNORM_FORWARD_MISTAKES if "N·H·W values per channel" in m.hint)
    with pytest.raises(CheckFailure) as info:
        norm.check_batchnorm_forward(mistake.fn)
    assert "images" in info.value.result.message and "running_var" in info.value.result.message
    assert info.value.result.hint == mistake.hint


def test_a_std_guarded_with_an_eps_is_named(solution):
    def fit_standardizer(X_train):
        return X_train.mean(axis=0), X_train.std(axis=0) + 1e-8

    with pytest.raises(CheckFailure) as info:
        norm.check_fit_standardizer(fit_standardizer)
    assert "eps" in info.value.result.hint


def test_a_mistake_the_learner_has_already_ruled_out_is_not_blamed(solution):
    """Biased std everywhere except on one case: not 'you used the unbiased std'."""

    def fit_standardizer(X_train):
        mean, std = solution["fit_standardizer"](X_train)
        return mean, (X_train.std(axis=0, ddof=1) if X_train.shape == (8, 1) else std)

    with pytest.raises(CheckFailure) as info:
        norm.check_fit_standardizer(fit_standardizer)
    assert "(8, 1)" in info.value.result.message
    assert info.value.result.hint not in {m.hint for m in norm.FIT_STANDARDIZER_MISTAKES}


def test_layer_norm_over_one_feature_passes_although_its_gradient_is_only_rounding(solution):
    """With one normalized value the gradients dx and dgamma are 0 up to rounding, in torch as in NumPy."""
    case = next((case, args) for case, args in norm._ln_cases() if "one feature" in case)
    assert case
    assert norm.check_layernorm_backward(solution["layernorm_backward"], solution["layernorm_forward"]).passed


# -- hints teach: no code, no formula that is the answer --------------------------------------------------

ALL_MISTAKES = [m for mistakes in FORWARD_MISTAKES.values() for m in mistakes] + \
    norm.BATCHNORM_BACKWARD_MISTAKES + norm.LAYERNORM_BACKWARD_MISTAKES


@pytest.mark.parametrize("mistake", _mistake_params(ALL_MISTAKES, "hint"))
def test_hints_hold_no_code(mistake):
    for pattern in ("=", "np.", "sqrt(", "sum(", "mean(", "np.where"):
        assert pattern not in mistake.hint
    assert not re.search(r"\breturn\b", mistake.hint)
