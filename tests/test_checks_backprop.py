"""Tests for the 05_backprop checks: the notebook's solutions pass, every known mistake is named.

The scalar engine's mistakes are tested by mutation: the notebook's own solution cells are edited the
way a learner would get them wrong (`+=` -> `=`, a wrong derivative, a wrong walk) and executed.
"""

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course_utils.checking import NOT_IMPLEMENTED, REGISTRY, CheckFailure
from course_utils.checks import backprop as checks
from course_utils.compare import assert_close
from course_utils.torch_ref import torch_reference
from notebook_code import course_cells, load_solutions

REGION = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION\n?", re.S | re.M)


@pytest.fixture(scope="module")
def solutions():
    return load_solutions("backprop")


def solution_sources():
    return {cell.metadata["course"]["exercise"]: cell.source for cell in course_cells("backprop", "solution")}


ENGINE_IDS = ("backprop.value_add_mul", "backprop.value_pow_exp_tanh_relu", "backprop.value_backward")


def build_engine(replacements=(), stub=False, extra_globals=None):
    """Execute the notebook's Value cells, after applying (old, new) source edits; return the class."""
    sources = solution_sources()
    namespace = {"np": np, "math": math, "__name__": "learner_engine",
                 "add_to_class": load_solutions("backprop")["add_to_class"], **(extra_globals or {})}
    source = "\n\n".join(sources[i] for i in ENGINE_IDS)
    for old, new in replacements:
        assert old in source, f"mutation target not found in the notebook's solution: {old!r}"
        source = source.replace(old, new)
    if stub:
        source = REGION.sub(lambda m: f"{m.group(1)}raise NotImplementedError('not yet')\n", source)
    exec(compile(source, "<mutated engine>", "exec"), namespace)
    return namespace["Value"]


def expect_failure(check, learner, hint=None):
    with pytest.raises(CheckFailure) as info:
        check(learner)
    result = info.value.result
    assert result.status == "failed"
    if hint is not None:
        assert result.hint == hint, f"got message {result.message!r} with hint {result.hint!r}"
    return result


# ---- the solutions pass ---------------------------------------------------------------------

CHECKS = [
    (checks.check_value_add_mul, "Value"),
    (checks.check_value_pow_exp_tanh_relu, "Value"),
    (checks.check_value_backward, "Value"),
    (checks.check_linear_forward, "linear_forward"),
    (checks.check_linear_backward, "linear_backward"),
    (checks.check_softmax_cross_entropy, "softmax_cross_entropy"),
    (checks.check_mlp_loss_and_grads, "mlp_loss_and_grads"),
]


@pytest.mark.parametrize("check, name", CHECKS, ids=[c.exercise_id for c, _ in CHECKS])
@pytest.mark.parametrize("seed", [0, 2026])
def test_solution_passes(solutions, check, name, seed):
    result = check(solutions[name], seed=seed)
    assert result.passed and result.points == check.points
    assert result.cases >= 4


def test_notebook_cells_pair_up():
    solution_ids = [c.metadata["course"]["exercise"] for c in course_cells("backprop", "solution")]
    check_ids = [c.metadata["course"]["exercise"] for c in course_cells("backprop", "check")]
    assert solution_ids == check_ids == [c.exercise_id for c, _ in CHECKS]
    for exercise_id in solution_ids:
        assert exercise_id.startswith("backprop.") and exercise_id in REGISTRY
    for source in solution_sources().values():
        assert REGION.search(source), "every solution cell has a solution region"
    for cell in course_cells("backprop", "check"):  # a hidden test re-runs each check on other random cases
        visible, hidden = cell.source.split("### BEGIN HIDDEN TESTS\n")
        assert hidden.strip() == f"{visible.strip()[:-1]}, seed=2026)\n### END HIDDEN TESTS"


# ---- the scalar engine: one mutation per known mistake ----------------------------------------

ADD_MUL = [("self.grad += out.grad", "self.grad {op} out.grad"),
           ("other.grad += out.grad", "other.grad {op} out.grad"),
           ("self.grad += other.data * out.grad", "self.grad {op} other.data * out.grad"),
           ("other.grad += self.data * out.grad", "other.grad {op} self.data * out.grad")]

