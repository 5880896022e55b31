"""Checks for 05_backprop: a scalar autograd engine, then the same idea on arrays.

The scalar `Value` engine is checked in three steps. The two op checks call each op's backward
closure once, by hand (out.grad = g; out._backward()), so a wrong rule is found without relying on
the learner's `backward`; the children start with a gradient already in place ("another use of this
value"), which is what exposes `=` instead of `+=`. The `backward` check then runs whole expressions
that reuse values and compares every leaf's gradient with torch.autograd.

The learner's class is reached only through `c.call(Value, ..., via=harness)`: the harnesses
`_op_harness` and `_backward_harness` build the Values, run the closures or `backward()` beside the
learner's code, and hand back plain numbers (or the name of a type where something is not a number).
Known mistakes are pure instructor code: the op mistakes redo the arithmetic with a wrong local rule
(_op_grads), the traversal mistakes run a wrong walk over a reference engine of this module
(_RefValue), never over the learner's objects. A mistake's hint is offered only while the mistake
agrees with every comparison the learner has passed (course_utils.hints.Suspects) and reproduces the
learner's whole answers on the cases it can see (course_utils.hints.Suspects.narrow).
"""

import math

import numpy as np
import torch.nn.functional as F

from course_utils.checking import Mistake, exercise
from course_utils.hints import Suspects

# ----------------------------------------------------------------------------------------------
# The scalar engine: one op, one call to its backward closure
# ----------------------------------------------------------------------------------------------

# How each op is applied, to a learner Value, a reference _RefValue or a torch tensor alike.
_APPLY = {
    "add": lambda s, o: s + o,
    "mul": lambda s, o: s * o,
    "pow": lambda s, n: s ** n,
    "exp": lambda s: s.exp(),
    "tanh": lambda s: s.tanh(),
    "relu": lambda s: s.relu(),
}
_METHOD = {"add": "__add__", "mul": "__mul__", "pow": "__pow__", "exp": "exp", "tanh": "tanh", "relu": "relu"}
_SYMBOL = {"add": "{0} + {1}", "mul": "{0} * {1}", "pow": "{0} ** {1}", "exp": "{0}.exp()",
           "tanh": "{0}.tanh()", "relu": "{0}.relu()"}
_LETTERS = "abcdefgh"


class _Num:
    """A plain-number operand (as in a * 2.5 or a ** 3), as opposed to an input's index."""

    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return f"{self.value:g}"


def _resolve(operands, inputs):
    return [o.value if isinstance(o, _Num) else inputs[o] for o in operands]


def _plain_operands(operands):
    """Operands as plain data for a harness: an input's index, or ("number", value)."""
    return tuple(("number", o.value) if isinstance(o, _Num) else o for o in operands)


def _resolve_plain(operands, leaves):
    return [o[1] if isinstance(o, (tuple, list)) else leaves[o] for o in operands]


# The forward value of each op on plain numbers, for reproducing mistakes.
_FORWARD = {"add": lambda s, o: s + o, "mul": lambda s, o: s * o, "pow": lambda s, n: s ** n,
            "exp": math.exp, "tanh": math.tanh, "relu": lambda s: max(s, 0.0)}


def _local(op, operands, out, variant=None):
    """The local derivative d out / d operand for each operand position (the chain rule's other factor)."""
    s = operands[0]
    if op == "add":
        return [1.0, 1.0]
    if op == "mul":
        o = operands[1]
        return [s, o] if variant == "mul_swapped" else [o, s]
    if op == "pow":
        n = operands[1]
        if variant == "pow_n_times_x_n":
            return [n * s ** n, 0.0]
        if variant == "pow_no_n":
            return [s ** (n - 1), 0.0]
        if variant == "pow_via_out":  # n * x^n / x: NaN (0/0) at x = 0, as NumPy floats give it
            return [np.float64(n) * np.float64(out) / np.float64(s), 0.0]
        return [n * s ** (n - 1), 0.0]
    if op == "exp":
        return [s] if variant == "exp_input" else [out]
    if op == "tanh":
        if variant == "tanh_sigmoid":
            return [out * (1 - out)]
        if variant == "tanh_input":
            return [1 - s ** 2]
        return [1 - out ** 2]
    if op == "relu":
        if variant == "relu_always_one":
            return [1.0]
        if variant == "relu_at_zero":
            return [float(s >= 0)]
        return [float(s > 0)]
    raise ValueError(op)


def _op_grads(case, variant=None):
    """Each input's gradient after one call of out._backward(), computed with a (possibly wrong) rule."""
    operands = _resolve(case.operands, case.inputs)
    out = _FORWARD[case.op](*operands)
    local = _local(case.op, operands, out, variant)
    grads = list(case.priors)
    for position, operand in enumerate(case.operands):
        if isinstance(operand, _Num):
            continue  # a plain number: no gradient to keep
        if variant == "assign" or (variant, position) in (("assign_self", 0), ("assign_other", 1)):
            grads[operand] = local[position] * case.upstream
        elif variant == "no_chain":
            grads[operand] += local[position]
        else:
            grads[operand] += local[position] * case.upstream
    return tuple(grads)


def _op_mistake(variant):
    return lambda case: _op_grads(case, variant)


ASSIGN_HINT = (
    "a backward closure overwrites the gradient instead of adding to it (a plain assignment where it must "
    "accumulate). A value used more than once (a + a, a · a, or a·b + a, where `a` feeds two ops) gets one "
    "contribution per use, and they must add up: overwriting keeps only the last one, so reused values get "
    "the wrong gradient. Every closure adds its contribution to what is already there"
)
NO_CHAIN_HINT = (
    "you left out the upstream gradient: by the chain rule each input's contribution is its local "
    "derivative times the gradient that reached the output, not the local derivative alone"
)
POW_VIA_OUT_HINT = (
    "you wrote x to the power n-1 as out / x, which divides by zero at x equal to 0 (where the derivative "
    "of x squared is simply 0). Compute the power rule's x to the n-1 from x itself, without dividing by x"
)

