"""What the checks of lessons 03-05 add to course_utils.hints.Suspects: the learner's whole answers.

`hints.Suspects` keeps the known mistakes that agree with every comparison the learner has passed, so a
hint fires only when its mistake, and no other bug, explains the outputs seen so far. Some mistakes of
these lessons agree with each other on the one comparison that fails, and are told apart only by the
rest of the learner's answer (every gradient of a case, not just the one compared) or by later cases
(a breadth-first and a pre-order walk give the same wrong gradients on a diamond, different ones on a
deeper graph). `Suspects.narrow` keeps the mistakes that reproduce such observed answers, and
`expect_close(..., observe=...)` narrows with them just before a failing comparison picks its hint.

Everything here is instructor code on plain data: the mistakes' functions are NumPy written in the check
modules, and the answers compared are the plain data `Checker.call` handed back.
"""

import numpy as np

from course_utils.compare import find_mismatch
from course_utils.hints import Suspects as _Suspects
from course_utils.hints import run_mistake


def same(a, b):
    """True if two outputs are the same up to rounding (NaN equal to NaN): a mistake reproduces an answer."""
    if isinstance(a, (tuple, list)) or isinstance(b, (tuple, list)):
        return (isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)) and len(a) == len(b)
                and all(same(x, y) for x, y in zip(a, b)))
    try:
        x = np.asarray(a, dtype=np.float64)
        y = np.asarray(b, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return x.shape == y.shape and bool(np.allclose(x, y, rtol=1e-6, atol=1e-9, equal_nan=True))


class Suspects(_Suspects):
    """hints.Suspects, plus narrowing by the learner's whole answers."""

    def __iter__(self):
        return iter(self.alive)

    def narrow(self, observations):
        """Keep the mistakes that reproduce every observed answer: (args, kwargs, answer) triples, each the
        learner's whole answer on a case. An answer of None (the learner's code raised there, or gave
        something that is not a number) rules nothing out."""
        keep = []
        for mistake in self.alive:
            try:
                ok = all(same(answer, run_mistake(mistake, args, kwargs)[0]) for args, kwargs, answer in observations
                         if answer is not None)
            except Exception:  # a variant that cannot run where the learner's code did is not what it wrote
                ok = False
            if ok:
                keep.append(mistake)
        self.alive = keep


def expect_close(c, suspects, actual, expected, *, case, name, args=(), kwargs=None, pick=None,
                 atol=1e-8, rtol=1e-6, observe=None):
    """`c.expect_close` offering only the surviving suspects; on a pass, clear the ones it rules out.

    `observe`, called only when the comparison is about to fail, returns (args, kwargs, answer) triples of
    the learner's whole answers (this case's, and any others it can see) to narrow the suspects with first.
    """
    if observe is not None and find_mismatch(actual, expected, atol=atol, rtol=rtol, name=name) is not None:
        suspects.narrow(observe())
    suspects.expect_close(c, actual, expected, case=case, name=name, args=args, kwargs=kwargs, pick=pick,
                          atol=atol, rtol=rtol)
