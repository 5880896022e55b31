"""Checks for 05_backprop: a scalar autograd engine, then the same idea on arrays.

The scalar `Value` engine is checked in three steps. The two op checks call each op's backward
closure once, by hand (out.grad = g; out._backward()), so a wrong rule is found without relying on
the learner's `backward`; the children start with a gradient already in place ("another use of this
value"), which is what exposes `=` instead of `+=`. The `backward` check then runs whole expressions
that reuse values and compares every leaf's gradient with torch.autograd.

Known mistakes are reproduced two ways: the op mistakes by the same arithmetic with a wrong local
rule (_op_grads), the traversal mistakes by running a wrong walk over the learner's own graph.
"""

import inspect
import math

import numpy as np
import torch.nn.functional as F

from course_utils.checking import Mistake, exercise

# ----------------------------------------------------------------------------------------------
# The scalar engine: one op, one call to its backward closure
# ----------------------------------------------------------------------------------------------

# How each op is applied, to a learner Value or to a torch tensor alike.
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
        if variant == "assign":
            grads[operand] = local[position] * case.upstream
        elif variant == "no_chain":
            grads[operand] += local[position]
        else:
            grads[operand] += local[position] * case.upstream
    return tuple(grads)


def _op_mistake(variant):
    return lambda case: _op_grads(case, variant)


ASSIGN_HINT = (
    "a backward closure assigns the gradient (`self.grad = ...`) instead of accumulating it "
    "(`self.grad += ...`). A value used more than once (a + a, a * a, or a*b + a, where `a` feeds two ops) "
    "gets one contribution per use, and they must add up: with `=` each use overwrites the others, so "
    "reused values get the wrong gradient. Use += in every closure"
)
NO_CHAIN_HINT = (
    "you left out the upstream gradient: by the chain rule each child gets (local derivative) * out.grad, "
    "not the local derivative alone"
)

