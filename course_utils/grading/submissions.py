"""Finding the submissions in a folder, and reading each one without trusting it.

Layout (docs/grading.md): SUBMISSIONS holds, per student, either

* `STUDENT.ipynb`: the student id is the file stem; or
* `STUDENT/`: a folder holding the notebook, named like the source notebook (e.g. the LMS kept
  the file name), or the only .ipynb in that folder.

Hidden files and folders (".*", e.g. .ipynb_checkpoints) are skipped. Anything else becomes a
row with a clear status rather than an error: a file that is not a notebook, a folder with no
notebook, two submissions whose ids differ at most in letter case.
"""

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

MAX_NOTEBOOK_BYTES = 64 * 2**20

# Submission statuses decided before any code runs.
NOT_A_NOTEBOOK = "not a notebook"
INVALID_JSON = "invalid json"
UNSUPPORTED_FORMAT = "unsupported format"
EMPTY = "empty"
NO_NOTEBOOK = "no notebook"
AMBIGUOUS = "ambiguous"
DUPLICATE = "duplicate"
WRONG_LESSON = "wrong lesson"
NO_EXERCISES = "no exercises"


@dataclass
class Submission:
    student: str
    paths: list = field(default_factory=list)    # the file(s) this row is about
    problem: tuple = None                        # (status, message) when it cannot be graded as is

    @property
    def path(self):
        return self.paths[0] if self.paths else None

    def sha256(self):
        digest = hashlib.sha256()
        for path in self.paths:
            digest.update(str(path.name).encode())
            try:
                digest.update(path.read_bytes() if path.is_file() else b"<folder>")
            except OSError as err:
                digest.update(repr(err).encode())
        if self.problem:
            digest.update(repr(self.problem).encode())
        return digest.hexdigest()


def safe_name(student):
    """A file name for a student id: itself when it is tame, else a tame version plus a short hash."""
    tame = re.sub(r"[^A-Za-z0-9._-]+", "_", student).strip("._") or "student"
    if tame != student:
        tame = f"{tame[:60]}-{hashlib.sha1(student.encode()).hexdigest()[:8]}"
    return tame


def discover(folder, source_name, exclude=()):
    """The submissions in `folder`, sorted by student id (see the module docstring for the layout).

    Entries in `exclude` (e.g. the grader's own output folder, if it sits inside) are skipped.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder of submissions")
    skip = {Path(p).resolve() for p in exclude}
    found = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.name == "__pycache__" or entry.resolve() in skip:
            continue
        if entry.is_dir():
            found.append(_from_folder(entry, source_name))
        elif entry.suffix.lower() == ".ipynb":
            found.append(Submission(entry.stem, [entry]))
        else:
            found.append(Submission(entry.stem, [entry], (NOT_A_NOTEBOOK,
                                    f"{entry.name} is not a notebook: submit the lesson's .ipynb file")))
    by_id = {}
    for submission in found:
        by_id.setdefault(submission.student.casefold(), []).append(submission)
    result = []
    for group in by_id.values():
        if len(group) == 1:
            result.append(group[0])
            continue
        paths = [p for s in group for p in s.paths] or [Path(s.student) for s in group]
        names = ", ".join(_shown(s) for s in group)
        result.append(Submission(group[0].student, paths, (DUPLICATE,
                                 f"{len(group)} submissions share this student id ({names}); none was graded. "
                                 "Keep one and run again")))
    return sorted(result, key=lambda s: s.student)


def _shown(submission):
    path = submission.path
    if path is None:
        return submission.student
    return f"{path.parent.name}/{path.name}" if path.parent.name == submission.student else path.name


def _from_folder(folder, source_name):
    notebooks = sorted(p for p in folder.rglob("*.ipynb")
                       if not any(part.startswith(".") for part in p.relative_to(folder).parts))
    named = [p for p in notebooks if p.name == source_name]
    if len(named) == 1:
        return Submission(folder.name, named)
    if len(notebooks) == 1:
        return Submission(folder.name, notebooks)
    if not notebooks:
        return Submission(folder.name, [folder], (NO_NOTEBOOK, f"the folder {folder.name}/ holds no .ipynb file"))
    names = ", ".join(p.relative_to(folder).as_posix() for p in notebooks[:5])
    return Submission(folder.name, notebooks, (AMBIGUOUS,
                      f"the folder {folder.name}/ holds several notebooks ({names}) and none is named {source_name}"))


def read_notebook(path):
    """(notebook, None) or (None, (status, message)). Never raises on bad input."""
    import nbformat

    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_NOTEBOOK_BYTES:
            return None, (NOT_A_NOTEBOOK, f"{path.name} is {size / 2**20:.0f} MiB; a lesson notebook is far smaller")
        raw = path.read_bytes()
    except OSError as err:
        return None, (NOT_A_NOTEBOOK, f"cannot read {path.name}: {err.strerror or err}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None, (NOT_A_NOTEBOOK, f"{path.name} is not a notebook (binary data, not UTF-8 JSON text)")
    if not text.strip():
        return None, (EMPTY, f"{path.name} is an empty file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        return None, (INVALID_JSON, f"{path.name} is not valid JSON (line {err.lineno}, column {err.colno}: "
                                    f"{err.msg}); was it saved completely?")
    if not isinstance(data, dict) or "nbformat" not in data:
        return None, (NOT_A_NOTEBOOK, f"{path.name} is JSON but not a Jupyter notebook")
    version = data.get("nbformat")
    if version != 4:
        return None, (UNSUPPORTED_FORMAT, f"{path.name} is an nbformat {version} notebook; the grader reads nbformat 4 "
                                          "(open and save it in JupyterLab, or submit the course's notebook)")
    cells = data.get("cells")
    if not isinstance(cells, list) or not all(isinstance(c, dict) and "cell_type" in c for c in cells):
        return None, (NOT_A_NOTEBOOK, f"{path.name} has no valid list of cells")
    if not any(_text(c.get("source")).strip() for c in cells):
        return None, (EMPTY, f"{path.name} has no cells with content")
    for cell in cells:  # tolerate what JupyterLab tolerates; normalise what the grader reads
        cell["source"] = _text(cell.get("source"))
        if not isinstance(cell.get("metadata"), dict):
            cell["metadata"] = {}
    return nbformat.from_dict(data), None


def _text(source):
    if isinstance(source, list):
        return "".join(str(s) for s in source)
    return source if isinstance(source, str) else ""
