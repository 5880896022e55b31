"""Hints teach without handing over the answer, in every lesson's checks.

(a) No hint written in a check module (a Mistake's hint, or a `hint=`-like keyword) contains code that could
    be pasted in as the answer: an assignment, a `return`, a NumPy call, a method call with arguments, or an
    arithmetic expression of more than one operation. Formulas are written as mathematics (σ, eˣ, −, ·), which
    names the idea and cannot be pasted. The check modules are found with pkgutil, so lessons added later are
    held to the same rule.
(b) A learner that returns a wrong constant gets a message and a hint from which the expected value cannot
    be recovered: no expected number, no ratio, no error of a single value. Every registered check, every
    lesson.
"""

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import course_utils.checks
from course_utils import checking
from course_utils.checking import REGISTRY
from course_utils.compare import find_mismatch
from course_utils.hints import generic_hint

CHECK_MODULES = sorted(m.name for m in pkgutil.iter_modules(course_utils.checks.__path__) if not m.ispkg)
for _name in CHECK_MODULES:
    importlib.import_module(f"course_utils.checks.{_name}")


# -- (a) hints carry no pasteable code ---------------------------------------------------------------------------

ASSIGNMENT = re.compile(
    r"(?<![=!<>])\b[A-Za-z_][\w.\[\]]*\s*(?:[-+*/@%]|\*\*|//)?=(?!=)\s*"
    r"(?:np\.|math\.|[A-Za-z_]\w*\s*\(|\(|-?\s*[A-Za-z_]\w*\s*(?:[-+*/@%]|\*\*)\s*[\w(])")
RETURN = re.compile(r"\breturn\s+[A-Za-z_]\w*\s*(?:[,(\[.]|[-+*/@]|$)")
LIBRARY_CALL = re.compile(r"\b(?:np|numpy|math|torch|F|scipy)\.\w+(?:\.\w+)*\(")
METHOD_CALL = re.compile(r"\b[A-Za-z_]\w*\.\w+\([^)]")
EMPHASIS = re.compile(r"\*(\w[\w ]*)\*")  # markdown *emphasis*, not multiplication
HYPHENATED = re.compile(r"(?<=[A-Za-z]{2})-(?=[A-Za-z]{2})")  # log-sum-exp, non-saturating: words, not minus
CODE_CHARS = set("()*/+-=[]@%")
ARITHMETIC = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.MatMult)  # |x| is not code


def code_in(text):
    """The first fragment of `text` that reads as pasteable Python, or None."""
    text = HYPHENATED.sub("_", EMPHASIS.sub(r"\1", text))
    for pattern in (ASSIGNMENT, RETURN, LIBRARY_CALL, METHOD_CALL):
        match = pattern.search(text)
        if match:
            return match.group(0)
    return _expression_in(text)


def _expression_in(text):
    """A span of words that parses as a Python expression with more than one arithmetic operation (or a call
    inside one), written with ASCII names as code is."""
    tokens = text.split()
    for i in range(len(tokens)):
        for j in range(i + 1, min(len(tokens), i + 10) + 1):
            span = " ".join(tokens[i:j]).strip(" ,.;:")
            if not CODE_CHARS & set(span) or not span.isascii():
                continue  # no operator, or mathematics such as eˣ, x·σ or 1 − s: it cannot be pasted
            try:
                tree = ast.parse(span, mode="eval")
            except (SyntaxError, ValueError):
                continue
            nodes = list(ast.walk(tree))
            calls = [n for n in nodes if isinstance(n, ast.Call)]
            if any(span[c.func.end_col_offset:c.func.end_col_offset + 1] != "(" for c in calls):
                continue  # "word (an aside)" is prose, not a call
            operations = sum(isinstance(n, ast.BinOp) and isinstance(n.op, ARITHMETIC) for n in nodes)
            calls = [c for c in calls if c.args or c.keywords]
            if operations >= 2 or (calls and operations) or any(isinstance(c.func, ast.Attribute) for c in calls):
                return span
    return None


