"""2-D pooling from lesson 07, vectorised, in the course's forward/backward convention.

`out, cache = max_pool2d_forward(x, kernel_size, stride, padding)` and `dx = max_pool2d_backward(dout, cache)`,
likewise `avg_pool2d_*` and `adaptive_avg_pool2d_*(x, output_size)`. All match torch.nn.functional:
x is NCHW; kernel_size, stride and padding are an int or an (h, w) pair; stride defaults to the kernel
size; max pooling pads with -inf; average pooling divides by the full window, padding included
(torch's default `count_include_pad=True`, `ceil_mode=False`).

Ties in max pooling: torch sends a window's gradient to one position, the first maximum in row-major
order within the window; so does this module (argmax picks the first).

How it is fast: the windows are an `as_strided` view of the (padded) input, reduced in one call; when
the windows tile the input exactly (stride = kernel, no padding, sizes divisible), a reshape replaces
the strided view and the backward pass is a broadcast instead of a scatter.
"""

import numpy as np
from numpy.lib.stride_tricks import as_strided


def _pair(v, name):
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{name} must be an int or an (h, w) pair, got {v!r}")
        return int(v[0]), int(v[1])
    return int(v), int(v)


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


def _tiles(k, s, p, O, H):
    """True when the windows along one axis tile it exactly, from index 0, without padding."""
    return k == s and p == 0 and O * k == H


def _pad(x, ph, pw, value):
    if not (ph or pw):
        return x
    N, C, H, W = x.shape
    xp = np.full((N, C, H + 2 * ph, W + 2 * pw), value, dtype=x.dtype)
    xp[:, :, ph:ph + H, pw:pw + W] = x
    return xp


def _windows(xp, kh, kw, OH, OW, sh, sw):
    """(N, C, OH, OW, kh, kw) view of every pooling window of xp."""
    n_s, c_s, h_s, w_s = xp.strides
    N, C = xp.shape[:2]
    return as_strided(xp, shape=(N, C, OH, OW, kh, kw),
                      strides=(n_s, c_s, h_s * sh, w_s * sw, h_s, w_s), writeable=False)


def _scatter(dwin, x_shape, k, s, p, O):
    """Add window gradients dwin (N, C, OH, OW, kh, kw) back into a gradient of the input's shape."""
    (kh, kw), (sh, sw), (ph, pw), (OH, OW) = k, s, p, O
    N, C, H, W = x_shape
    dxp = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=dwin.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i:i + sh * (OH - 1) + 1:sh, j:j + sw * (OW - 1) + 1:sw] += dwin[..., i, j]
    return dxp[:, :, ph:ph + H, pw:pw + W]


def max_pool2d_forward(x, kernel_size, stride=None, padding=0):
    """Maximum over each window (torch.nn.functional.max_pool2d); returns (out, cache)."""
    x = np.asarray(x, dtype=np.result_type(x, np.float64))
    k, s, p, O = _geometry(x, kernel_size, stride, padding)
    (kh, kw), (sh, sw), (ph, pw), (OH, OW) = k, s, p, O
    N, C, H, W = x.shape
    if _tiles(kh, sh, ph, OH, H) and _tiles(kw, sw, pw, OW, W):
        win = x.reshape(N, C, OH, kh, OW, kw).transpose(0, 1, 2, 4, 3, 5).reshape(N, C, OH, OW, kh * kw)
    else:
        xp = _pad(x, ph, pw, -np.inf)
        win = _windows(xp, kh, kw, OH, OW, sh, sw).reshape(N, C, OH, OW, kh * kw)
    arg = win.argmax(axis=-1)
    out = np.take_along_axis(win, arg[..., None], axis=-1)[..., 0]
    return out, (x.shape, arg, k, s, p, O)


def max_pool2d_backward(dout, cache):
    """Gradient of sum(out * dout) w.r.t. x: each window's gradient goes to its (first) maximum."""
    x_shape, arg, k, s, p, O = cache
    (kh, kw), (sh, sw), (ph, pw), (OH, OW) = k, s, p, O
    N, C, H, W = x_shape
    dout = np.asarray(dout)
    if dout.shape != (N, C, OH, OW):
        raise ValueError(f"dout has shape {dout.shape}, expected {(N, C, OH, OW)}")
    dwin = np.zeros((N, C, OH, OW, kh * kw), dtype=np.result_type(dout, np.float64))
    np.put_along_axis(dwin, arg[..., None], dout[..., None], axis=-1)
    if _tiles(kh, sh, ph, OH, H) and _tiles(kw, sw, pw, OW, W):
        return dwin.reshape(N, C, OH, OW, kh, kw).transpose(0, 1, 2, 4, 3, 5).reshape(N, C, H, W)
    return _scatter(dwin.reshape(N, C, OH, OW, kh, kw), x_shape, k, s, p, O)


def avg_pool2d_forward(x, kernel_size, stride=None, padding=0):
    """Mean over each window, zero padding counted (torch.nn.functional.avg_pool2d); returns (out, cache)."""
    x = np.asarray(x, dtype=np.result_type(x, np.float64))
    k, s, p, O = _geometry(x, kernel_size, stride, padding)
    (kh, kw), (sh, sw), (ph, pw), (OH, OW) = k, s, p, O
    N, C, H, W = x.shape
    if _tiles(kh, sh, ph, OH, H) and _tiles(kw, sw, pw, OW, W):
        out = x.reshape(N, C, OH, kh, OW, kw).mean(axis=(3, 5))
    else:
        xp = _pad(x, ph, pw, 0.0)
        out = _windows(xp, kh, kw, OH, OW, sh, sw).mean(axis=(4, 5))
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
    if _tiles(kh, sh, ph, OH, H) and _tiles(kw, sw, pw, OW, W):
        dx = np.empty((N, C, OH, kh, OW, kw), dtype=g.dtype)
        dx[...] = g[:, :, :, None, :, None]
        return dx.reshape(N, C, H, W)
    dwin = np.broadcast_to(g[..., None, None], (N, C, OH, OW, kh, kw))
    return _scatter(dwin, x_shape, k, s, p, O)


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
