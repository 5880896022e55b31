"""Comparing arrays with messages a person can act on, and the course's one rule for "a match".

What "a match" means, everywhere in the course
----------------------------------------------
Your output matches the reference when every entry agrees to about six significant digits:

    |actual - expected| <= RTOL * |expected| + min(ATOL, max(TINY_RTOL * |expected|, NOISE_FACTOR * noise, ABS_FLOOR))

with RTOL = 1e-6, ATOL = 1e-8, TINY_RTOL = 0.5, NOISE_FACTOR = 1e4 and ABS_FLOOR = 1e-20.

* Entries of ordinary size need six significant digits (RTOL); an entry that is 0 where the answer is
  not, or the other way round, fails.
* Entries near 0 (below about 1e-8) are where rounding shows: float64 keeps digits relative to the
  largest numbers in a computation, not to the result. For them the absolute allowance takes over,
  ATOL at most, but never more than what rounding can explain: half the entry's own size (its last
  digits may be noise, its size is not), or NOISE_FACTOR times the reference's own rounding noise.
  So a sigmoid that returns 0 where the answer is 4e-18 fails, while 9.2e-16 against torch's 8.9e-16
  (torch computing 1 - s with s rounded near 1) passes.
* `noise` is the largest change of the reference when its floating-point inputs are scaled by 1 + a
  few units in the last place (`Reference`, made by course_utils.torch_ref.torch_reference): the true
  function barely moves, every rounding does. Where it is unknown (an array computed some other way,
  or a reference so exact that nothing moved), the absolute allowance is ATOL, as for any float64
  comparison. ABS_FLOOR is far below the float64 noise of any reference.

The printed relative errors (`rel_error`, CS231n's max |a-b| / max(1e-8, |a|+|b|), shown by
`compare_with_torch` and `gradient_check`) read the same way: at most 1e-6 is a match. A correct
float64 implementation usually lands far below (1e-16 to 1e-10), a bug far above (1e-3 or more).
Float32 computations (the on-device demos on Apple's mps, which has no float64) use FLOAT32_RTOL = 1e-4
instead: float32 keeps about seven digits, and sums of many terms lose a few of them.

A failure message never gives the answer away: it never prints expected values, and it withholds the
size of the error wherever that would let you work the expected value out (a single number, an error
of the same size on every entry, or an all-zero output).
"""

import numpy as np

RTOL = 1e-6  # relative tolerance of every check: about six significant digits
ATOL = 1e-8  # the largest absolute allowance for entries near 0 (and the allowance where noise is unknown)
TINY_RTOL = 0.5  # entries near 0 must still have the right size, to within half of it
NOISE_FACTOR = 1e4  # how much more rounding than the reference's own a correct computation may carry
ABS_FLOOR = 1e-20  # the smallest absolute allowance: far below the float64 noise of any reference
FLOAT32_RTOL = 1e-4  # the same rule in float32 (the on-device demos on mps)
MATCH_REL_ERROR = 1e-6  # a printed CS231n relative error at most this is a match

_FROM_REFERENCE = object()  # noise=...: read it from `expected` when it is a Reference


def rel_error(x, y):
    """CS231n's relative error: max over elements of |x-y| / max(1e-8, |x|+|y|).

    By the course's rule (see the module docstring) at most 1e-6 is a match; a correct float64
    implementation usually gives 1e-16 to 1e-10, a bug 1e-3 or more.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size == 0 and y.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def is_match(error, rtol=MATCH_REL_ERROR):
    """Whether a printed CS231n relative error is a match by the course's rule."""
    return bool(np.isfinite(error) and error <= rtol)


class Reference(np.ndarray):
    """A reference array that knows its own float64 rounding noise (see the module docstring).

    `noise` is a float, None (unknown), or a zero-argument callable that estimates it on first use
    (the estimate costs a second evaluation of the reference, so it is made only when a comparison
    needs it). Views and slices keep the noise; arrays computed from a Reference do not.
    """

    def __new__(cls, array, noise=None):
        obj = np.asarray(array).view(cls)
        obj._noise = noise
        return obj

    def __array_finalize__(self, obj):
        self._noise = getattr(obj, "_noise", None)

    def __array_wrap__(self, array, context=None, return_scalar=False):
        # The result of arithmetic on a reference is a plain array: its noise is not the reference's.
        result = np.asarray(array)
        return result[()] if return_scalar else result

    @property
    def noise(self):
        if callable(self._noise):
            self._noise = self._noise()
        return self._noise


def allowed_error(expected, *, atol=ATOL, rtol=RTOL, noise=_FROM_REFERENCE):
    """The absolute difference each entry may have from `expected` under the course's rule."""
    if noise is _FROM_REFERENCE:
        noise = expected.noise if isinstance(expected, Reference) else None
    e = np.abs(np.asarray(expected, dtype=np.float64))
    e = np.where(np.isfinite(e), e, 0.0)
    if noise is None or not np.isfinite(noise) or noise <= 0:
        return atol + rtol * e
    near_zero = np.maximum(max(ABS_FLOOR, NOISE_FACTOR * noise), TINY_RTOL * e)
    return rtol * e + np.minimum(atol, near_zero)


def close(actual, expected, *, atol=ATOL, rtol=RTOL, noise=_FROM_REFERENCE):
    """True where `actual` agrees with `expected` by the course's rule (NaN with NaN, inf with the same inf)."""
    return _abs_error(actual, expected) <= allowed_error(expected, atol=atol, rtol=rtol, noise=noise)


