"""`course release`: the student version of a lesson, and the check that it runs to the end.

The student version keeps every cell and its metadata (the exercise ids), replaces each solution
region with a stub that raises NotImplementedError (at the region's indentation), drops hidden
tests, and clears outputs. Each check cell gets the `raises-exception` tag, which JupyterLab (and
nbclient) honour: Run All carries on past a failed check, so a learner sees every exercise's status
(the solution notebooks keep no such tag, so a failing check still fails nbval there). Before a file
is written, `leaks()` compares it with the source; a release that still holds a marker, a solution
body, a hidden test or an output is refused.
"""

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path

from course_utils.grading.markers import (HIDDEN, SOLUTION, TEXT, MarkerError, cell_source, course_meta,
                                          has_markers, region_bodies, segments, student_source)

# Notebook-level metadata that may carry state from the instructor's session.
_DROPPED_NOTEBOOK_METADATA = ("widgets", "execution")
_DROPPED_CELL_METADATA = ("execution", "collapsed", "scrolled")
CARRY_ON_TAG = "raises-exception"


class ReleaseError(ValueError):
    """The source cannot be released safely (markers do not pair up, or something would leak)."""


def release_notebook(notebook, name="notebook"):
    """Return the student version of an nbformat v4 notebook (the input is not modified)."""
    released = copy.deepcopy(notebook)
    for key in _DROPPED_NOTEBOOK_METADATA:
        released.metadata.pop(key, None)
    for index, cell in enumerate(released.cells):
        exercise, _ = course_meta(cell)
        where = f"{name}, cell {index}" + (f" ({exercise})" if exercise else "")
        source = cell_source(cell)
        if has_markers(source):
            try:
                cell.source = student_source(source, cell.cell_type, exercise, where=where)
            except MarkerError as err:
                raise ReleaseError(str(err)) from None
        for key in _DROPPED_CELL_METADATA:
            cell.metadata.pop(key, None)
        if course_meta(cell)[1] == "check":
            tags = list(cell.metadata.get("tags") or [])
            cell.metadata["tags"] = tags + [CARRY_ON_TAG] * (CARRY_ON_TAG not in tags)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    problems = leaks(notebook, released)
    if problems:
        raise ReleaseError(f"{name}: refusing to write a student version that leaks: " + "; ".join(problems))
    return released


def leaks(source, released):
    """What of the instructor's notebook would reach a student through `released` (empty list: nothing).

    Looks for marker phrases, outputs, and solution / hidden-test bodies (whitespace-insensitive)
    and the long lines of each solution body. Text that the source also shows outside its regions
    (a docstring that states the formula, say) is public already and does not count.
    """
    problems = []
    released_text = [cell_source(c) for c in released.cells]
    flat = _squash("\n".join(released_text))
    for index, text in enumerate(released_text):
        if has_markers(text):
            problems.append(f"cell {index} still has a solution or hidden-test marker")
    for index, cell in enumerate(released.cells):
        if cell.get("outputs") or cell.get("execution_count") is not None:
            problems.append(f"cell {index} still has outputs")
    public = []
    for cell in source.cells:
        try:
            public.append("".join(s.text for s in segments(cell_source(cell)) if s.kind == TEXT))
        except MarkerError:
            public.append(cell_source(cell))
    public_flat = _squash("\n".join(public))
    for index, cell in enumerate(source.cells):
        text = cell_source(cell)
        if not has_markers(text):
            continue
        try:
            bodies = [(SOLUTION, b) for b in region_bodies(text, SOLUTION)] + \
                     [(HIDDEN, b) for b in region_bodies(text, HIDDEN)]
        except MarkerError as err:
            problems.append(str(err))
            continue
        for kind, body in bodies:
            squashed = _squash(body)
            if len(squashed) >= 8 and flat.count(squashed) > public_flat.count(squashed):
                problems.append(f"the {kind} region of source cell {index} appears in the release")
            if kind == SOLUTION and index < len(released_text):
                for line in body.splitlines():
                    line = line.strip()
                    if (len(line) >= 20 and not line.startswith("#")
                            and released_text[index].count(line) > public[index].count(line)):
                        problems.append(f"a line of the solution of source cell {index} is in the release: "
                                        f"{line[:40]!r}")
    return problems


def _squash(text):
    return "".join(text.split())


def release(source, out_dir):
    """Write the student version of a notebook, or of each lesson in a folder, to `out_dir`. Returns the paths."""
    import nbformat

    from course_utils.notebooks import lesson_notebooks

    out_dir = Path(out_dir)
    paths = lesson_notebooks(source)
    if not paths:
        raise ReleaseError(f"no notebooks found at {source}")
    for path in paths:
        if (out_dir / path.name).resolve() == path.resolve():
            raise ReleaseError(f"--out {out_dir} would overwrite the source {path}; choose another folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        released = release_notebook(notebook, name=path.name)
        target = out_dir / path.name
        write_notebook_atomic(released, target)
        written.append(target)
    return written


def write_notebook_atomic(notebook, path):
    import nbformat

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    nbformat.write(notebook, tmp)
    os.replace(tmp, path)


# -- running the student version ------------------------------------------------------------


@dataclass
class ReleaseCheck:
    """What running one released notebook showed."""

    notebook: str
    exercises: dict = field(default_factory=dict)  # exercise id -> set of statuses seen
    problems: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self):
        return not self.problems


def check_released(paths, *, workers=None, cell_timeout=300, progress=False):
    """Run each released notebook top to bottom, as a learner would, and list what goes wrong.

    A good release runs to the end with no error, and every check reports "not implemented".
    """
    from course_utils.grading.runner import Limits, notebook_steps, run_many

    paths = [Path(p) for p in paths]
    limits = Limits(cell_timeout=cell_timeout, total_timeout=max(cell_timeout * 10, 600), memory_mb=None)
    jobs = [(path, notebook_steps(path)) for path in paths]
    outcomes = run_many([(steps, {"cwd": str(path.parent)}) for path, steps in jobs], limits,
                        workers=workers, progress=progress, desc="checking release")
    return [_release_report(path, steps, outcome) for (path, steps), outcome in zip(jobs, outcomes)]


def _release_report(path, steps, outcome):
    report = ReleaseCheck(path.name, seconds=outcome.seconds)
    expected = {s.exercise for s in steps if s.kind == "check" and s.exercise}
    for step_outcome in outcome.steps:
        step = step_outcome.step
        if step_outcome.status == "error":
            report.problems.append(f"cell {step.cell_index} raised {step_outcome.ename}: {step_outcome.evalue}")
        if step.kind == "check":  # demo cells may call a check on purpose-made wrong versions
            for result in step_outcome.results:
                report.exercises.setdefault(result.get("exercise"), set()).add(result.get("status"))
    if outcome.stop:
        report.problems.append(f"stopped: {outcome.stop} ({outcome.stop_detail})")
    for exercise in sorted(expected):
        seen = report.exercises.get(exercise)
        if not seen:
            report.problems.append(f"{exercise}: its check reported no result")
        elif seen != {"not implemented"}:
            report.problems.append(f"{exercise}: its check reported {', '.join(sorted(seen))}, "
                                   "not only 'not implemented' (is a solution left in the release?)")
    return report
