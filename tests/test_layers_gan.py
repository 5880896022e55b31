"""course_utils/layers/gan.py: the MLP, Adam and packing that lesson 10's GAN is built from, against torch."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_utils.layers.gan import MLP, Adam, Packed, leaky_relu, leaky_relu_backward, sigmoid, softplus
from course_utils.torch_ref import torch_reference


def torch_mlp(x, *params):
    for i in range(0, len(params), 2):
        x = F.linear(x, params[i], params[i + 1])
        if i + 2 < len(params):
            x = F.leaky_relu(x, 0.2)
    return x


@pytest.mark.parametrize("sizes, n", [([2, 8, 1], 5), ([3, 7, 6, 2], 1), ([4, 5, 5, 5, 3], 9)])
def test_mlp_forward_and_backward_match_torch(sizes, n):
    rng = np.random.default_rng(sum(sizes) + n)
    net = MLP.init(sizes, rng)
    net.params = {k: v + rng.normal(size=v.shape) * 0.1 for k, v in net.params.items()}
    x = rng.normal(size=(n, sizes[0]))
    out, cache = net.forward(x)
    dout = rng.normal(size=out.shape)
    dx, grads = net.backward(dout, cache)
    params = [net.params[k] for k in net.params]
    expected, expected_grads = torch_reference(torch_mlp, x, *params, dout=dout)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    for ours, theirs in zip([dx, *(grads[k] for k in net.params)], expected_grads):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    assert list(grads) == list(net.params)


def test_backward_rejects_a_gradient_of_the_wrong_shape():
    net = MLP.init([2, 4, 2], np.random.default_rng(0))
    _, cache = net.forward(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="with respect to this network's own output"):
        net.backward(np.ones((3, 1)), cache)


def test_mlp_params_are_validated_and_copied():
    w = np.ones((2, 2))
    net = MLP({"w0": w, "b0": np.zeros(2)})
    net.params["w0"][0, 0] = 5.0
    assert w[0, 0] == 1.0
    with pytest.raises(ValueError, match="w0, b0"):
        MLP({"w0": w, "b1": np.zeros(2)})


def test_adam_matches_torch_and_replaces_arrays_instead_of_editing_them():
    rng = np.random.default_rng(1)
    params = {"w0": rng.normal(size=(3, 2)), "b0": rng.normal(size=3)}
    before = {k: v for k, v in params.items()}
    originals = {k: v.copy() for k, v in params.items()}
    tensors = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    opt = Adam(lr=0.05, betas=(0.5, 0.999))
    reference = torch.optim.Adam(tensors.values(), lr=0.05, betas=(0.5, 0.999))
    for _ in range(4):
        grads = {k: rng.normal(size=v.shape) for k, v in params.items()}
        opt.step(params, grads)
        for k, t in tensors.items():
            t.grad = torch.tensor(grads[k], dtype=torch.float64)
        reference.step()
        for k in params:
            np.testing.assert_allclose(params[k], tensors[k].detach().numpy(), rtol=1e-12, atol=1e-14)
    for k in params:
        np.testing.assert_array_equal(before[k], originals[k])   # the old arrays were not edited


def test_adam_reports_each_step_and_rejects_mismatched_gradients():
    seen = []
    params = {"w0": np.ones((1, 1)), "b0": np.zeros(1)}
    opt = Adam(on_step=lambda p, g: seen.append(sorted(g)))
    opt.step(params, {"w0": np.ones((1, 1)), "b0": np.ones(1)})
    assert seen == [["b0", "w0"]]
    with pytest.raises(ValueError, match="keys"):
        opt.step(params, {"w0": np.ones((1, 1))})
    with pytest.raises(ValueError, match="shape"):
        opt.step(params, {"w0": np.ones((2, 1)), "b0": np.ones(1)})


def test_packed_judges_consecutive_samples_together():
    rng = np.random.default_rng(2)
    inner = MLP.init([4, 6, 1], rng)
    packed = Packed(inner, 2)
    x = rng.normal(size=(6, 2))
    out, cache = packed.forward(x)
    np.testing.assert_array_equal(out, inner(x.reshape(3, 4)))
    dout = rng.normal(size=(3, 1))
    dx, grads = packed.backward(dout, cache)
    dx_inner, grads_inner = inner.backward(dout, inner.forward(x.reshape(3, 4))[1])
    np.testing.assert_array_equal(dx, dx_inner.reshape(6, 2))
    assert packed.params is inner.params and all(np.array_equal(grads[k], grads_inner[k]) for k in grads)
    with pytest.raises(ValueError, match="packs of 2"):
        packed.forward(np.zeros((5, 2)))


def test_the_elementwise_helpers_are_stable_and_match_torch():
    x = np.array([-1000.0, -40.0, -1.5, 0.0, 2.0, 40.0, 1000.0])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        np.testing.assert_allclose(softplus(x), F.softplus(torch.tensor(x)).numpy(), rtol=1e-12)
        np.testing.assert_allclose(sigmoid(x), torch.sigmoid(torch.tensor(x)).numpy(), rtol=1e-12)
        np.testing.assert_allclose(leaky_relu(x), F.leaky_relu(torch.tensor(x), 0.2).numpy())
    dout = np.arange(1.0, 8.0)
    _, (expected,) = torch_reference(lambda t: F.leaky_relu(t, 0.2), x, dout=dout)
    np.testing.assert_allclose(leaky_relu_backward(dout, x), expected)
