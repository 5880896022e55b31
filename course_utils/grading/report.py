"""What `course grade` writes: gradebook.csv, grades.json, feedback/STUDENT.md, all atomically.

Records (one per student) are the per-student result files of batch.py; everything here is
derived from them, so a report can be rebuilt at any time from OUT/results/.
"""

import csv
import io
import json
import os
import re
from pathlib import Path

STATUS_HELP = {
    "graded": "graded: your notebook ran to the end",
    "timeout": "a cell ran longer than the time limit",
    "memory": "your code ran out of memory under the grader's cap",
    "crashed": "the Python process running your code ended early (a crash, or code that exits)",
    "output too large": "your notebook printed more output than the grader accepts",
    "grader error": "the grader failed (not your fault); it will be retried",
    "not graded": "grading was interrupted before this submission",
}


def atomic_write_text(path, text):
    """Write via a temporary file in the same folder and os.replace, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_json(path, data):
    atomic_write_text(path, json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False) + "\n")


def totals(record, exercises, max_points):
    points = {e["exercise"]: e.get("points") or 0.0 for e in record.get("exercises", [])}
    total = sum(points.get(e, 0.0) for e in exercises)
    known = [max_points.get(e) for e in exercises]
    max_total = sum(known) if all(v is not None for v in known) else None
    return points, total, max_total


def _number(value):
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _cell(text):
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = str(text).replace("\r", " ").replace("\n", " ")
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t") else text


def gradebook_csv(exercises, records, max_points, sandbox=""):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", *exercises, "total", "max_total", "status", "message", "sandbox"])
    for record in records:
        points, total, max_total = totals(record, exercises, max_points)
        graded = record.get("exercises")
        writer.writerow([_cell(record["student"]),
                         *[_number(points.get(e, 0.0)) if graded else "" for e in exercises],
                         _number(float(total)), _number(max_total), record["status"],
                         _cell(record.get("message", ""))[:300],
                         (record.get("grader") or {}).get("sandbox", sandbox)])
    return buffer.getvalue()


def grades_json(source, exercises, records, max_points, sandbox=""):
    students = []
    for record in records:
        _, total, max_total = totals(record, exercises, max_points)
        students.append({**record, "total": total, "max_total": max_total})
    counts = {}
    for record in records:
        counts[record["status"]] = counts.get(record["status"], 0) + 1
    return {"source": source, "sandbox": sandbox, "exercises": [{"exercise": e, "max_points": max_points.get(e)} for e in exercises],
            "statuses": counts, "students": students}


def _fence(text):
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}\n"


def feedback_markdown(record, exercises, max_points, lesson):
    """Per-student feedback: score, status, and each exercise's message and hint. No hidden tests."""
    points, total, max_total = totals(record, exercises, max_points)
    out = [f"# Feedback on {lesson}\n", f"Student: `{record['student']}`\n"]
    score = f"{total:g} / {max_total:g}" if max_total is not None else f"{total:g}"
    out.append(f"**Score: {score}** (status: {record['status']})\n")
    if record["status"] != "graded":
        out.append(STATUS_HELP.get(record["status"], record["status"]).capitalize() + ".\n")
    if record.get("message"):
        out.append(_fence(record["message"]))
    entries = record.get("exercises") or []
    if entries:
        out.append("| exercise | result | points |\n| --- | --- | --- |")
        for entry in entries:
            best = max_points.get(entry["exercise"])
            earned = f"{entry.get('points') or 0:g}" + (f" / {best:g}" if best is not None else "")
            out.append(f"| `{entry['exercise']}` | {entry['status']} | {earned} |")
        out.append("")
        for entry in entries:
            out.append(f"## `{entry['exercise']}`: {entry['status']}\n")
            if entry.get("message"):
                out.append(_fence(entry["message"]))
            if entry.get("hint"):
                out.append("Hint:\n")
                out.append(_fence(entry["hint"]))
    return "\n".join(out)


def write_reports(out_dir, source_name, exercises, records, max_points, feedback_names, sandbox=""):
    """Write gradebook.csv, grades.json and feedback/*.md; return their paths."""
    out_dir = Path(out_dir)
    atomic_write_text(out_dir / "gradebook.csv", gradebook_csv(exercises, records, max_points, sandbox))
    atomic_write_json(out_dir / "grades.json", grades_json(source_name, exercises, records, max_points, sandbox))
    lesson = Path(source_name).stem
    for record in records:
        atomic_write_text(out_dir / "feedback" / f"{feedback_names[record['student']]}.md",
                          feedback_markdown(record, exercises, max_points, lesson))
    return [out_dir / "gradebook.csv", out_dir / "grades.json", out_dir / "feedback"]
