"""2-D pooling from lesson 07, vectorised, in the course's forward/backward convention.

`out, cache = max_pool2d_forward(x, kernel_size, stride, padding)` and `dx = max_pool2d_backward(dout, cache)`,
likewise `avg_pool2d_*` and `adaptive_avg_pool2d_*(x, output_size)`. All match torch.nn.functional:
x is NCHW; kernel_size, stride and padding are an int or an (h, w) pair; stride defaults to the kernel
size; max pooling pads with -inf; average pooling divides by the full window, padding included
(torch's default `count_include_pad=True`, `ceil_mode=False`).

Ties in max pooling: torch sends a window's gradient to one position, the first maximum in row-major
order within the window; so does this module (argmax picks the first).

How it is fast: pooling windows are small, so instead of materialising every window the layers make
one pass per kernel offset (i, j) over the output-sized strided slice of the input that this offset
reads: a running sum (average) or running maximum with the offset where it was found (max). The
backward passes add each offset's share back into the same slices, so overlapping windows accumulate.
"""

import numpy as np

from course_utils.layers.conv import _pair


def _geometry(x, kernel_size, stride, padding):
    kh, kw = _pair(kernel_size, "kernel_size")
    sh, sw = _pair(kernel_size if stride is None else stride, "stride")
    ph, pw = _pair(padding, "padding")
    if ph > kh // 2 or pw > kw // 2:
        raise ValueError("padding should be at most half the kernel size (as torch requires)")
    N, C, H, W = x.shape
    OH = (H + 2 * ph - kh) // sh + 1
    OW = (W + 2 * pw - kw) // sw + 1
    if OH < 1 or OW < 1:
        raise ValueError(f"the kernel is larger than the padded input: output {OH}x{OW}")
    return (kh, kw), (sh, sw), (ph, pw), (OH, OW)


def _pad(x, ph, pw, value):
    if not (ph or pw):
        return x
    N, C, H, W = x.shape
    xp = np.full((N, C, H + 2 * ph, W + 2 * pw), value, dtype=x.dtype)
    xp[:, :, ph:ph + H, pw:pw + W] = x
    return xp


def _tiles(k, s, p, O, x_shape):
    """Whether the windows tile the input exactly: stride = kernel, no padding, nothing left over."""
    (kh, kw), (sh, sw), (ph, pw), (OH, OW) = k, s, p, O
    return (sh, sw) == (kh, kw) and ph == pw == 0 and (OH * kh, OW * kw) == tuple(x_shape[2:])


def _spread(a, kh, kw):
    """Each entry of a (N, C, OH, OW) copied over its kh x kw window: (N, C, OH*kh, OW*kw), contiguous."""
    return a.repeat(kh, axis=2).repeat(kw, axis=3)


def _offsets(kh, kw, sh, sw, OH, OW):
    """For each kernel offset (i, j) in row-major order, the slices of the padded input it reads."""
    for i in range(kh):
        for j in range(kw):
            yield np.s_[:, :, i:i + sh * (OH - 1) + 1:sh, j:j + sw * (OW - 1) + 1:sw]


def max_pool2d_forward(x, kernel_size, stride=None, padding=0):
    """Maximum over each window (torch.nn.functional.max_pool2d); returns (out, cache)."""
    x = np.asarray(x, dtype=np.result_type(x, np.float64))
    k, s, p, O = _geometry(x, kernel_size, stride, padding)
    (kh, kw), (sh, sw), (ph, pw), (OH, OW) = k, s, p, O
    xp = _pad(x, ph, pw, -np.inf)
    offsets = _offsets(kh, kw, sh, sw, OH, OW)
    out = xp[next(offsets)].copy()
    for sl in offsets:
        np.maximum(out, xp[sl], out=out)       # a NaN propagates, as in torch
    return out, (x.shape, xp, out, k, s, p, O)


def max_pool2d_backward(dout, cache):
    """Gradient of sum(out * dout) w.r.t. x: each window's gradient goes to its first maximum.

    "First" is in row-major order within the window, as torch does, so that a window with tied maxima
    (all zeros after a ReLU, say) sends its gradient to one element, not to every tied one.
    """
    x_shape, xp, out, k, s, p, O = cache
    (kh, kw), (sh, sw), (ph, pw), (OH, OW) = k, s, p, O
    N, C, H, W = x_shape
    dout = np.asarray(dout)
    if dout.shape != (N, C, OH, OW):
        raise ValueError(f"dout has shape {dout.shape}, expected {(N, C, OH, OW)}")
    dtype = np.result_type(dout, np.float64)
    nan_out = np.isnan(out)
    has_nan = nan_out.any()
    if _tiles(k, s, p, O, x_shape) and not has_nan:
        # Windows that tile the input: compare every element with its window's maximum in one contiguous
        # pass. If no window has a tie (each has exactly one hit), that mask is the answer.
        hit = xp == _spread(out, kh, kw)
        if np.count_nonzero(hit) == out.size:
            return hit * _spread(dout.astype(dtype, copy=False), kh, kw)
    dxp = np.zeros(xp.shape, dtype=dtype)
    overlap = sh < kh or sw < kw
    taken = np.zeros(out.shape, dtype=bool)    # windows whose maximum has been found already
    hit = np.empty(out.shape, dtype=bool)
    for sl in _offsets(kh, kw, sh, sw, OH, OW):
        np.equal(xp[sl], out, out=hit)
        if has_nan:
            hit |= np.isnan(xp[sl]) & nan_out
        np.greater(hit, taken, out=hit)         # a hit in a window not yet taken
        taken |= hit
        if overlap:                            # windows share elements: their gradients add up
            dxp[sl] += dout * hit
        else:                                  # each element is in at most one window
            np.multiply(dout, hit, out=dxp[sl])
    return np.ascontiguousarray(dxp[:, :, ph:ph + H, pw:pw + W]) if (ph or pw) else dxp


