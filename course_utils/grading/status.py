"""`course status`: run the learner's own notebooks and show their progress, one row per exercise.

Each notebook runs top to bottom in a fresh kernel (in its own folder, as in JupyterLab), with
every cell as the learner wrote it; a cell that raises does not stop the run. The notebooks on
disk are not modified. Checks publish their structured result (COURSE_GRADING=1), which is what
the table shows: passed, failed (with the check's message and hint), not implemented, or error
when the check cell itself raised (e.g. a NameError because a cell above was not finished).

Each solution cell is also vetted by the grader's rules (vet.py): a cell the grader would refuse
to run shows as "rejected", with the line and the rule, so a learner finds out before submitting.
"""

import shutil
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from course_utils.grading import vet
from course_utils.grading.markers import cell_source, course_meta

SYMBOL = {"passed": "✔", "failed": "✘", "not implemented": "…", "error": "!", "not run": "-", "rejected": "✘"}


@dataclass
class Row:
    lesson: str
    exercise: str
    status: str
    message: str = ""
    hint: str = ""


def default_notebooks(cwd="."):
    """The learner's notebooks: *.ipynb here, or in ./notebooks when there are none here."""
    from course_utils.notebooks import lesson_notebooks

    cwd = Path(cwd)
    here = lesson_notebooks(cwd)
    if not here and (cwd / "notebooks").is_dir():
        here = lesson_notebooks(cwd / "notebooks")
    return here


def collect(paths, *, workers=None, cell_timeout=600, progress=False):
    """Run the notebooks; return the rows (in notebook, then exercise order)."""
    import nbformat

    from course_utils.grading.runner import Limits, notebook_steps, run_many

    paths = [Path(p) for p in paths]
    limits = Limits(cell_timeout=cell_timeout, total_timeout=max(3600.0, cell_timeout * 4), memory_mb=0,
                    file_size_mb=0, max_output_bytes=256 * 2**20)
    jobs, rows = [], []
    for path in paths:
        try:
            notebook = nbformat.read(path, as_version=4)
        except Exception as err:  # a notebook that does not open is a row, not a crash
            rows.append(Row(path.stem, "-", "error", f"cannot read {path.name}: {err}"))
            continue
        jobs.append((path, notebook, notebook_steps(notebook)))
    if not jobs:
        return rows
    outcomes = run_many([(steps, {"cwd": str(path.parent.resolve())}) for path, _, steps in jobs], limits,
                        workers=workers or min(len(jobs), 2) or 1, progress=progress, desc="running notebooks")
    for (path, notebook, steps), outcome in zip(jobs, outcomes):
        rows.extend(_rows(path, notebook, outcome))
    return rows


def grader_rejections(notebook):
    """exercise -> why the grader would not run the learner's solution cell for it (vet.py's rules)."""
    cells = [c for c in notebook.cells if c.get("cell_type") == "code"]
    instructor = [cell_source(c) for c in cells if course_meta(c)[1] != "solution"]
    forbidden = vet.forbidden_bindings(instructor)
    rejected = {}
    for cell in cells:
        exercise, role = course_meta(cell)
        if role == "solution" and exercise:
            problems = vet.vet(cell_source(cell), forbidden)
            if problems and exercise not in rejected:
                rejected[exercise] = ("the grader will not run this solution cell: " + vet.describe(problems))
    return rejected


def _rows(path, notebook, outcome):
    rows = _check_rows(path, notebook, outcome)
    rejected = grader_rejections(notebook)
    for row in rows:
        if row.exercise in rejected:
            row.status, row.message = "rejected", rejected[row.exercise]
            row.hint = "exercises use NumPy and math only; no files, no dynamic code, no torch"
    return rows


def _check_rows(path, notebook, outcome):
    lesson = path.stem
    order = []
    for cell in notebook.cells:
        exercise, role = course_meta(cell)
        if exercise and role in ("solution", "check") and exercise not in order:
            order.append(exercise)
    # The learner's own run, so any cell may hold a result; but a check cell speaks for its exercise
    # (lessons also call checks on purpose-made wrong versions in demo cells). Last result wins.
    from_checks, elsewhere, errors = {}, {}, {}
    for step_outcome in outcome.steps:
        step = step_outcome.step
        for result in step_outcome.results:
            own = step.kind == "check" and result["exercise"] == step.exercise
            (from_checks if own else elsewhere)[result["exercise"]] = result
            if result["exercise"] not in order:
                order.append(result["exercise"])
        if step.kind == "check" and step.exercise and step_outcome.status in ("error", "timeout"):
            if not any(r["exercise"] == step.exercise for r in step_outcome.results):
                errors[step.exercise] = f"{step_outcome.ename}: {step_outcome.evalue}".strip(": ")
            else:
                errors.pop(step.exercise, None)
    latest = {**elsewhere, **from_checks}
    rows = []
    for exercise in order:
        if exercise in errors and exercise not in from_checks:
            rows.append(Row(lesson, exercise, "error", f"the check cell raised {errors[exercise]}"))
        elif exercise in latest:
            result = latest[exercise]
            quiet = result["status"] in ("passed", "not implemented")
            rows.append(Row(lesson, exercise, result["status"], "" if quiet else result["message"],
                            "" if quiet else result.get("hint") or ""))
        else:
            why = outcome.stop_detail if outcome.stop else "its check cell published no result"
            rows.append(Row(lesson, exercise, "not run", why))
    if not order and outcome.stop:
        rows.append(Row(lesson, "-", "not run", outcome.stop_detail))
    return rows


def table(rows, width=None):
    """The progress table as text: one line per exercise, then its message and hint wrapped beneath.

    Lines fit the terminal (at most 120 columns; 100 when the output is not a terminal).
    """
    if width is None:
        width = min(shutil.get_terminal_size((100, 20)).columns, 120) if sys.stdout.isatty() else 100
    width = max(width, 60)
    name_width = min(max([len(r.exercise) for r in rows] + [8]), width // 2)
    lines, lesson = [], None
    for r in rows:
        if r.lesson != lesson:
            lesson = r.lesson
            lines += ([""] if lines else []) + [lesson]
        lines.append(f"  {SYMBOL.get(r.status, '?')} {r.exercise.ljust(name_width)}  {r.status}")
        for label, text in (("", r.message), ("Hint: ", r.hint)):
            if text:
                lines += textwrap.wrap(label + " ".join(text.split()), width=width, initial_indent="      ",
                                       subsequent_indent="        ", break_long_words=True)
    counts = {}
    for r in rows:
        if r.exercise != "-":
            counts[r.status] = counts.get(r.status, 0) + 1
    total = sum(counts.values())
    rest = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if s != "passed")
    lines.append("")
    lines.append(f"{counts.get('passed', 0)}/{total} exercises passed" + (f" ({rest})" if rest else ""))
    return "\n".join(line.rstrip() for line in lines)
