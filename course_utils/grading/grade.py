"""Grade one submission: run the student's solution cells inside the instructor's notebook, score it.

The graded run is the *source* notebook, cell by cell, with each solution cell replaced by the
student's cell(s) carrying the same exercise id. Everything else (setup, checks, hidden tests,
demos) is the instructor's; nothing but solution cells is ever taken from a submission.

    setup cells ...        instructor
    [baseline]             grader: fingerprint the checkers (integrity.snapshot), learn check names/points
    solution X             student's cell(s) for X (or the stub, if the submission has none)
    check X                instructor's check cell, hidden tests removed
    hidden X               the hidden tests of that check cell, run as a separate step
    demo cells ...         instructor
    ...

After every step from the baseline on, a user expression runs integrity.verify() in the same
request; a changed identity, or a check cell that reports more results than it has check calls,
stops the run with status "tampering". Check results count only when published by the
instructor's check step for its own exercise; results printed anywhere else are ignored.
"""

import ast
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from course_utils.grading import markers, runner
from course_utils.grading.markers import cell_source, course_meta
from course_utils.grading.submissions import NO_EXERCISES, WRONG_LESSON

GRADED = "graded"
MEMORY = "memory"
NOT_GRADED = "not graded"   # interrupted before this one was graded (only in reports)

# Exercise statuses (besides the check's own passed / failed / not implemented).
MISSING = "missing"
ERROR = "error"
NOT_RUN = "not run"
EX_TIMEOUT = "timeout"

SNAPSHOT_EXPR = "__import__('course_utils.grading.integrity', fromlist=['snapshot']).snapshot(globals())"
VERIFY_EXPR = "__import__('sys').modules['course_utils.grading.integrity'].verify(globals())"


class GradeError(ValueError):
    """The instructor's source notebook cannot be graded against (a setup problem, not a student's)."""


@dataclass
class SourceLesson:
    path: Path
    notebook: object
    sha256: str
    exercises: list                      # exercise ids in notebook order
    hidden_lines: list = field(default_factory=list)
    solution_lines: list = field(default_factory=list)

    @property
    def name(self):
        return self.path.name


def load_source(path):
    """Read and validate the instructor's notebook."""
    import nbformat

    path = Path(path)
    if not path.is_file():
        raise GradeError(f"{path} is not a notebook file")
    raw = path.read_bytes()
    try:
        notebook = nbformat.reads(raw.decode("utf-8"), as_version=4)
    except Exception as err:
        raise GradeError(f"cannot read the source notebook {path}: {err}") from None
    exercises, hidden, solution, problems = [], [], [], []
    checks = set()
    for index, cell in enumerate(notebook.cells):
        exercise, role = course_meta(cell)
        source = cell_source(cell)
        if cell.cell_type != "code":
            continue
        try:
            hidden += markers.region_bodies(source, markers.HIDDEN, where=f"cell {index}")
            solution += markers.region_bodies(source, markers.SOLUTION, where=f"cell {index}")
        except markers.MarkerError as err:
            problems.append(str(err))
            continue
        if role in ("solution", "check"):
            if not exercise:
                problems.append(f"cell {index} has role {role!r} but no exercise id")
                continue
            if exercise not in exercises:
                exercises.append(exercise)
            if role == "check":
                checks.add(exercise)
        if markers.region_bodies(source, markers.SOLUTION) and role != "solution":
            problems.append(f"cell {index} has a solution region but is not a solution cell: "
                            "its solution would run for every student")
        if markers.region_bodies(source, markers.HIDDEN) and role != "check":
            problems.append(f"cell {index} has hidden tests but is not a check cell")
    for exercise in exercises:
        if exercise not in checks:
            problems.append(f"exercise {exercise} has no check cell")
    if not exercises:
        problems.append("no cell carries an exercise id (metadata course.exercise / course.role)")
    if problems:
        raise GradeError(f"{path.name}: " + "; ".join(problems))
    return SourceLesson(path, notebook, hashlib.sha256(raw).hexdigest(), exercises,
                        hidden_lines=_lines(hidden, 6), solution_lines=_lines(solution, 20))


def _lines(bodies, minimum):
    lines = {line.strip() for body in bodies for line in body.splitlines()}
    return sorted((line for line in lines if len(line) >= minimum and not line.startswith("#")), key=len,
                  reverse=True)


def student_cells(notebook):
    """exercise id -> the sources of the submission's solution cells for it, in notebook order."""
    cells = {}
    for cell in notebook.cells:
        exercise, role = course_meta(cell)
        if cell.get("cell_type") == "code" and role == "solution" and exercise:
            cells.setdefault(exercise, []).append(cell_source(cell))
    return cells


def submission_problem(source, notebook):
    """(status, message) if the notebook has none of the source's exercises, else None."""
    ids = {course_meta(c)[0] for c in notebook.cells} - {None}
    if ids & set(source.exercises):
        return None
    if ids:
        lessons = sorted({i.split(".", 1)[0] for i in ids})
        return WRONG_LESSON, (f"this notebook holds exercises of {', '.join(lessons)} "
                              f"({', '.join(sorted(ids)[:4])}), not of {source.name}")
    return NO_EXERCISES, ("no cell carries an exercise id: submit the course's notebook itself "
                          "(cells copied into a new notebook lose their ids)")


