"""The worker inside the sandbox: it runs a submission's cells and answers the grader's learner calls.

It is the only process in which student code runs when grading. It talks to the grader over its
stdin and stdout pipes, in frames of plain data (course_utils/plain.py: JSON, no pickle):

    grader -> worker   {"op": "run", "code": ..., "filename": ..., "timeout": s}    run one cell
                       {"op": "call", ...}                                        one learner call (remote.py)
                       {"op": "bye"}
    worker -> grader   {"op": "ready"} once, then one reply per request

Why a worker over pipes rather than a Jupyter kernel: the grader needs none of Jupyter's messaging,
and a kernel's ZeroMQ sockets and connection file are exactly the channel other processes could
reach. Pipes belong to this process alone, nothing has to listen on a socket, and there is no
display channel whose messages could be forged: the worker reports only whether a cell ran and what
a learner call returned. Everything a cell prints is counted and thrown away.
"""

import builtins
import os
import signal
import struct
import sys
import traceback

from course_utils.plain import decode, encode

MAX_FRAME = 256 * 2**20
REPLY_LIMIT = 32 * 2**20  # a learner result larger than this is reported as too large, not sent
_TEXT = 300


class CellTimeout(BaseException):
    """Raised in the worker when a cell or a call runs past its time (a BaseException, so `except
    Exception` in student code does not swallow it)."""


class OutputLimit(BaseException):
    """Raised in the worker when the cells have printed more than the grader accepts."""


class _Sink:
    """sys.stdout and sys.stderr for student code: counts what is written, keeps nothing."""

    def __init__(self, limit):
        self.bytes = 0
        self.limit = limit

    def write(self, text):
        size = len(text) if isinstance(text, (str, bytes)) else 0
        self.bytes += size
        if self.bytes > self.limit:
            raise OutputLimit()
        return size

    def flush(self):
        pass

    def isatty(self):
        return False

    def fileno(self):
        raise OSError("no file descriptor")


def read_frame(stream, limit=MAX_FRAME):
    header = _read_exactly(stream, 4)
    if header is None:
        return None
    (size,) = struct.unpack(">I", header)
    if size > limit:
        raise ValueError(f"a frame of {size} bytes is larger than the {limit} allowed")
    return _read_exactly(stream, size)


def _read_exactly(stream, size):
    chunks, remaining = [], size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def write_frame(stream, payload):
    stream.write(struct.pack(">I", len(payload)) + payload)
    stream.flush()


def _alarm(seconds):
    signal.setitimer(signal.ITIMER_REAL, max(float(seconds or 0), 0.0))


def _on_alarm(signum, frame):
    raise CellTimeout()


def _error(err):
    line = None
    for frame in traceback.extract_tb(err.__traceback__):
        if frame.filename.startswith("<cell"):
            line = frame.lineno
    text = str(err)
    return {"type": type(err).__name__, "message": text[:_TEXT], "line": line, "not_implemented": False}


def run_cell(namespace, request):
    _alarm(request.get("timeout"))
    try:
        exec(compile(request["code"], request.get("filename") or "<cell>", "exec"), namespace)
        return {"ok": True}
    except CellTimeout:
        return {"ok": False, "error": {"type": "Timeout", "message": "", "line": None, "not_implemented": False}}
    except BaseException as err:  # SystemExit and KeyboardInterrupt are a cell's failures too
        return {"ok": False, "error": _error(err)}
    finally:
        _alarm(0)


def serve(namespace, request, timeout):
    from course_utils.remote import serve_request

    _alarm(timeout)
    try:
        return serve_request(namespace, request, REPLY_LIMIT)
    except CellTimeout:
        return encode({"error": {"type": "Timeout", "message": "", "line": None, "not_implemented": False}})
    except BaseException as err:
        return encode({"error": _error(err)})
    finally:
        _alarm(0)


def _seed_matplotlib_cache():
    """Copy the grader's prebuilt font cache into this sandbox's writable config folder, if it has one."""
    import shutil

    cache, target = os.environ.get("COURSE_MPL_CACHE"), os.environ.get("MPLCONFIGDIR")
    if cache and target and os.path.isdir(cache):
        try:
            shutil.copytree(cache, target, dirs_exist_ok=True)
        except OSError:
            pass


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    call_timeout = float(argv[argv.index("--call-timeout") + 1]) if "--call-timeout" in argv else 60.0
    output_limit = int(argv[argv.index("--max-output") + 1]) if "--max-output" in argv else 10 * 2**20
    requests = os.fdopen(os.dup(0), "rb", buffering=0)
    replies = os.fdopen(os.dup(1), "wb", buffering=0)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)  # C-level writes to stdout go nowhere; stderr stays for crash reports
    sink = _Sink(output_limit)
    sys.stdout = sys.stderr = sink
    sys.stdin = open(os.devnull)
    signal.signal(signal.SIGALRM, _on_alarm)
    _seed_matplotlib_cache()
    import numpy  # noqa: F401  (warm: the first cell should not pay for it)

    namespace = {"__name__": "__main__", "__builtins__": builtins}
    write_frame(replies, encode({"op": "ready", "pid": os.getpid()}))
    while True:
        frame = read_frame(requests)
        if frame is None:
            return
        request = decode(frame)
        op = request.get("op") if isinstance(request, dict) else None
        if op == "run":
            reply = encode({**run_cell(namespace, request), "output": sink.bytes})
        elif op == "call":
            reply = serve(namespace, request, call_timeout)
        elif op == "bye":
            return
        else:
            reply = encode({"ok": False, "error": {"type": "Protocol", "message": f"unknown op {op!r}"}})
        write_frame(replies, reply)


if __name__ == "__main__":
    main()
