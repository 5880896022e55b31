"""Hints: which known mistake explains a wrong output, and what to say when none does.

A hint names the misconception and the idea that fixes it; it never contains the expected values or
a line of solution code. These functions run where the verdict is computed (in the grader process
when grading), on plain data only.
"""

import warnings

import numpy as np


def _copy(value):
    return value.copy() if isinstance(value, np.ndarray) else value


def exception_hint(error_type, text):
    """A hint for an exception the learner's code raised, from its type name and message alone."""
    if error_type in ("ValueError", "IndexError") and ("shape" in text or "broadcast" in text):
        return "check the shapes of your intermediate arrays (print x.shape) and the axis you reduce over"
    if error_type == "NameError":
        return "a name is not defined: did you run the cell that defines it?"
    return ""


def matching_mistake(actual, expected, mistakes, args, kwargs, pick, overflowed=False):
    """The hint of the first mistake that reproduces `actual` (and, if `overflowed`, overflows as well)."""
    for mistake in mistakes:
        try:
            with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore", over="warn"):
                warnings.simplefilter("always", RuntimeWarning)
                wrong = mistake.fn(*[_copy(a) for a in args], **{k: _copy(v) for k, v in kwargs.items()})
            if pick is not None:
                wrong = wrong[pick]
        except Exception:  # a variant that cannot run on this case explains nothing
            continue
        if not _same_output(actual, wrong):
            continue
        if overflowed:
            if any("overflow" in str(w.message) for w in caught):
                return mistake.hint
        elif not _same_output(wrong, expected):
            return mistake.hint
    return ""


def _same_output(actual, wrong):
    if isinstance(actual, (tuple, list)) or isinstance(wrong, (tuple, list)):
        if not (isinstance(actual, (tuple, list)) and isinstance(wrong, (tuple, list))) or len(actual) != len(wrong):
            return False
        return all(_same_output(a, w) for a, w in zip(actual, wrong))
    try:
        a = np.asarray(actual, dtype=np.float64)
        w = np.asarray(wrong, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return a.shape == w.shape and bool(np.allclose(a, w, rtol=1e-6, atol=1e-9, equal_nan=True))


def generic_hint(mismatch, actual, expected):
    if mismatch.kind == "shape":
        a, e = np.shape(actual), np.shape(expected)
        if len(a) < len(e):
            return "you reduced over an axis that should stay (keepdims=True?), or reduced too much"
        if a == e[::-1]:
            return "your output is transposed"
        return "check which axis you reduce over and whether the output should keep the input's shape"
    if mismatch.kind == "dtype":
        return "keep float64 throughout: no .astype(np.float32), and no integer arithmetic on the result"
    if mismatch.kind == "nonfinite":
        return "an exp or a log blew up: use the numerically stable form of the formula"
    if mismatch.kind == "value":
        a = np.asarray(actual, dtype=np.float64)
        e = np.asarray(expected, dtype=np.float64)
        if a.shape == e.shape and a.size > 1 and np.allclose(a, -e, rtol=1e-6, atol=1e-9):
            return "your result has the wrong sign"
        if a.shape == e.shape and a.size > 0 and not np.allclose(e, 0):
            ratio = a / np.where(e == 0, np.nan, e)
            finite = ratio[np.isfinite(ratio)]
            if finite.size and np.allclose(finite, finite[0], rtol=1e-6) and not np.isclose(finite[0], 1):
                return f"your result is the expected one times a constant (~{finite[0]:.4g}): a missing or extra factor (mean vs sum? a 2 or 1/N?)"
    return ""
