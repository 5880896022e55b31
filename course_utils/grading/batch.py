"""`course grade`: grade a folder of submissions in parallel, resumably.

* Each submission runs in its own sandboxed kernel (runner.py); `workers` run at once.
* Each result is written to OUT/results/STUDENT.json atomically the moment it is known, so a crash
  or Ctrl-C loses nothing; a re-run skips results whose source, submission and limits are
  unchanged (unless `force`), and retries "grader error" ones.
* The reports (gradebook.csv, grades.json, feedback/) are rebuilt from OUT/results/ at the end of
  every run, interrupted runs included.
"""

import asyncio
import datetime
from dataclasses import dataclass, field
from pathlib import Path

from course_utils.grading import grade, report, runner, submissions

RESULTS = "results"


@dataclass
class BatchSummary:
    graded: int = 0                  # results written in this run
    skipped: int = 0                 # already graded, kept
    interrupted: bool = False
    statuses: dict = field(default_factory=dict)
    out: Path = None
    problems: list = field(default_factory=list)

    @property
    def exit_code(self):
        if self.interrupted:
            return 130
        return 1 if self.statuses.get(runner.GRADER_ERROR) or self.statuses.get(grade.NOT_GRADED) else 0


def _version():
    from course_utils import __version__

    return __version__


def _record(student, sub, source, limits, **fields):
    base = {"student": student, "status": None, "message": "",
            "submission": [str(p) for p in sub.paths], "submission_sha256": sub.sha256(),
            "source": source.name, "source_sha256": source.sha256,
            "grader": {"version": _version(), "limits": limits.as_dict()},
            "exercises": [], "max_points": {}, "notes": [], "seconds": 0.0,
            "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    base.update(fields)
    return base


def _reusable(path, sub, source, limits):
    import json

    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    same = (old.get("source_sha256") == source.sha256 and old.get("submission_sha256") == sub.sha256()
            and old.get("grader", {}).get("limits") == limits.as_dict()
            and old.get("grader", {}).get("version") == _version()
            and old.get("status") not in (runner.GRADER_ERROR, None))
    return old if same else None


def grade_batch(source_path, submissions_dir, out_dir, *, workers=None, limits=None, force=False,
                progress=True, log=print, env=None):
    """Grade every submission in `submissions_dir` against `source_path`; write OUT. Returns a BatchSummary."""
    limits = limits or runner.Limits()
    workers = workers or runner.default_workers()
    source = grade.load_source(source_path)
    out_dir = Path(out_dir)
    subs = submissions.discover(submissions_dir, source.name, exclude=[out_dir])
    results_dir = out_dir / RESULTS
    results_dir.mkdir(parents=True, exist_ok=True)
    names = {sub.student: submissions.safe_name(sub.student) for sub in subs}
    summary = BatchSummary(out=out_dir)
    records = {}
    jobs, job_subs = [], []

    def finish(sub, record):
        records[sub.student] = record
        report.atomic_write_json(results_dir / f"{names[sub.student]}.json", record)

    for sub in subs:
        path = results_dir / f"{names[sub.student]}.json"
        old = None if force else _reusable(path, sub, source, limits)
        if old is not None:
            records[sub.student] = old
            summary.skipped += 1
            continue
        problem = sub.problem
        notebook = None
        if problem is None:
            notebook, problem = submissions.read_notebook(sub.path)
        if problem is None:
            problem = grade.submission_problem(source, notebook)
        if problem is not None:
            finish(sub, _record(sub.student, sub, source, limits, status=problem[0], message=problem[1]))
            summary.graded += 1
            continue
        steps, missing = grade.build_steps(source, notebook)
        watch = grade.Watch()
        jobs.append((steps, {"on_step": watch}))
        job_subs.append((sub, steps, missing, watch))

    if summary.skipped:
        log(f"{summary.skipped} submission(s) already graded with this source and these limits: kept "
            "(--force to grade them again)")
    bar = None
    if progress and jobs:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), desc="grading", unit="submission", dynamic_ncols=True)
    failed = 0

    def done(index, outcome):
        nonlocal failed
        sub, steps, missing, watch = job_subs[index]
        scored = grade.score(source, steps, missing, outcome, watch)
        record = _record(sub.student, sub, source, limits, seconds=round(outcome.seconds, 3),
                         output_bytes=outcome.output_bytes, **scored)
        finish(sub, record)
        summary.graded += 1
        if record["status"] != grade.GRADED:
            failed += 1
        if bar is not None:
            bar.set_postfix({"failures": failed}, refresh=False)
            bar.update(1)

    try:
        if jobs:
            asyncio.run(runner.run_pool(jobs, limits, workers=workers, on_done=done, scrub_env=True,
                                        env={**runner.kernel_env(workers), **(env or {}),
                                             **_device_env(limits)}))
    except KeyboardInterrupt:
        summary.interrupted = True
        log("interrupted: finished results are saved; run the same command again to resume")
    finally:
        if bar is not None:
            bar.close()
        _finalise(source, subs, records, names, out_dir, limits, summary, log, env)
    return summary


def _device_env(limits):
    """Under a memory cap CUDA cannot initialise (it reserves a huge address space): grade on the CPU."""
    import os

    if limits.memory_mb and not os.environ.get("COURSE_DEVICE"):
        return {"COURSE_DEVICE": "cpu"}
    return {}


def _finalise(source, subs, records, names, out_dir, limits, summary, log, env):
    max_points = {}
    for record in records.values():
        for exercise, value in (record.get("max_points") or {}).items():
            if value is not None:
                max_points.setdefault(exercise, value)
        for entry in record.get("exercises", []):
            if entry.get("max_points") is not None:
                max_points.setdefault(entry["exercise"], entry["max_points"])
    unknown = [e for e in source.exercises if e not in max_points]
    if unknown and not summary.interrupted:
        max_points.update(_reference_points(source, limits, env))
    rows = []
    for sub in subs:
        record = records.get(sub.student)
        if record is None:
            record = {"student": sub.student, "status": grade.NOT_GRADED, "message": "grading was interrupted",
                      "exercises": []}
        rows.append(record)
    report.write_reports(out_dir, source.name, source.exercises, rows, max_points, names)
    summary.statuses = {}
    for record in rows:
        summary.statuses[record["status"]] = summary.statuses.get(record["status"], 0) + 1


def _reference_points(source, limits, env):
    """Points of exercises no submission reached: run the source's own solutions once, read the registry."""
    steps, missing = grade.build_steps(source, source.notebook)
    watch = grade.Watch()
    runner.run_many([(steps, {"on_step": watch})], limits, workers=1, env={**(env or {}), **_device_env(limits)})
    return {k: v for k, v in watch.points.items() if k in source.exercises and v is not None}


def summary_line(summary):
    parts = ", ".join(f"{n} {status}" for status, n in sorted(summary.statuses.items()))
    return (f"{summary.graded} graded now, {summary.skipped} kept from before; statuses: {parts}. "
            f"Wrote {summary.out / 'gradebook.csv'}, {summary.out / 'grades.json'}, {summary.out / 'feedback'}/")

