"""Grade one submission: its solution cells run in a sandboxed worker, the verdict is computed here.

The graded run follows the *source* notebook, cell by cell, with each solution cell replaced by the
student's cell(s) carrying the same exercise id (each vetted first: vet.py). Nothing but solution
cells is ever taken from a submission.

    lesson cells ...       instructor code, run in the worker (setup, demos); their errors do not score
    solution X             the student's cell(s) for X (or the stub, if the submission has none)
    check X                the instructor's check cell, visible calls and hidden tests, run HERE in the
                           grader: each check body regenerates its inputs, computes the torch references,
                           compares and writes the message; only its `c.call`s cross to the worker
    ...

The worker never receives a check cell, a hidden test, a seed or an instructor solution, and it
hands back only plain data; nothing it prints or displays is read. Points come from the checks in
the grader's own course package, never above each exercise's maximum.
"""

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from course_utils.grading import markers, runner, vet
from course_utils.grading.checkcalls import CheckCellError, check_functions, parse_check_calls, resolve_check
from course_utils.grading.markers import cell_source, course_meta
from course_utils.grading.session import WorkerError, WorkerSession
from course_utils.grading.submissions import NO_EXERCISES, WRONG_LESSON

GRADED = "graded"
MEMORY = "memory"
CRASHED = "crashed"
NOT_GRADED = "not graded"   # interrupted before this one was graded (only in reports)

# Exercise statuses (besides the check's own passed / failed / not implemented).
MISSING = "missing"
REJECTED = "rejected"
NOT_RUN = "not run"


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
    check_calls: dict = field(default_factory=dict)     # cell index -> [CheckCall], hidden ones marked
    checks: dict = field(default_factory=dict)          # (exercise, check name) -> the check function
    points: dict = field(default_factory=dict)          # exercise -> its maximum, from the course package
    forbidden_names: set = field(default_factory=set)   # names solution cells may not use (vet.py)

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
    check_calls, instructor_code = {}, []
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
                try:
                    check_calls[index] = _check_calls(source, index)
                except (CheckCellError, markers.MarkerError) as err:
                    problems.append(str(err))
        if role != "solution":
            instructor_code.append(source)
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
    functions, points = _resolve_checks(check_calls, notebook, problems)
    if problems:
        raise GradeError(f"{path.name}: " + "; ".join(problems))
    return SourceLesson(path, notebook, hashlib.sha256(raw).hexdigest(), exercises,
                        hidden_lines=_lines(hidden, 6), solution_lines=_lines(solution, 20),
                        check_calls=check_calls, checks=functions, points=points,
                        forbidden_names=vet.forbidden_bindings(instructor_code))


def _check_calls(source, index):
    visible, hidden = markers.split_hidden(source, where=f"cell {index}")
    where = f"the check cell (cell {index + 1})"
    calls = parse_check_calls(visible, where)
    for call in parse_check_calls(hidden or "", where + ", hidden tests"):
        call.hidden = True
        calls.append(call)
    return calls


def _resolve_checks(check_calls, notebook, problems):
    """(exercise, check name) -> the registered check, and each exercise's points; problems if unknown."""
    registry = check_functions()
    functions, points = {}, {}
    for index, calls in check_calls.items():
        exercise, _ = course_meta(notebook.cells[index])
        for call in calls:
            chosen = resolve_check(call.check, exercise, registry)
            if chosen is None:
                problems.append(f"cell {index + 1} calls {call.check}, which is not a registered check")
                continue
            functions[(exercise, call.check)] = chosen
        own = next((c for c in registry if c.exercise_id == exercise), None)
        if own is None:
            problems.append(f"exercise {exercise} has no registered check in course_utils.checks")
        else:
            points[exercise] = float(own.points)
    return functions, points


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


@dataclass
class Plan:
    """One graded run: what the worker executes, in order, and what the grader checks between cells."""

    steps: list                   # ("cell", index, code) | ("solution", exercise, code, index) | ("check", exercise, calls)
    missing: list                 # exercises the submission has no cell for
    rejected: dict                # exercise -> why its cell(s) were not run (vetting)


