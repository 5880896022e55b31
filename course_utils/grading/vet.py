"""Vet a student's solution cell before it runs: NumPy exercises use NumPy, and nothing else.

The rules (docs/grading.md, "What a solution cell may use"), checked on the cell's syntax tree:

* imports: only numpy (and its submodules, except ctypeslib, f2py, testing and distutils) and math;
* no names that reach code, files, processes or the interpreter: exec, eval, compile, open,
  __import__, getattr/setattr/delattr, globals/locals/vars, input, breakpoint, ...;
* no module names that lead there (sys, os, ctypes, subprocess, importlib, threading, ...), as a
  name or an attribute, and no frame or code attributes (f_globals, gi_frame, ...);
* no dunder attribute beyond a short list (__init__, __call__, __name__ and the operator methods a
  class defines), and no dunder name inside a string (str.format can reach attributes too);
* no torch, scipy & co., no course_utils, and none of the names the instructor's own cells bind by
  importing them (check_x, F, to_torch, ...), except names imported from course_utils.layers, the
  building blocks later lessons hand to learners.

`course status` applies the same rules, so a learner finds out before submitting.
"""

import ast
from dataclasses import dataclass

ALLOWED_MODULES = ("numpy", "math")
BLOCKED_NUMPY_PARTS = ("ctypeslib", "f2py", "testing", "distutils")
BUILDING_BLOCKS = ("course_utils.layers",)

BANNED_CALLS = {
    "exec", "eval", "compile", "open", "__import__", "getattr", "setattr", "delattr", "globals", "locals",
    "vars", "input", "breakpoint", "help", "memoryview", "exit", "quit", "__builtins__", "__loader__",
    "__spec__", "dir",
}
BANNED_MODULE_NAMES = {
    "sys", "os", "posix", "nt", "ctypes", "ctypeslib", "subprocess", "importlib", "threading", "_thread",
    "multiprocessing", "concurrent", "asyncio", "signal", "socket", "builtins", "inspect", "gc", "io",
    "shutil", "pathlib", "pickle", "marshal", "types", "code", "codeop", "weakref", "resource", "mmap",
    "f2py", "testing", "distutils", "torch", "scipy", "sklearn", "jax", "tensorflow", "cupy", "autograd",
    "mxnet", "keras", "course_utils", "IPython", "get_ipython",
}
FRAME_ATTRIBUTES = {
    "f_globals", "f_locals", "f_back", "f_code", "f_builtins", "gi_frame", "gi_code", "cr_frame", "cr_code",
    "ag_frame", "tb_frame", "tb_next", "co_code", "co_consts", "func_globals", "func_code", "mro",
}
# File input and output (NumPy's loaders can unpickle, which runs code); no exercise reads or writes files.
FILE_ATTRIBUTES = {
    "load", "loads", "save", "savez", "savez_compressed", "savetxt", "loadtxt", "genfromtxt", "fromfile",
    "tofile", "memmap", "fromregex", "DataSource", "dump", "dumps", "format", "format_map",
}
ALLOWED_DUNDERS = {
    "__init__", "__call__", "__name__", "__repr__", "__str__", "__len__", "__getitem__", "__setitem__",
    "__iter__", "__next__", "__contains__", "__hash__", "__bool__", "__eq__", "__ne__", "__lt__", "__le__",
    "__gt__", "__ge__", "__add__", "__radd__", "__iadd__", "__sub__", "__rsub__", "__isub__", "__mul__",
    "__rmul__", "__imul__", "__truediv__", "__rtruediv__", "__itruediv__", "__floordiv__", "__rfloordiv__",
    "__mod__", "__pow__", "__rpow__", "__neg__", "__pos__", "__abs__", "__matmul__", "__rmatmul__",
    "__float__", "__int__",
}


@dataclass
class Violation:
    line: int
    rule: str

    def __str__(self):
        return f"line {self.line}: {self.rule}"


def forbidden_bindings(instructor_sources):
    """Names the instructor's cells bind by importing anything but numpy, math or the course's building blocks."""
    names = set()
    for source in instructor_sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if not _allowed_module(alias.name):
                        names.add((alias.asname or alias.name).split(".")[0])
            elif isinstance(node, ast.ImportFrom) and node.module:
                if _allowed_module(node.module) or node.module.startswith(BUILDING_BLOCKS):
                    continue
                names.update(alias.asname or alias.name for alias in node.names)
    return names


