"""Solution and hidden-test regions in cell sources, and the stubs that replace them.

A region is the lines between two marker lines (the markers themselves are not part of it):

    ### BEGIN SOLUTION            ### BEGIN HIDDEN TESTS
    ...                           ...
    ### END SOLUTION              ### END HIDDEN TESTS

Marker lines are recognised leniently (any line that contains the phrase, any case, any number
of '#'), because a marker that is missed would leak a solution. Markers that do not pair up
(an END without a BEGIN, a region left open, one region inside another) raise MarkerError
rather than guess.
"""

import re
import textwrap
from dataclasses import dataclass

SOLUTION, HIDDEN, TEXT = "solution", "hidden", "text"

_BEGIN = {SOLUTION: re.compile(r"BEGIN\s+SOLUTION", re.I), HIDDEN: re.compile(r"BEGIN\s+HIDDEN\s+TESTS?", re.I)}
_END = {SOLUTION: re.compile(r"END\s+SOLUTION", re.I), HIDDEN: re.compile(r"END\s+HIDDEN\s+TESTS?", re.I)}

STUB_COMMENT = "# YOUR CODE HERE"
MARKDOWN_STUB = "_YOUR ANSWER HERE_"


class MarkerError(ValueError):
    """The solution / hidden-test markers of a cell do not pair up."""


@dataclass
class Segment:
    kind: str        # TEXT, SOLUTION or HIDDEN
    lines: list      # the lines (with their newlines), without the marker lines
    indent: str = ""  # the indentation of the BEGIN marker line (regions only)

    @property
    def text(self):
        return "".join(self.lines)


def course_meta(cell):
    """(exercise id, role) from a cell's metadata {"course": {"exercise": ..., "role": ...}}, or (None, None)."""
    meta = cell.get("metadata", {}).get("course")
    if not isinstance(meta, dict):
        return None, None
    exercise, role = meta.get("exercise"), meta.get("role")
    return (exercise if isinstance(exercise, str) else None), (role if isinstance(role, str) else None)


def cell_source(cell):
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _marker(line):
    for kind in (SOLUTION, HIDDEN):
        if _BEGIN[kind].search(line):
            return "begin", kind
        if _END[kind].search(line):
            return "end", kind
    return None, None


def segments(source, where="cell"):
    """Split a cell's source into TEXT, SOLUTION and HIDDEN segments."""
    result = [Segment(TEXT, [])]
    open_kind = None
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        edge, kind = _marker(line)
        if edge == "begin":
            if open_kind is not None:
                raise MarkerError(f"{where}, line {number}: BEGIN {kind.upper()} inside an open {open_kind} region")
            open_kind = kind
            result.append(Segment(kind, [], indent=line[: len(line) - len(line.lstrip())]))
        elif edge == "end":
            if open_kind != kind:
                raise MarkerError(f"{where}, line {number}: END {kind.upper()} without a matching BEGIN")
            open_kind = None
            result.append(Segment(TEXT, []))
        else:
            result[-1].lines.append(line)
    if open_kind is not None:
        raise MarkerError(f"{where}: a {open_kind} region is never closed (missing END marker)")
    return [s for s in result if s.kind != TEXT or s.lines]


def has_markers(source):
    return any(_marker(line)[0] for line in source.splitlines())


def region_bodies(source, kind, where="cell"):
    """The bodies of the regions of one kind (SOLUTION or HIDDEN)."""
    return [s.text for s in segments(source, where) if s.kind == kind]


def stub_lines(indent, exercise=None):
    prompt = repr(exercise) if exercise else '"your code here"'
    return [f"{indent}{STUB_COMMENT}\n", f"{indent}raise NotImplementedError({prompt})\n"]


def student_source(source, cell_type="code", exercise=None, where="cell"):
    """The student version of a cell: each solution region becomes a stub, hidden tests disappear."""
    out = []
    for segment in segments(source, where):
        if segment.kind == TEXT:
            out.extend(segment.lines)
        elif segment.kind == SOLUTION:
            if cell_type == "code":
                out.extend(stub_lines(segment.indent, exercise))
            else:
                out.append(f"{segment.indent}{MARKDOWN_STUB}\n")
        # HIDDEN: dropped
    return _tidy("".join(out))


def split_hidden(source, where="cell"):
    """(the cell without its hidden tests, the hidden tests as one dedented block or None)."""
    public, hidden = [], []
    for segment in segments(source, where):
        if segment.kind == HIDDEN:
            hidden.append(textwrap.dedent(segment.text))
        else:
            if segment.kind == SOLUTION:  # keep solution regions with their markers (instructor side)
                public.append(f"{segment.indent}### BEGIN SOLUTION\n")
                public.extend(segment.lines)
                public.append(f"{segment.indent}### END SOLUTION\n")
            else:
                public.extend(segment.lines)
    hidden_code = "\n".join(h.rstrip("\n") for h in hidden if h.strip())
    return _tidy("".join(public)), (hidden_code + "\n" if hidden_code else None)


def _tidy(text):
    """Drop the trailing blank lines that removing a region can leave, and the final newline (as Jupyter saves)."""
    return text.rstrip("\n") if text.strip() else ""
