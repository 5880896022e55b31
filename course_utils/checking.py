"""The check engine: one call per exercise, a one-line pass, or a failure that teaches.

A check is written as a function decorated with @exercise. Its body reads as a short spec: the
cases, the learner call (`c.call`), the PyTorch reference (`c.reference`), the comparison and the
known mistakes (`c.expect_close(..., mistakes=...)`). The decorator turns it into the learner-facing
call `check_x(learner_function)`, which

* reaches learner code only through `c.call`, which hands back plain data (course_utils/plain.py)
  and a report of what the call did (course_utils/invoke.py): an exception, a stub, an in-place edit,
  a NumPy overflow, a forbidden library;
* on success returns a CheckResult and shows one line (HTML in Jupyter);
* on failure shows the same box with the hint and raises CheckFailure (an AssertionError, so nbval
  fails) whose traceback is that one line, never the course's own frames;
* when the learner's function is still the student stub, shows "not implemented yet" and
  returns without raising, so a student notebook runs to the end.

Where the learner's code runs is the channel's business. In a notebook it is this process. When
grading, the body runs in the grader and each `c.call` crosses to the sandboxed worker that holds the
learner's code (course_utils/grading/worker.py): inputs, references, comparisons, hints and points
never live where learner code runs.
"""

import functools
import html
import os
import sys
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import numpy as np

from course_utils.compare import find_mismatch
from course_utils.hints import exception_hint, generic_hint, matching_mistake
from course_utils.invoke import FORBIDDEN_LIBRARIES, code_names, invoke  # noqa: F401  (re-exported)

RESULT_MIME = "application/vnd.course.check+json"
GRADING_ENV = "COURSE_GRADING"

REGISTRY = {}  # exercise id -> the learner-facing check function

PASSED, FAILED, NOT_IMPLEMENTED = "passed", "failed", "not implemented"


@dataclass
class CheckResult:
    exercise: str
    status: str
    points: float
    max_points: float
    message: str
    hint: str = ""
    device: str = ""
    cases: int = 0
    max_error: float = None
    _shown: bool = field(default=False, repr=False, compare=False)

    @property
    def passed(self):
        return self.status == PASSED

    def to_dict(self):
        data = asdict(self)
        data.pop("_shown")
        return data

    def line(self):
        mark = {PASSED: "✔", FAILED: "✘", NOT_IMPLEMENTED: "…"}.get(self.status, "!")
        return f"{mark} {self.exercise}: {self.message}" + (f"\n  Hint: {self.hint}" if self.hint else "")

    def __str__(self):
        return self.line()

    def mimebundle(self, with_result=False):
        colour = {PASSED: "#1a7f37", FAILED: "#cf222e", NOT_IMPLEMENTED: "#9a6700"}.get(self.status, "#57606a")
        hint = f"<br><b>Hint:</b> {html.escape(self.hint)}" if self.hint else ""
        bundle = {
            "text/plain": self.line(),
            "text/html": (
                f'<div style="border-left:4px solid {colour};padding:2px 8px;font-family:monospace">'
                f"{html.escape(self.line().splitlines()[0])}{hint}</div>"
            ),
        }
        if with_result:
            bundle[RESULT_MIME] = self.to_dict()
        return bundle

    def _ipython_display_(self):
        # A check shows itself once when it runs; being the cell's last value must not show it twice.
        if not self._shown:
            show(self)


class CheckFailure(AssertionError):
    """A check did not pass. `.result` holds the structured CheckResult."""

    def __init__(self, result):
        super().__init__(result.line())
        self.result = result

    def _render_traceback_(self):
        # IPython calls this for an exception that reaches the top of a cell: the learner sees the
        # check's own box (message and hint), then one line, never a traceback into course_utils.
        if not self.result._shown:  # IPython may ask more than once for one exception
            show(self.result)
        return [f"\x1b[0;31mCheckFailure\x1b[0m: {self.result.exercise} did not pass (see the message above)"]


class _CaseFailed(Exception):
    """Internal: stop the check at the first failing case."""

    def __init__(self, message, hint=""):
        super().__init__(message)
        self.message = message
        self.hint = hint


