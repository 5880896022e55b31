"""Checks for 07_pooling: max and average pooling, adaptive (global) average pooling, forward and backward.

The conventions the lesson fixes, and these checks hold the learner to (those of torch.nn.functional):

* x is NCHW; kernel_size, stride and padding are an int or an (h, w) pair; `stride=None` means
  stride = kernel_size; the output size is floor((H + 2P - K) / S) + 1 per axis.
* Max pooling pads with -inf (padding never wins a window); average pooling pads with zeros and
  divides by the full window size, padding included (torch's default count_include_pad=True).
* `max_pool2d_forward(x, kernel_size, stride=None, padding=0)` and `avg_pool2d_forward(...)` return
  `(out, cache)`; `max_pool2d_backward(dout, cache)` and `avg_pool2d_backward(dout, cache)` return dx.
  In max pooling each window sends its gradient to one element: its first maximum in row-major order
  (as torch does), also when several elements tie.
* `adaptive_avg_pool2d_forward(x, output_size)` returns `(out, cache)`; window i along an axis of
  length H covers [floor(i*H/out), ceil((i+1)*H/out)); output_size 1 is global average pooling, with
  output shape (N, C, 1, 1). `adaptive_avg_pool2d_backward(dout, cache)` returns dx.

Every known mistake is a NumPy function written here (instructor code), with the learner's signature for
the forward passes and `(dout, x, ...)` for the backward passes.
"""

import functools

import numpy as np
import torch.nn.functional as F

from course_utils.checking import Mistake, exercise
from course_utils.compare import find_mismatch
from course_utils.gradcheck import numerical_gradient
from course_utils.hints import matching_mistake

GRADCHECK_H = 1e-6
# The finite-difference case keeps every window's top two values at least 0.05 apart, far more than h,
# so no perturbation changes which element is a window's maximum.

# ---------------------------------------------------------------------------------------------
# NumPy versions of the right answers and of the known wrong ones
# ---------------------------------------------------------------------------------------------


