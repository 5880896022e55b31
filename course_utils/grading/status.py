"""`course status`: run the learner's own notebooks and show their progress, one row per exercise.

Each notebook runs top to bottom in a fresh kernel (in its own folder, as in JupyterLab), with
every cell as the learner wrote it; a cell that raises does not stop the run. The notebooks on
disk are not modified. Checks publish their structured result (COURSE_GRADING=1), which is what
the table shows: passed, failed (with the check's one-line message), not implemented, or error
when the check cell itself raised (e.g. a NameError because a cell above was not finished).
"""

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from course_utils.grading.markers import course_meta

SYMBOL = {"passed": "✔", "failed": "✘", "not implemented": "…", "error": "!", "not run": "-"}


@dataclass
class Row:
    lesson: str
    exercise: str
    status: str
    message: str = ""


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


def _rows(path, notebook, outcome):
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
            message = "" if result["status"] in ("passed", "not implemented") else result["message"]
            rows.append(Row(lesson, exercise, result["status"], message))
        else:
            why = outcome.stop_detail if outcome.stop else "its check cell published no result"
            rows.append(Row(lesson, exercise, "not run", why))
    if not order and outcome.stop:
        rows.append(Row(lesson, "-", "not run", outcome.stop_detail))
    return rows


def table(rows, width=None):
    """The progress table as text, with a summary line.

    Messages are cut to fit a terminal's width; piped into a file or another program they stay whole.
    """
    if width is None:
        width = shutil.get_terminal_size((120, 20)).columns if sys.stdout.isatty() else 10**6
    headers = ("lesson", "exercise", "status", "message")
    cells = [(r.lesson, r.exercise, f"{SYMBOL.get(r.status, '?')} {r.status}", _one_line(r.message)) for r in rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(headers[:3])]
    room = max(20, width - sum(widths) - 6)
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers[:3], widths)) + "  " + headers[3],
             "  ".join("-" * w for w in widths) + "  " + "-" * min(room, 40)]
    for c in cells:
        message = c[3] if len(c[3]) <= room else c[3][: room - 1] + "…"
        lines.append("  ".join(v.ljust(w) for v, w in zip(c[:3], widths)) + "  " + message)
    counts = {}
    for r in rows:
        if r.exercise != "-":
            counts[r.status] = counts.get(r.status, 0) + 1
    total = sum(counts.values())
    rest = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if s != "passed")
    lines.append("")
    lines.append(f"{counts.get('passed', 0)}/{total} exercises passed" + (f" ({rest})" if rest else ""))
    return "\n".join(line.rstrip() for line in lines)


def _one_line(text):
    first = (text or "").strip().splitlines()
    return first[0] if first else ""
