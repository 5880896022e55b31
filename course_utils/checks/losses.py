"""Checks for 02_losses: MSE, L1, Huber, binary cross-entropy (from probabilities and from logits) and
cross-entropy from logits, each forward and backward, with every reduction torch offers.

Conventions (those of torch.nn.functional):
    loss = mse_loss(input, target, reduction="mean")
    dinput = mse_loss_backward(dout, input, target, reduction="mean")
`dout` is the upstream gradient: a scalar for 'mean' and 'sum', an array shaped like the loss for 'none'.
The backward checks compare with torch.autograd (gradients of sum(loss * dout)) and then confirm on a
small case with centred finite differences of the torch loss.

Each exercise has a list of known mistakes (XXX_MISTAKES); MISTAKES maps function names to them.
The mistake functions use NumPy only (they are also run as "learner code" by the unit tests). A mistake's
hint is offered only while the mistake agrees with every comparison the learner has passed
(course_utils.hints.Suspects).
"""

import numpy as np
import torch.nn.functional as F

from course_utils.checking import Mistake, exercise
from course_utils.compare import rel_error
from course_utils.gradcheck import numerical_gradient
from course_utils.hints import Suspects
from course_utils.torch_ref import torch_reference

REDUCTIONS = ("none", "mean", "sum")  # 'none' first: per-element outputs tell the mistakes apart
FD_TOLERANCE = 1e-6  # relative error (CS231n convention) allowed against centred differences in float64

# -- NumPy helpers for the mistakes (never reached by learner code) ----------------------------------


def _reduce(values, reduction):
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    return values


def _upstream(dout, loss_shape, reduction, like):
    """d(reduced loss)/d(per-element loss) times dout, shaped to broadcast against `like`."""
    if reduction == "mean":
        up = np.full(loss_shape, float(dout) / max(1, int(np.prod(loss_shape))))
    elif reduction == "sum":
        up = np.full(loss_shape, float(dout))
    else:
        up = np.asarray(dout, dtype=np.float64)
    return up.reshape(up.shape + (1,) * (np.ndim(like) - up.ndim))


def _sigmoid(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _log_softmax(z, axis=1):
    shifted = z - z.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _pick(values, target):
    return values[np.arange(values.shape[0]), target]


def _one_hot(target, classes):
    out = np.zeros((target.shape[0], classes))
    out[np.arange(target.shape[0]), target] = 1.0
    return out


# Right per-element losses and local gradients, the building blocks of the wrong variants below.
def _mse_each(x, y):
    return (x - y) ** 2


def _l1_each(x, y):
    return np.abs(x - y)


def _huber_each(x, y, delta=1.0):
    e = x - y
    return np.where(np.abs(e) < delta, 0.5 * e**2, delta * (np.abs(e) - 0.5 * delta))


def _bce_each(p, y):
    with np.errstate(divide="ignore"):
        return -(y * np.maximum(np.log(p), -100.0) + (1 - y) * np.maximum(np.log1p(-p), -100.0))


def _bce_logits_each(z, y):
    return np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))


def _ce_each(z, t):
    return -_pick(_log_softmax(z), t)


def _mse_local(x, y):
    return 2 * (x - y)


def _l1_local(x, y):
    return np.sign(x - y)


def _huber_local(x, y, delta=1.0):
    return np.clip(x - y, -delta, delta)


# torch bounds the denominator of BCE's gradient by 1e-12 stored as a float32: 9.99999996e-13 in float64.
BCE_EPSILON = float(np.float32(1e-12))


def _bce_local(p, y):
    return (p - y) / np.maximum(p * (1 - p), BCE_EPSILON)


def _bce_logits_local(z, y):
    return _sigmoid(z) - y


def _ce_local(z, t):
    return np.exp(_log_softmax(z)) - _one_hot(t, z.shape[1])


# -- the mistakes every loss can make -------------------------------------------------------------


def _forward(each):
    """A forward function from a per-element loss; `each` takes (input, target, **kw)."""

    def loss(input, target, reduction="mean", **kw):
        return _reduce(each(input, target, **kw), reduction)

    return loss


def _backward(local, per_sample=False, scale=1.0, reduction_map=None, ignore_dout=False):
    """A backward function: upstream gradient of the (possibly mis-)reduced loss times local(input, target)."""

    def backward(dout, input, target, reduction="mean", **kw):
        g = local(input, target, **kw)
        shape = input.shape[:1] if per_sample else input.shape
        used = (reduction_map or {}).get(reduction, reduction)
        d = np.ones(shape) if (ignore_dout and reduction == "none") else (1.0 if ignore_dout else dout)
        return scale * _upstream(d, shape, used, g) * g

    return backward


