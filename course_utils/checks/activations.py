"""Checks for 01_activations: forward and backward of sigmoid, tanh, ReLU, Leaky ReLU, PReLU, softmax and SiLU.

Every function mirrors torch.nn.functional, and every backward follows one convention:
`dx = f_backward(dout, x, ...)` returns the gradient of sum(f(x, ...) * dout) with respect to x
(PReLU also returns the gradient with respect to its weight). Each backward is compared with
torch.autograd and then confirmed with centred finite differences on a small random case.

Mistake functions take the learner's arguments, so each one can also be handed to its check
(the unit tests do exactly that). A mistake's hint is offered only while the mistake agrees with every
comparison the learner has passed (course_utils.hints.Suspects).
"""

import numpy as np
import torch
import torch.nn.functional as F

from course_utils.checking import Mistake, code_names, exercise
from course_utils.gradcheck import expect_finite_differences
from course_utils.hints import Suspects

# The small random case on which each backward is confirmed with centred differences. No other
# case has this shape, so a backward that is wrong only here fails on the finite differences alone.
GRADCHECK_SHAPE = (3, 4)
GRADCHECK_H = 1e-6
# Centred differences with h=1e-6 in float64 are good to about 1e-10 in absolute terms. The inputs of
# the finite-difference cases keep every gradient entry above about 4e-3 in magnitude (x in a range
# where the derivative is not near 0, dout bounded away from 0), so a correct backward lands near
# 1e-9 in the elementwise relative error (at most 1e-8 over 40 seeds), and a wrong one near 1e-2 or above.
GRADCHECK_TOL = 1e-6


# -- stable helpers used by the known mistakes (NumPy only, like learner code) -----------------------------


def _sigmoid(x):
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))


def _tanh(x):
    z = np.exp(-2.0 * np.abs(x))
    return np.sign(x) * (1.0 - z) / (1.0 + z)


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _prelu_weight(x, weight):
    """weight broadcast onto axis 1 of x, as torch.nn.functional.prelu does."""
    if weight.size == 1 or x.ndim < 2:
        return weight.reshape(())
    return weight.reshape((1, -1) + (1,) * (x.ndim - 2))


def _sum_except_axis1(g, weight):
    if weight.size == 1:
        return np.sum(g).reshape(weight.shape)
    return g.sum(axis=tuple(i for i in range(g.ndim) if i != 1))


# -- the known mistakes, with learner signatures ----------------------------------------------------------
# Hints name the misconception and the idea that fixes it, never the code (tests/test_hints.py). Formulas
# in them are written as mathematics (σ, eˣ, −), not as Python.

CHAIN_RULE = ("you returned the local derivative only: the backward multiplies it by the upstream gradient dout "
              "(chain rule)")
NAIVE_SIGMOID_IN_BACKWARD = ("your backward computes the sigmoid with the naive formula, whose exponential overflows "
                             "for large negative x; reuse your stable sigmoid")


def _sigmoid_by_difference(x):
    """σ(x) for negative x written as 1 − σ(−x): no overflow, but the tiny values cancel to 0."""
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + z), 1 - 1 / (1 + z))


SIGMOID_MISTAKES = [
    Mistake("eˣ/(1 + eˣ) overflows for large positive x: e¹⁰⁰⁰ is inf, and inf/inf is NaN. Rewrite the formula so "
            "that exp only ever sees numbers that are not positive (x ≥ 0 and x < 0 need two different, "
            "equivalent forms)",
            lambda x: np.exp(x) / (1 + np.exp(x))),
    Mistake("1/(1 + e⁻ˣ) overflows for large negative x: e¹⁰⁰⁰ is inf, and the result is right only by luck. "
            "Rewrite the formula so that exp only ever sees numbers that are not positive (x ≥ 0 and x < 0 need "
            "two different, equivalent forms)",
            lambda x: 1 / (1 + np.exp(-x))),
    Mistake("np.where evaluates both branches on every element before it chooses, so the branch meant for the "
            "other sign still overflows. Compute one exponential, of a number that is never positive, and build "
            "both branches from it",
            lambda x: np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))),
    Mistake("for negative x you computed 1 − σ(−x): σ(−x) rounds to exactly 1 once x is below about −37, so the "
            "difference cancels to 0 where the answer is a tiny positive number. For x < 0 use a form whose "
            "small value comes out of a quotient, not a difference",
            _sigmoid_by_difference),
]

SIGMOID_BACKWARD_MISTAKES = [
    Mistake("1 − s² is tanh's derivative written through tanh's output. Differentiate the sigmoid itself and "
            "write its derivative through σ(x)",
            lambda dout, x: dout * (1 - _sigmoid(x) ** 2)),
    Mistake("σ is not its own derivative: differentiate 1/(1 + e⁻ˣ) and write the result through σ(x)",
            lambda dout, x: dout * _sigmoid(x)),
    Mistake("you applied the derivative formula to the input x; it is written in terms of the sigmoid's output "
            "σ(x), so compute that first",
            lambda dout, x: dout * x * (1 - x)),
    Mistake(CHAIN_RULE, lambda dout, x: _sigmoid(x) * (1 - _sigmoid(x))),
    Mistake(NAIVE_SIGMOID_IN_BACKWARD,
            lambda dout, x: dout * (1 / (1 + np.exp(-x))) * (1 - 1 / (1 + np.exp(-x)))),
    Mistake("the sigmoid in your backward loses the tiny values for very negative x (it computes 1 − σ(−x), which "
            "cancels to 0); reuse your stable sigmoid",
            lambda dout, x: dout * _sigmoid_by_difference(x) * (1 - _sigmoid_by_difference(x))),
]

