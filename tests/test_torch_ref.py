import numpy as np
import pytest
import torch

from course_utils.torch_ref import compare_with_torch, exact_float_mode, to_numpy, to_torch, torch_reference


def test_float_arrays_become_float64_tensors_on_the_course_device():
    tensor = to_torch(np.ones((2, 3), dtype=np.float32))
    assert tensor.dtype == torch.float64
    assert to_torch(np.array([1, 2])).dtype == torch.int64
    assert to_torch(3.5) == 3.5
    assert to_numpy(tensor).shape == (2, 3)


def test_reference_forward_and_gradients_from_autograd():
    rng = np.random.default_rng(0)
    x, w, dout = rng.normal(size=(4, 3)), rng.normal(size=(2, 3)), rng.normal(size=(4, 2))
    out, (dx, dw) = torch_reference(torch.nn.functional.linear, x, w, dout=dout)
    np.testing.assert_allclose(out, x @ w.T, rtol=1e-12)
    np.testing.assert_allclose(dx, dout @ w, rtol=1e-12)
    np.testing.assert_allclose(dw, dout.T @ x, rtol=1e-12)


def test_gradients_only_for_the_requested_arguments():
    x, w = np.ones((2, 3)), np.ones((1, 3))
    _, grads = torch_reference(torch.nn.functional.linear, x, w, dout=np.ones((2, 1)), wrt=[1])
    assert len(grads) == 1 and grads[0].shape == (1, 3)


def test_user_precision_settings_are_restored():
    matmul = torch.backends.cuda.matmul
    before = matmul.fp32_precision if hasattr(matmul, "fp32_precision") else matmul.allow_tf32
    with exact_float_mode():
        if hasattr(matmul, "fp32_precision"):
            assert matmul.fp32_precision == "ieee"
        else:
            assert matmul.allow_tf32 is False
    after = matmul.fp32_precision if hasattr(matmul, "fp32_precision") else matmul.allow_tf32
    assert after == before


def test_precision_settings_are_restored_even_after_an_error():
    matmul = torch.backends.cuda.matmul
    before = getattr(matmul, "fp32_precision", None)
    with pytest.raises(ZeroDivisionError):
        with exact_float_mode():
            1 / 0
    assert getattr(matmul, "fp32_precision", None) == before


def test_compare_with_torch_reports_errors(capsys):
    x = np.random.default_rng(1).normal(size=(3, 3))
    errors = compare_with_torch(torch.tanh, x, ours=np.tanh(x), our_grads=[1 - np.tanh(x) ** 2], dout=np.ones((3, 3)))
    assert errors["forward"] < 1e-14 and errors["grad 0"] < 1e-14
    assert "tanh" in capsys.readouterr().out


@pytest.mark.gpu
def test_reference_runs_on_cuda_with_tf32_off(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    a = np.random.default_rng(2).normal(size=(64, 64))
    out, _ = torch_reference(lambda t: t @ t, a)
    np.testing.assert_allclose(out, a @ a, rtol=1e-12)
    assert to_torch(a).device.type == "cuda"