# name -> Mistake, so the tests can build a learner engine with exactly that bug for each entry.
VALUE_OP_VARIANTS = {
    "assign": Mistake(ASSIGN_HINT, _op_mistake("assign")),
    "assign_self": Mistake(ASSIGN_HINT, _op_mistake("assign_self")),    # only the left operand's line
    "assign_other": Mistake(ASSIGN_HINT, _op_mistake("assign_other")),  # only the right operand's line
    "no_chain": Mistake(NO_CHAIN_HINT, _op_mistake("no_chain")),
    "mul_swapped": Mistake(
        "in a * b, the derivative with respect to a is b and the one with respect to b is a: each side's "
        "gradient uses the *other* operand's value", _op_mistake("mul_swapped")),
    "pow_n_times_x_n": Mistake(
        "the power rule lowers the exponent by one; you kept the exponent n", _op_mistake("pow_n_times_x_n")),
    "pow_no_n": Mistake(
        "the power rule has the exponent n as a factor in front; you left it out", _op_mistake("pow_no_n")),
    "pow_via_out": Mistake(POW_VIA_OUT_HINT, _op_mistake("pow_via_out")),
    "exp_input": Mistake(
        "the derivative of e^x is e^x itself, which the closure can read as out.data; not x",
        _op_mistake("exp_input")),
    "tanh_sigmoid": Mistake(
        "that is the sigmoid's derivative, σ(1 − σ). tanh's derivative is one minus the square of tanh itself, "
        "which the closure can read from out.data", _op_mistake("tanh_sigmoid")),
    "tanh_input": Mistake(
        "tanh's derivative squares tanh's output (out.data), not its input x", _op_mistake("tanh_input")),
    "relu_at_zero": Mistake(
        "at exactly 0, ReLU's gradient is 0, as in torch: only strictly positive inputs pass the gradient on",
        _op_mistake("relu_at_zero")),
    "relu_always_one": Mistake(
        "ReLU's gradient is not always 1: it is 1 where x > 0 and 0 where x < 0 (that is how units die)",
        _op_mistake("relu_always_one")),
}
VALUE_OP_MISTAKES = list(VALUE_OP_VARIANTS.values())


class _OpCase:
    """One op applied to fresh leaves, with gradients already on them and an upstream gradient."""

    def __init__(self, op, operands, inputs, priors=None, upstream=1.0, note=""):
        self.op, self.operands, self.inputs = op, tuple(operands), tuple(float(v) for v in inputs)
        self.priors = tuple(float(p) for p in priors) if priors is not None else (0.0,) * len(self.inputs)
        self.upstream = float(upstream)
        self.note = note

    def describe(self):
        names = [repr(o) if isinstance(o, _Num) else _LETTERS[o] for o in self.operands]
        values = ", ".join(f"{_LETTERS[i]} = {v:g}" for i, v in enumerate(self.inputs))
        text = f"{_SYMBOL[self.op].format(*names)} with {values}, out.grad = {self.upstream:g}"
        if any(self.priors):
            held = ", ".join(f"{_LETTERS[i]}.grad = {p:g}" for i, p in enumerate(self.priors))
            text += f", and {held} already (from another use)"
        return text + (f" ({self.note})" if self.note else "")

    def torch_fn(self):
        def fn(*tensors):
            return _APPLY[self.op](*_resolve(self.operands, tensors))
        return fn


def _add_mul_cases(seed=0):
    rng = np.random.default_rng(seed)
    yield _OpCase("add", (0, 1), (2.0, -3.0), upstream=1.5)
    yield _OpCase("add", (0, _Num(4.0)), (0.5,), upstream=-2.0, note="a plain number on the right")
    yield _OpCase("add", (0, 0), (1.25,), upstream=0.75, note="the same Value twice")
    yield _OpCase("add", (0, 1), (2.0, -3.0), priors=(0.25, -1.0), upstream=1.5)
    yield _OpCase("mul", (0, 1), (2.0, -3.0), upstream=1.5)
    yield _OpCase("mul", (0, _Num(-2.5)), (1.5,), upstream=2.0, note="a plain number on the right")
    yield _OpCase("mul", (0, 0), (-1.5,), upstream=0.5, note="the same Value twice")
    yield _OpCase("mul", (0, 1), (0.5, 4.0), priors=(1.0, -0.5), upstream=-2.0)
    for _ in range(2):
        a, b, p, q, g = rng.normal(size=5).round(3)
        yield _OpCase("add", (0, 1), (a, b), priors=(p, q), upstream=g)
        yield _OpCase("mul", (0, 1), (a, b), priors=(p, q), upstream=g)


def _function_cases(seed=0):
    rng = np.random.default_rng(seed)
    yield _OpCase("pow", (0, _Num(2)), (1.5,), upstream=-0.5)
    yield _OpCase("pow", (0, _Num(3)), (-1.2,), upstream=0.5)
    yield _OpCase("pow", (0, _Num(-1.0)), (2.0,), upstream=1.5, note="1/a")
    yield _OpCase("pow", (0, _Num(0.5)), (2.25,), priors=(0.5,), upstream=-1.0, note="a square root")
    yield _OpCase("pow", (0, _Num(2)), (0.0,), priors=(0.25,), upstream=1.5)
    yield _OpCase("exp", (0,), (0.0,), upstream=2.0)
    yield _OpCase("exp", (0,), (1.3,), priors=(-0.5,), upstream=0.5)
    yield _OpCase("tanh", (0,), (0.7,), upstream=1.0)
    yield _OpCase("tanh", (0,), (-1.1,), priors=(0.3,), upstream=2.0)
    yield _OpCase("tanh", (0,), (400.0,), upstream=1.0, note="saturated")
    yield _OpCase("relu", (0,), (1.7,), upstream=2.0)
    yield _OpCase("relu", (0,), (-0.8,), upstream=2.0)
    yield _OpCase("relu", (0,), (0.0,), upstream=2.0, note="exactly at the kink")
    yield _OpCase("relu", (0,), (0.9,), priors=(-0.25,), upstream=-1.5)
    for op in ("exp", "tanh", "relu"):
        x, p, g = rng.normal(size=3).round(3)
        yield _OpCase(op, (0,), (x,), priors=(p,), upstream=g)
    x, p, g = abs(rng.normal(size=3).round(3)) + 0.1
    yield _OpCase("pow", (0, _Num(1.5)), (x,), priors=(p,), upstream=g)


