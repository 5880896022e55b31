"""Checks for 06_convolution: output size, conv2d forward (loops and vectorised) and backward.

The conventions the lesson fixes, and these checks hold the learner to (those of
torch.nn.functional.conv2d):

* x is NCHW, w is OIHW (C_out, C_in, KH, KW), b has shape (C_out,) or is None; stride, padding and
  dilation are an int or an (h, w) pair. Padding adds zeros on both sides of the two spatial axes only.
* "Convolution" is cross-correlation: the kernel is not flipped.
* `conv2d_output_size(H, K, stride=1, padding=0, dilation=1)` returns the int
  floor((H + 2P - D(K-1) - 1) / S) + 1.
* `conv2d_forward_loops(x, w, b, stride=1, padding=0, dilation=1)` returns `out` (the loop version is
  for reading); `conv2d_forward(...)` returns `(out, cache)`, and
  `conv2d_backward(dout, cache)` returns `(dx, dw, db)` (db is None when b was None).

Every known mistake is a NumPy function written here (instructor code, never the learner's), with the
learner's signature for the forward passes and `(dout, x, w, b, stride, padding, dilation)` for the
backward pass, so the unit tests can hand each one to its check.
"""

import functools
import re

import numpy as np
import torch
import torch.nn.functional as F

from course_utils.checking import Mistake, exercise
from course_utils.compare import find_mismatch
from course_utils.gradcheck import numerical_gradient
from course_utils.hints import matching_mistake

GRADCHECK_H = 1e-6

# ---------------------------------------------------------------------------------------------
# NumPy versions of the right answer and of the known wrong ones
# ---------------------------------------------------------------------------------------------