def plan(source, notebook):
    """The steps of a graded run: the source's cells, the student's solution cells in place of the
    instructor's, each vetted, and the check cells as CheckCalls the grader runs itself."""
    theirs = student_cells(notebook)
    steps, missing, rejected = [], [e for e in source.exercises if e not in theirs], {}
    remaining = {}
    for cell in source.notebook.cells:
        exercise, role = course_meta(cell)
        if cell.cell_type == "code" and role == "solution":
            remaining[exercise] = remaining.get(exercise, 0) + 1
    used = {}
    for index, cell in enumerate(source.notebook.cells):
        if cell.cell_type != "code":
            continue
        exercise, role = course_meta(cell)
        text = cell_source(cell)
        if role == "solution":
            remaining[exercise] -= 1
            mine = theirs.get(exercise)
            if not mine:  # missing: the stub, so the check reports "not implemented" and demos skip cleanly
                steps.append(("solution", exercise, markers.student_source(text, "code", exercise), index))
                continue
            k = used.get(exercise, 0)
            chunk = mine[k:k + 1] if remaining[exercise] > 0 else mine[k:]
            used[exercise] = k + len(chunk)
            for code in chunk:
                problems = vet.vet(code, source.forbidden_names)
                if problems:
                    rejected.setdefault(exercise, vet.describe(problems))
                    continue
                steps.append(("solution", exercise, code, index))
        elif role == "check":
            steps.append(("check", exercise, source.check_calls[index]))
        elif text.strip():
            steps.append(("cell", index, text))
    return Plan(steps, missing, rejected)


class _Run:
    """The state of one graded run, filled in as the steps go."""

    def __init__(self, source, the_plan):
        self.source = source
        self.plan = the_plan
        self.results = {}          # exercise -> the CheckResult of its visible calls (first failure, or the last)
        self.hidden_failed = set()
        self.solution_errors = {}  # exercise -> error dict of its solution cell
        self.instructor_errors = []
        self.stop = None           # (status, message) when the run ended early
        self.student_code_ran = False
        self.timeouts = []         # what ran past its time but was stopped by the worker's own timer


def run_plan(source, the_plan, session, limits, deadline):
    """Drive the worker through the plan; returns the _Run. WorkerErrors end the run as a status."""
    from course_utils.remote import LearnerRef, RemoteChannel

    run = _Run(source, the_plan)
    checks = source.checks
    channel = RemoteChannel(session.transport, limit=None)
    for step in the_plan.steps:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            run.stop = (runner.TIMEOUT, f"the whole submission ran longer than {limits.total_timeout:.0f} s")
            break
        timeout = min(limits.cell_timeout, remaining)
        try:
            if step[0] == "cell":
                reply = session.run_cell(step[2], f"<cell {step[1] + 1}>", timeout)
                if not reply.get("ok"):
                    run.instructor_errors.append((step[1], reply.get("error") or {}))
            elif step[0] == "solution":
                _, exercise, code, index = step
                run.student_code_ran = True
                reply = session.run_cell(code, f"<cell solution {exercise}>", timeout)
                if not reply.get("ok"):
                    error = reply.get("error") or {}
                    run.solution_errors.setdefault(exercise, error)
                    if error.get("type") == "Timeout":
                        run.timeouts.append(f"your solution cell for {exercise}")
            else:
                _, exercise, calls = step
                for call in calls:
                    before = channel.timeouts
                    check = checks[(exercise, call.check)]
                    learners = [LearnerRef(name) for name in call.learners]
                    result, _ = check.evaluate(*learners, channel=channel, **call.kwargs)
                    if call.hidden:
                        if result.status != "passed":
                            run.hidden_failed.add(exercise)
                    elif exercise not in run.results or run.results[exercise].status == "passed":
                        run.results[exercise] = result
                    if channel.timeouts > before:
                        run.timeouts.append(f"your code for {exercise}")
        except WorkerError as err:
            run.stop = _stop_for(err, step, run)
            break
    return run


def _stop_for(err, step, run):
    where = _describe_step(step)
    if err.kind == "timeout":
        return runner.TIMEOUT, f"{where} ran longer than the time limit; grading stopped there"
    if err.kind == "output":
        return runner.OUTPUT, err.detail
    if err.kind == "died":
        if err.detail.startswith("memory"):
            return MEMORY, f"the worker running your code died during {where}: {err.detail}"
        return CRASHED, f"the worker running your code died during {where}: {err.detail}"
    if run.student_code_ran:  # a garbled or oversized reply comes from the worker, where student code runs
        return CRASHED, f"the worker running your code sent an unreadable reply during {where} ({err.detail})"
    return runner.GRADER_ERROR, f"{where}: {err.kind}: {err.detail}"


def _describe_step(step):
    if step[0] == "solution":
        return f"your solution cell for {step[1]}"
    if step[0] == "check":
        return f"the check of {step[1]}"
    return f"cell {step[1] + 1} of the lesson"


