"""Runs inside the grading kernel: notice when student code has tampered with the checkers.

Before the first student cell runs, the grader calls `snapshot(globals())`. It records the
identity of everything a check's verdict depends on:

* every function and class in the loaded `course_utils` modules (the check engine, the checks,
  compare/torch_ref/gradcheck/device), with the code object, defaults and closure contents of
  each function, and the methods of each class; the check registry; the result MIME type;
* the public callables of numpy, numpy.linalg, torch, torch.nn.functional and torch.Tensor's methods;
* Python's builtins, sys.setprofile/getprofile (the from-scratch watch uses them),
  IPython's display publisher (which carries the results to the grader), COURSE_GRADING;
* the notebook's own names for the checks (e.g. `check_sigmoid`) and for course_utils.

It keeps references to these objects (not copies) and compares identities with `is`.

After every later step, `verify(globals())` (sent as a user expression, so it costs no extra
round trip) returns the keys whose identity changed. Replacing a function, swapping its
`__code__`, rebinding `check_sigmoid`, patching `np.allclose` or `torch.Tensor.mean`: all change
an identity. One change is expected and allowed: torch wrapping its own functions (importing
torch._dynamo replaces torch.manual_seed by a wrapper whose __wrapped__ is the original and
whose code lives in torch). Identities only: mutating an object in place, or a patch that undoes itself before
the step ends, is not seen. This is a tripwire, not a proof (see docs/grading.md, threat model).
"""

import builtins
import json
import sys

_BASELINE = {}
_USER_NAMES = []
_CHECKING_CONSTANTS = ("RESULT_MIME", "GRADING_ENV", "FORBIDDEN_LIBRARIES", "PASSED", "FAILED", "NOT_IMPLEMENTED",
                       "REGISTRY")
_MISSING = object()


def snapshot(user_ns):
    """Record the baseline (references to the watched objects); return a JSON report.

    The report: {"checks": {notebook name: exercise id}, "check_names": [...], "points": {exercise id:
    points}, "tracked": how many objects are watched}.
    """
    _preload()
    _USER_NAMES[:] = [name for name, value in user_ns.items() if not name.startswith("_") and _is_course(value)]
    _BASELINE.clear()
    _BASELINE.update(_collect(user_ns))
    registry = _registry()
    checks = {name: value.exercise_id for name, value in user_ns.items()
              if getattr(value, "exercise_id", None) in registry and registry[value.exercise_id] is value}
    points = {eid: getattr(fn, "points", None) for eid, fn in registry.items()}
    names = sorted(set(checks) | {getattr(fn, "__name__", "") for fn in registry.values()} - {""})
    return json.dumps({"checks": checks, "check_names": names, "points": points, "tracked": len(_BASELINE)})


def verify(user_ns):
    """JSON list of the baseline keys whose identity changed since `snapshot` (at most 20), [] if none."""
    if not _BASELINE:
        return json.dumps(["integrity baseline missing"])
    now = _collect(user_ns)
    changed = [key for key, old in _BASELINE.items() if not _same(old, now.get(key, _MISSING))]
    changed = [key for key in changed if not _torch_own_wrapper(_BASELINE[key], now.get(key, _MISSING))]
    return json.dumps(changed[:20])


def _same(old, new):
    return old is new or (isinstance(old, (str, bool)) and old == new)


def _torch_own_wrapper(old, new):
    torch = sys.modules.get("torch")
    code = getattr(new, "__code__", None)
    if torch is None or code is None or getattr(new, "__wrapped__", None) is not old:
        return False
    import os

    return os.path.abspath(code.co_filename).startswith(os.path.dirname(os.path.abspath(torch.__file__)) + os.sep)


def _preload():
    """Import what checks import lazily, so that nothing a check uses is first loaded after the baseline."""
    import importlib

    for name in ("course_utils.checking", "course_utils.compare", "course_utils.torch_ref",
                 "course_utils.gradcheck", "course_utils.device"):
        try:
            importlib.import_module(name)
        except Exception:  # a module missing from this version of the course is simply not watched
            pass
    package = sys.modules.get("course_utils")
    for name in getattr(package, "__all__", ()):
        try:
            getattr(package, name)
        except Exception:
            pass


