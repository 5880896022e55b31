"""PyTorch references, computed in float64 on the course device with TF32 off.

NumPy <-> torch conversion and device transfer happen here and nowhere else.
"""

from contextlib import contextmanager

import numpy as np

from course_utils.compare import rel_error

# Backends whose float32 precision the new (torch >= 2.9) API controls.
_PRECISION_BACKENDS = ("cuda.matmul", "cudnn.conv", "cudnn.rnn")


@contextmanager
def exact_float_mode():
    """Turn TF32 off for CUDA matmul and cuDNN for the duration, then restore the user's settings.

    References run in float64 (which TF32 never touches), but a learner's float32 comparison
    on an Ampere-or-later GPU would otherwise silently lose about three digits.
    """
    import torch

    if hasattr(torch.backends.cuda.matmul, "fp32_precision"):
        saved = {name: _backend(torch, name).fp32_precision for name in _PRECISION_BACKENDS}
        try:
            for name in _PRECISION_BACKENDS:
                _backend(torch, name).fp32_precision = "ieee"
            yield
        finally:
            for name, value in saved.items():
                _backend(torch, name).fp32_precision = value
    else:  # older torch: the legacy flags
        saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
        try:
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _backend(torch, dotted):
    module = torch.backends
    for part in dotted.split("."):
        module = getattr(module, part)
    return module


def to_torch(value, dev=None, requires_grad=False):
    """A NumPy float array becomes a float64 tensor on the course device; ints and bools keep their kind.

    Anything that is not an array (a Python scalar, None, a string) is passed through unchanged.
    """
    import torch

    from course_utils.device import device

    if not isinstance(value, (np.ndarray, np.generic)):
        return value
    array = np.asarray(value)
    dev = dev or device()
    if np.issubdtype(array.dtype, np.floating):
        tensor = torch.tensor(array, dtype=torch.float64, device=dev)
        return tensor.requires_grad_(requires_grad)
    return torch.as_tensor(array.copy(), device=dev)


def to_numpy(value):
    """A tensor (or a tuple/list of them) back to NumPy on the host; other values unchanged."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, (tuple, list)):
        return type(value)(to_numpy(v) for v in value)
    return value


def torch_reference(torch_fn, *args, dout=None, wrt=None, **kwargs):
    """Run torch_fn on the course device in float64 and return (output, gradients) as NumPy.

    Float arrays among args become float64 tensors. Without dout, gradients is an empty list.
    With dout (the upstream gradient, shaped like the output), the output is back-propagated and
    gradients holds d(sum(output * dout))/d(arg) for each arg position in `wrt` (default: every
    float-array argument), in that order. Keyword arguments are passed through unchanged except
    that arrays among them become tensors (without gradients).
    """
    import torch

    if wrt is None:
        wrt = [i for i, a in enumerate(args) if _is_float_array(a)] if dout is not None else []
    with exact_float_mode():
        tensors = [to_torch(a, requires_grad=(i in wrt)) for i, a in enumerate(args)]
        torch_kwargs = {k: to_torch(v) for k, v in kwargs.items()}
        with torch.enable_grad():
            out = torch_fn(*tensors, **torch_kwargs)
            grads = []
            if dout is not None:
                upstream = to_torch(np.asarray(dout, dtype=np.float64), dev=out.device)
                inputs = [tensors[i] for i in wrt]
                grads = torch.autograd.grad(out, inputs, grad_outputs=upstream, allow_unused=True)
                grads = [torch.zeros_like(t) if g is None else g for t, g in zip(inputs, grads)]
        return to_numpy(out), [to_numpy(g) for g in grads]


def _is_float_array(value):
    return isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating)


def compare_with_torch(torch_fn, *args, ours, our_grads=(), dout=None, wrt=None, label=None, **kwargs):
    """Print how far our forward output (and gradients) are from PyTorch's on the course device.

    Returns a dict of relative errors: {"forward": e, "grad 0": e, ...}.
    """
    from course_utils.device import device

    ref_out, ref_grads = torch_reference(torch_fn, *args, dout=dout, wrt=wrt, **kwargs)
    errors = {"forward": rel_error(ours, ref_out)}
    for i, (mine, theirs) in enumerate(zip(our_grads, ref_grads)):
        errors[f"grad {i}"] = rel_error(mine, theirs)
    name = label or getattr(torch_fn, "__name__", "torch")
    parts = ", ".join(f"{k} rel error {v:.1e}" for k, v in errors.items())
    print(f"ours vs {name} on {device()} (float64): {parts}")
    return errors
