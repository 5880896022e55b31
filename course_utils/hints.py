"""Hints: which known mistake explains a wrong output, and what to say when none does.

A hint names the misconception and the idea that fixes it. It never contains the expected values, a
number from which they can be worked out, or a line of solution code (tests/test_hints.py holds every
check module to this). A mistake's hint fires only when that mistake, and no other known one with a
different hint, reproduces the learner's output. These functions run where the verdict is computed (in
the grader process when grading), on plain data only.
"""

import warnings

import numpy as np

from course_utils.compare import close, find_mismatch


def _copy(value):
    return value.copy() if isinstance(value, np.ndarray) else value


def exception_hint(error_type, text):
    """A hint for an exception the learner's code raised, from its type name and message alone."""
    if error_type in ("ValueError", "IndexError") and ("shape" in text or "broadcast" in text):
        return "check the shapes of your intermediate arrays (print them) and the axis you reduce over"
    if error_type == "NameError":
        return "a name is not defined: did you run the cell that defines it?"
    return ""


def matching_mistake(actual, expected, mistakes, args, kwargs, pick, overflowed=False):
    """The hint of the known mistake that reproduces `actual` (and, if `overflowed`, overflows as well).

    A mistake explains the output only if it reproduces it and would itself have failed (or, for an
    output reached through an overflow, overflows too). When mistakes with different hints all explain
    the output, none of them can be singled out, and no hint is given.
    """
    hints = []
    for mistake in mistakes:
        try:
            wrong, mistake_overflowed = run_mistake(mistake, args, kwargs, pick)
        except Exception:  # a variant that cannot run on this case explains nothing
            continue
        if not same_output(actual, wrong):
            continue
        if overflowed:
            explains = mistake_overflowed
        else:
            explains = not _passes(wrong, expected)
        if explains and mistake.hint not in hints:
            hints.append(mistake.hint)
    return hints[0] if len(hints) == 1 else ""


def run_mistake(mistake, args=(), kwargs=None, pick=None):
    """(output, overflowed) of a known mistake on these arguments; raises if the variant cannot run."""
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore", over="warn"):
        warnings.simplefilter("always", RuntimeWarning)
        out = mistake.fn(*[_copy(a) for a in args], **{k: _copy(v) for k, v in (kwargs or {}).items()})
    if pick is not None:
        out = out[pick]
    return out, any("overflow" in str(w.message) for w in caught)


class Suspects:
    """The known mistakes of one check that still fit everything the learner got right.

    A mistake explains a wrong output only if it would also have passed every comparison the learner
    passed before (same values, and no overflow, which fails a case too). Offer `suspects.alive` to
    `Checker.expect_close` and call `cleared(...)` after each comparison the learner passes: then a
    hint is never blamed on a mistake that the learner's earlier, correct outputs rule out.

    Some mistakes agree with each other on the one comparison that fails and differ only in the rest
    of the learner's answer (every gradient of a case, not just the one compared) or on later cases.
    `narrow(observations)` keeps the mistakes that reproduce such observed answers, and
    `expect_close(..., observe=...)` narrows with them just before a failing comparison picks its hint.
    """

    def __init__(self, mistakes):
        self.alive = list(mistakes)

    def __iter__(self):
        return iter(self.alive)

    def expect_close(self, c, actual, expected, *, case, name="output", args=(), kwargs=None, pick=None,
                     atol=1e-8, rtol=1e-6, observe=None):
        """`c.expect_close` offering only the surviving mistakes; on a pass, clear the ones it rules out.

        `observe`, called only when the comparison is about to fail, returns (args, kwargs, answer)
        triples of the learner's whole answers to narrow the suspects with first.
        """
        if observe is not None and find_mismatch(actual, expected, atol=atol, rtol=rtol, name=name) is not None:
            self.narrow(observe())
        c.expect_close(actual, expected, case=case, name=name, atol=atol, rtol=rtol, mistakes=self.alive,
                       mistake_args=args, mistake_kwargs=kwargs or {}, mistake_output=pick)
        self.cleared(expected, args, kwargs, pick, atol, rtol)

    def cleared(self, expected, args=(), kwargs=None, pick=None, atol=1e-8, rtol=1e-6):
        keep = []
        for mistake in self.alive:
            try:
                out, overflowed = run_mistake(mistake, args, kwargs, pick)
                if not overflowed and _passes(out, expected, atol=atol, rtol=rtol):
                    keep.append(mistake)
            except Exception:  # a variant that cannot even run here is not what the learner wrote
                continue
        self.alive = keep

    def narrow(self, observations):
        """Keep the mistakes that reproduce every observed (args, kwargs, answer); an answer of None (the
        learner's code raised there, or gave something that is not a number) rules nothing out."""
        keep = []
        for mistake in self.alive:
            try:
                ok = all(same_output(answer, run_mistake(mistake, args, kwargs)[0])
                         for args, kwargs, answer in observations if answer is not None)
            except Exception:  # a variant that cannot run where the learner's code did is not what it wrote
                ok = False
            if ok:
                keep.append(mistake)
        self.alive = keep


