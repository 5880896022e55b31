"""Which known mistakes can still explain a learner's outputs (used by the checks of lessons 03-05).

A known mistake explains a wrong output only if it also reproduces everything the learner got right.
`Suspects` starts with a check's list of Mistakes; every comparison the learner passes drops the
mistakes that would have failed it. When a comparison fails, only the survivors are offered to
`Checker.expect_close`, so a hint fires only when its mistake, and no other bug, explains every output
seen so far (a closure bug in a derived op is then not blamed on the topological order, say).

Everything here is instructor code on plain data: the mistakes' functions are NumPy written in the
check modules, and the outputs compared are the plain data `Checker.call` handed back.
"""

import warnings

import numpy as np

from course_utils.compare import find_mismatch


def run_mistake(mistake, args=(), kwargs=None, pick=None):
    """The mistake's output on these arguments (element `pick` of a tuple), or raise if it cannot run."""
    copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    kw = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in (kwargs or {}).items()}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        out = mistake.fn(*copies, **kw)
    return out if pick is None else out[pick]


def agrees(value, expected, atol=1e-8, rtol=1e-6):
    """True if `value` would have passed the comparison with `expected` (same rule as the checks)."""
    if isinstance(value, (tuple, list)) or isinstance(expected, (tuple, list)):
        return (isinstance(value, (tuple, list)) and isinstance(expected, (tuple, list))
                and len(value) == len(expected) and all(agrees(v, e, atol, rtol) for v, e in zip(value, expected)))
    if isinstance(value, bool) or not isinstance(value, (np.ndarray, np.generic, float, int)):
        return False
    return find_mismatch(value, expected, atol=atol, rtol=rtol, check_dtype=False) is None


def same(a, b):
    """True if two outputs are the same up to rounding (NaN equal to NaN): a mistake reproduces an output."""
    if isinstance(a, (tuple, list)) or isinstance(b, (tuple, list)):
        return (isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)) and len(a) == len(b)
                and all(same(x, y) for x, y in zip(a, b)))
    try:
        x = np.asarray(a, dtype=np.float64)
        y = np.asarray(b, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return x.shape == y.shape and bool(np.allclose(x, y, rtol=1e-6, atol=1e-9, equal_nan=True))


class Suspects:
    """The mistakes of one check that still agree with every comparison the learner has passed."""

    def __init__(self, mistakes):
        self.alive = list(mistakes)

    def __iter__(self):
        return iter(self.alive)

    def __len__(self):
        return len(self.alive)

    def cleared(self, expected, args=(), kwargs=None, pick=None, atol=1e-8, rtol=1e-6):
        """The learner matched `expected` on this comparison: drop the mistakes that would not have."""
        keep = []
        for mistake in self.alive:
            try:
                ok = agrees(run_mistake(mistake, args, kwargs, pick), expected, atol, rtol)
            except Exception:  # a variant that cannot even run here did not do what the learner did
                ok = False
            if ok:
                keep.append(mistake)
        self.alive = keep

    def narrow(self, observations):
        """Keep the mistakes that reproduce every observed answer: (args, kwargs, answer) triples, the
        learner's whole answer on a case (every output, not just the one being compared). An answer of
        None (the learner's code raised there) rules nothing out."""
        keep = []
        for mistake in self.alive:
            try:
                ok = all(same(answer, run_mistake(mistake, args, kwargs)) for args, kwargs, answer in observations
                         if answer is not None)
            except Exception:
                ok = False
            if ok:
                keep.append(mistake)
        self.alive = keep

    def explaining(self, actual, args=(), kwargs=None, pick=None):
        """The hint of the first surviving mistake that reproduces `actual`, or ""."""
        for mistake in self.alive:
            try:
                if same(actual, run_mistake(mistake, args, kwargs, pick)):
                    return mistake.hint
            except Exception:
                continue
        return ""


def expect_close(c, suspects, actual, expected, *, case, name, args=(), kwargs=None, pick=None,
                 atol=1e-8, rtol=1e-6, observe=None):
    """`c.expect_close` offering only the surviving suspects; on a pass, clear the ones it rules out.

    `observe`, called only when the comparison fails, returns (args, kwargs, answer) triples of the
    learner's whole answers (this case's, and any others it can see) to narrow the suspects with first.
    """
    if observe is not None and find_mismatch(actual, expected, atol=atol, rtol=rtol, name=name) is not None:
        suspects.narrow(observe())
    c.expect_close(actual, expected, case=case, name=name, atol=atol, rtol=rtol, mistakes=suspects.alive,
                   mistake_args=args, mistake_kwargs=kwargs or {}, mistake_output=pick)
    suspects.cleared(expected, args, kwargs, pick, atol, rtol)
