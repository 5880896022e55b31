"""A check whose learner code lives in another process: the two halves of `Checker.call`.

The grader side holds `LearnerRef`s (names, not objects) and a `RemoteChannel`; each `c.call` becomes
one request of plain data (course_utils/plain.py). The worker side answers it with `serve_call`, which
runs `invoke` on the learner's object of that name and returns its report as plain data. Nothing else
crosses: the check body, the references, the comparison, the hints and the points stay in the grader.
"""

import importlib

from course_utils.invoke import invoke
from course_utils.plain import TooLarge, decode, encode

_TEXT_LIMIT = 300


class LearnerRef:
    """Stands for the learner's function or class `name`, which lives in the worker."""

    def __init__(self, name):
        self.__name__ = name

    def __call__(self, *args, **kwargs):
        raise TypeError(f"{self.__name__} lives in the learner's process: reach it through Checker.call")

    def __repr__(self):
        return f"<learner's {self.__name__}>"


def via_name(via):
    """'module:qualname' of a check's harness; only module-level functions of course_utils qualify."""
    if via is None:
        return None
    module, qualname = getattr(via, "__module__", ""), getattr(via, "__qualname__", "")
    if not module.startswith("course_utils.") or "<" in qualname or "." in qualname:
        raise ValueError(f"a harness passed as via= must be a module-level function of course_utils, not {via!r}")
    return f"{module}:{qualname}"


def resolve_via(name):
    if name is None:
        return None
    module, _, qualname = name.partition(":")
    if not module.startswith("course_utils."):
        raise ValueError(f"harness {name!r} is not part of course_utils")
    return getattr(importlib.import_module(module), qualname)


class RemoteChannel:
    """A Checker channel over `transport(request bytes) -> reply bytes` (a pipe to the worker, or a loopback)."""

    def __init__(self, transport, limit=None):
        self.transport = transport
        self.limit = limit
        self.calls = 0
        self.timeouts = 0

    def __call__(self, fn, args, kwargs, *, via=None, numpy_only=True, uses=()):
        if not isinstance(fn, LearnerRef):
            raise TypeError(f"a remote check calls LearnerRefs, not {type(fn).__name__}")
        request = {"op": "call", "name": fn.__name__, "args": tuple(args), "kwargs": dict(kwargs),
                   "via": via_name(via), "numpy_only": bool(numpy_only), "uses": list(uses)}
        self.calls += 1
        reply = self.transport(encode(request))
        report = sanitize_report(decode(reply) if self.limit is None else decode(reply, self.limit))
        self.timeouts += (report.get("error") or {}).get("type") == "Timeout"
        return report


def serve_call(namespace, request_bytes, limit=None):
    """The worker's half: run one learner call from `namespace` and return its report as bytes."""
    return serve_request(namespace, decode(request_bytes), limit)


def serve_request(namespace, request, limit=None):
    """Run the learner call a decoded request asks for; its report, encoded."""
    fn = namespace.get(request["name"])
    if fn is None:
        report = {"error": {"type": "Missing", "message": request["name"], "not_implemented": False, "line": None}}
    else:
        report = invoke(fn, request["args"], request["kwargs"], via=resolve_via(request["via"]),
                        numpy_only=request["numpy_only"], uses=tuple(request["uses"]))
    try:
        return encode(report) if limit is None else encode(report, limit)
    except TooLarge as err:
        return encode({"error": {"type": "TooLarge", "message": f"your result was too large to check ({err})",
                                 "not_implemented": False, "line": None}})


def sanitize_report(report):
    """Keep only what a report may hold, with the types it must have; anything else is dropped."""
    if not isinstance(report, dict):
        raise ValueError("the worker's reply is not a report")
    clean = {"libraries": [], "overflow": None, "mutated": [], "rngs": []}
    error = report.get("error")
    if isinstance(error, dict):
        line = error.get("line")
        clean["error"] = {"type": _text(error.get("type"), 60) or "Exception", "message": _text(error.get("message")),
                          "not_implemented": error.get("not_implemented") is True,
                          "line": line if type(line) is int else None}
    else:
        clean["value"] = report.get("value")
    clean["libraries"] = [_text(x, 80) for x in report.get("libraries") or [] if isinstance(x, str)][:5]
    clean["overflow"] = _text(report.get("overflow")) or None
    clean["mutated"] = [_text(x, 80) for x in report.get("mutated") or [] if isinstance(x, str)][:5]
    clean["rngs"] = [s if isinstance(s, dict) else None for s in report.get("rngs") or []]
    return clean


def _text(value, limit=_TEXT_LIMIT):
    if not isinstance(value, str):
        return ""
    value = "".join(ch for ch in value if ch.isprintable() or ch == " ")
    return value if len(value) <= limit else value[:limit] + " …"


def loopback(namespace):
    """A RemoteChannel that serves from `namespace` in this process, through the same encoding (for tests)."""
    return RemoteChannel(lambda data: serve_call(namespace, data))
