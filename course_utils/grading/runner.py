"""Run a list of code steps in one isolated kernel, with timeouts, caps and clean shutdown.

This is the engine under `course grade`, `course status` and `course release --check`. A step is
one execute request (usually one notebook cell). Each run gets:

* its own kernel process, started through the sandbox kernelspec (memory / file-size caps, dies
  with the grader), in its own session and working directory;
* a per-cell timeout: the cell is interrupted (SIGINT) and the run goes on with the next cell; a
  cell that ignores the interrupt ends the run, as does the per-run (per-submission) timeout;
* an output cap: output bytes are counted as messages arrive and nothing is kept except check
  results (RESULT_MIME) and error names, so a flood of output costs no memory; past the cap the
  run stops;
* death detection (exit code or signal), and a shutdown that kills the kernel's whole process
  group and session, plus anything it started, whatever happened.

Several runs go in parallel in one asyncio event loop (`run_many`); a run never raises: whatever
goes wrong ends up in its RunOutcome.
"""

import asyncio
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from course_utils.checking import GRADING_ENV, RESULT_MIME

# Why a run stopped early (RunOutcome.stop).
TIMEOUT = "timeout"
DIED = "kernel died"
OUTPUT = "output too large"
GRADER_ERROR = "grader error"

_OUTPUT_TYPES = ("stream", "display_data", "update_display_data", "execute_result", "error")
_RESULT_STATUSES = ("passed", "failed", "not implemented")
_MESSAGE_LIMIT = 2000
# Environment variables that look like credentials are not passed to a student's kernel.
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|CREDENTIAL|API_?KEY|ACCESS_?KEY|PRIVATE|AUTH", re.I)


@dataclass
class Limits:
    cell_timeout: float = 120.0       # seconds per step; past it the cell is interrupted
    total_timeout: float = 600.0      # seconds for the whole run, kernel start included
    memory_mb: int = 4096             # address-space cap of the kernel (0 or None: none)
    max_output_bytes: int = 10 * 2**20
    file_size_mb: int = 1024          # largest file the kernel may write (0 or None: no cap)
    startup_timeout: float = 60.0
    interrupt_grace: float = 5.0      # seconds an interrupted cell has to stop
    tmp_mb: int = 256                 # size of the sandbox's private /tmp
    max_processes: int = 128          # processes and threads per sandbox (where a pids cgroup exists)

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class Step:
    code: str
    kind: str = "cell"                # cell | solution | check | hidden | baseline
    exercise: str = None
    cell_index: int = None
    collect: bool = False             # keep the check results this step publishes
    user_expressions: dict = None
    silent: bool = False

    def describe(self):
        if self.kind == "solution":
            return f"your solution cell for {self.exercise}"
        if self.kind == "check":
            return f"the check cell of {self.exercise}"
        if self.kind == "hidden":
            return f"the hidden tests of {self.exercise}"
        if self.cell_index is not None:
            return f"cell {self.cell_index + 1} of the notebook"
        return "a grader step"


@dataclass
class StepOutcome:
    step: Step
    status: str = "not run"           # ok | error | timeout | stopped (the run ended during it) | not run
    ename: str = ""
    evalue: str = ""
    results: list = field(default_factory=list)   # RESULT_MIME payloads, if step.collect
    foreign_results: int = 0          # RESULT_MIME outputs seen where they do not count
    expressions: dict = field(default_factory=dict)  # user expression -> its text/plain value, or None
    seconds: float = 0.0


@dataclass
class RunOutcome:
    steps: list
    stop: str = None                  # None (ran to the end) or one of the constants above
    stop_detail: str = ""
    stopped_at: int = None            # index of the step during or after which the run stopped
    seconds: float = 0.0
    output_bytes: int = 0

    def step_outcomes(self, kind=None, exercise=None):
        return [s for s in self.steps
                if (kind is None or s.step.kind == kind) and (exercise is None or s.step.exercise == exercise)]


