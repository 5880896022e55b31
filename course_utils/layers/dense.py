"""Dense layers from lesson 05, in the course's forward/backward convention.

`out, cache = f_forward(...)` and `grads = f_backward(dout, cache)`; weights in torch's
(out_features, in_features) layout.
"""

import numpy as np


def linear_forward(x, w, b):
    """out = x @ w.T + b (torch.nn.functional.linear); returns (out, cache)."""
    return x @ w.T + b, (x, w, b)


def linear_backward(dout, cache):
    """(dx, dw, db) for linear_forward."""
    x, w, _ = cache
    return dout @ w, dout.T @ x, dout.sum(axis=0)


def relu(x):
    return np.maximum(x, 0.0)


def relu_backward(dout, x):
    """dout where x > 0, else 0 (torch's subgradient at 0)."""
    return dout * (x > 0)


def softmax_cross_entropy(logits, y):
    """Mean cross-entropy of integer labels y under softmax(logits), from logits; returns (loss, dlogits)."""
    n = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(n), y].mean()
    dlogits = np.exp(log_probs)
    dlogits[np.arange(n), y] -= 1.0
    return loss, dlogits / n
