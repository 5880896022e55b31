"""The check engine: one call per exercise, a one-line pass, or a failure that teaches.

A check is written as a function decorated with @exercise. The decorator turns it into the
learner-facing call `check_x(learner_function)`, which

* runs the body with a Checker that calls the learner's code safely (NotImplementedError,
  exceptions, in-place edits of inputs, numpy overflow, forbidden libraries) and compares
  results without revealing the expected values;
* on success returns a CheckResult and shows one line (HTML in Jupyter);
* on failure raises CheckFailure (an AssertionError, so nbval fails) naming the case, the
  worst index and the errors, plus a hint when a known wrong variant explains the output;
* when the learner's function is still the student stub, shows "not implemented yet" and
  returns without raising, so a student notebook runs to the end.

The grader reads each result from the cell output (MIME type RESULT_MIME).
"""

import functools
import html
import inspect
import os
import sys
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import numpy as np

from course_utils.compare import find_mismatch

RESULT_MIME = "application/vnd.course.check+json"
GRADING_ENV = "COURSE_GRADING"
FORBIDDEN_LIBRARIES = ("torch", "scipy", "sklearn", "jax", "tensorflow", "cupy", "autograd", "mxnet", "keras")

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


class Checker:
    """Handed to a check body; calls learner code and compares results."""

    def __init__(self, exercise_id, numpy_only=True, fail_on_overflow=True):
        self.exercise_id = exercise_id
        self.numpy_only = numpy_only
        self.fail_on_overflow = fail_on_overflow
        self._cases_passed = set()  # case descriptions; a case may make several comparisons
        self.max_error = None  # the largest abs error seen, over passed cases and the failing one
        self._pending_overflow = None  # set by call(), reported by the next expect_close()

    # -- calling the learner ---------------------------------------------------------------
    def call(self, fn, *args, case, **kwargs):
        """Call learner code on copies of the arguments and return its result.

        Fails the check (naming `case`) if it raises, edits an input in place, overflows, or
        hands the work to a library such as torch.
        """
        if not callable(fn):
            raise _CaseFailed(
                f"expected your function, got a {type(fn).__module__}.{type(fn).__qualname__}",
                hint="pass the function itself, e.g. check_relu(relu), not its result check_relu(relu(x))",
            )
        arg_copies = [_copy(a) for a in args]
        kwarg_copies = {k: _copy(v) for k, v in kwargs.items()}
        with _LibraryWatch(fn, enabled=self.numpy_only) as watch, _numpy_warnings() as caught:
            try:
                out = fn(*arg_copies, **kwarg_copies)
            except NotImplementedError as err:
                raise _NotImplemented(str(err)) from None
            except Exception as err:
                raise _CaseFailed(
                    f"on case {case}, your {_name(fn)} raised {type(err).__name__}: {err}",
                    hint=_exception_hint(err),
                ) from err
        if watch.used:
            raise _CaseFailed(
                f"your {_name(fn)} called {', '.join(sorted(watch.used))} on case {case}. "
                "This exercise is from scratch: use NumPy only",
                hint="write the computation with NumPy operations; the PyTorch comparison comes after the check",
            )
        self._check_inputs_untouched(fn, args, arg_copies, kwargs, kwarg_copies, case)
        overflow = [str(w.message) for w in caught if "overflow" in str(w.message)]
        self._pending_overflow = None
        if overflow and self.fail_on_overflow:
            self._pending_overflow = (
                f"on case {case}, NumPy warned '{overflow[0]}' inside your {_name(fn)}. "
                "Even where the result looks right, an intermediate value was infinite"
            )
        return out

    def _check_inputs_untouched(self, fn, originals, copies, kw_originals, kw_copies, case):
        names = _parameter_names(fn, len(originals))
        pairs = list(zip(names, originals, copies)) + [(k, kw_originals[k], kw_copies[k]) for k in kw_originals]
        for name, before, after in pairs:
            if isinstance(before, np.ndarray) and not np.array_equal(before, after, equal_nan=True):
                raise _CaseFailed(
                    f"on case {case}, your {_name(fn)} changed its argument `{name}` in place",
                    hint="work on a copy (e.g. x = x.copy()) or build a new array; callers still need their input",
                )

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
        hint = _matching_mistake(actual, expected, mistakes, mistake_args, mistake_kwargs or {}, mistake_output,
                                 overflowed=mismatch is None) if explainable else ""
        if mismatch is not None:
            if mismatch.max_abs is not None:
                self.max_error = mismatch.max_abs
            raise _CaseFailed(f"on case {case}, {mismatch}", hint=hint or _generic_hint(mismatch, actual, expected))
        raise _CaseFailed(overflow, hint=hint or (
            "compute it in a form that cannot overflow (e.g. exp(-|x|), or subtract the max); note that "
            "np.where evaluates both branches, so the overflow still happens inside it"))

    def compare(self, fn, torch_fn, *args, case, atol=1e-8, rtol=1e-6, mistakes=(), name="output", **kwargs):
        """The common case: learner fn(*args) against torch_fn on the same inputs."""
        actual = self.call(fn, *args, case=case, **kwargs)
        expected, _ = self.reference(torch_fn, *args, **kwargs)
        self.expect_close(actual, expected, case=case, name=name, atol=atol, rtol=rtol,
                          mistakes=mistakes, mistake_args=args, mistake_kwargs=kwargs)
        return actual

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
        finite = np.isfinite(a) & np.isfinite(e)
        if finite.any():
            self.max_error = max(self.max_error or 0.0, float(np.max(np.abs(a - e)[finite])))