def short(text, limit=_MESSAGE_LIMIT):
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class KernelSession:
    """One sandboxed kernel: `await start()`, `await execute(...)` per step, and always `await close()`."""

    def __init__(self, limits, kernel_dirs, cwd=None, env=None, scrub_env=False):
        self.limits = limits
        self.kernel_dirs = kernel_dirs
        self.cwd = cwd
        self.env = env or {}
        self.scrub_env = scrub_env
        self.km = self.kc = None
        self.output_bytes = 0
        self.tmp = None
        self.start_ticks = None

    async def start(self):
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import AsyncKernelManager

        from course_utils.grading.sandbox import KERNEL_NAME

        self.tmp = tempfile.mkdtemp(prefix="course-kernel-")
        cwd = self.cwd or os.path.join(self.tmp, "work")
        os.makedirs(cwd, exist_ok=True)
        base = {k: v for k, v in os.environ.items() if not (self.scrub_env and _SECRET_NAME.search(k))}
        env = {**base, **self.env}
        self.km = AsyncKernelManager(kernel_name=KERNEL_NAME,
                                     kernel_spec_manager=KernelSpecManager(kernel_dirs=[self.kernel_dirs]),
                                     transport="ipc", connection_file=os.path.join(self.tmp, "kernel.json"))
        await self.km.start_kernel(cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        self.start_ticks = _proc_table().get(self.pid, (None,) * 4)[3]
        self.kc = self.km.client()
        self.kc.start_channels()
        await self.kc.wait_for_ready(timeout=self.limits.startup_timeout)

    @property
    def pid(self):
        return getattr(getattr(self.km, "provisioner", None), "pid", None)

    async def close(self):
        """Shut the kernel down and SIGKILL whatever is left of its family, even when cancelled."""
        family = _process_family(self.pid, self.start_ticks)
        try:
            if self.kc is not None:
                self.kc.stop_channels()
            if self.km is not None and self.km.has_kernel:
                await asyncio.wait_for(self.km.shutdown_kernel(now=True), timeout=15)
        except Exception:
            pass  # the kill below is the backstop
        finally:
            family.update(_process_family(self.pid, self.start_ticks))
            for pid, ticks in family.items():
                _kill(pid, ticks)
            if self.tmp:
                shutil.rmtree(self.tmp, ignore_errors=True)

    def death_detail(self):
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        code = process.poll() if process is not None else None
        if code is None:
            return "the kernel stopped responding"
        if code < 0:
            name = _signal_name(-code)
            why = {"SIGSEGV": " (segmentation fault)", "SIGKILL": " (killed; out of memory?)",
                   "SIGXFSZ": " (wrote a file larger than the cap)", "SIGABRT": " (aborted)",
                   "SIGBUS": " (bus error)"}.get(name, "")
            return f"the kernel was killed by {name}{why}"
        return f"the kernel exited with code {code} (sys.exit inside a thread, os._exit, exit() or quit()?)"

    async def execute(self, outcome, run_deadline):
        """Run one step; fill `outcome`; return (stop reason, detail) to end the run, or None."""
        step, limits = outcome.step, self.limits
        started = time.monotonic()
        msg_id = self.kc.execute(step.code, silent=step.silent, store_history=not step.silent,
                                 user_expressions=step.user_expressions or {}, allow_stdin=False,
                                 stop_on_error=False)
        deadline = min(started + limits.cell_timeout, run_deadline)
        interrupted = False
        idle = False
        try:
            while not idle:
                now = time.monotonic()
                if now >= deadline:
                    if now >= run_deadline:
                        return TIMEOUT, (f"the whole submission ran longer than {limits.total_timeout:g} s "
                                         f"(stopped in {step.describe()})")
                    if interrupted:
                        return TIMEOUT, (f"{step.describe()} ran longer than {limits.cell_timeout:g} s and "
                                         "did not stop when interrupted")
                    interrupted = True
                    outcome.status = "timeout"
                    await self.km.interrupt_kernel()
                    deadline = min(time.monotonic() + limits.interrupt_grace, run_deadline)
                    continue
                try:
                    msg = await self.kc.get_iopub_msg(timeout=min(deadline - now, 0.5))
                except Exception:  # queue.Empty: nothing yet
                    if not await self.km.is_alive():
                        return DIED, f"{self.death_detail()} while running {step.describe()}"
                    continue
                stop = self._on_iopub(msg, msg_id, outcome)
                if stop:
                    return stop
                if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                        and msg["content"].get("execution_state") == "idle"):
                    idle = True
            reply = await self._reply(msg_id, max(deadline, time.monotonic() + 5))
            if reply is None:
                if not await self.km.is_alive():
                    return DIED, f"{self.death_detail()} while running {step.describe()}"
                return TIMEOUT, f"no reply from the kernel for {step.describe()}"
            content = reply["content"]
            if interrupted:
                outcome.status = "timeout"
                outcome.ename = "Timeout"
                outcome.evalue = f"ran longer than {limits.cell_timeout:g} s and was interrupted"
            elif content.get("status") == "ok":
                outcome.status = "ok"
            else:
                outcome.status = "error"
                outcome.ename = short(content.get("ename", "Error"), 200)
                outcome.evalue = short(content.get("evalue", ""))
            outcome.expressions = _expressions(content.get("user_expressions") or {})
            if step.user_expressions and outcome.status != "ok":
                # a failed execute skips user expressions: ask again, on their own
                again = Step("", kind="grader", user_expressions=step.user_expressions, silent=True)
                again_outcome = StepOutcome(again)
                stop = await self.execute(again_outcome, run_deadline)
                if stop:
                    return stop
                outcome.expressions = again_outcome.expressions
            return None
        finally:
            outcome.seconds = time.monotonic() - started

    def _on_iopub(self, msg, msg_id, outcome):
        kind = msg["msg_type"]
        if kind not in _OUTPUT_TYPES:
            return None
        content = msg["content"]
        self.output_bytes += _size(content)
        if self.output_bytes > self.limits.max_output_bytes:
            return OUTPUT, (f"more than {self.limits.max_output_bytes / 2**20:g} MiB of output "
                            f"(stopped in {outcome.step.describe()})")
        data = content.get("data") if isinstance(content, dict) else None
        if isinstance(data, dict) and RESULT_MIME in data:
            result = _result(data[RESULT_MIME])
            if result is not None and outcome.step.collect and msg["parent_header"].get("msg_id") == msg_id:
                outcome.results.append(result)
            else:
                outcome.foreign_results += 1
        return None

    async def _reply(self, msg_id, deadline):
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                reply = await self.kc.get_shell_msg(timeout=min(remaining, 0.5))
            except Exception:
                if not await self.km.is_alive():
                    return None
                continue
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply


