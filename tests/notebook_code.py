"""Load the reference solutions straight out of a lesson notebook, so tests check what learners see."""

import ast
import math
from pathlib import Path

import nbformat
import numpy as np

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def notebook_path(lesson):
    matches = sorted(NOTEBOOKS.glob(f"*{lesson}.ipynb"))
    if len(matches) != 1:
        raise FileNotFoundError(f"expected one notebook named *{lesson}.ipynb in {NOTEBOOKS}, found {matches}")
    return matches[0]


def course_cells(lesson, role):
    notebook = nbformat.read(notebook_path(lesson), as_version=4)
    return [cell for cell in notebook.cells
            if cell.cell_type == "code" and cell.metadata.get("course", {}).get("role") == role]


def building_blocks(lesson):
    """The names the lesson's setup cell imports from course_utils.layers, which solution cells may use."""
    notebook = nbformat.read(notebook_path(lesson), as_version=4)
    setup = next(cell for cell in notebook.cells if cell.cell_type == "code")
    namespace = {}
    for node in ast.parse(setup.source).body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("course_utils.layers"):
            exec(compile(ast.Module(body=[node], type_ignores=[]), f"<{lesson} setup>", "exec"), namespace)
    namespace.pop("__builtins__", None)
    return namespace


PROVIDED = "# Provided:"  # a lesson cell that hands learners a helper their solution cells use


def load_solutions(lesson):
    """Execute the notebook's solution cells (and the "# Provided:" helper cells), in order, and return the
    namespace they define.

    Solution cells may use numpy (np), math, the names the setup cell imports from course_utils.layers
    (the building blocks of later lessons), provided helpers and what earlier solution cells define.
    """
    namespace = {"np": np, "math": math, **building_blocks(lesson), "__name__": f"solutions_{lesson}"}
    notebook = nbformat.read(notebook_path(lesson), as_version=4)
    for index, cell in enumerate(notebook.cells):
        role = cell.metadata.get("course", {}).get("role")
        if cell.cell_type == "code" and (role == "solution" or cell.source.startswith(PROVIDED)):
            exec(compile(cell.source, f"<{lesson} cell {index}>", "exec"), namespace)
    return namespace