def _reduction_mistakes(each, what, sum_for_mean_hint=None):
    def sum_for_mean(input, target, reduction="mean", **kw):
        return _reduce(each(input, target, **kw), "sum" if reduction == "mean" else reduction)

    def mean_for_sum(input, target, reduction="mean", **kw):
        return _reduce(each(input, target, **kw), "mean" if reduction == "sum" else reduction)

    def reduced_none(input, target, reduction="mean", **kw):
        return _reduce(each(input, target, **kw), "mean" if reduction == "none" else reduction)

    def wrong_sign(input, target, reduction="mean", **kw):
        return -_reduce(each(input, target, **kw), reduction)

    return [
        Mistake(sum_for_mean_hint or f"with reduction='mean' divide the sum by the number of {what}: you "
                "returned the sum (a missing 1/N)", sum_for_mean),
        Mistake("with reduction='sum' the loss is the plain sum: you divided by N (an extra 1/N)", mean_for_sum),
        Mistake("with reduction='none' the loss is the per-element losses, unreduced (the same shape as before "
                "the reduction)", reduced_none),
        Mistake("your loss has the wrong sign: a loss is ≥ 0 and grows with the error", wrong_sign),
    ]


def _backward_reduction_mistakes(local, what, per_sample=False, missing_hint=None):
    return [
        Mistake(missing_hint or f"with reduction='mean' each element's gradient is divided by N, the number of "
                f"{what}: you left out the 1/N", _backward(local, per_sample, reduction_map={"mean": "sum"})),
        Mistake("with reduction='sum' there is no 1/N in the gradient: you divided by N",
                _backward(local, per_sample, reduction_map={"sum": "mean"})),
        Mistake("you ignored dout: multiply the local gradient by the upstream gradient dout (chain rule)",
                _backward(local, per_sample, ignore_dout=True)),
        Mistake("your gradient has the wrong sign: it must point uphill, towards larger loss",
                _backward(local, per_sample, scale=-1.0)),
    ]


# -- per-loss mistakes ---------------------------------------------------------------------------
# Hints name the misconception and the idea that fixes it, never the code (tests/test_hints.py). Formulas
# in them are written as mathematics (e², σ(z), −), not as Python.

MSE_LOSS_MISTAKES = _reduction_mistakes(_mse_each, "elements") + [
    Mistake("torch's mse_loss has no ½ in front: each element costs its squared error",
            _forward(lambda x, y: 0.5 * (x - y) ** 2)),
    Mistake("you took a square root: mse_loss is the mean squared error, not its root (RMSE)",
            lambda x, y, reduction="mean": np.sqrt(_reduce((x - y) ** 2, reduction))),
    Mistake("square each error before averaging: you squared the mean error",
            lambda x, y, reduction="mean": _reduce(x - y, reduction) ** 2),
]

MSE_LOSS_BACKWARD_MISTAKES = [
    Mistake("the derivative of e² with respect to the input is 2e: you are missing the factor 2",
            _backward(lambda x, y: x - y)),
] + _backward_reduction_mistakes(_mse_local, "elements")

L1_LOSS_MISTAKES = _reduction_mistakes(_l1_each, "elements") + [
    Mistake("take the absolute value of every error: you left the sign in, so errors cancel",
            _forward(lambda x, y: x - y)),
    Mistake("take the absolute value of each error before averaging, not of the mean",
            lambda x, y, reduction="mean": np.abs(_reduce(x - y, reduction))),
]

L1_AT_ZERO = ("at an error of exactly 0, torch's (sub)gradient of |e| is 0, the sign of 0; your test sends 0 to one "
              "side, +1 or −1")

L1_LOSS_BACKWARD_MISTAKES = [
    Mistake(L1_AT_ZERO, _backward(lambda x, y: np.where(x - y >= 0, 1.0, -1.0))),
    Mistake(L1_AT_ZERO, _backward(lambda x, y: np.where(x - y > 0, 1.0, -1.0))),
    Mistake("e/|e| is 0/0 = NaN where input equals target; the sign function gives the same ±1 elsewhere and 0 "
            "there, as in torch",
            _backward(lambda x, y: (x - y) / np.abs(x - y))),
    Mistake("the derivative of |e| is the sign of e (±1), not e itself (that is half of MSE's)",
            _backward(lambda x, y: x - y)),
] + _backward_reduction_mistakes(_l1_local, "elements")

HUBER_IGNORES_DELTA = ("you ignored the delta argument (always 1): the threshold between the quadratic and the "
                       "linear piece, and the slope of the linear piece, are the delta you are given")

