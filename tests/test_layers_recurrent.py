"""The reference recurrent layers (course_utils/layers/recurrent.py) against nn.RNN, nn.LSTM and clip_grad_norm_."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_utils.layers import recurrent as R

NAMES = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


def torch_run(kind, x, h0, c0, params, dh):
    """nn.RNN / nn.LSTM (batch_first) in float64 with these weights: outputs, final states and every gradient."""
    n, steps, d = x.shape
    hidden = h0.shape[1]
    module = (torch.nn.RNN if kind == "rnn" else torch.nn.LSTM)(d, hidden, batch_first=True).double()
    with torch.no_grad():
        for name, p in zip(NAMES, params):
            getattr(module, name).copy_(torch.from_numpy(p))
    xt = torch.tensor(x, requires_grad=True)
    h0t = torch.tensor(h0[None], requires_grad=True)
    c0t = torch.tensor(c0[None], requires_grad=True)
    if kind == "rnn":
        out, h_n = module(xt, h0t)
        c_n = None
    else:
        out, (h_n, c_n) = module(xt, (h0t, c0t))
    (out * torch.from_numpy(dh)).sum().backward()
    grads = [xt.grad.numpy(), h0t.grad[0].numpy()] + ([] if kind == "rnn" else [c0t.grad[0].numpy()])
    grads += [getattr(module, name).grad.numpy() for name in NAMES]
    return out.detach().numpy(), h_n[0].detach().numpy(), None if c_n is None else c_n[0].detach().numpy(), grads


def random_case(seed, n, steps, d, hidden, gates):
    rng = np.random.default_rng(seed)
    k = 1.5 / np.sqrt(hidden)
    params = [rng.uniform(-k, k, size=shape) for shape in
              ((gates * hidden, d), (gates * hidden, hidden), (gates * hidden,), (gates * hidden,))]
    return (rng.normal(size=(n, steps, d)), rng.normal(size=(n, hidden)), rng.normal(size=(n, hidden)), params,
            rng.normal(size=(n, steps, hidden)))


dims = st.integers(1, 5)


@settings(max_examples=12, deadline=None)
@given(n=dims, steps=dims, d=dims, hidden=dims, seed=st.integers(0, 2**32 - 1))
def test_rnn_matches_nn_rnn(n, steps, d, hidden, seed):
    x, h0, c0, params, dh = random_case(seed, n, steps, d, hidden, 1)
    out, h_n, _, grads = torch_run("rnn", x, h0, c0, params, dh)
    h, cache = R.rnn_forward(x, h0, *params)
    np.testing.assert_allclose(h, out, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(h[:, -1], h_n, rtol=1e-10, atol=1e-13)
    for ours, theirs in zip(R.rnn_backward(dh, cache), grads):
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)


@settings(max_examples=12, deadline=None)
@given(n=dims, steps=dims, d=dims, hidden=dims, seed=st.integers(0, 2**32 - 1))
def test_lstm_matches_nn_lstm(n, steps, d, hidden, seed):
    x, h0, c0, params, dh = random_case(seed, n, steps, d, hidden, 4)
    out, h_n, c_n, grads = torch_run("lstm", x, h0, c0, params, dh)
    h, c_last, cache = R.lstm_forward(x, h0, c0, *params)
    np.testing.assert_allclose(h, out, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(h[:, -1], h_n, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(c_last, c_n, rtol=1e-10, atol=1e-13)
    for ours, theirs in zip(R.lstm_backward(dh, cache), grads):
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)


def test_the_step_functions_are_one_step_of_the_sequence():
    x, h0, c0, params, dh = random_case(0, 3, 1, 4, 5, 4)
    h_seq, c_seq, cache = R.lstm_forward(x, h0, c0, *params)
    h_step, c_step, step_cache = R.lstm_step_forward(x[:, 0], h0, c0, *params)
    np.testing.assert_array_equal(h_seq[:, 0], h_step)
    np.testing.assert_array_equal(c_seq, c_step)
    seq_grads = R.lstm_backward(dh, cache)
    step_grads = R.lstm_step_backward(dh[:, 0], np.zeros_like(c0), step_cache)
    np.testing.assert_array_equal(seq_grads[0][:, 0], step_grads[0])
    for a, b in zip(seq_grads[1:], step_grads[1:]):
        np.testing.assert_allclose(a, b, rtol=1e-15, atol=0)


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_arguments_are_left_unchanged(kind):
    x, h0, c0, params, dh = random_case(1, 2, 4, 3, 3, 1 if kind == "rnn" else 4)
    before = [a.copy() for a in (x, h0, c0, dh, *params)]
    if kind == "rnn":
        _, cache = R.rnn_forward(x, h0, *params)
        R.rnn_backward(dh, cache)
    else:
        _, _, cache = R.lstm_forward(x, h0, c0, *params)
        R.lstm_backward(dh, cache)
    for a, b in zip((x, h0, c0, dh, *params), before):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("scale, max_norm", [(1.0, 100.0), (5.0, 1.0), (0.0, 1.0)])
def test_clip_grad_norm_matches_torch(scale, max_norm):
    rng = np.random.default_rng(3)
    grads = [rng.normal(size=(4, 3)) * scale, rng.normal(size=5) * scale]
    params = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, g in zip(params, grads):
        p.grad = torch.from_numpy(g.copy())
    total = torch.nn.utils.clip_grad_norm_(params, max_norm)
    clipped, ours = R.clip_grad_norm(grads, max_norm)
    assert isinstance(ours, float) and ours == pytest.approx(float(total), rel=1e-12, abs=1e-15)
    for a, p in zip(clipped, params):
        np.testing.assert_allclose(a, p.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_the_reference_layers_pass_the_lessons_checks():
    """What later lessons import is what lesson 09's checks accept (the from-scratch guard let through here)."""
    from course_utils.checks.rnn import CHECKS
    from course_utils.invoke import trusting

    learners = {
        "rnn_step_forward": (R.rnn_step_forward,), "rnn_step_backward": (R.rnn_step_forward, R.rnn_step_backward),
        "rnn_forward": (R.rnn_forward,), "rnn_backward": (R.rnn_forward, R.rnn_backward),
        "lstm_step_forward": (R.lstm_step_forward,),
        "lstm_step_backward": (R.lstm_step_forward, R.lstm_step_backward),
        "lstm_forward": (R.lstm_forward,), "lstm_backward": (R.lstm_forward, R.lstm_backward),
        "clip_grad_norm": (R.clip_grad_norm,),
    }
    with trusting("course_utils.layers"):
        for name, check in CHECKS.items():
            assert check(*learners[name]).passed, name


def test_an_exercise_cannot_pass_by_calling_the_reference_layers():
    from course_utils.checks.rnn import check_rnn_forward

    def rnn_forward(x, h0, *params):
        return R.rnn_forward(x, h0, *params)

    result = check_rnn_forward.evaluate(rnn_forward)[0]
    assert result.status == "failed" and "course_utils" in result.message