TANH_NAIVE = ("the textbook formula overflows: e²ˣ (or eˣ and e⁻ˣ) is inf for large |x|, and inf/inf is NaN. Use "
              "the symmetry tanh(−x) = −tanh(x) to rewrite it so that exp only ever sees numbers that are not "
              "positive")

TANH_MISTAKES = [
    Mistake(TANH_NAIVE, lambda x: (np.exp(2 * x) - 1) / (np.exp(2 * x) + 1)),
    Mistake(TANH_NAIVE, lambda x: (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x))),
    Mistake("np.where evaluates both branches on every element before it chooses, so the exponential of the other "
            "branch still overflows. Compute one exponential, of a number that is never positive, and build the "
            "result from it (tanh is odd: tanh(−x) = −tanh(x))",
            lambda x: np.where(x >= 0, (1 - np.exp(-2 * x)) / (1 + np.exp(-2 * x)),
                               (np.exp(2 * x) - 1) / (np.exp(2 * x) + 1))),
    Mistake("2σ(2x) − 1 is right, but the naive sigmoid inside it overflows for large negative x (e⁻²ˣ is inf at "
            "x = −1000). Build it on a stable sigmoid, or rewrite tanh so that exp only sees numbers that are not "
            "positive",
            lambda x: 2 / (1 + np.exp(-2 * x)) - 1),
    Mistake("you returned the sigmoid: tanh ranges over (−1, 1); it is a shifted and rescaled sigmoid, "
            "tanh(x) = 2σ(2x) − 1",
            lambda x: _sigmoid(x)),
]

TANH_BACKWARD_MISTAKES = [
    Mistake("t·(1 − t) is the pattern of the sigmoid's derivative; tanh's derivative is one minus the square of "
            "tanh(x)",
            lambda dout, x: dout * _tanh(x) * (1 - _tanh(x))),
    Mistake("square it: tanh's derivative is one minus the square of tanh(x), not 1 − tanh(x)",
            lambda dout, x: dout * (1 - _tanh(x))),
    Mistake("you applied the derivative formula to the input x; it is written in terms of tanh's output, so compute "
            "tanh(x) first",
            lambda dout, x: dout * (1 - x ** 2)),
    Mistake(CHAIN_RULE, lambda dout, x: 1 - _tanh(x) ** 2),
    Mistake("1/cosh²(x) is right on paper, but cosh overflows for large |x| (cosh(1000) is inf); write the "
            "derivative through tanh(x) itself",
            lambda dout, x: dout / np.cosh(x) ** 2),
]

RELU_MISTAKES = [
    Mistake("np.max with a second argument reduces along that axis (a reduction, not an elementwise max): it "
            "returns fewer numbers. Use NumPy's elementwise maximum against 0",
            lambda x: np.max(x, 0)),
    Mistake("you returned the 0/1 mask of the positive entries, which is ReLU's derivative; ReLU keeps the positive "
            "values themselves and sets the rest to 0",
            lambda x: (x > 0).astype(x.dtype)),
    Mistake("you returned |x|; ReLU is 0 for negative x, not −x",
            lambda x: np.abs(x)),
]

RELU_BACKWARD_MISTAKES = [
    Mistake("ReLU's gradient is not always 1: it is 0 where x < 0 (that is where dead units come from)",
            lambda dout, x: dout.copy()),
    Mistake("at exactly x = 0 PyTorch uses the subgradient 0: only strictly positive inputs pass the gradient",
            lambda dout, x: dout * (x >= 0)),
    Mistake(CHAIN_RULE, lambda dout, x: (x > 0).astype(x.dtype)),
    Mistake("you multiplied dout by relu(x); the local derivative is the 0/1 mask of the positive inputs, not the "
            "activation itself",
            lambda dout, x: dout * np.maximum(x, 0)),
    Mistake("the mask depends on the sign of the forward input x, not on the sign of dout",
            lambda dout, x: dout * (dout > 0)),
]

LEAKY_RELU_MISTAKES = [
    Mistake("the slope belongs to the negative side: positive inputs pass unchanged, the others are scaled by "
            "negative_slope",
            lambda x, negative_slope=0.01: np.where(x > 0, negative_slope * x, x)),
    Mistake("you ignored the negative_slope argument (always 0.01); use the value you are given",
            lambda x, negative_slope=0.01: np.where(x > 0, x, 0.01 * x)),
    Mistake("this is plain ReLU; Leaky ReLU keeps negative_slope times a negative input instead of 0",
            lambda x, negative_slope=0.01: np.maximum(x, 0)),
    Mistake("max(x, negative_slope·x) equals Leaky ReLU only for slopes up to 1: with a slope above 1 it picks the "
            "scaled value for positive x too. Choose the piece by the sign of x",
            lambda x, negative_slope=0.01: np.maximum(x, negative_slope * x)),
]

LEAKY_RELU_BACKWARD_MISTAKES = [
    Mistake("the slope belongs to the negative side: the local gradient is 1 for positive inputs and negative_slope "
            "for the others",
            lambda dout, x, negative_slope=0.01: dout * np.where(x > 0, negative_slope, 1.0)),
    Mistake("you ignored the negative_slope argument (always 0.01); use the value you are given",
            lambda dout, x, negative_slope=0.01: dout * np.where(x > 0, 1.0, 0.01)),
    Mistake("at exactly x = 0 PyTorch uses negative_slope: only strictly positive inputs get the gradient 1",
            lambda dout, x, negative_slope=0.01: dout * np.where(x >= 0, 1.0, negative_slope)),
    Mistake(CHAIN_RULE, lambda dout, x, negative_slope=0.01: np.where(x > 0, 1.0, negative_slope)),
    Mistake("this is ReLU's backward: for x ≤ 0 the gradient is negative_slope times dout, not 0",
            lambda dout, x, negative_slope=0.01: dout * (x > 0)),
    Mistake("you chose the gradient by comparing x with negative_slope·x (the max form): with a slope above 1 that "
            "picks the wrong piece. Choose it by the sign of x",
            lambda dout, x, negative_slope=0.01: dout * np.where(x > negative_slope * x, 1.0, negative_slope)),
]

