"""Optimizer steps from lesson 04: `new_param, new_state = step(param, grad, state, lr, ...)`.

They follow torch.optim step for step (see lesson 04), and change none of their arguments.
"""

import numpy as np


def _decayed_grad(param, grad, weight_decay):
    # torch skips the term when weight_decay is 0, so an infinite parameter stays infinite instead of NaN.
    return grad + weight_decay * param if weight_decay else grad


def sgd_step(param, grad, state, lr, weight_decay=0.0):
    return param - lr * _decayed_grad(param, grad, weight_decay), state


def sgd_momentum_step(param, grad, state, lr, momentum, nesterov=False, weight_decay=0.0):
    d_p = _decayed_grad(param, grad, weight_decay)
    buf = momentum * state["momentum_buffer"] + d_p if "momentum_buffer" in state else np.array(d_p, copy=True)
    update = d_p + momentum * buf if nesterov else buf
    return param - lr * update, {"momentum_buffer": buf}


def adam_step(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    beta1, beta2 = betas
    t = state.get("step", 0) + 1
    g = _decayed_grad(param, grad, weight_decay)
    m = beta1 * state.get("exp_avg", 0.0) + (1 - beta1) * g
    v = beta2 * state.get("exp_avg_sq", 0.0) + (1 - beta2) * g * g
    m_hat = m / (1 - beta1 ** t)
    v_hat = v / (1 - beta2 ** t)
    return param - lr * m_hat / (np.sqrt(v_hat) + eps), {"step": t, "exp_avg": m, "exp_avg_sq": v}


def adamw_step(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    decayed = param * (1 - lr * weight_decay) if weight_decay else param
    return adam_step(decayed, grad, state, lr=lr, betas=betas, eps=eps)