def _abs_error(actual, expected):
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        same_special = (np.isnan(a) & np.isnan(e)) | (np.isinf(a) & (a == e))
        err = np.where(same_special, 0.0, np.abs(a - e))
    return np.where(np.isnan(err), np.inf, err)


class Mismatch:
    """Why two arrays differ, described without revealing the expected values."""

    def __init__(self, kind, text, worst_index=None, max_abs=None, max_rel=None):
        self.kind = kind  # "type", "shape", "dtype", "nonfinite" or "value"
        self.text = text
        self.worst_index = worst_index
        self.max_abs = max_abs  # None where it is withheld
        self.max_rel = max_rel  # None where it is withheld

    def __str__(self):
        return self.text


def find_mismatch(actual, expected, *, atol=ATOL, rtol=RTOL, name="output", check_dtype=True,
                  noise=_FROM_REFERENCE):
    """Return a Mismatch describing how `actual` differs from `expected`, or None if they match.

    They match by the course's rule (module docstring): every entry within
    rtol * |expected| + max(ABS_FLOOR, min(atol, NOISE_FACTOR * noise)), and NaN/inf in the same
    places. `noise` defaults to the reference's own (unknown for a plain array: then the allowance is
    atol). `expected` is never printed, and the size of the error is withheld where it would reveal it.
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
    e = np.asarray(expected_arr, dtype=np.float64)
    bad_nonfinite = ~np.isfinite(a) & np.isfinite(e)
    if bad_nonfinite.any():
        index = _first_index(bad_nonfinite)
        what = "NaN" if np.isnan(a[index]) else "inf"
        where = f" at index {index}" if a.size > 1 else ""
        return Mismatch(
            "nonfinite",
            f"{name} is {what}{where} where a finite value was expected "
            f"({int(bad_nonfinite.sum())} such entries): something overflowed",
            worst_index=index,
        )
    if a.size == 0:
        return None
    abs_err = _abs_error(a, e)
    # The strict allowance first: most comparisons are settled without estimating the reference's noise.
    if (abs_err <= allowed_error(e, atol=min(atol, ABS_FLOOR), rtol=rtol, noise=None)).all():
        return None
    excess = abs_err - allowed_error(expected, atol=atol, rtol=rtol, noise=noise)
    if not (excess > 0).any():
        return None
    index = _worst_index(excess)
    failing = excess > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        rel_err = np.where(abs_err == 0, 0.0, abs_err / np.maximum(np.abs(a), np.abs(e)))
    max_abs, max_rel = _revealing(a, abs_err[failing], rel_err[failing])
    count = int(failing.sum())
    tolerance = f"tolerance rtol={rtol:g}, atol up to {atol:g}"
    if a.size == 1:
        text = (f"{name} differs from the reference value ({tolerance}); "
                "with a single value, the size of the error would give the answer away, so it is not shown")
    else:
        figures = [f"max abs error {max_abs:.3g}" if max_abs is not None else "",
                   f"max rel error {max_rel:.3g}" if max_rel is not None else ""]
        figures = ", ".join(f for f in figures if f) or "the size of the error is not shown (it would give the answer away)"
        text = (f"{name} differs at {count} of {a.size} entries; worst at index {index}: "
                f"{figures} ({tolerance})")
    return Mismatch("value", text, worst_index=index, max_abs=max_abs, max_rel=max_rel)


def _revealing(a, abs_err, rel_err):
    """(max abs error, max rel error) over the failing entries, each None where it would give the answer away.

    With `a` known, a single value, an error of the same size on every failing entry (then a ± it is the
    answer there), or an all-zero output (then the absolute error is |expected|) gives the answer away.
    Relative errors are |a - e| / max(|a|, |e|): 1 where one of the two is 0.
    """
    finite = np.isfinite(abs_err)
    if a.size == 1 or not finite.any():
        return None, None
    abs_f, rel_f = abs_err[finite], rel_err[finite]
    max_abs, max_rel = float(abs_f.max()), float(rel_f.max())
    if not a.any() or _uniform(abs_f):
        max_abs = None
    if _uniform(rel_f):
        max_rel = None
    return max_abs, max_rel


def _uniform(values):
    """Whether every entry has the same size, to the three digits a message prints."""
    top = float(np.max(values))
    return values.size > 0 and float(np.min(values)) >= top * (1 - 5e-3)


def _first_index(mask):
    return tuple(int(i) for i in np.argwhere(mask)[0]) if mask.ndim else ()


def _worst_index(excess):
    flat = int(np.nanargmax(excess))
    return tuple(int(i) for i in np.unravel_index(flat, excess.shape)) if excess.ndim else ()


def assert_close(actual, expected, *, atol=ATOL, rtol=RTOL, name="output", check_dtype=True):
    """Raise AssertionError with the shape/dtype problem or the worst index and errors, else return the max abs error."""
    mismatch = find_mismatch(actual, expected, atol=atol, rtol=rtol, name=name, check_dtype=check_dtype)
    if mismatch is not None:
        raise AssertionError(mismatch.text)
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    finite = np.isfinite(a) & np.isfinite(e)
    return float(np.max(np.abs(a - e)[finite])) if finite.any() else 0.0
