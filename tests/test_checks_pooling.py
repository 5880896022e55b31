"""The checks of 07_pooling: the notebook's solutions pass, every known mistake fails with its hint."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from course_utils.checking import CheckFailure
from course_utils.checks import pooling as pool
from course_utils.checks.pooling import CHECKS, MISTAKES
from course_utils.hints import same_output
from notebook_code import load_solutions

BACKWARDS = {
    "max_pool2d_backward": ("max_pool2d_forward", pool.max_pool2d_reference),
    "avg_pool2d_backward": ("avg_pool2d_forward", pool.avg_pool2d_reference),
    "adaptive_avg_pool2d_backward": ("adaptive_avg_pool2d_forward", pool.adaptive_avg_pool2d_reference),
}


@pytest.fixture(scope="module")
def solution():
    return load_solutions("pooling")


def failure_of(check, *learners, **kwargs):
    with pytest.raises(CheckFailure) as info:
        check(*learners, **kwargs)
    return info.value.result


def _learners(name, fn):
    """The arguments a check takes, with the mistake `fn` in the exercise's place."""
    if name in BACKWARDS:
        reference = BACKWARDS[name][1]
        return (lambda dout, cache: fn(dout, *cache)), (lambda *args: (reference(*args), args))
    return (lambda *args: (fn(*args), None),)


def test_every_exercise_has_a_check_and_mistakes(solution):
    assert set(CHECKS) == set(MISTAKES)
    assert all(len(MISTAKES[name]) >= 3 for name in CHECKS)
    assert {check.exercise_id for check in CHECKS.values()} == {f"pooling.{name}" for name in CHECKS}
    assert all(name in solution for name in CHECKS)


@pytest.mark.parametrize("seed", [0, 2026])
@pytest.mark.parametrize("name", list(CHECKS))
def test_the_notebook_solution_passes(solution, name, seed):
    extra = (solution[BACKWARDS[name][0]],) if name in BACKWARDS else ()
    result = CHECKS[name](solution[name], *extra, seed=seed)
    assert result.passed and result.cases >= 7
    assert result.max_error < 1e-12


@pytest.mark.parametrize(
    "name, mistake",
    [(name, mistake) for name, mistakes in MISTAKES.items() for mistake in mistakes],
    ids=lambda value: value if isinstance(value, str) else value.hint[:40],
)
def test_each_known_mistake_fails_with_its_hint(name, mistake):
    result = failure_of(CHECKS[name], *_learners(name, mistake.fn))
    assert result.status == "failed" and result.points == 0
    assert result.hint == mistake.hint


def _cases(name):
    """(args, expected) of the cases each check compares, in order, from the NumPy references."""
    rng = np.random.default_rng(7)
    if name.startswith("adaptive"):
        cases = [args for _, args in pool.adaptive_cases(1 if name in BACKWARDS else 0)]
        forward, grad = pool.adaptive_avg_pool2d_reference, pool.adaptive_avg_pool2d_grad_reference
    else:
        for_max = name.startswith("max")
        cases = [args for _, args in pool.pool_cases(1 if name in BACKWARDS else 0, for_max=for_max)]
        forward = pool.max_pool2d_reference if for_max else pool.avg_pool2d_reference
        grad = pool.max_pool2d_grad_reference if for_max else pool.avg_pool2d_grad_reference
    for args in cases:
        out = forward(*args)
        if name in BACKWARDS:
            dout = rng.normal(size=out.shape)
            yield (dout, *args), grad(dout, *args)
        else:
            yield args, out


@pytest.mark.parametrize("name", list(CHECKS))
def test_each_hint_fires_only_where_its_mistake_alone_explains_the_output(name):
    """On the first case where a mistake shows, no mistake with another hint gives the same output."""
    mistakes = MISTAKES[name]
    for mistake in mistakes:
        for args, expected in _cases(name):
            wrong = mistake.fn(*args)
            if not same_output(wrong, expected):
                break
        else:
            pytest.fail(f"{mistake.hint[:50]} never shows")
        for other in mistakes:
            if other.hint == mistake.hint:
                continue
            theirs = other.fn(*args)
            if not same_output(theirs, expected):
                assert not same_output(theirs, wrong), f"{other.hint[:40]} also explains {mistake.hint[:40]}"


@pytest.mark.parametrize("name", list(CHECKS))
def test_stub_reports_not_implemented(name):
    def stub(*args, **kwargs):
        raise NotImplementedError

    result = CHECKS[name](stub, *([stub] if name in BACKWARDS else []))
    assert result.status == "not implemented" and result.points == 0


def test_the_max_pool_cases_have_ties_and_overlapping_shared_maxima():
    cases = dict(pool.pool_cases())
    ties = next(args for case, args in cases.items() if "tied" in case)
    windows, _, _ = pool._windows(ties[0], (2, 2), (2, 2), (3, 3))
    assert ((windows == windows.max(axis=-1, keepdims=True)).sum(axis=-1) > 1).any()
    x, k, s, p = next(args for case, args in cases.items() if "shared" in case)
    dx = pool.max_pool2d_grad_reference(np.ones(pool.max_pool2d_reference(x, k, s, p).shape), x, k, s, p)
    assert dx.max() >= 2.0                        # an element that is the maximum of two windows


# -- the seed's pooling and other wrong answers -----------------------------------------------------------


def max_pool_seed(x, kernel_size, stride=None, padding=0):
    """The seed's version: a window at every pixel, an output of the input's size."""
    N, C, H, W = x.shape
    out = np.zeros_like(x)
    for i in range(H):
        for j in range(W):
            out[:, :, i, j] = x[:, :, i:i + kernel_size, j:j + kernel_size].max(axis=(2, 3))
    return out, None