OP_MUTATIONS = {
    "assign": [(old, new.format(op="=")) for old, new in ADD_MUL],
    "assign_self": [(old, new.format(op="=")) for old, new in ADD_MUL if old.startswith("self")],
    "assign_other": [(old, new.format(op="=")) for old, new in ADD_MUL if old.startswith("other")],
    "no_chain": [("self.grad += out.grad", "self.grad += 1.0"), ("other.grad += out.grad", "other.grad += 1.0"),
                 ("self.grad += other.data * out.grad", "self.grad += other.data"),
                 ("other.grad += self.data * out.grad", "other.grad += self.data")],
    "mul_swapped": [("self.grad += other.data * out.grad", "self.grad += self.data * out.grad"),
                    ("other.grad += self.data * out.grad", "other.grad += other.data * out.grad")],
    "pow_n_times_x_n": [("n * self.data ** (n - 1) * out.grad", "n * self.data ** n * out.grad")],
    "pow_no_n": [("n * self.data ** (n - 1) * out.grad", "self.data ** (n - 1) * out.grad")],
    "pow_via_out": [("n * self.data ** (n - 1) * out.grad", "n * out.data / self.data * out.grad")],
    "exp_input": [("self.grad += out.data * out.grad", "self.grad += self.data * out.grad")],
    "tanh_sigmoid": [("(1.0 - out.data ** 2)", "out.data * (1.0 - out.data)")],
    "tanh_input": [("(1.0 - out.data ** 2)", "(1.0 - self.data ** 2)")],
    "relu_always_one": [("(1.0 if self.data > 0 else 0.0)", "1.0")],
    "relu_at_zero": [("(1.0 if self.data > 0 else 0.0)", "(1.0 if self.data >= 0 else 0.0)")],
}
ADD_MUL_VARIANTS = {"assign", "assign_self", "assign_other", "no_chain", "mul_swapped"}


@pytest.mark.parametrize("variant", list(checks.VALUE_OP_VARIANTS))
def test_op_mistake_is_named(variant):
    Value = build_engine(OP_MUTATIONS[variant])
    check = checks.check_value_add_mul if variant in ADD_MUL_VARIANTS else checks.check_value_pow_exp_tanh_relu
    expect_failure(check, Value, checks.VALUE_OP_VARIANTS[variant].hint)
    # check_value_backward re-runs the op cases, so it names the op's mistake too
    expect_failure(checks.check_value_backward, Value, checks.VALUE_OP_VARIANTS[variant].hint)


def test_assign_only_in_the_sum_is_caught_by_reuse():
    """`=` in __add__ alone: caught by a + a and by a gradient already in place."""
    Value = build_engine([("self.grad += out.grad", "self.grad = out.grad")])
    result = expect_failure(checks.check_value_add_mul, Value, checks.ASSIGN_HINT)
    assert "already" in result.message or "twice" in result.message
    assert "reused values get the wrong gradient" in result.hint


def test_assign_hint_in_a_whole_expression():
    """A learner who skipped the op checks still hears about `=` from check_value_backward."""
    Value = build_engine(OP_MUTATIONS["assign"])
    result = expect_failure(checks.check_value_backward, Value, checks.ASSIGN_HINT)
    assert "accumulate" in result.hint


WALK_MUTATIONS = {
    "no_seed": [("    self.grad = 1.0\n    for v in reversed(order)", "    for v in reversed(order)")],
    "not_reversed": [("for v in reversed(order):", "for v in order:")],
    "no_visited": [("if v not in visited:", "if True:")],
    "recursive": [("build(self)\n    self.grad = 1.0\n    for v in reversed(order):\n        v._backward()",
                   "self.grad = 1.0\n    def visit(v):\n        v._backward()\n        for c in v._prev:\n"
                   "            visit(c)\n    visit(self)")],
    "breadth_first": [("build(self)\n    self.grad = 1.0\n    for v in reversed(order):\n        v._backward()",
                       "self.grad = 1.0\n    queue, seen = [self], {self}\n    while queue:\n"
                       "        v = queue.pop(0)\n        v._backward()\n        for c in v._prev:\n"
                       "            if c not in seen:\n                seen.add(c)\n                queue.append(c)")],
    "preorder": [("            visited.add(v)\n            for child in v._prev:\n                build(child)\n"
                  "            order.append(v)",
                  "            visited.add(v)\n            order.append(v)\n            for child in v._prev:\n"
                  "                build(child)"),
                 ("for v in reversed(order):", "for v in order:")],
}