HUBER_LOSS_MISTAKES = _reduction_mistakes(_huber_each, "elements") + [
    Mistake("this is the 'Husker loss', a mistake of the material this course corrects, not a real loss: the "
            "max of ½e² and δ(|e| − δ/2) is always the parabola, which lies above its tangent line. Huber has no "
            "max: it picks the piece by comparing |e| with δ, quadratic inside and linear outside",
            _forward(lambda x, y, delta=1.0: np.maximum(0.5 * (x - y) ** 2,
                                                        delta * (np.abs(x - y) - 0.5 * delta)))),
    Mistake("the pieces are swapped: Huber is quadratic near zero (|e| < δ) and linear outside",
            _forward(lambda x, y, delta=1.0: np.where(np.abs(x - y) < delta,
                                                      delta * (np.abs(x - y) - 0.5 * delta), 0.5 * (x - y) ** 2))),
    Mistake("the quadratic piece is ½e²: you left out the ½, so the pieces do not meet at |e| = δ",
            _forward(lambda x, y, delta=1.0: np.where(np.abs(x - y) < delta,
                                                      (x - y) ** 2, delta * (np.abs(x - y) - 0.5 * delta)))),
    Mistake("the linear piece is δ(|e| − δ/2): without the −δ/2 the pieces do not meet at |e| = δ",
            _forward(lambda x, y, delta=1.0: np.where(np.abs(x - y) < delta,
                                                      0.5 * (x - y) ** 2, delta * np.abs(x - y)))),
    Mistake("this is smooth_l1_loss with beta = δ, which is huber_loss divided by δ: both of Huber's pieces carry "
            "one more factor δ",
            _forward(lambda x, y, delta=1.0: np.where(np.abs(x - y) < delta,
                                                      0.5 * (x - y) ** 2 / delta, np.abs(x - y) - 0.5 * delta))),
    Mistake("the linear piece is δ(|e| − δ/2): you left out the factor δ in front",
            _forward(lambda x, y, delta=1.0: np.where(np.abs(x - y) < delta,
                                                      0.5 * (x - y) ** 2, np.abs(x - y) - 0.5 * delta))),
    Mistake("compare |e| with δ, not the signed error e: large negative errors must be linear too",
            _forward(lambda x, y, delta=1.0: np.where((x - y) < delta,
                                                      0.5 * (x - y) ** 2, delta * (np.abs(x - y) - 0.5 * delta)))),
    Mistake(HUBER_IGNORES_DELTA, _forward(lambda x, y, delta=1.0: _huber_each(x, y, 1.0))),
]

HUBER_LOSS_BACKWARD_MISTAKES = [
    Mistake("this is the gradient of the 'Husker' max (a mistake, not a real loss), e everywhere: Huber's gradient "
            "is e inside |e| < δ and capped at ±δ outside",
            _backward(lambda x, y, delta=1.0: x - y)),
    Mistake("the pieces are swapped: the gradient is e near zero (|e| < δ) and ±δ outside",
            _backward(lambda x, y, delta=1.0: np.where(np.abs(x - y) < delta, delta * np.sign(x - y), x - y))),
    Mistake("the quadratic piece is ½e², whose derivative is e, not 2e",
            _backward(lambda x, y, delta=1.0: np.where(np.abs(x - y) < delta, 2 * (x - y),
                                                       delta * np.sign(x - y)))),
    Mistake("outside |e| < δ the gradient is ±δ, not ±1: the linear piece has slope δ",
            _backward(lambda x, y, delta=1.0: np.where(np.abs(x - y) < delta, x - y, np.sign(x - y)))),
    Mistake("outside |e| < δ the gradient has the sign of the error: for large negative errors it is −δ",
            _backward(lambda x, y, delta=1.0: np.where(np.abs(x - y) < delta, x - y, delta))),
    Mistake(HUBER_IGNORES_DELTA, _backward(lambda x, y, delta=1.0: _huber_local(x, y, 1.0))),
] + _backward_reduction_mistakes(_huber_local, "elements")

BCE_EPSILON_IN_LOG = ("torch neither clips p to [ε, 1 − ε] nor adds a small ε inside the log; it clamps each log at "
                      "−100, so a certain, wrong prediction costs exactly 100")

BINARY_CROSS_ENTROPY_MISTAKES = [
    Mistake("at p = 0 or 1 one log is −inf, and 0 times −inf is NaN: torch clamps each log at −100 before "
            "multiplying by the target",
            _forward(lambda p, y: -(y * np.log(p) + (1 - y) * np.log(1 - p)))),
    Mistake("clamp the log itself at −100, before multiplying by the target: the product 0 times −inf is "
            "already NaN",
            _forward(lambda p, y: -(np.maximum(y * np.log(p), -100) + np.maximum((1 - y) * np.log(1 - p), -100)))),
    Mistake(BCE_EPSILON_IN_LOG,
            _forward(lambda p, y: -(y * np.log(np.clip(p, 1e-7, 1 - 1e-7))
                                    + (1 - y) * np.log(1 - np.clip(p, 1e-7, 1 - 1e-7))))),
    Mistake(BCE_EPSILON_IN_LOG, _forward(lambda p, y: -(y * np.log(p + 1e-7) + (1 - y) * np.log(1 - p + 1e-7)))),
    Mistake(BCE_EPSILON_IN_LOG, _forward(lambda p, y: -(y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12)))),
    Mistake("the (1 − y)·log(1 − p) term is missing: a negative example (y = 0) must cost something too",
            _forward(lambda p, y: -y * np.maximum(np.log(p), -100))),
] + _reduction_mistakes(_bce_each, "elements")

