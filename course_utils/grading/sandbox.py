"""The grading kernel's launcher: cap the process, then become an ordinary ipykernel.

The grader's kernelspec runs

    python -m course_utils.grading.sandbox --memory-mb 4096 --file-size-mb 1024 -- -f {connection_file}

which, before ipykernel is even imported,

* caps the address space (RLIMIT_AS): a memory hog gets MemoryError instead of taking the machine;
* caps the size of any file it writes (RLIMIT_FSIZE) and turns core dumps off (RLIMIT_CORE = 0);
* asks Linux to SIGKILL it if the grader dies (PR_SET_PDEATHSIG), so a crashed or killed grader
  leaves no kernels behind (ipykernel's own parent poller is the slower second line);

then runs `ipykernel_launcher` in this same process. The limits are inherited by anything the
student's code starts. This is a resource fence, not a security boundary (see docs/grading.md).
"""

import argparse
import os
import resource
import runpy
import signal
import sys

KERNEL_NAME = "course-sandbox"


def apply_limits(memory_mb=None, file_size_mb=None):
    if memory_mb:
        limit = int(memory_mb) * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if file_size_mb:
        limit = int(file_size_mb) * 2**20
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def die_with_parent():
    """Linux only: SIGKILL this process when the process that started it exits."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m course_utils.grading.sandbox")
    parser.add_argument("--memory-mb", type=int, default=0, help="address-space cap in MiB (0: none)")
    parser.add_argument("--file-size-mb", type=int, default=0, help="largest file it may write, MiB (0: no cap)")
    parser.add_argument("kernel_args", nargs=argparse.REMAINDER, help="-- then ipykernel's arguments")
    args = parser.parse_args(argv)
    kernel_args = args.kernel_args[1:] if args.kernel_args[:1] == ["--"] else args.kernel_args
    die_with_parent()
    apply_limits(args.memory_mb, args.file_size_mb)
    sys.argv = ["ipykernel_launcher", *kernel_args]
    runpy.run_module("ipykernel_launcher", run_name="__main__", alter_sys=True)


def write_kernelspec(directory, memory_mb=None, file_size_mb=None):
    """Write the sandbox kernelspec under `directory`/KERNEL_NAME; return `directory` (a kernel_dirs entry)."""
    import json
    from pathlib import Path

    spec_dir = Path(directory) / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "course_utils.grading.sandbox",
            "--memory-mb", str(int(memory_mb or 0)), "--file-size-mb", str(int(file_size_mb or 0)),
            "--", "-f", "{connection_file}"]
    spec = {"argv": argv, "display_name": "Python 3 (course grading sandbox)", "language": "python",
            "interrupt_mode": "signal", "metadata": {"debugger": False}}
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return str(directory)


if __name__ == "__main__":
    main()