PRELU_MISTAKES = [
    Mistake("PReLU is not max(x, α·x²), which is positive for negative x: it is linear on each side of 0, the "
            "identity for positive inputs and the learned slope α for negative ones",
            lambda x, weight: np.maximum(x, _prelu_weight(x, weight) * x ** 2)),
    Mistake("max(x, α·x) equals PReLU exactly when α ≤ 1 (negative α included); a learned α can grow above 1, and "
            "then it picks α·x for positive x too. Choose the piece by the sign of x",
            lambda x, weight: np.maximum(x, _prelu_weight(x, weight) * x)),
    Mistake("the weight belongs to axis 1 (the channels, as in torch); plain broadcasting lines a weight of shape "
            "(C,) up with the last axis, so give it a shape that puts its entries along axis 1",
            lambda x, weight: np.maximum(x, 0) + weight * np.minimum(x, 0)),
    Mistake("the slope belongs to the negative side: positive inputs pass unchanged, negative ones are scaled by α",
            lambda x, weight: _prelu_weight(x, weight) * np.maximum(x, 0) + np.minimum(x, 0)),
    Mistake("you used only the first entry of the weight: a weight of shape (C,) holds one α per channel (axis 1)",
            lambda x, weight: np.maximum(x, 0) + weight[0] * np.minimum(x, 0)),
]

PRELU_BACKWARD_MISTAKES = [
    Mistake("dweight must have the weight's shape: a channel's α is shared by every example and every position of "
            "that channel, so its gradient adds up over every axis except the channel axis 1 (over every axis "
            "when the weight has one entry)",
            lambda dout, x, weight: (_prelu_dx(dout, x, weight), dout * np.minimum(x, 0))),
    Mistake("with one shared weight (shape (1,)) every entry of x uses the same α, so dweight adds up over every "
            "axis, and it keeps the shape (1,)",
            lambda dout, x, weight: (_prelu_dx(dout, x, weight),
                                     (dout * np.minimum(x, 0)).sum(axis=tuple(i for i in range(x.ndim) if i != 1)))),
    Mistake("you added up dweight over the batch axis only; α is also shared by every spatial position, so add up "
            "over every axis except the channel axis 1",
            lambda dout, x, weight: (_prelu_dx(dout, x, weight), (dout * np.minimum(x, 0)).sum(axis=0))),
    Mistake("dweight must have the weight's shape (1,), not be a 0-d scalar",
            lambda dout, x, weight: (_prelu_dx(dout, x, weight),
                                     np.sum(dout * np.minimum(x, 0)) if weight.size == 1
                                     else _sum_except_axis1(dout * np.minimum(x, 0), weight))),
    Mistake("α only acts where x < 0, so only those entries contribute to dweight; you let every entry of x "
            "contribute",
            lambda dout, x, weight: (_prelu_dx(dout, x, weight), _sum_except_axis1(dout * x, weight))),
    Mistake("you forgot dout in dweight: each entry's contribution is weighted by its upstream gradient (chain rule)",
            lambda dout, x, weight: (_prelu_dx(dout, x, weight), _sum_except_axis1(np.minimum(x, 0), weight))),
    Mistake("dx is dout where x > 0 and α times dout where x ≤ 0; you used ReLU's gradient (0 for x ≤ 0)",
            lambda dout, x, weight: (dout * (x > 0), _sum_except_axis1(dout * np.minimum(x, 0), weight))),
    Mistake("the slope belongs to the negative side: dx passes dout unchanged where x > 0 and scales it by α "
            "elsewhere",
            lambda dout, x, weight: (dout * np.where(x > 0, _prelu_weight(x, weight), 1.0),
                                     _sum_except_axis1(dout * np.minimum(x, 0), weight))),
    Mistake("at exactly x = 0 PyTorch uses α for dx: only strictly positive inputs pass dout unchanged",
            lambda dout, x, weight: (dout * np.where(x >= 0, 1.0, _prelu_weight(x, weight)),
                                     _sum_except_axis1(dout * np.minimum(x, 0), weight))),
]


def _prelu_dx(dout, x, weight):
    return dout * np.where(x > 0, 1.0, _prelu_weight(x, weight))