def _strings(node, constants):
    """Every string a hint expression can evaluate to (f-string holes become 'X'); [] if it cannot be read."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return ["".join(v.value if isinstance(v, ast.Constant) else "X" for v in node.values)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return [a + b for a in _strings(node.left, constants) for b in _strings(node.right, constants)]
    if isinstance(node, ast.Name):
        return constants.get(node.id, [])
    if isinstance(node, ast.IfExp):
        return _strings(node.body, constants) + _strings(node.orelse, constants)
    if isinstance(node, ast.BoolOp):
        return [s for value in node.values for s in _strings(value, constants)]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):  # "...".replace(...), "...".format(...)
        return _strings(node.func.value, constants)
    return []


def hints_of(path):
    """(line, text) of every hint in a check module: Mistake(hint, fn) and keywords named *hint."""
    tree = ast.parse(Path(path).read_text())
    constants = {}
    for node in tree.body:  # module-level string constants, e.g. CHAIN_RULE = "..."
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            found = _strings(node.value, constants)
            if found:
                constants[node.targets[0].id] = found
    hints = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", getattr(node.func, "attr", ""))
        expressions = [k.value for k in node.keywords if k.arg and k.arg.endswith("hint")]
        if name == "Mistake" and node.args:
            expressions.append(node.args[0])
        for expression in expressions:
            hints += [(expression.lineno, text) for text in _strings(expression, constants)]
    return hints


HINTS = [(module, line, text) for module in CHECK_MODULES
         for line, text in hints_of(Path(course_utils.checks.__path__[0]) / f"{module}.py")]


def test_every_check_module_is_read():
    assert {"welcome", "activations", "losses"} <= set(CHECK_MODULES)
    assert len(HINTS) > 100


@pytest.mark.parametrize("module", CHECK_MODULES)
def test_no_hint_contains_pasteable_code(module):
    offenders = [f"{module}.py:{line}: {code_in(text)!r} in {text!r}"
                 for m, line, text in HINTS if m == module and code_in(text)]
    assert not offenders, "hints that hand over code (name the idea instead):\n" + "\n".join(offenders)


@pytest.mark.parametrize("text", [
    "Use z = np.exp(-np.abs(x)): 1/(1+z) where x >= 0, z/(1+z) where x < 0",
    "compute np.where(x >= 0, 1/(1+z), z/(1+z))",
    "end with `return dx, dweight`",
    "subtract x.max(axis=axis, keepdims=True) first",
    "the derivative is dout * s * (1 - s)",
    "dx = s * (dout - sum(dout * s))",
    "tanh(x) = sign(x) * (1-z)/(1+z)",
    "use max(z, 0) - z*y + log1p(exp(-abs(z)))",
    "grad += dout * x",
])
def test_the_detector_finds_code(text):
    assert code_in(text)


@pytest.mark.parametrize("text", [
    "exp(−x) overflows for large negative x; rewrite the formula so that exp only ever sees non-positive numbers",
    "at exactly x = 0 PyTorch uses the subgradient 0",
    "with reduction='mean' divide by N, the batch size: you are missing the 1/N",
    "np.where evaluates both branches on every element before it chooses",
    "the derivative of e² with respect to the input is 2e: you are missing the factor 2",
    "max(x, α·x) equals PReLU exactly when α ≤ 1",
    "return the pair (dx, dweight) as a tuple of two arrays",
    "the mask depends on the sign of x, not of dout (x > 0)",
])
def test_the_detector_lets_ideas_through(text):
    assert code_in(text) is None


# -- (b) a wrong constant learns nothing about the expected value -----------------------------------------------

NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
# Numbers that describe where and how much, not what: indices, shapes, counts and the tolerance.
NOT_VALUES = re.compile(r"index \([^)]*\)|shape \([^)]*\)|\(tolerance[^)]*\)|at \d+ of \d+ entries|\(\d+ such entries\)")


def _learner_parameters(check):
    body = inspect.unwrap(check)
    params = list(inspect.signature(body).parameters.values())[1:]  # after the Checker
    return [p.name for p in params if p.default is inspect.Parameter.empty
            and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _constant_learner(value):
    def learner(*args, **kwargs):
        return value() if callable(value) else value
    learner.__name__ = "constant_learner"
    return learner


def _recovered(printed, actual, expected):
    """Whether a printed number, with the learner's own output, gives the whole expected value back."""
    a = np.asarray(actual, dtype=np.float64).ravel()
    e = np.asarray(expected, dtype=np.float64).ravel()
    if a.shape != e.shape or not (np.isfinite(a).all() and np.isfinite(e).all()) or e.size == 0:
        return False
    v = printed
    with np.errstate(all="ignore"):
        candidates = [np.full_like(e, v), np.full_like(e, -v), a - v, a + v, a / v, a * v,
                      a * (1 - v) / (1 + v), a * (1 + v) / (1 - v)]
    return any(np.allclose(c, e, rtol=2e-3, atol=1e-12) for c in candidates if np.isfinite(c).all())