# name -> Mistake, so the tests can build a learner engine with exactly that bug for each entry.
VALUE_OP_VARIANTS = {
    "assign": Mistake(ASSIGN_HINT, _op_mistake("assign")),
    "no_chain": Mistake(NO_CHAIN_HINT, _op_mistake("no_chain")),
    "mul_swapped": Mistake(
        "in a * b, d(out)/d(a) is b and d(out)/d(b) is a: each side's gradient uses the *other* operand's "
        "data (self.grad += other.data * out.grad)", _op_mistake("mul_swapped")),
    "pow_n_times_x_n": Mistake(
        "the power rule lowers the exponent by one: d(x^n)/dx = n * x^(n-1), not n * x^n",
        _op_mistake("pow_n_times_x_n")),
    "pow_no_n": Mistake(
        "the power rule has a factor n in front: d(x^n)/dx = n * x^(n-1)", _op_mistake("pow_no_n")),
    "exp_input": Mistake(
        "the derivative of e^x is e^x itself, which the closure can read as out.data; not x",
        _op_mistake("exp_input")),
    "tanh_sigmoid": Mistake(
        "that is the sigmoid's derivative, s(1-s). tanh's derivative is 1 - tanh(x)^2, i.e. 1 - out.data**2",
        _op_mistake("tanh_sigmoid")),
    "tanh_input": Mistake(
        "tanh's derivative is 1 - tanh(x)^2: square the output t = out.data, not the input x",
        _op_mistake("tanh_input")),
    "relu_at_zero": Mistake(
        "at x = 0 exactly, use gradient 0 as torch does: (self.data > 0), not >= 0",
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
        self.priors = tuple(priors) if priors is not None else (0.0,) * len(self.inputs)
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


def _is_value_class(Value):
    return isinstance(Value, type)


def _grad_number(c, value, name, case):
    """A .grad or .data must be a plain number; say so clearly when it is not."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        c.fail(f"on case {case}, {name} is a {type(value).__name__} ({value!r}); it should be a number",
               hint="store plain numbers in .data and .grad, e.g. self.grad += other.data * out.grad "
                    "(other.data, not the Value other)")
    return float(value)


def _run_op_case(c, Value, case):
    """Apply the learner's op once, call its backward closure once, compare with torch.autograd."""

    def one_backward_step():
        leaves = [Value(v) for v in case.inputs]
        for leaf, prior in zip(leaves, case.priors):
            leaf.grad = prior
        out = _APPLY[case.op](*_resolve(case.operands, leaves))
        out.grad = case.upstream
        out._backward()
        return out, leaves

    one_backward_step.__name__ = f"Value.{_METHOD[case.op]}"
    described = case.describe()
    out, leaves = c.call(one_backward_step, case=described)
    arrays = [np.array(v) for v in case.inputs]
    expected_out, expected_grads = c.reference(case.torch_fn(), *arrays, dout=np.array(case.upstream))
    if not hasattr(out, "data") or not hasattr(out, "_backward"):
        c.fail(f"on case {described}, {_METHOD[case.op]} returned {type(out).__name__}, not a Value",
               hint="each op returns a new Value `out` whose _backward closure is set")
    c.expect_close(_grad_number(c, out.data, "out.data", described), expected_out, case=described,
                   name="out.data (the forward value)")
    for i, (leaf, expected) in enumerate(zip(leaves, expected_grads)):
        actual = _grad_number(c, leaf.grad, f"{_LETTERS[i]}.grad", described)
        c.expect_close(actual, expected + case.priors[i], case=described, name=f"{_LETTERS[i]}.grad",
                       mistakes=VALUE_OP_MISTAKES, mistake_args=(case,), mistake_output=i)


def _check_value_class(c, Value):
    if not _is_value_class(Value):
        c.fail(f"expected the class Value itself, got {type(Value).__name__}",
               hint="pass the class, e.g. check_value_add_mul(Value), not an instance such as Value(2.0)")


@exercise("backprop.value_add_mul", points=1, compared="torch.autograd")
def check_value_add_mul(c, Value):
    """Value.__add__ and Value.__mul__: forward value and each operand's gradient after one backward step."""
    _check_value_class(c, Value)
    for case in _add_mul_cases():
        _run_op_case(c, Value, case)


@exercise("backprop.value_pow_exp_tanh_relu", points=1, compared="torch.autograd")
def check_value_pow_exp_tanh_relu(c, Value):
    """Value.__pow__ (numeric exponent), exp, tanh and relu: one backward step each."""
    _check_value_class(c, Value)
    for case in _function_cases():
        _run_op_case(c, Value, case)


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


def _expression_cases():
    yield "f = a*b + a (a is used twice)", (lambda a, b: a * b + a), (2.0, -3.0)
    yield "f = x*x*x", (lambda x: x * x * x), (1.7,)
    yield "s = a*b; f = s * s.tanh() (s reaches f along paths of different lengths)", _diamond, (0.8, -1.3)
    yield "s = a + b; f = (s + s).tanh() (the node s is used twice)", _twice_tanh, (0.3, -0.1)
    yield "a neuron: f = (w1*x1 + w2*x2 + b).tanh()", (lambda x1, w1, x2, w2, b: (x1 * w1 + x2 * w2 + b).tanh()), \
        (2.0, -3.0, 0.0, 1.0, 6.8813735870195432)
    yield "s = a*b + c; f = (s + s.relu()).tanh() * s + s.exp()", _deep_diamond, (0.6, 1.1, -0.2)
    yield "derived ops: f = (a - b)/c + 2*a - 1/b + c**-2 + 3 - a", \
        (lambda a, b, c: (a - b) / c + 2 * a - 1 / b + c ** -2 + 3 - a), (1.5, -0.5, 2.0)
    yield "f = a (a lone Value: its gradient is the seed)", (lambda a: a), (4.0,)
    for seed in (1, 2, 3):
        yield (f"random expression of 10 operations with shared sub-expressions (seed {seed})",
               _random_expression(seed), (0.7, -0.4, 1.2))


def _twice_tanh(a, b):
    s = a + b
    return (s + s).tanh()


def _diamond(a, b):
    s = a * b
    return s * s.tanh()


def _deep_diamond(a, b, c):
    s = a * b + c
    return (s + s.relu()).tanh() * s + s.exp()


# Wrong walks over the learner's graph. Each gets the output node and only uses the learner's
# data, _prev and _backward closures.


def _topological(root, visited=True):
    order, seen = [], set()

    def build(v):
        if visited and id(v) in seen:
            return
        seen.add(id(v))
        for child in v._prev:
            build(child)
        order.append(v)

    build(root)
    return order


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


def _with_walk(walk):
    def reproduce(Value, expression, inputs):
        leaves = [Value(v) for v in inputs]
        walk(expression(*leaves))
        return tuple(float(leaf.grad) for leaf in leaves)

    return reproduce


# name -> Mistake, so the tests can build a learner engine with exactly that walk for each entry.
BACKWARD_VARIANTS = {
    "no_seed": Mistake(
        "every gradient is 0 because the output's own gradient was never seeded: set self.grad = 1.0 "
        "(dL/dL = 1) before calling the _backward closures", _with_walk(_walk_no_seed)),
    "not_reversed": Mistake(
        "you called the closures from the inputs towards the output. A topological order lists each node "
        "after the nodes it was computed from; walk it in reverse (output first), so that a node's grad is "
        "complete before its _backward passes it on", _with_walk(_walk_not_reversed)),
    "no_visited": Mistake(
        "a node used twice appears twice in your topological order, so its _backward ran twice and passed "
        "its gradient down twice: keep a `visited` set and add each node to the order only once",
        _with_walk(_walk_no_visited)),
    "recursive": Mistake(
        "calling _backward and then recursing into the children is not a topological order: a shared node "
        "passes its gradient on before all its users have added theirs, and once per path. Build the "
        "topological order first (visited set), then call each node's _backward once, in reverse",
        _with_walk(_walk_recursive)),
    "breadth_first": Mistake(
        "a breadth-first walk from the output can reach a shared node before every node that uses it has "
        "added its contribution, so the node passes on an incomplete gradient. Use a topological order "
        "(depth-first, each node after its children), walked in reverse",
        _with_walk(_walk_breadth_first)),
}
BACKWARD_MISTAKES = list(BACKWARD_VARIANTS.values())


@exercise("backprop.value_backward", points=2, compared="torch.autograd")
def check_value_backward(c, Value):
    """Value.backward(): gradients of whole expressions (with reused values) against torch.autograd.

    The ops are checked first, so that a wrong op rule is named as such rather than blamed on backward.
    """
    _check_value_class(c, Value)
    for case in list(_add_mul_cases()) + list(_function_cases()):
        _run_op_case(c, Value, case)
    for described, expression, inputs in _expression_cases():
        def run_backward():
            leaves = [Value(v) for v in inputs]
            out = expression(*leaves)
            out.backward()
            return out, leaves

        run_backward.__name__ = "Value.backward"
        out, leaves = c.call(run_backward, case=described)
        expected_out, expected_grads = c.reference(expression, *[np.array(v) for v in inputs], dout=np.array(1.0))
        c.expect_close(_grad_number(c, out.data, "f.data", described), expected_out, case=described,
                       name="f.data (the forward value)")
        names = list(inspect.signature(expression).parameters)
        for i, (leaf, expected) in enumerate(zip(leaves, expected_grads)):
            name = f"{names[i]}.grad"
            actual = _grad_number(c, leaf.grad, name, described)
            c.expect_close(actual, expected, case=described, name=name,
                           mistakes=BACKWARD_MISTAKES, mistake_args=(Value, expression, inputs), mistake_output=i)


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
    Mistake("w has shape (out_features, in_features), as in torch.nn.functional.linear: the output is "
            "x @ w.T + b, not x @ w + b", lambda x, w, b: (x @ w + b, (x, w, b))),
    Mistake("you left out the bias: out = x @ w.T + b", lambda x, w, b: (x @ w.T, (x, w, b))),
]


@exercise("backprop.linear_forward", points=1, compared="torch.nn.functional.linear")
def check_linear_forward(c, linear_forward):
    """linear_forward(x, w, b) returns (out, cache) with out = x @ w.T + b."""
    for described, x, w, b, _ in _linear_cases():
        result = c.call(linear_forward, x, w, b, case=described)
        if not (isinstance(result, tuple) and len(result) == 2):
            c.fail(f"on case {described}, linear_forward returned {type(result).__name__}; "
                   "it should return the pair (out, cache)",
                   hint="end with `return out, cache`, where cache = (x, w, b) is what linear_backward needs")
        expected, _ = c.reference(F.linear, x, w, b)
        c.expect_close(result[0], expected, case=described, name="out", mistakes=LINEAR_FORWARD_MISTAKES,
                       mistake_args=(x, w, b), mistake_output=0)


def _linear_backward_variant(dx=None, dw=None, db=None):
    def wrong(dout, cache):
        x, w, _ = cache
        right = {"dx": dout @ w, "dw": dout.T @ x, "db": dout.sum(axis=0)}
        return tuple((fix(dout, x, w) if fix is not None else right[name])
                     for name, fix in (("dx", dx), ("dw", dw), ("db", db)))

    return wrong


LINEAR_BACKWARD_MISTAKES = [
    Mistake("dw has the parameter's shape (out_features, in_features): dw = dout.T @ x. x.T @ dout is its "
            "transpose (the layout for a w of shape (in, out), as in CS231n)",
            _linear_backward_variant(dw=lambda dout, x, w: x.T @ dout)),
    Mistake("dx = dout @ w: w is (out_features, in_features), so no transpose here (the forward pass used "
            "w.T, the backward pass undoes it)", _linear_backward_variant(dx=lambda dout, x, w: dout @ w.T)),
    Mistake("db must be summed over the batch: b is added to every row, so db = dout.sum(axis=0), of "
            "shape (out_features,)", _linear_backward_variant(db=lambda dout, x, w: dout)),
    Mistake("b is added to every row, so its gradient is the sum over the batch (axis 0), not the mean",
            _linear_backward_variant(db=lambda dout, x, w: dout.mean(axis=0))),
    Mistake("sum db over the batch axis (axis=0), not over the features (axis=1)",
            _linear_backward_variant(db=lambda dout, x, w: dout.sum(axis=1))),
]


@exercise("backprop.linear_backward", points=2, compared="torch.autograd on F.linear")
def check_linear_backward(c, linear_backward):
    """linear_backward(dout, cache) with cache = (x, w, b) returns (dx, dw, db)."""
    for described, x, w, b, dout in _linear_cases(seed=1):
        cache = (x.copy(), w.copy(), b.copy())
        result = c.call(linear_backward, dout, cache, case=described)
        c.expect(all(np.array_equal(kept, original) for kept, original in zip(cache, (x, w, b))),
                 "your linear_backward changed the arrays in its cache in place", case=described,
                 hint="compute new arrays; the cache belongs to the forward pass")
        if not (isinstance(result, tuple) and len(result) == 3):
            c.fail(f"on case {described}, linear_backward returned {type(result).__name__}; "
                   "it should return the three gradients (dx, dw, db)")
        _, grads = c.reference(F.linear, x, w, b, dout=dout)
        for i, (name, actual, expected) in enumerate(zip(("dx", "dw", "db"), result, grads)):
            c.expect_close(actual, expected, case=described, name=name, mistakes=LINEAR_BACKWARD_MISTAKES,
                           mistake_args=(dout, cache), mistake_output=i)


def _ce_cases(seed=0):
    rng = np.random.default_rng(seed)
    yield "batch of 1, logits of shape (1, 3)", np.array([[1.0, 2.0, 0.5]]), np.array([2])
    yield "logits of shape (4, 5)", rng.normal(size=(4, 5)) * 2, np.array([0, 4, 2, 2])
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


def _ce_variant(loss=None, grad=None):
    def wrong(logits, y):
        n = logits.shape[0]
        p = _softmax(logits)
        onehot = np.zeros_like(p)
        onehot[np.arange(n), y] = 1.0
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        right_loss = -log_p[np.arange(n), y].mean()
        right_grad = (p - onehot) / n
        return (loss(logits, y, p, log_p) if loss else right_loss,
                grad(p, onehot, n) if grad else right_grad)

    return wrong


SOFTMAX_CE_MISTAKES = [
    Mistake("divide the gradient by the batch size: the loss is a mean over N examples, so "
            "dlogits = (softmax - onehot) / N", _ce_variant(grad=lambda p, onehot, n: p - onehot)),
    Mistake("the gradient has the wrong sign: dlogits = (softmax - onehot) / N",
            _ce_variant(grad=lambda p, onehot, n: (onehot - p) / n)),
    Mistake("subtract the one-hot labels: dlogits = (softmax - onehot) / N",
            _ce_variant(grad=lambda p, onehot, n: p / n)),
    Mistake("the loss is the mean over the batch, as in F.cross_entropy, not the sum",
            _ce_variant(loss=lambda z, y, p, log_p: -log_p[np.arange(len(y)), y].sum())),
    Mistake("you took the log of the softmax: where a probability underflows to 0, log(0) = -inf. Compute "
            "the loss from the logits with log-sum-exp: log p = z - m - log(sum(exp(z - m))), m = max(z)",
            _ce_variant(loss=lambda z, y, p, log_p: -np.log(p[np.arange(len(y)), y]).mean())),
]


@exercise("backprop.softmax_cross_entropy", points=1, compared="F.cross_entropy and torch.autograd")
def check_softmax_cross_entropy(c, softmax_cross_entropy):
    """softmax_cross_entropy(logits, y) returns (mean loss, dlogits), from the logits."""
    for described, logits, y in _ce_cases():
        result = c.call(softmax_cross_entropy, logits, y, case=described)
        if not (isinstance(result, tuple) and len(result) == 2):
            c.fail(f"on case {described}, softmax_cross_entropy returned {type(result).__name__}; "
                   "it should return the pair (loss, dlogits)")
        loss, dlogits = result
        expected_loss, (expected_grad,) = c.reference(F.cross_entropy, logits, y, dout=np.array(1.0), wrt=[0])
        if isinstance(loss, np.ndarray) and loss.shape != ():
            c.fail(f"on case {described}, the loss has shape {loss.shape}; it should be one number, "
                   "the mean over the batch", hint="average the per-example losses: loss = losses.mean()")
        c.expect_close(loss, expected_loss, case=described, name="loss", mistakes=SOFTMAX_CE_MISTAKES,
                       mistake_args=(logits, y), mistake_output=0)
        c.expect_close(dlogits, expected_grad, case=described, name="dlogits", mistakes=SOFTMAX_CE_MISTAKES,
                       mistake_args=(logits, y), mistake_output=1)


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
    Mistake("the gradient skipped ReLU's backward: between the layers, dz1 = relu_backward(dh, z1) "
            "zeroes the gradient where z1 <= 0", _mlp_variant(skip_relu=True)),
    Mistake("layer 2's input is h = relu(z1), so dw2 = dlogits.T @ h: its cache must hold h, not z1",
            _mlp_variant(layer2_input="z1")),
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


@exercise("backprop.mlp_loss_and_grads", points=2, compared="torch.autograd on the same MLP")
def check_mlp_loss_and_grads(c, mlp_loss_and_grads):
    """mlp_loss_and_grads(x, y, w1, b1, w2, b2) returns (loss, (dw1, db1, dw2, db2))."""
    mistakes = [Mistake(m.hint, lambda *args, fn=m.fn: _flatten_mlp(fn(*args))) for m in MLP_MISTAKES]
    for described, x, y, w1, b1, w2, b2 in _mlp_cases():
        args = (x, y, w1, b1, w2, b2)
        result = c.call(mlp_loss_and_grads, *args, case=described)
        if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], (tuple, list))
                and len(result[1]) == 4):
            c.fail(f"on case {described}, mlp_loss_and_grads should return (loss, (dw1, db1, dw2, db2))")
        expected_loss, expected_grads = c.reference(_torch_mlp, *args, dout=np.array(1.0), wrt=[2, 3, 4, 5])
        names = ("loss", "dw1", "db1", "dw2", "db2")
        for i, (name, actual, expected) in enumerate(zip(names, _flatten_mlp(result),
                                                         [expected_loss, *expected_grads])):
            c.expect_close(actual, expected, case=described, name=name, mistakes=mistakes,
                           mistake_args=args, mistake_output=i)
