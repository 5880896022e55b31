"""`course grade`: grade a folder of submissions in parallel, resumably, each in its own sandbox.

* `workers` grader processes run at once; each grades one submission at a time: it starts the
  submission's sandboxed worker (session.py), drives it through the lesson, and runs the checks
  itself (grade.py). No student code runs in a grader process.
* Each result is written to OUT/results/STUDENT.json, sealed (seal.py) and atomically, the moment it
  is known, so a crash or Ctrl-C loses nothing. A re-run keeps a result only if its seal is valid and
  its source, submission, limits and grader version are unchanged (unless `force`); "grader error"
  results are always tried again.
* The reports (gradebook.csv, grades.json, feedback/) are rebuilt from OUT/results/ at the end of
  every run, interrupted runs included.
"""

import concurrent.futures as futures
import datetime
import json
import multiprocessing
from dataclasses import dataclass, field
from pathlib import Path

from course_utils.grading import grade, isolation, report, runner, seal, submissions

RESULTS = "results"
SANDBOXED = "bubblewrap"
UNSANDBOXED = "none (--unsafe-no-sandbox)"


class SandboxRequired(RuntimeError):
    pass


@dataclass
class BatchSummary:
    graded: int = 0                  # results written in this run
    skipped: int = 0                 # already graded, kept
    interrupted: bool = False
    statuses: dict = field(default_factory=dict)
    out: Path = None
    problems: list = field(default_factory=list)
    sandbox: str = SANDBOXED

    @property
    def exit_code(self):
        if self.interrupted:
            return 130
        return 1 if self.statuses.get(runner.GRADER_ERROR) or self.statuses.get(grade.NOT_GRADED) else 0


def _version():
    from course_utils import __version__

    return __version__


def _record(student, sub, source, limits, sandbox, **fields):
    base = {"student": student, "status": None, "message": "",
            "submission": [str(p) for p in sub.paths], "submission_sha256": sub.sha256(),
            "source": source.name, "source_sha256": source.sha256,
            "grader": {"version": _version(), "limits": limits.as_dict(), "sandbox": sandbox},
            "exercises": [], "max_points": {}, "notes": [], "seconds": 0.0,
            "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    base.update(fields)
    return base


def _reusable(path, sub, source, limits, sandbox, key):
    """The record at `path` if this grader sealed it for exactly this submission and set-up; else None.

    Returns (record or None, why it was not kept or None).
    """
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError):
        return None, "unreadable"
    if not seal.is_sealed(old, key):
        return None, "not sealed by this grader"
    grader = old.get("grader") or {}
    same = (old.get("source_sha256") == source.sha256 and old.get("submission_sha256") == sub.sha256()
            and grader.get("limits") == limits.as_dict() and grader.get("version") == _version()
            and grader.get("sandbox") == sandbox and old.get("status") not in (runner.GRADER_ERROR, None))
    return (old, None) if same else (None, None)