def test_the_seeds_same_size_pooling_is_named():
    result = failure_of(pool.check_max_pool2d_forward, max_pool_seed)
    assert "expected shape" in result.message and result.hint == pool.SAME_SIZE_HINT


def test_an_output_with_stride_one_shape_gets_the_default_stride_hint_whatever_its_values():
    def forward(x, kernel_size, stride=None, padding=0):
        k = kernel_size if isinstance(kernel_size, int) else kernel_size[0]
        return np.zeros((*x.shape[:2], x.shape[2] - k + 1, x.shape[3] - k + 1)), None

    assert failure_of(pool.check_avg_pool2d_forward, forward).hint == pool.STRIDE_DEFAULT_HINT


def test_a_broadcast_error_is_a_failure_with_the_case_not_a_traceback(solution):
    def forward(x, kernel_size, stride=None, padding=0):
        pairs = x[:, :, ::2] + x[:, :, 1::2]                   # a broadcast error on an odd height
        return solution["avg_pool2d_forward"](x, kernel_size, stride, padding)[0] + 0 * pairs.sum(), None

    result = failure_of(pool.check_avg_pool2d_forward, forward)
    assert "on case overlapping windows" in result.message and "x of shape (2, 2, 7, 7)" in result.message
    assert "raised ValueError" in result.message and "broadcast" in result.message and result.hint


def test_calling_the_course_reference_pooling_is_refused():
    from course_utils.layers.pool import max_pool2d_forward

    result = failure_of(pool.check_max_pool2d_forward, lambda *args: max_pool2d_forward(*args))
    assert "course_utils.layers.pool" in result.message and "NumPy only" in result.message


def test_calling_torch_is_refused():
    def forward(x, kernel_size, stride=None, padding=0):
        return F.max_pool2d(torch.from_numpy(x), kernel_size, stride, padding).numpy(), None

    result = failure_of(pool.check_max_pool2d_forward, forward)
    assert "torch" in result.message


def test_forward_returning_only_out_is_reported(solution):
    result = failure_of(pool.check_avg_pool2d_forward, lambda *args: solution["avg_pool2d_forward"](*args)[0])
    assert "(out, cache)" in result.message


def test_global_pooling_without_the_spatial_axes_is_named(solution):
    def forward(x, output_size):
        out, cache = solution["adaptive_avg_pool2d_forward"](x, output_size)
        return (out[:, :, 0, 0] if output_size == 1 else out), cache

    assert failure_of(pool.check_adaptive_avg_pool2d_forward, forward).hint == pool.ADAPTIVE_KEEPDIMS_HINT


def test_backward_check_refuses_a_wrong_forward(solution):
    def forward(*args):
        out, cache = solution["max_pool2d_forward"](*args)
        return out + 1.0, cache

    result = failure_of(pool.check_max_pool2d_backward, solution["max_pool2d_backward"], forward)
    assert "cache cannot be trusted" in result.message


def test_finite_differences_catch_a_backward_wrong_only_on_their_case(solution):
    _, (x_fd, *_) = pool._fd_case(0)
    assert all(args[0].shape != x_fd.shape for _, args in pool.pool_cases(1))

    def backward(dout, cache):
        dx = solution["avg_pool2d_backward"](dout, cache)
        return dx * 1.001 if dx.shape == x_fd.shape else dx

    result = failure_of(pool.check_avg_pool2d_backward, backward, solution["avg_pool2d_forward"])
    assert "finite differences" in result.message and "centred differences" in result.message


# -- the solutions on random shapes (hypothesis) ---------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9), kh=st.integers(1, 4),
       kw=st.integers(1, 4), sh=st.integers(1, 4), sw=st.integers(1, 4), ph=st.integers(0, 2), pw=st.integers(0, 2),
       default_stride=st.booleans(), ties=st.booleans(), seed=st.integers(0, 2**16))
def test_solution_pooling_matches_torch(solution, n, c, h, w, kh, kw, sh, sw, ph, pw, default_stride, ties, seed):
    ph, pw = min(ph, kh // 2), min(pw, kw // 2)
    if h + 2 * ph < kh or w + 2 * pw < kw:
        return
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, c, h, w))
    if ties:
        x = np.maximum(np.round(x), 0.0)
    stride = None if default_stride else (sh, sw)
    for kind, torch_fn in (("max", F.max_pool2d), ("avg", F.avg_pool2d)):
        xt = torch.tensor(x, requires_grad=True)
        ref = torch_fn(xt, (kh, kw), stride, (ph, pw))
        dout = rng.normal(size=tuple(ref.shape))
        ref.backward(torch.tensor(dout))
        out, cache = solution[f"{kind}_pool2d_forward"](x, (kh, kw), stride, (ph, pw))
        np.testing.assert_allclose(out, ref.detach().numpy(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(solution[f"{kind}_pool2d_backward"](dout, cache), xt.grad.numpy(),
                                   rtol=1e-12, atol=1e-14)


@settings(max_examples=10, deadline=None)
@given(h=st.integers(1, 9), w=st.integers(1, 9), oh=st.integers(1, 6), ow=st.integers(1, 6),
       seed=st.integers(0, 2**16))
def test_solution_adaptive_pooling_matches_torch(solution, h, w, oh, ow, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, 2, h, w))
    xt = torch.tensor(x, requires_grad=True)
    ref = F.adaptive_avg_pool2d(xt, (oh, ow))
    dout = rng.normal(size=tuple(ref.shape))
    ref.backward(torch.tensor(dout))
    out, cache = solution["adaptive_avg_pool2d_forward"](x, (oh, ow))
    np.testing.assert_allclose(out, ref.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(solution["adaptive_avg_pool2d_backward"](dout, cache), xt.grad.numpy(),
                               rtol=1e-12, atol=1e-14)