def _pair(v):
    if isinstance(v, (tuple, list)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def _size(H, K, s, p, d):
    return (H + 2 * p - d * (K - 1) - 1) // s + 1


def _geometry(x, w, stride, padding, dilation):
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    H, W = x.shape[2:]
    KH, KW = w.shape[2:]
    return (sh, sw), (ph, pw), (dh, dw), (_size(H, KH, sh, ph, dh), _size(W, KW, sw, pw, dw))


def _pad_hw(x, ph, pw):
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def _window(i, j, s, d, O):
    """The spatial slices of the padded input that kernel offset (i, j) reads, one entry per output position."""
    (sh, sw), (dh, dw), (OH, OW) = s, d, O
    return (slice(None), slice(None), slice(i * dh, i * dh + sh * (OH - 1) + 1, sh),
            slice(j * dw, j * dw + sw * (OW - 1) + 1, sw))


def _conv(x, w, b=None, stride=1, padding=0, dilation=1, *, kernel=None, channel_sum=True):
    """Cross-correlation as torch computes it, one kernel offset at a time. `kernel` replaces w's values
    (a flipped kernel); without `channel_sum` the result keeps the input-channel axis: (N, O, C, OH, OW)."""
    s, (ph, pw), d, O = _geometry(x, w, stride, padding, dilation)
    if O[0] < 1 or O[1] < 1:
        raise ValueError("kernel larger than the padded input")
    xp = _pad_hw(x, ph, pw)
    k = w if kernel is None else kernel
    N, C = x.shape[:2]
    out = np.zeros((N, w.shape[0], C, *O))
    for i in range(w.shape[2]):
        for j in range(w.shape[3]):
            out += np.einsum("nchw,oc->nochw", xp[_window(i, j, s, d, O)], k[:, :, i, j])
    out = out.sum(axis=2) if channel_sum else out
    if b is not None:
        out = out + (b[None, :, None, None] if channel_sum else b[None, :, None, None, None])
    return out


def conv2d_reference(x, w, b=None, stride=1, padding=0, dilation=1):
    """The right answer in NumPy (for finite differences and the unit tests)."""
    return _conv(x, w, b, stride, padding, dilation)


def _conv_flipped(x, w, b=None, stride=1, padding=0, dilation=1):
    return _conv(x, w, b, stride, padding, dilation, kernel=w[:, :, ::-1, ::-1])


def _conv_no_channel_sum(x, w, b=None, stride=1, padding=0, dilation=1):
    return _conv(x, w, b, stride, padding, dilation, channel_sum=False)


def _conv_last_channel(x, w, b=None, stride=1, padding=0, dilation=1):
    out = _conv(x[:, -1:], w[:, -1:], None, stride, padding, dilation)
    return out if b is None else out + b[None, :, None, None]


def _conv_bias_per_input_channel(x, w, b=None, stride=1, padding=0, dilation=1):
    out = _conv(x, w, None, stride, padding, dilation)
    return out if b is None else out + x.shape[1] * b[None, :, None, None]


def _conv_no_bias(x, w, b=None, stride=1, padding=0, dilation=1):
    return _conv(x, w, None, stride, padding, dilation)


def _conv_same_size(x, w, b=None, stride=1, padding=0, dilation=1):
    """The seed's loop over every input position, with the part of a window past the edge read as zeros."""
    N, C, H, W = x.shape
    KH, KW = w.shape[2:]
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    big = np.zeros((N, C, H + 2 * ph + sh * H + dh * KH, W + 2 * pw + sw * W + dw * KW))
    big[:, :, ph:ph + H, pw:pw + W] = x
    out = np.zeros((N, w.shape[0], H, W))
    for i in range(KH):
        for j in range(KW):
            win = big[:, :, i * dh:i * dh + sh * (H - 1) + 1:sh, j * dw:j * dw + sw * (W - 1) + 1:sw]
            out += np.einsum("nchw,oc->nohw", win, w[:, :, i, j])
    return out if b is None else out + b[None, :, None, None]


def _conv_padded_every_axis(x, w, b=None, stride=1, padding=0, dilation=1, *, batch_from_padded=False):
    """np.pad(x, padding) pads the batch and channel axes too; the rest of the code then reads the first
    C channels (and N samples, or all of the padded batch)."""
    if isinstance(padding, (tuple, list)) or padding == 0:      # np.pad(x, (a, b)): not this mistake
        return _conv(x, w, b, stride, padding, dilation)
    N, C = x.shape[:2]
    xp = np.pad(x, padding)
    xp = xp[:, :C] if batch_from_padded else xp[:N, :C]
    return _conv(xp, w, b, stride, 0, dilation)


def _conv_stride_ignored(x, w, b=None, stride=1, padding=0, dilation=1):
    return _conv(x, w, b, 1, padding, dilation)


def _conv_stride_not_reduced(x, w, b=None, stride=1, padding=0, dilation=1):
    """The strided results written at positions i*S of an output as large as with stride 1, zeros elsewhere."""
    sh, sw = _pair(stride)
    full = _conv(x, w, None, 1, padding, dilation)
    out = np.zeros_like(full)
    out[:, :, ::sh, ::sw] = _conv(x, w, None, stride, padding, dilation)
    return out if b is None else out + b[None, :, None, None]


def _conv_dilation_ignored(x, w, b=None, stride=1, padding=0, dilation=1):
    return _conv(x, w, b, stride, padding, 1)


def _conv_padding_ignored(x, w, b=None, stride=1, padding=0, dilation=1):
    return _conv(x, w, b, stride, 0, dilation)


def _conv_grads(dout, x, w, b=None, stride=1, padding=0, dilation=1, *, flip_dx=False, overwrite_dx=False,
                crop=True):
    """(dx, dw, db) of sum(conv(x, w, b) * dout), and variants of dx."""
    s, (ph, pw), d, O = _geometry(x, w, stride, padding, dilation)
    xp = _pad_hw(x, ph, pw)
    k = w[:, :, ::-1, ::-1] if flip_dx else w
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for i in range(w.shape[2]):
        for j in range(w.shape[3]):
            sl = _window(i, j, s, d, O)
            dw[:, :, i, j] = np.einsum("nohw,nchw->oc", dout, xp[sl])
            part = np.einsum("nohw,oc->nchw", dout, k[:, :, i, j])
            if overwrite_dx:
                dxp[sl] = part
            else:
                dxp[sl] += part
    H, W = x.shape[2:]
    dx = dxp[:, :, ph:ph + H, pw:pw + W] if crop else dxp
    db = None if b is None else dout.sum(axis=(0, 2, 3))
    return dx, dw, db


def conv2d_grads_reference(dout, x, w, b=None, stride=1, padding=0, dilation=1):
    return _conv_grads(dout, x, w, b, stride, padding, dilation)


def _with_dw(fn):
    def wrong(dout, x, w, b=None, stride=1, padding=0, dilation=1):
        dx, _, db = _conv_grads(dout, x, w, b, stride, padding, dilation)
        return dx, fn(dout, x, w, b, stride, padding, dilation), db
    return wrong


def _with_db(fn):
    def wrong(dout, x, w, b=None, stride=1, padding=0, dilation=1):
        dx, dw, _ = _conv_grads(dout, x, w, b, stride, padding, dilation)
        return dx, dw, fn(dout)
    return wrong


def _per_sample_dw(dout, x, w, b, stride, padding, dilation):
    return np.stack([_conv_grads(dout[n:n + 1], x[n:n + 1], w, b, stride, padding, dilation)[1]
                     for n in range(x.shape[0])])


# ---------------------------------------------------------------------------------------------
# Known mistakes and their hints
# ---------------------------------------------------------------------------------------------

SAME_SIZE_HINT = (
    "your output has the input's height and width. A 'valid' convolution does not keep the size: a window "
    "fits only where the whole (dilated) kernel lies inside the padded input, so there are fewer output "
    "positions than input pixels. Compute the output size with the formula of section 2 and loop over "
    "output positions only")
EDGE_HINT = (
    "a window near the right or bottom edge reached past the input, so its slice came out smaller than the "
    "kernel and the shapes could not be combined. A 'valid' convolution only has output positions where the "
    "whole (dilated) kernel fits inside the padded input: compute the output size with the formula of "
    "section 2 and loop over output positions, not over input pixels")
BIAS_SHAPE_HINT = (
    "b holds one value per output channel, and the output's channel axis is axis 1 of (N, C_out, OH, OW): "
    "plain broadcasting lines a 1-D array up with the last axis, so give b the shape that lines up with axis 1")
OUT_OF_RANGE_HINT = (
    "your code indexed past the end of an array: the output has OH x OW positions (the size formula), and "
    "output position i starts at row i*stride of the padded input")
FLIP_HINT = (
    "you flipped the kernel. That is the convolution of signal processing; deep learning's 'convolution' "
    "(torch's conv2d) is cross-correlation: each kernel entry multiplies the input pixel at the same offset, "
    "with no flip")
CHANNEL_SUM_HINT = (
    "an output value sums over all input channels as well as over the kernel window: each output channel "
    "has one kernel slice per input channel, and their responses add up into one number")
LAST_CHANNEL_HINT = (
    "only the last input channel contributes: the channels' responses must add up, but each one replaced the "
    "previous (an assignment where an accumulation belongs)")
BIAS_PER_CHANNEL_HINT = (
    "the bias was added once per input channel; it belongs to the output channel and is added once to each "
    "output value, after the sum over channels and window")
NO_BIAS_HINT = "you left out the bias: add b[o] to every value of output channel o"
PAD_AXES_HINT = (
    "you padded the batch and channel axes too (np.pad with a single number pads every axis). Padding adds "
    "zeros around the image only: the two spatial axes, H and W, on both sides")
STRIDE_HINT = (
    "with stride S the window jumps S pixels at a time, so there are fewer output positions: the output size "
    "formula divides by S. Your output has as many positions as with stride 1")
DILATION_HINT = (
    "you ignored the dilation: with dilation D the kernel's entries are D pixels apart, so entry (i, j) reads "
    "the input at offset (i·D, j·D) and the kernel covers D·(K − 1) + 1 pixels")
PADDING_IGNORED_HINT = (
    "you ignored the padding: pad the two spatial axes with P zeros on each side before sliding the window")

CONV_FORWARD_MISTAKES = [
    Mistake(SAME_SIZE_HINT, _conv_same_size),
    Mistake(FLIP_HINT, _conv_flipped),
    Mistake(CHANNEL_SUM_HINT, _conv_no_channel_sum),
    Mistake(LAST_CHANNEL_HINT, _conv_last_channel),
    Mistake(BIAS_PER_CHANNEL_HINT, _conv_bias_per_input_channel),
    Mistake(NO_BIAS_HINT, _conv_no_bias),
    Mistake(PAD_AXES_HINT, _conv_padded_every_axis),
    Mistake(PAD_AXES_HINT, functools.partial(_conv_padded_every_axis, batch_from_padded=True)),
    Mistake(PADDING_IGNORED_HINT, _conv_padding_ignored),
    Mistake(STRIDE_HINT, _conv_stride_not_reduced),
    Mistake(STRIDE_HINT, _conv_stride_ignored),
    Mistake(DILATION_HINT, _conv_dilation_ignored),
]

DW_LAST_SAMPLE_HINT = (
    "dw comes from the last sample only: the kernel is shared by every sample of the batch, so the samples' "
    "contributions to dw add up (accumulate, do not assign)")
DW_MEAN_HINT = (
    "dw is the sum of the samples' contributions, not their mean: the loss is Σ out·dout, and dout "
    "already carries any averaging the loss does")
DW_PER_SAMPLE_HINT = (
    "dw must have w's shape (C_out, C_in, KH, KW): sum the per-sample contributions over the batch")
DB_HINT = (
    "b[o] is added to every position of output channel o in every sample, so db[o] sums dout over the batch "
    "and both spatial axes (everything but the channel axis); db has shape (C_out,)")
DX_FLIP_HINT = (
    "your dx used the kernel the wrong way round. dx is a 'full' convolution of dout with the kernel flipped "
    "by 180 degrees (a transposed convolution): input pixel p collects dout[q]·w[p − q] from every output q "
    "whose window covered it, weighted by the kernel entry that touched it")
DX_OVERWRITE_HINT = (
    "neighbouring windows overlap, so an input pixel receives gradient from several output positions: the "
    "contributions must add up, but yours overwrite each other")
DX_CROP_HINT = (
    "dx must have x's shape: the padding was added by the forward pass, so drop the gradient of the padded "
    "border before returning dx")

CONV_BACKWARD_MISTAKES = [
    Mistake(DX_FLIP_HINT, functools.partial(_conv_grads, flip_dx=True)),
    Mistake(DX_OVERWRITE_HINT, functools.partial(_conv_grads, overwrite_dx=True)),
    Mistake(DX_CROP_HINT, functools.partial(_conv_grads, crop=False)),
    Mistake(DW_LAST_SAMPLE_HINT, _with_dw(lambda dout, x, w, b, s, p, d: _per_sample_dw(dout, x, w, b, s, p, d)[-1])),
    Mistake(DW_MEAN_HINT, _with_dw(lambda dout, x, w, b, s, p, d: _per_sample_dw(dout, x, w, b, s, p, d).mean(0))),
    Mistake(DW_PER_SAMPLE_HINT, _with_dw(_per_sample_dw)),
    Mistake(DB_HINT, _with_db(lambda dout: dout.sum(axis=0))),
    Mistake(DB_HINT, _with_db(lambda dout: dout.sum(axis=(2, 3)))),
    Mistake(DB_HINT, _with_db(lambda dout: dout.sum(axis=(1, 2, 3)))),
    Mistake(DB_HINT, _with_db(lambda dout: dout.sum(axis=(0, 1)))),
    Mistake(DB_HINT, _with_db(lambda dout: dout.mean(axis=(0, 2, 3)))),
]

NOT_FLOORED_HINT = (
    "the output size is a whole number of window positions: when the division by the stride is not exact, "
    "round down (the last partial step has no room for a window), and return an int")

OUTPUT_SIZE_MISTAKES = [
    Mistake("a 'valid' convolution does not keep the input's size: only positions where the whole (dilated) "
            "kernel fits inside the padded input count", lambda H, K, stride=1, padding=0, dilation=1: H),
    Mistake("count the first position too: with stride 1 and no padding, a kernel of size K fits at H − K + 1 "
            "positions, not H − K",
            lambda H, K, stride=1, padding=0, dilation=1: (H + 2 * padding - dilation * (K - 1) - 1) // stride),
    Mistake("padding adds P pixels on both sides, so the padded length is H + 2P",
            lambda H, K, stride=1, padding=0, dilation=1: (H + padding - dilation * (K - 1) - 1) // stride + 1),
    Mistake(NOT_FLOORED_HINT,
            lambda H, K, stride=1, padding=0, dilation=1: (H + 2 * padding - dilation * (K - 1) - 1) / stride + 1),
    Mistake("you left out the dilation: a kernel of size K with dilation D spans D·(K − 1) + 1 pixels",
            lambda H, K, stride=1, padding=0, dilation=1: (H + 2 * padding - K) // stride + 1),
    Mistake("you left out the stride: the window moves S pixels at a time, so divide the room it has by S",
            lambda H, K, stride=1, padding=0, dilation=1: H + 2 * padding - dilation * (K - 1)),
]

# ---------------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------------


def _describe(x, w, b, stride, padding, dilation, words=""):
    parts = [f"x of shape {x.shape}", f"w of shape {w.shape}"]
    parts.append("b=None" if b is None else f"b of shape {b.shape}")
    for name, value, default in (("stride", stride, 1), ("padding", padding, 0), ("dilation", dilation, 1)):
        if value != default:
            parts.append(f"{name}={value}")
    return (f"{words}: " if words else "") + ", ".join(parts)


def _arrays(rng, xs, ws, bias=True):
    x = rng.normal(size=xs)
    w = rng.normal(size=ws)
    b = rng.normal(size=ws[0]) if bias else None
    return x, w, b


FORWARD_FIXED = [
    # (words, x shape, w shape, bias, stride, padding, dilation)
    ("batch of 1, one channel", (1, 1, 5, 5), (1, 1, 3, 3), True, 1, 0, 1),
    ("C_in = 3, C_out = 2, non-square input and kernel", (2, 3, 6, 7), (2, 3, 3, 2), True, 1, 0, 1),
    ("padding 1", (2, 2, 5, 5), (3, 2, 3, 3), True, 1, 1, 1),
    ("stride 2", (2, 2, 7, 7), (2, 2, 3, 3), True, 2, 0, 1),
    ("stride 3 with (h, w) padding", (1, 2, 8, 9), (2, 2, 3, 3), True, 3, (1, 2), 1),
    ("dilation 2", (1, 2, 9, 8), (2, 2, 3, 3), True, 1, 0, 2),
    ("(h, w) stride, padding and dilation", (2, 1, 7, 6), (3, 1, 2, 3), True, (2, 1), (2, 1), (1, 2)),
    ("a kernel as large as the padded input", (2, 2, 4, 5), (3, 2, 6, 7), True, 1, 1, 1),
    ("no bias", (2, 3, 5, 5), (2, 3, 3, 3), False, 1, 0, 1),
    ("a 1x1 kernel", (2, 4, 3, 5), (3, 4, 1, 1), True, 1, 0, 1),
]


def forward_cases(seed=0, random=3):
    """(case, (x, w, b, stride, padding, dilation)): fixed edge cases, then seeded random ones."""
    rng = np.random.default_rng(seed)
    for words, xs, ws, bias, stride, padding, dilation in FORWARD_FIXED:
        x, w, b = _arrays(rng, xs, ws, bias)
        yield _describe(x, w, b, stride, padding, dilation, words), (x, w, b, stride, padding, dilation)
    count = 0
    while count < random:
        n, c, o = (int(v) for v in rng.integers(1, 4, size=3))
        h, wd = (int(v) for v in rng.integers(3, 10, size=2))
        kh, kw = (int(v) for v in rng.integers(1, 4, size=2))
        stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        padding = int(rng.integers(0, 2))
        dilation = int(rng.integers(1, 3))
        if _size(h, kh, stride[0], padding, dilation) < 1 or _size(wd, kw, stride[1], padding, dilation) < 1:
            continue
        x, w, b = _arrays(rng, (n, c, h, wd), (o, c, kh, kw))
        count += 1
        yield "random " + _describe(x, w, b, stride, padding, dilation), (x, w, b, stride, padding, dilation)


OUTPUT_SIZE_FIXED = [
    # (H, K, stride, padding, dilation); the first cases are where one mistake alone shows.
    (8, 3, 1, 0, 1), (7, 5, 1, 2, 1), (8, 3, 2, 0, 1), (10, 3, 1, 0, 2), (28, 3, 1, 1, 1), (28, 3, 2, 1, 1),
    (5, 5, 1, 0, 1), (7, 3, 3, 1, 1), (1, 1, 1, 0, 1), (6, 7, 1, 1, 1), (32, 5, 2, 2, 1), (9, 3, 4, 0, 3),
]


def output_size_cases(seed=0, random=6):
    rng = np.random.default_rng(seed + 11)
    for args in OUTPUT_SIZE_FIXED:
        yield args
    count = 0
    while count < random:
        H, K = int(rng.integers(1, 40)), int(rng.integers(1, 8))
        s, p, d = int(rng.integers(1, 5)), int(rng.integers(0, 4)), int(rng.integers(1, 4))
        if _size(H, K, s, p, d) >= 1:
            count += 1
            yield H, K, s, p, d


# ---------------------------------------------------------------------------------------------
# Helpers shared by the checks
# ---------------------------------------------------------------------------------------------

_SHAPES = re.compile(r"\(([\d, ]*)\)")


def _shapes_in(message):
    found = []
    for text in _SHAPES.findall(message):
        parts = [p for p in text.replace(" ", "").split(",") if p]
        if parts and all(p.isdigit() for p in parts):
            found.append(tuple(int(p) for p in parts))
    return found


def _exception_hint(message, x, w):
    """A hint for a shape error inside the learner's conv, from the shapes its message names."""
    if "out of bounds" in message:
        return OUT_OF_RANGE_HINT
    if "broadcast" not in message:
        return ""
    shapes = _shapes_in(message)
    kernels = {tuple(w.shape), tuple(w.shape[1:]), tuple(w.shape[2:])}
    for kernel in kernels & set(shapes):
        for other in shapes:
            if (other != kernel and len(other) == len(kernel)
                    and all(a <= k for a, k in zip(other, kernel))):
                return EDGE_HINT
    if (w.shape[0],) in shapes:
        return BIAS_SHAPE_HINT
    return ""


def _call(c, fn, *args, case, x, w):
    """c.call, with a conv-specific hint when the learner's code trips over a shape error."""
    return c.call(fn, *args, case=case, error_hint=lambda kind, message: _exception_hint(message, x, w))


def _unpack(c, result, count, fn_name, names, case):
    return c.expect_tuple(result, names, case=case, what=f"`{fn_name}`")


def _shape_hint(actual, x, w, stride, padding, dilation):
    """What an output of the wrong shape says, when no known mistake reproduces its values."""
    shape = np.shape(actual)
    N, C, H, W = x.shape
    O = w.shape[0]
    if shape == (N, O, H, W):
        return SAME_SIZE_HINT
    (sh, sw), (ph, pw), (dh, dw), _ = _geometry(x, w, stride, padding, dilation)
    if (sh, sw) != (1, 1):
        unstrided = (N, O, _size(H, w.shape[2], 1, ph, dh), _size(W, w.shape[3], 1, pw, dw))
        if shape == unstrided:
            return STRIDE_HINT
    if len(shape) == 5 and shape[:2] == (N, O) and shape[2] == C:
        return CHANNEL_SUM_HINT
    return ""


def _expect_out(c, actual, expected, case, args):
    x, w, b, stride, padding, dilation = args
    mismatch = find_mismatch(actual, expected, name="out")
    if mismatch is not None and mismatch.kind == "shape":
        if not matching_mistake(actual, expected, CONV_FORWARD_MISTAKES, args, {}, None):
            hint = _shape_hint(actual, x, w, stride, padding, dilation)
            if hint:
                c.fail(f"on case {case}, {mismatch}", hint=hint)
    c.expect_close(actual, expected, case=case, name="out", mistakes=CONV_FORWARD_MISTAKES, mistake_args=args)


def _reference_out(c, args):
    x, w, b, stride, padding, dilation = args
    out, _ = c.reference(F.conv2d, x, w, b, stride, padding, dilation)
    return out


def _torch_output_size(H, K, stride, padding, dilation):
    x = torch.zeros((1, 1, H, 1), dtype=torch.float64)
    w = torch.zeros((1, 1, K, 1), dtype=torch.float64)
    return torch.tensor(F.conv2d(x, w, None, (stride, 1), (padding, 0), (dilation, 1)).shape[2])


# ---------------------------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------------------------


@exercise("convolution.conv2d_output_size", points=1, compared="the output shape of torch.nn.functional.conv2d")
def check_conv2d_output_size(c, conv2d_output_size, seed=0):
    """conv2d_output_size(H, K, stride, padding, dilation) = floor((H + 2P - D(K-1) - 1) / S) + 1, an int."""
    for H, K, stride, padding, dilation in output_size_cases(seed):
        case = f"H={H}, K={K}, stride={stride}, padding={padding}, dilation={dilation}"
        args = (H, K, stride, padding, dilation)
        actual = c.call(conv2d_output_size, *args, case=case)
        expected, _ = c.reference(_torch_output_size, *args)
        if isinstance(actual, (bool, np.bool_)) or not isinstance(actual, (int, float, np.integer, np.floating)):
            c.fail(f"on case {case}, your `conv2d_output_size` returned a {type(actual).__name__}; "
                   "it should return one int", hint="a size is a single whole number")
        c.expect_close(actual, int(expected), case=case, name="the output size", check_dtype=False,
                       mistakes=OUTPUT_SIZE_MISTAKES, mistake_args=args)
        if not isinstance(actual, (int, np.integer)):
            c.fail(f"on case {case}, your `conv2d_output_size` returned a {type(actual).__name__}, not an int",
                   hint=NOT_FLOORED_HINT)


@exercise("convolution.conv2d_forward_loops", points=2, compared="torch.nn.functional.conv2d")
def check_conv2d_forward_loops(c, conv2d_forward_loops, seed=0):
    """out = conv2d_forward_loops(x, w, b, stride, padding, dilation), against F.conv2d."""
    for case, args in forward_cases(seed):
        x, w = args[0], args[1]
        actual = _call(c, conv2d_forward_loops, *args, case=case, x=x, w=w)
        _expect_out(c, actual, _reference_out(c, args), case, args)


@exercise("convolution.conv2d_forward", points=2, compared="torch.nn.functional.conv2d")
def check_conv2d_forward(c, conv2d_forward, seed=0):
    """out, cache = conv2d_forward(x, w, b, stride, padding, dilation), vectorised, against F.conv2d."""
    for case, args in forward_cases(seed, random=4):
        x, w = args[0], args[1]
        result = _unpack(c, _call(c, conv2d_forward, *args, case=case, x=x, w=w), 2, "conv2d_forward",
                         ("out", "cache"), case)
        _expect_out(c, result[0], _reference_out(c, args), case, args)


def _backward_cases(seed):
    """Backward cases: the forward cases, each with a random dout, then one for finite differences."""
    rng = np.random.default_rng(seed + 5)
    for case, args in forward_cases(seed + 1):
        x, w, b, stride, padding, dilation = args
        O = _geometry(x, w, stride, padding, dilation)[3]
        yield case, args, rng.normal(size=(x.shape[0], w.shape[0], *O)), False
    x, w, b = _arrays(rng, (2, 2, 5, 4), (3, 2, 3, 2))
    args = (x, w, b, (2, 1), 1, 1)
    O = _geometry(x, w, (2, 1), 1, 1)[3]
    case = "finite differences on " + _describe(*args)
    yield case, args, rng.normal(size=(2, 3, *O)), True


_GRAD_NAMES = ("dx", "dw", "db")


@exercise("convolution.conv2d_backward", points=3, compared="torch.autograd and centred differences")
def check_conv2d_backward(c, conv2d_backward, conv2d_forward, seed=0):
    """dx, dw, db = conv2d_backward(dout, cache), with the cache from your conv2d_forward."""
    for case, args, dout, finite_differences in _backward_cases(seed):
        x, w, b = args[:3]
        wrt = [0, 1] if b is None else [0, 1, 2]
        ref_out, ref_grads = c.reference(F.conv2d, *args, dout=dout, wrt=wrt)
        result = _unpack(c, _call(c, conv2d_forward, *args, case=case, x=x, w=w), 2, "conv2d_forward",
                         ("out", "cache"), case)
        mismatch = find_mismatch(result[0], ref_out, name="out")
        if mismatch is not None:
            c.fail(f"on case {case}, your `conv2d_forward` gives a wrong output ({mismatch}), so its cache "
                   "cannot be trusted", hint="make the conv2d_forward check pass first, then come back here")
        grads = _unpack(c, _call(c, conv2d_backward, dout, result[1], case=case, x=x, w=w), 3, "conv2d_backward",
                        _GRAD_NAMES, case)
        if b is None:
            c.expect(grads[2] is None, "b was None, so there is no bias gradient: db should be None", case=case,
                     hint="return None for db when the forward pass had no bias, as torch does")
        mistake_args = (dout, *args)
        if finite_differences:
            _finite_differences(c, args, grads, dout, case)
            continue
        for i, (name, ref) in enumerate(zip(_GRAD_NAMES, ref_grads)):
            c.expect_close(grads[i], ref, case=case, name=name, mistakes=CONV_BACKWARD_MISTAKES,
                           mistake_args=mistake_args, mistake_output=i)


def _finite_differences(c, args, grads, dout, case):
    """Centred differences of the NumPy reference forward (instructor code) against the learner's gradients."""
    x, w, b, stride, padding, dilation = args
    numeric = numerical_gradient(lambda x_, w_, b_: conv2d_reference(x_, w_, b_, stride, padding, dilation),
                                 x, w, b, dout=dout, h=GRADCHECK_H)
    for name, mine, num in zip(_GRAD_NAMES, grads, numeric):
        # Linear in each argument: the centred differences are exact up to rounding, about 1e-10 times the
        # loss's size, so 1e-7 of the gradient's scale (and 1e-5 relative) is generous.
        scale = max(1.0, float(np.max(np.abs(num))))
        mismatch = find_mismatch(mine, num, atol=1e-7 * scale, rtol=1e-5, check_dtype=False,
                                 name=f"{name} (against centred differences, h={GRADCHECK_H:g})")
        if mismatch is not None:
            c.fail(f"on case {case}, {mismatch}",
                   hint="" if mismatch.kind != "value" else
                   "write out which output positions each input pixel and each kernel entry touched, for this "
                   "stride and padding, and check that each one is counted once")
        c.expect(True, "", case=case)


CHECKS = {
    "conv2d_output_size": check_conv2d_output_size,
    "conv2d_forward_loops": check_conv2d_forward_loops,
    "conv2d_forward": check_conv2d_forward,
    "conv2d_backward": check_conv2d_backward,
}

MISTAKES = {
    "conv2d_output_size": OUTPUT_SIZE_MISTAKES,
    "conv2d_forward_loops": CONV_FORWARD_MISTAKES,
    "conv2d_forward": CONV_FORWARD_MISTAKES,
    "conv2d_backward": CONV_BACKWARD_MISTAKES,
}