def grade_batch(source_path, submissions_dir, out_dir, *, workers=None, limits=None, force=False,
                progress=True, log=print, sandboxed=True):
    """Grade every submission in `submissions_dir` against `source_path`; write OUT. Returns a BatchSummary."""
    limits = limits or runner.Limits()
    workers = workers or runner.default_workers()
    sandbox = SANDBOXED if sandboxed else UNSANDBOXED
    source_file = _SourceFile(Path(source_path))
    out_dir = Path(out_dir)
    subs = submissions.discover(submissions_dir, source_file.name, exclude=[out_dir])
    key = seal.grader_key()
    names = {sub.student: submissions.safe_name(sub.student) for sub in subs}
    summary = BatchSummary(out=out_dir, sandbox=sandbox)
    results_dir = out_dir / RESULTS
    records, candidates, distrusted = {}, [], []
    for sub in subs:
        if not force:
            old, why = _reusable(results_dir / f"{names[sub.student]}.json", sub, source_file, limits, sandbox, key)
            if old is not None:
                records[sub.student] = old
                summary.skipped += 1
                continue
            if why:
                distrusted.append(sub.student)
        candidates.append(sub)
    # The grader processes start now, so that their start (Python, torch, the checks) overlaps this
    # process's reading of the source; nothing starts when every submission is already graded.
    pool = _executor(min(workers, len(candidates))) if candidates else None
    try:
        return _grade(pool, source_path, subs, candidates, records, names, out_dir, results_dir, key, summary,
                      distrusted, limits, sandboxed, sandbox, progress, log)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _grade(pool, source_path, subs, candidates, records, names, out_dir, results_dir, key, summary,
           distrusted, limits, sandboxed, sandbox, progress, log):
    for _ in range(pool._max_workers if pool is not None else 0):
        pool.submit(_warm, str(source_path))
    source = grade.load_source(source_path)  # a source that cannot be graded against is the first thing to say
    if sandboxed:
        problem = isolation.probe()
        if problem:
            raise SandboxRequired(f"cannot sandbox the submissions: {problem}. Install bubblewrap (make sandbox), "
                                  "grade in the container of docs/grading.md, or pass --unsafe-no-sandbox to run "
                                  "student code unconfined (only for code you trust)")
    else:
        log("WARNING: --unsafe-no-sandbox: student code runs as your user, can read your files and reach the "
            "network. Use it only for code you trust; the gradebook records this mode.")
    results_dir.mkdir(parents=True, exist_ok=True)
    todo = []

    def finish(sub, record):
        records[sub.student] = record
        report.atomic_write_json(results_dir / f"{names[sub.student]}.json", seal.sealed(record, key))
        summary.graded += 1

    for sub in candidates:
        problem = sub.problem
        if problem is None:
            notebook, problem = submissions.read_notebook(sub.path)
            if problem is None:
                problem = grade.submission_problem(source, notebook)
        if problem is not None:
            finish(sub, _record(sub.student, sub, source, limits, sandbox, status=problem[0], message=problem[1]))
            continue
        todo.append(sub)

    if distrusted:
        log(f"{len(distrusted)} result file(s) were not sealed by this grader and are graded again: "
            + ", ".join(distrusted[:5]) + (" ..." if len(distrusted) > 5 else ""))
    if summary.skipped:
        log(f"{summary.skipped} submission(s) already graded with this source and these limits: kept "
            "(--force to grade them again)")
    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc="grading", unit="submission", dynamic_ncols=True)
    failed = 0
    try:
        if todo:
            pending = {pool.submit(_grade_one, str(source.path), str(sub.path), limits, sandboxed): sub
                       for sub in todo}
            try:
                for done in futures.as_completed(pending):
                    sub = pending[done]
                    try:
                        scored = done.result()
                    except Exception as err:  # a grader process failed: not the student's fault
                        scored = {"status": runner.GRADER_ERROR, "message": f"the grader failed: {err}",
                                  "exercises": []}
                    record = _record(sub.student, sub, source, limits, sandbox, **scored)
                    finish(sub, record)
                    failed += record["status"] != grade.GRADED
                    if bar is not None:
                        bar.set_postfix({"not graded normally": failed}, refresh=False)
                        bar.update(1)
            except KeyboardInterrupt:
                for future in pending:
                    future.cancel()
                raise
    except KeyboardInterrupt:
        summary.interrupted = True
        log("interrupted: finished results are saved; run the same command again to resume")
    finally:
        if bar is not None:
            bar.close()
        _finalise(source, subs, records, names, out_dir, summary)
    return summary


_SOURCES = {}


class _SourceFile:
    """The source notebook's name and digest: enough to find the submissions and the reusable records."""

    def __init__(self, path):
        import hashlib

        if not path.is_file():
            raise grade.GradeError(f"{path} is not a notebook file")
        self.path, self.name = path, path.name
        self.sha256 = hashlib.sha256(path.read_bytes()).hexdigest()


def _executor(workers):
    """The grader processes; spawned, so they share no state with this one."""
    context = multiprocessing.get_context("spawn")
    return futures.ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_grader)


def _init_grader():
    """Each grader process uses one thread for torch: the workers are the parallelism."""
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


def _source(source_path):
    source = _SOURCES.get(source_path)
    if source is None:
        source = _SOURCES[source_path] = grade.load_source(source_path)
    return source


def _warm(source_path):
    """In a grader process, while the batch is being prepared: load the source (and with it the checks)."""
    try:
        _source(source_path)
    except Exception:  # the batch itself reports a source that cannot be loaded
        pass


def _grade_one(source_path, notebook_path, limits, sandboxed):
    """In a grader process: read the submission, grade it against the (loaded once) source."""
    source = _source(source_path)
    notebook, problem = submissions.read_notebook(notebook_path)
    if problem is not None:
        return {"status": problem[0], "message": problem[1], "exercises": []}
    return grade.grade_notebook(source, notebook, limits, sandboxed=sandboxed)


def _finalise(source, subs, records, names, out_dir, summary):
    rows = []
    for sub in subs:
        record = records.get(sub.student)
        if record is None:
            record = {"student": sub.student, "status": grade.NOT_GRADED, "message": "grading was interrupted",
                      "exercises": []}
        rows.append(record)
    report.write_reports(out_dir, source.name, source.exercises, rows, dict(source.points), names,
                         sandbox=summary.sandbox)
    summary.statuses = {}
    for record in rows:
        summary.statuses[record["status"]] = summary.statuses.get(record["status"], 0) + 1


def summary_line(summary):
    parts = ", ".join(f"{n} {status}" for status, n in sorted(summary.statuses.items()))
    return (f"{summary.graded} graded now, {summary.skipped} kept from before; statuses: {parts}. "
            f"Sandbox: {summary.sandbox}. Wrote {summary.out / 'gradebook.csv'}, {summary.out / 'grades.json'}, "
            f"{summary.out / 'feedback'}/")
