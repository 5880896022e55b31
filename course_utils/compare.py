"""Comparing arrays with messages a person can act on."""

import numpy as np


def rel_error(x, y):
    """CS231n's relative error: max over elements of |x-y| / max(1e-8, |x|+|y|).

    Rough scale in float64: below 1e-7 is right; around 1e-2 or above is almost certainly a bug.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size == 0 and y.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


class Mismatch:
    """Why two arrays differ, described without revealing the expected values."""

    def __init__(self, kind, text, worst_index=None, max_abs=None, max_rel=None):
        self.kind = kind  # "type", "shape", "dtype", "nonfinite" or "value"
        self.text = text
        self.worst_index = worst_index
        self.max_abs = max_abs
        self.max_rel = max_rel

    def __str__(self):
        return self.text


def find_mismatch(actual, expected, *, atol=1e-8, rtol=1e-6, name="output", check_dtype=True):
    """Return a Mismatch describing how `actual` differs from `expected`, or None if they agree.

    Values agree when |actual - expected| <= atol + rtol * |expected| everywhere, and NaN/inf
    appear in the same places. `expected` is never printed.
    """
    if not isinstance(actual, (np.ndarray, np.generic, float, int)) or isinstance(actual, bool):
        return Mismatch(
            "type",
            f"{name} is a {type(actual).__module__}.{type(actual).__qualname__}; return a NumPy array",
        )
    actual_arr = np.asarray(actual)
    expected_arr = np.asarray(expected)
    if actual_arr.shape != expected_arr.shape:
        return Mismatch("shape", f"{name} has shape {actual_arr.shape}, expected shape {expected_arr.shape}")
    if check_dtype and not np.issubdtype(actual_arr.dtype, np.floating) and np.issubdtype(expected_arr.dtype, np.floating):
        return Mismatch("dtype", f"{name} has dtype {actual_arr.dtype}, expected a floating-point array")
    if check_dtype and np.issubdtype(actual_arr.dtype, np.floating) and actual_arr.dtype != expected_arr.dtype:
        return Mismatch(
            "dtype",
            f"{name} has dtype {actual_arr.dtype}, expected {expected_arr.dtype} "
            "(keep the input's precision; do not cast)",
        )
    a = actual_arr.astype(np.float64)
    e = expected_arr.astype(np.float64)
    bad_nonfinite = ~np.isfinite(a) & np.isfinite(e)
    if bad_nonfinite.any():
        index = _first_index(bad_nonfinite)
        what = "NaN" if np.isnan(a[index]) else "inf"
        return Mismatch(
            "nonfinite",
            f"{name} is {what} at index {index} where a finite value was expected "
            f"({int(bad_nonfinite.sum())} such entries): something overflowed",
            worst_index=index,
        )
    with np.errstate(invalid="ignore"):
        both_same_special = (np.isnan(a) & np.isnan(e)) | (np.isinf(a) & (a == e))
        abs_err = np.where(both_same_special, 0.0, np.abs(a - e))
        abs_err = np.where(np.isnan(abs_err), np.inf, abs_err)
        allowed = atol + rtol * np.abs(np.where(np.isfinite(e), e, 0.0))
        excess = abs_err - allowed
    if a.size == 0 or not (excess > 0).any():
        return None
    index = _worst_index(excess)
    max_abs = float(abs_err.max())
    max_rel = float(np.max(abs_err / np.maximum(1e-8, np.abs(a) + np.abs(e))))
    count = int((excess > 0).sum())
    # With a single number, or an all-zero answer, the absolute error *is* the expected value: withhold it.
    if a.size == 1 or not a.any():
        max_abs = None
    errors = f"max rel error {max_rel:.3g}" if max_abs is None else \
        f"max abs error {max_abs:.3g}, max rel error {max_rel:.3g}"
    return Mismatch(
        "value",
        f"{name} differs at {count} of {a.size} entries; worst at index {index}: "
        f"{errors} (tolerance atol={atol:g}, rtol={rtol:g})",
        worst_index=index,
        max_abs=max_abs,
        max_rel=max_rel,
    )


def _first_index(mask):
    return tuple(int(i) for i in np.argwhere(mask)[0]) if mask.ndim else ()


def _worst_index(excess):
    flat = int(np.nanargmax(excess))
    return tuple(int(i) for i in np.unravel_index(flat, excess.shape)) if excess.ndim else ()


def assert_close(actual, expected, *, atol=1e-8, rtol=1e-6, name="output", check_dtype=True):
    """Raise AssertionError with the shape/dtype problem or the worst index and errors, else return the max abs error."""
    mismatch = find_mismatch(actual, expected, atol=atol, rtol=rtol, name=name, check_dtype=check_dtype)
    if mismatch is not None:
        raise AssertionError(mismatch.text)
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    finite = np.isfinite(a) & np.isfinite(e)
    return float(np.max(np.abs(a - e)[finite])) if finite.any() else 0.0
