"""Tests for the checks of 04_optimizers: the notebook's solutions pass, every known mistake fails with its hint."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from course_utils.checking import CheckFailure
from course_utils.checks import optimizers as opt
from notebook_code import load_solutions

CHECKS = {
    "sgd_step": (opt.check_sgd_step, opt.SGD_MISTAKES),
    "sgd_momentum_step": (opt.check_sgd_momentum_step, opt.MOMENTUM_MISTAKES),
    "adam_step": (opt.check_adam_step, opt.ADAM_MISTAKES),
    "adamw_step": (opt.check_adamw_step, opt.ADAMW_MISTAKES),
    "minibatch_indices": (opt.check_minibatch_indices, opt.MINIBATCH_MISTAKES),
}
ALL_MISTAKES = [(name, m) for name, (_, mistakes) in CHECKS.items() for m in mistakes]


@pytest.fixture(scope="module")
def solution():
    return load_solutions("optimizers")


def _learner(mistake):
    """A mistake's wrong function, in the learner's form (a step function for the optimizers)."""
    return getattr(mistake.fn, "step", mistake.fn)


def _failure(check, learner, **kwargs):
    with pytest.raises(CheckFailure) as info:
        check(learner, **kwargs)
    return info.value.result


# -- the reference solution ------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CHECKS))
def test_the_notebook_solution_passes(solution, name):
    check, _ = CHECKS[name]
    for seed in (0, 2026):
        result = check(solution[name], seed=seed)
        assert result.passed, result.message
        assert result.cases >= 4


def test_exercise_ids_and_points():
    for name, (check, _) in CHECKS.items():
        assert check.exercise_id == f"optimizers.{name}"
        assert check.points >= 1


# -- known mistakes ---------------------------------------------------------------------------


@pytest.mark.parametrize("name, mistake", ALL_MISTAKES, ids=lambda v: v if isinstance(v, str) else _learner(v).__name__)
def test_each_known_mistake_fails_with_its_hint(name, mistake):
    check, _ = CHECKS[name]
    for seed in (0, 2026):
        result = _failure(check, _learner(mistake), seed=seed)
        assert result.status == "failed"
        assert result.hint == mistake.hint, result.message


def test_the_mistakes_the_lesson_promises_are_covered():
    names = {name: {_learner(m).__name__ for m in mistakes} for name, (_, mistakes) in CHECKS.items()}
    assert {"_momentum_ema", "_momentum_nesterov_ignored", "_momentum_forgot_state",
            "_momentum_sutskever"} <= names["sgd_momentum_step"]
    assert {"adam_no_bias_correction", "adam_step_from_zero", "adam_eps_inside_sqrt", "adam_decoupled_decay",
            "adam_forgot_state"} <= names["adam_step"]
    assert {"adamw_as_l2", "adamw_forgot_state"} <= names["adamw_step"]
    assert {"_mb_no_shuffle", "_mb_drop_last_always", "_mb_with_replacement", "_mb_reseeded",
            "_mb_global_rng"} <= names["minibatch_indices"]


def test_wrong_variants_really_differ_from_torch():
    """Each wrong optimizer leaves torch's trajectory somewhere in the cases (so the check can fail)."""
    runs = {"sgd_step": (opt.sgd_runs(), "SGD"), "sgd_momentum_step": (opt.momentum_runs(), "SGD"),
            "adam_step": (opt.adam_runs(), "Adam"), "adamw_step": (opt.adam_runs(decoupled=True), "AdamW")}
    for name, (cases, optimizer) in runs.items():
        for mistake in CHECKS[name][1]:
            with np.errstate(all="ignore"):
                differs = any(
                    not np.allclose(a, e, rtol=1e-6, atol=1e-8, equal_nan=False)
                    for run in cases
                    for a, e in zip(opt.run_steps(_learner(mistake), run), opt.torch_trajectory(optimizer, run)))
            assert differs, _learner(mistake).__name__


# -- stubs and other wrong answers ---------------------------------------------------------------