BINARY_CROSS_ENTROPY_BACKWARD_MISTAKES = [
    Mistake("(p − y)/(p(1 − p)) is inf or NaN at p = 0 or 1: torch keeps the denominator away from 0 with a tiny "
            "lower bound (its float32 1e-12)",
            _backward(lambda p, y: (p - y) / (p * (1 - p)))),
    Mistake("p − y is the gradient with respect to the logit z; with respect to the probability p there is one "
            "more factor, the derivative of the sigmoid, to divide by",
            _backward(lambda p, y: p - y)),
    Mistake("you kept only the −y/p term; the (1 − y)/(1 − p) term of the negative examples is missing",
            _backward(lambda p, y: -y / np.maximum(p, 1e-12))),
    Mistake("torch does not clip p; it bounds the denominator p(1 − p) from below by a tiny number instead",
            _backward(lambda p, y: (np.clip(p, 1e-7, 1 - 1e-7) - y)
                      / (np.clip(p, 1e-7, 1 - 1e-7) * (1 - np.clip(p, 1e-7, 1 - 1e-7))))),
] + _backward_reduction_mistakes(_bce_local, "elements")


def _naive_sigmoid(z):
    return 1 / (1 + np.exp(-z))


BINARY_CROSS_ENTROPY_WITH_LOGITS_MISTAKES = [
    Mistake("log σ(z) breaks at large |z|: σ(z) rounds to exactly 0 or 1 (and e⁻ᶻ overflows), so a log gives "
            "−inf and the loss inf or NaN. Work with the logits: log(1 + eᶻ) − yz, written so that exp only sees "
            "numbers that are not positive",
            _forward(lambda z, y: -(y * np.log(_naive_sigmoid(z)) + (1 - y) * np.log(1 - _naive_sigmoid(z))))),
    Mistake("going through probabilities caps the loss at 100 (torch's clamp of the log) and loses precision for "
            "|z| above about 37: compute the loss from the logits directly",
            _forward(lambda z, y: _bce_each(_sigmoid(z), y))),
    Mistake("log(1 + e⁻ᶻ) overflows for very negative z (e¹⁰⁰⁰ is inf): split off the max(z, 0) part so that exp "
            "only sees −|z|",
            _forward(lambda z, y: np.log(1 + np.exp(-z)) + (1 - y) * z)),
    Mistake("log(1 + eᶻ) overflows for large positive z (e¹⁰⁰⁰ is inf): split off the max(z, 0) part so that exp "
            "only sees −|z|",
            _forward(lambda z, y: np.log1p(np.exp(z)) - z * y)),
] + _reduction_mistakes(_bce_logits_each, "elements")

BINARY_CROSS_ENTROPY_WITH_LOGITS_BACKWARD_MISTAKES = [
    Mistake("eᶻ/(1 + eᶻ) is inf/inf = NaN at z = 1000: compute the sigmoid from e^(−|z|), which cannot overflow",
            _backward(lambda z, y: np.exp(z) / (1 + np.exp(z)) - y)),
    Mistake("1/(1 + e⁻ᶻ) overflows at z = −1000 (e¹⁰⁰⁰ is inf): compute the sigmoid from e^(−|z|), which cannot "
            "overflow; np.where alone does not help, it evaluates both branches",
            _backward(lambda z, y: _naive_sigmoid(z) - y)),
    Mistake("the gradient is σ(z) minus the target: you forgot to subtract the target",
            _backward(lambda z, y: _sigmoid(z))),
    Mistake("that is the gradient with respect to the probability p; chain it through the sigmoid, whose derivative "
            "p(1 − p) cancels the denominator and leaves σ(z) − y",
            _backward(lambda z, y: _bce_local(_sigmoid(z), y))),
] + _backward_reduction_mistakes(_bce_logits_local, "elements")


def _naive_softmax(z, axis=1):
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def _stable_softmax(z, axis=1):
    return np.exp(_log_softmax(z, axis))


def _log_softmax_global_max(z):
    """Log-softmax shifted by the largest logit of the whole batch instead of each row's."""
    with np.errstate(divide="ignore"):
        shifted = z - z.max()
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _softmax_global_max(z):
    """Softmax shifted by the largest logit of the whole batch: 0/0 in a row far below it."""
    e = np.exp(z - z.max())
    with np.errstate(invalid="ignore"):
        return e / e.sum(axis=1, keepdims=True)


GLOBAL_MAX = ("you subtracted the largest logit of the whole batch; each row needs its own largest logit "
              "subtracted, or a row far below the batch's maximum underflows to log(0)")