def exercise(exercise_id, *, points=1, compared="PyTorch", numpy_only=True, fail_on_overflow=True):
    """Turn `body(checker, learner, ...)` into the learner-facing `check(learner, ...)`."""

    def decorate(body):
        @functools.wraps(body)
        def check(learner, *args, **kwargs):
            __tracebackhide__ = True  # IPython and pytest show the learner's frames, not ours
            result, cause = run_exercise(exercise_id, body, learner, args, kwargs, points=points, compared=compared,
                                         numpy_only=numpy_only, fail_on_overflow=fail_on_overflow)
            if result.status != FAILED:
                show(result)
                return result
            if grading_mode():
                show(result)  # the grader reads the structured result from this output
            raise CheckFailure(result) from cause

        check.exercise_id = exercise_id
        check.points = points
        REGISTRY[exercise_id] = check
        return check

    return decorate


def run_exercise(exercise_id, body, learner, args, kwargs, *, points, compared, numpy_only, fail_on_overflow):
    """Run a check body; return (CheckResult, the learner's exception if one caused a failure).

    Learner faults never escape as exceptions; bugs in the check body itself do.
    """
    from course_utils.device import device

    checker = Checker(exercise_id, numpy_only=numpy_only, fail_on_overflow=fail_on_overflow)
    dev = str(device())

    def result(status, message, hint="", earned=0):
        return CheckResult(exercise_id, status, earned, points, message, hint, dev, checker.cases,
                           checker.max_error)

    if learner is None:
        return result(FAILED, "got None instead of your code; pass the function itself, e.g. check(sigmoid)"), None
    try:
        body(checker, learner, *args, **kwargs)
    except _NotImplemented as stub:
        detail = f" ({stub})" if str(stub) else ""
        message = f"not implemented yet{detail}: replace the `raise NotImplementedError` with your code"
        return result(NOT_IMPLEMENTED, message), None
    except _CaseFailed as failure:
        return result(FAILED, failure.message, failure.hint), failure.__cause__
    message = (f"{checker.cases} cases match {compared} on {dev} (float64); "
               f"max abs error {checker.max_error or 0.0:.1e}")
    return result(PASSED, message, earned=points), None


# -- helpers -------------------------------------------------------------------------------


def _copy(value):
    return value.copy() if isinstance(value, np.ndarray) else value


def _name(fn):
    return f"`{getattr(fn, '__name__', type(fn).__name__)}`"


def _parameter_names(fn, count):
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        params = []
    return [params[i] if i < len(params) else f"argument {i + 1}" for i in range(count)]


def _exception_hint(err):
    text = str(err)
    if isinstance(err, (ValueError, IndexError)) and ("shape" in text or "broadcast" in text):
        return "check the shapes of your intermediate arrays (print x.shape) and the axis you reduce over"
    if isinstance(err, NameError):
        return "a name is not defined: did you run the cell that defines it?"
    return ""


@contextmanager
def _numpy_warnings():
    with warnings.catch_warnings(record=True) as caught, np.errstate(over="warn"):
        warnings.simplefilter("always", RuntimeWarning)
        yield caught


def _matching_mistake(actual, expected, mistakes, args, kwargs, pick, overflowed=False):
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


def _generic_hint(mismatch, actual, expected):
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


class _LibraryWatch:
    """Notice learner code that calls torch, scipy & co. (statically and while it runs)."""

    def __init__(self, fn, enabled=True):
        self.fn = fn
        self.enabled = enabled
        self.used = set()

    def __enter__(self):
        if self.enabled:
            self.used |= _libraries_referenced(self.fn)
            self._previous = sys.getprofile()
            sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc):
        if self.enabled:
            sys.setprofile(self._previous)
        return False

    def _profile(self, frame, event, arg):
        if event == "call":
            library = _library_of(frame.f_globals.get("__name__", ""))
        elif event == "c_call":
            library = _library_of(getattr(arg, "__module__", None) or "")
        else:
            return
        if library:
            self.used.add(library)


def _library_of(module_name):
    root = module_name.split(".", 1)[0]
    return root if root in FORBIDDEN_LIBRARIES else ""


def _libraries_referenced(fn, depth=3, seen=None):
    """Forbidden libraries that fn's code (and helpers it calls, defined alongside it) refers to by name."""
    seen = seen if seen is not None else set()
    code = getattr(fn, "__code__", None)
    if code is None or id(code) in seen or depth == 0:
        return set()
    seen.add(id(code))
    namespace = getattr(fn, "__globals__", {})
    found = set()
    for name in code_names(code):
        value = namespace.get(name)
        if value is None:
            continue
        module = value.__name__ if inspect.ismodule(value) else getattr(value, "__module__", None) or ""
        if _library_of(module):
            found.add(_library_of(module))
        elif inspect.isfunction(value) and getattr(value, "__module__", None) == getattr(fn, "__module__", None):
            found |= _libraries_referenced(value, depth - 1, seen)
    return found


def code_names(code):
    """Every global or attribute name a code object (and the functions nested in it) refers to."""
    names = set(code.co_names)
    for const in code.co_consts:
        if inspect.iscode(const):
            names |= code_names(const)
    return names
