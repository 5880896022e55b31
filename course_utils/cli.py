"""The `course` command (also `python -m course_utils`).

Each sub-command is a small function; see `course --help` and docs/grading.md.
"""

import argparse
import sys


def _execute(args):
    from course_utils.notebooks import execute_in_place, lesson_notebooks

    for path in lesson_notebooks(args.source):
        seconds = execute_in_place(path, timeout=args.timeout)
        print(f"{path}: executed in {seconds:.1f} s")
    return 0


def _release(args):
    from course_utils.grading.release import ReleaseError, check_released, release

    try:
        written = release(args.source, args.out)
    except (ReleaseError, FileNotFoundError) as err:
        print(f"course release: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    if not args.check:
        return 0
    reports = check_released(written, workers=args.workers, cell_timeout=args.timeout, progress=True)
    bad = 0
    for rep in reports:
        exercises = len(rep.exercises)
        if rep.ok:
            print(f"✔ {rep.notebook}: runs to the end in {rep.seconds:.1f} s; "
                  f"{exercises} exercise(s) report 'not implemented'")
        else:
            bad += 1
            print(f"✘ {rep.notebook}:")
            for problem in rep.problems:
                print(f"    {problem}")
    return 1 if bad else 0


def _status(args):
    from course_utils.grading.status import collect, default_notebooks, table

    paths = args.notebooks or default_notebooks()
    if not paths:
        print("course status: no notebooks here (pass their paths)", file=sys.stderr)
        return 2
    rows = collect(paths, workers=args.workers, cell_timeout=args.timeout, progress=len(paths) > 1)
    print(table(rows))
    return 0


def _grade(args):
    from course_utils.grading.batch import SandboxRequired, grade_batch, summary_line
    from course_utils.grading.grade import GradeError
    from course_utils.grading.runner import Limits

    limits = Limits(cell_timeout=args.timeout, total_timeout=args.total_timeout, memory_mb=args.memory,
                    max_output_bytes=int(args.max_output * 2**20))
    try:
        summary = grade_batch(args.source, args.submissions, args.out, workers=args.workers, limits=limits,
                              force=args.force, progress=not args.no_progress,
                              log=lambda text: print(text, file=sys.stderr), sandboxed=not args.unsafe_no_sandbox)
    except (GradeError, FileNotFoundError, SandboxRequired) as err:
        print(f"course grade: {err}", file=sys.stderr)
        return 2
    print(summary_line(summary))
    return summary.exit_code


def build_parser():
    parser = argparse.ArgumentParser(prog="course", description="Tools for the from-scratch deep-learning course.")
    commands = parser.add_subparsers(dest="command", required=True)

    execute = commands.add_parser("execute", help="re-run notebooks in place so their saved outputs are fresh")
    execute.add_argument("source", help="a notebook or a folder of notebooks")
    execute.add_argument("--timeout", type=float, default=300, help="seconds allowed per cell (default 300)")
    execute.set_defaults(run=_execute)

    release = commands.add_parser("release", help="write the student version of a lesson (or of notebooks/)")
    release.add_argument("source", help="a lesson notebook or a folder of them")
    release.add_argument("--out", required=True, help="folder for the student notebooks")
    release.add_argument("--check", action="store_true",
                         help="then run each student notebook: it must run to the end, every check 'not implemented'")
    release.add_argument("--workers", type=int, default=None, help="notebooks run at once by --check (default: cores)")
    release.add_argument("--timeout", type=float, default=300, help="seconds per cell for --check (default 300)")
    release.set_defaults(run=_release)

    status = commands.add_parser("status", help="run your notebooks and show which exercises pass")
    status.add_argument("notebooks", nargs="*", help="notebooks to run (default: *.ipynb here, or in notebooks/)")
    status.add_argument("--workers", type=int, default=None, help="notebooks run at once (default 2)")
    status.add_argument("--timeout", type=float, default=600, help="seconds per cell (default 600)")
    status.set_defaults(run=_status)

    grade = commands.add_parser("grade", help="grade a folder of submissions against the instructor's notebook",
                                description="Grade SUBMISSIONS (one STUDENT.ipynb or one STUDENT/ folder per "
                                            "student) against SOURCE_NOTEBOOK. Exit status 0 when every "
                                            "submission got a result, whatever the scores.")
    grade.add_argument("source", metavar="SOURCE_NOTEBOOK", help="the instructor's notebook, with solutions")
    grade.add_argument("submissions", metavar="SUBMISSIONS", help="folder of submissions")
    grade.add_argument("--out", required=True, help="folder for gradebook.csv, grades.json, feedback/, results/")
    grade.add_argument("--workers", type=int, default=None, help="submissions graded at once (default: cores)")
    grade.add_argument("--timeout", type=float, default=120, help="seconds per cell (default 120)")
    grade.add_argument("--total-timeout", type=float, default=600, help="seconds per submission (default 600)")
    grade.add_argument("--memory", type=int, default=4096,
                       help="memory cap per submission in MiB, address space (default 4096; 0 for none)")
    grade.add_argument("--max-output", type=float, default=10, help="output cap per submission in MiB (default 10)")
    grade.add_argument("--force", action="store_true", help="grade again even submissions already graded")
    grade.add_argument("--unsafe-no-sandbox", action="store_true",
                       help="run student code without the bubblewrap sandbox (only for code you trust)")
    grade.add_argument("--no-progress", action="store_true", help="no progress bar")
    grade.set_defaults(run=_grade)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:  # kernels are already shut down by then; `grade` keeps what it finished
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