SOFTMAX_MISTAKES = [
    Mistake("softmax without a shift overflows: e¹⁰⁰⁰ is inf, and inf/inf is NaN. Softmax does not change when the "
            "same number is subtracted from every entry of a slice: choose it so that no exponent is positive",
            lambda x, axis=-1: np.exp(x) / np.exp(x).sum(axis=axis, keepdims=True)),
    Mistake("you subtracted the largest entry of the whole array; each slice needs its own largest entry "
            "subtracted, or a slice far below the overall maximum underflows to 0/0",
            lambda x, axis=-1: np.exp(x - x.max()) / np.exp(x - x.max()).sum(axis=axis, keepdims=True)),
    Mistake("you always normalised over the last axis: use the `axis` argument (it may be 0 or negative) for both "
            "the shift and the sum",
            lambda x, axis=-1: _softmax(x, axis=-1)),
    Mistake("you normalised over axis 0 (down the columns): the default axis −1 is the last one; use the `axis` "
            "argument for both the shift and the sum",
            lambda x, axis=-1: _softmax(x, axis=0)),
    Mistake("you took the maximum without keepdims, so it broadcasts against the wrong axis; keep the reduced "
            "axis so that each slice is shifted by its own maximum",
            lambda x, axis=-1: (lambda e: e / e.sum(axis=axis, keepdims=True))(np.exp(x - x.max(axis=axis)))),
    Mistake("you summed without keepdims, so the sums broadcast against the wrong axis; keep the reduced axis so "
            "that each slice is divided by its own sum",
            lambda x, axis=-1: (lambda e: e / e.sum(axis=axis))(np.exp(x - x.max(axis=axis, keepdims=True)))),
    Mistake("you normalised by the sum over the whole array; each slice along `axis` must sum to 1 on its own",
            lambda x, axis=-1: (lambda e: e / e.sum())(np.exp(x - x.max(axis=axis, keepdims=True)))),
]

SOFTMAX_BACKWARD_MISTAKES = [
    Mistake("s·(1 − s) is only the diagonal of the Jacobian: every output depends on every input of its slice, so "
            "each slice's backward also involves the inner product of dout with s",
            lambda dout, x, axis=-1: dout * _softmax(x, axis) * (1 - _softmax(x, axis))),
    Mistake("the inner product in the backward is of dout with s, not a plain sum of dout",
            lambda dout, x, axis=-1: _softmax(x, axis) * (dout - dout.sum(axis=axis, keepdims=True))),
    Mistake("you reduced over the wrong axis: the inner product runs along `axis` (it may be 0 or negative)",
            lambda dout, x, axis=-1: (lambda s: s * (dout - (dout * s).sum(axis=-1, keepdims=True)))(_softmax(x, axis))),
    Mistake("you summed without keepdims, so the inner products broadcast against the wrong axis",
            lambda dout, x, axis=-1: (lambda s: s * (dout - (dout * s).sum(axis=axis)))(_softmax(x, axis))),
    Mistake("you took the inner product over the whole array; each slice along `axis` has its own",
            lambda dout, x, axis=-1: (lambda s: s * (dout - (dout * s).sum()))(_softmax(x, axis))),
    Mistake("you returned s·(1 − s) without dout: the backward is a vector-Jacobian product with dout",
            lambda dout, x, axis=-1: _softmax(x, axis) * (1 - _softmax(x, axis))),
    Mistake("your backward computes softmax without a shift, which overflows; reuse your stable softmax",
            lambda dout, x, axis=-1: (lambda s: s * (dout - (dout * s).sum(axis=axis, keepdims=True)))(
                np.exp(x) / np.exp(x).sum(axis=axis, keepdims=True))),
]

SILU_MISTAKES = [
    Mistake("x·eˣ/(1 + eˣ) overflows for large positive x (inf/inf is NaN); SiLU is x times the sigmoid, so build "
            "it on your stable sigmoid",
            lambda x: x * np.exp(x) / (1 + np.exp(x))),
    Mistake("x/(1 + e⁻ˣ) overflows for large negative x (e¹⁰⁰⁰ is inf); build SiLU on your stable sigmoid",
            lambda x: x / (1 + np.exp(-x))),
    Mistake("you returned the sigmoid; SiLU is x times the sigmoid",
            lambda x: _sigmoid(x)),
    Mistake("the sigmoid inside your SiLU loses the tiny values for very negative x (it computes 1 − σ(−x), which "
            "cancels to 0); build SiLU on your stable sigmoid",
            lambda x: x * _sigmoid_by_difference(x)),
]

SILU_BACKWARD_MISTAKES = [
    Mistake("product rule: the derivative of x·σ(x) has two terms, σ(x) and x·σ′(x); you kept only the first",
            lambda dout, x: dout * _sigmoid(x)),
    Mistake("that is the sigmoid's derivative; SiLU is x·σ(x), so the product rule gives two terms",
            lambda dout, x: dout * _sigmoid(x) * (1 - _sigmoid(x))),
    Mistake("product rule: the derivative of x·σ(x) has two terms, σ(x) and x·σ′(x); you kept only the second",
            lambda dout, x: dout * x * _sigmoid(x) * (1 - _sigmoid(x))),
    Mistake(CHAIN_RULE, lambda dout, x: _sigmoid(x) * (1 + x * (1 - _sigmoid(x)))),
    Mistake(NAIVE_SIGMOID_IN_BACKWARD,
            lambda dout, x: (lambda s: dout * s * (1 + x * (1 - s)))(1 / (1 + np.exp(-x)))),
]


# -- cases -------------------------------------------------------------------------------------------------


def _random_shapes(rng, count=3):
    for _ in range(count):
        ndim = int(rng.integers(1, 4))
        shape = tuple(int(n) for n in rng.integers(1, 7, size=ndim))
        if shape == GRADCHECK_SHAPE:
            shape = shape + (2,)
        yield shape