def _own_closure(signature, forward, children, locals_, wrap=True):
    """A derived op rewritten with a closure of its own that assigns (=) instead of accumulating."""
    lines = [f"    def {signature}:"]
    if wrap:
        lines.append("        other = other if isinstance(other, Value) else Value(other)")
    lines += [f"        out = Value({forward}, ({children},), 'derived')",
              "        def _backward():"]
    lines += [f"            {child}.grad = {local} * out.grad" for child, local in zip(children.split(", "), locals_)]
    lines += ["        out._backward = _backward", "        return out"]
    return "\n".join(lines)


DERIVED_MUTATIONS = {
    "sub_assign": [("    def __sub__(self, other):       # self - other\n        return self + (-other)",
                    _own_closure("__sub__(self, other)", "self.data - other.data", "self, other", ("1.0", "-1.0")))],
    "rsub_assign": [("    def __rsub__(self, other):      # other - self\n        return (-self) + other",
                     _own_closure("__rsub__(self, other)", "other - self.data", "self", ("-1.0",), wrap=False))],
    "neg_assign": [("    def __neg__(self):              # -self\n        return self * -1.0",
                    _own_closure("__neg__(self)", "-self.data", "self", ("-1.0",), wrap=False))],
    "truediv_assign": [("    def __truediv__(self, other):   # self / other\n        return self * other ** -1.0",
                        _own_closure("__truediv__(self, other)", "self.data / other.data", "self, other",
                                     ("(1.0 / other.data)", "(-self.data / other.data ** 2)")))],
    "rtruediv_assign": [("    def __rtruediv__(self, other):  # other / self\n        return self ** -1.0 * other",
                         _own_closure("__rtruediv__(self, other)", "other / self.data", "self",
                                      ("(-other / self.data ** 2)",), wrap=False))],
}
WALK_MUTATIONS.update(DERIVED_MUTATIONS)


@pytest.mark.parametrize("variant", list(checks.BACKWARD_VARIANTS))
def test_backward_mistake_is_named(variant):
    Value = build_engine(WALK_MUTATIONS[variant])
    checks.check_value_add_mul(Value)  # the ops are fine: only the walk is wrong
    expect_failure(checks.check_value_backward, Value, checks.BACKWARD_VARIANTS[variant].hint)


def test_engine_stub_is_not_implemented():
    Value = build_engine(stub=True)
    for check in (checks.check_value_add_mul, checks.check_value_pow_exp_tanh_relu, checks.check_value_backward):
        result = check(Value)
        assert result.status == NOT_IMPLEMENTED and result.points == 0


def test_only_backward_missing_is_not_implemented(solutions):
    sources = solution_sources()
    stubbed = REGION.sub(lambda m: f"{m.group(1)}raise NotImplementedError\n", sources["backprop.value_backward"])
    namespace = {"np": np, "math": math, "__name__": "learner", "add_to_class": solutions["add_to_class"]}
    exec(sources["backprop.value_add_mul"], namespace)
    exec(sources["backprop.value_pow_exp_tanh_relu"], namespace)
    exec(stubbed, namespace)
    assert checks.check_value_add_mul(namespace["Value"]).passed
    assert checks.check_value_backward(namespace["Value"]).status == NOT_IMPLEMENTED


def test_engine_that_calls_torch_is_refused():
    import torch

    Value = build_engine([("math.tanh(self.data)", "torch.tanh(torch.tensor(self.data)).item()")],
                         extra_globals={"torch": torch})
    result = expect_failure(checks.check_value_pow_exp_tanh_relu, Value)
    assert "torch" in result.message and "NumPy only" in result.message


