"""Checks for 09_rnn: a vanilla RNN and an LSTM, step by step and over whole sequences, and gradient clipping.

Conventions (the lesson's section 2):

* weights in torch's layout, `weight_ih (G*H, D)`, `weight_hh (G*H, H)`, `bias_ih`, `bias_hh` (G*H,), with
  G = 1 for the RNN and G = 4 for the LSTM, whose gates are stacked in torch's order i, f, g, o;
* batch first: a sequence batch is (N, T, D), hidden and cell states are (N, H);
* `h_next, cache = rnn_step_forward(x, h_prev, *params)`, `grads = rnn_step_backward(dh_next, cache)`;
  `h, cache = rnn_forward(x, h0, *params)` with every hidden state h (N, T, H),
  `dx, dh0, *dparams = rnn_backward(dh, cache)`;
* `h_next, c_next, cache = lstm_step_forward(x, h_prev, c_prev, *params)`,
  `dx, dh_prev, dc_prev, *dparams = lstm_step_backward(dh_next, dc_next, cache)`;
  `h, c_n, cache = lstm_forward(x, h0, c0, *params)`, `dx, dh0, dc0, *dparams = lstm_backward(dh, cache)`;
* `clipped, total_norm = clip_grad_norm(grads, max_norm)`.

References are `nn.RNNCell`, `nn.LSTMCell`, `nn.RNN` and `nn.LSTM` (batch_first=True) in float64 on the
course device, run with the case's weights through `torch.func.functional_call`, and their autograd
gradients; each backward is then confirmed with centred finite differences of that torch forward, and
clipping is compared with `torch.nn.utils.clip_grad_norm_` (its returned total norm too).

A backward check calls the learner's own forward first (its cache is the learner's business) and makes
sure that forward is right before looking at the gradients. The known mistakes are NumPy code that takes
the raw inputs (never the learner's cache), so each can be told apart from the right answer on its own.
"""

import itertools
import warnings

import numpy as np

from course_utils.checking import Mistake, exercise
from course_utils.compare import find_mismatch
from course_utils.gradcheck import expect_finite_differences
from course_utils.hints import Suspects

PARAMS = ("dweight_ih", "dweight_hh", "dbias_ih", "dbias_hh")
GATES = "ifgo"  # torch's order of the four gate blocks in an LSTM's weights

# Centred differences of the float64 torch forward, h = 1e-6. The finite-difference cases are small (so that
# the loss, and with it the rounding error of each difference, stays near 1) and use weights of moderate size
# (no saturated tanh or sigmoid), so every gradient entry is well away from 0: a correct backward lands near
# 1e-9 in the elementwise relative error, a wrong one at 1e-3 or above.
GRADCHECK_H = 1e-6
GRADCHECK_TOL = 1e-6
# The shapes of x in the finite-difference cases (hidden size 3); no other case has them.
GRADCHECK_STEP_X = (2, 2)
GRADCHECK_SEQ_X = (2, 3, 2)


# ----------------------------------------------------------------------------------------------
# PyTorch references: nn.RNN / nn.LSTM (and their cells) with the case's weights
# ----------------------------------------------------------------------------------------------

_MODULES = {}


def _module(kind, d, h, like):
    """A float64 torch module on the tensors' device, built once per shape and reused (its own weights unused)."""
    import torch

    key = (kind, d, h, like.dtype, str(like.device))
    if key not in _MODULES:
        cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "rnn_cell": torch.nn.RNNCell,
               "lstm_cell": torch.nn.LSTMCell}[kind]
        extra = {"batch_first": True} if kind in ("rnn", "lstm") else {}
        _MODULES[key] = cls(d, h, **extra).to(dtype=like.dtype, device=like.device)
    return _MODULES[key]