def _saturating_cases(seed, first="+-"):
    """Edge cases for sigmoid, tanh and SiLU: +-1000 alone and mixed, the far negative tail, 0, batch of 1,
    non-square, then random.

    `first` orders the three saturation cases (+: [1000], -: [-1000], m: mixed), so that each known
    mistake first fails on a case where no other surviving mistake gives the same output. The tail case
    has only tiny outputs (sigmoid(-40) is 4e-18), so a value that cancels to 0 there fails.
    """
    rng = np.random.default_rng(seed)
    big = {"+": ("x = [1000] (saturates)", np.array([1000.0])),
           "-": ("x = [-1000] (saturates)", np.array([-1000.0])),
           "m": ("x = [-1000, -40, -1, 0, 1, 40, 1000]", np.array([-1000.0, -40.0, -1.0, 0.0, 1.0, 40.0, 1000.0]))}
    for key in first + "".join(k for k in "+-m" if k not in first):
        yield big[key]
    yield "x = [-40, -100, -700] (far in the negative tail)", np.array([-40.0, -100.0, -700.0])
    yield "x = [[-400], [400]] of shape (2, 1)", np.array([[-400.0], [400.0]])
    yield "batch of 1, x of shape (1, 5)", rng.normal(size=(1, 5)) * 3
    yield "non-square x of shape (3, 7)", rng.normal(size=(3, 7)) * 3
    yield "x of shape (2, 3, 4)", rng.normal(size=(2, 3, 4)) * 3
    for shape in _random_shapes(rng):
        yield f"random x of shape {shape}", rng.normal(size=shape) * 5


def _relu_like_cases(seed):
    """Edge cases for the ReLU family: exact zeros (the subgradient convention), batch of 1, non-square, random."""
    rng = np.random.default_rng(seed)
    yield "x = [-2, -0.5, 0, 0.5, 2] (x exactly 0 in the middle)", np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    yield "x = 0 everywhere, shape (2, 3)", np.zeros((2, 3))
    yield "x = [-1000, 1000]", np.array([-1000.0, 1000.0])
    yield "batch of 1, x of shape (1, 5)", rng.normal(size=(1, 5))
    x = rng.normal(size=(3, 7))
    x[0, 2] = x[2, 5] = 0.0
    yield "non-square x of shape (3, 7) with two exact zeros", x
    yield "x of shape (2, 3, 4)", rng.normal(size=(2, 3, 4))
    for shape in _random_shapes(rng):
        yield f"random x of shape {shape}", rng.normal(size=shape) * 3


