"""Checks for 01_activations: forward and backward of sigmoid, tanh, ReLU, Leaky ReLU, PReLU, softmax and SiLU.

Every function mirrors torch.nn.functional, and every backward follows one convention:
`dx = f_backward(dout, x, ...)` returns the gradient of sum(f(x, ...) * dout) with respect to x
(PReLU also returns the gradient with respect to its weight). Each backward is compared with
torch.autograd and then confirmed with centred finite differences on a small random case.

Mistake functions take the learner's arguments, so each one can also be handed to its check
(the unit tests do exactly that).
"""

import numpy as np
import torch
import torch.nn.functional as F

from course_utils.checking import Mistake, code_names, exercise
from course_utils.compare import rel_error
from course_utils.gradcheck import numerical_gradient

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

SIGMOID_MISTAKES = [
    Mistake("this is exp(x)/(1+exp(x)): exp(x) overflows to inf for large positive x and inf/inf is NaN. "
            "Use z = np.exp(-np.abs(x)), which never overflows: 1/(1+z) where x >= 0, z/(1+z) where x < 0",
            lambda x: np.exp(x) / (1 + np.exp(x))),
    Mistake("this is the naive 1/(1+np.exp(-x)): np.exp(-x) overflows for large negative x (x = -1000 "
            "gives exp(1000) = inf). Use z = np.exp(-np.abs(x)): 1/(1+z) where x >= 0, z/(1+z) where x < 0",
            lambda x: 1 / (1 + np.exp(-x))),
    Mistake("np.where computes both branches on every element, so exp(x) (or exp(-x)) still overflows "
            "inside it. Compute z = np.exp(-np.abs(x)) once, then np.where(x >= 0, 1/(1+z), z/(1+z))",
            lambda x: np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))),
]

SIGMOID_BACKWARD_MISTAKES = [
    Mistake("you used 1 - s**2, which is tanh's derivative. The sigmoid's is s*(1-s) with s = sigmoid(x)",
            lambda dout, x: dout * (1 - _sigmoid(x) ** 2)),
    Mistake("the derivative of the sigmoid is s*(1-s), not s itself", lambda dout, x: dout * _sigmoid(x)),
    Mistake("you applied x*(1-x) to the input; the formula is s*(1-s) with s = sigmoid(x)",
            lambda dout, x: dout * x * (1 - x)),
    Mistake("you returned the local derivative s*(1-s) without multiplying by dout (chain rule: "
            "dx = dout * s * (1-s))", lambda dout, x: _sigmoid(x) * (1 - _sigmoid(x))),
    Mistake("your backward computes the naive 1/(1+exp(-x)), which overflows for large negative x; "
            "reuse your stable sigmoid(x)", lambda dout, x: dout * (1 / (1 + np.exp(-x))) * (1 - 1 / (1 + np.exp(-x)))),
]

TANH_MISTAKES = [
    Mistake("this is the naive (e^{2x}-1)/(e^{2x}+1): e^{2x} overflows for large x (x = 400 already) and "
            "inf/inf is NaN. Use z = np.exp(-2*np.abs(x)): sign(x) * (1-z)/(1+z)",
            lambda x: (np.exp(2 * x) - 1) / (np.exp(2 * x) + 1)),
    Mistake("this is (e^x - e^-x)/(e^x + e^-x): e^x or e^-x overflows for large |x| and inf/inf is NaN. "
            "Write it with z = np.exp(-2*np.abs(x)): sign(x) * (1-z)/(1+z)",
            lambda x: (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x))),
    Mistake("np.where computes both branches on every element, so the exp still overflows inside it. "
            "Compute z = np.exp(-2*np.abs(x)) once, then sign(x) * (1-z)/(1+z)",
            lambda x: np.where(x >= 0, (1 - np.exp(-2 * x)) / (1 + np.exp(-2 * x)),
                               (np.exp(2 * x) - 1) / (np.exp(2 * x) + 1))),
    Mistake("you returned the sigmoid; tanh(x) = 2*sigmoid(2x) - 1 ranges over (-1, 1)", lambda x: _sigmoid(x)),
]

