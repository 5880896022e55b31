"""Recurrent layers from lesson 09: a vanilla (tanh) RNN and an LSTM, forward and backward, and gradient clipping.

The course's convention: `out, cache = f_forward(...)` and `grads = f_backward(dout, cache)`.

* **Weights in torch's layout**, so that comparing with `nn.RNN` / `nn.LSTM` is a copy of the weights:
  `weight_ih (G*H, D)`, `weight_hh (G*H, H)`, `bias_ih (G*H,)`, `bias_hh (G*H,)` with G = 1 for the RNN
  and G = 4 for the LSTM, whose gates are stacked in torch's order i, f, g, o.
* **Batch first**: a sequence batch `x` has shape (N, T, D), like `nn.RNN(..., batch_first=True)` and like
  every other array of the course (batch axis first). Hidden states are (N, H); torch's `h_0` and `h_n`
  carry an extra leading layer axis, (1, N, H).
* Caches are tuples and lists of arrays only (plain data), so they can cross to a grader.

Every function here leaves its arguments unchanged.
"""

import numpy as np


def _sigmoid(x):
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))


# -- vanilla RNN ------------------------------------------------------------------------------------------------


def rnn_step_forward(x, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    """One step, h_next = tanh(x W_ih^T + b_ih + h_prev W_hh^T + b_hh); returns (h_next, cache)."""
    h_next = np.tanh(x @ weight_ih.T + bias_ih + h_prev @ weight_hh.T + bias_hh)
    return h_next, (x, h_prev, weight_ih, weight_hh, h_next)


def rnn_step_backward(dh_next, cache):
    """(dx, dh_prev, dweight_ih, dweight_hh, dbias_ih, dbias_hh) for rnn_step_forward."""
    x, h_prev, weight_ih, weight_hh, h_next = cache
    da = dh_next * (1.0 - h_next ** 2)
    db = da.sum(axis=0)
    return da @ weight_ih, da @ weight_hh, da.T @ x, da.T @ h_prev, db, db.copy()


def rnn_forward(x, h0, weight_ih, weight_hh, bias_ih, bias_hh):
    """Run the RNN over x (N, T, D) from h0 (N, H); returns (h, cache) with every hidden state h (N, T, H).

    The final state (torch's h_n) is h[:, -1].
    """
    n, steps, _ = x.shape
    h = np.empty((n, steps, h0.shape[1]), dtype=np.result_type(x, h0, weight_ih))
    caches, h_t = [], h0
    for t in range(steps):
        h_t, step_cache = rnn_step_forward(x[:, t], h_t, weight_ih, weight_hh, bias_ih, bias_hh)
        h[:, t] = h_t
        caches.append(step_cache)
    return h, caches


def rnn_backward(dh, cache):
    """Backpropagation through time: dh (N, T, H) is dL/dh_t for every step (from the layers above).

    Returns (dx, dh0, dweight_ih, dweight_hh, dbias_ih, dbias_hh). The gradient reaching h_t is its own
    dh[:, t] plus what step t+1 sends back; the parameter gradients add up over the steps.
    """
    n, steps, hidden = dh.shape
    x0, _, weight_ih, weight_hh, _ = cache[0]
    dx = np.empty((n, steps, x0.shape[1]), dtype=dh.dtype)
    grads = [np.zeros_like(weight_ih), np.zeros_like(weight_hh), np.zeros(hidden), np.zeros(hidden)]
    dh_prev = np.zeros((n, hidden), dtype=dh.dtype)
    for t in reversed(range(steps)):
        dx[:, t], dh_prev, *step_grads = rnn_step_backward(dh[:, t] + dh_prev, cache[t])
        for total, g in zip(grads, step_grads):
            total += g
    return (dx, dh_prev, *grads)


# -- LSTM -------------------------------------------------------------------------------------------------------


def lstm_step_forward(x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    """One LSTM step with torch's gate order i, f, g, o; returns (h_next, c_next, cache).

    a = x W_ih^T + b_ih + h_prev W_hh^T + b_hh (N, 4H); i, f, o = sigmoid of their quarters, g = tanh;
    c_next = f * c_prev + i * g; h_next = o * tanh(c_next).
    """
    hidden = h_prev.shape[1]
    a = x @ weight_ih.T + bias_ih + h_prev @ weight_hh.T + bias_hh
    i = _sigmoid(a[:, :hidden])
    f = _sigmoid(a[:, hidden:2 * hidden])
    g = np.tanh(a[:, 2 * hidden:3 * hidden])
    o = _sigmoid(a[:, 3 * hidden:])
    c_next = f * c_prev + i * g
    tanh_c = np.tanh(c_next)
    h_next = o * tanh_c
    return h_next, c_next, (x, h_prev, c_prev, weight_ih, weight_hh, i, f, g, o, tanh_c)


def lstm_step_backward(dh_next, dc_next, cache):
    """(dx, dh_prev, dc_prev, dweight_ih, dweight_hh, dbias_ih, dbias_hh) for lstm_step_forward.

    dc_next is the gradient that reaches c_next from the next step; h_next adds its own through tanh.
    """
    x, h_prev, c_prev, weight_ih, weight_hh, i, f, g, o, tanh_c = cache
    dc = dc_next + dh_next * o * (1.0 - tanh_c ** 2)
    da = np.concatenate([dc * g * i * (1.0 - i),            # input gate
                         dc * c_prev * f * (1.0 - f),       # forget gate
                         dc * i * (1.0 - g ** 2),           # candidate
                         dh_next * tanh_c * o * (1.0 - o)],  # output gate
                        axis=1)
    db = da.sum(axis=0)
    return da @ weight_ih, da @ weight_hh, dc * f, da.T @ x, da.T @ h_prev, db, db.copy()


def lstm_forward(x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh):
    """Run the LSTM over x (N, T, D) from (h0, c0); returns (h, c_n, cache).

    h (N, T, H) holds every hidden state (torch's output); c_n (N, H) is the final cell state, which the
    next chunk of a long sequence starts from. The final hidden state h_n is h[:, -1].
    """
    n, steps, _ = x.shape
    h = np.empty((n, steps, h0.shape[1]), dtype=np.result_type(x, h0, weight_ih))
    caches, h_t, c_t = [], h0, c0
    for t in range(steps):
        h_t, c_t, step_cache = lstm_step_forward(x[:, t], h_t, c_t, weight_ih, weight_hh, bias_ih, bias_hh)
        h[:, t] = h_t
        caches.append(step_cache)
    return h, c_t, caches


def lstm_backward(dh, cache):
    """BPTT through the LSTM: dh (N, T, H) is dL/dh_t for every step (nothing reaches c_n from above).

    Returns (dx, dh0, dc0, dweight_ih, dweight_hh, dbias_ih, dbias_hh): both the hidden and the cell
    state carry a gradient back from each step to the one before.
    """
    n, steps, hidden = dh.shape
    x0, _, _, weight_ih, weight_hh = cache[0][:5]
    dx = np.empty((n, steps, x0.shape[1]), dtype=dh.dtype)
    grads = [np.zeros_like(weight_ih), np.zeros_like(weight_hh), np.zeros(4 * hidden), np.zeros(4 * hidden)]
    dh_prev = np.zeros((n, hidden), dtype=dh.dtype)
    dc_prev = np.zeros((n, hidden), dtype=dh.dtype)
    for t in reversed(range(steps)):
        dx[:, t], dh_prev, dc_prev, *step_grads = lstm_step_backward(dh[:, t] + dh_prev, dc_prev, cache[t])
        for total, g in zip(grads, step_grads):
            total += g
    return (dx, dh_prev, dc_prev, *grads)


# -- gradient clipping ------------------------------------------------------------------------------------------


def clip_grad_norm(grads, max_norm):
    """Scale every gradient by one factor so that their global L2 norm is at most max_norm.

    Returns (clipped, total_norm): new arrays, and the norm *before* clipping, as
    torch.nn.utils.clip_grad_norm_ does (it also divides by total_norm + 1e-6, and never scales up).
    """
    total_norm = float(np.sqrt(sum(float(np.sum(g * g)) for g in grads)))
    scale = min(1.0, max_norm / (total_norm + 1e-6))
    return [g * scale for g in grads], total_norm