CROSS_ENTROPY_MISTAKES = [
    Mistake("softmax without subtracting the row max overflows: e¹⁰⁰⁰ is inf and inf/inf is NaN. Work with "
            "log-softmax, z minus the log-sum-exp of the row, and shift each row by its largest logit first",
            lambda z, t, reduction="mean": _reduce(-_pick(np.log(_naive_softmax(z)), t), reduction)),
    Mistake("−Σ y·log p is NaN where p underflows to 0 (0 times log 0): pick the target's log-probability from "
            "log-softmax (z minus the row's log-sum-exp) instead of multiplying by a one-hot",
            lambda z, t, reduction="mean": _reduce(-(_one_hot(t, z.shape[1]) * np.log(_stable_softmax(z))).sum(axis=1),
                                                   reduction)),
    Mistake("log(softmax(z)) is −inf where softmax underflows to 0 (logits far apart): compute log-softmax "
            "directly, z minus the row's log-sum-exp, never the log of a probability",
            lambda z, t, reduction="mean": _reduce(-np.log(_pick(_stable_softmax(z), t)), reduction)),
    Mistake("clipping p before the log hides the problem and gives a wrong, capped loss: compute log-softmax "
            "directly, z minus the row's log-sum-exp",
            lambda z, t, reduction="mean": _reduce(-np.log(np.clip(_pick(_stable_softmax(z), t), 1e-12, 1)),
                                                   reduction)),
    Mistake("softmax runs over the classes (axis 1) of each row; you normalised over the batch (axis 0)",
            lambda z, t, reduction="mean": _reduce(-_pick(_log_softmax(z, axis=0), t), reduction)),
    Mistake("average over the N samples, not over all N·C entries of the one-hot product: the zeros of the "
            "one-hot are not samples",
            lambda z, t, reduction="mean": (_ce_each(z, t).sum() / z.size if reduction == "mean"
                                            else _reduce(_ce_each(z, t), reduction))),
    Mistake(GLOBAL_MAX, lambda z, t, reduction="mean": _reduce(-_pick(_log_softmax_global_max(z), t), reduction)),
] + _reduction_mistakes(_ce_each, "samples", sum_for_mean_hint=(
    "cross-entropy averages over the batch with reduction='mean': you summed over the N samples (a missing 1/N), "
    "so the loss and its gradient grow with the batch size"))


def _ce_backward_over_all_entries(dout, input, target, reduction="mean"):
    grad = _backward(_ce_local, per_sample=True)(dout, input, target, reduction)
    return grad / input.shape[1] if reduction == "mean" else grad


CROSS_ENTROPY_BACKWARD_MISTAKES = [
    Mistake("the gradient with respect to the logits is the softmax minus the one-hot of the target: you forgot "
            "to subtract the one-hot", _backward(lambda z, t: _stable_softmax(z), per_sample=True)),
    Mistake("softmax without subtracting the row max overflows: e¹⁰⁰⁰ is inf and inf/inf is NaN",
            _backward(lambda z, t: _naive_softmax(z) - _one_hot(t, z.shape[1]), per_sample=True)),
    Mistake("softmax runs over the classes (axis 1) of each row; you normalised over the batch (axis 0)",
            _backward(lambda z, t: _stable_softmax(z, axis=0) - _one_hot(t, z.shape[1]), per_sample=True)),
    Mistake("with reduction='mean' divide by N, the batch size, not by N·C", _ce_backward_over_all_entries),
    Mistake(GLOBAL_MAX.replace("log(0)", "0/0"),
            _backward(lambda z, t: _softmax_global_max(z) - _one_hot(t, z.shape[1]), per_sample=True)),
    Mistake(GLOBAL_MAX.replace("log(0)", "0/0"),
            _backward(lambda z, t: np.exp(_log_softmax_global_max(z)) - _one_hot(t, z.shape[1]), per_sample=True)),
] + _backward_reduction_mistakes(_ce_local, "samples", per_sample=True, missing_hint=(
    "cross-entropy's gradient with reduction='mean' is divided by N, the batch size: you are missing the 1/N"))

MISTAKES = {
    "mse_loss": MSE_LOSS_MISTAKES,
    "mse_loss_backward": MSE_LOSS_BACKWARD_MISTAKES,
    "l1_loss": L1_LOSS_MISTAKES,
    "l1_loss_backward": L1_LOSS_BACKWARD_MISTAKES,
    "huber_loss": HUBER_LOSS_MISTAKES,
    "huber_loss_backward": HUBER_LOSS_BACKWARD_MISTAKES,
    "binary_cross_entropy": BINARY_CROSS_ENTROPY_MISTAKES,
    "binary_cross_entropy_backward": BINARY_CROSS_ENTROPY_BACKWARD_MISTAKES,
    "binary_cross_entropy_with_logits": BINARY_CROSS_ENTROPY_WITH_LOGITS_MISTAKES,
    "binary_cross_entropy_with_logits_backward": BINARY_CROSS_ENTROPY_WITH_LOGITS_BACKWARD_MISTAKES,
    "cross_entropy": CROSS_ENTROPY_MISTAKES,
    "cross_entropy_backward": CROSS_ENTROPY_BACKWARD_MISTAKES,
}

# -- cases ---------------------------------------------------------------------------------------
# Each generator yields (description, input, target, extra keyword arguments). Fixed edge cases come first,
# then seeded random ones. Errors are built from exactly representable numbers, so "error exactly 0" and
# "error exactly at delta" really are.


def _random_shape(rng):
    return tuple(int(n) for n in rng.integers(1, 7, size=rng.integers(1, 4)))