def _run(kind, params, inputs):
    import torch
    from torch.func import functional_call

    w_ih, w_hh, b_ih, b_hh = params
    suffix = "_l0" if kind in ("rnn", "lstm") else ""
    names = [f"{n}{suffix}" for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    gates = 4 if kind.startswith("lstm") else 1
    module = _module(kind, w_ih.shape[1], w_ih.shape[0] // gates, w_ih)
    with warnings.catch_warnings():
        # on CUDA, cuDNN warns that weights handed in this way are not one contiguous block (a speed matter)
        warnings.simplefilter("ignore", UserWarning)
        return functional_call(module, dict(zip(names, params)), inputs)


def torch_rnn_step(x, h_prev, w_ih, w_hh, b_ih, b_hh):
    """nn.RNNCell (tanh): the next hidden state."""
    return _run("rnn_cell", (w_ih, w_hh, b_ih, b_hh), (x, h_prev))


def torch_rnn(x, h0, w_ih, w_hh, b_ih, b_hh):
    """nn.RNN(batch_first=True): every hidden state, (N, T, H)."""
    out, _ = _run("rnn", (w_ih, w_hh, b_ih, b_hh), (x, h0[None]))
    return out


def torch_rnn_final(x, h0, w_ih, w_hh, b_ih, b_hh):
    """nn.RNN's h_n, without its layer axis: (N, H)."""
    _, h_n = _run("rnn", (w_ih, w_hh, b_ih, b_hh), (x, h0[None]))
    return h_n[0]


def torch_lstm_step(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh):
    """nn.LSTMCell: (h_next, c_next) stacked into one (2, N, H) tensor."""
    import torch

    h_next, c_next = _run("lstm_cell", (w_ih, w_hh, b_ih, b_hh), (x, (h_prev, c_prev)))
    return torch.stack([h_next, c_next])


def torch_lstm(x, h0, c0, w_ih, w_hh, b_ih, b_hh):
    """nn.LSTM(batch_first=True): every hidden state, (N, T, H)."""
    out, _ = _run("lstm", (w_ih, w_hh, b_ih, b_hh), (x, (h0[None], c0[None])))
    return out


def torch_lstm_final(x, h0, c0, w_ih, w_hh, b_ih, b_hh):
    """nn.LSTM's (h_n, c_n) without the layer axis, stacked into (2, N, H)."""
    import torch

    _, (h_n, c_n) = _run("lstm", (w_ih, w_hh, b_ih, b_hh), (x, (h0[None], c0[None])))
    return torch.stack([h_n[0], c_n[0]])


def torch_clip_grad_norm(max_norm, *grads):
    """torch.nn.utils.clip_grad_norm_ on parameters whose .grad are `grads`: [clipped grads..., total norm]."""
    import torch

    params = []
    for g in grads:
        p = torch.zeros_like(g, requires_grad=True)
        p.grad = g.detach().clone()
        params.append(p)
    total = torch.nn.utils.clip_grad_norm_(params, max_norm)
    return [p.grad for p in params] + [total]


# ----------------------------------------------------------------------------------------------
# Instructor NumPy: the right computation with switches for each known mistake
# ----------------------------------------------------------------------------------------------


def _sigmoid(a):
    z = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0 / (1.0 + z), z / (1.0 + z))


def _rnn_pre(x, h, w_ih, w_hh, b_ih, b_hh, *, use_x=True, both_biases=True, transposed=True):
    wi, wh = (w_ih.T, w_hh.T) if transposed else (w_ih, w_hh)
    a = h @ wh + (b_hh if both_biases else 0.0)
    return a + x @ wi + b_ih if use_x else a + b_ih


def _rnn_step(x, h, w_ih, w_hh, b_ih, b_hh, *, act=np.tanh, **pre):
    return act(_rnn_pre(x, h, w_ih, w_hh, b_ih, b_hh, **pre))


def _identity(a):
    return a


def _rnn_step_grads(dh, x, h_prev, w_ih, w_hh, b_ih, b_hh, *, variant=None):
    """(dx, dh_prev, dw_ih, dw_hh, db_ih, db_hh) of one step, right or with one known mistake."""
    a = _rnn_pre(x, h_prev, w_ih, w_hh, b_ih, b_hh)
    h_next = np.tanh(a)
    if variant == "no_tanh_grad":
        da = dh
    elif variant == "tanh_grad_of_pre":
        da = dh * (1.0 - a ** 2)
    else:
        da = dh * (1.0 - h_next ** 2)
    db = da if variant == "bias_not_summed" else da.sum(axis=0)
    dx = da @ w_ih.T if variant == "dx_transposed" else da @ w_ih
    if variant == "dw_transposed":
        dw_ih, dw_hh = x.T @ da, h_prev.T @ da
    else:
        dw_ih, dw_hh = da.T @ x, da.T @ h_prev
    return dx, da @ w_hh, dw_ih, dw_hh, db, db


def _rnn_seq(x, h0, w_ih, w_hh, b_ih, b_hh, *, variant=None):
    """Every hidden state (N, T, H), right or with one known mistake."""
    if variant == "time_major":  # x read as (T, N, D)
        h, out = h0, []
        for t in range(x.shape[0]):
            h = np.tanh(_rnn_pre(x[t], h, w_ih, w_hh, b_ih, b_hh))
            out.append(h)
        return np.stack(out, axis=0)
    h = np.zeros_like(h0) if variant == "h0_ignored" else h0
    out = []
    for t in range(x.shape[1]):
        start = h0 if variant == "state_not_carried" else h
        if variant == "no_tanh":
            h = _rnn_pre(x[:, t], start, w_ih, w_hh, b_ih, b_hh)
        elif variant == "input_ignored":
            h = np.tanh(_rnn_pre(x[:, t], start, w_ih, w_hh, b_ih, b_hh, use_x=False))
        else:
            h = np.tanh(_rnn_pre(x[:, t], start, w_ih, w_hh, b_ih, b_hh))
        out.append(h)
    if variant == "final_only":
        return out[-1]
    return np.stack(out, axis=1)


def _rnn_seq_grads(dh, x, h0, w_ih, w_hh, b_ih, b_hh, *, variant=None):
    """BPTT: (dx, dh0, dw_ih, dw_hh, db_ih, db_hh), right or with one known mistake."""
    hs = _rnn_seq(x, h0, w_ih, w_hh, b_ih, b_hh)
    steps = x.shape[1]
    prev = [h0] + [hs[:, t] for t in range(steps - 1)]
    dx = np.zeros_like(x)
    totals = [np.zeros_like(w_ih), np.zeros_like(w_hh), np.zeros_like(b_ih), np.zeros_like(b_hh)]
    carried = np.zeros_like(h0)
    order = range(steps) if variant == "forward_in_time" else reversed(range(steps))
    for t in order:
        if variant == "no_carry":
            upstream = dh[:, t]
        elif variant == "final_upstream_only":
            upstream = carried + (dh[:, t] if t == steps - 1 else 0.0)
        else:
            upstream = dh[:, t] + carried
        dx[:, t], carried, *grads = _rnn_step_grads(upstream, x[:, t], prev[t], w_ih, w_hh, b_ih, b_hh)
        for k, g in enumerate(grads):
            overwrite = variant == "all_overwritten" or (variant == "dw_hh_overwritten" and k == 1)
            totals[k] = g.copy() if overwrite else totals[k] + g
    dh0 = np.zeros_like(h0) if variant == "dh0_zero" else carried
    return (dx, dh0, *totals)


def _lstm_gates(a, hidden, order=GATES, all_sigmoid=False):
    blocks = {name: a[:, k * hidden:(k + 1) * hidden] for k, name in enumerate(order)}
    i, f, o = _sigmoid(blocks["i"]), _sigmoid(blocks["f"]), _sigmoid(blocks["o"])
    g = _sigmoid(blocks["g"]) if all_sigmoid else np.tanh(blocks["g"])
    return i, f, g, o


def _lstm_step(x, h, c, w_ih, w_hh, b_ih, b_hh, *, variant=None, order=GATES):
    """(h_next, c_next), right or with one known mistake."""
    a = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh
    i, f, g, o = _lstm_gates(a, h.shape[1], order=order, all_sigmoid=variant == "g_sigmoid")
    if variant == "no_forget":
        c_next = i * g
    elif variant == "no_input_gate":
        c_next = f * c + g
    else:
        c_next = f * c + i * g
    h_next = o * c_next if variant == "no_cell_tanh" else o * np.tanh(c_next)
    return h_next, c_next


def _lstm_step_grads(dh, dc_next, x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh, *, variant=None):
    """(dx, dh_prev, dc_prev, dw_ih, dw_hh, db_ih, db_hh) of one step, right or with one known mistake."""
    hidden = h_prev.shape[1]
    a = x @ w_ih.T + b_ih + h_prev @ w_hh.T + b_hh
    i, f, g, o = _lstm_gates(a, hidden)
    c = f * c_prev + i * g
    tc = np.tanh(c)
    if variant == "no_cell_tanh_grad":
        through_h = dh * o
    elif variant == "cell_tanh_grad_of_c":
        through_h = dh * o * (1.0 - c ** 2)
    else:
        through_h = dh * o * (1.0 - tc ** 2)
    dc = through_h if variant == "dc_next_dropped" else dc_next + through_h
    blocks = {"i": dc * g * i * (1.0 - i), "f": dc * c_prev * f * (1.0 - f), "g": dc * i * (1.0 - g ** 2),
              "o": dh * tc * o * (1.0 - o)}
    order = "ifog" if variant == "gate_grads_ifog" else GATES
    da = np.concatenate([blocks[name] for name in order], axis=1)
    db = da.sum(axis=0)
    dc_prev = dc if variant == "dc_prev_no_forget" else dc * f
    return da @ w_ih, da @ w_hh, dc_prev, da.T @ x, da.T @ h_prev, db, db


def _lstm_seq(x, h0, c0, w_ih, w_hh, b_ih, b_hh, *, variant=None):
    """(h (N, T, H), c_n), right or with one known mistake."""
    h, c, out = h0, c0, []
    for t in range(x.shape[1]):
        h_in = h0 if variant == "h_not_carried" else h
        c_in = c0 if variant == "c_not_carried" else c
        h, c = _lstm_step(x[:, t], h_in, c_in, w_ih, w_hh, b_ih, b_hh, order="ifog" if variant == "ifog" else GATES)
        out.append(h)
    return np.stack(out, axis=1), (h if variant == "h_as_c" else c)


def _lstm_seq_grads(dh, x, h0, c0, w_ih, w_hh, b_ih, b_hh, *, variant=None):
    """BPTT through the LSTM: (dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh), right or with one known mistake."""
    steps = x.shape[1]
    hs, cs, h, c = [h0], [c0], h0, c0
    for t in range(steps):
        h, c = _lstm_step(x[:, t], h, c, w_ih, w_hh, b_ih, b_hh)
        hs.append(h)
        cs.append(c)
    dx = np.zeros_like(x)
    totals = [np.zeros_like(w_ih), np.zeros_like(w_hh), np.zeros_like(b_ih), np.zeros_like(b_hh)]
    dh_carried, dc_carried = np.zeros_like(h0), np.zeros_like(c0)
    for t in reversed(range(steps)):
        upstream = dh[:, t] if variant == "no_carry" else dh[:, t] + dh_carried
        dc_in = np.zeros_like(c0) if variant == "dc_not_carried" else dc_carried
        dx[:, t], dh_carried, dc_carried, *grads = _lstm_step_grads(upstream, dc_in, x[:, t], hs[t], cs[t],
                                                                    w_ih, w_hh, b_ih, b_hh)
        for k, g in enumerate(grads):
            totals[k] = g.copy() if (variant == "dw_hh_overwritten" and k == 1) else totals[k] + g
    dc0 = np.zeros_like(c0) if variant == "dc0_zero" else dc_carried
    return (dx, dh_carried, dc0, *totals)


def _clip(grads, max_norm, *, variant=None):
    """(clipped list, total norm), right or with one known mistake."""
    norms = [float(np.sqrt(np.sum(g * g))) for g in grads]
    total = float(np.sqrt(sum(n * n for n in norms)))
    if variant == "per_array":
        return [g * min(1.0, max_norm / (n + 1e-6)) for g, n in zip(grads, norms)], total
    if variant == "by_value":
        return [np.clip(g, -max_norm, max_norm) for g in grads], total
    if variant == "sum_of_norms":
        total = float(sum(norms))
    scale = max_norm / (total + 1e-6) if variant == "always_rescale" else min(1.0, max_norm / (total + 1e-6))
    clipped = [g * scale for g in grads]
    if variant == "norm_after":
        return clipped, float(np.sqrt(sum(float(np.sum(g * g)) for g in clipped)))
    return clipped, total


# ----------------------------------------------------------------------------------------------
# The known mistakes, each as a function of the raw inputs
# ----------------------------------------------------------------------------------------------

NO_TANH_HINT = (
    "your step has no nonlinearity: the new state is the weighted sum itself. A chain of linear steps is "
    "one linear map of the inputs, however long the sequence, so it cannot model anything a single linear "
    "layer cannot. The RNN squashes the whole pre-activation, both contributions together, with tanh")
INPUT_IGNORED_HINT = (
    "your step never uses its input x_t (through weight_ih and bias_ih), so the states cannot depend on the "
    "sequence at all. The new state combines the current input's contribution with the previous state's")
ONE_BIAS_HINT = (
    "torch's RNN adds two biases, bias_ih and bias_hh. Mathematically one would do, but both are parameters "
    "of nn.RNN with gradients of their own, and the weights are copied from it: add both")
LAYOUT_HINT = (
    "the weights are in torch's layout, (hidden, input) for weight_ih and (hidden, hidden) for weight_hh: "
    "each maps a row vector through its transpose, as nn.Linear does")

RNN_STEP_FORWARD_MISTAKES = [
    Mistake(NO_TANH_HINT, lambda x, h, *p: (_rnn_step(x, h, *p, act=_identity), None)),
    Mistake(INPUT_IGNORED_HINT, lambda x, h, *p: (_rnn_step(x, h, *p, use_x=False), None)),
    Mistake(ONE_BIAS_HINT, lambda x, h, *p: (_rnn_step(x, h, *p, both_biases=False), None)),
    Mistake(LAYOUT_HINT, lambda x, h, *p: (_rnn_step(x, h, *p, transposed=False), None)),
]


def _rnn_step_grad_mistake(variant):
    return lambda dh, x, h, *p: _rnn_step_grads(dh, x, h, *p, variant=variant)


RNN_STEP_BACKWARD_MISTAKES = [
    Mistake("the gradient skipped tanh: the step's output is the tanh of the pre-activation a, so by the chain "
            "rule dh_next is multiplied by tanh's derivative before it reaches a, and from there the weights and "
            "inputs",
            _rnn_step_grad_mistake("no_tanh_grad")),
    Mistake("tanh's derivative is 1 − tanh²(a), which is 1 − h_next² in terms of the step's output: you "
            "squared the pre-activation a instead of its tanh", _rnn_step_grad_mistake("tanh_grad_of_pre")),
    Mistake("each gradient has its parameter's shape and layout: dweight_ih is (hidden, input) like "
            "weight_ih, dweight_hh is (hidden, hidden); you returned their transposes",
            _rnn_step_grad_mistake("dw_transposed")),
    Mistake("the biases are added to every example of the batch, so their gradients sum over the batch "
            "axis and have shape (hidden,)", _rnn_step_grad_mistake("bias_not_summed")),
    Mistake("the forward pass multiplied x by the transpose of weight_ih; the gradient goes back through the "
            "same matrix the other way, which is weight_ih itself, untransposed",
            _rnn_step_grad_mistake("dx_transposed")),
]


def _rnn_seq_mistake(variant):
    return lambda x, h0, *p: (_rnn_seq(x, h0, *p, variant=variant), None)


RNN_FORWARD_MISTAKES = [
    Mistake("the sequence is batch first, (N, T, D): step t reads x[:, t], the t-th column of every example. "
            "You walked along axis 0, the batch", _rnn_seq_mistake("time_major")),
    Mistake(NO_TANH_HINT, _rnn_seq_mistake("no_tanh")),
    Mistake(INPUT_IGNORED_HINT, _rnn_seq_mistake("input_ignored")),
    Mistake("the first step starts from the h0 you are given, not from zeros (a long text is cut into chunks, "
            "and each chunk starts from the state where the previous one ended)", _rnn_seq_mistake("h0_ignored")),
    Mistake("every step starts from h0: the state is not carried. Step t must start from the state step t-1 "
            "produced; that is what makes the network recurrent", _rnn_seq_mistake("state_not_carried")),
    Mistake("return every hidden state, shape (N, T, H), as nn.RNN's output does; the final state is the "
            "last of them", _rnn_seq_mistake("final_only")),
]


def _rnn_bptt_mistake(variant):
    return lambda dh, x, h0, *p: _rnn_seq_grads(dh, x, h0, *p, variant=variant)


OVERWRITE_HINT = (
    "dweight_hh was overwritten at each time step instead of accumulated: the same weight is used at every "
    "step, so its gradient is the sum of every step's contribution (a value used several times: the "
    "gradients add up)")

RNN_BACKWARD_MISTAKES = [
    Mistake(OVERWRITE_HINT, _rnn_bptt_mistake("dw_hh_overwritten")),
    Mistake("the parameter gradients were overwritten at each time step instead of accumulated: the weights "
            "and biases are shared by every step, so their gradients are sums over all the steps",
            _rnn_bptt_mistake("all_overwritten")),
    Mistake("the gradient that flows back from step t+1 into h_t was not added: h_t feeds the layers above "
            "(dh[:, t]) *and* the next step, so the gradient reaching it is the sum of both",
            _rnn_bptt_mistake("no_carry")),
    Mistake("only the last step's upstream gradient was used: every h_t feeds the layers above, so dh[:, t] "
            "enters at every step, added to what comes back from step t+1", _rnn_bptt_mistake("final_upstream_only")),
    Mistake("backpropagation through time runs backwards: the last step first, so that the gradient coming "
            "back from step t+1 is known when step t is processed", _rnn_bptt_mistake("forward_in_time")),
    Mistake("dh0 is not zero: it is the gradient that step 0 sends back to the initial state (what the "
            "previous chunk would receive, if it were not cut off)", _rnn_bptt_mistake("dh0_zero")),
]

GATE_ORDER_HINT = (
    "the four gate blocks are in the wrong order. torch stacks them as i, f, g, o (input gate, forget gate, "
    "candidate, output gate): rows 0..H-1 of the weights and biases belong to i, H..2H-1 to f, and so on "
    "(CS231n uses i, f, o, g; the weights copied from nn.LSTM follow torch)")


def _lstm_step_mistake(variant=None, order=GATES):
    return lambda x, h, c, *p: (*_lstm_step(x, h, c, *p, variant=variant, order=order), None)


LSTM_STEP_FORWARD_MISTAKES = [
    Mistake(GATE_ORDER_HINT, _lstm_step_mistake(order="".join(order)))
    for order in itertools.permutations(GATES) if "".join(order) != GATES
] + [
    Mistake("h_next is the output gate times tanh of the new cell state; you left out the tanh, so h is not "
            "bounded by the gate", _lstm_step_mistake("no_cell_tanh")),
    Mistake("the new cell state keeps the old one, scaled by the forget gate, and adds the gated candidate; "
            "yours dropped the old cell state, so the cell remembers nothing", _lstm_step_mistake("no_forget")),
    Mistake("the candidate g is added to the cell through the input gate i; without i nothing decides how "
            "much of it to write", _lstm_step_mistake("no_input_gate")),
    Mistake("the candidate g uses tanh (it can be negative, so it can decrease the cell); only the gates i, f "
            "and o use the sigmoid", _lstm_step_mistake("g_sigmoid")),
]


def _lstm_step_grad_mistake(variant):
    return lambda dh, dc, x, h, c, *p: _lstm_step_grads(dh, dc, x, h, c, *p, variant=variant)


CELL_CARRY_HINT = (
    "the cell-state gradient was not carried back: the cell is a second path through time, and the gradient "
    "that reaches c_t from the next step (dc_next) adds to what arrives through h_t. That path is what lets "
    "an LSTM learn long-range dependencies")

LSTM_STEP_BACKWARD_MISTAKES = [
    Mistake(CELL_CARRY_HINT, _lstm_step_grad_mistake("dc_next_dropped")),
    Mistake("c_prev enters the new cell state multiplied by the forget gate, so its gradient is the cell's "
            "gradient scaled by f", _lstm_step_grad_mistake("dc_prev_no_forget")),
    Mistake("h is the output gate times tanh(c): the gradient reaching c through h passes through tanh's "
            "derivative, 1 − tanh²(c)", _lstm_step_grad_mistake("no_cell_tanh_grad")),
    Mistake("tanh's derivative at c is 1 − tanh²(c): square tanh(c), not c itself",
            _lstm_step_grad_mistake("cell_tanh_grad_of_c")),
    Mistake("the gate gradients must be stacked in the same order as the gates in the weights, torch's i, f, "
            "g, o; yours follow i, f, o, g", _lstm_step_grad_mistake("gate_grads_ifog")),
]


def _lstm_seq_mistake(variant):
    return lambda x, h0, c0, *p: (*_lstm_seq(x, h0, c0, *p, variant=variant), None)


LSTM_FORWARD_MISTAKES = [
    Mistake(GATE_ORDER_HINT, _lstm_seq_mistake("ifog")),
    Mistake("the cell state is not carried from step to step: each step must start from the (h, c) the "
            "previous step produced, c included", _lstm_seq_mistake("c_not_carried")),
    Mistake("the hidden state is not carried from step to step: each step must start from the h the previous "
            "step produced", _lstm_seq_mistake("h_not_carried")),
    Mistake("the second output is the final *cell* state c_T (torch's c_n), not the final hidden state",
            _lstm_seq_mistake("h_as_c")),
]


def _lstm_bptt_mistake(variant):
    return lambda dh, x, h0, c0, *p: _lstm_seq_grads(dh, x, h0, c0, *p, variant=variant)


LSTM_BACKWARD_MISTAKES = [
    Mistake(CELL_CARRY_HINT, _lstm_bptt_mistake("dc_not_carried")),
    Mistake(OVERWRITE_HINT, _lstm_bptt_mistake("dw_hh_overwritten")),
    Mistake("the gradient that flows back from step t+1 into h_t was not added: h_t feeds the layers above "
            "(dh[:, t]) *and* the next step, so the gradient reaching it is the sum of both",
            _lstm_bptt_mistake("no_carry")),
    Mistake("dc0 is not zero: it is the gradient that step 0 sends back to the initial cell state",
            _lstm_bptt_mistake("dc0_zero")),
]


def _clip_mistake(variant):
    return lambda grads, max_norm: _clip(grads, max_norm, variant=variant)


CLIP_MISTAKES = [
    Mistake("each gradient was clipped by its own norm. Clipping by the global norm measures all the "
            "gradients together, as one long vector, and scales them all by the same factor, so the "
            "direction of the update is kept", _clip_mistake("per_array")),
    Mistake("small gradients were scaled up to max_norm: clipping only ever shrinks. When the total norm is "
            "already within max_norm the gradients stay as they are", _clip_mistake("always_rescale")),
    Mistake("the total norm is the L2 norm of all the entries together: the square root of the sum of "
            "every gradient's squared norm, not the sum of the norms", _clip_mistake("sum_of_norms")),
    Mistake("that is clipping by value (each entry cut to [-max_norm, max_norm], torch's clip_grad_value_), "
            "which changes the gradient's direction. Clip by the global norm: one common scale factor",
            _clip_mistake("by_value")),
    Mistake("return the total norm measured *before* clipping, as torch's clip_grad_norm_ does: it tells you "
            "how large the gradients really were", _clip_mistake("norm_after")),
]


# ----------------------------------------------------------------------------------------------
# Cases
# ----------------------------------------------------------------------------------------------


def _weights(rng, d, hidden, gates, scale=1.0):
    """Weights in torch's layout, of the size torch's initialisation gives, times `scale`."""
    k = scale / np.sqrt(hidden)
    return (rng.uniform(-k, k, size=(gates * hidden, d)), rng.uniform(-k, k, size=(gates * hidden, hidden)),
            rng.uniform(-k, k, size=gates * hidden), rng.uniform(-k, k, size=gates * hidden))


def _step_cases(seed, lstm):
    """(description, x, h_prev, c_prev, params): square weights first, so that layouts cannot hide."""
    rng = np.random.default_rng(seed)
    gates = 4 if lstm else 1
    specs = [("square weights", 2, 3, 3, 1.5, 1.0),
             ("batch of 1", 1, 4, 5, 1.5, 1.0),
             ("more inputs than hidden units", 3, 6, 2, 1.5, 1.0),
             ("zero previous state (a first step)", 2, 3, 4, 1.5, 0.0),
             ("large weights (tanh and sigmoid saturate)", 3, 2, 3, 12.0, 1.0)]
    for _ in range(2):
        n, d, hidden = (int(v) for v in rng.integers(1, 6, size=3))
        d += (n, d) == GRADCHECK_STEP_X
        specs.append(("random shapes", n, d, hidden, 1.5, 1.0))
    for note, n, d, hidden, scale, state in specs:
        params = _weights(rng, d, hidden, gates, scale)
        x = rng.normal(size=(n, d))
        h = rng.uniform(-1, 1, size=(n, hidden)) * state
        c = rng.normal(size=(n, hidden)) * state
        yield f"{note}: x of shape ({n}, {d}), H = {hidden}", x, h, c, params


def _seq_cases(seed, lstm):
    """(description, x, h0, c0, params, dh). The first case has N = T, so a batch/time mix-up shows as values."""
    rng = np.random.default_rng(seed)
    gates = 4 if lstm else 1
    specs = [("batch size equal to the length, N = T = 3, square weights", 3, 3, 3, 3, 1.0, "all"),
             ("a single time step, T = 1", 2, 1, 3, 4, 1.0, "all"),
             ("batch of 1, a longer sequence T = 9", 1, 9, 2, 3, 1.0, "all"),
             ("zero initial state", 2, 4, 3, 2, 0.0, "all"),
             ("a loss on the final state only (dh is 0 before the last step)", 2, 5, 3, 4, 1.0, "last")]
    for _ in range(2):
        n, steps, d, hidden = (int(v) for v in rng.integers(1, 6, size=4))
        d += (n, steps, d) == GRADCHECK_SEQ_X
        specs.append(("random shapes", n, steps, d, hidden, 1.0, "all"))
    for note, n, steps, d, hidden, state, upstream in specs:
        params = _weights(rng, d, hidden, gates, 1.5)
        x = rng.normal(size=(n, steps, d))
        h0 = rng.uniform(-1, 1, size=(n, hidden)) * state
        c0 = rng.normal(size=(n, hidden)) * state
        dh = rng.normal(size=(n, steps, hidden))
        if upstream == "last":
            dh[:, :-1] = 0.0
        described = (f"{note}: x of shape ({n}, {steps}, {d}), H = {hidden}"
                     + ("" if upstream == "all" else ", dh nonzero only at the last step"))
        yield described, x, h0, c0, params, dh


def _gradcheck_case(seed, lstm, sequence):
    """A small case with no other case's shape, for the centred differences."""
    rng = np.random.default_rng(seed + 99)
    gates = 4 if lstm else 1
    shape, hidden = (GRADCHECK_SEQ_X if sequence else GRADCHECK_STEP_X), 3
    n, d = shape[0], shape[-1]
    params = _weights(rng, d, hidden, gates, 1.5)
    x = rng.normal(size=shape)
    h0 = rng.uniform(-1, 1, size=(n, hidden))
    c0 = rng.normal(size=(n, hidden))
    dh = rng.normal(size=shape[:-1] + (hidden,))
    return x, h0, c0, params, dh


# ----------------------------------------------------------------------------------------------
# Shared steps of the checks
# ----------------------------------------------------------------------------------------------


def _unpack(c, result, count, what, case, hint):
    return c.expect_tuple(result, count, case=case, what=what, hint=hint)


def _forward_first(c, fn, args, count, what, expected, names, case, check_name):
    """Call the learner's forward (its cache feeds the backward) and make sure its outputs are right first."""
    result = _unpack(c, c.call(fn, *args, case=case), count, what, case,
                     hint=f"keep the exercise's signature and outputs ({check_name} checks them)")
    for name, actual, exp in zip(names, result, expected):
        mismatch = find_mismatch(actual, exp, name=f"{name} from your {what}")
        if mismatch is not None:
            c.fail(f"on case {case}, {mismatch}",
                   hint=f"the backward pass needs a right forward pass first: {check_name} says what is wrong")
    return result


def _finite_differences(c, torch_fn, arrays, analytic, dout, *, case, names):
    """Confirm analytic gradients with centred differences of the float64 torch forward."""
    expect_finite_differences(c, torch_fn, arrays, analytic, dout, case=case, names=names, h=GRADCHECK_H,
                              tol=GRADCHECK_TOL, hint='go through the chain rule one factor at a time, on paper, for one time step')


def _compare_grads(c, suspects, grads, expected, names, case, args):
    for k, (name, actual, exp) in enumerate(zip(names, grads, expected)):
        suspects.expect_close(c, actual, exp, case=case, name=name, args=args, pick=k)


# ----------------------------------------------------------------------------------------------
# The checks: vanilla RNN
# ----------------------------------------------------------------------------------------------

RNN_STEP_GRADS = ("dx", "dh_prev") + PARAMS
RNN_GRADS = ("dx", "dh0") + PARAMS
LSTM_STEP_GRADS = ("dx", "dh_prev", "dc_prev") + PARAMS
LSTM_GRADS = ("dx", "dh0", "dc0") + PARAMS


@exercise("rnn.rnn_step_forward", points=1, compared="nn.RNNCell (tanh)")
def check_rnn_step_forward(c, rnn_step_forward, seed=0):
    """rnn_step_forward(x, h_prev, weight_ih, weight_hh, bias_ih, bias_hh) returns (h_next, cache)."""
    suspects = Suspects(RNN_STEP_FORWARD_MISTAKES)
    for case, x, h, _, params in _step_cases(seed, lstm=False):
        result = _unpack(c, c.call(rnn_step_forward, x, h, *params, case=case), 2, "rnn_step_forward", case,
                         hint="return the pair (h_next, cache); the cache holds what the backward pass needs")
        expected, _ = c.reference(torch_rnn_step, x, h, *params)
        suspects.expect_close(c, result[0], expected, case=case, name="h_next", args=(x, h, *params), pick=0)


@exercise("rnn.rnn_step_backward", points=2, compared="torch.autograd through nn.RNNCell and finite differences")
def check_rnn_step_backward(c, rnn_step_forward, rnn_step_backward, seed=0):
    """rnn_step_backward(dh_next, cache) returns (dx, dh_prev, dweight_ih, dweight_hh, dbias_ih, dbias_hh)."""
    rng = np.random.default_rng(seed + 1)
    suspects = Suspects(RNN_STEP_BACKWARD_MISTAKES)
    for case, x, h, _, params in _step_cases(seed, lstm=False):
        dh = rng.normal(size=(x.shape[0], h.shape[1]))
        expected_h, grads = c.reference(torch_rnn_step, x, h, *params, dout=dh)
        _, cache = _forward_first(c, rnn_step_forward, (x, h, *params), 2, "rnn_step_forward", [expected_h],
                                  ["h_next"], case, "check_rnn_step_forward")
        result = _unpack(c, c.call(rnn_step_backward, dh, cache, case=case), 6, "rnn_step_backward", case,
                         hint="return the six gradients (dx, dh_prev, dweight_ih, dweight_hh, dbias_ih, dbias_hh)")
        _compare_grads(c, suspects, result, grads, RNN_STEP_GRADS, case, (dh, x, h, *params))
    x, h, _, params, dh = _gradcheck_case(seed, lstm=False, sequence=False)
    case = f"finite differences on x of shape {x.shape}, H = {h.shape[1]}"
    _, cache = _forward_first(c, rnn_step_forward, (x, h, *params), 2, "rnn_step_forward",
                              [c.reference(torch_rnn_step, x, h, *params)[0]], ["h_next"], case,
                              "check_rnn_step_forward")
    result = _unpack(c, c.call(rnn_step_backward, dh, cache, case=case), 6, "rnn_step_backward", case, hint="")
    _finite_differences(c, torch_rnn_step, [x, h, *params], result, dh, case=case, names=RNN_STEP_GRADS)


@exercise("rnn.rnn_forward", points=1, compared="nn.RNN (tanh, batch_first=True)")
def check_rnn_forward(c, rnn_forward, seed=0):
    """rnn_forward(x, h0, weight_ih, weight_hh, bias_ih, bias_hh) returns (h, cache); h is (N, T, H)."""
    suspects = Suspects(RNN_FORWARD_MISTAKES)
    for case, x, h0, _, params, _ in _seq_cases(seed, lstm=False):
        result = _unpack(c, c.call(rnn_forward, x, h0, *params, case=case), 2, "rnn_forward", case,
                         hint="return the pair (h, cache), with every hidden state in h")
        expected, _ = c.reference(torch_rnn, x, h0, *params)
        suspects.expect_close(c, result[0], expected, case=case, name="h", args=(x, h0, *params), pick=0)
        final, _ = c.reference(torch_rnn_final, x, h0, *params)
        c.expect_close(np.asarray(result[0])[:, -1], final, case=case, name="h[:, -1] against nn.RNN's h_n")


@exercise("rnn.rnn_backward", points=2, compared="torch.autograd through nn.RNN and finite differences")
def check_rnn_backward(c, rnn_forward, rnn_backward, seed=0):
    """rnn_backward(dh, cache) returns (dx, dh0, dweight_ih, dweight_hh, dbias_ih, dbias_hh)."""
    suspects = Suspects(RNN_BACKWARD_MISTAKES)
    for case, x, h0, _, params, dh in _seq_cases(seed, lstm=False):
        expected_h, grads = c.reference(torch_rnn, x, h0, *params, dout=dh)
        _, cache = _forward_first(c, rnn_forward, (x, h0, *params), 2, "rnn_forward", [expected_h], ["h"], case,
                                  "check_rnn_forward")
        result = _unpack(c, c.call(rnn_backward, dh, cache, case=case), 6, "rnn_backward", case,
                         hint="return the six gradients (dx, dh0, dweight_ih, dweight_hh, dbias_ih, dbias_hh)")
        _compare_grads(c, suspects, result, grads, RNN_GRADS, case, (dh, x, h0, *params))
    x, h0, _, params, dh = _gradcheck_case(seed, lstm=False, sequence=True)
    case = f"finite differences on x of shape {x.shape}, H = {h0.shape[1]}"
    _, cache = _forward_first(c, rnn_forward, (x, h0, *params), 2, "rnn_forward",
                              [c.reference(torch_rnn, x, h0, *params)[0]], ["h"], case, "check_rnn_forward")
    result = _unpack(c, c.call(rnn_backward, dh, cache, case=case), 6, "rnn_backward", case, hint="")
    _finite_differences(c, torch_rnn, [x, h0, *params], result, dh, case=case, names=RNN_GRADS)


# ----------------------------------------------------------------------------------------------
# The checks: LSTM
# ----------------------------------------------------------------------------------------------


@exercise("rnn.lstm_step_forward", points=1, compared="nn.LSTMCell")
def check_lstm_step_forward(c, lstm_step_forward, seed=0):
    """lstm_step_forward(x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh) returns (h_next, c_next, cache)."""
    suspects = Suspects(LSTM_STEP_FORWARD_MISTAKES)
    for case, x, h, cell, params in _step_cases(seed, lstm=True):
        result = _unpack(c, c.call(lstm_step_forward, x, h, cell, *params, case=case), 3, "lstm_step_forward",
                         case, hint="return (h_next, c_next, cache)")
        expected, _ = c.reference(torch_lstm_step, x, h, cell, *params)
        for k, name in enumerate(("h_next", "c_next")):
            suspects.expect_close(c, result[k], expected[k], case=case, name=name, args=(x, h, cell, *params), pick=k)


@exercise("rnn.lstm_step_backward", points=2, compared="torch.autograd through nn.LSTMCell and finite differences")
def check_lstm_step_backward(c, lstm_step_forward, lstm_step_backward, seed=0):
    """lstm_step_backward(dh_next, dc_next, cache) returns (dx, dh_prev, dc_prev, dweight_ih, dweight_hh, dbias_ih, dbias_hh)."""
    rng = np.random.default_rng(seed + 1)
    suspects = Suspects(LSTM_STEP_BACKWARD_MISTAKES)
    for case, x, h, cell, params in _step_cases(seed, lstm=True):
        dh, dc = rng.normal(size=(2, x.shape[0], h.shape[1]))
        expected, grads = c.reference(torch_lstm_step, x, h, cell, *params, dout=np.stack([dh, dc]))
        _, _, cache = _forward_first(c, lstm_step_forward, (x, h, cell, *params), 3, "lstm_step_forward",
                                     list(expected), ["h_next", "c_next"], case, "check_lstm_step_forward")
        result = _unpack(c, c.call(lstm_step_backward, dh, dc, cache, case=case), 7, "lstm_step_backward", case,
                         hint="return the seven gradients (dx, dh_prev, dc_prev, dweight_ih, dweight_hh, dbias_ih, "
                              "dbias_hh)")
        _compare_grads(c, suspects, result, grads, LSTM_STEP_GRADS, case, (dh, dc, x, h, cell, *params))
    x, h, cell, params, dh = _gradcheck_case(seed, lstm=True, sequence=False)
    dc = np.random.default_rng(seed + 2).normal(size=dh.shape)
    case = f"finite differences on x of shape {x.shape}, H = {h.shape[1]}"
    _, _, cache = _forward_first(c, lstm_step_forward, (x, h, cell, *params), 3, "lstm_step_forward",
                                 list(c.reference(torch_lstm_step, x, h, cell, *params)[0]), ["h_next", "c_next"],
                                 case, "check_lstm_step_forward")
    result = _unpack(c, c.call(lstm_step_backward, dh, dc, cache, case=case), 7, "lstm_step_backward", case, hint="")
    _finite_differences(c, torch_lstm_step, [x, h, cell, *params], result, np.stack([dh, dc]), case=case,
                        names=LSTM_STEP_GRADS)


@exercise("rnn.lstm_forward", points=1, compared="nn.LSTM (batch_first=True)")
def check_lstm_forward(c, lstm_forward, seed=0):
    """lstm_forward(x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh) returns (h, c_n, cache)."""
    suspects = Suspects(LSTM_FORWARD_MISTAKES)
    for case, x, h0, c0, params, _ in _seq_cases(seed, lstm=True):
        result = _unpack(c, c.call(lstm_forward, x, h0, c0, *params, case=case), 3, "lstm_forward", case,
                         hint="return (h, c_n, cache): every hidden state, the final cell state, the cache")
        expected, _ = c.reference(torch_lstm, x, h0, c0, *params)
        args = (x, h0, c0, *params)
        suspects.expect_close(c, result[0], expected, case=case, name="h", args=args, pick=0)
        final, _ = c.reference(torch_lstm_final, x, h0, c0, *params)
        c.expect_close(np.asarray(result[0])[:, -1], final[0], case=case, name="h[:, -1] against nn.LSTM's h_n")
        suspects.expect_close(c, result[1], final[1], case=case, name="c_n", args=args, pick=1)


@exercise("rnn.lstm_backward", points=2, compared="torch.autograd through nn.LSTM and finite differences")
def check_lstm_backward(c, lstm_forward, lstm_backward, seed=0):
    """lstm_backward(dh, cache) returns (dx, dh0, dc0, dweight_ih, dweight_hh, dbias_ih, dbias_hh)."""
    suspects = Suspects(LSTM_BACKWARD_MISTAKES)
    for case, x, h0, c0, params, dh in _seq_cases(seed, lstm=True):
        expected_h, grads = c.reference(torch_lstm, x, h0, c0, *params, dout=dh)
        _, _, cache = _forward_first(c, lstm_forward, (x, h0, c0, *params), 3, "lstm_forward", [expected_h], ["h"],
                                     case, "check_lstm_forward")
        result = _unpack(c, c.call(lstm_backward, dh, cache, case=case), 7, "lstm_backward", case,
                         hint="return the seven gradients (dx, dh0, dc0, dweight_ih, dweight_hh, dbias_ih, dbias_hh)")
        _compare_grads(c, suspects, result, grads, LSTM_GRADS, case, (dh, x, h0, c0, *params))
    x, h0, c0, params, dh = _gradcheck_case(seed, lstm=True, sequence=True)
    case = f"finite differences on x of shape {x.shape}, H = {h0.shape[1]}"
    _, _, cache = _forward_first(c, lstm_forward, (x, h0, c0, *params), 3, "lstm_forward",
                                 [c.reference(torch_lstm, x, h0, c0, *params)[0]], ["h"], case, "check_lstm_forward")
    result = _unpack(c, c.call(lstm_backward, dh, cache, case=case), 7, "lstm_backward", case, hint="")
    _finite_differences(c, torch_lstm, [x, h0, c0, *params], result, dh, case=case, names=LSTM_GRADS)


# ----------------------------------------------------------------------------------------------
# Gradient clipping
# ----------------------------------------------------------------------------------------------


def _clip_cases(seed):
    """(description, grads, max_norm). One array first (where clipping each array alone is still right)."""
    rng = np.random.default_rng(seed)
    yield "one gradient of shape (3, 4), total norm above max_norm = 1", [rng.normal(size=(3, 4)) * 2], 1.0
    yield ("three gradients of shapes (4, 3), (4, 4), (4,), total norm above max_norm = 5, each one below it",
           [rng.normal(size=(4, 3)) * 1.5, rng.normal(size=(4, 4)) * 1.5, rng.normal(size=4) * 1.5], 5.0)
    yield ("two gradients, total norm below max_norm = 10 (nothing to clip)",
           [rng.normal(size=(2, 3)), rng.normal(size=5)], 10.0)
    yield ("two gradients with entries far above max_norm = 0.5",
           [rng.normal(size=(3, 3)) * 10, rng.normal(size=3) * 10], 0.5)
    yield "gradients that are all zero (max_norm = 1)", [np.zeros((2, 2)), np.zeros(3)], 1.0
    for _ in range(2):
        count = int(rng.integers(1, 5))
        grads = [rng.normal(size=tuple(int(n) for n in rng.integers(1, 5, size=int(rng.integers(1, 3))))) * 3
                 for _ in range(count)]
        max_norm = float(rng.uniform(0.5, 6.0))
        yield f"{count} random gradients, max_norm = {max_norm:.3g}", grads, max_norm


def _flat(fn):
    def flat(grads, max_norm):
        clipped, total = fn(grads, max_norm)
        return (total, *clipped)
    return flat


@exercise("rnn.clip_grad_norm", points=1, compared="torch.nn.utils.clip_grad_norm_")
def check_clip_grad_norm(c, clip_grad_norm, seed=0):
    """clip_grad_norm(grads, max_norm) returns (clipped, total_norm): one common scale factor, the norm before."""
    # Each comparison picks its part of a mistake's output, flattened to (total_norm, *clipped).
    suspects = Suspects([Mistake(m.hint, _flat(m.fn)) for m in CLIP_MISTAKES])
    for case, grads, max_norm in _clip_cases(seed):
        result = _unpack(c, c.call(clip_grad_norm, [g.copy() for g in grads], max_norm, case=case), 2,
                         "clip_grad_norm", case, hint="return the pair (clipped, total_norm)")
        clipped, total = result
        if not isinstance(clipped, (list, tuple)) or len(clipped) != len(grads):
            c.fail(f"on case {case}, the clipped gradients should be a list of {len(grads)} arrays, one per "
                   "gradient, in the same order", hint="return a new list with one array per gradient")
        expected, _ = c.reference(lambda *ts: torch_clip_grad_norm(max_norm, *ts), *grads)
        suspects.expect_close(c, total, expected[-1], case=case, name="total_norm", args=(grads, max_norm), pick=0)
        for k, (actual, exp) in enumerate(zip(clipped, expected[:-1])):
            suspects.expect_close(c, actual, exp, case=case, name=f"clipped[{k}]", args=(grads, max_norm), pick=k + 1)


# For the unit tests: each check, its learner functions and its known mistakes.
CHECKS = {
    "rnn_step_forward": check_rnn_step_forward, "rnn_step_backward": check_rnn_step_backward,
    "rnn_forward": check_rnn_forward, "rnn_backward": check_rnn_backward,
    "lstm_step_forward": check_lstm_step_forward, "lstm_step_backward": check_lstm_step_backward,
    "lstm_forward": check_lstm_forward, "lstm_backward": check_lstm_backward,
    "clip_grad_norm": check_clip_grad_norm,
}
MISTAKES = {
    "rnn_step_forward": RNN_STEP_FORWARD_MISTAKES, "rnn_step_backward": RNN_STEP_BACKWARD_MISTAKES,
    "rnn_forward": RNN_FORWARD_MISTAKES, "rnn_backward": RNN_BACKWARD_MISTAKES,
    "lstm_step_forward": LSTM_STEP_FORWARD_MISTAKES, "lstm_step_backward": LSTM_STEP_BACKWARD_MISTAKES,
    "lstm_forward": LSTM_FORWARD_MISTAKES, "lstm_backward": LSTM_BACKWARD_MISTAKES,
    "clip_grad_norm": CLIP_MISTAKES,
}