async def run_steps(steps, limits, kernel_dirs, *, cwd=None, env=None, on_step=None, scrub_env=False):
    """Run `steps` in one fresh kernel. `on_step(step_outcome, run_outcome)` may return (stop, detail)."""
    outcome = RunOutcome([StepOutcome(s) for s in steps])
    started = time.monotonic()
    run_deadline = started + limits.total_timeout
    session = KernelSession(limits, kernel_dirs, cwd=cwd, env=env, scrub_env=scrub_env)
    try:
        try:
            await asyncio.wait_for(session.start(), timeout=limits.startup_timeout)
        except Exception as err:
            outcome.stop, outcome.stop_detail = GRADER_ERROR, f"the kernel did not start: {type(err).__name__}: {err}"
            return outcome
        for index, step_outcome in enumerate(outcome.steps):
            stop = await session.execute(step_outcome, run_deadline)
            if stop is not None:
                step_outcome.status = "stopped"
            elif on_step is not None:
                stop = on_step(step_outcome, outcome)
            if stop:
                outcome.stop, outcome.stop_detail = stop
                outcome.stopped_at = index
                break
    except asyncio.CancelledError:
        raise
    except Exception as err:  # a bug here must not take the other submissions down
        outcome.stop = GRADER_ERROR
        outcome.stop_detail = f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=5)}"
    finally:
        outcome.output_bytes = session.output_bytes
        outcome.seconds = time.monotonic() - started
        await session.close()
    return outcome


def default_workers():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def kernel_env(workers, grading=True, extra=None):
    """Environment for the kernels: grading mode on, BLAS/torch threads split between parallel kernels."""
    env = {GRADING_ENV: "1" if grading else "0"}
    threads = max(1, default_workers() // max(1, workers))
    if workers > 1:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            if name not in os.environ:
                env[name] = str(threads)
    env.update(extra or {})
    return env


async def run_pool(jobs, limits, *, workers, on_done=None, env=None, scrub_env=False):
    """Run jobs [(steps, {"cwd":..., "on_step":..., "env":...}), ...], `workers` at a time, in one event loop.

    `on_done(index, outcome)` is called as each finishes. Returns the outcomes in job order.
    Cancelling (Ctrl-C) shuts every running kernel down before it propagates.
    """
    from course_utils.grading.sandbox import write_kernelspec

    outcomes = [None] * len(jobs)
    queue = asyncio.Queue()
    for index in range(len(jobs)):
        queue.put_nowait(index)
    with tempfile.TemporaryDirectory(prefix="course-kernelspec-") as spec_root:
        kernel_dirs = write_kernelspec(spec_root, limits.memory_mb, limits.file_size_mb)

        async def worker():
            while True:
                try:
                    index = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                steps, options = jobs[index]
                job_env = {**(env or {}), **options.get("env", {})}
                outcome = await run_steps(steps, limits, kernel_dirs, cwd=options.get("cwd"), env=job_env,
                                          on_step=options.get("on_step"), scrub_env=scrub_env)
                outcomes[index] = outcome
                if on_done is not None:
                    on_done(index, outcome)

        tasks = [asyncio.ensure_future(worker()) for _ in range(max(1, min(workers, len(jobs))))]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            # Cancel what still runs (once: a second cancel would interrupt a kernel's shutdown) and
            # let every worker finish closing its kernel before the error goes on.
            for task in tasks:
                if not task.done() and not getattr(task, "cancelling", lambda: 0)():
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
    return outcomes


def run_many(jobs, limits, *, workers=None, progress=False, desc="running", env=None, grading=True):
    """Blocking helper: run the jobs in parallel (a tqdm bar if `progress`), return their outcomes."""
    workers = workers or default_workers()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), desc=desc, unit="notebook")

    def done(index, outcome):
        if bar is not None:
            bar.update(1)

    try:
        return asyncio.run(run_pool(jobs, limits, workers=workers, on_done=done,
                                    env={**kernel_env(workers, grading=grading), **(env or {})}))
    finally:
        if bar is not None:
            bar.close()