def _regression_cases(seed, huber=False):
    rng = np.random.default_rng(seed)
    base = np.array([0.5, -1.0, 2.0, 0.25, 3.0, -0.75])
    errors = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 2.0])
    yield "errors [-3, -1, -0.5, 0, 0.5, 2], input of shape (6,)", base + errors, base, {"delta": 1.0}
    if huber:
        yield ("delta=0.5, errors exactly at -delta and +delta and on both sides, shape (2, 3)",
               (base + np.array([-0.5, 0.5, -0.25, 0.75, -2.0, 0.0])).reshape(2, 3), base.reshape(2, 3),
               {"delta": 0.5})
        yield ("delta=2, errors exactly at -delta and +delta and on both sides, shape (6,)",
               base + np.array([-2.0, 2.0, -3.0, 1.0, 4.5, -0.5]), base, {"delta": 2.0})
    yield "batch of 1, input of shape (1,)", np.array([0.75]), np.array([-0.5]), {"delta": 1.5}
    yield ("errors exactly 0 (input == target) next to errors of ±1, shape (2, 2)",
           np.array([[1.0, 2.0], [-1.0, 0.5]]), np.array([[1.0, 1.0], [0.0, 0.5]]), {"delta": 1.0})
    yield "non-square input of shape (3, 5)", rng.normal(size=(3, 5)) * 2, rng.normal(size=(3, 5)), {"delta": 1.0}
    yield ("outliers: errors up to ±1000, shape (4,)", np.array([1000.0, -250.0, 0.1, 3.0]),
           np.array([0.0, 750.0, 0.2, -1.0]), {"delta": 1.0})
    for _ in range(3):
        shape = _random_shape(rng)
        delta = float(np.round(rng.uniform(0.3, 3.0), 2))
        yield (f"random input of shape {shape}" + (f", delta={delta:g}" if huber else ""),
               rng.normal(size=shape) * 3, rng.normal(size=shape), {"delta": delta})


def _bce_cases(seed):
    rng = np.random.default_rng(seed)
    yield ("probabilities exactly 0 and 1 with targets 0 and 1, p = [0, 0, 1, 1], y = [0, 1, 0, 1]",
           np.array([0.0, 0.0, 1.0, 1.0]), np.array([0.0, 1.0, 0.0, 1.0]), {}
           )
    yield ("tiny p (log(p) below -100, clamped as torch does) and p = 1/2, shape (4,)",
           np.array([1e-60, 1e-50, 0.5, 1 - 1e-12]), np.array([1.0, 0.0, 1.0, 0.0]), {})
    yield "batch of 1, p of shape (1,)", np.array([0.3]), np.array([1.0]), {}
    yield ("non-square p of shape (3, 5) with soft targets in [0, 1]", rng.uniform(0.01, 0.99, size=(3, 5)),
           rng.uniform(0, 1, size=(3, 5)), {})
    for _ in range(3):
        shape = _random_shape(rng)
        yield (f"random p of shape {shape}, targets 0 or 1", rng.uniform(0.001, 0.999, size=shape),
               rng.integers(0, 2, size=shape).astype(np.float64), {})


def _bce_logits_cases(seed):
    rng = np.random.default_rng(seed)
    yield ("logits z = ±1000 with targets 0 and 1, z = [-1000, -1000, 1000, 1000], y = [0, 1, 0, 1]",
           np.array([-1000.0, -1000.0, 1000.0, 1000.0]), np.array([0.0, 1.0, 0.0, 1.0]), {})
    yield ("z = 0 and moderate to large logits, soft targets, shape (5,)", np.array([0.0, -2.0, 3.5, 40.0, -40.0]),
           np.array([0.5, 0.25, 1.0, 0.0, 1.0]), {})
    yield "batch of 1, z of shape (1,)", np.array([-0.7]), np.array([1.0]), {}
    yield ("non-square z of shape (3, 5) with soft targets in [0, 1]", rng.normal(size=(3, 5)) * 5,
           rng.uniform(0, 1, size=(3, 5)), {})
    for _ in range(3):
        shape = _random_shape(rng)
        yield (f"random z of shape {shape}, targets 0 or 1", rng.normal(size=shape) * 10,
               rng.integers(0, 2, size=shape).astype(np.float64), {})


def _ce_cases(seed):
    rng = np.random.default_rng(seed)
    yield ("logits ±1000, shape (3, 4), targets [2, 1, 3]",
           np.array([[1000.0, 0.0, -1000.0, 0.0], [-1000.0, 1000.0, 0.0, 0.0], [0.0, 0.0, 1000.0, -1000.0]]),
           np.array([2, 1, 3]), {})
    yield ("rows far apart, logits [[1000, 999, 998], [-1000, -999, -998]], targets [0, 2]",
           np.array([[1000.0, 999.0, 998.0], [-1000.0, -999.0, -998.0]]), np.array([0, 2]), {})
    yield "batch of 1, logits of shape (1, 4), target [3]", rng.normal(size=(1, 4)), np.array([3]), {}
    yield ("non-square logits of shape (5, 3) (N > C)", rng.normal(size=(5, 3)) * 2,
           rng.integers(0, 3, size=5), {})
    yield ("non-square logits of shape (3, 7) (N < C), all targets class 0", rng.normal(size=(3, 7)) * 2,
           np.zeros(3, dtype=np.int64), {})
    for _ in range(3):
        n, classes = (int(v) for v in rng.integers((1, 2), (9, 11)))
        yield (f"random logits of shape ({n}, {classes})", rng.normal(size=(n, classes)) * 3,
               rng.integers(0, classes, size=n), {})