# -- the harnesses: run beside the learner's code, hand back plain data ---------------------------------


def _number(value):
    """A learner's .data or .grad as plain data: a float, or the name of its type when it is not a number."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return type(value).__name__
    return float(value)


def _op_harness(Value, op, operands, inputs, priors, upstream):
    """Harness: apply one op of the learner's Value to fresh leaves, call its backward closure once.

    Returns {"out": out.data, "grads": [each leaf's grad]} as plain numbers, or says what went wrong:
    {"not_a_class": type name} or {"not_a_value": type name}. An exception reaches Checker.call, which
    reports it with the line of the learner's cell.
    """
    if not isinstance(Value, type):
        return {"not_a_class": type(Value).__name__}
    leaves = [Value(v) for v in inputs]
    for leaf, prior in zip(leaves, priors):
        leaf.grad = prior
    out = _APPLY[op](*_resolve_plain(operands, leaves))
    if not (hasattr(out, "data") and hasattr(out, "_backward")):
        return {"not_a_value": type(out).__name__}
    out.grad = upstream
    out._backward()
    return {"out": _number(out.data), "grads": [_number(leaf.grad) for leaf in leaves]}


def _backward_harness(Value, expression, inputs):
    """Harness: build expression `expression` (a name, see _EXPRESSIONS) from the learner's Values and
    call backward() on it. Returns {"out": f.data, "grads": [each input's grad]} as plain numbers."""
    if not isinstance(Value, type):
        return {"not_a_class": type(Value).__name__}
    leaves = [Value(v) for v in inputs]
    out = _expression(expression)(*leaves)
    if not (hasattr(out, "data") and hasattr(out, "backward")):
        return {"not_a_value": type(out).__name__}
    out.backward()
    return {"out": _number(out.data), "grads": [_number(leaf.grad) for leaf in leaves]}


def _backward_answers(Value, cases):
    """Harness: the learner's (f.data, each input's grad) on several (expression, inputs), to choose a hint.

    None where an expression raised or gave something that is not a number."""
    answers = []
    for expression, inputs in cases:
        try:
            answer = _backward_harness(Value, expression, inputs)
            values = (answer["out"], *answer["grads"])
        except Exception:
            answers.append(None)
            continue
        answers.append(None if any(isinstance(v, str) for v in values) else values)
    return answers


# -- what the checks make of the harnesses' answers ------------------------------------------------------

_CLASS_HINT = "pass the class Value itself to the check, not an instance made from it"
_NUMBER_HINT = ("data and grad hold plain numbers: multiply by the other operand's number (its .data), not by "
                "the Value object itself")


def _engine_answer(c, answer, described, what):
    """Fail clearly on what a harness reports instead of numbers; return the answer otherwise."""
    if "not_a_class" in answer:
        c.fail(f"expected the class Value itself, got {answer['not_a_class']}", hint=_CLASS_HINT)
    if "not_a_value" in answer:
        c.fail(f"on case {described}, {what} returned {answer['not_a_value']}, not a Value",
               hint="each operation builds a new Value, gives it its _backward closure and hands it back")
    return answer


def _as_number(c, value, name, described):
    if isinstance(value, str):
        c.fail(f"on case {described}, {name} is a {value}; it should be a number", hint=_NUMBER_HINT)
    return value


def _op_suspects():
    """One Suspects per op: each op's closure is its own code, so what the learner got right for one op
    says nothing about another."""
    return {op: Suspects(VALUE_OP_MISTAKES) for op in _APPLY}


def _run_op_case(c, Value, case, suspects):
    """Apply the learner's op once, call its backward closure once, compare with torch.autograd.

    `suspects` is the dict of _op_suspects(); the failing case's whole answer (every input's gradient)
    narrows them before a hint is chosen."""
    described = case.describe()
    at_zero = case.op == "pow" and 0.0 in case.inputs

    def error_hint(kind, message):  # n * out / x divides by zero at x = 0 (an engine of Python floats raises)
        return POW_VIA_OUT_HINT if at_zero and kind == "ZeroDivisionError" else ""

    answer = c.call(Value, case.op, _plain_operands(case.operands), case.inputs, case.priors, case.upstream,
                    case=described, via=_op_harness, error_hint=error_hint)
    _engine_answer(c, answer, described, f"Value.{_METHOD[case.op]}")
    arrays = [np.array(v) for v in case.inputs]
    expected_out, expected_grads = c.reference(case.torch_fn(), *arrays, dout=np.array(case.upstream))
    c.expect_close(_as_number(c, answer["out"], "out.data", described), expected_out, case=described,
                   name="out.data (the forward value)")
    grads = tuple(_as_number(c, g, f"{_LETTERS[i]}.grad", described) for i, g in enumerate(answer["grads"]))
    for i, expected in enumerate(expected_grads):
        suspects[case.op].expect_close(c, grads[i], expected + case.priors[i], case=described,
                      name=f"{_LETTERS[i]}.grad", args=(case,), pick=i, observe=lambda: [((case,), None, grads)])


@exercise("backprop.value_add_mul", points=1, compared="torch.autograd")
def check_value_add_mul(c, Value, seed=0):
    """Value.__add__ and Value.__mul__: forward value and each operand's gradient after one backward step."""
    suspects = _op_suspects()
    for case in _add_mul_cases(seed):
        _run_op_case(c, Value, case, suspects)


@exercise("backprop.value_pow_exp_tanh_relu", points=1, compared="torch.autograd")
def check_value_pow_exp_tanh_relu(c, Value, seed=0):
    """Value.__pow__ (numeric exponent), exp, tanh and relu: one backward step each."""
    suspects = _op_suspects()
    for case in _function_cases(seed):
        _run_op_case(c, Value, case, suspects)


# ----------------------------------------------------------------------------------------------
# The scalar engine: backward() over whole expressions
# ----------------------------------------------------------------------------------------------


def _random_expression(seed, steps=10):
    """A seeded random expression of 3 inputs with shared sub-expressions, for Values and tensors alike."""
    rng = np.random.default_rng(seed)
    recipe = []
    for k in range(steps):
        available = 3 + k
        recipe.append((int(rng.integers(0, 6)), int(rng.integers(0, available)),
                       int(rng.integers(max(0, available - 4), available))))

    steps_by_op = (lambda x, y: x + y, lambda x, y: x * y.tanh(), lambda x, y: (x - y).tanh(),
                   lambda x, y: x.tanh().exp(), lambda x, y: x.relu() + y * 0.5, lambda x, y: x / (1.5 + y * y))

    def expression(a, b, c):
        nodes = [a, b, c]
        for op, i, j in recipe:
            nodes.append(steps_by_op[op](nodes[i], nodes[j]))
        return nodes[-1] + nodes[-2] * nodes[-3]

    return expression


def _twice_tanh(a, b):
    s = a + b
    return (s + s).tanh()


def _diamond(a, b):
    s = a * b
    return s * s.tanh()


def _deep_diamond(a, b, c):
    s = a * b + c
    return (s + s.relu()).tanh() * s + s.exp()


# Every expression the backward check builds, by name: the name is what crosses to the harness.
_EXPRESSIONS = {
    "reuse": lambda a, b: a * b + a,
    "cube": lambda x: x * x * x,
    "diamond": _diamond,
    "twice_tanh": _twice_tanh,
    "neuron": lambda x1, w1, x2, w2, b: (x1 * w1 + x2 * w2 + b).tanh(),
    "deep_diamond": _deep_diamond,
    "sub": lambda a, b: (a - b) * a,
    "rsub": lambda a: (2.5 - a) * a,
    "neg": lambda a, b: (-a) * b + a,
    "truediv": lambda a, b: (a / b) * b + a,
    "rtruediv": lambda a: (3.0 / a) * a + a,
    "derived": lambda a, b, c: (a - b) / c + 2 * a - 1 / b + c ** -2 + 3 - a,
    "lone": lambda a: a,
}
_ARGUMENTS = {"reuse": "ab", "cube": "x", "diamond": "ab", "twice_tanh": "ab", "neuron": ("x1", "w1", "x2", "w2", "b"),
              "deep_diamond": "abc", "sub": "ab", "rsub": "a", "neg": "ab", "truediv": "ab", "rtruediv": "a",
              "derived": "abc", "lone": "a"}


def _expression(name):
    if name.startswith("random:"):
        return _random_expression(int(name.split(":", 1)[1]))
    return _EXPRESSIONS[name]


def _argument_names(name):
    return list(_ARGUMENTS.get(name, "abc"))


def _expression_cases(seed=0):
    """(description, expression name, inputs): fixed expressions that reuse values, then random ones."""
    rng = np.random.default_rng(seed)
    yield "f = a*b + a (a is used twice)", "reuse", (2.0, -3.0)
    yield "f = x*x*x", "cube", (1.7,)
    yield "s = a*b; f = s * s.tanh() (s reaches f along paths of different lengths)", "diamond", (0.8, -1.3)
    yield "s = a + b; f = (s + s).tanh() (the node s is used twice)", "twice_tanh", (0.3, -0.1)
    yield "a neuron: f = (w1*x1 + w2*x2 + b).tanh()", "neuron", (2.0, -3.0, 0.0, 1.0, 6.8813735870195432)
    yield "s = a*b + c; f = (s + s.relu()).tanh() * s + s.exp()", "deep_diamond", (0.6, 1.1, -0.2)
    # Each derived operation (built from +, * and ** in the lesson) once, with an operand that is used again.
    yield "f = (a - b) * a (a is used by the subtraction and again)", "sub", (1.5, -0.5)
    yield "f = (2.5 - a) * a", "rsub", (0.75,)
    yield "f = (-a) * b + a", "neg", (1.25, -2.0)
    yield "f = (a / b) * b + a", "truediv", (1.5, -0.8)
    yield "f = (3 / a) * a + a", "rtruediv", (1.2,)
    yield "derived ops together: f = (a - b)/c + 2*a - 1/b + c**-2 + 3 - a", "derived", (1.5, -0.5, 2.0)
    yield "f = a (a lone Value: its gradient is the seed)", "lone", (4.0,)
    for k in (1, 2, 3):
        inputs = tuple(float(v) for v in (rng.uniform(-1.5, 1.5, size=3).round(3) if seed else (0.7, -0.4, 1.2)))
        yield (f"random expression of 10 operations with shared sub-expressions (seed {seed + k})",
               f"random:{seed + k}", inputs)


class _RefValue:
    """The lesson's engine, as instructor code: known mistakes run on it, never on the learner's objects.

    `assign_in` names derived operations that a subclass gives closures of their own which overwrite
    (instead of adding to) their inputs' gradients: the bug of a learner who rewrote, say, `__sub__`.
    """

    assign_in = frozenset()

    def __init__(self, data, children=()):
        self.data = float(data)
        self.grad = 0.0
        self._prev = tuple(children)
        self._backward = lambda: None

    def _wrap(self, other):
        return other if isinstance(other, _RefValue) else type(self)(other)

    def __add__(self, other):
        other = self._wrap(other)
        out = type(self)(self.data + other.data, (self, other))

        def _backward():
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other):
        other = self._wrap(other)
        out = type(self)(self.data * other.data, (self, other))

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __pow__(self, n):
        out = type(self)(self.data ** n, (self,))

        def _backward():
            self.grad += n * self.data ** (n - 1) * out.grad

        out._backward = _backward
        return out

    def _unary(self, value, local):
        out = type(self)(value, (self,))

        def _backward():
            self.grad += local(out) * out.grad

        out._backward = _backward
        return out

    def exp(self):
        return self._unary(math.exp(self.data), lambda out: out.data)

    def tanh(self):
        return self._unary(math.tanh(self.data), lambda out: 1.0 - out.data ** 2)

    def relu(self):
        return self._unary(max(self.data, 0.0), lambda out: 1.0 if self.data > 0 else 0.0)

    def _assigning(self, value, children, locals_):
        """A derived op with its own closure that overwrites its inputs' gradients (the bug)."""
        out = type(self)(value, children)

        def _backward():
            for child, local in zip(children, locals_):
                child.grad = local * out.grad

        out._backward = _backward
        return out

    def __neg__(self):
        if "neg" in self.assign_in:
            return self._assigning(-self.data, (self,), (-1.0,))
        return self * -1.0

    def __radd__(self, other):
        return self + other

    def __sub__(self, other):
        if "sub" in self.assign_in:
            other = self._wrap(other)
            return self._assigning(self.data - other.data, (self, other), (1.0, -1.0))
        return self + (-other)

    def __rsub__(self, other):
        if "rsub" in self.assign_in:
            return self._assigning(other - self.data, (self,), (-1.0,))
        return (-self) + other

    def __rmul__(self, other):
        return self * other

    def __truediv__(self, other):
        if "truediv" in self.assign_in:
            other = self._wrap(other)
            return self._assigning(self.data / other.data, (self, other),
                                   (1.0 / other.data, -self.data / other.data ** 2))
        return self * other ** -1.0

    def __rtruediv__(self, other):
        if "rtruediv" in self.assign_in:
            return self._assigning(other / self.data, (self,), (-other / self.data ** 2,))
        return self ** -1.0 * other


def _topological(root, visited=True, preorder=False):
    order, seen = [], set()

    def build(v):
        if visited and id(v) in seen:
            return
        seen.add(id(v))
        if preorder:
            order.append(v)
        for child in v._prev:
            build(child)
        if not preorder:
            order.append(v)

    build(root)
    return order


def _walk_right(root):
    root.grad = 1.0
    for v in reversed(_topological(root)):
        v._backward()


def _walk_no_seed(root):
    for v in reversed(_topological(root)):
        v._backward()


def _walk_not_reversed(root):
    root.grad = 1.0
    for v in _topological(root):
        v._backward()


def _walk_no_visited(root):
    root.grad = 1.0
    for v in reversed(_topological(root, visited=False)):
        v._backward()


def _walk_preorder(root):
    root.grad = 1.0
    for v in _topological(root, preorder=True):
        v._backward()


def _walk_recursive(root):
    root.grad = 1.0

    def visit(v):
        v._backward()
        for child in v._prev:
            visit(child)

    visit(root)


def _walk_breadth_first(root):
    root.grad = 1.0
    queue, seen = [root], {id(root)}
    while queue:
        v = queue.pop(0)
        v._backward()
        for child in v._prev:
            if id(child) not in seen:
                seen.add(id(child))
                queue.append(child)


def _reference_run(expression, inputs, walk=_walk_right, assign_in=()):
    """(f.data, each input's grad) of `expression` on the reference engine, with a given walk and bug."""
    engine = type("_Engine", (_RefValue,), {"assign_in": frozenset(assign_in)}) if assign_in else _RefValue
    leaves = [engine(v) for v in inputs]
    out = _expression(expression)(*leaves)
    walk(out)
    return (out.data, *(leaf.grad for leaf in leaves))


def _with_walk(walk):
    return lambda expression, inputs: _reference_run(expression, inputs, walk=walk)


def _with_assigning(op):
    return lambda expression, inputs: _reference_run(expression, inputs, assign_in=(op,))


def _derived_hint(op, words):
    return (f"the inputs of {words} lost the gradient they already had from another use: the backward closure "
            f"of {op} overwrites instead of adding to it. If you gave {op} a closure of its own, it must "
            "accumulate like the others; or keep it built from +, * and ** as the lesson gives it, so it needs no "
            "rule of its own")


# name -> Mistake, so the tests can build a learner engine with exactly that walk (or bug) for each entry.
BACKWARD_VARIANTS = {
    "no_seed": Mistake(
        "every gradient is 0 because the output's own gradient was never seeded: the derivative of the output "
        "with respect to itself is 1, and it must be in place before the first closure runs",
        _with_walk(_walk_no_seed)),
    "not_reversed": Mistake(
        "you called the closures from the inputs towards the output. A topological order lists each node "
        "after the nodes it was computed from; walk it in reverse (output first), so that a node's grad is "
        "complete before its _backward passes it on", _with_walk(_walk_not_reversed)),
    "no_visited": Mistake(
        "a node used twice appears twice in your topological order, so its _backward ran twice and passed "
        "its gradient down twice: keep a set of visited nodes and add each node to the order only once",
        _with_walk(_walk_no_visited)),
    "preorder": Mistake(
        "your order lists each node *before* the nodes it was computed from (added on the way down), so a node "
        "used by several others can pass its gradient on before all of them have added theirs. A topological "
        "order adds a node only after all of its inputs; walk that order in reverse",
        _with_walk(_walk_preorder)),
    "recursive": Mistake(
        "calling _backward and then recursing into the children is not a topological order: a shared node "
        "passes its gradient on before all its users have added theirs, and once per path. Build the "
        "topological order first (with a visited set), then call each node's _backward once, in reverse",
        _with_walk(_walk_recursive)),
    "breadth_first": Mistake(
        "a breadth-first walk from the output can reach a shared node before every node that uses it has "
        "added its contribution, so the node passes on an incomplete gradient. Use a topological order "
        "(depth-first, each node after its children), walked in reverse",
        _with_walk(_walk_breadth_first)),
    "sub_assign": Mistake(_derived_hint("__sub__", "a - b"), _with_assigning("sub")),
    "rsub_assign": Mistake(_derived_hint("__rsub__", "2.5 - a"), _with_assigning("rsub")),
    "neg_assign": Mistake(_derived_hint("__neg__", "-a"), _with_assigning("neg")),
    "truediv_assign": Mistake(_derived_hint("__truediv__", "a / b"), _with_assigning("truediv")),
    "rtruediv_assign": Mistake(_derived_hint("__rtruediv__", "3 / a"), _with_assigning("rtruediv")),
}
BACKWARD_MISTAKES = list(BACKWARD_VARIANTS.values())


@exercise("backprop.value_backward", points=2, compared="torch.autograd")
def check_value_backward(c, Value, seed=0):
    """Value.backward(): gradients of whole expressions (with reused values) against torch.autograd.

    The ops are checked first, so that a wrong op rule is named as such rather than blamed on backward.
    """
    op_suspects = _op_suspects()
    for case in list(_add_mul_cases(seed)) + list(_function_cases(seed)):
        _run_op_case(c, Value, case, op_suspects)
    suspects = Suspects(BACKWARD_MISTAKES)
    cases = list(_expression_cases(seed))
    for number, (described, expression, inputs) in enumerate(cases):
        answer = c.call(Value, expression, inputs, case=described, via=_backward_harness)
        _engine_answer(c, answer, described, "the expression")
        expected_out, expected_grads = c.reference(_expression(expression), *[np.array(v) for v in inputs],
                                                   dout=np.array(1.0))
        values = (_as_number(c, answer["out"], "f.data", described),
                  *(_as_number(c, g, f"{name}.grad", described)
                    for name, g in zip(_argument_names(expression), answer["grads"])))

        def observe(number=number, values=values, described=described):
            # Several wrong walks agree on one expression (breadth-first and a pre-order walk do, on a
            # diamond): keep the mistakes that reproduce the learner's answers on every remaining one too.
            rest = cases[number + 1:]
            later = c.call(Value, [(e, i) for _, e, i in rest], case=described, via=_backward_answers)
            seen = [((expression_, inputs_), None, answer_) for (_, expression_, inputs_), answer_ in zip(rest, later)]
            return [((cases[number][1], cases[number][2]), None, values)] + seen

        for i, (name, expected) in enumerate(zip(["f"] + _argument_names(expression), [expected_out, *expected_grads])):
            suspects.expect_close(c, values[i], expected, case=described,
                          name="f.data (the forward value)" if i == 0 else f"{name}.grad",
                          args=(expression, inputs), pick=i, observe=observe)


# ----------------------------------------------------------------------------------------------
# Vectorised layers: linear, softmax cross-entropy, a 2-layer MLP
# ----------------------------------------------------------------------------------------------


def _linear_cases(seed=0):
    """(description, x, w, b, dout). The first w is square, so transposes cannot hide behind a shape error."""
    rng = np.random.default_rng(seed)
    shapes = [("square w", 2, 3, 3), ("batch of 1", 1, 4, 2), ("non-square w", 5, 3, 4),
              ("one output feature", 3, 4, 1), ("batch as large as D_out", 4, 2, 4)]
    for _ in range(3):
        n, d_in, d_out = (int(v) for v in rng.integers(1, 8, size=3))
        shapes.append(("random shapes", n, d_in, d_out))
    for note, n, d_in, d_out in shapes:
        x = rng.normal(size=(n, d_in))
        w = rng.normal(size=(d_out, d_in))
        b = rng.normal(size=(d_out,))
        dout = rng.normal(size=(n, d_out))
        yield f"{note}: x of shape {x.shape}, w of shape {w.shape}, b of shape {b.shape}", x, w, b, dout


LINEAR_FORWARD_MISTAKES = [
    Mistake("w has shape (out_features, in_features), as in torch.nn.functional.linear, so x multiplies the "
            "transpose of w; you used w as if it were stored as (in_features, out_features)",
            lambda x, w, b: (x @ w + b, (x, w, b))),
    Mistake("you left out the bias: it is added to every row of the output", lambda x, w, b: (x @ w.T, (x, w, b))),
]

_PAIR_HINT = ("the function gives back a pair: the output, and a cache holding what linear_backward needs "
              "(the layer's inputs)")


@exercise("backprop.linear_forward", points=1, compared="torch.nn.functional.linear")
def check_linear_forward(c, linear_forward, seed=0):
    """linear_forward(x, w, b) returns (out, cache) with out = x @ w.T + b."""
    suspects = Suspects(LINEAR_FORWARD_MISTAKES)
    for described, x, w, b, _ in _linear_cases(seed):
        result = c.call(linear_forward, x, w, b, case=described)
        if not (isinstance(result, tuple) and len(result) == 2):
            c.fail(f"on case {described}, linear_forward returned {type(result).__name__}; "
                   "it should return the pair (out, cache)", hint=_PAIR_HINT)
        expected, _ = c.reference(F.linear, x, w, b)
        suspects.expect_close(c, result[0], expected, case=described, name="out", args=(x, w, b), pick=0)


def _linear_backward_variant(dx=None, dw=None, db=None):
    def wrong(dout, cache):
        x, w, _ = cache
        right = {"dx": dout @ w, "dw": dout.T @ x, "db": dout.sum(axis=0)}
        return tuple((fix(dout, x, w) if fix is not None else right[name])
                     for name, fix in (("dx", dx), ("dw", dw), ("db", db)))

    return wrong


LINEAR_BACKWARD_MISTAKES = [
    Mistake("your dw is the transpose of the right one: that is the formula for a weight stored as (in_features, "
            "out_features), as in CS231n. Here w is (out_features, in_features), and a gradient has the shape "
            "and the layout of its variable", _linear_backward_variant(dw=lambda dout, x, w: x.T @ dout)),
    Mistake("your dx multiplies dout by the transpose of w. With w of shape (out_features, in_features) the "
            "forward pass used w's transpose, so the backward pass uses w itself",
            _linear_backward_variant(dx=lambda dout, x, w: dout @ w.T)),
    Mistake("b is added to every row, so its gradient adds up the rows of dout: one sum over the batch, of "
            "shape (out_features,)", _linear_backward_variant(db=lambda dout, x, w: dout)),
    Mistake("b is added to every row, so its gradient is the sum over the batch (axis 0), not the mean",
            _linear_backward_variant(db=lambda dout, x, w: dout.mean(axis=0))),
    Mistake("sum db over the batch axis (axis 0), not over the features (axis 1)",
            _linear_backward_variant(db=lambda dout, x, w: dout.sum(axis=1))),
]


@exercise("backprop.linear_backward", points=2, compared="torch.autograd on F.linear")
def check_linear_backward(c, linear_backward, seed=0):
    """linear_backward(dout, cache) with cache = (x, w, b) returns (dx, dw, db)."""
    suspects = Suspects(LINEAR_BACKWARD_MISTAKES)
    for described, x, w, b, dout in _linear_cases(seed + 1):
        cache = (x.copy(), w.copy(), b.copy())
        result = c.call(linear_backward, dout, cache, case=described)
        c.expect(all(np.array_equal(kept, original) for kept, original in zip(cache, (x, w, b))),
                 "your linear_backward changed the arrays in its cache in place", case=described,
                 hint="compute new arrays; the cache belongs to the forward pass")
        if not (isinstance(result, tuple) and len(result) == 3):
            c.fail(f"on case {described}, linear_backward returned {type(result).__name__}; "
                   "it should return the three gradients (dx, dw, db)",
                   hint="the function gives back three gradients, shaped like x, w and b, in that order")
        _, grads = c.reference(F.linear, x, w, b, dout=dout)
        for i, (name, actual, expected) in enumerate(zip(("dx", "dw", "db"), result, grads)):
            suspects.expect_close(c, actual, expected, case=described, name=name, args=(dout, cache), pick=i)


def _ce_cases(seed=0):
    rng = np.random.default_rng(seed)
    yield "batch of 1, logits of shape (1, 3)", np.array([[1.0, 2.0, 0.5]]), np.array([2])
    yield "logits of shape (4, 5)", rng.normal(size=(4, 5)) * 2, np.array([0, 4, 2, 2])
    yield ("rows far apart (one row's logits near +800, another's near -800)",
           np.array([[800.0, 801.0, 799.5], [-800.0, -799.0, -801.0], [0.5, -0.5, 0.0]]), np.array([0, 1, 2]))
    yield ("large logits (+-1000: a naive softmax overflows and a true class with probability ~0 gives log 0)",
           np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 500.0], [3.0, 2.0, 1.0]]), np.array([1, 1, 0]))
    yield "all logits equal", np.zeros((3, 4)), np.array([0, 1, 3])
    yield "two classes, logits of shape (6, 2)", rng.normal(size=(6, 2)), np.array([0, 1, 1, 0, 1, 1])
    for _ in range(3):
        n, k = int(rng.integers(1, 9)), int(rng.integers(2, 9))
        yield f"random logits of shape ({n}, {k})", rng.normal(size=(n, k)) * 3, rng.integers(0, k, size=n)