class _NotImplemented(Exception):
    """Internal: the learner's function is still the stub."""


@dataclass
class Mistake:
    """A known wrong variant: `fn` reproduces the mistake, `hint` names it and the fix."""

    hint: str
    fn: object


def grading_mode():
    return os.environ.get(GRADING_ENV, "") not in ("", "0")


def show(result):
    """Show a result once: rich output in IPython, a printed line elsewhere."""
    result._shown = True
    shell = _ipython()
    if shell is None:
        print(result.line())
        return
    from IPython.display import publish_display_data

    publish_display_data(result.mimebundle(with_result=grading_mode()))


def _ipython():
    module = sys.modules.get("IPython")
    return module.get_ipython() if module is not None else None


@contextmanager
def skip_if_unfinished():
    """Run a demo cell that uses learner code; if an exercise is still the stub, say so instead of crashing."""
    try:
        yield
    except NotImplementedError as err:
        detail = f" ({err})" if str(err) else ""
        print(f"… skipped: this cell uses an exercise you have not finished yet{detail}. "
              "Finish it, then run this cell again.")


def local_channel(fn, args, kwargs, *, via=None, numpy_only=True, uses=()):
    """Run learner code in this process (a notebook, a test): the channel checks use unless told otherwise."""
    return invoke(fn, args, kwargs, via=via, numpy_only=numpy_only, uses=uses)