TANH_BACKWARD_MISTAKES = [
    Mistake("you used t*(1-t), the sigmoid's form; tanh's derivative is 1 - t**2 with t = tanh(x)",
            lambda dout, x: dout * _tanh(x) * (1 - _tanh(x))),
    Mistake("square it: tanh's derivative is 1 - tanh(x)**2, not 1 - tanh(x)", lambda dout, x: dout * (1 - _tanh(x))),
    Mistake("you applied 1 - x**2 to the input; the formula is 1 - t**2 with t = tanh(x)",
            lambda dout, x: dout * (1 - x ** 2)),
    Mistake("you returned the local derivative 1 - t**2 without multiplying by dout (chain rule)",
            lambda dout, x: 1 - _tanh(x) ** 2),
    Mistake("1/cosh(x)**2 is right on paper, but cosh overflows for large |x|; use 1 - tanh(x)**2",
            lambda dout, x: dout / np.cosh(x) ** 2),
]

RELU_MISTAKES = [
    Mistake("np.max(x, 0) is the maximum *along axis 0*, a reduction; the elementwise maximum is np.maximum(x, 0)",
            lambda x: np.max(x, 0)),
    Mistake("you returned the mask (x > 0), which is ReLU's derivative; ReLU itself is max(0, x)",
            lambda x: (x > 0).astype(x.dtype)),
    Mistake("you returned |x|; ReLU is max(0, x), which is 0 for negative x", lambda x: np.abs(x)),
]

RELU_BACKWARD_MISTAKES = [
    Mistake("ReLU's gradient is not always 1: it is 0 where x < 0 (that is where dead units come from)",
            lambda dout, x: dout.copy()),
    Mistake("at exactly x = 0 PyTorch uses the subgradient 0: the mask is (x > 0), not (x >= 0)",
            lambda dout, x: dout * (x >= 0)),
    Mistake("you returned the mask (x > 0) without multiplying by dout (chain rule: dx = dout * (x > 0))",
            lambda dout, x: (x > 0).astype(x.dtype)),
    Mistake("you multiplied dout by relu(x); the derivative is the 0/1 mask (x > 0)",
            lambda dout, x: dout * np.maximum(x, 0)),
]

LEAKY_RELU_MISTAKES = [
    Mistake("the slope goes on the negative side: x where x > 0, negative_slope * x where x <= 0",
            lambda x, negative_slope=0.01: np.where(x > 0, negative_slope * x, x)),
    Mistake("you ignored the negative_slope argument (always 0.01); use the value you are given",
            lambda x, negative_slope=0.01: np.where(x > 0, x, 0.01 * x)),
    Mistake("this is plain ReLU; Leaky ReLU keeps negative_slope * x for negative x",
            lambda x, negative_slope=0.01: np.maximum(x, 0)),
]

LEAKY_RELU_BACKWARD_MISTAKES = [
    Mistake("the slope goes on the negative side: the local gradient is 1 where x > 0 and negative_slope elsewhere",
            lambda dout, x, negative_slope=0.01: dout * np.where(x > 0, negative_slope, 1.0)),
    Mistake("you ignored the negative_slope argument (always 0.01); use the value you are given",
            lambda dout, x, negative_slope=0.01: dout * np.where(x > 0, 1.0, 0.01)),
    Mistake("at exactly x = 0 PyTorch uses negative_slope: the test is x > 0, not x >= 0",
            lambda dout, x, negative_slope=0.01: dout * np.where(x >= 0, 1.0, negative_slope)),
    Mistake("you returned the local gradient without multiplying by dout (chain rule)",
            lambda dout, x, negative_slope=0.01: np.where(x > 0, 1.0, negative_slope)),
    Mistake("this is ReLU's backward: for x <= 0 the gradient is negative_slope * dout, not 0",
            lambda dout, x, negative_slope=0.01: dout * (x > 0)),
]