def _softmax(z):
    shifted = z - z.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def _ce_variant(loss=None, grad=None, shift=None):
    def wrong(logits, y):
        n = logits.shape[0]
        p = _softmax(logits)
        onehot = np.zeros_like(p)
        onehot[np.arange(n), y] = 1.0
        shifted = logits - (logits.max(axis=1, keepdims=True) if shift is None else shift(logits))
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        if shift is not None:  # the whole computation on the wrongly shifted logits
            p = np.exp(log_p)
        right_loss = -log_p[np.arange(n), y].mean()
        right_grad = (p - onehot) / n
        return (loss(logits, y, p, log_p) if loss else right_loss,
                grad(p, onehot, n) if grad else right_grad)

    return wrong


SOFTMAX_CE_MISTAKES = [
    Mistake("the loss is a mean over the N examples, so its gradient carries the factor 1/N too",
            _ce_variant(grad=lambda p, onehot, n: p - onehot)),
    Mistake("your dlogits has the wrong sign: the loss falls when the true class's logit rises, so the gradient "
            "is negative there", _ce_variant(grad=lambda p, onehot, n: (onehot - p) / n)),
    Mistake("your dlogits does not depend on the labels y: minus the log-probability of the true class has a "
            "term from the true class's own logit, which you left out", _ce_variant(grad=lambda p, onehot, n: p / n)),
    Mistake("the loss is the mean over the batch, as in F.cross_entropy, not the sum",
            _ce_variant(loss=lambda z, y, p, log_p: -log_p[np.arange(len(y)), y].sum())),
    Mistake("you took the log of the softmax probabilities: where one underflows to 0, its log is -inf. Compute "
            "the log-probabilities straight from the logits with the log-sum-exp trick, so that no probability "
            "is ever rounded to 0", _ce_variant(loss=lambda z, y, p, log_p: -np.log(p[np.arange(len(y)), y]).mean())),
    Mistake("you subtracted one maximum for the whole batch; each row needs its own. A row whose logits all lie "
            "far below the batch's maximum underflows to 0 everywhere, and its log is -inf",
            _ce_variant(shift=lambda z: z.max())),
]