class WrongConstant:
    """Replaces the learner's output in one comparison of a check by a constant of the right shape.

    The first `k` comparisons get the right answer (a learner that is right so far), comparison `k` gets the
    constant, so the failures of every kind of case are reached, single values included.
    """

    def __init__(self, k, constant):
        self.k, self.constant, self.seen, self.corrupted = k, constant, 0, None

    def install(self, monkeypatch):
        original = checking.Checker.expect_close

        def expect_close(checker, actual, expected, *, case, **kwargs):
            if not isinstance(expected, (tuple, list)):
                if self.seen < self.k:
                    actual = np.array(expected, copy=True)
                elif self.seen == self.k:
                    actual = np.full(np.shape(expected), self.constant, dtype=np.asarray(expected).dtype)
                    self.corrupted = (actual, expected, case)
                self.seen += 1
            return original(checker, actual, expected, case=case, **kwargs)

        monkeypatch.setattr(checking.Checker, "expect_close", expect_close)


def _assert_reveals_nothing(result, corrupted):
    text = f"{result.message}\n{result.hint}"
    assert "(~" not in text, text  # no "times a constant (~0.41)"
    if corrupted is None:
        return
    actual, expected, case = corrupted
    if f"on case {case}, " not in result.message:
        return  # the check failed somewhere else
    if find_mismatch(actual, expected, check_dtype=False) is None:
        return  # the constant happened to be right
    visible = NOT_VALUES.sub("", text.replace(f"on case {case}", ""))  # the case's numbers are the inputs
    for token in NUMBER.findall(visible):
        assert not _recovered(float(token), actual, expected), \
            f"{result.exercise}: the number {token} in {visible!r} gives the expected value away"


CHECK_IDS = sorted(REGISTRY)


@pytest.mark.parametrize("exercise_id", CHECK_IDS)
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(constant=st.one_of(st.sampled_from([0.0, 1.0, -1.0, 0.5]), st.floats(-10, 10, allow_nan=False)),
       k=st.integers(0, 40))
def test_a_wrong_constant_cannot_recover_the_expected_value(monkeypatch, exercise_id, constant, k):
    check = REGISTRY[exercise_id]
    wrong = WrongConstant(k, constant)
    wrong.install(monkeypatch)
    learner = _constant_learner(np.float64(constant))
    result, _ = check.evaluate(*[learner for _ in _learner_parameters(check)])
    _assert_reveals_nothing(result, wrong.corrupted)


# -- the engine's own pieces -------------------------------------------------------------------------------------


def test_a_scalar_answer_gets_no_factor_and_no_error_size():
    expected = np.array(2.4166666666666665)
    mismatch = find_mismatch(np.array(1.0), expected)
    assert mismatch is not None and not NUMBER.findall(mismatch.text.split("(tolerance")[0])
    assert generic_hint(mismatch, np.array(1.0), expected) == ""


def test_a_scaled_array_gets_the_idea_but_not_the_factor():
    expected = np.array([1.0, 2.0, 3.0, -4.0])
    actual = 0.4138 * expected
    mismatch = find_mismatch(actual, expected)
    hint = generic_hint(mismatch, actual, expected)
    assert "factor" in hint and not NUMBER.findall(hint)
    assert "rel error" not in mismatch.text  # the same relative error everywhere would give the factor away
