"""Call learner code once, under watch, and describe what happened as plain data.

`invoke` is the only place where a check runs learner code. In a notebook it runs in the learner's
process; when grading it runs inside the sandboxed worker, and its report crosses back to the grader,
which alone decides what the report means (course_utils/checking.py). The report is a dict:

    {"value": plain result, or absent when the call raised,
     "error": {"type", "message", "not_implemented", "line"} when it raised,
     "libraries": forbidden libraries the code used, "overflow": the first NumPy overflow warning,
     "mutated": names of array arguments changed in place, "rngs": final states of Generator arguments}
"""

import inspect
import sys
import traceback
import warnings
from contextlib import contextmanager

import numpy as np

from course_utils.plain import NotPlain, to_plain

# Libraries a from-scratch exercise may not hand its work to. "course_utils" covers the course's own
# reference layers and check helpers; an exercise that builds on them lists them in `uses`.
FORBIDDEN_LIBRARIES = ("torch", "scipy", "sklearn", "jax", "tensorflow", "cupy", "autograd", "mxnet", "keras",
                       "course_utils")
_MESSAGE_LIMIT = 300
_TRUSTED = []  # module prefixes the watch lets through everywhere (the unit tests' known mistakes)


@contextmanager
def trusting(prefix):
    """Let learner code call `prefix` modules for a while: the unit tests hand the checks' own known
    mistakes, which live in course_utils.checks, to the checks as if a learner had written them."""
    _TRUSTED.append(prefix)
    try:
        yield
    finally:
        _TRUSTED.remove(prefix)


def invoke(fn, args=(), kwargs=None, *, via=None, numpy_only=True, uses=()):
    """Call fn(*args, **kwargs), or via(fn, *args, **kwargs) for a check's harness, on copies of the arguments."""
    kwargs = kwargs or {}
    arg_copies = [_copy(a) for a in args]
    kwarg_copies = {k: _copy(v) for k, v in kwargs.items()}
    report = {"libraries": [], "overflow": None, "mutated": [], "rngs": []}
    target = fn if via is None else via
    call_args = arg_copies if via is None else [fn, *arg_copies]
    with _numpy_warnings() as caught, LibraryWatch(fn, enabled=numpy_only, uses=uses) as watch:
        try:
            value = target(*call_args, **kwarg_copies)
        except NotImplementedError as err:
            report["error"] = {"type": "NotImplementedError", "message": _short(err), "not_implemented": True,
                               "line": None}
            value = None
        except Exception as err:  # learner faults become a report, never a crash of the check
            report["error"] = {"type": type(err).__name__, "message": _short(err), "not_implemented": False,
                               "line": _learner_line(err)}
            value = None
    report["libraries"] = sorted(watch.used)
    overflow = [str(w.message) for w in caught if "overflow" in str(w.message)]
    report["overflow"] = overflow[0] if overflow else None
    report["mutated"] = _mutated(fn, args, arg_copies, kwargs, kwarg_copies)
    report["rngs"] = [a.bit_generator.state if isinstance(a, np.random.Generator) else None for a in arg_copies]
    if "error" not in report:
        try:
            report["value"] = to_plain(value)
        except NotPlain as err:
            report["error"] = {"type": "NotPlain", "message": str(err), "not_implemented": False, "line": None}
    return report


def _short(err):
    text = str(err)
    return text if len(text) <= _MESSAGE_LIMIT else text[:_MESSAGE_LIMIT] + " …"


def _learner_line(err):
    """The line number in the learner's own code (a notebook cell) where the exception was raised."""
    line = None
    for frame in traceback.extract_tb(err.__traceback__):
        if frame.filename.startswith("<") or "ipykernel_" in frame.filename or "/tmp/" in frame.filename:
            line = frame.lineno
    return line


def _copy(value):
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, np.random.Generator):
        return value  # the learner advances the caller's generator, as with a direct call
    return value