@exercise("backprop.softmax_cross_entropy", points=1, compared="F.cross_entropy and torch.autograd")
def check_softmax_cross_entropy(c, softmax_cross_entropy, seed=0):
    """softmax_cross_entropy(logits, y) returns (mean loss, dlogits), from the logits."""
    suspects = Suspects(SOFTMAX_CE_MISTAKES)
    for described, logits, y in _ce_cases(seed):
        result = c.call(softmax_cross_entropy, logits, y, case=described)
        if not (isinstance(result, tuple) and len(result) == 2):
            c.fail(f"on case {described}, softmax_cross_entropy returned {type(result).__name__}; "
                   "it should return the pair (loss, dlogits)",
                   hint="the function gives back a pair: the mean loss (one number) and its gradient")
        loss, dlogits = result
        expected_loss, (expected_grad,) = c.reference(F.cross_entropy, logits, y, dout=np.array(1.0), wrt=[0])
        if isinstance(loss, np.ndarray) and loss.shape != ():
            c.fail(f"on case {described}, the loss has shape {loss.shape}; it should be one number, "
                   "the mean over the batch", hint="the loss is one number: the mean of the per-example losses")
        suspects.expect_close(c, loss, expected_loss, case=described, name="loss", args=(logits, y), pick=0)
        suspects.expect_close(c, dlogits, expected_grad, case=described, name="dlogits", args=(logits, y), pick=1)


