"""How much does `course grade` cost over simply running the notebooks, and how well does it scale?

    .venv/bin/python benchmarks/grading_benchmark.py [-n 6] [--notebook notebooks/00_welcome.ipynb]

Makes N copies of a correct submission (the solution notebook itself) and times

1. plain execution: each copy run top to bottom with nbclient, one after the other (no grader,
   no sandbox, no vetting, the checks run in the kernel, the kernel killed at the end);
2. `course grade` with 1 worker (vetting, bubblewrap sandbox, checks in the grader over pipes,
   sealed results, reports);
3. `course grade` with 2 workers.

It prints the per-submission time of each, the grading overhead over plain execution (target
<= 10 %) and the speed-up of 2 workers over 1 (target >= 1.8x on 2 cores). The default notebook
is notebooks/00_welcome.ipynb when it exists, else the two-exercise fixture lesson of the tests.
Timings on a shared machine move with the load: the load average is printed before and after.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def plain_execution(path, copies, timeout):
    """Run the notebook `copies` times, one after the other, each in a fresh kernel.

    The kernel is shut down "immediate"ly, as the grader does: nbclient's default graceful shutdown
    adds about 0.5 s per notebook, which would flatter the grader.
    """
    import subprocess

    import nbformat
    from nbclient import NotebookClient

    start = time.perf_counter()
    for _ in range(copies):
        notebook = nbformat.read(path, as_version=4)
        NotebookClient(notebook, timeout=timeout, kernel_name="python3", shutdown_kernel="immediate",
                       resources={"metadata": {"path": str(path.parent)}}).execute(stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def graded(source, submissions, out, workers, timeout):
    from course_utils.grading.batch import grade_batch
    from course_utils.grading.runner import Limits

    os.environ.setdefault("COURSE_GRADER_KEY_FILE", str(out.parent / "grader.key"))
    start = time.perf_counter()
    summary = grade_batch(source, submissions, out, workers=workers, force=True, progress=False,
                          limits=Limits(cell_timeout=timeout), log=lambda *a: None)
    seconds = time.perf_counter() - start
    if summary.statuses != {"graded": len(list(submissions.glob("*.ipynb")))}:
        raise SystemExit(f"grading did not grade every copy cleanly: {summary.statuses}")
    return seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=6, help="copies of the submission (default 6)")
    parser.add_argument("--notebook", default=None, help="the source notebook (default: 00_welcome, else a fixture)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per cell")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="grading-benchmark-"))
    try:
        if args.notebook:
            source = Path(args.notebook).resolve()
        elif (REPO / "notebooks" / "00_welcome.ipynb").exists():
            source = REPO / "notebooks" / "00_welcome.ipynb"
        else:
            sys.path.insert(0, str(REPO / "tests"))
            import grading_fixtures

            source = grading_fixtures.build_lesson(work / "lesson")
        submissions = work / "submissions"
        submissions.mkdir()
        for i in range(args.n):
            shutil.copy(source, submissions / f"student{i:03d}.ipynb")
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        print(f"notebook: {source.name}; {args.n} submissions; {cores} cores; "
              f"load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
        plain_execution(source, 1, args.timeout)  # warm the disk cache and imports, untimed
        plain = plain_execution(source, args.n, args.timeout)
        one = graded(source, submissions, work / "out1", 1, args.timeout)
        two = graded(source, submissions, work / "out2", 2, args.timeout)
        n = args.n
        overhead = one / plain - 1
        speedup = one / two
        print(f"plain nbclient, sequential : {plain:6.1f} s  ({plain / n:.2f} s per submission)")
        print(f"course grade, 1 worker     : {one:6.1f} s  ({one / n:.2f} s per submission)")
        print(f"course grade, 2 workers    : {two:6.1f} s  ({two / n:.2f} s per submission)")
        print(f"grading overhead over plain execution: {overhead * 100:+.1f} % "
              f"({(one - plain) / n:+.2f} s per submission; target <= 10 %) "
              f"{'OK' if overhead <= 0.10 else 'ABOVE TARGET'}")
        print(f"speed-up with 2 workers: {speedup:.2f}x (target >= 1.8x) {'OK' if speedup >= 1.8 else 'BELOW TARGET'}")
        print(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())} "
              "(other work on a shared machine skews these numbers)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