def _pair(v):
    if isinstance(v, (tuple, list)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def _geometry(x, kernel_size, stride, padding):
    (kh, kw) = _pair(kernel_size)
    (sh, sw) = _pair(kernel_size if stride is None else stride)
    (ph, pw) = _pair(padding)
    H, W = x.shape[2:]
    return (kh, kw), (sh, sw), (ph, pw), ((H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1)


def _windows(xp, k, s, O):
    """Every window of the padded input: an array (N, C, OH, OW, kh*kw), row-major inside each window."""
    (kh, kw), (sh, sw), (OH, OW) = k, s, O
    rows = (np.arange(OH) * sh)[:, None] + np.arange(kh)[None, :]          # (OH, kh)
    cols = (np.arange(OW) * sw)[:, None] + np.arange(kw)[None, :]          # (OW, kw)
    win = xp[:, :, rows[:, None, :, None], cols[None, :, None, :]]        # (N, C, OH, OW, kh, kw)
    return win.reshape(*win.shape[:4], kh * kw), rows, cols


def _padded(x, p, value):
    ph, pw = p
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def _max_pool(x, kernel_size, stride=None, padding=0, *, pad_value=-np.inf):
    k, s, p, O = _geometry(x, kernel_size, stride, padding)
    win, _, _ = _windows(_padded(x, p, pad_value), k, s, O)
    return win.max(axis=-1)


def _avg_pool(x, kernel_size, stride=None, padding=0, *, include_pad=True, divide=True):
    k, s, p, O = _geometry(x, kernel_size, stride, padding)
    win, _, _ = _windows(_padded(x, p, 0.0), k, s, O)
    total = win.sum(axis=-1)
    if not divide:
        return total
    if include_pad:
        return total / (k[0] * k[1])
    ones, _, _ = _windows(_padded(np.ones((1, 1, *x.shape[2:])), p, 0.0), k, s, O)
    return total / ones.sum(axis=-1)


def max_pool2d_reference(x, kernel_size, stride=None, padding=0):
    return _max_pool(x, kernel_size, stride, padding)


def avg_pool2d_reference(x, kernel_size, stride=None, padding=0):
    return _avg_pool(x, kernel_size, stride, padding)


def _scatter(dwin, x, k, s, p, O, overwrite=False):
    """Send window gradients dwin (N, C, OH, OW, kh*kw) back to the input's positions."""
    (kh, kw), (sh, sw), (ph, pw), (OH, OW) = k, s, p, O
    N, C, H, W = x.shape
    dxp = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    dwin = dwin.reshape(N, C, OH, OW, kh, kw)
    for oi in range(OH):
        for oj in range(OW):
            rows = slice(oi * sh, oi * sh + kh)
            cols = slice(oj * sw, oj * sw + kw)
            if overwrite:
                dxp[:, :, rows, cols] = dwin[:, :, oi, oj]
            else:
                dxp[:, :, rows, cols] += dwin[:, :, oi, oj]
    return dxp[:, :, ph:ph + H, pw:pw + W]


def _max_pool_grad(dout, x, kernel_size, stride=None, padding=0, *, route="first", overwrite=False,
                   use_dout=True):
    k, s, p, O = _geometry(x, kernel_size, stride, padding)
    win, _, _ = _windows(_padded(x, p, -np.inf), k, s, O)
    top = win.max(axis=-1, keepdims=True)
    ties = win == top
    if route == "first":
        mask = np.zeros_like(ties)
        np.put_along_axis(mask, win.argmax(axis=-1)[..., None], True, axis=-1)
        share = mask.astype(float)
    elif route == "last":
        last = win.shape[-1] - 1 - win[..., ::-1].argmax(axis=-1)
        mask = np.zeros_like(ties)
        np.put_along_axis(mask, last[..., None], True, axis=-1)
        share = mask.astype(float)
    elif route == "ties":
        share = ties.astype(float)
    elif route == "split":
        share = ties / ties.sum(axis=-1, keepdims=True)
    else:  # "window": every element of the window
        share = np.ones(win.shape)
    g = dout[..., None] if use_dout else np.ones(dout.shape)[..., None]
    return _scatter(share * g, x, k, s, p, O, overwrite)


def _avg_pool_grad(dout, x, kernel_size, stride=None, padding=0, *, divide=True, include_pad=True,
                   overwrite=False):
    k, s, p, O = _geometry(x, kernel_size, stride, padding)
    count = np.full(O, float(k[0] * k[1]))
    if not include_pad:
        ones, _, _ = _windows(_padded(np.ones((1, 1, *x.shape[2:])), p, 0.0), k, s, O)
        count = ones.sum(axis=-1)[0, 0]
    g = dout / count if divide else dout
    dwin = np.broadcast_to(g[..., None], (*dout.shape, k[0] * k[1]))
    return _scatter(dwin, x, k, s, p, O, overwrite)


def max_pool2d_grad_reference(dout, x, kernel_size, stride=None, padding=0):
    return _max_pool_grad(dout, x, kernel_size, stride, padding)


def avg_pool2d_grad_reference(dout, x, kernel_size, stride=None, padding=0):
    return _avg_pool_grad(dout, x, kernel_size, stride, padding)


def _same_size_pool(x, kernel_size, stride=None, padding=0, *, reduce=np.max):
    """The seed's pooling: a window at every input pixel (stride 1), cut off at the bottom and right edges."""
    kh, kw = _pair(kernel_size)
    N, C, H, W = x.shape
    out = np.empty_like(x)
    for i in range(H):
        for j in range(W):
            out[:, :, i, j] = reduce(x[:, :, i:i + kh, j:j + kw], axis=(2, 3))
    return out


def _stride_one_default(pool):
    def wrong(x, kernel_size, stride=None, padding=0):
        return pool(x, kernel_size, 1 if stride is None else stride, padding)
    return wrong


def _adaptive_bounds(size, out, end="ceil"):
    i = np.arange(out)
    start = (i * size) // out
    if end == "ceil":
        stop = -((-(i + 1) * size) // out)
    elif end == "floor":
        stop = np.maximum(((i + 1) * size) // out, start + 1)
    else:  # "fixed": every window size // out long (at least 1)
        stop = start + max(1, size // out)
    return start, stop


def _adaptive_matrix(size, out, end="ceil"):
    start, stop = _adaptive_bounds(size, out, end)
    pos = np.arange(size)
    return ((pos >= start[:, None]) & (pos < stop[:, None])).astype(float)


def _adaptive(x, output_size, *, end="ceil", keepdims=True):
    oh, ow = _pair(output_size)
    mh = _adaptive_matrix(x.shape[2], oh, end)
    mw = _adaptive_matrix(x.shape[3], ow, end)
    out = np.einsum("ih,nchw,jw->ncij", mh, x, mw) / (mh.sum(1)[:, None] * mw.sum(1)[None, :])
    return out if keepdims or (oh, ow) != (1, 1) else out[:, :, 0, 0]


def adaptive_avg_pool2d_reference(x, output_size):
    return _adaptive(x, output_size)


def _adaptive_grad(dout, x, output_size, *, end="ceil", divide="window"):
    oh, ow = _pair(output_size)
    H, W = x.shape[2:]
    mh = _adaptive_matrix(H, oh, end)
    mw = _adaptive_matrix(W, ow, end)
    if divide == "window":
        g = dout / (mh.sum(1)[:, None] * mw.sum(1)[None, :])
    elif divide == "average":
        g = dout / ((H / oh) * (W / ow))
    else:
        g = dout
    return np.einsum("ih,ncij,jw->nchw", mh, g, mw)


def adaptive_avg_pool2d_grad_reference(dout, x, output_size):
    return _adaptive_grad(dout, x, output_size)


# ---------------------------------------------------------------------------------------------
# Known mistakes and their hints
# ---------------------------------------------------------------------------------------------

SAME_SIZE_HINT = (
    "your output has the input's height and width: that is a window at every pixel (stride 1), cut off at the "
    "edges. Pooling usually moves the window by its own size (stride = kernel size), so a 2x2 pool halves "
    "each side; the output size is ⌊(H + 2P − K)/S⌋ + 1")
STRIDE_DEFAULT_HINT = (
    "when stride is None it defaults to the kernel size, as in torch, not to 1: pooling windows usually tile "
    "the input without overlapping")
MAX_PAD_HINT = (
    "max pooling pads with -inf, not with zeros, so padding never wins a window (a window of negative values "
    "next to the border must still return its largest real value)")
AVG_SUM_HINT = "average pooling divides each window's sum by the number of elements in the window"
AVG_EXCLUDE_PAD_HINT = (
    "torch's default (count_include_pad=True) counts the padded zeros: every window is divided by the full "
    "kernel size, also at the border")

MAX_FORWARD_MISTAKES = [
    Mistake(SAME_SIZE_HINT, _same_size_pool),
    Mistake(STRIDE_DEFAULT_HINT, _stride_one_default(_max_pool)),
    Mistake(MAX_PAD_HINT, functools.partial(_max_pool, pad_value=0.0)),
]

AVG_FORWARD_MISTAKES = [
    Mistake(SAME_SIZE_HINT, functools.partial(_same_size_pool, reduce=np.mean)),
    Mistake(STRIDE_DEFAULT_HINT, _stride_one_default(_avg_pool)),
    Mistake(AVG_SUM_HINT, functools.partial(_avg_pool, divide=False)),
    Mistake(AVG_EXCLUDE_PAD_HINT, functools.partial(_avg_pool, include_pad=False)),
]

MAX_WINDOW_HINT = (
    "only the maximum of a window affected the output, so only it gets the window's gradient; the other "
    "elements of the window get none from it")
MAX_TIES_HINT = (
    "a window with several equal maxima (all zeros after a ReLU, say) sends its gradient to one of them, "
    "not to every tied one: torch picks the first maximum in row-major order")
MAX_SPLIT_HINT = (
    "torch does not split a tied window's gradient among the tied maxima: it sends all of it to the first "
    "maximum in row-major order")
MAX_LAST_HINT = (
    "with tied maxima torch routes the gradient to the first one in row-major order; yours went to the last "
    "one (a comparison that lets a later equal value take over)")
MAX_ONES_HINT = "the maximum's gradient is the window's upstream gradient dout, not 1: multiply by dout"
OVERLAP_HINT = (
    "windows overlap when the stride is smaller than the kernel, and an element in two windows receives "
    "gradient from both: the contributions must add up, but yours overwrite each other")

MAX_BACKWARD_MISTAKES = [
    Mistake(MAX_WINDOW_HINT, functools.partial(_max_pool_grad, route="window")),
    Mistake(MAX_ONES_HINT, functools.partial(_max_pool_grad, use_dout=False)),
    Mistake(MAX_TIES_HINT, functools.partial(_max_pool_grad, route="ties")),
    Mistake(MAX_SPLIT_HINT, functools.partial(_max_pool_grad, route="split")),
    Mistake(MAX_LAST_HINT, functools.partial(_max_pool_grad, route="last")),
    Mistake(OVERLAP_HINT, functools.partial(_max_pool_grad, overwrite=True)),
]

AVG_NO_DIVIDE_HINT = (
    "each element contributed 1/(window size) of the window's average, so it gets dout divided by the window "
    "size, not the whole dout")

AVG_BACKWARD_MISTAKES = [
    Mistake(AVG_NO_DIVIDE_HINT, functools.partial(_avg_pool_grad, divide=False)),
    Mistake(OVERLAP_HINT, functools.partial(_avg_pool_grad, overwrite=True)),
    Mistake(AVG_EXCLUDE_PAD_HINT, functools.partial(_avg_pool_grad, include_pad=False)),
]

ADAPTIVE_WINDOWS_HINT = (
    "adaptive windows follow torch's rule: window i of an axis of length H starts at ⌊i·H/out⌋ and ends "
    "at ⌈(i + 1)·H/out⌉, so neighbouring windows may overlap by one and their sizes may differ")
ADAPTIVE_KEEPDIMS_HINT = (
    "global average pooling keeps the spatial axes: the output has shape (N, C, 1, 1), like torch's "
    "adaptive_avg_pool2d(x, 1)")

ADAPTIVE_FORWARD_MISTAKES = [
    Mistake(ADAPTIVE_KEEPDIMS_HINT, functools.partial(_adaptive, keepdims=False)),
    Mistake(ADAPTIVE_WINDOWS_HINT, functools.partial(_adaptive, end="floor")),
    Mistake(ADAPTIVE_WINDOWS_HINT, functools.partial(_adaptive, end="fixed")),
]

ADAPTIVE_NO_DIVIDE_HINT = (
    "each element contributed 1/(its window's size) to that window's average: divide dout by the window size")
ADAPTIVE_AVERAGE_SIZE_HINT = (
    "adaptive windows do not all have the same size: divide each window's gradient by that window's own "
    "number of elements, not by the average size H·W/(out_h·out_w)")

ADAPTIVE_BACKWARD_MISTAKES = [
    Mistake(ADAPTIVE_NO_DIVIDE_HINT, functools.partial(_adaptive_grad, divide="none")),
    Mistake(ADAPTIVE_AVERAGE_SIZE_HINT, functools.partial(_adaptive_grad, divide="average")),
    Mistake(ADAPTIVE_WINDOWS_HINT, functools.partial(_adaptive_grad, end="floor")),
    Mistake(ADAPTIVE_WINDOWS_HINT, functools.partial(_adaptive_grad, end="fixed")),
]

# ---------------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------------


def _describe(x, kernel_size, stride, padding, words=""):
    parts = [f"x of shape {x.shape}", f"kernel_size={kernel_size}"]
    parts.append("stride=None (the kernel size)" if stride is None else f"stride={stride}")
    if padding != 0:
        parts.append(f"padding={padding}")
    return (f"{words}: " if words else "") + ", ".join(parts)


def _distinct(rng, shape):
    """Values whose every pair differs by at least 0.05: no ties, and finite differences stay on one side."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.05 - n * 0.025 + rng.uniform(0, 0.01, size=n)).reshape(shape)


def _relu_ties(rng, shape):
    """After a ReLU: about half the entries are exactly 0, and some windows are all zeros."""
    x = np.maximum(rng.normal(size=shape), 0.0)
    x[..., :2, :2] = 0.0                   # an all-zero window at the top left
    return x


def _overlap_maxima(rng, shape):
    """Kernel 3, stride 2: a large value on every shared row and column, so it is the maximum of several windows."""
    x = rng.normal(size=shape)
    x[..., 2::2, 2::2] += 10.0
    return x


def pool_cases(seed=0, random=3, for_max=True):
    """(case, (x, kernel_size, stride, padding)): fixed edge cases, then seeded random ones."""
    rng = np.random.default_rng(seed)
    fixed = [
        ("2x2 windows with the default stride", rng.normal(size=(1, 1, 4, 4)), 2, None, 0),
        ("after a ReLU: many exact zeros and tied maxima", _relu_ties(rng, (2, 3, 6, 6)), 2, None, 0),
        ("overlapping windows (stride < kernel) whose maxima sit on the shared rows and columns",
         _overlap_maxima(rng, (2, 2, 7, 7)), 3, 2, 0),
        ("padding 1 next to negative values", -np.abs(rng.normal(size=(1, 2, 6, 5))) - 0.5, 3, 2, 1),
        ("a leftover row and column (odd sizes)", rng.normal(size=(2, 3, 5, 7)), 2, None, 0),
        ("(h, w) kernel, stride and padding", rng.normal(size=(2, 1, 7, 6)), (3, 2), (2, 1), (1, 1)),
        ("overlapping windows with stride 1", rng.normal(size=(1, 2, 5, 6)), 2, 1, 0),
        ("a window as large as the input", rng.normal(size=(2, 3, 4, 4)), 4, None, 0),
    ]
    for words, x, k, s, p in fixed:
        yield _describe(x, k, s, p, words), (x, k, s, p)
    for _ in range(random):
        k = int(rng.integers(2, 4))
        s = None if rng.integers(2) else int(rng.integers(1, k + 1))
        p = int(rng.integers(0, k // 2 + 1))
        h, w = (int(v) for v in rng.integers(k, 10, size=2))
        x = rng.normal(size=(int(rng.integers(1, 3)), int(rng.integers(1, 4)), h, w))
        if for_max and rng.integers(2):
            x = np.round(x)                    # ties
        yield "random " + _describe(x, k, s, p), (x, k, s, p)


def _fd_case(seed):
    rng = np.random.default_rng(seed + 17)
    x = _distinct(rng, (1, 2, 5, 4))
    return "finite differences on " + _describe(x, 3, 2, 1), (x, 3, 2, 1)


def adaptive_cases(seed=0, random=2):
    rng = np.random.default_rng(seed + 3)
    fixed = [
        ("global average pooling", (2, 3, 4, 5), 1),
        ("windows of different sizes that overlap", (2, 2, 7, 5), 3),
        ("an exact division into 2x2 windows", (1, 3, 4, 6), (2, 3)),
        ("(h, w) output size", (2, 1, 5, 9), (4, 3)),
        ("an output larger than the input", (1, 2, 3, 4), (5, 6)),
    ]
    for words, shape, size in fixed:
        x = rng.normal(size=shape)
        yield f"{words}: x of shape {x.shape}, output_size={size}", (x, size)
    for _ in range(random):
        shape = (int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(2, 10)), int(rng.integers(2, 10)))
        size = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
        x = rng.normal(size=shape)
        yield f"random x of shape {x.shape}, output_size={size}", (x, size)


# ---------------------------------------------------------------------------------------------
# Helpers shared by the checks
# ---------------------------------------------------------------------------------------------


def _unpack(c, result, fn_name, case):
    return c.expect_tuple(result, ("out", "cache"), case=case, what=f"`{fn_name}`",
                          hint="the function gives back the pair out, cache: the cache is what your backward pass needs")


def _shape_hint(actual, x, kernel_size, stride, padding):
    shape = np.shape(actual)
    if shape == x.shape:
        return SAME_SIZE_HINT
    if stride is None:
        _, _, _, O = _geometry(x, kernel_size, 1, padding)
        if shape == (*x.shape[:2], *O):
            return STRIDE_DEFAULT_HINT
    return ""


def _expect_pooled(c, actual, expected, case, args, mistakes):
    mismatch = find_mismatch(actual, expected, name="out")
    if mismatch is not None and mismatch.kind == "shape" and len(args) == 4:
        if not matching_mistake(actual, expected, mistakes, args, {}, None):
            hint = _shape_hint(actual, *args)
            if hint:
                c.fail(f"on case {case}, {mismatch}", hint=hint)
    c.expect_close(actual, expected, case=case, name="out", mistakes=mistakes, mistake_args=args)


def _torch_max(x, kernel_size, stride, padding):
    return F.max_pool2d(x, kernel_size, stride, padding)


def _torch_avg(x, kernel_size, stride, padding):
    return F.avg_pool2d(x, kernel_size, stride, padding)


def _check_forward(c, forward, torch_fn, mistakes, name, seed, for_max):
    for case, args in pool_cases(seed, for_max=for_max):
        result = _unpack(c, c.call(forward, *args, case=case), name, case)
        expected, _ = c.reference(torch_fn, *args)
        _expect_pooled(c, result[0], expected, case, args, mistakes)


def _forward_for_backward(c, forward, name, args, reference_out, case):
    result = _unpack(c, c.call(forward, *args, case=case), name, case)
    mismatch = find_mismatch(result[0], reference_out, name="out")
    if mismatch is not None:
        c.fail(f"on case {case}, your `{name}` gives a wrong output ({mismatch}), so its cache cannot be trusted",
               hint=f"make the {name} check pass first, then come back to the backward pass")
    return result[1]


def _finite_differences(c, reference, args, dx, dout, case):
    """Centred differences of the NumPy reference forward (instructor code) against the learner's dx."""
    x, rest = args[0], args[1:]
    (numeric,) = numerical_gradient(lambda x_: reference(x_, *rest), x, dout=dout, h=GRADCHECK_H)
    _expect_finite_differences(c, dx, numeric, "dx", case,
                               "for each window, work out which input elements changed its output, and by how much")


def _expect_finite_differences(c, mine, numeric, name, case, hint):
    # Pooling is piecewise linear, so away from ties the centred differences are exact up to rounding,
    # about 1e-10 times the loss's size: 1e-7 of the gradient's scale (and 1e-5 relative) is generous.
    scale = max(1.0, float(np.max(np.abs(numeric)))) if np.size(numeric) else 1.0
    mismatch = find_mismatch(mine, numeric, atol=1e-7 * scale, rtol=1e-5, check_dtype=False,
                             name=f"{name} (against centred differences, h={GRADCHECK_H:g})")
    if mismatch is not None:
        c.fail(f"on case {case}, {mismatch}", hint=hint if mismatch.kind == "value" else "")
    c.expect(True, "", case=case)


def _check_backward(c, backward, forward, name, torch_fn, reference, mistakes, cases, fd_case, seed):
    rng = np.random.default_rng(seed + 7)
    for case, args in list(cases) + ([fd_case] if fd_case else []):
        ref_out, _ = c.reference(torch_fn, *args)
        dout = rng.normal(size=ref_out.shape)
        _, (ref_dx,) = c.reference(torch_fn, *args, dout=dout, wrt=[0])
        cache = _forward_for_backward(c, forward, name, args, ref_out, case)
        dx = c.call(backward, dout, cache, case=case)
        if fd_case and case == fd_case[0]:
            _finite_differences(c, reference, args, dx, dout, case)
            continue
        c.expect_close(dx, ref_dx, case=case, name="dx", mistakes=mistakes, mistake_args=(dout, *args))


# ---------------------------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------------------------


@exercise("pooling.max_pool2d_forward", points=1, compared="torch.nn.functional.max_pool2d")
def check_max_pool2d_forward(c, max_pool2d_forward, seed=0):
    """out, cache = max_pool2d_forward(x, kernel_size, stride=None, padding=0), against F.max_pool2d."""
    _check_forward(c, max_pool2d_forward, _torch_max, MAX_FORWARD_MISTAKES, "max_pool2d_forward", seed, True)


@exercise("pooling.max_pool2d_backward", points=2, compared="torch.autograd and centred differences")
def check_max_pool2d_backward(c, max_pool2d_backward, max_pool2d_forward, seed=0):
    """dx = max_pool2d_backward(dout, cache), with the cache from your max_pool2d_forward; ties as torch."""
    _check_backward(c, max_pool2d_backward, max_pool2d_forward, "max_pool2d_forward", _torch_max,
                    max_pool2d_reference, MAX_BACKWARD_MISTAKES, pool_cases(seed + 1), _fd_case(seed), seed)


@exercise("pooling.avg_pool2d_forward", points=1, compared="torch.nn.functional.avg_pool2d")
def check_avg_pool2d_forward(c, avg_pool2d_forward, seed=0):
    """out, cache = avg_pool2d_forward(x, kernel_size, stride=None, padding=0), against F.avg_pool2d."""
    _check_forward(c, avg_pool2d_forward, _torch_avg, AVG_FORWARD_MISTAKES, "avg_pool2d_forward", seed, False)


@exercise("pooling.avg_pool2d_backward", points=1, compared="torch.autograd and centred differences")
def check_avg_pool2d_backward(c, avg_pool2d_backward, avg_pool2d_forward, seed=0):
    """dx = avg_pool2d_backward(dout, cache), with the cache from your avg_pool2d_forward."""
    _check_backward(c, avg_pool2d_backward, avg_pool2d_forward, "avg_pool2d_forward", _torch_avg,
                    avg_pool2d_reference, AVG_BACKWARD_MISTAKES, pool_cases(seed + 1, for_max=False),
                    _fd_case(seed), seed)


@exercise("pooling.adaptive_avg_pool2d_forward", points=1, compared="torch.nn.functional.adaptive_avg_pool2d")
def check_adaptive_avg_pool2d_forward(c, adaptive_avg_pool2d_forward, seed=0):
    """out, cache = adaptive_avg_pool2d_forward(x, output_size), against F.adaptive_avg_pool2d."""
    for case, args in adaptive_cases(seed):
        result = _unpack(c, c.call(adaptive_avg_pool2d_forward, *args, case=case), "adaptive_avg_pool2d_forward",
                         case)
        expected, _ = c.reference(F.adaptive_avg_pool2d, *args)
        _expect_pooled(c, result[0], expected, case, args, ADAPTIVE_FORWARD_MISTAKES)


@exercise("pooling.adaptive_avg_pool2d_backward", points=1, compared="torch.autograd and centred differences")
def check_adaptive_avg_pool2d_backward(c, adaptive_avg_pool2d_backward, adaptive_avg_pool2d_forward, seed=0):
    """dx = adaptive_avg_pool2d_backward(dout, cache), with the cache from your adaptive_avg_pool2d_forward."""
    rng = np.random.default_rng(seed + 19)
    x = rng.normal(size=(1, 2, 5, 7))
    fd = (f"finite differences on x of shape {x.shape}, output_size=(3, 4)", (x, (3, 4)))
    _check_backward(c, adaptive_avg_pool2d_backward, adaptive_avg_pool2d_forward, "adaptive_avg_pool2d_forward",
                    F.adaptive_avg_pool2d, adaptive_avg_pool2d_reference, ADAPTIVE_BACKWARD_MISTAKES,
                    adaptive_cases(seed + 1), fd, seed)


CHECKS = {
    "max_pool2d_forward": check_max_pool2d_forward,
    "max_pool2d_backward": check_max_pool2d_backward,
    "avg_pool2d_forward": check_avg_pool2d_forward,
    "avg_pool2d_backward": check_avg_pool2d_backward,
    "adaptive_avg_pool2d_forward": check_adaptive_avg_pool2d_forward,
    "adaptive_avg_pool2d_backward": check_adaptive_avg_pool2d_backward,
}

MISTAKES = {
    "max_pool2d_forward": MAX_FORWARD_MISTAKES,
    "max_pool2d_backward": MAX_BACKWARD_MISTAKES,
    "avg_pool2d_forward": AVG_FORWARD_MISTAKES,
    "avg_pool2d_backward": AVG_BACKWARD_MISTAKES,
    "adaptive_avg_pool2d_forward": ADAPTIVE_FORWARD_MISTAKES,
    "adaptive_avg_pool2d_backward": ADAPTIVE_BACKWARD_MISTAKES,
}