def build_steps(source, notebook):
    """The steps of the graded run, and the exercises the submission has no cell for."""
    theirs = student_cells(notebook)
    steps, missing = [], [e for e in source.exercises if e not in theirs]
    used = {}
    remaining_source = {}
    for cell in source.notebook.cells:
        exercise, role = course_meta(cell)
        if cell.cell_type == "code" and role == "solution":
            remaining_source[exercise] = remaining_source.get(exercise, 0) + 1
    baseline_done = False

    def add(step):
        if baseline_done:
            step.user_expressions = {"integrity": VERIFY_EXPR}
        steps.append(step)

    for index, cell in enumerate(source.notebook.cells):
        if cell.cell_type != "code":
            continue
        exercise, role = course_meta(cell)
        source_text = cell_source(cell)
        if role == "solution":
            if not baseline_done:
                steps.append(_baseline_step())
                baseline_done = True
            remaining_source[exercise] -= 1
            mine = theirs.get(exercise)
            if not mine:  # missing: the stub, so the check reports and demos skip cleanly
                add(runner.Step(markers.student_source(source_text, "code", exercise), kind="solution",
                                exercise=exercise, cell_index=index))
                continue
            k = used.get(exercise, 0)
            chunk = mine[k:k + 1] if remaining_source[exercise] > 0 else mine[k:]
            used[exercise] = k + len(chunk)
            for code in chunk:
                add(runner.Step(code, kind="solution", exercise=exercise, cell_index=index))
        elif role == "check":
            public, hidden = markers.split_hidden(source_text)
            add(runner.Step(public, kind="check", exercise=exercise, cell_index=index, collect=True))
            if hidden:
                add(runner.Step(hidden, kind="hidden", exercise=exercise, cell_index=index, collect=True))
        else:
            add(runner.Step(source_text, kind="cell", cell_index=index))
    return steps, missing


def _baseline_step():
    return runner.Step("", kind="baseline", silent=True, user_expressions={"baseline": SNAPSHOT_EXPR})


class Watch:
    """The on_step callback of a graded run: reads the baseline, verifies integrity, counts results."""

    def __init__(self):
        self.baseline = None

    def __call__(self, step_outcome, run_outcome):
        step = step_outcome.step
        if step.kind == "baseline":
            self.baseline = _json_expression(step_outcome.expressions.get("baseline"))
            if not isinstance(self.baseline, dict):
                return runner.GRADER_ERROR, "could not fingerprint the checkers before the first solution cell"
            return None
        if self.baseline is None or not step.user_expressions:
            return None
        changed = _json_expression(step_outcome.expressions.get("integrity"))
        if changed is None:
            return runner.TAMPERING, f"the integrity check could not run after {step.describe()}"
        if changed:
            return runner.TAMPERING, (f"after {step.describe()}, these were no longer the originals: "
                                      + ", ".join(changed[:5]))
        if step.kind == "check":
            mine = [r for r in step_outcome.results if r["exercise"] == step.exercise]
            expected = self.expected_results(step.code)
            if expected is not None and len(mine) > expected:
                return runner.TAMPERING, (f"{step.describe()} reported {len(mine)} results for {step.exercise} "
                                          f"from {expected} check call(s)")
        return None

    def expected_results(self, code):
        names = set(self.baseline.get("check_names") or ())
        try:
            tree = ast.parse(code)
        except SyntaxError:
            return None
        calls = 0
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
                calls += name in names
        return max(calls, 1)

    @property
    def points(self):
        return dict((self.baseline or {}).get("points") or {})


def _json_expression(text):
    if not isinstance(text, str):
        return None
    try:
        return json.loads(ast.literal_eval(text))
    except (ValueError, SyntaxError, TypeError):
        return None


# -- scoring -------------------------------------------------------------------------------------


class Redactor:
    """Removes the instructor's hidden-test and solution lines from text that reaches a student."""

    def __init__(self, source):
        self.hidden = source.hidden_lines
        self.solution = source.solution_lines

    def __call__(self, text, own_code=""):
        if not text:
            return text
        for line in self.hidden + [s for s in self.solution if s not in own_code]:
            if line in text:
                text = text.replace(line, "[instructor code removed]")
        return text


