"""The grader's end of one sandboxed worker: start it, send it cells and learner calls, kill it.

Frames cross two pipes (worker.py). A reader thread turns the worker's stdout into a queue of frames,
so every wait has a deadline; another keeps the last bytes of its stderr, which only the grader
reads (to tell a crash from a memory failure), never a student.
"""

import collections
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time

from course_utils.grading import isolation
from course_utils.grading.worker import read_frame, write_frame
from course_utils.plain import decode, encode

GRACE = 5.0  # seconds past a cell's own timer before the grader gives up on the worker
REPLY_LIMIT = 64 * 2**20


class WorkerError(Exception):
    """The worker stopped answering; `.kind` says how (died, timeout, output, protocol, start)."""

    def __init__(self, kind, detail):
        super().__init__(detail)
        self.kind, self.detail = kind, detail


class WorkerSession:
    def __init__(self, limits, *, sandboxed=True):
        self.limits = limits
        self.sandboxed = sandboxed
        self.proc = None
        self.cap = None
        self.output_bytes = 0
        self._frames = queue.Queue()
        self._stderr = collections.deque(maxlen=64)
        self._tmp = None

    # -- life cycle -----------------------------------------------------------------------
    def start(self):
        command = [sys.executable, "-I", "-m", "course_utils.grading.worker",
                   "--call-timeout", str(self.limits.cell_timeout),
                   "--max-output", str(int(self.limits.max_output_bytes))]
        env = isolation.sandbox_env()
        if self.sandboxed:
            command = isolation.sandbox_command(command, tmp_bytes=self.limits.tmp_mb * 2**20)
            env = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="course-grade-")
        self.cap = isolation.ProcessCap(self.limits.max_processes)
        try:
            self.proc = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                cwd=self._tmp.name, start_new_session=True,
                preexec_fn=isolation.child_setup(self.limits.memory_mb, self.limits.file_size_mb, self.cap))
        except OSError as err:
            self.close()
            raise WorkerError("start", f"could not start the worker: {err}") from None
        threading.Thread(target=self._read_frames, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        try:
            hello = self._reply(self.limits.startup_timeout)
        except WorkerError as err:
            self.close()
            raise WorkerError("start", f"the worker did not start ({err.kind}: {err.detail})") from None
        if not isinstance(hello, dict) or hello.get("op") != "ready":
            self.close()
            raise WorkerError("start", "the worker did not say it was ready")
        return self

    def close(self):
        proc, self.proc = self.proc, None
        if proc is not None:
            try:
                write_frame(proc.stdin, encode({"op": "bye"}))
            except (OSError, ValueError):
                pass
            _kill_session(proc)
        if self.cap is not None:
            self.cap.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
        return False

    # -- requests -------------------------------------------------------------------------
    def run_cell(self, code, filename, timeout):
        """Run one cell; its reply {"ok": bool, "error": {...}}. WorkerError when the worker fails."""
        self._send(encode({"op": "run", "code": code, "filename": filename, "timeout": timeout}))
        reply = self._reply(timeout + GRACE)
        if not isinstance(reply, dict):
            raise WorkerError("protocol", "the worker's reply to a cell is not a dict")
        output = reply.get("output")
        if type(output) is int:
            self.output_bytes = max(self.output_bytes, output)
            if output > self.limits.max_output_bytes:
                raise WorkerError("output", f"the cells printed {output} bytes, more than the "
                                            f"{self.limits.max_output_bytes} allowed")
        return reply

    def transport(self, request_bytes):
        """A RemoteChannel's transport: one learner call, its reply bytes."""
        self._send(request_bytes)
        return self._reply_bytes(self.limits.cell_timeout + GRACE)

    def _send(self, payload):
        if self.proc is None:
            raise WorkerError("died", "the worker is not running")
        try:
            write_frame(self.proc.stdin, payload)
        except (BrokenPipeError, OSError, ValueError):
            raise WorkerError("died", self.death_detail()) from None

    def _reply(self, timeout):
        try:
            return decode(self._reply_bytes(timeout), REPLY_LIMIT)
        except (ValueError, TypeError) as err:
            raise WorkerError("protocol", f"unreadable reply from the worker ({err})") from None

    def _reply_bytes(self, timeout):
        try:
            frame = self._frames.get(timeout=max(timeout, 0.01))
        except queue.Empty:
            raise WorkerError("timeout", f"no answer within {timeout:.0f} s") from None
        if isinstance(frame, Exception):
            raise WorkerError("protocol", str(frame))
        if frame is None:
            raise WorkerError("died", self.death_detail())
        return frame

    def _read_frames(self):
        stream = self.proc.stdout
        try:
            while True:
                frame = read_frame(stream, REPLY_LIMIT)
                self._frames.put(frame)
                if frame is None:
                    return
        except Exception as err:  # an oversized or broken frame ends the conversation
            self._frames.put(err)

    def _read_stderr(self):
        stream = self.proc.stderr
        while True:
            chunk = stream.read1(4096) if hasattr(stream, "read1") else stream.read(4096)
            if not chunk:
                return
            self._stderr.append(chunk)

    # -- what happened --------------------------------------------------------------------
    def stderr_tail(self):
        return b"".join(self._stderr).decode("utf-8", "replace")[-4000:]

    def death_detail(self):
        """How the worker ended, from its exit status and its last words (for the grader's wording only)."""
        proc = self.proc
        code = None
        if proc is not None:
            try:
                code = proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                code = None
        tail = self.stderr_tail()
        if any(sign in tail for sign in ("MemoryError", "Cannot allocate memory", "std::bad_alloc",
                                         "out of memory")):
            return "memory: it ran out of memory under the grader's memory cap"
        if code is None:
            return "it stopped answering"
        if code < 0:
            return f"it was killed by {_signal_name(-code)}"
        if code > 128 and self.sandboxed:  # bubblewrap reports the sandboxed process's signal as 128 + n
            return f"it was killed by {_signal_name(code - 128)}"
        return f"it exited with status {code}"


def _signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _kill_session(proc):
    """Kill the worker (and with bubblewrap, its whole PID namespace) and anything left in its session."""
    import os

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        try:
            stream.close()
        except OSError:
            pass
    _kill_leftovers(proc.pid)


def _kill_leftovers(session_id):
    """Without a PID namespace, processes that left the group but not the session still die here."""
    from course_utils.grading.runner import _kill, _proc_table

    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        left = [(pid, row[3]) for pid, row in _proc_table().items() if row[2] == session_id]
        if not left:
            return
        for pid, ticks in left:
            _kill(pid, ticks)
        time.sleep(0.05)