def _mlp_variant(skip_relu=False, layer2_input="h"):
    def wrong(x, y, w1, b1, w2, b2):
        z1 = x @ w1.T + b1
        h = np.maximum(z1, 0.0)
        logits = h @ w2.T + b2
        loss, dlogits = _ce_variant()(logits, y)
        dw2 = dlogits.T @ (h if layer2_input == "h" else z1)
        db2 = dlogits.sum(axis=0)
        dh = dlogits @ w2
        dz1 = dh if skip_relu else dh * (z1 > 0)
        return loss, (dz1.T @ x, dz1.sum(axis=0), dw2, db2)

    return wrong


MLP_MISTAKES = [
    Mistake("the gradient skipped ReLU's backward between the layers: where a hidden unit's pre-activation is "
            "not positive, ReLU passed nothing forward, so no gradient flows back through it",
            _mlp_variant(skip_relu=True)),
    Mistake("layer 2's input is the ReLU output, not the pre-activation: dw2 is built from what layer 2 really "
            "received, so its cache must hold the ReLU output", _mlp_variant(layer2_input="z1")),
]


def _mlp_cases(seed=0):
    rng = np.random.default_rng(seed)
    for note, n, d, hidden, k in [("", 4, 5, 6, 3), ("batch of 1, ", 1, 3, 4, 2), ("", 7, 4, 8, 5)]:
        x = rng.normal(size=(n, d))
        w1 = rng.normal(size=(hidden, d))
        b1 = rng.normal(size=(hidden,)) * 0.5
        w2 = rng.normal(size=(k, hidden))
        b2 = rng.normal(size=(k,))
        y = rng.integers(0, k, size=n)
        yield (f"{note}x of shape {x.shape}, {hidden} hidden units, {k} classes", x, y, w1, b1, w2, b2)
    x = rng.normal(size=(5, 3))
    w1 = rng.normal(size=(4, 3))
    b1 = np.array([0.1, -100.0, 0.2, 0.0])  # unit 1 is negative for every example: a dead ReLU
    w2 = rng.normal(size=(3, 4))
    yield ("a dead hidden unit (negative for every example)", x, rng.integers(0, 3, size=5), w1, b1, w2,
           rng.normal(size=(3,)))