def _dout_for(rng, shape):
    """An upstream gradient with no entry near 0, so every entry of dx matters."""
    return rng.uniform(0.5, 1.5, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def _gradcheck_x(rng, shape=GRADCHECK_SHAPE, scale=2.0):
    """A small random input kept away from 0 (ReLU's kink) by more than the finite-difference step."""
    x = rng.uniform(-scale, scale, size=shape)
    return np.where(np.abs(x) < 0.1, x + np.sign(x + 1e-12) * 0.1, x)


# -- helpers shared by the checks --------------------------------------------------------------------------


def _forward_case(c, learner, torch_fn, x, *, case, suspects, kwargs=None):
    kwargs = kwargs or {}
    actual = c.call(learner, x, case=case, **kwargs)
    expected, _ = c.reference(torch_fn, x)
    suspects.expect_close(c, actual, expected, case=case, args=(x,), kwargs=kwargs)


def _backward_case(c, learner, torch_fn, dout, x, *, case, suspects, kwargs=None):
    kwargs = kwargs or {}
    dx = c.call(learner, dout, x, case=case, **kwargs)
    _, (expected,) = c.reference(torch_fn, x, dout=dout, wrt=[0])
    suspects.expect_close(c, dx, expected, case=case, name="dx", args=(dout, x), kwargs=kwargs)


def _finite_differences(c, torch_fn, arrays, analytic, dout, *, case, names):
    """Confirm analytic gradients with centred differences of the float64 torch forward."""
    expect_finite_differences(c, torch_fn, arrays, analytic, dout, case=case, names=names, h=GRADCHECK_H,
                              tol=GRADCHECK_TOL, hint='write the derivative on paper first, then check each factor of the chain rule')


def _gradcheck_backward(c, learner, torch_fn, rng, *, kwargs=None, x=None, dout=None):
    kwargs = kwargs or {}
    x = _gradcheck_x(rng) if x is None else x
    dout = _dout_for(rng, x.shape) if dout is None else dout
    case = f"finite differences on random x of shape {x.shape}"
    dx = c.call(learner, dout, x, case=case, **kwargs)
    _finite_differences(c, torch_fn, [x], [dx], dout, case=case, names=["dx"])


def _names_in_code(fn):
    """Harness (runs beside the learner's code): the global and attribute names its function refers to."""
    code = getattr(fn, "__code__", None)
    return sorted(code_names(code)) if code is not None else []


def _raised(fn, *args):
    """Harness: call the learner's function; the name of the exception it raises, or None if it returns."""
    try:
        fn(*args)
    except NotImplementedError:
        raise  # the stub: reported as "not implemented"
    except Exception as err:
        return type(err).__name__
    return None


# -- the checks --------------------------------------------------------------------------------------------


@exercise("activations.sigmoid", compared="torch.sigmoid")
def check_sigmoid(c, sigmoid, seed=0):
    """sigmoid(x) = 1/(1+exp(-x)), computed so that nothing overflows."""
    suspects = Suspects(SIGMOID_MISTAKES)
    for case, x in _saturating_cases(seed):
        _forward_case(c, sigmoid, torch.sigmoid, x, case=case, suspects=suspects)


@exercise("activations.sigmoid_backward", compared="torch.autograd and finite differences")
def check_sigmoid_backward(c, sigmoid_backward, seed=0):
    """sigmoid_backward(dout, x) = dout * s * (1 - s)."""
    rng = np.random.default_rng(seed + 1)
    suspects = Suspects(SIGMOID_BACKWARD_MISTAKES)
    for case, x in _saturating_cases(seed):
        _backward_case(c, sigmoid_backward, torch.sigmoid, _dout_for(rng, x.shape), x, case=case, suspects=suspects)
    _gradcheck_backward(c, sigmoid_backward, torch.sigmoid, rng)


@exercise("activations.tanh", compared="torch.tanh")
def check_tanh(c, tanh, seed=0):
    """tanh(x), built from np.exp in a form that cannot overflow."""
    if "tanh" in c.call(tanh, case="reading your code", via=_names_in_code):
        c.fail("your tanh calls a ready-made tanh (np.tanh or math.tanh). This exercise builds it from np.exp",
               hint="tanh is odd, tanh(−x) = −tanh(x): write it through one exponential of a number that is never "
                    "positive; np.tanh is fine everywhere else")
    suspects = Suspects(TANH_MISTAKES)
    for case, x in _saturating_cases(seed, first="+-"):
        _forward_case(c, tanh, torch.tanh, x, case=case, suspects=suspects)


@exercise("activations.tanh_backward", compared="torch.autograd and finite differences")
def check_tanh_backward(c, tanh_backward, seed=0):
    """tanh_backward(dout, x) = dout * (1 - tanh(x)**2)."""
    rng = np.random.default_rng(seed + 1)
    suspects = Suspects(TANH_BACKWARD_MISTAKES)
    for case, x in _saturating_cases(seed, first="+-"):
        _backward_case(c, tanh_backward, torch.tanh, _dout_for(rng, x.shape), x, case=case, suspects=suspects)
    _gradcheck_backward(c, tanh_backward, torch.tanh, rng)


@exercise("activations.relu", compared="torch.nn.functional.relu")
def check_relu(c, relu, seed=0):
    """relu(x) = max(0, x), elementwise."""
    suspects = Suspects(RELU_MISTAKES)
    for case, x in _relu_like_cases(seed):
        _forward_case(c, relu, F.relu, x, case=case, suspects=suspects)


@exercise("activations.relu_backward", compared="torch.autograd and finite differences")
def check_relu_backward(c, relu_backward, seed=0):
    """relu_backward(dout, x) = dout * (x > 0), with PyTorch's subgradient 0 at x = 0."""
    rng = np.random.default_rng(seed + 1)
    suspects = Suspects(RELU_BACKWARD_MISTAKES)
    for case, x in _relu_like_cases(seed):
        _backward_case(c, relu_backward, F.relu, _dout_for(rng, x.shape), x, case=case, suspects=suspects)
    _gradcheck_backward(c, relu_backward, F.relu, rng)


def _leaky_cases(seed):
    # None: rely on the default negative_slope=0.01. Slopes above 1 (where max(x, slope*x) is wrong) and below 0
    # (where it is still right) are legal in torch.
    slopes = [None, 0.2, 0.01, 0.0, 1.5, 0.5, -0.3, 0.1, 2.0]
    for i, (case, x) in enumerate(_relu_like_cases(seed)):
        slope = slopes[i % len(slopes)]
        if slope is None:
            yield f"{case}, default negative_slope", x, {}
        else:
            yield f"{case}, negative_slope={slope:g}", x, {"negative_slope": slope}


@exercise("activations.leaky_relu", compared="torch.nn.functional.leaky_relu")
def check_leaky_relu(c, leaky_relu, seed=0):
    """leaky_relu(x, negative_slope=0.01) = x where x > 0, negative_slope * x elsewhere."""
    suspects = Suspects(LEAKY_RELU_MISTAKES)
    for case, x, kwargs in _leaky_cases(seed):
        torch_fn = lambda t, kw=kwargs: F.leaky_relu(t, **kw)  # noqa: E731
        _forward_case(c, leaky_relu, torch_fn, x, case=case, suspects=suspects, kwargs=kwargs)


@exercise("activations.leaky_relu_backward", compared="torch.autograd and finite differences")
def check_leaky_relu_backward(c, leaky_relu_backward, seed=0):
    """leaky_relu_backward(dout, x, negative_slope=0.01) = dout * (1 where x > 0, negative_slope elsewhere)."""
    rng = np.random.default_rng(seed + 1)
    suspects = Suspects(LEAKY_RELU_BACKWARD_MISTAKES)
    for case, x, kwargs in _leaky_cases(seed):
        torch_fn = lambda t, kw=kwargs: F.leaky_relu(t, **kw)  # noqa: E731
        _backward_case(c, leaky_relu_backward, torch_fn, _dout_for(rng, x.shape), x, case=case, suspects=suspects,
                       kwargs=kwargs)
    _gradcheck_backward(c, leaky_relu_backward, lambda t: F.leaky_relu(t, negative_slope=0.1), rng,
                        kwargs={"negative_slope": 0.1})


def _prelu_cases(seed):
    """(case, x, weight): per-channel and shared weights, alpha in [0, 1], alpha > 1 and alpha < 0, exact zeros.

    The order matters for the hints: per-channel cases in 2-D and 3-D come before the first shared weight.
    """
    rng = np.random.default_rng(seed)
    x = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]])
    yield "x = [[-2, -0.5, 0, 0.5, 2]] (x exactly 0), per-channel weight of shape (5,)", x, \
        np.array([0.25, 0.1, 0.25, 0.5, 0.75])
    yield "x of shape (2, 4, 4) (N, C, L), per-channel weight of shape (4,)", rng.normal(size=(2, 4, 4)), \
        rng.uniform(0, 1, size=4)
    yield "x = [[-2, -0.5, 0, 0.5, 2]], one shared weight [1.5] (alpha > 1)", x, np.array([1.5])
    yield "1-D x of shape (6,), weight = [0.1]", rng.normal(size=6), np.array([0.1])
    yield "batch of 1, x of shape (1, 3), per-channel weight of shape (3,)", rng.normal(size=(1, 3)), \
        np.array([0.1, 0.5, 2.0])
    yield "x of shape (4, 3), per-channel weight of shape (3,) with alpha > 1 and alpha < 0", \
        rng.normal(size=(4, 3)), np.array([0.2, 1.5, -0.3])
    yield "x of shape (2, 3, 4, 5) (N, C, H, W), per-channel weight of shape (3,)", rng.normal(size=(2, 3, 4, 5)), \
        rng.uniform(0, 1, size=3)
    yield "x of shape (2, 3, 4, 5) (N, C, H, W), one shared weight of shape (1,)", rng.normal(size=(2, 3, 4, 5)), \
        np.array([0.3])
    for shape in _random_shapes(rng):
        if len(shape) < 2:
            shape = (2,) + shape
        channels = shape[1]
        weight = rng.uniform(-0.5, 2.0, size=int(rng.choice([1, channels])))
        yield f"random x of shape {shape}, weight of shape {weight.shape}", rng.normal(size=shape) * 3, weight