def _with_reductions(cases):
    for case, x, y, extra in cases:
        for reduction in REDUCTIONS:
            yield f"{case}, reduction='{reduction}'", x, y, reduction, extra


def _dout_for(rng, reduction, loss_shape):
    if reduction == "none":
        return rng.normal(size=loss_shape)
    return float(rng.choice([1.7, -0.3, 2.5, 0.6]))


# -- the check bodies ----------------------------------------------------------------------------


def _check_forward(c, fn, torch_fn, cases, mistakes, kwarg_names=()):
    suspects = Suspects(mistakes)
    for case, x, y, reduction, extra in _with_reductions(cases):
        kwargs = {"reduction": reduction, **{k: extra[k] for k in kwarg_names}}
        actual = c.call(fn, x, y, case=case, **kwargs)
        expected, _ = c.reference(torch_fn, x, y, **kwargs)
        suspects.expect_close(c, actual, expected, case=case, args=(x, y), kwargs=kwargs)


def _check_backward(c, fn, torch_fn, cases, mistakes, *, seed, per_sample=False, kwarg_names=(), fd_case=None):
    rng = np.random.default_rng(seed + 1)
    suspects = Suspects(mistakes)
    for case, x, y, reduction, extra in _with_reductions(cases):
        kwargs = {k: extra[k] for k in kwarg_names}
        dout = _dout_for(rng, reduction, x.shape[:1] if per_sample else x.shape)
        case = f"{case}, dout={'random array' if reduction == 'none' else dout}"
        actual = c.call(fn, dout, x, y, case=case, reduction=reduction, **kwargs)
        _, (expected,) = c.reference(torch_fn, x, y, dout=dout, wrt=[0], reduction=reduction, **kwargs)
        suspects.expect_close(c, actual, expected, case=case, name="d(loss)/d(input)", args=(dout, x, y),
                              kwargs={"reduction": reduction, **kwargs})
    # Confirm with centred finite differences of the loss itself, on a small case away from kinks.
    description, x, y, extra = fd_case
    kwargs = {k: extra[k] for k in kwarg_names}
    for reduction in REDUCTIONS:
        dout = _dout_for(rng, reduction, x.shape[:1] if per_sample else x.shape)
        case = f"finite differences, {description}, reduction='{reduction}'"
        actual = c.call(fn, dout, x, y, case=case, reduction=reduction, **kwargs)

        def loss(x_, reduction=reduction):
            return torch_reference(torch_fn, x_, y, reduction=reduction, **kwargs)[0]

        (numeric,) = numerical_gradient(loss, x, dout=dout, h=1e-6)
        c.expect(np.shape(actual) == numeric.shape and np.all(np.isfinite(actual)),
                 f"your gradient has shape {np.shape(actual)} or non-finite entries", case=case)
        error = rel_error(actual, numeric)
        c.expect(error < FD_TOLERANCE,
                 f"your gradient differs from centred finite differences of the loss: relative error "
                 f"{error:.1e} (tolerance {FD_TOLERANCE:g})", case=case,
                 hint="differentiate each per-element loss, then multiply by what the reduction passes down")


def _small_case(seed, low=-2.0, high=2.0, shape=(2, 3)):
    rng = np.random.default_rng(seed + 7)
    return rng.uniform(low, high, size=shape)


@exercise("losses.mse_loss", points=1, compared="F.mse_loss")
def check_mse_loss(c, mse_loss, seed=0):
    """mse_loss(input, target, reduction='mean') against torch.nn.functional.mse_loss."""
    _check_forward(c, mse_loss, F.mse_loss, _regression_cases(seed), MSE_LOSS_MISTAKES)


@exercise("losses.mse_loss_backward", points=1, compared="torch.autograd through F.mse_loss")
def check_mse_loss_backward(c, mse_loss_backward, seed=0):
    """mse_loss_backward(dout, input, target, reduction='mean') against torch.autograd, then finite differences."""
    x = _small_case(seed)
    fd = ("random input of shape (2, 3)", x, x + 0.5 + _small_case(seed + 1, 0.0, 1.0), {})
    _check_backward(c, mse_loss_backward, F.mse_loss, _regression_cases(seed), MSE_LOSS_BACKWARD_MISTAKES,
                    seed=seed, fd_case=fd)


@exercise("losses.l1_loss", points=1, compared="F.l1_loss")
def check_l1_loss(c, l1_loss, seed=0):
    """l1_loss(input, target, reduction='mean') against torch.nn.functional.l1_loss."""
    _check_forward(c, l1_loss, F.l1_loss, _regression_cases(seed), L1_LOSS_MISTAKES)


@exercise("losses.l1_loss_backward", points=1, compared="torch.autograd through F.l1_loss")
def check_l1_loss_backward(c, l1_loss_backward, seed=0):
    """l1_loss_backward(dout, input, target, reduction='mean'); the subgradient at 0 is 0, as in torch."""
    x = _small_case(seed)
    signs = np.where(np.arange(x.size).reshape(x.shape) % 2 == 0, 1.0, -1.0)
    fd = ("random input of shape (2, 3), errors at least 0.5 away from 0", x,
          x + signs * (0.5 + _small_case(seed + 1, 0.0, 1.0)), {})
    _check_backward(c, l1_loss_backward, F.l1_loss, _regression_cases(seed), L1_LOSS_BACKWARD_MISTAKES,
                    seed=seed, fd_case=fd)