@pytest.mark.parametrize("name", list(CHECKS))
def test_stub_reports_not_implemented(name):
    check, _ = CHECKS[name]

    def stub(*args, **kwargs):
        raise NotImplementedError(name)

    result = check(stub)
    assert result.status == "not implemented"
    assert result.points == 0


def test_returning_only_the_parameter_is_explained(solution):
    def sgd_step(param, grad, state, lr, weight_decay=0.0):
        return solution["sgd_step"](param, grad, state, lr, weight_decay)[0]

    result = _failure(opt.check_sgd_step, sgd_step)
    assert "return the pair (new_param, new_state)" in result.message


def test_a_state_that_is_not_a_dict_is_explained(solution):
    def sgd_momentum_step(param, grad, state, lr, momentum, nesterov=False, weight_decay=0.0):
        new_param, new_state = solution["sgd_momentum_step"](param, grad, state, lr, momentum, nesterov, weight_decay)
        return new_param, new_state["momentum_buffer"]

    result = _failure(opt.check_sgd_momentum_step, sgd_momentum_step)
    assert "not a dict" in result.message
    assert "momentum_buffer" in result.hint


def test_changing_the_state_in_place_is_caught(solution):
    def sgd_momentum_step(param, grad, state, lr, momentum, nesterov=False, weight_decay=0.0):
        new_param, new_state = solution["sgd_momentum_step"](param, grad, state, lr, momentum, nesterov, weight_decay)
        state.update(new_state)  # mutates the caller's dict
        return new_param, state

    result = _failure(opt.check_sgd_momentum_step, sgd_momentum_step)
    assert "changed the `state` dict" in result.message


