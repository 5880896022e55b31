"""The checks of 10_gan: the notebook's solutions pass, every known mistake fails with its own hint, the
stubs report "not implemented", and other wrong answers fail with a sensible message."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_utils.checking import CheckFailure
from course_utils.checks import gan
from course_utils.layers.gan import softplus as course_softplus
from course_utils.remote import LearnerRef, loopback
from notebook_code import load_solutions

CHECKS = {
    "discriminator_loss": gan.check_discriminator_loss,
    "generator_loss": gan.check_generator_loss,
    "train_step": gan.check_train_step,
}


@pytest.fixture(scope="module")
def solution():
    return load_solutions("gan")


def fail(name, learner, **kwargs):
    with pytest.raises(CheckFailure) as info:
        CHECKS[name](learner, **kwargs)
    result = info.value.result
    assert result.status == "failed" and result.points == 0
    return result


def test_every_exercise_has_a_check_with_its_id():
    assert set(gan.MISTAKES) == set(CHECKS)
    for name, check in CHECKS.items():
        assert check.exercise_id == f"gan.{name}"


@pytest.mark.parametrize("name", CHECKS)
def test_the_notebook_solution_passes(solution, name):
    # The hidden tests' seed 2026 runs in tests/test_contract.py; the training step is the slow check.
    for seed in ((0,) if name == "train_step" else (0, 2026)):
        result = CHECKS[name](solution[name], seed=seed)
        assert result.passed and result.points == CHECKS[name].points
        assert result.cases >= 6


# ---- every known mistake, as a learner would write it, fails with exactly its hint ---------------------

LEARNER_MISTAKES = (
    [(name, str(i), m.hint, m.fn) for name in ("discriminator_loss", "generator_loss")
     for i, m in enumerate(gan.MISTAKES[name])]
    + [("train_step", key, hint, step) for key, (hint, step) in gan.TRAIN_STEP_VARIANTS.items()]
)


@pytest.mark.parametrize("name, key, hint, learner", LEARNER_MISTAKES,
                         ids=[f"{name}-{key}-{hint[:30]}" for name, key, hint, _ in LEARNER_MISTAKES])
def test_each_known_mistake_fails_with_its_hint(name, key, hint, learner):
    result = fail(name, learner)
    assert result.hint == hint, f"message: {result.message}"


def test_the_training_step_mistakes_are_its_variants():
    assert [m.hint for m in gan.TRAIN_STEP_MISTAKES] == [hint for hint, _ in gan.TRAIN_STEP_VARIANTS.values()]


def test_the_mistakes_the_issue_names_are_known():
    d = " ".join(m.hint for m in gan.DISCRIMINATOR_LOSS_MISTAKES)
    g = " ".join(m.hint for m in gan.GENERATOR_LOSS_MISTAKES)
    step = " ".join(m.hint for m in gan.TRAIN_STEP_MISTAKES)
    for hints in (d, g):
        assert "log of a probability" in hints and "wrong sign" in hints and "not probabilities" in hints
    assert "labels are swapped" in d and "label 0" in g
    assert "returned the saturating (minimax) one" in g
    assert "discriminator's step must not update the generator" in step
    assert "flows back through D" in step and "before its update" in step


def test_hints_hand_over_no_code_and_no_values():
    hints = [m.hint for mistakes in gan.MISTAKES.values() for m in mistakes]
    hints += [gan.STEP_DETACH_HINT, gan.STEP_D_IN_G_HINT, gan.STEP_ORDER_HINT]
    for hint in hints:
        assert "np." not in hint and " = " not in hint, hint
        assert "softplus(" not in hint and "sigmoid(" not in hint and "log1p" not in hint, hint


@pytest.mark.parametrize("name", CHECKS)
def test_stub_reports_not_implemented(name):
    def stub(*args, **kwargs):
        raise NotImplementedError("write it")

    result = CHECKS[name](stub)
    assert result.status == "not implemented" and result.points == 0


# ---- the losses: other wrong answers ------------------------------------------------------------------

def test_float32_loss_fails_on_its_dtype(solution):
    def float32(real_logits, fake_logits):
        loss, d_real, d_fake = solution["discriminator_loss"](real_logits, fake_logits)
        return np.float32(loss), d_real, d_fake

    assert "float32" in fail("discriminator_loss", float32).message


def test_per_sample_losses_fail_as_not_one_number(solution):
    def per_sample(fake_logits, saturating=False):
        _, d_fake = solution["generator_loss"](fake_logits, saturating)
        return solution["softplus"](-fake_logits), d_fake

    result = fail("generator_loss", per_sample)
    assert "one number" in result.message and "average" in result.hint


def test_returning_the_loss_alone_fails_clearly(solution):
    result = fail("discriminator_loss", lambda r, f: solution["discriminator_loss"](r, f)[0])
    assert "(loss, d_real, d_fake)" in result.message


def test_gradients_of_the_wrong_shape_fail_on_the_shape(solution):
    def flat(real_logits, fake_logits):
        loss, d_real, d_fake = solution["discriminator_loss"](real_logits, fake_logits)
        return loss, d_real.ravel(), d_fake.ravel()

    assert "shape" in fail("discriminator_loss", flat).message


def test_the_course_softplus_is_not_allowed_in_the_loss_exercises():
    def borrowed(fake_logits, saturating=False):
        return course_softplus(-fake_logits).mean(), fake_logits * 0.0

    result = fail("generator_loss", borrowed)
    assert "course_utils" in result.message and "from scratch" in result.message


def test_calling_torch_is_refused():
    def uses_torch(fake_logits, saturating=False):
        loss = torch.nn.functional.softplus(torch.tensor(-fake_logits)).mean()
        return loss.item(), fake_logits * 0.0

    result = fail("generator_loss", uses_torch)
    assert "torch" in result.message


@settings(max_examples=3, deadline=None)
@given(st.integers(min_value=1, max_value=10_000))
def test_any_seed_passes_the_solution_and_names_the_swapped_labels(solution, seed):
    assert gan.check_discriminator_loss(solution["discriminator_loss"], seed=seed).passed
    swapped = gan.DISCRIMINATOR_LOSS_MISTAKES[1]
    assert "swapped" in swapped.hint
    with pytest.raises(CheckFailure) as info:
        gan.check_discriminator_loss(swapped.fn, seed=seed)
    assert info.value.result.hint == swapped.hint


# ---- the training step: other wrong answers -----------------------------------------------------------

def _sgd_by_hand(G, D, opt_G, opt_D, x_real, z, saturating=False):
    real_logits, real_cache = D.forward(x_real)
    fake_logits, fake_cache = D.forward(G(z))
    d_loss, d_real, d_fake = gan._right_d(real_logits, fake_logits)
    _, grads_real = D.backward(d_real, real_cache)
    _, grads_fake = D.backward(d_fake, fake_cache)
    for k in D.params:
        D.params[k] = D.params[k] - 0.01 * (grads_real[k] + grads_fake[k])
    return d_loss, 0.0


def test_a_step_that_bypasses_the_optimizers_is_told_to_use_them():
    result = fail("train_step", _sgd_by_hand)
    assert "no optimizer step at all" in result.message and "its own optimizer" in result.hint


def test_stepping_the_wrong_optimizer_is_named():
    def swapped_optimizers(G, D, opt_G, opt_D, x_real, z, saturating=False):
        return gan._right_step(G, D, opt_D, opt_G, x_real, z, saturating)

    result = fail("train_step", swapped_optimizers)
    assert "opt_G.step(D.params, ...)" in result.message and "its own optimizer" in result.hint


def test_a_gradient_that_skips_the_discriminator_fails_with_the_layer_message():
    def logits_gradient_into_G(G, D, opt_G, opt_D, x_real, z, saturating=False):
        d_loss, grads, _ = gan._d_grads(D, x_real, G(z))
        opt_D.step(D.params, grads)
        x_fake, g_cache = G.forward(z)
        g_loss, d_logits = gan._right_g(D(x_fake), saturating)
        _, grads = G.backward(d_logits, g_cache)          # the gradient w.r.t. D's logits, not G's output
        opt_G.step(G.params, grads)
        return d_loss, g_loss

    result = fail("train_step", logits_gradient_into_G)
    assert "ValueError" in result.message and "with respect to this network's own output" in result.message


def test_a_step_that_returns_nothing_fails_clearly():
    def no_return(G, D, opt_G, opt_D, x_real, z, saturating=False):
        gan._right_step(G, D, opt_G, opt_D, x_real, z, saturating)

    result = fail("train_step", no_return)
    assert "(d_loss, g_loss)" in result.message


def test_a_training_step_mistake_is_named_through_the_remote_channel():
    # The solution passing remotely is tests/test_contract.py's job; here a mistake, whose hint needs the
    # wrong step's whole run to be replayed in the grader.
    hint, wrong = gan.TRAIN_STEP_VARIANTS["stale_discriminator"]
    failed, _ = gan.check_train_step.evaluate(LearnerRef("train_step"), channel=loopback({"train_step": wrong}))
    assert failed.status == "failed" and failed.hint == hint
