"""The checks of 02_losses: the notebook's solutions pass, every known mistake fails with its own hint,
stubs report "not implemented", and a few other wrong answers fail with a sensible message."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from course_utils.checking import CheckFailure
from course_utils.checks import losses
from course_utils.torch_ref import torch_reference
from notebook_code import load_solutions

NAMES = list(losses.MISTAKES)
CHECKS = {name: getattr(losses, f"check_{name}") for name in NAMES}
TORCH = {
    "mse_loss": F.mse_loss,
    "l1_loss": F.l1_loss,
    "huber_loss": F.huber_loss,
    "binary_cross_entropy": F.binary_cross_entropy,
    "binary_cross_entropy_with_logits": F.binary_cross_entropy_with_logits,
    "cross_entropy": F.cross_entropy,
}


@pytest.fixture(scope="module")
def solution():
    return load_solutions("losses")


def test_every_exercise_has_a_check_with_its_id():
    assert len(NAMES) == 12
    for name, check in CHECKS.items():
        assert check.exercise_id == f"losses.{name}"


@pytest.mark.parametrize("name", NAMES)
def test_the_notebook_solution_passes(solution, name):
    assert CHECKS[name](solution[name]).passed
    assert CHECKS[name](solution[name], seed=2026).passed


MISTAKE_PARAMS = [(name, i, m) for name, mistakes in losses.MISTAKES.items() for i, m in enumerate(mistakes)]


@pytest.mark.parametrize("name, index, mistake", MISTAKE_PARAMS,
                         ids=[f"{n}-{i}-{m.hint[:30]}" for n, i, m in MISTAKE_PARAMS])
def test_each_known_mistake_fails_with_its_hint(name, index, mistake):
    with pytest.raises(CheckFailure) as info:
        CHECKS[name](mistake.fn)
    assert info.value.result.status == "failed"
    assert info.value.result.hint == mistake.hint


def test_the_required_mistakes_are_known():
    hints = {name: " ".join(m.hint for m in mistakes) for name, mistakes in losses.MISTAKES.items()}
    assert "Husker" in hints["huber_loss"] and "swapped" in hints["huber_loss"]
    assert "factor 2" in hints["mse_loss_backward"]
    assert "log σ(z)" in hints["binary_cross_entropy_with_logits"]
    assert "−Σ y·log p" in hints["cross_entropy"] and "axis 0" in hints["cross_entropy"]
    assert "whole batch" in hints["cross_entropy"] and "whole batch" in hints["cross_entropy_backward"]
    assert "ignored the delta" in hints["huber_loss"] and "ignored the delta" in hints["huber_loss_backward"]
    assert "summed over the N samples" in hints["cross_entropy"]
    assert "missing the 1/N" in hints["cross_entropy_backward"] and "one-hot" in hints["cross_entropy_backward"]
    for name in NAMES:
        assert "1/N" in hints[name] and "wrong sign" in hints[name]


@pytest.mark.parametrize("name", NAMES)
def test_stub_reports_not_implemented(name):
    def stub(*args, **kwargs):
        raise NotImplementedError("write it")

    result = CHECKS[name](stub)
    assert result.status == "not implemented" and result.points == 0


def _fail(name, fn):
    with pytest.raises(CheckFailure) as info:
        CHECKS[name](fn)
    return info.value.result


def test_float32_output_fails(solution):
    result = _fail("mse_loss", lambda x, y, reduction="mean": np.asarray(solution["mse_loss"](x, y, reduction),
                                                                         dtype=np.float32))
    assert "float32" in result.message


def test_unreduced_output_for_mean_fails_on_shape(solution):
    result = _fail("l1_loss", lambda x, y, reduction="mean": np.abs(x - y))
    assert "shape" in result.message and "reduction='mean'" in result.message


def test_nan_output_fails(solution):
    def nan_sometimes(dout, x, y, reduction="mean"):
        grad = solution["mse_loss_backward"](dout, x, y, reduction)
        return np.where(grad > 0.5, np.nan, grad)

    result = _fail("mse_loss_backward", nan_sometimes)
    assert "NaN" in result.message


def test_calling_torch_is_refused():
    def uses_torch(input, target, reduction="mean"):
        return F.cross_entropy(torch.tensor(input), torch.tensor(target), reduction=reduction).numpy()

    result = _fail("cross_entropy", uses_torch)
    assert "torch" in result.message and "from scratch" in result.message


def test_editing_the_input_in_place_fails(solution):
    def in_place(dout, input, target, reduction="mean"):
        input -= target
        return solution["l1_loss_backward"](dout, input + target, target, reduction)

    result = _fail("l1_loss_backward", in_place)
    assert "in place" in result.message


def test_naive_sigmoid_with_np_where_is_caught_by_its_overflow(solution):
    def where_sigmoid(dout, input, target, reduction="mean"):  # right values, but np.where runs both branches
        s = np.where(input >= 0, 1 / (1 + np.exp(-input)), np.exp(input) / (1 + np.exp(input)))
        return solution["apply_reduction_backward"](dout, input.shape, reduction) * (s - target)

    result = _fail("binary_cross_entropy_with_logits_backward", where_sigmoid)
    assert "overflow" in result.message and "np.where" in result.hint


def test_bce_without_torch_clamp_of_the_denominator_fails_at_p_0_and_1():
    result = _fail("binary_cross_entropy_backward", lambda dout, p, y, reduction="mean": p - y)
    assert "p = [0, 0, 1, 1]" in result.message


def test_finite_differences_catch_what_the_torch_cases_miss(solution):
    # Right on every torch-compared case, wrong only on inputs of shape (2, 3) with an error off the grid of
    # multiples of 1/4, i.e. on the finite-difference case alone: that part of the check compares something real.
    def wrong_on_the_small_case(dout, x, y, reduction="mean", delta=1.0):
        grad = solution["huber_loss_backward"](dout, x, y, reduction, delta)
        off_grid = ~np.isclose((x - y) * 4, np.round((x - y) * 4))
        return 0.9 * grad if x.shape == (2, 3) and off_grid.any() else grad

    result = _fail("huber_loss_backward", wrong_on_the_small_case)
    assert result.message.startswith("on case finite differences")
    assert "relative error" in result.message and "tolerance" in result.message


@settings(max_examples=15, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3), reduction=st.sampled_from(losses.REDUCTIONS),
       seed=st.integers(0, 2**16), name=st.sampled_from(list(TORCH)))
def test_solutions_match_torch_on_random_shapes(solution, shape, reduction, seed, name):
    rng = np.random.default_rng(seed)
    if name == "cross_entropy":
        classes = shape[-1] + 1
        x = rng.normal(size=(shape[0], classes)) * 5
        y = rng.integers(0, classes, size=shape[0])
        loss_shape = (shape[0],)
    else:
        x = rng.uniform(0, 1, size=shape) if name == "binary_cross_entropy" else rng.normal(size=shape) * 5
        y = rng.uniform(0, 1, size=shape)
        loss_shape = tuple(shape)
    dout = rng.normal(size=loss_shape) if reduction == "none" else float(rng.normal())
    expected, (grad,) = torch_reference(TORCH[name], x, y, dout=dout, wrt=[0], reduction=reduction)
    np.testing.assert_allclose(solution[name](x, y, reduction=reduction), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(solution[name + "_backward"](dout, x, y, reduction=reduction), grad,
                               rtol=1e-10, atol=1e-12)


# -- wrong answers that passed before issue 8 ----------------------------------------------------------------


def _global_max_log_softmax(z):
    shifted = z - z.max()  # the largest logit of the whole batch, not of each row
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def test_cross_entropy_with_the_global_max_fails(solution):
    def cross_entropy(input, target, reduction="mean"):
        with np.errstate(divide="ignore"):
            losses_ = -_global_max_log_softmax(input)[np.arange(len(target)), target]
        return solution["apply_reduction"](losses_, reduction)

    result = _fail("cross_entropy", cross_entropy)
    assert "rows far apart" in result.message and "whole batch" in result.hint


def test_cross_entropy_backward_with_the_global_max_fails(solution):
    def cross_entropy_backward(dout, input, target, reduction="mean"):
        e = np.exp(input - input.max())
        with np.errstate(invalid="ignore"):
            grad = e / e.sum(axis=1, keepdims=True)
        grad[np.arange(len(target)), target] -= 1
        return solution["apply_reduction_backward"](dout, (len(target),), reduction)[:, None] * grad

    result = _fail("cross_entropy_backward", cross_entropy_backward)
    assert "rows far apart" in result.message and "whole batch" in result.hint


def test_huber_that_ignores_delta_gets_its_own_hint(solution):
    forward = _fail("huber_loss", lambda x, y, reduction="mean", delta=1.0: solution["huber_loss"](x, y, reduction))
    backward = _fail("huber_loss_backward", lambda dout, x, y, reduction="mean", delta=1.0:
                     solution["huber_loss_backward"](dout, x, y, reduction))
    assert "ignored the delta" in forward.hint and "ignored the delta" in backward.hint


def test_the_bce_solution_clamps_with_torchs_float32_epsilon(solution):
    p, y = np.array([0.0, 0.0, 1.0, 1.0]), np.array([0.0, 1.0, 0.0, 1.0])
    _, (grad,) = torch_reference(F.binary_cross_entropy, p, y, dout=np.ones(4), wrt=[0], reduction="none")
    ours = solution["binary_cross_entropy_backward"](np.ones(4), p, y, reduction="none")
    np.testing.assert_array_equal(ours, grad)  # exactly torch's, not 4e-9 away
    assert losses.BCE_EPSILON == float(np.float32(1e-12))


def test_a_single_loss_value_gives_nothing_away(solution):
    def mse_loss(input, target, reduction="mean"):
        return solution["mse_loss"](input, target, reduction) if reduction == "none" else np.float64(1.0)

    result = _fail("mse_loss", mse_loss)
    assert "reduction='mean'" in result.message and "not shown" in result.message
    assert not any(ch.isdigit() for ch in result.hint) and "(~" not in result.hint