def test_changing_the_state_arrays_in_place_is_caught(solution):
    def adam_step(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        if state:
            state["exp_avg"] *= 1.0  # an in-place edit of the caller's array, even a harmless one
        return solution["adam_step"](param, grad, state, lr, betas, eps, weight_decay)

    # multiplying by 1.0 changes nothing, so this must pass: only real edits count
    assert opt.check_adam_step(adam_step).passed

    def adam_step_inplace(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        new_param, new_state = solution["adam_step"](param, grad, state, lr, betas, eps, weight_decay)
        if state:
            state["exp_avg"][...] = new_state["exp_avg"]
        return new_param, new_state

    result = _failure(opt.check_adam_step, adam_step_inplace)
    assert "changed the `state` dict" in result.message


def test_changing_the_parameter_in_place_is_caught():
    def sgd_step(param, grad, state, lr, weight_decay=0.0):
        param -= lr * (grad + weight_decay * param)
        return param, state

    result = _failure(opt.check_sgd_step, sgd_step)
    assert "changed its argument `param` in place" in result.message


def test_float32_output_is_caught(solution):
    def adamw_step(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        new_param, new_state = solution["adamw_step"](param, grad, state, lr, betas, eps, weight_decay)
        return new_param.astype(np.float32), new_state

    result = _failure(opt.check_adamw_step, adamw_step)
    assert "float32" in result.message


def test_nan_output_is_caught(solution):
    def sgd_step(param, grad, state, lr, weight_decay=0.0):
        return np.full_like(param, np.nan), state

    result = _failure(opt.check_sgd_step, sgd_step)
    assert "NaN" in result.message


def test_wrong_shape_is_caught():
    def sgd_step(param, grad, state, lr, weight_decay=0.0):
        return (param - lr * (grad + weight_decay * param)).ravel(), state

    result = _failure(opt.check_sgd_step, sgd_step)
    assert "shape" in result.message and "(3, 4)" in result.message


def test_a_step_that_caches_the_learning_rate_fails_on_the_schedule(solution):
    def sgd_momentum_step(param, grad, state, lr, momentum, nesterov=False, weight_decay=0.0):
        lr = state.get("lr", lr)
        new_param, new_state = solution["sgd_momentum_step"](param, grad, state, lr, momentum, nesterov, weight_decay)
        return new_param, {**new_state, "lr": lr}

    result = _failure(opt.check_sgd_momentum_step, sgd_momentum_step)
    assert "learning-rate schedule" in result.message


def test_calling_torch_is_caught():
    import torch

    def sgd_step(param, grad, state, lr, weight_decay=0.0):
        p = torch.tensor(param)
        return (p - lr * (torch.tensor(grad) + weight_decay * p)).numpy(), state

    result = _failure(opt.check_sgd_step, sgd_step)
    assert "from scratch" in result.message


def test_the_failure_message_does_not_reveal_the_expected_parameters():
    mistake = opt.SGD_MISTAKES[0]  # gradient ascent fails on the very first step
    result = _failure(opt.check_sgd_step, _learner(mistake))
    run = opt.sgd_runs()[0]
    expected = opt.torch_trajectory("SGD", run)[0]
    for value in expected.ravel():
        assert f"{value:.4f}" not in result.message and f"{value:.4g}" not in result.message


# -- mini-batches ---------------------------------------------------------------------------------


def test_a_generator_of_batches_is_accepted():
    def minibatch_indices(n, batch_size, rng, shuffle=True, drop_last=False):
        order = rng.permutation(n) if shuffle else np.arange(n)
        stop = n - n % batch_size if drop_last else n
        for i in range(0, stop, batch_size):
            yield order[i:i + batch_size]

    assert opt.check_minibatch_indices(minibatch_indices).passed


def test_float_indices_are_caught(solution):
    def minibatch_indices(n, batch_size, rng, shuffle=True, drop_last=False):
        return [b.astype(float) for b in solution["minibatch_indices"](n, batch_size, rng, shuffle, drop_last)]

    result = _failure(opt.check_minibatch_indices, minibatch_indices)
    assert "integers" in result.message


def test_a_single_array_is_not_a_list_of_batches():
    def minibatch_indices(n, batch_size, rng, shuffle=True, drop_last=False):
        return rng.permutation(n) if shuffle else np.arange(n)

    result = _failure(opt.check_minibatch_indices, minibatch_indices)
    assert "list of index arrays" in result.message


def test_torch_randperm_is_caught():
    import torch

    def minibatch_indices(n, batch_size, rng, shuffle=True, drop_last=False):
        order = torch.randperm(n).numpy() if shuffle else np.arange(n)
        stop = n - n % batch_size if drop_last else n
        return [order[i:i + batch_size] for i in range(0, stop, batch_size)]

    result = _failure(opt.check_minibatch_indices, minibatch_indices)
    assert "from scratch" in result.message


def test_the_check_leaves_the_global_numpy_generator_alone(solution):
    np.random.seed(123)
    before = np.random.random()
    np.random.seed(123)
    opt.check_minibatch_indices(solution["minibatch_indices"])
    assert np.random.random() == before


# -- property-based: the solutions match torch on random settings ----------------------------------

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


def _random_run(seed, shape, steps, lr, hyper):
    rng = np.random.default_rng(seed)
    grads = [rng.normal(size=shape) for _ in range(steps)]
    return opt.Run("random", rng.normal(size=shape), grads, [lr] * steps, hyper)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), shape=shapes, steps=st.integers(1, 6), lr=st.floats(1e-3, 0.5),
       momentum=st.floats(0.0, 0.99), nesterov=st.booleans(), weight_decay=st.sampled_from([0.0, 1e-3, 0.1]))
def test_momentum_solution_matches_torch_on_random_settings(solution, seed, shape, steps, lr, momentum, nesterov,
                                                            weight_decay):
    if nesterov and momentum == 0.0:
        momentum = 0.5  # torch requires momentum > 0 for Nesterov
    run = _random_run(seed, shape, steps, lr, {"momentum": momentum, "nesterov": nesterov,
                                               "weight_decay": weight_decay})
    for ours, theirs in zip(opt.run_steps(solution["sgd_momentum_step"], run), opt.torch_trajectory("SGD", run)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), shape=shapes, steps=st.integers(1, 6), lr=st.floats(1e-4, 0.1),
       beta1=st.floats(0.0, 0.99), beta2=st.floats(0.5, 0.9999), eps=st.sampled_from([1e-8, 1e-6, 1e-3]),
       weight_decay=st.sampled_from([0.0, 1e-2, 0.3]), decoupled=st.booleans())