def test_gradient_stored_as_a_value_is_explained():
    Value = build_engine([("self.grad += other.data * out.grad", "self.grad += other * out.grad")])
    result = expect_failure(checks.check_value_add_mul, Value)
    assert "should be a number" in result.message and "its .data" in result.hint


def test_an_instance_instead_of_the_class(solutions):
    result = expect_failure(checks.check_value_add_mul, solutions["Value"](2.0))
    assert "pass the class" in result.hint


def test_broken_forward_is_reported(solutions):
    Value = build_engine([("Value(self.data * other.data, (self, other), \"*\")",
                           "Value(self.data + other.data, (self, other), \"*\")")])
    result = expect_failure(checks.check_value_add_mul, Value)
    assert "out.data" in result.message


# ---- vectorised layers: each Mistake's function is itself a wrong learner function ------------

ARRAY_MISTAKES = [(checks.check_linear_forward, m) for m in checks.LINEAR_FORWARD_MISTAKES] + \
                 [(checks.check_linear_backward, m) for m in checks.LINEAR_BACKWARD_MISTAKES] + \
                 [(checks.check_softmax_cross_entropy, m) for m in checks.SOFTMAX_CE_MISTAKES] + \
                 [(checks.check_mlp_loss_and_grads, m) for m in checks.MLP_MISTAKES]


@pytest.mark.parametrize("check, mistake", ARRAY_MISTAKES,
                         ids=[f"{c.exercise_id}-{i}" for i, (c, _) in enumerate(ARRAY_MISTAKES)])
def test_array_mistake_is_named(check, mistake):
    expect_failure(check, mistake.fn, mistake.hint)


def stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize("check", [c for c, _ in CHECKS[3:]], ids=[c.exercise_id for c, _ in CHECKS[3:]])
def test_array_stub_is_not_implemented(check):
    result = check(stub)
    assert result.status == NOT_IMPLEMENTED and result.points == 0


def test_linear_forward_float32_and_missing_cache():
    result = expect_failure(checks.check_linear_forward,
                            lambda x, w, b: ((x @ w.T + b).astype(np.float32), (x, w, b)))
    assert "float32" in result.message
    result = expect_failure(checks.check_linear_forward, lambda x, w, b: x @ w.T + b)
    assert "(out, cache)" in result.message


def test_linear_forward_failure_does_not_reveal_expected_values():
    x, w, b = next(checks._linear_cases())[1:4]
    expected = x @ w.T + b
    result = expect_failure(checks.check_linear_forward, lambda x, w, b: (x @ w.T + b + 0.5, (x, w, b)))
    assert "max abs error" not in result.message  # the same error on every entry would give the answer away
    for value in expected.ravel():
        assert f"{value:.3g}" not in result.message


def test_linear_backward_editing_the_cache_fails(solutions):
    def in_place(dout, cache):
        x, w, b = cache
        dx, dw, db = solutions["linear_backward"](dout, cache)
        x *= 0.0
        return dx, dw, db

    result = expect_failure(checks.check_linear_backward, in_place)
    assert "in place" in result.message


def test_softmax_cross_entropy_naive_softmax_fails():
    def naive(logits, y):
        n = len(y)
        e = np.exp(logits)
        p = e / e.sum(axis=1, keepdims=True)
        onehot = np.eye(logits.shape[1])[y]
        return -np.log(p[np.arange(n), y]).mean(), (p - onehot) / n

    result = expect_failure(checks.check_softmax_cross_entropy, naive)
    assert "rows far apart" in result.message


def test_softmax_cross_entropy_per_example_losses_fail(solutions):
    def per_example(logits, y):
        loss, dlogits = solutions["softmax_cross_entropy"](logits, y)
        return np.full(len(y), loss), dlogits

    result = expect_failure(checks.check_softmax_cross_entropy, per_example)
    assert "one number" in result.message


def test_mlp_with_nan_gradients_fails(solutions):
    def nan_grads(*args):
        loss, grads = solutions["mlp_loss_and_grads"](*args)
        return loss, (grads[0] * np.nan, *grads[1:])

    result = expect_failure(checks.check_mlp_loss_and_grads, nan_grads)
    assert "dw1" in result.message and "NaN" in result.message


