"""The OS sandbox around each graded submission: bubblewrap, resource limits, and a clean kill.

`sandbox_command` wraps the worker's command line in bubblewrap (Debian package `bubblewrap`):

* new PID, mount, IPC, UTS, network, user and cgroup namespaces (`--unshare-all`), uid/gid 65534
  (nobody), no capabilities, a new session (no terminal to inject keystrokes into);
* a filesystem that holds only the Python installation, the environment's site-packages and the
  course package, all read-only, plus /usr; a private /tmp of limited size (the only writable
  place) and fresh /proc and /dev. The source notebook, the submissions, the output folder, the
  repository, home directories, other workers' files and the network do not exist in there;
* `--die-with-parent`: the sandbox dies with the grader, and killing bubblewrap kills the PID
  namespace, so no process of a submission outlives its run.

Limits come from two places: rlimits set before bubblewrap starts (address space, file size, no
core dumps), and, where the machine offers a writable pids cgroup, a cap on the number of processes
and threads (`ProcessCap`). Without bubblewrap (`--unsafe-no-sandbox`), the worker runs as a plain
child process with the same rlimits and its own session.
"""

import os
import shutil
import signal
import site
import sys
import uuid
from pathlib import Path

SANDBOX_UID = 65534
TMP_BYTES = 256 * 2**20
_ENV_PASSED = ("LANG", "LC_ALL")


class SandboxUnavailable(RuntimeError):
    pass


def bwrap_path():
    return shutil.which("bwrap")


def read_only_paths():
    """The folders the worker needs to run Python and import the course: nothing more."""
    import course_utils

    package = Path(course_utils.__file__).resolve().parent
    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), package}
    for entry in site.getsitepackages():
        paths.add(Path(entry).resolve())
    # A virtual environment's python is a link to the base interpreter; bind what it points to as well.
    paths.add(Path(sys.executable).resolve().parent.parent)
    system = {Path("/usr")}
    return sorted(p for p in paths | system if p.exists())


MPL_CACHE_IN_SANDBOX = "/opt/course-matplotlib-cache"


def matplotlib_cache():
    """A folder holding matplotlib's font cache, built once, so no sandbox spends a second rebuilding it.

    None where it cannot be built (the worker then builds its own, in its /tmp).
    """
    import subprocess
    import tempfile

    folder = Path(tempfile.gettempdir()) / f"course-matplotlib-cache-{os.getuid()}"
    if not any(folder.glob("fontlist-*.json")):
        folder.mkdir(mode=0o755, exist_ok=True)
        try:
            subprocess.run([sys.executable, "-I", "-c", "import matplotlib.font_manager"], timeout=120,
                           env={**sandbox_env(), "MPLCONFIGDIR": str(folder)}, capture_output=True)
        except (OSError, subprocess.TimeoutExpired):
            return None
    return folder if any(folder.glob("fontlist-*.json")) else None


def sandbox_command(command, *, tmp_bytes=TMP_BYTES, env=None):
    """`command` (a list) run inside bubblewrap; SandboxUnavailable where bwrap is missing or broken."""
    bwrap = bwrap_path()
    if bwrap is None:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed: `apt-get install bubblewrap` on "
                                 "Debian/Ubuntu, or grade inside the container of docs/grading.md")
    args = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
            # the private /tmp first: a Python or course folder that lives under /tmp is bound on top of it
            "--size", str(int(tmp_bytes)), "--tmpfs", "/tmp"]
    for path in read_only_paths():
        args += ["--ro-bind", str(path), str(path)]
    for link, target in (("/lib", "usr/lib"), ("/lib64", "usr/lib64"), ("/bin", "usr/bin"), ("/sbin", "usr/sbin")):
        if Path(link).is_symlink():
            args += ["--symlink", target, link]
        elif Path(link).is_dir():
            args += ["--ro-bind", link, link]
    args += ["--proc", "/proc", "--dev", "/dev", "--chdir", "/tmp", "--clearenv"]
    extra = dict(env or {})
    cache = matplotlib_cache()
    if cache is not None:
        args += ["--ro-bind", str(cache), MPL_CACHE_IN_SANDBOX]
        extra["COURSE_MPL_CACHE"] = MPL_CACHE_IN_SANDBOX
    for name, value in sandbox_env(extra).items():
        args += ["--setenv", name, value]
    return args + ["--", *command]


def sandbox_env(extra=None):
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp", "MPLBACKEND": "Agg",
           "MPLCONFIGDIR": "/tmp/matplotlib", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "COURSE_DEVICE": "cpu"}
    env.update({k: os.environ[k] for k in _ENV_PASSED if k in os.environ})
    env.update(extra or {})
    return env


def probe():
    """None when bubblewrap can start a sandbox here, else the reason it cannot."""
    import subprocess

    try:
        command = sandbox_command([sys.executable, "-I", "-c", "import os; print(os.getuid())"])
    except SandboxUnavailable as err:
        return str(err)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"bubblewrap did not start: {err}"
    if done.returncode != 0 or done.stdout.strip() != str(SANDBOX_UID):
        return f"bubblewrap failed here: {done.stderr.strip()[:300] or done.returncode}"
    return None


class ProcessCap:
    """A pids cgroup capping the processes and threads of one sandbox (where the machine offers one)."""

    ROOTS = (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup"))

    def __init__(self, max_pids):
        self.path = None
        if not max_pids:
            return
        for root in self.ROOTS:
            limit_name = "pids.max"
            if root == Path("/sys/fs/cgroup") and "pids" not in _read(root / "cgroup.controllers"):
                continue
            try:
                path = root / f"course-grade-{uuid.uuid4().hex[:12]}"
                path.mkdir()
                (path / limit_name).write_text(str(int(max_pids)))
                self.path = path
                return
            except OSError:
                continue

    def join(self):
        """Called in the child before exec: move this process into the cgroup."""
        if self.path is not None:
            try:
                (self.path / "cgroup.procs").write_text(str(os.getpid()))
            except OSError:
                pass

    def close(self):
        if self.path is None:
            return
        for pid in _read(self.path / "cgroup.procs").split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError, PermissionError):
                pass
        import time

        for _ in range(50):
            try:
                self.path.rmdir()
                break
            except OSError:
                time.sleep(0.02)
        self.path = None


def _read(path):
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def child_setup(memory_mb, file_size_mb, cap):
    """preexec_fn: the process cap, rlimits and death with the grader; runs in the child before exec."""
    from course_utils.grading.sandbox import apply_limits, die_with_parent

    def setup():
        cap.join()
        apply_limits(memory_mb, file_size_mb)
        die_with_parent()

    return setup