def test_adam_solutions_match_torch_on_random_settings(solution, seed, shape, steps, lr, beta1, beta2, eps,
                                                       weight_decay, decoupled):
    run = _random_run(seed, shape, steps, lr, {"betas": (beta1, beta2), "eps": eps, "weight_decay": weight_decay})
    name, optimizer = ("adamw_step", "AdamW") if decoupled else ("adam_step", "Adam")
    for ours, theirs in zip(opt.run_steps(solution[name], run), opt.torch_trajectory(optimizer, run)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 60), batch_size=st.integers(1, 70), shuffle=st.booleans(), drop_last=st.booleans(),
       seed=st.integers(0, 1000))
def test_minibatch_solution_matches_dataloader_sizes(solution, n, batch_size, shuffle, drop_last, seed):
    batches = solution["minibatch_indices"](n, batch_size, np.random.default_rng(seed), shuffle, drop_last)
    expected = opt._loader_batches(n, batch_size, shuffle, drop_last)
    assert [len(b) for b in batches] == [len(b) for b in expected]
    seen = np.concatenate(batches) if batches else np.zeros(0, dtype=int)
    assert len(np.unique(seen)) == len(seen) == (n - n % batch_size if drop_last else n)
    if not shuffle:
        assert all(np.array_equal(a, b) for a, b in zip(batches, expected))


# -- on a GPU: the references and the checks on CUDA ------------------------------------------------


@pytest.mark.gpu
def test_references_on_cuda_match_the_cpu(solution):
    import torch

    cases = [(run, "Adam") for run in opt.adam_runs()] + [(run, "SGD") for run in opt.momentum_runs()]
    for run, optimizer in cases:
        on_gpu = opt.torch_trajectory(optimizer, run, dev=torch.device("cuda"))
        on_cpu = opt.torch_trajectory(optimizer, run, dev=torch.device("cpu"))
        for a, b in zip(on_gpu, on_cpu):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    for name, (check, _) in CHECKS.items():
        result = check(solution[name])
        assert result.passed and result.device.startswith("cuda"), result.message


# -- a hint fires only when its mistake, and no other bug, explains the run --------------------------------


def _mistake(mistakes, name):
    return next(m for m in mistakes if _learner(m).__name__ == name)


def test_adam_that_stores_the_corrected_moments_gets_its_own_hint():
    """It used to get the generic "mean vs sum? a 2 or 1/N?" hint."""
    result = _failure(opt.check_adam_step, _learner(_mistake(opt.ADAM_MISTAKES, "adam_stores_corrected_moments")))
    assert result.hint == opt._STORED_CORRECTED
    assert "mean vs sum" not in result.hint


def test_nesterov_with_the_old_buffer_gets_its_own_hint():
    step = _learner(_mistake(opt.MOMENTUM_MISTAKES, "_momentum_nesterov_old_buffer"))
    result = _failure(opt.check_sgd_momentum_step, step)
    assert "before this step's update" in result.hint
    assert "step 2 of" in result.message  # its first step is right


def test_a_mistake_that_fails_a_case_the_learner_passed_is_not_blamed(solution):
    """This learner ignores weight decay only on 3-D parameters: it is not 'you ignored weight_decay'."""

    def sgd_step(param, grad, state, lr, weight_decay=0.0):
        if param.ndim == 3:
            return param - lr * grad, state
        return solution["sgd_step"](param, grad, state, lr, weight_decay)

    result = _failure(opt.check_sgd_step, sgd_step)
    assert "shape (2, 3, 2)" in result.message
    assert result.hint not in {m.hint for m in opt.SGD_MISTAKES}
    assert "first step already differs" in result.hint


