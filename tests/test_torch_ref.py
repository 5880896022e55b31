import numpy as np
import pytest
import torch

from course_utils.compare import Reference
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


def test_references_know_their_rounding_noise_and_estimate_it_only_when_asked(monkeypatch):
    import course_utils.torch_ref as torch_ref

    calls = []
    original = torch_ref._evaluate
    monkeypatch.setattr(torch_ref, "_evaluate", lambda *a: calls.append(1) or original(*a))
    out, (dx,) = torch_reference(torch.sigmoid, np.array([-40.0, -100.0, -700.0]), dout=np.ones(3))
    assert isinstance(out, Reference) and isinstance(dx, Reference) and len(calls) == 1
    assert 0 < out.noise < 1e-28 and len(calls) == 3  # two scaled evaluations, once for every array
    assert 0 < dx.noise < 1e-28 and len(calls) == 3


def test_an_exact_reference_has_unknown_noise():
    out, _ = torch_reference(torch.nn.functional.relu, np.array([-1.0, 0.0, -2.0]))
    assert out.noise is None  # nothing moved: the rule falls back to atol


def test_tuple_outputs_are_references_too():
    out, _ = torch_reference(lambda t: (t * 2, t.sum()), np.array([1.0, 2.0]))
    assert all(isinstance(o, Reference) for o in out)


# -- Apple's mps, simulated: no float64 there ----------------------------------------------------------------


@pytest.fixture
def simulated_mps(monkeypatch):
    """The course device is mps (torch.device("mps") can be named anywhere; any tensor on it would fail here)."""
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    from course_utils.device import device

    assert device().type == "mps"


def test_on_mps_float64_references_run_on_the_cpu(simulated_mps):
    assert to_torch(np.ones(3)).device.type == "cpu"
    out, (dx,) = torch_reference(torch.tanh, np.array([0.5, -1.0]), dout=np.ones(2))
    np.testing.assert_allclose(out, np.tanh([0.5, -1.0]), rtol=1e-15)
    assert dx.dtype == np.float64


def test_on_mps_compare_with_torch_says_where_it_ran(simulated_mps, capsys):
    x = np.array([0.5, -1.0])
    compare_with_torch(torch.tanh, x, ours=np.tanh(x))
    line = capsys.readouterr().out
    assert "on cpu (float64; mps has no float64)" in line and "a match" in line


def test_on_mps_a_check_passes_and_reports_the_cpu(simulated_mps):
    from course_utils.checks.welcome import check_row_means

    result = check_row_means(lambda x: x.mean(axis=1))
    assert result.passed and result.device == "cpu" and "on cpu (float64)" in result.message


def test_on_mps_demos_use_float32_with_the_float32_tolerance(simulated_mps):
    from course_utils.compare import FLOAT32_RTOL
    from course_utils.device import demo_dtype, demo_rtol, describe_device

    assert demo_dtype() == torch.float32 and demo_rtol() == FLOAT32_RTOL
    assert "float64 references run on the CPU" in describe_device()


def test_elsewhere_demos_use_float64(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    from course_utils.compare import RTOL
    from course_utils.device import demo_dtype, demo_rtol

    assert demo_dtype() == torch.float64 and demo_rtol() == RTOL


def test_compare_with_torch_says_when_it_is_not_a_match(capsys):
    x = np.array([0.5, -1.0])
    errors = compare_with_torch(torch.tanh, x, ours=np.tanh(x) * 1.01)
    assert errors["forward"] > 1e-3 and "NOT a match" in capsys.readouterr().out