def _torch_mlp(x, y, w1, b1, w2, b2):
    return F.cross_entropy(F.linear(F.relu(F.linear(x, w1, b1)), w2, b2), y)


def _flatten_mlp(result):
    loss, grads = result
    return (loss, *grads)


def _flat_mlp_mistake(mistake):
    return Mistake(mistake.hint, lambda *args: _flatten_mlp(mistake.fn(*args)))


@exercise("backprop.mlp_loss_and_grads", points=2, compared="torch.autograd on the same MLP")
def check_mlp_loss_and_grads(c, mlp_loss_and_grads, seed=0):
    """mlp_loss_and_grads(x, y, w1, b1, w2, b2) returns (loss, (dw1, db1, dw2, db2))."""
    suspects = Suspects([_flat_mlp_mistake(m) for m in MLP_MISTAKES])
    for described, x, y, w1, b1, w2, b2 in _mlp_cases(seed):
        args = (x, y, w1, b1, w2, b2)
        result = c.call(mlp_loss_and_grads, *args, case=described)
        if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], (tuple, list))
                and len(result[1]) == 4):
            c.fail(f"on case {described}, mlp_loss_and_grads should return (loss, (dw1, db1, dw2, db2))",
                   hint="the function gives back the loss and a tuple of the four gradients, in the order of the "
                        "parameters")
        expected_loss, expected_grads = c.reference(_torch_mlp, *args, dout=np.array(1.0), wrt=[2, 3, 4, 5])
        names = ("loss", "dw1", "db1", "dw2", "db2")
        for i, (name, actual, expected) in enumerate(zip(names, _flatten_mlp(result),
                                                         [expected_loss, *expected_grads])):
            suspects.expect_close(c, actual, expected, case=described, name=name, args=args, pick=i)