def _expect_rejects_weight_without_channels(c, learner, *args):
    """torch refuses one weight per entry of a 1-D x (no channel axis): so must the learner's function."""
    x = np.array([-1.5, -0.5, 0.0, 0.5, 1.0, 2.0])
    weight = np.full(x.shape, 0.25)
    case = "1-D x of shape (6,) with a weight of shape (6,) (no channel axis to put it on)"
    raised = c.call(learner, *args, x, weight, case=case, via=_raised)
    c.expect(raised is not None,
             "your function accepted a weight with 6 entries for a 1-D x. torch rejects it: a 1-D input has no "
             "channel axis, so its weight must have a single entry. Raise a ValueError for this input",
             case=case,
             hint="a weight with one entry per channel needs a channel axis (axis 1) to line up with; check the "
                  "number of dimensions of x before you use such a weight")


@exercise("activations.prelu", compared="torch.nn.functional.prelu")
def check_prelu(c, prelu, seed=0):
    """prelu(x, weight) = max(0, x) + weight * min(0, x), weight of shape (1,) or (C,) on axis 1."""
    suspects = Suspects(PRELU_MISTAKES)
    for case, x, weight in _prelu_cases(seed):
        actual = c.call(prelu, x, weight, case=case)
        expected, _ = c.reference(F.prelu, x, weight)
        suspects.expect_close(c, actual, expected, case=case, args=(x, weight))
    _expect_rejects_weight_without_channels(c, prelu)


@exercise("activations.prelu_backward", compared="torch.autograd and finite differences")
def check_prelu_backward(c, prelu_backward, seed=0):
    """prelu_backward(dout, x, weight) returns (dx, dweight)."""
    rng = np.random.default_rng(seed + 1)
    suspects = Suspects(PRELU_BACKWARD_MISTAKES)
    for case, x, weight in _prelu_cases(seed):
        dout = _dout_for(rng, x.shape)
        grads = _prelu_call(c, prelu_backward, dout, x, weight, case)
        _, expected = c.reference(F.prelu, x, weight, dout=dout, wrt=[0, 1])
        for i, (name, actual) in enumerate(zip(("dx", "dweight"), grads)):
            suspects.expect_close(c, actual, expected[i], case=case, name=name, args=(dout, x, weight), pick=i)
    # A positive dout and a negative entry in every column keep each dweight entry away from 0.
    x = _gradcheck_x(rng)
    x[0] = -np.abs(x[0])
    weight = np.array([0.2, 1.5, -0.4, 0.7])
    case = f"finite differences on random x of shape {x.shape}, weight of shape {weight.shape}"
    dout = np.abs(_dout_for(rng, x.shape))
    grads = _prelu_call(c, prelu_backward, dout, x, weight, case)
    _finite_differences(c, F.prelu, [x, weight], grads, dout, case=case, names=["dx", "dweight"])
    _expect_rejects_weight_without_channels(c, prelu_backward, np.ones(6))


def _prelu_call(c, prelu_backward, dout, x, weight, case):
    grads = c.call(prelu_backward, dout, x, weight, case=case)
    if not isinstance(grads, (tuple, list)) or len(grads) != 2:
        c.fail(f"on case {case}, your prelu_backward returned a {type(grads).__name__}; return the pair (dx, dweight)",
               hint="a backward with two inputs to differentiate hands back two gradients, as a tuple of two arrays")
    return grads


def _softmax_cases(seed):
    """(case, x, axis or None for the default): large logits, several axes (0, 1, negative), batch of 1, random."""
    rng = np.random.default_rng(seed)
    yield "x = [[1000, 999, 998]] (large logits), default axis", np.array([[1000.0, 999.0, 998.0]]), None
    yield "x of shape (3, 3) (square), axis=-1", rng.normal(size=(3, 3)), -1
    yield "x of shape (3, 3) (square), axis=0", rng.normal(size=(3, 3)), 0
    yield "rows of very different size, x = [[1000, 999, 998], [-1000, -999, -998]], axis=-1", \
        np.array([[1000.0, 999.0, 998.0], [-1000.0, -999.0, -998.0]]), -1
    yield "non-square x of shape (4, 6), axis=0", rng.normal(size=(4, 6)) * 3, 0
    yield "non-square x of shape (4, 6), axis=1", rng.normal(size=(4, 6)) * 3, 1
    yield "batch of 1, x of shape (1, 5), axis=-1", rng.normal(size=(1, 5)), -1
    yield "1-D x of shape (7,), axis=0", rng.normal(size=7) * 3, 0
    yield "x of shape (2, 3, 4), axis=1", rng.normal(size=(2, 3, 4)) * 3, 1
    yield "x of shape (2, 3, 4), axis=-2", rng.normal(size=(2, 3, 4)) * 3, -2
    yield "x of shape (2, 3, 4), axis=0", rng.normal(size=(2, 3, 4)) * 3, 0
    yield "x of shape (2, 5) with +-1000 in each column, axis=0", \
        np.array([[1000.0, -1000.0, 0.0, 3.0, 1000.0], [999.0, -999.0, 1000.0, -3.0, 1000.0]]), 0
    for shape in _random_shapes(rng):
        axis = int(rng.integers(-len(shape), len(shape)))
        yield f"random x of shape {shape}, axis={axis}", rng.normal(size=shape) * 5, axis