def avg_pool2d_forward(x, kernel_size, stride=None, padding=0):
    """Mean over each window, zero padding counted (torch.nn.functional.avg_pool2d); returns (out, cache)."""
    x = np.asarray(x, dtype=np.result_type(x, np.float64))
    k, s, p, O = _geometry(x, kernel_size, stride, padding)
    (kh, kw), (sh, sw), (ph, pw), (OH, OW) = k, s, p, O
    xp = _pad(x, ph, pw, 0.0)
    offsets = _offsets(kh, kw, sh, sw, OH, OW)
    out = xp[next(offsets)].copy()
    for sl in offsets:
        out += xp[sl]
    out /= kh * kw
    return out, (x.shape, k, s, p, O)


def avg_pool2d_backward(dout, cache):
    """Gradient of sum(out * dout) w.r.t. x: each window's gradient, divided by the window size, to every element."""
    x_shape, k, s, p, O = cache
    (kh, kw), (sh, sw), (ph, pw), (OH, OW) = k, s, p, O
    N, C, H, W = x_shape
    dout = np.asarray(dout)
    if dout.shape != (N, C, OH, OW):
        raise ValueError(f"dout has shape {dout.shape}, expected {(N, C, OH, OW)}")
    g = dout / (kh * kw)
    if _tiles(k, s, p, O, x_shape):
        return _spread(g, kh, kw)              # every element is in exactly one window
    dxp = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=g.dtype)
    overlap = sh < kh or sw < kw
    for sl in _offsets(kh, kw, sh, sw, OH, OW):
        if overlap:                            # windows share elements: their gradients add up
            dxp[sl] += g
        else:                                  # each element is in at most one window
            dxp[sl] = g
    return np.ascontiguousarray(dxp[:, :, ph:ph + H, pw:pw + W]) if (ph or pw) else dxp


def _adaptive_bounds(size, out):
    """torch's adaptive windows: start = floor(i*size/out), end = ceil((i+1)*size/out)."""
    i = np.arange(out)
    return (i * size) // out, -((-(i + 1) * size) // out)


def _adaptive_matrices(H, W, oh, ow, dtype):
    """Row and column membership matrices (oh, H) and (ow, W) of the windows, and the window sizes (oh, ow)."""
    hs, he = _adaptive_bounds(H, oh)
    ws, we = _adaptive_bounds(W, ow)
    rows, cols = np.arange(H), np.arange(W)
    mh = ((rows >= hs[:, None]) & (rows < he[:, None])).astype(dtype)
    mw = ((cols >= ws[:, None]) & (cols < we[:, None])).astype(dtype)
    return mh, mw, (he - hs)[:, None] * (we - ws)[None, :]


def adaptive_avg_pool2d_forward(x, output_size):
    """torch.nn.functional.adaptive_avg_pool2d; output_size 1 (or (1, 1)) is global average pooling."""
    x = np.asarray(x, dtype=np.result_type(x, np.float64))
    N, C, H, W = x.shape
    oh, ow = _pair(output_size, "output_size")
    if oh == ow == 1:
        return x.mean(axis=(2, 3), keepdims=True), (x.shape, (oh, ow))
    if H % oh == 0 and W % ow == 0:
        out = x.reshape(N, C, oh, H // oh, ow, W // ow).mean(axis=(3, 5))
        return out, (x.shape, (oh, ow))
    mh, mw, sizes = _adaptive_matrices(H, W, oh, ow, x.dtype)
    out = np.einsum("ih,nchw,jw->ncij", mh, x, mw) / sizes
    return out, (x.shape, (oh, ow))


def adaptive_avg_pool2d_backward(dout, cache):
    """Gradient of sum(out * dout) w.r.t. x for adaptive_avg_pool2d_forward."""
    x_shape, (oh, ow) = cache
    N, C, H, W = x_shape
    dout = np.asarray(dout)
    if dout.shape != (N, C, oh, ow):
        raise ValueError(f"dout has shape {dout.shape}, expected {(N, C, oh, ow)}")
    if H % oh == 0 and W % ow == 0:
        kh, kw = H // oh, W // ow
        dx = np.empty((N, C, oh, kh, ow, kw), dtype=np.result_type(dout, np.float64))
        dx[...] = (dout / (kh * kw))[:, :, :, None, :, None]
        return dx.reshape(N, C, H, W)
    mh, mw, sizes = _adaptive_matrices(H, W, oh, ow, dout.dtype)
    return np.einsum("ih,ncij,jw->nchw", mh, dout / sizes, mw)
