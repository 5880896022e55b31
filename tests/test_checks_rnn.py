"""The checks of 09_rnn: the notebook's solutions pass, every known mistake fails with its own hint.

A backward check calls the learner's forward first and hands its cache to the learner's backward. To hand a
known mistake (a function of the raw inputs) to such a check, the tests pair a right forward whose cache *is*
the raw inputs with a backward that feeds them to the mistake.
"""

import numpy as np
import pytest

from course_utils.checking import CheckFailure
from course_utils.checks import rnn as checks
from course_utils.checks.rnn import CHECKS, MISTAKES
from notebook_code import load_solutions

# Which learner functions each check takes, in order.
LEARNERS = {
    "rnn_step_forward": ("rnn_step_forward",),
    "rnn_step_backward": ("rnn_step_forward", "rnn_step_backward"),
    "rnn_forward": ("rnn_forward",),
    "rnn_backward": ("rnn_forward", "rnn_backward"),
    "lstm_step_forward": ("lstm_step_forward",),
    "lstm_step_backward": ("lstm_step_forward", "lstm_step_backward"),
    "lstm_forward": ("lstm_forward",),
    "lstm_backward": ("lstm_forward", "lstm_backward"),
    "clip_grad_norm": ("clip_grad_norm",),
}


@pytest.fixture(scope="module")
def solution():
    return load_solutions("rnn")


def failure_of(check, *learners, **kwargs):
    with pytest.raises(CheckFailure) as info:
        check(*learners, **kwargs)
    return info.value.result


# -- learners built from a function of the raw inputs (the known mistakes, and right variants of them) ------


def raw_cache_forward(name):
    """A right forward whose cache is simply its inputs."""
    if name == "rnn_step":
        return lambda x, h, *p: (checks._rnn_step(x, h, *p), (x, h, *p))
    if name == "rnn":
        return lambda x, h0, *p: (checks._rnn_seq(x, h0, *p), (x, h0, *p))
    if name == "lstm_step":
        return lambda x, h, c, *p: (*checks._lstm_step(x, h, c, *p), (x, h, c, *p))
    return lambda x, h0, c0, *p: (*checks._lstm_seq(x, h0, c0, *p), (x, h0, c0, *p))


def learners_for(name, fn):
    """The learner functions to hand check `name`, with `fn` (a function of the raw inputs) as the exercise."""
    if not name.endswith("backward"):
        return (fn,)
    layer = name[:-len("_backward")]
    if layer.startswith("lstm_step"):
        return raw_cache_forward(layer), (lambda dh, dc, cache: fn(dh, dc, *cache))
    return raw_cache_forward(layer), (lambda dh, cache: fn(dh, *cache))


RIGHT = {
    "rnn_step_forward": lambda x, h, *p: (checks._rnn_step(x, h, *p), None),
    "rnn_step_backward": checks._rnn_step_grads,
    "rnn_forward": lambda x, h0, *p: (checks._rnn_seq(x, h0, *p), None),
    "rnn_backward": checks._rnn_seq_grads,
    "lstm_step_forward": lambda x, h, c, *p: (*checks._lstm_step(x, h, c, *p), None),
    "lstm_step_backward": checks._lstm_step_grads,
    "lstm_forward": lambda x, h0, c0, *p: (*checks._lstm_seq(x, h0, c0, *p), None),
    "lstm_backward": checks._lstm_seq_grads,
    "clip_grad_norm": checks._clip,
}


# -- the solutions pass -------------------------------------------------------------------------------------


def test_every_exercise_has_a_check_and_mistakes():
    assert set(CHECKS) == set(MISTAKES) == set(LEARNERS) == set(RIGHT)
    assert all(len(MISTAKES[name]) >= 3 for name in CHECKS)
    assert {check.exercise_id for check in CHECKS.values()} == {f"rnn.{name}" for name in CHECKS}


@pytest.mark.parametrize("seed", [0, 2026])
@pytest.mark.parametrize("name", list(CHECKS))
def test_the_notebook_solution_passes(solution, name, seed):
    result = CHECKS[name](*[solution[n] for n in LEARNERS[name]], seed=seed)
    assert result.passed and result.points == CHECKS[name].points and result.cases >= 7
    assert result.max_error < 1e-12


@pytest.mark.parametrize("name", list(CHECKS))
def test_the_instructor_variants_without_a_mistake_pass(name):
    """The harness the mistake tests use is sound: with no mistake switched on, it passes."""
    assert CHECKS[name](*learners_for(name, RIGHT[name])).passed


# -- every known mistake is named ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, mistake",
    [(name, mistake) for name, mistakes in MISTAKES.items() for mistake in mistakes],
    ids=lambda value: value if isinstance(value, str) else value.hint[:40],
)
def test_each_known_mistake_fails_with_its_hint(name, mistake):
    result = failure_of(CHECKS[name], *learners_for(name, mistake.fn))
    assert result.status == "failed" and result.points == 0
    assert result.hint == mistake.hint, result.message


def test_the_seed_errors_are_named_in_the_step_and_in_the_sequence():
    """The two errors the course corrects: no nonlinearity, and a step that ignores its input."""
    for mistakes in (checks.RNN_STEP_FORWARD_MISTAKES, checks.RNN_FORWARD_MISTAKES):
        hints = [m.hint for m in mistakes]
        assert checks.NO_TANH_HINT in hints and checks.INPUT_IGNORED_HINT in hints


def test_every_wrong_gate_order_is_named():
    gate_mistakes = [m for m in checks.LSTM_STEP_FORWARD_MISTAKES if m.hint == checks.GATE_ORDER_HINT]
    assert len(gate_mistakes) == 23