def test_mlp_wrong_return_structure(solutions):
    result = expect_failure(checks.check_mlp_loss_and_grads,
                            lambda *args: solutions["mlp_loss_and_grads"](*args)[1])
    assert "(loss, (dw1, db1, dw2, db2))" in result.message


# ---- properties on random shapes ---------------------------------------------------------------

@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 6), d_in=st.integers(1, 6), d_out=st.integers(1, 6), seed=st.integers(0, 2 ** 16))
def test_linear_backward_matches_torch_on_random_shapes(solutions, n, d_in, d_out, seed):
    import torch.nn.functional as F

    rng = np.random.default_rng(seed)
    x, w, b = rng.normal(size=(n, d_in)), rng.normal(size=(d_out, d_in)), rng.normal(size=d_out)
    dout = rng.normal(size=(n, d_out))
    out, cache = solutions["linear_forward"](x, w, b)
    expected_out, expected_grads = torch_reference(F.linear, x, w, b, dout=dout)
    assert_close(out, expected_out)
    for mine, theirs in zip(solutions["linear_backward"](dout, cache), expected_grads):
        assert_close(mine, theirs)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 6), k=st.integers(2, 6), scale=st.sampled_from([1.0, 30.0, 1000.0]),
       seed=st.integers(0, 2 ** 16))
def test_softmax_cross_entropy_matches_torch(solutions, n, k, scale, seed):
    import torch.nn.functional as F

    rng = np.random.default_rng(seed)
    logits, y = rng.normal(size=(n, k)) * scale, rng.integers(0, k, size=n)
    loss, dlogits = solutions["softmax_cross_entropy"](logits, y)
    expected_loss, (expected_grad,) = torch_reference(F.cross_entropy, logits, y, dout=np.array(1.0), wrt=[0])
    assert_close(loss, expected_loss, rtol=1e-10)
    assert_close(dlogits, expected_grad, atol=1e-12)


# ---- the lesson's training recipe reaches the required accuracy ---------------------------------

def test_digits_mlp_reaches_95_percent(solutions):
    from course_utils import load_digits

    X, y = load_digits()
    order = np.random.default_rng(0).permutation(len(X))
    test_idx, train_idx = order[:360], order[360:]
    mean, std = X[train_idx].mean(axis=0), X[train_idx].std(axis=0)
    std = np.where(std > 0, std, 1.0)
    X_train, X_test = (X[train_idx] - mean) / std, (X[test_idx] - mean) / std
    rng = np.random.default_rng(0)
    params = [rng.normal(size=(64, 64)) * np.sqrt(2 / 64), np.zeros(64),
              rng.normal(size=(10, 64)) * np.sqrt(1 / 64), np.zeros(10)]
    for epoch in range(20):
        batch_order = np.random.default_rng([0, epoch]).permutation(len(X_train))
        for start in range(0, len(X_train), 32):
            idx = batch_order[start:start + 32]
            _, grads = solutions["mlp_loss_and_grads"](X_train[idx], y[train_idx][idx], *params)
            params = [p - 0.1 * g for p, g in zip(params, grads)]
    h = np.maximum(X_test @ params[0].T + params[1], 0.0)
    accuracy = float(((h @ params[2].T + params[3]).argmax(axis=1) == y[test_idx]).mean())
    assert accuracy >= 0.95


# ---- hints that name only the mistake that explains the output -----------------------------------


def test_a_closure_bug_in_a_derived_op_is_not_blamed_on_the_topological_order():
    """`__sub__` rewritten with `=`: it used to get the hint about the order of the walk."""
    Value = build_engine(DERIVED_MUTATIONS["sub_assign"])
    result = expect_failure(checks.check_value_backward, Value, checks.BACKWARD_VARIANTS["sub_assign"].hint)
    assert "topological" not in result.hint and "__sub__" in result.hint