@exercise("losses.huber_loss", points=1, compared="F.huber_loss")
def check_huber_loss(c, huber_loss, seed=0):
    """huber_loss(input, target, reduction='mean', delta=1.0) against torch.nn.functional.huber_loss."""
    _check_forward(c, huber_loss, F.huber_loss, _regression_cases(seed, huber=True), HUBER_LOSS_MISTAKES,
                   kwarg_names=("delta",))


@exercise("losses.huber_loss_backward", points=1, compared="torch.autograd through F.huber_loss")
def check_huber_loss_backward(c, huber_loss_backward, seed=0):
    """huber_loss_backward(dout, input, target, reduction='mean', delta=1.0) against torch.autograd."""
    x = _small_case(seed)
    errors = np.array([[-2.5, -0.4, 0.3], [0.9, 1.6, -1.3]])  # inside and outside delta=1, away from the kinks
    fd = ("input of shape (2, 3), delta=1, errors inside and outside delta", x, x - errors, {"delta": 1.0})
    _check_backward(c, huber_loss_backward, F.huber_loss, _regression_cases(seed, huber=True),
                    HUBER_LOSS_BACKWARD_MISTAKES, seed=seed, kwarg_names=("delta",), fd_case=fd)


@exercise("losses.binary_cross_entropy", points=1, compared="F.binary_cross_entropy")
def check_binary_cross_entropy(c, binary_cross_entropy, seed=0):
    """binary_cross_entropy(input, target, reduction='mean'), input holding probabilities in [0, 1]."""
    _check_forward(c, binary_cross_entropy, F.binary_cross_entropy, _bce_cases(seed), BINARY_CROSS_ENTROPY_MISTAKES)


@exercise("losses.binary_cross_entropy_backward", points=1, compared="torch.autograd through F.binary_cross_entropy")
def check_binary_cross_entropy_backward(c, binary_cross_entropy_backward, seed=0):
    """binary_cross_entropy_backward(dout, input, target, reduction='mean') against torch.autograd."""
    fd = ("p of shape (2, 3) in [0.1, 0.9], soft targets", _small_case(seed, 0.1, 0.9),
          _small_case(seed + 1, 0.0, 1.0), {})
    _check_backward(c, binary_cross_entropy_backward, F.binary_cross_entropy, _bce_cases(seed),
                    BINARY_CROSS_ENTROPY_BACKWARD_MISTAKES, seed=seed, fd_case=fd)


@exercise("losses.binary_cross_entropy_with_logits", points=1, compared="F.binary_cross_entropy_with_logits")
def check_binary_cross_entropy_with_logits(c, binary_cross_entropy_with_logits, seed=0):
    """binary_cross_entropy_with_logits(input, target, reduction='mean'), input holding logits."""
    _check_forward(c, binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits, _bce_logits_cases(seed),
                   BINARY_CROSS_ENTROPY_WITH_LOGITS_MISTAKES)


@exercise("losses.binary_cross_entropy_with_logits_backward", points=1,
          compared="torch.autograd through F.binary_cross_entropy_with_logits")
def check_binary_cross_entropy_with_logits_backward(c, binary_cross_entropy_with_logits_backward, seed=0):
    """binary_cross_entropy_with_logits_backward(dout, input, target, reduction='mean') against torch.autograd."""
    fd = ("logits of shape (2, 3), soft targets", _small_case(seed, -3.0, 3.0), _small_case(seed + 1, 0.0, 1.0), {})
    _check_backward(c, binary_cross_entropy_with_logits_backward, F.binary_cross_entropy_with_logits,
                    _bce_logits_cases(seed), BINARY_CROSS_ENTROPY_WITH_LOGITS_BACKWARD_MISTAKES, seed=seed, fd_case=fd)


@exercise("losses.cross_entropy", points=1, compared="F.cross_entropy")
def check_cross_entropy(c, cross_entropy, seed=0):
    """cross_entropy(input, target, reduction='mean'): logits (N, C), class indices (N,)."""
    _check_forward(c, cross_entropy, F.cross_entropy, _ce_cases(seed), CROSS_ENTROPY_MISTAKES)


@exercise("losses.cross_entropy_backward", points=1, compared="torch.autograd through F.cross_entropy")
def check_cross_entropy_backward(c, cross_entropy_backward, seed=0):
    """cross_entropy_backward(dout, input, target, reduction='mean') -> d(loss)/d(logits), shape (N, C)."""
    fd = ("logits of shape (3, 4), targets [0, 3, 1]", _small_case(seed, -2.0, 2.0, (3, 4)), np.array([0, 3, 1]), {})
    _check_backward(c, cross_entropy_backward, F.cross_entropy, _ce_cases(seed), CROSS_ENTROPY_BACKWARD_MISTAKES,
                    seed=seed, per_sample=True, fd_case=fd)
