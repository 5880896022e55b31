import numpy as np
import pytest
import torch

import course_utils
from course_utils.device import describe_device, device, seed_everything, setup


def test_override_selects_cpu(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert device() == torch.device("cpu")
    assert describe_device() == "device: cpu"


def test_unknown_override_is_explained(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "tpu-please")
    with pytest.raises(ValueError, match="COURSE_DEVICE"):
        device()


def test_cuda_override_without_cuda_is_explained(monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="no CUDA device"):
        device()


def test_default_order_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if torch.backends.mps.is_available() else "cpu")
    assert device().type == expected


def test_seeding_makes_numpy_and_torch_repeatable():
    seed_everything(3)
    first = (np.random.rand(), torch.rand(1).item())
    seed_everything(3)
    assert (np.random.rand(), torch.rand(1).item()) == first


def test_setup_prints_one_line(capsys, monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert setup(seed=1) == torch.device("cpu")
    assert capsys.readouterr().out == "device: cpu\n"


def test_lazy_names_resolve():
    for name in course_utils.__all__:
        assert getattr(course_utils, name) is not None
    with pytest.raises(AttributeError):
        course_utils.no_such_thing


@pytest.mark.gpu
def test_cuda_is_the_default_on_a_gpu_machine(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    assert device().type == "cuda"
    assert describe_device().startswith("device: cuda (")
