"""The `course` command (also `python -m course_utils`).

Each sub-command is a small function; see `course --help`.
"""

import argparse
import sys


def _execute(args):
    from course_utils.notebooks import execute_in_place, lesson_notebooks

    for path in lesson_notebooks(args.source):
        seconds = execute_in_place(path, timeout=args.timeout)
        print(f"{path}: executed in {seconds:.1f} s")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="course", description="Tools for the from-scratch deep-learning course.")
    commands = parser.add_subparsers(dest="command", required=True)

    execute = commands.add_parser("execute", help="re-run notebooks in place so their saved outputs are fresh")
    execute.add_argument("source", help="a notebook or a folder of notebooks")
    execute.add_argument("--timeout", type=float, default=300, help="seconds allowed per cell (default 300)")
    execute.set_defaults(run=_execute)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
