"""PyTorch references, computed in float64 with TF32 off, on the course device or, where that device has
no float64 (Apple's mps), on the CPU.

NumPy <-> torch conversion and device transfer happen here and nowhere else. Each reference array
knows its own rounding noise (course_utils.compare.Reference), which the course's rule for a match
uses for entries near 0.
"""

from contextlib import contextmanager

import numpy as np

from course_utils.compare import Reference, is_match, rel_error

# The factors by which the float inputs are scaled to estimate a reference's rounding noise: a few units
# in the last place of float64, not powers of two, so that every rounding in the computation changes.
_NOISE_FACTORS = (1.0 + 3 * 2.0**-50, 1.0 - 5 * 2.0**-51)

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
    """A NumPy float array becomes a float64 tensor on the reference device; ints and bools keep their kind.

    The reference device is the course device, or the CPU where the course device has no float64
    (mps). Anything that is not an array (a Python scalar, None, a string) is passed through unchanged.
    """
    import torch

    from course_utils.device import reference_device

    if not isinstance(value, (np.ndarray, np.generic)):
        return value
    array = np.asarray(value)
    dev = dev or reference_device()
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
    """Run torch_fn in float64 on the reference device and return (output, gradients) as NumPy.

    Float arrays among args become float64 tensors. Without dout, gradients is an empty list.
    With dout (the upstream gradient, shaped like the output), the output is back-propagated and
    gradients holds d(sum(output * dout))/d(arg) for each arg position in `wrt` (default: every
    float-array argument), in that order. Keyword arguments are passed through unchanged except
    that arrays among them become tensors (without gradients).

    The output and the gradients are `Reference` arrays: on first need they estimate their own rounding
    noise by running torch_fn again with every float input scaled by 1 + a few units in the last place.
    """
    if wrt is None:
        wrt = [i for i, a in enumerate(args) if _is_float_array(a)] if dout is not None else []
    out, grads = _evaluate(torch_fn, args, kwargs, dout, wrt)
    estimate = _NoiseEstimate(torch_fn, args, kwargs, dout, wrt, (out, grads))
    leaves = iter(range(estimate.count))
    return _as_references((out, grads), estimate, leaves)


def _as_references(value, estimate, leaves):
    """Arrays (also inside tuples and lists) become References whose noise the estimate gives, leaf by leaf."""
    if isinstance(value, (tuple, list)):
        return type(value)(_as_references(v, estimate, leaves) for v in value)
    index = next(leaves)
    if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating):
        return Reference(value, lambda: estimate.noise(index))
    return value


def _leaves(value):
    if isinstance(value, (tuple, list)):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def _evaluate(torch_fn, args, kwargs, dout, wrt):
    import torch

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


class _NoiseEstimate:
    """The rounding noise of a reference's output and gradients, estimated once, when first asked for.

    The reference is evaluated again with every float input (and dout) scaled by factors a few units in
    the last place away from 1: the true function barely moves, but every rounding changes, so the
    largest change of each array is a sample of its rounding noise. Anything odd (an error, a non-finite
    change, no change at all) leaves the noise unknown; a reference that draws random numbers gets a
    large "noise", which the rule caps at ATOL.
    """

    def __init__(self, torch_fn, args, kwargs, dout, wrt, result):
        self.call = (torch_fn, args, kwargs, dout, wrt)
        self.base = _leaves(result)
        self.count = len(self.base)
        self.values = None

    def noise(self, index):
        if self.values is None:
            self.values = self._estimate()
        return self.values[index]

    def _estimate(self):
        torch_fn, args, kwargs, dout, wrt = self.call
        worst = [0.0] * self.count
        for factor in _NOISE_FACTORS:
            try:
                result = _evaluate(torch_fn, [_scaled(a, factor) for a in args],
                                   {k: _scaled(v, factor) for k, v in kwargs.items()},
                                   None if dout is None else _scaled(np.asarray(dout, dtype=np.float64), factor), wrt)
                new = _leaves(result)
                if len(new) != self.count:
                    return [None] * self.count
                for i, (old_leaf, new_leaf) in enumerate(zip(self.base, new)):
                    worst[i] = max(worst[i], _largest_change(old_leaf, new_leaf))
            except Exception:
                return [None] * self.count
        # Nothing moved (exact outputs, or roundings stuck at the same value): the noise is unknown.
        return [w if np.isfinite(w) and w > 0 else None for w in worst]


def _scaled(value, factor):
    if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating):
        return value * factor
    if type(value) is float:
        return value * factor
    return value


def _largest_change(old, new):
    try:
        old = np.asarray(old, dtype=np.float64)
        new = np.asarray(new, dtype=np.float64)
    except (TypeError, ValueError):
        return np.inf
    if old.shape != new.shape:
        return np.inf
    same = (old == new) | (np.isnan(old) & np.isnan(new))
    if (~same & ~(np.isfinite(old) & np.isfinite(new))).any():
        return np.inf
    finite = np.isfinite(old) & np.isfinite(new)  # the equal infinities and NaNs moved by 0
    return float(np.max(np.abs(old[finite] - new[finite]), initial=0.0))


def _is_float_array(value):
    return isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating)


def compare_with_torch(torch_fn, *args, ours, our_grads=(), dout=None, wrt=None, label=None, **kwargs):
    """Print how far our forward output (and gradients) are from PyTorch's in float64, and whether that is
    a match by the course's rule (relative error at most 1e-6; course_utils.compare).

    The reference runs on the course device, or on the CPU where the course device has no float64 (mps),
    and the line says so. Returns a dict of relative errors: {"forward": e, "grad 0": e, ...}.
    """
    from course_utils.device import device, reference_device

    ref_out, ref_grads = torch_reference(torch_fn, *args, dout=dout, wrt=wrt, **kwargs)
    errors = {"forward": rel_error(ours, ref_out)}
    for i, (mine, theirs) in enumerate(zip(our_grads, ref_grads)):
        errors[f"grad {i}"] = rel_error(mine, theirs)
    name = label or getattr(torch_fn, "__name__", "torch")
    parts = ", ".join(f"{k} rel error {v:.1e}" for k, v in errors.items())
    verdict = "a match" if all(is_match(v) for v in errors.values()) else "NOT a match (above 1e-6)"
    where = reference_device()
    if where != str(device()):
        where += f" (float64; {device().type} has no float64)"
    else:
        where += " (float64)"
    print(f"ours vs {name} on {where}: {parts}: {verdict}")
    return errors
