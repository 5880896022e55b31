"""The checks of 06_convolution: the notebook's solutions pass, every known mistake fails with its hint."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from course_utils.checking import CheckFailure, Mistake, run_exercise
from course_utils.checks import convolution as conv
from course_utils.checks.convolution import CHECKS, MISTAKES
from course_utils.hints import same_output
from notebook_code import load_solutions


@pytest.fixture(scope="module")
def solution():
    return load_solutions("convolution")


def failure_of(check, *learners, **kwargs):
    with pytest.raises(CheckFailure) as info:
        check(*learners, **kwargs)
    return info.value.result


def _inputs_forward(x, w, b, stride=1, padding=0, dilation=1):
    """A forward pass whose cache is its inputs, so that a mistake's backward can recompute everything."""
    return conv.conv2d_reference(x, w, b, stride, padding, dilation), (x, w, b, stride, padding, dilation)


def _learners(name, fn, solution):
    """The arguments a check takes, with `fn` in the exercise's place (the backward also needs a forward)."""
    if name == "conv2d_backward":
        return (lambda dout, cache: fn(dout, *cache)), _inputs_forward
    if name == "conv2d_forward":
        return (lambda *args: (fn(*args), None),)
    return (fn,)


def test_every_exercise_has_a_check_and_mistakes(solution):
    assert set(CHECKS) == set(MISTAKES)
    assert all(len(MISTAKES[name]) >= 5 for name in CHECKS)
    assert {check.exercise_id for check in CHECKS.values()} == {f"convolution.{name}" for name in CHECKS}
    assert all(name in solution for name in CHECKS)


@pytest.mark.parametrize("seed", [0, 2026])
@pytest.mark.parametrize("name", list(CHECKS))
def test_the_notebook_solution_passes(solution, name, seed):
    extra = (solution["conv2d_forward"],) if name == "conv2d_backward" else ()
    result = CHECKS[name](solution[name], *extra, seed=seed)
    assert result.passed and result.cases >= 12
    assert result.max_error < 1e-12


@pytest.mark.parametrize(
    "name, mistake",
    [(name, mistake) for name, mistakes in MISTAKES.items() for mistake in mistakes],
    ids=lambda value: value if isinstance(value, str) else value.hint[:40],
)
def test_each_known_mistake_fails_with_its_hint(solution, name, mistake):
    result = failure_of(CHECKS[name], *_learners(name, mistake.fn, solution))
    assert result.status == "failed" and result.points == 0
    assert result.hint == mistake.hint


def _expected_and_cases(name):
    """(args, expected) of every case of a check, in order, from the NumPy references."""
    if name == "conv2d_output_size":
        for args in conv.output_size_cases():
            yield args, conv._size(*args)
    elif name in ("conv2d_forward_loops", "conv2d_forward"):
        for _, args in conv.forward_cases(random=4):
            yield args, conv.conv2d_reference(*args)
    else:
        for _, args, dout, fd in conv._backward_cases(0):
            yield (dout, *args), conv.conv2d_grads_reference(dout, *args)


@pytest.mark.parametrize("name", list(CHECKS))
def test_each_hint_fires_only_where_its_mistake_alone_explains_the_output(name):
    """On the first case where a mistake shows, no mistake with another hint gives the same output."""
    mistakes = MISTAKES[name]
    for mistake in mistakes:
        for args, expected in _expected_and_cases(name):
            wrong = mistake.fn(*args)
            if not same_output(wrong, expected) or type(wrong) is not type(expected):
                break
        else:
            pytest.fail(f"{mistake.hint[:50]} never shows")
        for other in mistakes:
            if other.hint != mistake.hint:
                try:
                    theirs = other.fn(*args)
                except Exception:
                    continue
                if same_output(theirs, expected):      # right on this case: it explains no difference
                    continue
                assert not same_output(theirs, wrong), f"{other.hint[:40]} also explains {mistake.hint[:40]}"


@pytest.mark.parametrize("name", list(CHECKS))
def test_stub_reports_not_implemented(name):
    def stub(*args, **kwargs):
        raise NotImplementedError

    result = CHECKS[name](stub, *([stub] if name == "conv2d_backward" else []))
    assert result.status == "not implemented" and result.points == 0


# -- a shape error in the learner's code is a failure with the case and a hint, never a traceback ----------