@exercise("activations.softmax", compared="torch.softmax")
def check_softmax(c, softmax, seed=0):
    """softmax(x, axis=-1): exp(x - max) normalised along `axis`."""
    suspects = Suspects(SOFTMAX_MISTAKES)
    for case, x, axis in _softmax_cases(seed):
        kwargs = {} if axis is None else {"axis": axis}
        torch_fn = lambda t, dim=-1 if axis is None else axis: torch.softmax(t, dim=dim)  # noqa: E731
        _forward_case(c, softmax, torch_fn, x, case=case, suspects=suspects, kwargs=kwargs)


@exercise("activations.softmax_backward", compared="torch.autograd and finite differences")
def check_softmax_backward(c, softmax_backward, seed=0):
    """softmax_backward(dout, x, axis=-1) = s * (dout - sum(dout * s, axis, keepdims=True))."""
    rng = np.random.default_rng(seed + 1)
    suspects = Suspects(SOFTMAX_BACKWARD_MISTAKES)
    for case, x, axis in _softmax_cases(seed):
        kwargs = {} if axis is None else {"axis": axis}
        torch_fn = lambda t, dim=-1 if axis is None else axis: torch.softmax(t, dim=dim)  # noqa: E731
        _backward_case(c, softmax_backward, torch_fn, rng.normal(size=x.shape), x, case=case, suspects=suspects,
                       kwargs=kwargs)
    # Each column of dout picks one output of its slice, so dx = s * (dout - s_k) has no entry near 0
    # (with x in [-1, 1] every s_i >= 0.06), and the centred differences' relative error stays small.
    x = rng.uniform(-1.0, 1.0, size=GRADCHECK_SHAPE)
    dout = np.zeros(GRADCHECK_SHAPE)
    dout[rng.integers(0, GRADCHECK_SHAPE[0], size=GRADCHECK_SHAPE[1]), np.arange(GRADCHECK_SHAPE[1])] = 1.0
    _gradcheck_backward(c, softmax_backward, lambda t: torch.softmax(t, dim=0), rng, kwargs={"axis": 0},
                        x=x, dout=dout * _dout_for(rng, GRADCHECK_SHAPE))


@exercise("activations.silu", compared="torch.nn.functional.silu")
def check_silu(c, silu, seed=0):
    """silu(x) = x * sigmoid(x), without overflow."""
    suspects = Suspects(SILU_MISTAKES)
    for case, x in _saturating_cases(seed, first="m"):
        _forward_case(c, silu, F.silu, x, case=case, suspects=suspects)


@exercise("activations.silu_backward", compared="torch.autograd and finite differences")
def check_silu_backward(c, silu_backward, seed=0):
    """silu_backward(dout, x) = dout * s * (1 + x * (1 - s))."""
    rng = np.random.default_rng(seed + 1)
    suspects = Suspects(SILU_BACKWARD_MISTAKES)
    for case, x in _saturating_cases(seed, first="m"):
        _backward_case(c, silu_backward, F.silu, _dout_for(rng, x.shape), x, case=case, suspects=suspects)
    # SiLU's derivative vanishes near x = -1.28; on [-1, 3] it stays above 0.07
    _gradcheck_backward(c, silu_backward, F.silu, rng, x=rng.uniform(-1.0, 3.0, size=GRADCHECK_SHAPE))


# For the unit tests: each exercise's check and its known mistakes, by function name.
CHECKS = {
    "sigmoid": check_sigmoid, "sigmoid_backward": check_sigmoid_backward,
    "tanh": check_tanh, "tanh_backward": check_tanh_backward,
    "relu": check_relu, "relu_backward": check_relu_backward,
    "leaky_relu": check_leaky_relu, "leaky_relu_backward": check_leaky_relu_backward,
    "prelu": check_prelu, "prelu_backward": check_prelu_backward,
    "softmax": check_softmax, "softmax_backward": check_softmax_backward,
    "silu": check_silu, "silu_backward": check_silu_backward,
}
MISTAKES = {
    "sigmoid": SIGMOID_MISTAKES, "sigmoid_backward": SIGMOID_BACKWARD_MISTAKES,
    "tanh": TANH_MISTAKES, "tanh_backward": TANH_BACKWARD_MISTAKES,
    "relu": RELU_MISTAKES, "relu_backward": RELU_BACKWARD_MISTAKES,
    "leaky_relu": LEAKY_RELU_MISTAKES, "leaky_relu_backward": LEAKY_RELU_BACKWARD_MISTAKES,
    "prelu": PRELU_MISTAKES, "prelu_backward": PRELU_BACKWARD_MISTAKES,
    "softmax": SOFTMAX_MISTAKES, "softmax_backward": SOFTMAX_BACKWARD_MISTAKES,
    "silu": SILU_MISTAKES, "silu_backward": SILU_BACKWARD_MISTAKES,
}