def grade_notebook(source, notebook, limits, *, sandboxed=True, retries=2):
    """Grade one submission's notebook; the scored fields of its record (status, exercises, ...)."""
    the_plan = plan(source, notebook)
    attempts = 0
    while True:
        attempts += 1
        started = time.monotonic()
        session = WorkerSession(limits, sandboxed=sandboxed)
        try:
            session.start()
        except WorkerError as err:
            if attempts <= retries:
                continue
            return {"status": runner.GRADER_ERROR, "message": f"the sandbox could not start: {err.detail}",
                    "exercises": [], "notes": [], "attempts": attempts}
        try:
            run = run_plan(source, the_plan, session, limits, started + limits.total_timeout)
        finally:
            output_bytes = session.output_bytes
            session.close()
        # A worker that died before any student code ran is the infrastructure's fault: try again.
        if run.stop and not run.student_code_ran and run.stop[0] in (CRASHED, MEMORY, runner.GRADER_ERROR) \
                and attempts <= retries:
            continue
        scored = score(source, the_plan, run)
        scored.update(seconds=round(time.monotonic() - started, 3), output_bytes=output_bytes, attempts=attempts)
        return scored


def score(source, the_plan, run):
    """Turn a run into {status, message, exercises: [...], notes: [...], max_points: {...}}."""
    redact = Redactor(source)
    own_code = "\n".join(step[2] for step in the_plan.steps if step[0] == "solution")
    exercises = [_entry(exercise, source, the_plan, run) for exercise in source.exercises]
    for entry in exercises:
        entry["message"] = redact(runner.short(entry["message"], 600), own_code)
        entry["hint"] = redact(runner.short(entry["hint"], 400), own_code)
    notes = []
    if the_plan.missing:
        notes.append("no cell for " + ", ".join(the_plan.missing))
    if run.instructor_errors:  # for the instructor: the lesson's own cells failed after this student's code ran
        notes.append("lesson cells that raised: " + ", ".join(
            f"cell {index + 1} ({error.get('type', 'error')})" for index, error in run.instructor_errors[:5]))
    if run.stop:
        status, message = run.stop
    elif run.timeouts:
        status, message = runner.TIMEOUT, (", ".join(dict.fromkeys(run.timeouts)) + " ran longer than the time "
                                           "limit and was stopped; the other exercises were graded")
    else:
        status, message = GRADED, ""
    return {"status": status, "message": redact(runner.short(message, 600), own_code), "exercises": exercises,
            "notes": notes, "max_points": {e: source.points[e] for e in source.exercises}}


def _entry(exercise, source, the_plan, run):
    entry = {"exercise": exercise, "status": NOT_RUN, "points": 0.0, "max_points": source.points[exercise],
             "message": "", "hint": "", "device": "", "cases": None, "max_error": None}
    if exercise in the_plan.rejected:
        entry.update(status=REJECTED, message=(
            f"your solution cell for {exercise} was not run, because it breaks the rules for solution cells "
            f"({the_plan.rejected[exercise]}). Exercises use NumPy and math only; see the lesson's introduction"))
        return entry
    if exercise in the_plan.missing:
        entry.update(status=MISSING, message=f"your notebook has no solution cell for {exercise} (a cell whose "
                                             "metadata carries this exercise id); it scores 0")
        return entry
    result = run.results.get(exercise)
    if result is None:
        entry["message"] = f"not run: grading stopped before this check ({run.stop[0] if run.stop else 'stopped'})"
        return entry
    entry.update(status=result.status, message=result.message, hint=result.hint, device=result.device,
                 cases=result.cases, max_error=result.max_error)
    error = run.solution_errors.get(exercise)
    if error and result.status != "passed":
        entry["message"] = _error_message("your solution cell", error) + "; then the check said: " + result.message
    if result.status == "passed":
        if exercise in run.hidden_failed:
            entry.update(status="failed", hint="", message=(
                "your code passes the visible check but fails the hidden tests: test it on more cases "
                "(edge cases, other shapes)"))
        else:
            entry["points"] = float(min(result.points, source.points[exercise]))
    return entry


def _error_message(where, error):
    kind, text = error.get("type") or "an error", error.get("message") or ""
    if kind == "SystemExit":
        return f"{where} raised SystemExit: a notebook cell cannot exit; return a value instead"
    if kind == "Timeout":
        return f"{where} ran longer than the time limit"
    line = f" at line {error['line']}" if error.get("line") else ""
    return f"{where} raised {kind}{line}: {text}" if text else f"{where} raised {kind}{line}"


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
