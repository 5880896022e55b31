"""A tiny two-exercise lesson, built with nbformat, and submissions made from it.

The lesson uses the real `welcome.row_means` check (1 point) and a fixture check
`fixture.double` (2 points, with hidden tests), so the grading tests do not depend on the
lessons being written in parallel. Kernels import torch (through the welcome check), as lessons do.
"""

import copy
import textwrap
from pathlib import Path

import nbformat

HIDDEN_SECRET = "SECRET_HIDDEN_31337"     # a token that lives only in the hidden tests
HIDDEN_EXPECTED = "-3.25"                 # a hidden test's expected value

FIXTURE_CHECKS = '''\
"""A fixture check for the grading tests."""

import numpy as np

from course_utils.checking import exercise


@exercise("fixture.double", points=2, compared="2 * x")
def check_double(c, double):
    """double(x) returns 2 * x (visible cases: non-negative integers only)."""
    for case, x in [("x = [1, 2, 3]", np.array([1, 2, 3])), ("x of shape (1, 2)", np.array([[4, 5]]))]:
        out = c.call(double, x, case=case)
        c.expect_close(out, 2 * x, case=case, check_dtype=False)
'''

SETUP = '''\
import sys
sys.path.insert(0, {folder!r})
import numpy as np
import course_utils
from course_utils.checks.welcome import check_row_means
from fixture_checks import check_double

DEVICE = course_utils.setup(seed=0)'''

ROW_MEANS = '''\
def row_means(x):
    """The mean of each row of a 2-D array, shape (rows,)."""
    ### BEGIN SOLUTION
    total = x.sum(axis=1)
    return total / x.shape[1]
    ### END SOLUTION'''

DOUBLE = '''\
def double(x):
    """Twice x, elementwise."""
    ### BEGIN SOLUTION
    if x.ndim >= 0:
        twice = x * 2
    return twice
    ### END SOLUTION'''

CHECK_DOUBLE = f'''\
check_double(double)
### BEGIN HIDDEN TESTS
_hidden = double(np.array([-1.625, 0.5]))
assert np.allclose(_hidden, [{HIDDEN_EXPECTED}, 1.0]), "expected [{HIDDEN_EXPECTED}, 1.0] {HIDDEN_SECRET}"
### END HIDDEN TESTS'''

DEMO = '''\
with course_utils.skip_if_unfinished():
    print("row means of ones:", row_means(np.ones((2, 3))), "double:", double(np.arange(3)))'''

EXERCISES = ["welcome.row_means", "fixture.double"]
SOLUTION_LINES = ["total = x.sum(axis=1)", "return total / x.shape[1]", "twice = x * 2"]


def _meta(exercise, role):
    return {"course": {"exercise": exercise, "role": role}}


def build_lesson(folder, name="00_fixture.ipynb"):
    """Write the fixture check module and the lesson (solution version) into `folder`; return the path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "fixture_checks.py").write_text(FIXTURE_CHECKS)
    v4 = nbformat.v4
    notebook = v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                       "language": "python"}
    notebook.cells = [
        v4.new_markdown_cell("# A fixture lesson\n\nTwo exercises: $\\bar x_i = \\frac{1}{n}\\sum_j x_{ij}$ and $2x$."),
        v4.new_code_cell(SETUP.format(folder=str(folder.resolve()))),
        v4.new_markdown_cell("## Row means"),
        v4.new_code_cell(ROW_MEANS, metadata=_meta("welcome.row_means", "solution")),
        v4.new_code_cell("check_row_means(row_means)", metadata=_meta("welcome.row_means", "check")),
        v4.new_markdown_cell("## Double\n\n### BEGIN SOLUTION\nTwice: multiply by two.\n### END SOLUTION"),
        v4.new_code_cell(DOUBLE, metadata=_meta("fixture.double", "solution")),
        v4.new_code_cell(CHECK_DOUBLE, metadata=_meta("fixture.double", "check")),
        v4.new_code_cell(DEMO),
    ]
    path = folder / name
    nbformat.write(notebook, path)
    return path


def read(path):
    return nbformat.read(path, as_version=4)


def submission(source_path, answers=None, *, drop=(), extra_cells=(), edit=None):
    """A copy of the source notebook with the solution cells replaced.

    answers: exercise -> new source of its solution cell; drop: exercises whose solution cell is
    deleted; extra_cells: code sources appended at the end (no metadata); edit(notebook) for anything else.
    """
    notebook = copy.deepcopy(read(source_path))
    answers = answers or {}
    kept = []
    for cell in notebook.cells:
        meta = cell.metadata.get("course", {})
        if meta.get("role") == "solution":
            if meta.get("exercise") in drop:
                continue
            if meta.get("exercise") in answers:
                cell.source = textwrap.dedent(answers[meta["exercise"]]).strip("\n")
        kept.append(cell)
    notebook.cells = kept + [nbformat.v4.new_code_cell(textwrap.dedent(code)) for code in extra_cells]
    if edit is not None:
        edit(notebook)
    return notebook


def write(notebook, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


def released(source_path):
    from course_utils.grading.release import release_notebook

    return release_notebook(read(source_path))