def _registry():
    checking = sys.modules.get("course_utils.checking")
    return dict(getattr(checking, "REGISTRY", {}))


def _is_course(value):
    module = value.__name__ if type(value).__name__ == "module" else getattr(value, "__module__", None)
    return isinstance(module, str) and (module == "course_utils" or module.startswith("course_utils."))


def _collect(user_ns):
    out = {}
    for name, module in list(sys.modules.items()):
        if (name == "course_utils" or name.startswith("course_utils.")) and module is not None:
            _watch_module(out, name, module, deep=True)
    checking = sys.modules.get("course_utils.checking")
    if checking is not None:
        for const in _CHECKING_CONSTANTS:
            out[f"course_utils.checking.{const}"] = getattr(checking, const, None)
        for eid, fn in _registry().items():
            out[f"REGISTRY[{eid}]"] = fn
    for name in ("numpy", "numpy.linalg", "torch", "torch.nn.functional"):
        module = sys.modules.get(name)
        if module is not None:
            _watch_module(out, name, module, deep=False)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(getattr(torch, "Tensor", None), type):
        for key, value in list(vars(torch.Tensor).items()):
            out[f"torch.Tensor.{key}"] = value
    for key, value in list(vars(builtins).items()):
        if callable(value) and key != "_":
            out[f"builtins.{key}"] = value
    out["sys.setprofile"] = sys.setprofile
    out["sys.getprofile"] = sys.getprofile
    out["sys.modules[course_utils.checking]"] = sys.modules.get("course_utils.checking")
    _watch_ipython(out)
    import os

    out["env.COURSE_GRADING"] = os.environ.get("COURSE_GRADING")
    for name in _USER_NAMES:
        out[f"notebook name {name}"] = user_ns.get(name, _MISSING)
    return out


def _watch_module(out, name, module, deep):
    try:
        items = list(vars(module).items())
    except TypeError:
        return
    for key, value in items:
        if not callable(value) or (not deep and key.startswith("_")):
            continue
        prefix = f"{name}.{key}"
        out[prefix] = value
        if deep:
            _watch_function(out, prefix, value)
            if isinstance(value, type) and getattr(value, "__module__", "") == name:
                for attr, member in list(vars(value).items()):
                    out[f"{prefix}.{attr}"] = member
                    _watch_function(out, f"{prefix}.{attr}", getattr(member, "__func__", member))


def _watch_function(out, prefix, fn):
    code = getattr(fn, "__code__", None)
    if code is None:
        return
    out[f"{prefix}:code"] = code
    out[f"{prefix}:defaults"] = getattr(fn, "__defaults__", None)
    out[f"{prefix}:kwdefaults"] = getattr(fn, "__kwdefaults__", None)
    for index, cell in enumerate(getattr(fn, "__closure__", None) or ()):
        try:
            content = cell.cell_contents
        except ValueError:
            continue
        out[f"{prefix}:closure{index}"] = content
        inner = getattr(content, "__code__", None)
        if inner is not None:
            out[f"{prefix}:closure{index}:code"] = inner


def _watch_ipython(out):
    display = sys.modules.get("IPython.display")
    functions = sys.modules.get("IPython.core.display_functions")
    for label, module in (("IPython.display", display), ("IPython.core.display_functions", functions)):
        if module is not None:
            out[f"{label}.publish_display_data"] = getattr(module, "publish_display_data", None)
    shell_module = sys.modules.get("IPython")
    shell = shell_module.get_ipython() if shell_module is not None else None
    if shell is not None:
        publisher = getattr(shell, "display_pub", None)
        out["shell.display_pub"] = publisher
        out["shell.display_pub.publish"] = getattr(type(publisher), "publish", None)
        out["shell.display_pub.publish (instance)"] = "publish" in getattr(publisher, "__dict__", {})
        session = getattr(publisher, "session", None)
        if session is not None:
            out["shell.display_pub.session.send"] = getattr(type(session), "send", None)
            out["shell.display_pub.session.send (instance)"] = "send" in getattr(session, "__dict__", {})