def conv2d_seed(x, w, b, stride=1, padding=0, dilation=1):
    """The seed's version: an output of the input's size, a window at every input pixel."""
    N, C, H, W = x.shape
    O, _, KH, KW = w.shape
    out = np.zeros((N, O, H, W))
    for n in range(N):
        for o in range(O):
            for i in range(H):
                for j in range(W):
                    out[n, o, i, j] = np.sum(x[n, :, i:i + KH, j:j + KW] * w[o]) + b[o]
    return out


def test_the_seed_versions_broadcast_error_at_the_edge_is_a_failure_with_the_case_and_a_hint():
    result = failure_of(conv.check_conv2d_forward_loops, conv2d_seed)
    assert "on case batch of 1, one channel: x of shape (1, 1, 5, 5)" in result.message
    assert "raised ValueError" in result.message and "broadcast" in result.message
    assert result.hint == conv.EDGE_HINT
    assert "Traceback" not in result.message


def test_a_bias_that_does_not_broadcast_gets_the_bias_hint(solution):
    def conv2d_forward(x, w, b, stride=1, padding=0, dilation=1):
        out, cache = solution["conv2d_forward"](x, w, None, stride, padding, dilation)
        return (out + b if b is not None else out), cache       # b lines up with the last axis

    result = failure_of(conv.check_conv2d_forward, conv2d_forward)
    assert "C_in = 3, C_out = 2" in result.message and result.hint == conv.BIAS_SHAPE_HINT


def test_writing_past_the_output_gets_the_index_hint(solution):
    def conv2d_forward_loops(x, w, b, stride=1, padding=0, dilation=1):
        out = solution["conv2d_forward_loops"](x, w, b, stride, padding, dilation)
        out[0, 0, out.shape[2], 0] = 0.0                         # one row too far
        return out

    result = failure_of(conv.check_conv2d_forward_loops, conv2d_forward_loops)
    assert "IndexError" in result.message and result.hint == conv.OUT_OF_RANGE_HINT


def test_an_output_shaped_like_the_input_gets_the_same_size_hint_even_with_other_values(solution):
    def conv2d_forward_loops(x, w, b, stride=1, padding=0, dilation=1):
        return np.zeros((x.shape[0], w.shape[0], *x.shape[2:]))

    assert failure_of(conv.check_conv2d_forward_loops, conv2d_forward_loops).hint == conv.SAME_SIZE_HINT


# -- the from-scratch guard covers the course's own reference layers --------------------------------------


def test_calling_the_course_reference_conv_is_refused():
    from course_utils.layers.conv import conv2d_forward as reference_conv2d

    def conv2d_forward(x, w, b, stride=1, padding=0, dilation=1):
        return reference_conv2d(x, w, b, stride, padding, dilation)

    result = failure_of(conv.check_conv2d_forward, conv2d_forward)
    assert "course_utils.layers.conv" in result.message and "NumPy only" in result.message

    import course_utils.layers.conv as layers_conv       # reached through the module, at run time only

    result = failure_of(conv.check_conv2d_forward_loops, lambda *args: layers_conv.conv2d_forward(*args)[0])
    assert "course_utils.layers" in result.message


def test_a_check_that_declares_the_layers_lets_them_through():
    from course_utils.layers.conv import conv2d_forward as reference_conv2d

    def body(c, learner):
        x, w, b = np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3)), np.zeros(1)
        out, _ = c.call(learner, x, w, b, case="ones")
        c.expect(np.allclose(out, 9.0), "wrong", case="ones")

    def uses_layers(x, w, b):
        return reference_conv2d(x, w, b)

    declared, _ = run_exercise("test.builds_on_conv", body, uses_layers, (), {}, points=1, compared="-",
                               numpy_only=True, fail_on_overflow=True, uses=("course_utils.layers",))
    undeclared, _ = run_exercise("test.builds_on_conv", body, uses_layers, (), {}, points=1, compared="-",
                                 numpy_only=True, fail_on_overflow=True)
    assert declared.passed
    assert undeclared.status == "failed" and "course_utils.layers.conv" in undeclared.message


def test_calling_torch_is_refused():
    def conv2d_forward(x, w, b, stride=1, padding=0, dilation=1):
        t = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), None if b is None else torch.from_numpy(b),
                     stride, padding, dilation)
        return t.numpy(), None

    result = failure_of(conv.check_conv2d_forward, conv2d_forward)
    assert "torch" in result.message and "NumPy only" in result.message