def score(source, steps, missing, outcome, watch):
    """Turn a run into {status, message, exercises: [...], notes: [...], max_points: {...}}."""
    redact = Redactor(source)
    points = watch.points
    own_code = "\n".join(s.code for s in steps if s.kind == "solution")
    exercises, notes = [], []
    memory = False
    for exercise in source.exercises:
        entry = _exercise_entry(exercise, outcome, missing, points)
        entry["message"] = redact(runner.short(entry.get("message", ""), 600), own_code)
        entry["hint"] = redact(runner.short(entry.get("hint", ""), 400), own_code)
        memory |= "MemoryError" in entry["message"]
        exercises.append(entry)
    ignored = sum(s.foreign_results for s in outcome.steps if s.step.kind == "solution")
    if ignored:
        notes.append(f"{ignored} check result(s) published by solution cells were ignored (only the "
                     "instructor's check cells count)")
    memory |= any(s.ename == "MemoryError" for s in outcome.steps)
    timeouts = [s for s in outcome.steps if s.status == "timeout"]
    if outcome.stop:
        status, message = outcome.stop, outcome.stop_detail
        if status == runner.GRADER_ERROR and "\n" in message:  # the traceback is for the instructor only
            notes.append(message)
            message = message.splitlines()[0]
    elif timeouts:
        status = runner.TIMEOUT
        message = "; ".join(f"{s.step.describe()} {_timeout_text(s)}" for s in timeouts[:3])
    elif memory:
        status, message = MEMORY, "your code ran out of memory (MemoryError) under the grader's memory cap"
    else:
        status, message = GRADED, ""
    if missing:
        notes.append("no cell for " + ", ".join(missing))
    return {"status": status, "message": redact(runner.short(message, 600), own_code), "exercises": exercises,
            "notes": notes, "max_points": points}


def _exercise_entry(exercise, outcome, missing, points):
    entry = {"exercise": exercise, "status": NOT_RUN, "points": 0.0, "max_points": points.get(exercise),
             "message": "", "hint": "", "device": "", "cases": None, "max_error": None}
    if exercise in missing:
        entry.update(status=MISSING, message=f"your notebook has no solution cell for {exercise} (a cell whose "
                                             "metadata carries this exercise id); it scores 0")
        _mark_result(entry, outcome, exercise, keep_status=True)
        return entry
    solutions = outcome.step_outcomes("solution", exercise)
    checks = outcome.step_outcomes("check", exercise)
    hidden = outcome.step_outcomes("hidden", exercise)
    solution_error = next((s for s in solutions if s.status == "error"), None)
    if not checks or any(c.status in ("not run", "stopped") for c in checks):
        entry["message"] = f"not run: grading stopped before this check finished ({outcome.stop or 'stopped'})"
        return entry
    if outcome.stop == runner.TAMPERING and outcome.steps[outcome.stopped_at] in checks + hidden:
        entry.update(status=ERROR, message="not scored: tampering with the checker was detected in this check")
        return entry
    timed_out = next((c for c in solutions + checks if c.status == "timeout"), None)
    if timed_out is not None:
        entry.update(status=EX_TIMEOUT, message=f"{timed_out.step.describe()} {_timeout_text(timed_out)}")
        return entry
    if not _mark_result(entry, outcome, exercise):
        failing = solution_error or next((c for c in checks if c.status == "error"), None)
        if failing is None:
            entry.update(status=ERROR, message="the check did not report a result")
        else:
            where = "your solution cell" if failing.step.kind == "solution" else "the check cell"
            entry.update(status=ERROR, message=_error_message(where, failing.ename, failing.evalue))
        return entry
    if solution_error is not None and entry["status"] != "passed":
        entry["message"] = (_error_message("your solution cell", solution_error.ename, solution_error.evalue)
                            + "; then the check said: " + entry["message"])
    if entry["status"] == "passed" and hidden:
        if any(h.status in ("not run", "stopped") for h in hidden):
            entry.update(status=NOT_RUN, points=0.0, message="not run: grading stopped before the hidden tests")
        elif any(h.status != "ok" or any(r["status"] != "passed" for r in h.results) for h in hidden):
            entry.update(status="failed", points=0.0, hint="",
                         message="your code passes the visible check but fails the hidden tests: test it on "
                                 "more cases (edge cases, other shapes)")
    return entry


def _mark_result(entry, outcome, exercise, keep_status=False):
    results = [r for c in outcome.step_outcomes("check", exercise) for r in c.results if r["exercise"] == exercise]
    if not results:
        return False
    chosen = next((r for r in results if r["status"] != "passed"), results[-1])
    if keep_status:
        entry["max_points"] = entry["max_points"] if entry["max_points"] is not None else chosen["max_points"]
        return True
    entry.update({k: chosen[k] for k in ("status", "message", "hint", "device", "cases", "max_error")})
    entry["points"] = chosen["points"] if chosen["status"] == "passed" else 0.0
    if entry["max_points"] is None:
        entry["max_points"] = chosen["max_points"]
    return True


def _timeout_text(step_outcome):
    return step_outcome.evalue or "ran longer than the time limit and was interrupted"


def _error_message(where, ename, evalue):
    if ename == "SystemExit":
        return (f"{where} called sys.exit() (SystemExit {evalue}): a notebook cannot exit; "
                "return a value instead")
    if ename == "KeyboardInterrupt":
        return f"{where} was interrupted (KeyboardInterrupt)"
    return f"{where} raised {ename}: {evalue}" if evalue else f"{where} raised {ename}"
