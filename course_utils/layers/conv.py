"""2-D convolution from lesson 06, vectorised, in the course's forward/backward convention.

`out, cache = conv2d_forward(x, w, b, stride, padding, dilation)` and
`dx, dw, db = conv2d_backward(dout, cache)`. Layouts as torch.nn.functional.conv2d: x is NCHW,
w is OIHW (C_out, C_in, KH, KW), b is (C_out,) or None. stride, padding and dilation are an int or an
(h, w) pair. Like torch, "convolution" here is cross-correlation: the kernel is not flipped.

How it is fast: the padded input is viewed (no copy) as every receptive field at once with
`as_strided`; one copy turns that view into the im2col matrix of shape (C_in*KH*KW, N*OH*OW), and the
whole layer is one matrix product with the (C_out, C_in*KH*KW) weight matrix. The columns are laid out
channel- and kernel-offset-major (the last axis runs along an output row), so both the im2col copy and
the col2im additions walk memory in order. The backward pass is two more matrix products and a col2im
that adds each kernel offset's slice back into the input gradient (KH*KW strided additions, so
overlapping windows accumulate). A 1x1 convolution with stride 1 skips im2col altogether.
"""

import numpy as np
from numpy.lib.stride_tricks import as_strided


def _pair(v, name):
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{name} must be an int or an (h, w) pair, got {v!r}")
        return int(v[0]), int(v[1])
    return int(v), int(v)


def conv2d_output_size(H, K, stride=1, padding=0, dilation=1):
    """Output length along one axis: floor((H + 2P - D(K-1) - 1) / S) + 1."""
    return (H + 2 * padding - dilation * (K - 1) - 1) // stride + 1


def _windows(xp, KH, KW, OH, OW, sh, sw, dh, dw):
    """A view of shape (C, KH, KW, N, OH, OW) of the padded input xp (N, C, Hp, Wp): every window."""
    n_s, c_s, h_s, w_s = xp.strides
    N, C = xp.shape[:2]
    return as_strided(xp, shape=(C, KH, KW, N, OH, OW),
                      strides=(c_s, h_s * dh, w_s * dw, n_s, h_s * sh, w_s * sw), writeable=False)


def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1):
    """Cross-correlation of x (N, C_in, H, W) with w (C_out, C_in, KH, KW), plus b; returns (out, cache).

    out has shape (N, C_out, OH, OW) with OH = conv2d_output_size(H, KH, ...), likewise OW.
    """
    x = np.asarray(x)
    w = np.asarray(w)
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"x must be NCHW and w OIHW (4-D each), got x {x.shape} and w {w.shape}")
    N, C, H, W = x.shape
    O, Cw, KH, KW = w.shape
    if Cw != C:
        raise ValueError(f"w has {Cw} input channels but x has {C}")
    sh, sw = _pair(stride, "stride")
    ph, pw = _pair(padding, "padding")
    dh, dw = _pair(dilation, "dilation")
    OH = conv2d_output_size(H, KH, sh, ph, dh)
    OW = conv2d_output_size(W, KW, sw, pw, dw)
    if OH < 1 or OW < 1:
        raise ValueError(f"the kernel (with dilation) is larger than the padded input: output {OH}x{OW}")
    dtype = np.result_type(x, w, np.float64 if b is None else b)
    if ph or pw:
        xp = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=dtype)
        xp[:, :, ph:ph + H, pw:pw + W] = x
    else:
        xp = np.ascontiguousarray(x, dtype=dtype)
    K = C * KH * KW
    w2 = w.reshape(O, K).astype(dtype, copy=False)
    bias = None if b is None else np.asarray(b, dtype=dtype)
    if KH == KW == 1 and sh == sw == 1 and ph == pw == 0:
        # A 1x1 convolution with stride 1 is a matrix product over channels: no im2col needed.
        cols = None
        out = np.matmul(w2, xp.reshape(N, C, H * W))                        # (N, O, H*W)
        if bias is not None:
            out += bias[:, None]
        out = out.reshape(N, O, OH, OW)
    else:
        cols = np.ascontiguousarray(_windows(xp, KH, KW, OH, OW, sh, sw, dh, dw)).reshape(K, N * OH * OW)
        out = w2 @ cols                                                     # (O, N*OH*OW)
        if bias is not None:
            out += bias[:, None]
        out = np.ascontiguousarray(out.reshape(O, N, OH, OW).transpose(1, 0, 2, 3))
    cache = (x.shape, xp if cols is None else None, cols, w2, b is not None,
             (KH, KW), (sh, sw), (ph, pw), (dh, dw), (OH, OW))
    return out, cache


def conv2d_backward(dout, cache):
    """Gradients (dx, dw, db) of sum(out * dout) for conv2d_forward; db is None if there was no bias."""
    x_shape, xp, cols, w2, has_bias, (KH, KW), (sh, sw), (ph, pw), (dh, dw), (OH, OW) = cache
    N, C, H, W = x_shape
    O, K = w2.shape
    w_shape = (O, C, KH, KW)
    dout = np.asarray(dout)
    if dout.shape != (N, O, OH, OW):
        raise ValueError(f"dout has shape {dout.shape}, expected {(N, O, OH, OW)}")
    dtype = np.result_type(dout, w2)
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    if cols is None:                                                      # the 1x1, stride-1 case
        d = dout.reshape(N, O, OH * OW)
        x2 = xp.reshape(N, C, H * W)
        dw_ = np.zeros((O, C), dtype=dtype)
        for n in range(N):
            dw_ += d[n] @ x2[n].T
        dx = np.matmul(w2.T, d).reshape(N, C, H, W)
        return dx, dw_.reshape(w_shape), db
    d2 = np.ascontiguousarray(dout.transpose(1, 0, 2, 3)).reshape(O, N * OH * OW)
    dw_ = (d2 @ cols.T).reshape(w_shape)
    dcols = (w2.T @ d2).reshape(C, KH, KW, N, OH, OW)
    # col2im: each kernel offset (i, j) saw a strided slice of the padded input; add its gradient back.
    dxp = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=dtype)
    dxp_t = dxp.transpose(1, 0, 2, 3)                                     # (C, N, Hp, Wp) view
    for i in range(KH):
        hi = i * dh
        for j in range(KW):
            wj = j * dw
            dxp_t[:, :, hi:hi + sh * (OH - 1) + 1:sh, wj:wj + sw * (OW - 1) + 1:sw] += dcols[:, i, j]
    dx = dxp[:, :, ph:ph + H, pw:pw + W]
    if ph or pw:
        dx = np.ascontiguousarray(dx)
    return dx, dw_, db
