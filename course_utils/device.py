"""Which device the PyTorch comparisons run on, and seeding.

The course device is cuda if available, then mps, then cpu. Set the environment
variable COURSE_DEVICE (cpu, cuda, cuda:1, mps) to override the choice.

Apple's mps has no float64. There, the float64 references of the checks and of
compare_with_torch run on the CPU (reference_device() says where), and the lessons'
on-device demos compute in float32 (demo_dtype()) and compare with the float32
tolerance of course_utils.compare (FLOAT32_RTOL).
"""

import os
import random

_ENV_VAR = "COURSE_DEVICE"


def device():
    """The torch.device used for every PyTorch reference and comparison."""
    import torch

    requested = os.environ.get(_ENV_VAR, "").strip().lower()
    if requested:
        return _requested_device(torch, requested)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def has_float64(dev=None):
    """Whether a device computes in float64 (every device but Apple's mps)."""
    return (dev or device()).type != "mps"


def reference_device():
    """Where the float64 references run, as a string: the course device, or the CPU when that device
    has no float64 (Apple's mps)."""
    dev = device()
    return str(dev) if has_float64(dev) else "cpu"


def demo_dtype(dev=None):
    """The dtype for computing on a device in the lessons' demos: float64, or float32 on mps."""
    import torch

    return torch.float64 if has_float64(dev) else torch.float32


def demo_rtol(dev=None):
    """The relative tolerance that makes an on-device demo a match: the course's rule in demo_dtype(dev)."""
    from course_utils.compare import FLOAT32_RTOL, RTOL

    return RTOL if has_float64(dev) else FLOAT32_RTOL


def _requested_device(torch, requested):
    try:
        chosen = torch.device(requested)
    except RuntimeError as err:
        raise ValueError(
            f"{_ENV_VAR}={requested!r} is not a device torch knows; use cpu, cuda, cuda:N or mps"
        ) from err
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"{_ENV_VAR}={requested} but torch sees no CUDA device here; unset it or use cpu")
    if chosen.type == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError(f"{_ENV_VAR}={requested} but MPS is not available here; unset it or use cpu")
    return chosen


def describe_device(dev=None):
    """One line such as 'device: cuda (NVIDIA H100 80GB HBM3)' or 'device: cpu'."""
    import torch

    dev = dev or device()
    if dev.type == "cuda":
        return f"device: {dev} ({torch.cuda.get_device_name(dev)})"
    if dev.type == "mps":
        return ("device: mps (Apple GPU; it has no float64, so the float64 references run on the CPU "
                "and the on-device demos use float32)")
    return "device: cpu"


def seed_everything(seed=0):
    """Seed Python's random, NumPy's legacy global RNG and torch (all devices). Returns the seed."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    import torch

    torch.manual_seed(seed)  # also seeds every CUDA device
    return seed


def setup(seed=0):
    """The setup cell of every lesson: seed everything, print the device once, return it."""
    seed_everything(seed)
    dev = device()
    print(describe_device(dev))
    return dev