def same_output(actual, wrong):
    """Whether a mistake reproduces the learner's output, to rounding (same NaNs and infinities)."""
    if isinstance(actual, (tuple, list)) or isinstance(wrong, (tuple, list)):
        if not (isinstance(actual, (tuple, list)) and isinstance(wrong, (tuple, list))) or len(actual) != len(wrong):
            return False
        return all(same_output(a, w) for a, w in zip(actual, wrong))
    try:
        a = np.asarray(actual, dtype=np.float64)
        w = np.asarray(wrong, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    if a.shape != w.shape:
        return False
    finite = np.abs(w[np.isfinite(w)])
    noise = np.finfo(np.float64).eps * (float(finite.max()) if finite.size else 0.0)  # rounding at w's scale
    return bool(np.all(close(a, w, atol=1e-9, rtol=1e-6, noise=noise)))


def _passes(wrong, expected, atol=1e-8, rtol=1e-6):
    """Whether the mistake's output would itself pass the comparison (then it explains nothing)."""
    if isinstance(wrong, (tuple, list)) or isinstance(expected, (tuple, list)):
        if not (isinstance(wrong, (tuple, list)) and isinstance(expected, (tuple, list))) or len(wrong) != len(expected):
            return False
        return all(_passes(w, e, atol, rtol) for w, e in zip(wrong, expected))
    try:
        return find_mismatch(np.asarray(wrong, dtype=np.float64), expected, atol=atol, rtol=rtol,
                             check_dtype=False) is None
    except (TypeError, ValueError):
        return False


def generic_hint(mismatch, actual, expected):
    """A hint from the shape of the difference alone, when no known mistake explains it.

    It never carries a number: a factor or an error size would let the expected value be worked out.
    """
    if mismatch.kind == "shape":
        a, e = np.shape(actual), np.shape(expected)
        if len(a) < len(e):
            return "you reduced over an axis that should stay (keepdims?), or reduced too much"
        if a == e[::-1] and len(a) > 1:
            return "your output is transposed"
        return "check which axis you reduce over and whether the output should keep the input's shape"
    if mismatch.kind == "dtype":
        return "keep float64 throughout: no casting to float32, and no integer arithmetic on the result"
    if mismatch.kind == "nonfinite":
        return "an exp or a log blew up: use the numerically stable form of the formula"
    if mismatch.kind == "value":
        a = np.asarray(actual, dtype=np.float64)
        e = np.asarray(expected, dtype=np.float64)
        if a.shape != e.shape or a.size < 2 or not (np.isfinite(a).all() and np.isfinite(e).all()):
            return ""
        varied = np.ptp(e) > 1e-6 * np.max(np.abs(e))  # a constant answer is proportional to any constant output
        if varied and np.all(close(a, -e)):
            return "your result has the wrong sign"
        nonzero = np.abs(e) > 1e-6 * np.max(np.abs(e))
        if varied and nonzero.sum() >= 2 and np.all(np.abs(a[~nonzero]) <= 1e-6 * np.max(np.abs(e))):
            ratio = a[nonzero] / e[nonzero]
            if (np.allclose(ratio, ratio[0], rtol=1e-6) and not np.isclose(abs(ratio[0]), 1.0, rtol=1e-6)
                    and abs(ratio[0]) > 1e-6):
                return ("your result is the expected one times the same factor on every entry: "
                        "look for a missing or an extra constant factor")
    return ""