class Checker:
    """Handed to a check body; calls learner code through its channel and compares results."""

    def __init__(self, exercise_id, numpy_only=True, fail_on_overflow=True, uses=(), channel=None):
        self.exercise_id = exercise_id
        self.numpy_only = numpy_only
        self.fail_on_overflow = fail_on_overflow
        self.uses = tuple(uses)
        self.channel = channel or local_channel
        self._cases_passed = set()  # case descriptions; a case may make several comparisons
        self.max_error = None  # the largest abs error seen, over passed cases and the failing one
        self._pending_overflow = None  # set by call(), reported by the next expect_close()

    # -- calling the learner ---------------------------------------------------------------
    def call(self, fn, *args, case, via=None, error_hint=None, **kwargs):
        """Call learner code on copies of the arguments and return its result as plain data.

        `via`, a module-level function of the check's module, runs as via(fn, *args, **kwargs) beside
        the learner's code, for exercises that are classes or objects; it must return plain data.
        `error_hint(error_type, message)` may return a hint for an exception the code raised that says
        more than the generic one (e.g. which edge a shape error comes from); "" keeps the generic one.
        Fails the check (naming `case`) if the code raises, edits an input in place, overflows, hands
        the work to a library such as torch, or returns something that is not plain data.
        """
        if fn is None or (via is None and not callable(fn)):
            raise _CaseFailed(
                f"expected your function, got {'None' if fn is None else 'a ' + type(fn).__qualname__}",
                hint="pass the function itself, e.g. check_relu(relu), not its result check_relu(relu(x))",
            )
        report = self.channel(fn, args, kwargs, via=via, numpy_only=self.numpy_only, uses=self.uses)
        for arg, state in zip(args, report.get("rngs") or ()):
            if isinstance(arg, np.random.Generator) and state is not None:
                arg.bit_generator.state = state  # the learner's draws advance the check's generator
        error = report.get("error")
        if error:
            self._raise_for(error, fn, case, error_hint)
        if report.get("libraries"):
            raise _CaseFailed(
                f"your {_name(fn)} called {', '.join(report['libraries'])} on case {case}. "
                "This exercise is from scratch: use NumPy only",
                hint="write the computation with NumPy operations; the PyTorch comparison comes after the check",
            )
        if report.get("mutated"):
            raise _CaseFailed(
                f"on case {case}, your {_name(fn)} changed its argument `{report['mutated'][0]}` in place",
                hint="work on a copy of the array or build a new one; callers still need their input",
            )
        self._pending_overflow = None
        if report.get("overflow") and self.fail_on_overflow:
            self._pending_overflow = (
                f"on case {case}, NumPy warned '{report['overflow']}' inside your {_name(fn)}. "
                "Even where the result looks right, an intermediate value was infinite"
            )
        return report.get("value")

    def _raise_for(self, error, fn, case, error_hint=None):
        if error.get("not_implemented"):
            raise _NotImplemented(error.get("message", ""))
        kind, message = error.get("type", "Exception"), error.get("message", "")
        if kind == "NotPlain":
            raise _CaseFailed(f"on case {case}, {message.replace('the result', f'what your {_name(fn)} returned', 1)}",
                              hint="convert your result with np.asarray (or float) before returning it")
        if kind == "Timeout":
            raise _CaseFailed(f"on case {case}, your {_name(fn)} ran longer than the time limit and was stopped",
                              hint="look for a loop whose condition never changes, or work that grows with the "
                                   "input much faster than it needs to")
        if kind == "Missing":
            raise _CaseFailed(f"{_name(fn)} is not defined in your notebook",
                              hint="keep the exercise's name and signature, and run the cell that defines it")
        where = f" (line {error['line']} of your cell)" if error.get("line") else ""
        specific = error_hint(kind, message) if error_hint is not None else ""
        raise _CaseFailed(f"on case {case}, your {_name(fn)} raised {kind}{where}: {message}",
                          hint=specific or exception_hint(kind, message))

    # -- references and comparisons ---------------------------------------------------------
    def reference(self, torch_fn, *args, dout=None, wrt=None, **kwargs):
        from course_utils.torch_ref import torch_reference

        return torch_reference(torch_fn, *args, dout=dout, wrt=wrt, **kwargs)

    def expect_close(self, actual, expected, *, case, name="output", atol=1e-8, rtol=1e-6,
                     mistakes=(), mistake_args=(), mistake_kwargs=None, mistake_output=None, check_dtype=True):
        """Fail unless `actual` matches `expected`; if a Mistake reproduces `actual`, give its hint.

        Each mistake's fn is called with mistake_args/mistake_kwargs; `mistake_output` picks the
        part of its return value to compare (an index into a tuple), when it returns several.
        """
        mismatch = find_mismatch(actual, expected, atol=atol, rtol=rtol, name=name, check_dtype=check_dtype)
        overflow, self._pending_overflow = self._pending_overflow, None
        if mismatch is None and overflow is None:
            self._record(actual, expected, case)
            return
        explainable = mismatch is None or mismatch.kind in ("shape", "nonfinite", "value")
        # Right values reached through an overflow: a mistake explains them if it gives the same output
        # and overflows too (e.g. the naive 1/(1+exp(-x)), whose exp(1000) = inf still yields 0).
        hint = matching_mistake(actual, expected, mistakes, mistake_args, mistake_kwargs or {}, mistake_output,
                                overflowed=mismatch is None) if explainable else ""
        if mismatch is not None:
            if mismatch.max_abs is not None:
                self.max_error = mismatch.max_abs
            raise _CaseFailed(f"on case {case}, {mismatch}", hint=hint or generic_hint(mismatch, actual, expected))
        raise _CaseFailed(overflow, hint=hint or (
            "an intermediate value overflowed to infinity: rewrite the formula so that exp only ever sees "
            "arguments that cannot be large and positive (np.where evaluates both branches, so it does not help)"))

    def compare(self, fn, torch_fn, *args, case, atol=1e-8, rtol=1e-6, mistakes=(), name="output", **kwargs):
        """The common case: learner fn(*args) against torch_fn on the same inputs."""
        actual = self.call(fn, *args, case=case, **kwargs)
        expected, _ = self.reference(torch_fn, *args, **kwargs)
        self.expect_close(actual, expected, case=case, name=name, atol=atol, rtol=rtol,
                          mistakes=mistakes, mistake_args=args, mistake_kwargs=kwargs)
        return actual

    def expect_tuple(self, result, names, *, case, what, hint=None):
        """`result` as a tuple, or fail unless the learner's `what` returned one value per name in `names`
        (or `names` values, when it is a count)."""
        count = names if isinstance(names, int) else len(names)
        if not isinstance(result, (tuple, list)) or len(result) != count:
            got = f"{len(result)} values" if isinstance(result, (tuple, list)) else f"a {type(result).__name__}"
            listed = "" if isinstance(names, int) else f": ({', '.join(names)})"
            default = f"the function gives back {count} values" + (
                "" if isinstance(names, int) else f", in this order: {', '.join(names)}")
            raise _CaseFailed(f"on case {case}, your {what} returned {got}; it should return {count}{listed}",
                              hint=default if hint is None else hint)
        return tuple(result)

    def expect(self, condition, message, *, case, hint=""):
        """Fail with `message` unless `condition` holds (for checks that are not array comparisons)."""
        if not condition:
            raise _CaseFailed(f"on case {case}, {message}", hint=hint)
        self._cases_passed.add(case)

    def fail(self, message, hint=""):
        raise _CaseFailed(message, hint=hint)

    @property
    def cases(self):
        return len(self._cases_passed)

    def _record(self, actual, expected, case):
        self._cases_passed.add(case)
        a = np.asarray(actual, dtype=np.float64)
        e = np.asarray(expected, dtype=np.float64)
        if a.shape != e.shape:
            return
        finite = np.isfinite(a) & np.isfinite(e)
        if finite.any():  # only finite entries: inf - inf would warn (and mean nothing)
            self.max_error = max(self.max_error or 0.0, float(np.max(np.abs(a[finite] - e[finite]))))