@pytest.mark.parametrize("name", list(CHECKS))
def test_hints_hold_no_code(name):
    for mistake in MISTAKES[name]:
        assert "np." not in mistake.hint and " = " not in mistake.hint and "+=" not in mistake.hint


# -- stubs and other wrong answers --------------------------------------------------------------------------


def stub(*args, **kwargs):
    raise NotImplementedError


@pytest.mark.parametrize("name", list(CHECKS))
def test_stub_reports_not_implemented(name):
    result = CHECKS[name](*[stub for _ in LEARNERS[name]])
    assert result.status == "not implemented" and result.points == 0


@pytest.mark.parametrize("name", ["rnn_step_backward", "rnn_backward", "lstm_step_backward", "lstm_backward"])
def test_backward_stub_with_a_finished_forward_reports_not_implemented(solution, name):
    result = CHECKS[name](solution[LEARNERS[name][0]], stub)
    assert result.status == "not implemented"


@pytest.mark.parametrize("name, wrong", [
    ("rnn_backward", lambda x, h0, *p: (checks._rnn_seq(x, h0, *p, variant="no_tanh"), None)),
    ("lstm_backward", lambda x, h0, c0, *p: (*checks._lstm_seq(x, h0, c0, *p, variant="ifog"), None)),
])
def test_a_wrong_forward_is_reported_before_the_gradients(solution, name, wrong):
    result = failure_of(CHECKS[name], wrong, solution[LEARNERS[name][1]])
    assert f"your {LEARNERS[name][0]}" in result.message
    assert f"check_{LEARNERS[name][0]}" in result.hint


def test_float32_state_fails_on_the_dtype(solution):
    def rnn_step_forward(x, h, *p):
        h_next, cache = solution["rnn_step_forward"](x, h, *p)
        return h_next.astype(np.float32), cache

    result = failure_of(CHECKS["rnn_step_forward"], rnn_step_forward)
    assert "float32" in result.message


def test_time_major_output_is_a_shape_failure(solution):
    def rnn_forward(x, h0, *p):
        h, cache = solution["rnn_forward"](x, h0, *p)
        return h.transpose(1, 0, 2), cache

    result = failure_of(CHECKS["rnn_forward"], rnn_forward)
    assert "shape" in result.message


def test_a_missing_return_value_is_named(solution):
    result = failure_of(CHECKS["lstm_forward"], lambda *args: solution["lstm_forward"](*args)[:2])
    assert "returned 2 values; it should return 3" in result.message and "c_n" in result.hint


def test_a_nan_gradient_is_reported(solution):
    def lstm_backward(dh, cache):
        grads = list(solution["lstm_backward"](dh, cache))
        grads[2] = grads[2] * np.nan
        return tuple(grads)

    result = failure_of(CHECKS["lstm_backward"], solution["lstm_forward"], lstm_backward)
    assert "dc0" in result.message and "NaN" in result.message


@pytest.mark.parametrize("name", ["rnn_step_backward", "rnn_backward", "lstm_step_backward", "lstm_backward"])
def test_finite_differences_catch_a_backward_wrong_only_on_their_case(solution, name):
    """The centred differences are a real comparison: a gradient wrong only on their case fails there."""
    forward, backward = (solution[n] for n in LEARNERS[name])
    fd_x = checks._gradcheck_case(0, lstm=name.startswith("lstm"), sequence="step" not in name)[0]

    def slightly_wrong(*args):
        grads = list(backward(*args))
        if grads[0].shape == fd_x.shape:
            grads[-3] = grads[-3] * 1.001  # dweight_hh
        return tuple(grads)

    result = failure_of(CHECKS[name], forward, slightly_wrong)
    assert "finite differences" in result.message and "dweight_hh" in result.message
    assert "rel error" in result.message and "tolerance" in result.message


def test_gradcheck_shape_is_used_by_no_other_case():
    for seed in (0, 2026):
        for lstm in (False, True):
            step_shapes = {case[1].shape for case in checks._step_cases(seed, lstm)}
            seq_shapes = {case[1].shape for case in checks._seq_cases(seed, lstm)}
            assert checks._gradcheck_case(seed, lstm, sequence=False)[0].shape not in step_shapes
            assert checks._gradcheck_case(seed, lstm, sequence=True)[0].shape not in seq_shapes


def test_calling_torch_is_refused():
    def clip_grad_norm(grads, max_norm):
        import torch

        tensors = [torch.from_numpy(g) for g in grads]
        total = float(torch.linalg.vector_norm(torch.cat([t.ravel() for t in tensors])))
        return [g * min(1.0, max_norm / (total + 1e-6)) for g in grads], total

    result = failure_of(CHECKS["clip_grad_norm"], clip_grad_norm)
    assert "torch" in result.message and "NumPy only" in result.message


def test_clipping_without_the_epsilon_still_passes():
    """torch divides by total_norm + 1e-6; a learner who guards the zero case differently is not failed for it."""
    def clip_grad_norm(grads, max_norm):
        total = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
        scale = max_norm / total if total > max_norm else 1.0
        return [g * scale for g in grads], total

    assert CHECKS["clip_grad_norm"](clip_grad_norm).passed


def test_clipping_that_divides_by_a_zero_norm_fails_on_the_zero_case():
    def clip_grad_norm(grads, max_norm):
        total = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
        return [g * min(1.0, max_norm / total) for g in grads], total

    result = failure_of(CHECKS["clip_grad_norm"], clip_grad_norm)
    assert "all zero" in result.message and "ZeroDivisionError" in result.message


def test_clipped_list_of_the_wrong_length_fails(solution):
    result = failure_of(CHECKS["clip_grad_norm"], lambda grads, m: (solution["clip_grad_norm"](grads, m)[0][:1],
                                                                    solution["clip_grad_norm"](grads, m)[1]))
    assert "one per gradient" in result.message