def test_a_bug_no_known_mistake_explains_gets_the_facts_not_a_known_hint():
    def adam_step(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        beta1, beta2 = betas
        t = state.get("step", 0) + 1
        g = grad + weight_decay * param if weight_decay else grad
        m = beta1 * state.get("exp_avg", 0.0) + (1 - beta1) * g
        v = beta2 * state.get("exp_avg_sq", 0.0) + (1 - beta2) * g * g
        m_hat = m / (1 - beta2 ** t)  # a typo: beta2 in m's correction
        v_hat = v / (1 - beta2 ** t)
        return param - lr * m_hat / (np.sqrt(v_hat) + eps), {"step": t, "exp_avg": m, "exp_avg_sq": v}

    result = _failure(opt.check_adam_step, adam_step)
    assert result.hint not in {m.hint for m in opt.ADAM_MISTAKES}
    assert "first step" in result.hint and "mean vs sum" not in result.hint


def test_a_step_that_keeps_lr_in_its_state_is_told_what_carries_over(solution):
    def sgd_momentum_step(param, grad, state, lr, momentum, nesterov=False, weight_decay=0.0):
        lr = state.get("lr", lr)
        new_param, new_state = solution["sgd_momentum_step"](param, grad, state, lr, momentum, nesterov, weight_decay)
        return new_param, {**new_state, "lr": lr}

    result = _failure(opt.check_sgd_momentum_step, sgd_momentum_step)
    assert "carries over from one step to the next" in result.hint


# -- weight_decay=0 is skipped, as torch skips it ----------------------------------------------------


@pytest.mark.parametrize("name", ["sgd_step", "sgd_momentum_step", "adam_step", "adamw_step"])
def test_an_infinite_parameter_stays_infinite_with_weight_decay_0(solution, name):
    check, mistakes = CHECKS[name]
    assert any("already infinite" in run.case for run in {"sgd_step": opt.sgd_runs, "sgd_momentum_step":
                                                             opt.momentum_runs, "adam_step": opt.adam_runs,
                                                             "adamw_step": opt.adam_runs}[name]())
    always = [m for m in mistakes if "0 times inf is NaN" in m.hint]
    assert len(always) == 1
    result = _failure(check, _learner(always[0]))
    assert "already infinite" in result.message and result.hint == always[0].hint


def test_the_course_reference_steps_pass_the_checks():
    """course_utils.layers.optim, the copies later lessons use, skips the zero decay too."""
    from course_utils.invoke import trusting
    from course_utils.layers import optim as layers_optim

    with trusting("course_utils.layers"):
        for name in ("sgd_step", "sgd_momentum_step", "adam_step", "adamw_step"):
            assert CHECKS[name][0](getattr(layers_optim, name)).passed


# -- through the grader's channel: learner code only through Checker.call ----------------------------


@pytest.mark.parametrize("mistake", [_mistake(opt.ADAM_MISTAKES, n) for n in
                                     ("adam_no_decay", "adam_decoupled_decay", "adam_stores_corrected_moments",
                                      "adam_always_decay")], ids=lambda m: _learner(m).__name__)
def test_hints_are_the_same_through_the_remote_channel(mistake):
    from course_utils.remote import LearnerRef, loopback

    channel = loopback({"adam_step": _learner(mistake)})
    result, _ = opt.check_adam_step.evaluate(LearnerRef("adam_step"), channel=channel)
    assert result.status == "failed" and result.hint == mistake.hint
    assert channel.calls > 1


def test_a_generator_of_batches_is_accepted_through_the_remote_channel():
    from course_utils.remote import LearnerRef, loopback

    def minibatch_indices(n, batch_size, rng, shuffle=True, drop_last=False):
        order = rng.permutation(n) if shuffle else np.arange(n)
        for i in range(0, n - n % batch_size if drop_last else n, batch_size):
            yield order[i:i + batch_size]

    result, _ = opt.check_minibatch_indices.evaluate(LearnerRef("minibatch_indices"),
                                                     channel=loopback({"minibatch_indices": minibatch_indices}))
    assert result.passed, result.line()