def vet(source, forbidden_names=()):
    """The rule violations of one solution cell (an empty list when it may run)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []  # nothing of it can run: the worker reports the SyntaxError, with its line, as for any error
    visitor = _Vetter(set(forbidden_names), _docstrings(tree), _bound_names(tree))
    visitor.visit(tree)
    return visitor.violations


def _bound_names(tree):
    """Names the cell binds itself (parameters, assignments, loop targets, defs): e.g. torch's own
    argument name `input`, which then means the cell's variable, not the builtin."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def describe(violations, limit=3):
    shown = "; ".join(str(v) for v in violations[:limit])
    more = f" (and {len(violations) - limit} more)" if len(violations) > limit else ""
    return shown + more


def _allowed_module(name):
    parts = name.split(".")
    if parts[0] not in ALLOWED_MODULES:
        return False
    return not any(part in BLOCKED_NUMPY_PARTS or part.startswith("_") for part in parts[1:])


def _docstrings(tree):
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


class _Vetter(ast.NodeVisitor):
    def __init__(self, forbidden_names, docstrings, bound):
        self.forbidden = forbidden_names
        self.docstrings = docstrings
        self.bound = bound  # a builtin the cell rebinds is its own variable there
        self.violations = []

    def flag(self, node, rule):
        self.violations.append(Violation(getattr(node, "lineno", 1), rule))

    def visit_Import(self, node):
        for alias in node.names:
            if not _allowed_module(alias.name):
                self.flag(node, f"imports {alias.name}; solution cells may import only numpy and math")
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        module = "." * node.level + (node.module or "")
        if node.level or not _allowed_module(module):
            self.flag(node, f"imports from {module}; solution cells may import only numpy and math")
        for alias in node.names:
            if alias.name == "*":
                self.flag(node, "uses `import *`; import the names you need")
        self.generic_visit(node)

    def visit_Name(self, node):
        name = node.id
        if name in BANNED_CALLS and name not in self.bound:
            self.flag(node, f"uses `{name}`, which solution cells may not use (no dynamic code, files or "
                            "attribute look-ups by name)")
        elif name in BANNED_MODULE_NAMES:
            self.flag(node, f"uses `{name}`; an exercise is written with NumPy alone")
        elif name in self.forbidden and isinstance(node.ctx, ast.Load):
            self.flag(node, f"uses `{name}`, which the lesson imports for the instructor's cells (torch or the "
                            "course's checks); an exercise is written with NumPy alone")
        elif _is_dunder(name) and name not in ALLOWED_DUNDERS:
            self.flag(node, f"uses `{name}`; solution cells may not reach the interpreter's internals")
        self.generic_visit(node)

    def visit_Attribute(self, node):
        attr = node.attr
        if attr in BANNED_MODULE_NAMES or attr in FRAME_ATTRIBUTES:
            self.flag(node, f"uses the attribute `.{attr}`, which leads outside NumPy")
        elif attr in FILE_ATTRIBUTES:
            self.flag(node, f"uses `.{attr}`; solution cells do not read or write files (and format strings "
                            "can reach attributes: use an f-string)")
        elif _is_dunder(attr) and attr not in ALLOWED_DUNDERS:
            self.flag(node, f"uses the attribute `.{attr}`; solution cells may not reach the interpreter's internals")
        self.generic_visit(node)

    def visit_keyword(self, node):
        if node.arg == "allow_pickle":
            self.flag(node, "uses allow_pickle; unpickling runs code")
        self.generic_visit(node)

    def visit_Constant(self, node):
        if isinstance(node.value, str) and id(node) not in self.docstrings and "__" in node.value:
            self.flag(node, "has a string with a double underscore, which can name the interpreter's internals")

    def visit_Global(self, node):
        for name in node.names:
            if name in self.forbidden or name in BANNED_MODULE_NAMES:
                self.flag(node, f"declares `global {name}`")
        self.generic_visit(node)


def _is_dunder(name):
    return len(name) > 4 and name.startswith("__") and name.endswith("__")