# -- other wrong answers ---------------------------------------------------------------------------------


def test_float32_output_fails_on_the_dtype(solution):
    result = failure_of(conv.check_conv2d_forward_loops,
                        lambda *args: solution["conv2d_forward_loops"](*args).astype(np.float32))
    assert "float32" in result.message and "float64" in result.message


def test_forward_returning_only_out_is_reported(solution):
    result = failure_of(conv.check_conv2d_forward, lambda *args: solution["conv2d_forward"](*args)[0])
    assert "(out, cache)" in result.message


def test_an_integral_float_output_size_is_not_an_int(solution):
    result = failure_of(conv.check_conv2d_output_size, lambda *args: float(solution["conv2d_output_size"](*args)))
    assert "not an int" in result.message and result.hint == conv.NOT_FLOORED_HINT


def test_output_size_messages_never_reveal_the_answer():
    result = failure_of(conv.check_conv2d_output_size, lambda H, K, stride=1, padding=0, dilation=1: H - K)
    assert "not shown" in result.message


def test_backward_check_refuses_a_wrong_forward(solution):
    def conv2d_forward(*args):
        out, cache = solution["conv2d_forward"](*args)
        return out * 2, cache

    result = failure_of(conv.check_conv2d_backward, solution["conv2d_backward"], conv2d_forward)
    assert "cache cannot be trusted" in result.message


def test_db_must_be_none_without_a_bias(solution):
    def conv2d_backward(dout, cache):
        dx, dw, db = solution["conv2d_backward"](dout, cache)
        return dx, dw, (np.zeros(dout.shape[1]) if db is None else db)

    result = failure_of(conv.check_conv2d_backward, conv2d_backward, solution["conv2d_forward"])
    assert "db should be None" in result.message


def test_finite_differences_catch_a_backward_wrong_only_on_their_case(solution):
    """The finite-difference case is a real comparison: it fails where torch was not asked."""
    _, (x_fd, *_), _, _ = list(conv._backward_cases(0))[-1]

    def conv2d_backward(dout, cache):
        dx, dw, db = solution["conv2d_backward"](dout, cache)
        return (dx * 1.001 if dx.shape == x_fd.shape else dx), dw, db

    result = failure_of(conv.check_conv2d_backward, conv2d_backward, solution["conv2d_forward"])
    assert "finite differences" in result.message and "centred differences" in result.message
    assert all(dx_shape != x_fd.shape for dx_shape in
               [args[0].shape for _, args, _, fd in conv._backward_cases(0) if not fd])


def test_a_mistake_list_entry_is_a_mistake():
    assert all(isinstance(m, Mistake) for mistakes in MISTAKES.values() for m in mistakes)


# -- the solutions on random shapes (hypothesis) ---------------------------------------------------------


@settings(max_examples=12, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 3), o=st.integers(1, 3), h=st.integers(3, 8), w=st.integers(3, 8),
       kh=st.integers(1, 3), kw=st.integers(1, 3), s=st.integers(1, 3), p=st.integers(0, 2), d=st.integers(1, 2),
       bias=st.booleans(), seed=st.integers(0, 2**16))
def test_solution_matches_torch_and_the_course_layer(solution, n, c, o, h, w, kh, kw, s, p, d, bias, seed):
    from course_utils.layers.conv import conv2d_backward, conv2d_forward

    if conv._size(h, kh, s, p, d) < 1 or conv._size(w, kw, s, p, d) < 1:
        return
    rng = np.random.default_rng(seed)
    x, wt = rng.normal(size=(n, c, h, w)), rng.normal(size=(o, c, kh, kw))
    b = rng.normal(size=o) if bias else None
    out, cache = solution["conv2d_forward"](x, wt, b, s, p, d)
    ref = F.conv2d(torch.tensor(x), torch.tensor(wt), None if b is None else torch.tensor(b), s, p, d).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(solution["conv2d_forward_loops"](x, wt, b, s, p, d), ref, rtol=1e-10, atol=1e-12)
    dout = rng.normal(size=out.shape)
    mine = solution["conv2d_backward"](dout, cache)
    course = conv2d_backward(dout, conv2d_forward(x, wt, b, s, p, d)[1])
    for a, e in zip(mine, course):
        if e is None:
            assert a is None
        else:
            np.testing.assert_allclose(a, e, rtol=1e-10, atol=1e-12)