def notebook_steps(path_or_notebook):
    """One step per code cell, as written (for `course status` and `course release --check`)."""
    import nbformat

    from course_utils.grading.markers import cell_source, course_meta

    notebook = path_or_notebook
    if isinstance(path_or_notebook, (str, Path)):
        notebook = nbformat.read(path_or_notebook, as_version=4)
    steps = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        exercise, role = course_meta(cell)
        kind = role if role in ("solution", "check") else "cell"
        steps.append(Step(cell_source(cell), kind=kind, exercise=exercise, cell_index=index, collect=True))
    return steps


# -- helpers -----------------------------------------------------------------------------------


def _size(content):
    if not isinstance(content, dict):
        return len(str(content))
    total = 0
    for key in ("text", "evalue", "ename"):
        value = content.get(key)
        if isinstance(value, str):
            total += len(value)
    for line in content.get("traceback") or ():
        total += len(str(line))
    data = content.get("data")
    if isinstance(data, dict):
        for value in data.values():
            total += len(value) if isinstance(value, str) else len(str(value))
    return total


def _result(payload):
    """A RESULT_MIME payload, checked for shape, or None if it is not one the checks would publish."""
    if not isinstance(payload, dict):
        return None
    exercise, status = payload.get("exercise"), payload.get("status")
    points, max_points = payload.get("points"), payload.get("max_points")
    if not isinstance(exercise, str) or status not in _RESULT_STATUSES:
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (points, max_points)):
        return None
    result = {"exercise": exercise, "status": status, "points": float(points), "max_points": float(max_points)}
    for key in ("message", "hint", "device"):
        result[key] = short(payload.get(key) or "")
    for key in ("cases", "max_error"):
        value = payload.get(key)
        result[key] = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    return result


def _expressions(raw):
    values = {}
    for name, value in raw.items():
        if isinstance(value, dict) and value.get("status") == "ok":
            values[name] = (value.get("data") or {}).get("text/plain")
        else:
            values[name] = None
    return values


def _signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _proc_table():
    """pid -> (ppid, process group, session, start time in clock ticks), from Linux /proc ({} elsewhere)."""
    table = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if entry.isdigit():
            row = _proc_stat(int(entry))
            if row is not None:
                table[int(entry)] = row
    return table


def _proc_stat(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
        fields = stat[stat.rfind(")") + 2:].split()
        return int(fields[1]), int(fields[2]), int(fields[3]), int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def _process_family(root, root_ticks):
    """{pid: start time} of the kernel, its descendants, and every process in its group or session.

    The kernel leads its own session (jupyter_client starts it with start_new_session), so anything
    it starts stays in that session unless it calls setsid() itself. A pid is only trusted while its
    start time is unchanged, so a recycled pid is never taken for ours.
    """
    if not root or root_ticks is None:
        return {}
    table = _proc_table()
    root_row = table.get(root)
    if root_row is not None and root_row[3] != root_ticks:
        return {}  # the kernel is gone and its pid belongs to someone else now
    family = {pid: row[3] for pid, row in table.items() if row[1] == root or row[2] == root}
    children = {}
    for pid, row in table.items():
        children.setdefault(row[0], []).append(pid)
    stack = [root] if root_row is not None else []
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in family:
                family[child] = table[child][3]
                stack.append(child)
    if root_row is not None:
        family[root] = root_ticks
    family.pop(os.getpid(), None)
    return family


def _kill(pid, ticks):
    row = _proc_stat(pid)
    if row is None or row[3] != ticks:
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