def _mutated(fn, originals, copies, kw_originals, kw_copies):
    names = parameter_names(fn, len(originals))
    pairs = list(zip(names, originals, copies)) + [(k, kw_originals[k], kw_copies[k]) for k in kw_originals]
    return [name for name, before, after in pairs
            if isinstance(before, np.ndarray) and (not isinstance(after, np.ndarray) or before.shape != after.shape
                                                   or not np.array_equal(before, after, equal_nan=True))]


def parameter_names(fn, count):
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        params = []
    return [params[i] if i < len(params) else f"argument {i + 1}" for i in range(count)]


@contextmanager
def _numpy_warnings():
    with warnings.catch_warnings(record=True) as caught, np.errstate(over="warn"):
        warnings.simplefilter("always", RuntimeWarning)
        yield caught


class LibraryWatch:
    """Notice learner code that calls torch, scipy, the course's own code & co. (statically and while it runs).

    Only calls made from outside course_utils count, so a check's harness may use course code freely.
    """

    def __init__(self, fn, enabled=True, uses=()):
        self.fn = fn
        self.enabled = enabled
        self.uses = tuple(uses)
        self.used = set()

    def __enter__(self):
        if self.enabled:
            self.used |= {_display_name(lib) for lib in libraries_referenced(self.fn) if self._forbidden(lib)}
            self._previous = sys.getprofile()
            sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc):
        if self.enabled:
            sys.setprofile(self._previous)
        return False

    def _forbidden(self, module_name):
        if not library_of(module_name):
            return False
        return not any(module_name == u or module_name.startswith(u + ".") for u in (*self.uses, *_TRUSTED))

    def _profile(self, frame, event, arg):
        if event == "call":
            caller = frame.f_back
            if caller is None or _is_course(caller.f_globals.get("__name__", "")):
                return
            module = frame.f_globals.get("__name__", "")
        elif event == "c_call":
            if _is_course(frame.f_globals.get("__name__", "")):
                return
            module = getattr(arg, "__module__", None) or ""
            owner = getattr(arg, "__self__", None)
            if not library_of(module) and owner is not None:
                module = getattr(type(owner), "__module__", "") or ""
        else:
            return
        if self._forbidden(module):
            self.used.add(_display_name(module))


def _is_course(module_name):
    return module_name == "course_utils" or module_name.startswith("course_utils.")


def _display_name(module_name):
    return module_name if _is_course(module_name) else module_name.split(".", 1)[0]


def library_of(module_name):
    root = (module_name or "").split(".", 1)[0]
    return root if root in FORBIDDEN_LIBRARIES else ""


def libraries_referenced(fn, depth=3, seen=None):
    """Modules of forbidden libraries that fn's code (and helpers defined alongside it) refers to by name."""
    seen = seen if seen is not None else set()
    code = getattr(fn, "__code__", None)
    if code is None:  # a class: look at its methods
        found = set()
        for member in vars(fn).values() if isinstance(fn, type) else ():
            if inspect.isfunction(member):
                found |= libraries_referenced(member, depth, seen)
        return found
    if id(code) in seen or depth == 0:
        return set()
    seen.add(id(code))
    namespace = getattr(fn, "__globals__", {})
    found = set()
    for name in code_names(code):
        value = namespace.get(name)
        if value is None:
            continue
        module = value.__name__ if inspect.ismodule(value) else getattr(value, "__module__", None) or ""
        if library_of(module):
            found.add(module)
        elif (inspect.isfunction(value) or isinstance(value, type)) and \
                getattr(value, "__module__", None) == getattr(fn, "__module__", None):
            found |= libraries_referenced(value, depth - 1, seen)
    return found


def code_names(code):
    """Every global or attribute name a code object (and the functions nested in it) refers to."""
    names = set(code.co_names)
    for const in code.co_consts:
        if inspect.iscode(const):
            names |= code_names(const)
    return names