PRELU_MISTAKES = [
    Mistake("PReLU is not max(x, alpha*x**2) (that is positive for negative x); "
            "it is max(0, x) + alpha * min(0, x)",
            lambda x, weight: np.maximum(x, _prelu_weight(x, weight) * x ** 2)),
    Mistake("max(x, alpha*x) equals PReLU only while 0 <= alpha <= 1; with alpha > 1 it picks alpha*x for "
            "positive x. Write max(0, x) + alpha * min(0, x)",
            lambda x, weight: np.maximum(x, _prelu_weight(x, weight) * x)),
    Mistake("the weight belongs to axis 1 (the channels, as in torch): reshape it to (1, C, 1, ...) before "
            "broadcasting; plain broadcasting puts it on the last axis",
            lambda x, weight: np.maximum(x, 0) + weight * np.minimum(x, 0)),
    Mistake("the slope goes on the negative side: max(0, x) + alpha * min(0, x)",
            lambda x, weight: _prelu_weight(x, weight) * np.maximum(x, 0) + np.minimum(x, 0)),
]

PRELU_BACKWARD_MISTAKES = [
    Mistake("dweight must have the weight's shape: sum dout * min(x, 0) over the batch (and spatial) axes, "
            "every axis except the channel axis 1, or every axis when weight has one entry",
            lambda dout, x, weight: (_prelu_dx(dout, x, weight), dout * np.minimum(x, 0))),
    Mistake("with one shared weight (shape (1,)) dweight is the sum over every axis, returned with shape (1,)",
            lambda dout, x, weight: (_prelu_dx(dout, x, weight),
                                     (dout * np.minimum(x, 0)).sum(axis=tuple(i for i in range(x.ndim) if i != 1)))),
    Mistake("you summed dweight over the batch axis only; also sum over the spatial axes (all but axis 1)",
            lambda dout, x, weight: (_prelu_dx(dout, x, weight), (dout * np.minimum(x, 0)).sum(axis=0))),
    Mistake("return dweight with the weight's shape (1,), not as a 0-d scalar: e.g. np.sum(...).reshape(1)",
            lambda dout, x, weight: (_prelu_dx(dout, x, weight),
                                     np.sum(dout * np.minimum(x, 0)) if weight.size == 1
                                     else _sum_except_axis1(dout * np.minimum(x, 0), weight))),
    Mistake("dweight only gets contributions where x < 0: it is sum(dout * min(x, 0)), not sum(dout * x)",
            lambda dout, x, weight: (_prelu_dx(dout, x, weight), _sum_except_axis1(dout * x, weight))),
    Mistake("you forgot dout in dweight: it is sum(dout * min(x, 0)) over all axes but the channel axis",
            lambda dout, x, weight: (_prelu_dx(dout, x, weight), _sum_except_axis1(np.minimum(x, 0), weight))),
    Mistake("dx is dout where x > 0 and alpha * dout where x <= 0; you used ReLU's gradient (0 for x <= 0)",
            lambda dout, x, weight: (dout * (x > 0), _sum_except_axis1(dout * np.minimum(x, 0), weight))),
    Mistake("the slope goes on the negative side: dx = dout where x > 0, alpha * dout where x <= 0",
            lambda dout, x, weight: (dout * np.where(x > 0, _prelu_weight(x, weight), 1.0),
                                     _sum_except_axis1(dout * np.minimum(x, 0), weight))),
    Mistake("at exactly x = 0 PyTorch uses alpha for dx: the test is x > 0, not x >= 0",
            lambda dout, x, weight: (dout * np.where(x >= 0, 1.0, _prelu_weight(x, weight)),
                                     _sum_except_axis1(dout * np.minimum(x, 0), weight))),
]


def _prelu_dx(dout, x, weight):
    return dout * np.where(x > 0, 1.0, _prelu_weight(x, weight))