def test_breadth_first_and_pre_order_walks_are_told_apart():
    """Both give the same wrong gradients on the first expression they fail; the later ones tell them apart."""
    for variant in ("breadth_first", "preorder"):
        result = expect_failure(checks.check_value_backward, build_engine(WALK_MUTATIONS[variant]),
                                checks.BACKWARD_VARIANTS[variant].hint)
        assert "s * s.tanh()" in result.message


def test_pow_backward_through_the_output_fails_at_zero():
    """n * out.data / self.data is right everywhere except at x = 0, where it divides by zero: it used to pass."""
    Value = build_engine(OP_MUTATIONS["pow_via_out"])
    result = expect_failure(checks.check_value_pow_exp_tanh_relu, Value, checks.POW_VIA_OUT_HINT)
    assert "ZeroDivisionError" in result.message and "a = 0" in result.message
    # The same bug in an engine of NumPy floats gives NaN instead of an exception, and the same hint.
    Value = build_engine(OP_MUTATIONS["pow_via_out"] + [("self.data = float(data)", "self.data = np.float64(data)")])
    result = expect_failure(checks.check_value_pow_exp_tanh_relu, Value, checks.POW_VIA_OUT_HINT)
    assert "NaN" in result.message


def test_a_mistake_the_learner_ruled_out_on_another_op_is_still_named():
    """`=` only in __mul__'s closure: the add cases pass, and the mul cases still get the `=` hint."""
    Value = build_engine([("self.grad += other.data * out.grad", "self.grad = other.data * out.grad")])
    result = expect_failure(checks.check_value_add_mul, Value, checks.ASSIGN_HINT)
    assert "a * b" in result.message or "a * a" in result.message


def test_softmax_cross_entropy_with_one_max_for_the_batch_is_named():
    mistake = checks.SOFTMAX_CE_MISTAKES[-1]
    assert "each row needs its own" in mistake.hint
    result = expect_failure(checks.check_softmax_cross_entropy, mistake.fn, mistake.hint)
    assert "rows far apart" in result.message


# ---- the check contract: through the grader's channel ---------------------------------------------


@pytest.mark.parametrize("mutation, check, hint", [
    (OP_MUTATIONS["assign"], checks.check_value_add_mul, checks.ASSIGN_HINT),
    (OP_MUTATIONS["pow_via_out"], checks.check_value_pow_exp_tanh_relu, checks.POW_VIA_OUT_HINT),
    (WALK_MUTATIONS["breadth_first"], checks.check_value_backward, checks.BACKWARD_VARIANTS["breadth_first"].hint),
    (DERIVED_MUTATIONS["neg_assign"], checks.check_value_backward, checks.BACKWARD_VARIANTS["neg_assign"].hint),
], ids=["assign", "pow_via_out", "breadth_first", "neg_assign"])
def test_engine_hints_are_the_same_through_the_remote_channel(mutation, check, hint):
    from course_utils.remote import LearnerRef, loopback

    result, _ = check.evaluate(LearnerRef("Value"), channel=loopback({"Value": build_engine(mutation)}))
    assert result.status == "failed" and result.hint == hint, result.line()


def test_an_instance_instead_of_the_class_through_the_remote_channel(solutions):
    from course_utils.remote import LearnerRef, loopback

    result, _ = checks.check_value_backward.evaluate(LearnerRef("Value"),
                                                     channel=loopback({"Value": solutions["Value"](2.0)}))
    assert result.status == "failed" and "pass the class" in result.hint


# ---- hints teach: no code, no formula that is the answer ---------------------------------------------

ALL_HINTS = [m.hint for m in checks.VALUE_OP_MISTAKES + checks.BACKWARD_MISTAKES + checks.LINEAR_FORWARD_MISTAKES
             + checks.LINEAR_BACKWARD_MISTAKES + checks.SOFTMAX_CE_MISTAKES + checks.MLP_MISTAKES]


@pytest.mark.parametrize("hint", ALL_HINTS, ids=[h[:40] for h in ALL_HINTS])
def test_hints_hold_no_code(hint):
    for pattern in ("=", "np.", "@", ".T", "sum(", "mean("):
        assert pattern not in hint
    assert not re.search(r"\breturn\b", hint)
