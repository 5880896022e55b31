"""The reference layers in course_utils/layers/conv.py and pool.py against torch, forward and backward, float64."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from course_utils.layers.conv import conv2d_backward, conv2d_forward, conv2d_output_size
from course_utils.layers.pool import (
    adaptive_avg_pool2d_backward,
    adaptive_avg_pool2d_forward,
    avg_pool2d_backward,
    avg_pool2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)

TOL = dict(atol=1e-10, rtol=1e-9)


def _torch_grads(fn, dout, *arrays):
    ts = [None if a is None else torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    out = fn(*ts)
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), [None if t is None else t.grad.numpy() for t in ts]


def _check_conv(rng, N, C, H, W, O, KH, KW, stride, padding, dilation, bias=True):
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((O, C, KH, KW))
    b = rng.standard_normal(O) if bias else None
    out, cache = conv2d_forward(x, w, b, stride, padding, dilation)
    expected = F.conv2d(torch.tensor(x), torch.tensor(w), None if b is None else torch.tensor(b),
                        stride, padding, dilation).numpy()
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, **TOL)
    dout = rng.standard_normal(out.shape)
    _, (tdx, tdw, tdb) = _torch_grads(lambda x_, w_, b_: F.conv2d(x_, w_, b_, stride, padding, dilation),
                                      dout, x, w, b)
    dx, dw, db = conv2d_backward(dout, cache)
    np.testing.assert_allclose(dx, tdx, **TOL)
    np.testing.assert_allclose(dw, tdw, **TOL)
    if bias:
        np.testing.assert_allclose(db, tdb, **TOL)
    else:
        assert db is None
    assert dx.shape == x.shape and dw.shape == w.shape and dx.flags.writeable


@pytest.mark.parametrize("case", [
    dict(N=1, C=1, H=5, W=5, O=1, KH=3, KW=3, stride=1, padding=0, dilation=1),
    dict(N=2, C=3, H=7, W=9, O=4, KH=3, KW=2, stride=1, padding=0, dilation=1),
    dict(N=2, C=3, H=7, W=9, O=4, KH=3, KW=2, stride=(2, 3), padding=(1, 2), dilation=(2, 1)),
    dict(N=2, C=2, H=8, W=8, O=3, KH=3, KW=3, stride=3, padding=2, dilation=2),
    dict(N=1, C=2, H=5, W=4, O=2, KH=7, KW=6, stride=1, padding=1, dilation=1),   # kernel = padded input
    dict(N=3, C=4, H=6, W=5, O=5, KH=1, KW=1, stride=1, padding=0, dilation=1),   # 1x1 fast path
    dict(N=3, C=4, H=6, W=5, O=5, KH=1, KW=1, stride=2, padding=1, dilation=1),
])
@pytest.mark.parametrize("bias", [True, False])
def test_conv_matches_torch(case, bias):
    _check_conv(np.random.default_rng(0), bias=bias, **case)


@settings(max_examples=25, deadline=None)
@given(N=st.integers(1, 3), C=st.integers(1, 3), O=st.integers(1, 3), H=st.integers(1, 9), W=st.integers(1, 9),
       KH=st.integers(1, 4), KW=st.integers(1, 4), sh=st.integers(1, 3), sw=st.integers(1, 3),
       ph=st.integers(0, 2), pw=st.integers(0, 2), dh=st.integers(1, 2), dw=st.integers(1, 2),
       bias=st.booleans(), seed=st.integers(0, 2**16))
def test_conv_random(N, C, O, H, W, KH, KW, sh, sw, ph, pw, dh, dw, bias, seed):
    if conv2d_output_size(H, KH, sh, ph, dh) < 1 or conv2d_output_size(W, KW, sw, pw, dw) < 1:
        return
    _check_conv(np.random.default_rng(seed), N, C, H, W, O, KH, KW, (sh, sw), (ph, pw), (dh, dw), bias)


def test_conv_output_size():
    assert conv2d_output_size(28, 3, 1, 1) == 28
    assert conv2d_output_size(28, 3, 2, 1) == 14
    assert conv2d_output_size(7, 3, 2, 0) == 3
    assert conv2d_output_size(10, 3, 1, 0, 2) == 6
    assert conv2d_output_size(5, 7, 1, 1) == 1


def test_conv_rejects_bad_shapes():
    with pytest.raises(ValueError):
        conv2d_forward(np.zeros((1, 2, 5, 5)), np.zeros((1, 3, 3, 3)), None)
    with pytest.raises(ValueError):
        conv2d_forward(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 3, 3)), None)


def _check_pool(rng, fwd, bwd, torch_fn, x, *args, **kwargs):
    out, cache = fwd(x, *args, **kwargs)
    dout = rng.standard_normal(out.shape)
    t_out, (t_dx,) = _torch_grads(lambda x_: torch_fn(x_, *args, **kwargs), dout, x)
    assert out.shape == t_out.shape
    np.testing.assert_allclose(out, t_out, **TOL)
    dx = bwd(dout, cache)
    assert dx.shape == x.shape and dx.flags.writeable
    np.testing.assert_allclose(dx, t_dx, **TOL)


POOL_CASES = [
    ((2, 3, 8, 8), dict(kernel_size=2)),                              # tiles exactly (fast path)
    ((2, 3, 7, 9), dict(kernel_size=2)),                              # a leftover row and column
    ((1, 2, 7, 9), dict(kernel_size=3, stride=2, padding=1)),
    ((1, 2, 6, 6), dict(kernel_size=3, stride=1)),                    # overlapping windows
    ((2, 1, 9, 7), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1))),
    ((1, 1, 4, 4), dict(kernel_size=4)),
]


@pytest.mark.parametrize("shape,kw", POOL_CASES)
def test_max_pool_matches_torch(shape, kw):
    rng = np.random.default_rng(1)
    _check_pool(rng, max_pool2d_forward, max_pool2d_backward, F.max_pool2d, rng.standard_normal(shape), **kw)


@pytest.mark.parametrize("shape,kw", POOL_CASES)
def test_max_pool_ties_like_torch(shape, kw):
    # after a ReLU many windows are all zeros: torch sends each window's gradient to one position only
    rng = np.random.default_rng(2)
    x = np.maximum(rng.standard_normal(shape), 0.0)
    x[..., ::2, :] = 0.0
    _check_pool(rng, max_pool2d_forward, max_pool2d_backward, F.max_pool2d, x, **kw)


@pytest.mark.parametrize("shape,kw", POOL_CASES)
def test_avg_pool_matches_torch(shape, kw):
    rng = np.random.default_rng(3)
    _check_pool(rng, avg_pool2d_forward, avg_pool2d_backward, F.avg_pool2d, rng.standard_normal(shape), **kw)


@pytest.mark.parametrize("shape,size", [((2, 3, 8, 8), 1), ((2, 3, 7, 5), 1), ((2, 3, 8, 6), (4, 3)),
                                        ((1, 2, 7, 9), (3, 4)), ((1, 2, 5, 5), 5), ((1, 1, 3, 4), (5, 6))])
def test_adaptive_avg_pool_matches_torch(shape, size):
    rng = np.random.default_rng(4)
    _check_pool(rng, adaptive_avg_pool2d_forward, adaptive_avg_pool2d_backward, F.adaptive_avg_pool2d,
                rng.standard_normal(shape), size)


@settings(max_examples=25, deadline=None)
@given(N=st.integers(1, 2), C=st.integers(1, 3), H=st.integers(1, 9), W=st.integers(1, 9),
       kh=st.integers(1, 4), kw=st.integers(1, 4), sh=st.integers(1, 3), sw=st.integers(1, 3),
       ph=st.integers(0, 2), pw=st.integers(0, 2), ties=st.booleans(), seed=st.integers(0, 2**16))
def test_pool_random(N, C, H, W, kh, kw, sh, sw, ph, pw, ties, seed):
    ph, pw = min(ph, kh // 2), min(pw, kw // 2)
    if H + 2 * ph < kh or W + 2 * pw < kw:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W))
    if ties:
        x = np.round(x)                                               # many exact ties
    kwargs = dict(kernel_size=(kh, kw), stride=(sh, sw), padding=(ph, pw))
    _check_pool(rng, max_pool2d_forward, max_pool2d_backward, F.max_pool2d, x, **kwargs)
    _check_pool(rng, avg_pool2d_forward, avg_pool2d_backward, F.avg_pool2d, x, **kwargs)


def test_pool_stride_defaults_to_kernel():
    out, _ = max_pool2d_forward(np.zeros((1, 1, 6, 6)), 2)
    assert out.shape == (1, 1, 3, 3)
    out, _ = avg_pool2d_forward(np.zeros((1, 1, 6, 6)), 3)
    assert out.shape == (1, 1, 2, 2)