SOFTMAX_MISTAKES = [
    Mistake("softmax without subtracting the max overflows: exp(1000) = inf and inf/inf is NaN. "
            "Subtract x.max(axis=axis, keepdims=True) first; softmax does not change when you shift its inputs",
            lambda x, axis=-1: np.exp(x) / np.exp(x).sum(axis=axis, keepdims=True)),
    Mistake("you subtracted the max of the whole array; subtract each slice's own max "
            "(x.max(axis=axis, keepdims=True)), or slices far below it underflow to 0/0",
            lambda x, axis=-1: np.exp(x - x.max()) / np.exp(x - x.max()).sum(axis=axis, keepdims=True)),
    Mistake("you always normalised over the last axis: use the `axis` argument (it may be 0 or negative) for "
            "both the max and the sum", lambda x, axis=-1: _softmax(x, axis=-1)),
    Mistake("you normalised over axis 0 (down the columns): use the `axis` argument, whose default -1 is the "
            "last axis, for both the max and the sum", lambda x, axis=-1: _softmax(x, axis=0)),
    Mistake("you summed without keepdims=True, so the sums broadcast along the wrong axis; use "
            "e.sum(axis=axis, keepdims=True)",
            lambda x, axis=-1: (lambda e: e / e.sum(axis=axis))(np.exp(x - x.max(axis=axis, keepdims=True)))),
    Mistake("you normalised by the sum over the whole array; each slice along `axis` must sum to 1",
            lambda x, axis=-1: (lambda e: e / e.sum())(np.exp(x - x.max(axis=axis, keepdims=True)))),
]

SOFTMAX_BACKWARD_MISTAKES = [
    Mistake("dout * s * (1 - s) uses only the diagonal of the Jacobian; every output depends on every input "
            "of its slice: dx = s * (dout - sum(dout * s, axis, keepdims=True))",
            lambda dout, x, axis=-1: dout * _softmax(x, axis) * (1 - _softmax(x, axis))),
    Mistake("the sum is over dout * s, not dout alone: dx = s * (dout - sum(dout * s, axis, keepdims=True))",
            lambda dout, x, axis=-1: _softmax(x, axis) * (dout - dout.sum(axis=axis, keepdims=True))),
    Mistake("you summed over the wrong axis: reduce over `axis` (it may be 0 or negative)",
            lambda dout, x, axis=-1: (lambda s: s * (dout - (dout * s).sum(axis=-1, keepdims=True)))(_softmax(x, axis))),
    Mistake("you summed without keepdims=True, so the sums broadcast along the wrong axis",
            lambda dout, x, axis=-1: (lambda s: s * (dout - (dout * s).sum(axis=axis)))(_softmax(x, axis))),
    Mistake("you summed over the whole array; each slice along `axis` has its own sum(dout * s)",
            lambda dout, x, axis=-1: (lambda s: s * (dout - (dout * s).sum()))(_softmax(x, axis))),
    Mistake("you returned s * (1 - s) without dout; the backward is a vector-Jacobian product with dout: "
            "dx = s * (dout - sum(dout * s, axis, keepdims=True))",
            lambda dout, x, axis=-1: _softmax(x, axis) * (1 - _softmax(x, axis))),
    Mistake("your backward computes softmax without subtracting the max, which overflows; reuse your stable softmax",
            lambda dout, x, axis=-1: (lambda s: s * (dout - (dout * s).sum(axis=axis, keepdims=True)))(
                np.exp(x) / np.exp(x).sum(axis=axis, keepdims=True))),
]

SILU_MISTAKES = [
    Mistake("x * exp(x)/(1+exp(x)) overflows for large positive x (inf/inf is NaN); use x * sigmoid(x) "
            "with your stable sigmoid", lambda x: x * np.exp(x) / (1 + np.exp(x))),
    Mistake("x/(1+exp(-x)) overflows for large negative x (exp(1000) = inf); use x * sigmoid(x) with your "
            "stable sigmoid", lambda x: x / (1 + np.exp(-x))),
    Mistake("you returned sigmoid(x); SiLU is x * sigmoid(x)", lambda x: _sigmoid(x)),
]

