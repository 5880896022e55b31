"""A tiny two-exercise lesson, built with nbformat, and submissions made from it.

The lesson uses two real checks, `welcome.row_means` and `activations.relu` (with hidden tests
that re-run it on seed 2026), so grading is tested exactly as the lessons are graded. The setup
cell imports torch, as lessons do.
"""

import copy
import textwrap
from pathlib import Path

import nbformat

HIDDEN_SEED = 2026                        # lives only in the hidden tests

SETUP = '''\
import numpy as np
import torch
import course_utils
from course_utils.checks.welcome import check_row_means
from course_utils.checks.activations import check_relu

DEVICE = course_utils.setup(seed=0)'''

ROW_MEANS = '''\
def row_means(x):
    """The mean of each row of a 2-D array, shape (rows,)."""
    ### BEGIN SOLUTION
    total = x.sum(axis=1)
    return total / x.shape[1]
    ### END SOLUTION'''

RELU = '''\
def relu(x):
    """max(0, x), elementwise."""
    ### BEGIN SOLUTION
    positive_part = np.maximum(x, 0.0)
    return positive_part
    ### END SOLUTION'''

CHECK_RELU = f'''\
check_relu(relu)
### BEGIN HIDDEN TESTS
check_relu(relu, seed={HIDDEN_SEED})
### END HIDDEN TESTS'''

DEMO = '''\
with course_utils.skip_if_unfinished():
    print("row means of ones:", row_means(np.ones((2, 3))), "relu:", relu(np.arange(-2.0, 2.0)))'''

EXERCISES = ["welcome.row_means", "activations.relu"]
SOLUTION_LINES = ["total = x.sum(axis=1)", "return total / x.shape[1]", "positive_part = np.maximum(x, 0.0)"]


def _meta(exercise, role):
    return {"course": {"exercise": exercise, "role": role}}


def build_lesson(folder, name="00_fixture.ipynb"):
    """Write the fixture check module and the lesson (solution version) into `folder`; return the path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    v4 = nbformat.v4
    notebook = v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                       "language": "python"}
    notebook.cells = [
        v4.new_markdown_cell("# A fixture lesson\n\nTwo exercises: $\\bar x_i = \\frac{1}{n}\\sum_j x_{ij}$ and $2x$."),
        v4.new_code_cell(SETUP),
        v4.new_markdown_cell("## Row means"),
        v4.new_code_cell(ROW_MEANS, metadata=_meta("welcome.row_means", "solution")),
        v4.new_code_cell("check_row_means(row_means)", metadata=_meta("welcome.row_means", "check")),
        v4.new_markdown_cell("## ReLU\n\n### BEGIN SOLUTION\nKeep the positive part.\n### END SOLUTION"),
        v4.new_code_cell(RELU, metadata=_meta("activations.relu", "solution")),
        v4.new_code_cell(CHECK_RELU, metadata=_meta("activations.relu", "check")),
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