def exercise(exercise_id, *, points=1, compared="PyTorch", numpy_only=True, fail_on_overflow=True, uses=()):
    """Turn `body(checker, learner, ...)` into the learner-facing `check(learner, ...)`.

    `uses` lists course modules the learner may call (e.g. "course_utils.layers" in a lesson that
    builds on earlier layers); everything else of course_utils counts as a forbidden library.
    The check's `evaluate(learner, ..., channel=...)` runs it without showing or raising (the grader's way).
    """

    def decorate(body):
        options = dict(points=points, compared=compared, numpy_only=numpy_only,
                       fail_on_overflow=fail_on_overflow, uses=uses)

        def evaluate(learner, *args, channel=None, **kwargs):
            return run_exercise(exercise_id, body, learner, args, kwargs, channel=channel, **options)

        @functools.wraps(body)
        def check(learner, *args, **kwargs):
            __tracebackhide__ = True  # pytest shows the learner's frames, not ours
            result, _ = evaluate(learner, *args, **kwargs)
            if result.status == FAILED:
                raise CheckFailure(result) from None  # shown by _render_traceback_ when not caught
            show(result)
            return result

        check.exercise_id = exercise_id
        check.points = points
        check.evaluate = evaluate
        REGISTRY[exercise_id] = check
        return check

    return decorate


def run_exercise(exercise_id, body, learner, args, kwargs, *, points, compared, numpy_only, fail_on_overflow,
                 uses=(), channel=None):
    """Run a check body; return (CheckResult, None).

    Learner faults never escape as exceptions; bugs in the check body itself do.
    """
    from course_utils.device import reference_device

    checker = Checker(exercise_id, numpy_only=numpy_only, fail_on_overflow=fail_on_overflow, uses=uses,
                      channel=channel)
    dev = reference_device()

    def result(status, message, hint="", earned=0):
        return CheckResult(exercise_id, status, earned, points, message, hint, dev, checker.cases,
                           checker.max_error)

    if learner is None:
        return result(FAILED, "got None instead of your code; pass the function itself, e.g. check(sigmoid)"), None
    try:
        body(checker, learner, *args, **kwargs)
    except _NotImplemented as stub:
        detail = f" ({stub})" if str(stub) and str(stub) != exercise_id else ""
        message = f"not implemented yet{detail}: replace the `raise NotImplementedError` with your code"
        return result(NOT_IMPLEMENTED, message), None
    except _CaseFailed as failure:
        return result(FAILED, failure.message, failure.hint), None
    message = (f"{checker.cases} cases match {compared} on {dev} (float64); "
               f"max abs error {checker.max_error or 0.0:.1e}")
    return result(PASSED, message, earned=points), None


def _name(fn):
    return f"`{getattr(fn, '__name__', type(fn).__name__)}`"