SILU_BACKWARD_MISTAKES = [
    Mistake("product rule: d/dx [x * s(x)] = s + x * s * (1 - s); you kept only s",
            lambda dout, x: dout * _sigmoid(x)),
    Mistake("that is the sigmoid's derivative s*(1-s); SiLU's is s + x * s * (1 - s) (product rule)",
            lambda dout, x: dout * _sigmoid(x) * (1 - _sigmoid(x))),
    Mistake("product rule: d/dx [x * s(x)] = s + x * s * (1 - s); you kept only x * s * (1 - s)",
            lambda dout, x: dout * x * _sigmoid(x) * (1 - _sigmoid(x))),
    Mistake("you returned the local derivative without multiplying by dout (chain rule)",
            lambda dout, x: _sigmoid(x) * (1 + x * (1 - _sigmoid(x)))),
    Mistake("your backward computes the naive 1/(1+exp(-x)), which overflows for large negative x; "
            "reuse your stable sigmoid(x)",
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
    """Edge cases for sigmoid, tanh and SiLU: +-1000 alone and mixed, 0, batch of 1, non-square, then random.

    `first` orders the three saturation cases (+: [1000], -: [-1000], m: mixed), so that each known
    mistake first fails on a case where no earlier mistake gives the same output.
    """
    rng = np.random.default_rng(seed)
    big = {"+": ("x = [1000] (saturates)", np.array([1000.0])),
           "-": ("x = [-1000] (saturates)", np.array([-1000.0])),
           "m": ("x = [-1000, -40, -1, 0, 1, 40, 1000]", np.array([-1000.0, -40.0, -1.0, 0.0, 1.0, 40.0, 1000.0]))}
    for key in first + "".join(k for k in "+-m" if k not in first):
        yield big[key]
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


def _backward_case(c, learner, torch_fn, dout, x, *, case, mistakes, kwargs=None):
    kwargs = kwargs or {}
    dx = c.call(learner, dout, x, case=case, **kwargs)
    _, (expected,) = c.reference(torch_fn, x, dout=dout, wrt=[0])
    c.expect_close(dx, expected, case=case, name="dx", mistakes=mistakes, mistake_args=(dout, x),
                   mistake_kwargs=kwargs)


def _finite_differences(c, torch_fn, arrays, analytic, dout, *, case, names):
    """Confirm analytic gradients with centred differences of the float64 torch forward."""

    def forward(*values):
        out, _ = c.reference(torch_fn, *values)
        return out

    numeric = numerical_gradient(forward, *arrays, dout=dout, h=GRADCHECK_H)
    for name, ana, num in zip(names, analytic, numeric):
        ana = np.asarray(ana, dtype=np.float64)
        if ana.shape != num.shape:
            c.fail(f"on case {case}, {name} has shape {ana.shape}, expected shape {num.shape}")
        err = rel_error(ana, num)
        c.expect(err <= GRADCHECK_TOL,
                 f"your {name} disagrees with centred finite differences (h={GRADCHECK_H:g}, float64): "
                 f"rel error {err:.2e}, tolerance {GRADCHECK_TOL:g} (a correct backward gives about 1e-9)",
                 case=case,
                 hint="write the derivative on paper first, then check each factor of the chain rule")


def _gradcheck_backward(c, learner, torch_fn, rng, *, kwargs=None, x=None, dout=None):
    kwargs = kwargs or {}
    x = _gradcheck_x(rng) if x is None else x
    dout = _dout_for(rng, x.shape) if dout is None else dout
    case = f"finite differences on random x of shape {x.shape}"
    dx = c.call(learner, dout, x, case=case, **kwargs)
    _finite_differences(c, torch_fn, [x], [dx], dout, case=case, names=["dx"])


def _refers_to(fn, name):
    code = getattr(fn, "__code__", None)
    return code is not None and name in code_names(code)


# -- the checks --------------------------------------------------------------------------------------------


@exercise("activations.sigmoid", compared="torch.sigmoid")
def check_sigmoid(c, sigmoid, seed=0):
    """sigmoid(x) = 1/(1+exp(-x)), computed so that nothing overflows."""
    for case, x in _saturating_cases(seed):
        c.compare(sigmoid, torch.sigmoid, x, case=case, mistakes=SIGMOID_MISTAKES)


@exercise("activations.sigmoid_backward", compared="torch.autograd and finite differences")
def check_sigmoid_backward(c, sigmoid_backward, seed=0):
    """sigmoid_backward(dout, x) = dout * s * (1 - s)."""
    rng = np.random.default_rng(seed + 1)
    for case, x in _saturating_cases(seed):
        _backward_case(c, sigmoid_backward, torch.sigmoid, _dout_for(rng, x.shape), x, case=case,
                       mistakes=SIGMOID_BACKWARD_MISTAKES)
    _gradcheck_backward(c, sigmoid_backward, torch.sigmoid, rng)


@exercise("activations.tanh", compared="torch.tanh")
def check_tanh(c, tanh, seed=0):
    """tanh(x), built from np.exp in a form that cannot overflow."""
    if _refers_to(tanh, "tanh"):
        c.fail("your tanh calls a ready-made tanh (np.tanh or math.tanh). This exercise builds it from np.exp",
               hint="with z = np.exp(-2*np.abs(x)), tanh(x) = sign(x) * (1-z)/(1+z); np.tanh is fine elsewhere")
    for case, x in _saturating_cases(seed, first="-+"):
        c.compare(tanh, torch.tanh, x, case=case, mistakes=TANH_MISTAKES)


@exercise("activations.tanh_backward", compared="torch.autograd and finite differences")
def check_tanh_backward(c, tanh_backward, seed=0):
    """tanh_backward(dout, x) = dout * (1 - tanh(x)**2)."""
    rng = np.random.default_rng(seed + 1)
    for case, x in _saturating_cases(seed, first="-+"):
        _backward_case(c, tanh_backward, torch.tanh, _dout_for(rng, x.shape), x, case=case,
                       mistakes=TANH_BACKWARD_MISTAKES)
    _gradcheck_backward(c, tanh_backward, torch.tanh, rng)


@exercise("activations.relu", compared="torch.nn.functional.relu")
def check_relu(c, relu, seed=0):
    """relu(x) = max(0, x), elementwise."""
    for case, x in _relu_like_cases(seed):
        c.compare(relu, F.relu, x, case=case, mistakes=RELU_MISTAKES)


@exercise("activations.relu_backward", compared="torch.autograd and finite differences")
def check_relu_backward(c, relu_backward, seed=0):
    """relu_backward(dout, x) = dout * (x > 0), with PyTorch's subgradient 0 at x = 0."""
    rng = np.random.default_rng(seed + 1)
    for case, x in _relu_like_cases(seed):
        _backward_case(c, relu_backward, F.relu, _dout_for(rng, x.shape), x, case=case,
                       mistakes=RELU_BACKWARD_MISTAKES)
    _gradcheck_backward(c, relu_backward, F.relu, rng)


def _leaky_cases(seed):
    slopes = [None, 0.2, 0.01, 0.0, 0.5]  # None: rely on the default negative_slope=0.01
    for i, (case, x) in enumerate(_relu_like_cases(seed)):
        slope = slopes[i % len(slopes)]
        if slope is None:
            yield f"{case}, default negative_slope", x, {}
        else:
            yield f"{case}, negative_slope={slope:g}", x, {"negative_slope": slope}


@exercise("activations.leaky_relu", compared="torch.nn.functional.leaky_relu")
def check_leaky_relu(c, leaky_relu, seed=0):
    """leaky_relu(x, negative_slope=0.01) = x where x > 0, negative_slope * x elsewhere."""
    for case, x, kwargs in _leaky_cases(seed):
        c.compare(leaky_relu, F.leaky_relu, x, case=case, mistakes=LEAKY_RELU_MISTAKES, **kwargs)


@exercise("activations.leaky_relu_backward", compared="torch.autograd and finite differences")
def check_leaky_relu_backward(c, leaky_relu_backward, seed=0):
    """leaky_relu_backward(dout, x, negative_slope=0.01) = dout * (1 where x > 0, negative_slope elsewhere)."""
    rng = np.random.default_rng(seed + 1)
    for case, x, kwargs in _leaky_cases(seed):
        torch_fn = lambda t, kw=kwargs: F.leaky_relu(t, **kw)  # noqa: E731
        _backward_case(c, leaky_relu_backward, torch_fn, _dout_for(rng, x.shape), x, case=case,
                       mistakes=LEAKY_RELU_BACKWARD_MISTAKES, kwargs=kwargs)
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


@exercise("activations.prelu", compared="torch.nn.functional.prelu")
def check_prelu(c, prelu, seed=0):
    """prelu(x, weight) = max(0, x) + weight * min(0, x), weight of shape (1,) or (C,) on axis 1."""
    for case, x, weight in _prelu_cases(seed):
        c.compare(prelu, F.prelu, x, weight, case=case, mistakes=PRELU_MISTAKES)


@exercise("activations.prelu_backward", compared="torch.autograd and finite differences")
def check_prelu_backward(c, prelu_backward, seed=0):
    """prelu_backward(dout, x, weight) returns (dx, dweight)."""
    rng = np.random.default_rng(seed + 1)
    for case, x, weight in _prelu_cases(seed):
        dout = _dout_for(rng, x.shape)
        grads = _prelu_call(c, prelu_backward, dout, x, weight, case)
        _, expected = c.reference(F.prelu, x, weight, dout=dout, wrt=[0, 1])
        for i, (name, actual) in enumerate(zip(("dx", "dweight"), grads)):
            c.expect_close(actual, expected[i], case=case, name=name, mistakes=PRELU_BACKWARD_MISTAKES,
                           mistake_args=(dout, x, weight), mistake_output=i)
    # A positive dout and a negative entry in every column keep each dweight entry away from 0.
    x = _gradcheck_x(rng)
    x[0] = -np.abs(x[0])
    weight = np.array([0.2, 1.5, -0.4, 0.7])
    case = f"finite differences on random x of shape {x.shape}, weight of shape {weight.shape}"
    dout = np.abs(_dout_for(rng, x.shape))
    grads = _prelu_call(c, prelu_backward, dout, x, weight, case)
    _finite_differences(c, F.prelu, [x, weight], grads, dout, case=case, names=["dx", "dweight"])


def _prelu_call(c, prelu_backward, dout, x, weight, case):
    grads = c.call(prelu_backward, dout, x, weight, case=case)
    if not isinstance(grads, (tuple, list)) or len(grads) != 2:
        c.fail(f"on case {case}, your prelu_backward returned a {type(grads).__name__}; return the pair (dx, dweight)",
               hint="end with `return dx, dweight`")
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
    for case, x, axis in _softmax_cases(seed):
        kwargs = {} if axis is None else {"axis": axis}
        actual = c.call(softmax, x, case=case, **kwargs)
        expected, _ = c.reference(lambda t, dim=-1 if axis is None else axis: torch.softmax(t, dim=dim), x)
        c.expect_close(actual, expected, case=case, mistakes=SOFTMAX_MISTAKES, mistake_args=(x,),
                       mistake_kwargs=kwargs)


@exercise("activations.softmax_backward", compared="torch.autograd and finite differences")
def check_softmax_backward(c, softmax_backward, seed=0):
    """softmax_backward(dout, x, axis=-1) = s * (dout - sum(dout * s, axis, keepdims=True))."""
    rng = np.random.default_rng(seed + 1)
    for case, x, axis in _softmax_cases(seed):
        kwargs = {} if axis is None else {"axis": axis}
        torch_fn = lambda t, dim=-1 if axis is None else axis: torch.softmax(t, dim=dim)  # noqa: E731
        _backward_case(c, softmax_backward, torch_fn, rng.normal(size=x.shape), x, case=case,
                       mistakes=SOFTMAX_BACKWARD_MISTAKES, kwargs=kwargs)
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
    for case, x in _saturating_cases(seed, first="m"):
        c.compare(silu, F.silu, x, case=case, mistakes=SILU_MISTAKES)


@exercise("activations.silu_backward", compared="torch.autograd and finite differences")
def check_silu_backward(c, silu_backward, seed=0):
    """silu_backward(dout, x) = dout * s * (1 + x * (1 - s))."""
    rng = np.random.default_rng(seed + 1)
    for case, x in _saturating_cases(seed, first="m"):
        _backward_case(c, silu_backward, F.silu, _dout_for(rng, x.shape), x, case=case,
                       mistakes=SILU_BACKWARD_MISTAKES)
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
