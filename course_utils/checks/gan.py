"""Checks for 10_gan: the GAN losses, from logits and with their gradients, and one training step.

Conventions (the notebook's, and those of PyTorch's DCGAN example):

    loss, d_real, d_fake = discriminator_loss(real_logits, fake_logits)
        loss = BCE(real_logits, label 1) + BCE(fake_logits, label 0), each BCE a mean over its own batch
    loss, d_fake = generator_loss(fake_logits, saturating=False)
        non-saturating: BCE(fake_logits, label 1) = -mean log D(G(z))
        saturating (minimax): -BCE(fake_logits, label 0) = mean log(1 - D(G(z)))
    d_loss, g_loss = train_step(G, D, opt_G, opt_D, x_real, z, saturating=False)

The gradients are with respect to the logits, shaped like them. The losses are compared with
F.binary_cross_entropy_with_logits and their gradients with torch.autograd.

The training step receives the course's `MLP` networks and `Adam` optimizers (course_utils/layers/gan.py),
so the check reaches it through a harness (`_train_step_harness`) that builds them from plain parameter
dicts next to the learner's code, runs the learner's step and returns the parameters, the losses and the
order of the optimizer steps as plain data. The reference is the same alternating update in torch.nn
terms with torch.optim.Adam: a discriminator step on detached fakes, then a generator step through the
updated discriminator.

Known mistakes (XXX_MISTAKES) are NumPy instructor code; the training step's mistakes are wrong
training steps run through the same harness. MISTAKES maps exercise names to them.
"""

from dataclasses import dataclass

import numpy as np
import torch.nn.functional as F

from course_utils.checking import Mistake, exercise
from course_utils.compare import find_mismatch
from course_utils.layers.gan import LEAKY_SLOPE, MLP, Adam, param_names, sigmoid, softplus

# -- NumPy building blocks of the right answers and of the wrong variants ------------------------------


def _right_d(real, fake):
    return (softplus(-real).mean() + softplus(fake).mean(),
            (sigmoid(real) - 1.0) / real.size, sigmoid(fake) / fake.size)


def _right_g(fake, saturating=False):
    if saturating:
        return -softplus(fake).mean(), -sigmoid(fake) / fake.size
    return softplus(-fake).mean(), (sigmoid(fake) - 1.0) / fake.size


def _log_sigmoid_via_probability(z, clamp=None):
    """log(sigmoid(z)) computed from the probability: -inf once the sigmoid rounds to 0."""
    with np.errstate(divide="ignore"):
        out = np.log(sigmoid(z))
    return out if clamp is None else np.maximum(out, clamp)


def _log_one_minus_sigmoid_via_probability(z, clamp=None):
    """log(1 - sigmoid(z)) computed from the probability: -inf once the sigmoid rounds to 1."""
    with np.errstate(divide="ignore"):
        out = np.log(1.0 - sigmoid(z))
    return out if clamp is None else np.maximum(out, clamp)


def _log_of_logits(z):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(z)


def _log_one_minus_logits(z):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(1.0 - z)


class _Suspects:
    """The known mistakes still consistent with every comparison the learner has passed so far.

    A mistake's hint may only be blamed for a wrong output if that mistake would also have passed the
    learner's earlier, correct outputs (a wrong-sign gradient next to a right loss is not the "whole loss
    has the wrong sign" mistake). This is the idea of course_utils.hints.Suspects, made lazy: the passed
    comparisons are only recorded, and the mistakes are run against them (once per case each) when a
    comparison fails and the engine asks which mistakes to try. A training-step mistake replays whole
    training runs, too slow to run after every passed comparison.
    """

    def __init__(self, mistakes):
        self.mistakes = list(mistakes)
        self._cases = []      # (args, kwargs) of each case so far
        self._passed = []     # (case index, output index, expected) of each comparison passed
        self._outputs = {}    # (id(mistake), case index) -> the mistake's output there (None: it cannot run)

    def new_case(self, args, kwargs=None):
        self._cases.append((tuple(args), dict(kwargs or {})))

    def _output(self, mistake, case):
        key = (id(mistake), case)
        if key not in self._outputs:
            args, kwargs = self._cases[case]
            try:
                with np.errstate(all="ignore"):
                    self._outputs[key] = mistake.fn(*args, **kwargs)
            except Exception:  # a variant that cannot run here is not what the learner wrote
                self._outputs[key] = None
        return self._outputs[key]

    def _consistent(self, mistake):
        for case, pick, expected in self._passed:
            out = self._output(mistake, case)
            if out is None or find_mismatch(np.asarray(out[pick], dtype=np.float64), expected,
                                            check_dtype=False) is not None:
                return False
        return True

    def __iter__(self):
        return (mistake for mistake in self.mistakes if self._consistent(mistake))

    def expect_close(self, c, actual, expected, *, case, name, pick):
        args, kwargs = self._cases[-1]
        c.expect_close(actual, expected, case=case, name=name, mistakes=self, mistake_args=args,
                       mistake_kwargs=kwargs, mistake_output=pick)
        self._passed.append((len(self._cases) - 1, pick, expected))


# -- the discriminator's loss ------------------------------------------------------------------------


def _d_variant(loss=None, grads=None):
    """A wrong discriminator_loss: the right one with its loss and/or gradients replaced."""

    def wrong(real_logits, fake_logits):
        right_loss, d_real, d_fake = _right_d(real_logits, fake_logits)
        wrong_loss = loss(real_logits, fake_logits) if loss else right_loss
        return (wrong_loss, *(grads(real_logits, fake_logits) if grads else (d_real, d_fake)))

    return wrong


D_LOG_PROB_HINT = (
    "you took the log of a probability. Where the discriminator is sure (a logit of about +-37 or beyond), "
    "the sigmoid rounds to exactly 0 or 1 and the log to -inf, so the loss is infinite. Compute the loss "
    "from the logits: the log of a sigmoid is minus a softplus, and softplus has a stable form that never "
    "forms the probability (lessons 01 and 02)"
)

DISCRIMINATOR_LOSS_MISTAKES = [
    Mistake("your loss has the wrong sign: the discriminator minimises the binary cross-entropy (a loss, "
            "never negative), not the log-likelihood it maximises",
            _d_variant(loss=lambda r, f: -_right_d(r, f)[0],
                       grads=lambda r, f: tuple(-g for g in _right_d(r, f)[1:]))),
    Mistake("the labels are swapped: real samples have the label 1 and fakes the label 0, so the loss "
            "falls as the real logits rise and the fake logits fall",
            _d_variant(loss=lambda r, f: softplus(r).mean() + softplus(-f).mean(),
                       grads=lambda r, f: (sigmoid(r) / r.size, (sigmoid(f) - 1.0) / f.size))),
    Mistake("the discriminator's outputs are logits (any real number), not probabilities: the log of a "
            "negative logit is NaN. Write the cross-entropy in terms of the logits",
            _d_variant(loss=lambda r, f: -_log_of_logits(r).mean() - _log_one_minus_logits(f).mean())),
    Mistake(D_LOG_PROB_HINT,
            _d_variant(loss=lambda r, f: -_log_sigmoid_via_probability(r).mean()
                       - _log_one_minus_sigmoid_via_probability(f).mean())),
    Mistake("you went through probabilities and clamped the log (as nn.BCELoss does, at -100): that caps "
            "the loss and makes it wrong wherever the sigmoid rounds to 0 or 1. Computed from the logits, "
            "nothing needs clamping",
            _d_variant(loss=lambda r, f: -_log_sigmoid_via_probability(r, -100.0).mean()
                       - _log_one_minus_sigmoid_via_probability(f, -100.0).mean())),
    Mistake("the discriminator's loss here is the sum of the two mean cross-entropies (the real batch's "
            "and the fake batch's), as in PyTorch's DCGAN example, not their average",
            _d_variant(loss=lambda r, f: 0.5 * _right_d(r, f)[0],
                       grads=lambda r, f: tuple(0.5 * g for g in _right_d(r, f)[1:]))),
    Mistake("average each batch on its own and add the two means: one mean over the real and fake samples "
            "together weights the two batches by their sizes",
            _d_variant(loss=lambda r, f: (softplus(-r).sum() + softplus(f).sum()) / (r.size + f.size),
                       grads=lambda r, f: ((sigmoid(r) - 1.0) / (r.size + f.size),
                                           sigmoid(f) / (r.size + f.size)))),
    Mistake("the loss is a mean over each batch, so each logit's gradient carries the factor 1/N of its "
            "own batch (the two batches may differ in size); you left it out",
            _d_variant(grads=lambda r, f: (sigmoid(r) - 1.0, sigmoid(f)))),
    Mistake("your gradients point the wrong way: a gradient points uphill, towards a larger loss. "
            "With respect to a logit it is (predicted probability - label) / N",
            _d_variant(grads=lambda r, f: ((1.0 - sigmoid(r)) / r.size, -sigmoid(f) / f.size))),
    Mistake("the gradient with respect to a logit is (predicted probability - label) / N; for the real "
            "batch the label is 1, and your gradient leaves it out",
            _d_variant(grads=lambda r, f: (sigmoid(r) / r.size, sigmoid(f) / f.size))),
]


def _d_cases(seed=0):
    """(description, real_logits, fake_logits). The first case has batches of different sizes."""
    rng = np.random.default_rng(seed)
    yield ("real logits of shape (5, 1), fake logits of shape (3, 1)",
           rng.normal(size=(5, 1)) * 2, rng.normal(size=(3, 1)) * 2)
    yield "real and fake logits of shape (4, 1)", rng.normal(size=(4, 1)) * 2, rng.normal(size=(4, 1)) * 2
    yield "1-D logits: real of shape (6,), fake of shape (2,)", rng.normal(size=6) * 3, rng.normal(size=2) * 3
    yield "batches of 1: logits of shape (1, 1)", np.array([[0.7]]), np.array([[-1.3]])
    yield ("a sure discriminator: logits of +-40, where the sigmoid rounds to exactly 0 or 1",
           np.array([[40.0], [-40.0], [2.0]]), np.array([[-40.0], [40.0], [0.0]]))
    yield ("logits of +-800 (exp(800) overflows)", np.array([[-800.0], [800.0]]), np.array([[800.0], [-800.0]]))
    for _ in range(3):
        n_real, n_fake = (int(n) for n in rng.integers(1, 9, size=2))
        yield (f"random logits: real of shape ({n_real}, 1), fake of shape ({n_fake}, 1)",
               rng.normal(size=(n_real, 1)) * 4, rng.normal(size=(n_fake, 1)) * 4)


def _torch_d_loss(real_logits, fake_logits):
    import torch

    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def _expect_loss_tuple(c, result, size, what, case):
    if not (isinstance(result, (tuple, list)) and len(result) == size):
        c.fail(f"on case {case}, your function returned {type(result).__name__}"
               + (f" of length {len(result)}" if isinstance(result, (tuple, list)) else "")
               + f"; it should return {what}",
               hint=f"give back the tuple {what}, in that order")


def _expect_scalar(c, loss, case):
    if isinstance(loss, np.ndarray) and loss.shape != ():
        c.fail(f"on case {case}, the loss has shape {loss.shape}; it should be one number",
               hint="a loss is one number: average the per-sample losses over the batch")


@exercise("gan.discriminator_loss", points=1, compared="F.binary_cross_entropy_with_logits and torch.autograd")
def check_discriminator_loss(c, discriminator_loss, seed=0):
    """discriminator_loss(real_logits, fake_logits) returns (loss, d_real_logits, d_fake_logits)."""
    suspects = _Suspects(DISCRIMINATOR_LOSS_MISTAKES)
    for case, real, fake in _d_cases(seed):
        result = c.call(discriminator_loss, real, fake, case=case)
        _expect_loss_tuple(c, result, 3, "(loss, d_real, d_fake)", case)
        expected_loss, expected_grads = c.reference(_torch_d_loss, real, fake, dout=np.array(1.0))
        _expect_scalar(c, result[0], case)
        suspects.new_case((real, fake))
        for i, (name, expected) in enumerate(zip(("loss", "d_real", "d_fake"), (expected_loss, *expected_grads))):
            suspects.expect_close(c, result[i], expected, case=case, name=name, pick=i)


# -- the generator's loss ----------------------------------------------------------------------------


def _g_variant(loss_and_grad):
    def wrong(fake_logits, saturating=False):
        return loss_and_grad(fake_logits, saturating)

    return wrong


def _g_loss_only(loss):
    """A wrong generator_loss whose gradient is right: only its loss differs."""
    return _g_variant(lambda f, sat: (loss(f, sat), _right_g(f, sat)[1]))


GENERATOR_LOSS_MISTAKES = [
    Mistake("with saturating=False the generator minimises the non-saturating loss, −log D(G(z)); you "
            "returned the saturating (minimax) one, log(1 − D(G(z))), whose gradient vanishes exactly when "
            "the discriminator rejects the fakes",
            _g_variant(lambda f, sat: _right_g(f, saturating=True))),
    Mistake("with saturating=True return the minimax loss log(1 − D(G(z))), minus the discriminator's loss "
            "on the fakes; you returned the non-saturating one",
            _g_variant(lambda f, sat: _right_g(f, saturating=False))),
    Mistake("the loss has the wrong sign: the generator wants D(G(z)) close to 1, so its loss must fall "
            "as the fake logits rise",
            _g_variant(lambda f, sat: tuple(-v for v in _right_g(f, sat)))),
    Mistake("you scored the fakes against the label 0, the discriminator's target: minimising that teaches "
            "the generator to look fake. The generator's non-saturating loss gives its samples the label 1",
            _g_variant(lambda f, sat: (softplus(f).mean(), sigmoid(f) / f.size))),
    Mistake("the discriminator's outputs are logits (any real number), not probabilities: the log of a "
            "negative logit is NaN. Write the loss in terms of the logits",
            _g_loss_only(lambda f, sat: _log_one_minus_logits(f).mean() if sat else -_log_of_logits(f).mean())),
    Mistake("you took the log of a probability. When the discriminator is sure (a fake logit far below or "
            "above 0, as early in training), the sigmoid rounds to exactly 0 or 1 and the log to -inf. "
            "Compute the loss from the logits, with the stable softplus (lessons 01 and 02)",
            _g_loss_only(lambda f, sat: _log_one_minus_sigmoid_via_probability(f).mean() if sat
                         else -_log_sigmoid_via_probability(f).mean())),
    Mistake("you went through probabilities and clamped the log (as nn.BCELoss does, at -100): that caps "
            "the loss and makes it wrong wherever the sigmoid rounds to 0 or 1. Computed from the logits, "
            "nothing needs clamping",
            _g_loss_only(lambda f, sat: _log_one_minus_sigmoid_via_probability(f, -100.0).mean() if sat
                         else -_log_sigmoid_via_probability(f, -100.0).mean())),
    Mistake("the loss is a mean over the batch, so each logit's gradient carries a factor 1/N; you left it out",
            _g_variant(lambda f, sat: (_right_g(f, sat)[0], _right_g(f, sat)[1] * f.size))),
    Mistake("your gradient points the wrong way: a gradient points uphill, towards a larger loss",
            _g_variant(lambda f, sat: (_right_g(f, sat)[0], -_right_g(f, sat)[1]))),
]


def _g_cases(seed=0):
    rng = np.random.default_rng(seed)
    yield "fake logits of shape (5, 1)", rng.normal(size=(5, 1)) * 2
    yield "1-D fake logits of shape (7,)", rng.normal(size=7) * 3
    yield "a batch of 1: logits of shape (1, 1)", np.array([[-0.4]])
    yield ("a sure discriminator: fake logits of -800, -40, 0.5 and 40 (the sigmoid rounds to 0 or 1)",
           np.array([[-800.0], [-40.0], [0.5], [40.0]]))
    for _ in range(2):
        n = int(rng.integers(1, 9))
        yield f"random fake logits of shape ({n}, 1)", rng.normal(size=(n, 1)) * 4


def _torch_g_loss(fake_logits, saturating=False):
    import torch

    if saturating:
        return -F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


@exercise("gan.generator_loss", points=1, compared="F.binary_cross_entropy_with_logits and torch.autograd")
def check_generator_loss(c, generator_loss, seed=0):
    """generator_loss(fake_logits, saturating=False) returns (loss, d_fake_logits), both forms."""
    suspects = _Suspects(GENERATOR_LOSS_MISTAKES)
    for saturating in (False, True):
        for described, fake in _g_cases(seed):
            kwargs = {"saturating": True} if saturating else {}
            case = described + (", saturating=True" if saturating else "")
            result = c.call(generator_loss, fake, case=case, **kwargs)
            _expect_loss_tuple(c, result, 2, "(loss, d_fake)", case)
            expected_loss, (expected_grad,) = c.reference(_torch_g_loss, fake, dout=np.array(1.0), wrt=[0],
                                                          saturating=saturating)
            _expect_scalar(c, result[0], case)
            suspects.new_case((fake,), {"saturating": saturating})
            for i, (name, expected) in enumerate(zip(("loss", "d_fake"), (expected_loss, expected_grad))):
                suspects.expect_close(c, result[i], expected, case=case, name=name, pick=i)


# -- one training step ---------------------------------------------------------------------------------

BETAS = (0.5, 0.999)
EPS = 1e-8
D_STEP, G_STEP = "opt_D.step(D.params, ...)", "opt_G.step(G.params, ...)"


def _train_step_harness(train_step, g_params, d_params, batches, lr_g, lr_d, saturating):
    """Run the learner's train_step on course MLPs and Adams built from plain data; report plain data.

    Returns {"returned": what each step returned, "log": the optimizer steps each step made, in order,
    "G": G's parameters after each step, "D": D's parameters after each step}.
    """
    G, D = MLP(g_params), MLP(d_params)
    log = []

    def recorder(name):
        def on_step(params, grads):
            whose = "G.params" if params is G.params else "D.params" if params is D.params else "another dict"
            log[-1].append(f"{name}.step({whose}, ...)")
        return on_step

    opt_G = Adam(lr_g, BETAS, EPS, on_step=recorder("opt_G"))
    opt_D = Adam(lr_d, BETAS, EPS, on_step=recorder("opt_D"))
    record = {"returned": [], "log": log, "G": [], "D": []}
    for x_real, z in batches:
        log.append([])
        kwargs = {"saturating": True} if saturating else {}
        record["returned"].append(train_step(G, D, opt_G, opt_D, np.array(x_real), np.array(z), **kwargs))
        record["G"].append(dict(G.params))
        record["D"].append(dict(D.params))
    return record


def _flat_names(n_g, n_d, steps):
    names = []
    for t in range(1, steps + 1):
        names += [f"d_loss (returned by step {t})"]
        names += [f"D.params['{k}'] after step {t}" for k in param_names(n_d)]
        names += [f"g_loss (returned by step {t})"]
        names += [f"G.params['{k}'] after step {t}" for k in param_names(n_g)]
    return names


def _flatten(record):
    """What the harness reported, as one tuple in the order of _flat_names."""
    flat = []
    for returned, g, d in zip(record["returned"], record["G"], record["D"]):
        flat += [returned[0], *(d[k] for k in param_names(len(d) // 2)),
                 returned[1], *(g[k] for k in param_names(len(g) // 2))]
    return tuple(flat)


def _run_wrong_step(wrong_step):
    """A Mistake function: the whole run of a wrong training step, flattened like the learner's."""
    def run(*args):
        return _flatten(_train_step_harness(wrong_step, *args))

    return run


# The wrong training steps: written as a learner would, on the networks and optimizers they receive.

def _d_grads(D, x_real, x_fake, keep="both"):
    real_logits, real_cache = D.forward(x_real)
    fake_logits, fake_cache = D.forward(x_fake)
    d_loss, d_real, d_fake = _right_d(real_logits, fake_logits)
    _, g_real = D.backward(d_real, real_cache)
    dx_fake, g_fake = D.backward(d_fake, fake_cache)
    grads = {"real": g_real, "fake": g_fake,
             "both": {k: g_real[k] + g_fake[k] for k in g_real}}[keep]
    return d_loss, grads, dx_fake


def _g_grads(G, D, z, saturating, loss=_right_g):
    x_fake, g_cache = G.forward(z)
    fake_logits, d_cache = D.forward(x_fake)
    g_loss, d_logits = loss(fake_logits, saturating)
    dx, d_param_grads = D.backward(d_logits, d_cache)
    _, grads = G.backward(dx, g_cache)
    return g_loss, grads, d_param_grads


def _right_step(G, D, opt_G, opt_D, x_real, z, saturating=False):
    d_loss, grads, _ = _d_grads(D, x_real, G(z))
    opt_D.step(D.params, grads)
    g_loss, grads, _ = _g_grads(G, D, z, saturating)
    opt_G.step(G.params, grads)
    return d_loss, g_loss


def _step_updates_g_in_d_step(G, D, opt_G, opt_D, x_real, z, saturating=False):
    x_fake, g_cache = G.forward(z)
    d_loss, grads, dx_fake = _d_grads(D, x_real, x_fake)
    _, g_grads = G.backward(dx_fake, g_cache)        # the fakes were not treated as constants
    opt_G.step(G.params, g_grads)
    opt_D.step(D.params, grads)
    g_loss, grads, _ = _g_grads(G, D, z, saturating)
    opt_G.step(G.params, grads)
    return d_loss, g_loss


def _step_updates_d_in_g_step(G, D, opt_G, opt_D, x_real, z, saturating=False):
    d_loss, grads, _ = _d_grads(D, x_real, G(z))
    opt_D.step(D.params, grads)
    g_loss, grads, d_param_grads = _g_grads(G, D, z, saturating)
    opt_G.step(G.params, grads)
    opt_D.step(D.params, d_param_grads)              # D moved by the generator's loss
    return d_loss, g_loss


def _step_generator_first(G, D, opt_G, opt_D, x_real, z, saturating=False):
    g_loss, grads, _ = _g_grads(G, D, z, saturating)
    opt_G.step(G.params, grads)
    d_loss, grads, _ = _d_grads(D, x_real, G(z))
    opt_D.step(D.params, grads)
    return d_loss, g_loss


def _step_stale_discriminator(G, D, opt_G, opt_D, x_real, z, saturating=False):
    x_fake, g_cache = G.forward(z)
    real_logits, real_cache = D.forward(x_real)
    fake_logits, fake_cache = D.forward(x_fake)
    d_loss, d_real, d_fake = _right_d(real_logits, fake_logits)
    _, g_real = D.backward(d_real, real_cache)
    _, g_fake = D.backward(d_fake, fake_cache)
    opt_D.step(D.params, {k: g_real[k] + g_fake[k] for k in g_real})
    g_loss, d_logits = _right_g(fake_logits, saturating)   # D's output from before its update
    dx, _ = D.backward(d_logits, fake_cache)
    _, grads = G.backward(dx, g_cache)
    opt_G.step(G.params, grads)
    return d_loss, g_loss


def _step_keeping(keep):
    def step(G, D, opt_G, opt_D, x_real, z, saturating=False):
        d_loss, grads, _ = _d_grads(D, x_real, G(z), keep=keep)
        opt_D.step(D.params, grads)
        g_loss, grads, _ = _g_grads(G, D, z, saturating)
        opt_G.step(G.params, grads)
        return d_loss, g_loss

    return step


def _step_ignoring_saturating(G, D, opt_G, opt_D, x_real, z, saturating=False):
    return _right_step(G, D, opt_G, opt_D, x_real, z)


def _step_generator_descends_d_loss(G, D, opt_G, opt_D, x_real, z, saturating=False):
    d_loss, grads, _ = _d_grads(D, x_real, G(z))
    opt_D.step(D.params, grads)

    def d_loss_on_fakes(fake_logits, saturating):
        real_logits = D(x_real)
        _, _, d_fake = _right_d(real_logits, fake_logits)
        return _right_d(real_logits, fake_logits)[0], d_fake

    g_loss, grads, _ = _g_grads(G, D, z, saturating, loss=d_loss_on_fakes)
    opt_G.step(G.params, grads)
    return d_loss, g_loss


STEP_DETACH_HINT = (
    "the generator was updated more than once: the discriminator's step must not update the generator. "
    "There the fakes are constants (what fake.detach() does in PyTorch): compute D's gradients only, and "
    "let G change only in its own step, by its own loss"
)
STEP_D_IN_G_HINT = (
    "your generator step also updated the discriminator. The generator's gradient flows back through D to "
    "reach G's output, but the gradients of D's own parameters from the generator's loss are thrown away: "
    "only opt_G steps in the generator step"
)
STEP_ORDER_HINT = (
    "the updates alternate in a fixed order: first the discriminator (on fakes from the current G), then "
    "the generator, through the discriminator just updated"
)
STEP_ONE_BATCH_HINT = (
    "the discriminator's loss has a real part and a fake part, so each parameter's gradient is the sum of "
    "the gradients from the two backward passes; you kept only one of them"
)

TRAIN_STEP_VARIANTS = {
    "updates_g_in_d_step": (STEP_DETACH_HINT, _step_updates_g_in_d_step),
    "updates_d_in_g_step": (STEP_D_IN_G_HINT, _step_updates_d_in_g_step),
    "generator_first": (STEP_ORDER_HINT, _step_generator_first),
    "stale_discriminator": (
        "the generator's gradient went through the discriminator as it was before its update (D's output "
        "or cache from the discriminator step). Run the fakes through the updated discriminator again and "
        "backpropagate through that", _step_stale_discriminator),
    "only_fake_part": (STEP_ONE_BATCH_HINT, _step_keeping("fake")),
    "only_real_part": (STEP_ONE_BATCH_HINT, _step_keeping("real")),
    "ignores_saturating": (
        "with saturating=True the step must use the saturating generator loss: pass the flag on to "
        "generator_loss", _step_ignoring_saturating),
    "generator_descends_d_loss": (
        "the generator step must descend the generator's loss: you used the discriminator's gradient on the "
        "fakes, which makes them easier to spot, not harder", _step_generator_descends_d_loss),
}
# name -> (hint, wrong learner-style step); the Mistakes run each wrong step through the harness.
TRAIN_STEP_MISTAKES = [Mistake(hint, _run_wrong_step(step)) for hint, step in TRAIN_STEP_VARIANTS.values()]


@dataclass
class StepCase:
    text: str
    g_params: dict
    d_params: dict
    batches: list
    lr_g: float
    lr_d: float
    saturating: bool

    def args(self):
        return (self.g_params, self.d_params, self.batches, self.lr_g, self.lr_d, self.saturating)


def _random_params(sizes, rng):
    params = MLP.init(sizes, rng).params
    return {k: (v if k.startswith("w") else rng.normal(size=v.shape) * 0.1) for k, v in params.items()}


def _step_cases(seed=0):
    rng = np.random.default_rng(seed)
    specs = [
        ("G 2 -> 8 -> 2 and D 2 -> 8 -> 1, 6 real points and 6 noise vectors, 1 step", 2, [8], [8], 6, 6, 1, False),
        ("the same networks, 3 steps (Adam's state carries over)", 2, [8], [8], 6, 6, 3, False),
        ("z of dimension 3, two hidden layers in each network, 4 real points and 7 noise vectors, 2 steps",
         3, [6, 5], [7, 4], 4, 7, 2, False),
        ("saturating=True (the minimax generator loss), 2 steps", 2, [8], [8], 5, 5, 2, True),
    ]
    for _ in range(2):
        z_dim, hidden_g, hidden_d, n_real, n_fake = (int(v) for v in rng.integers(1, 9, size=5))
        specs.append((f"random: z of dimension {z_dim}, {hidden_g} hidden units in G and {hidden_d} in D, "
                      f"{n_real} real points and {n_fake} noise vectors, 2 steps",
                      z_dim, [hidden_g], [hidden_d], n_real, n_fake, 2, False))
    for text, z_dim, hidden_g, hidden_d, n_real, n_fake, steps, saturating in specs:
        g_params = _random_params([z_dim, *hidden_g, 2], rng)
        d_params = _random_params([2, *hidden_d, 1], rng)
        batches = [(rng.normal(size=(n_real, 2)) * 2, rng.normal(size=(n_fake, z_dim))) for _ in range(steps)]
        yield StepCase(text, g_params, d_params, batches, lr_g=0.02, lr_d=0.01, saturating=saturating)


def _torch_mlp(params, x):
    n = len(params) // 2
    for i in range(n):
        x = F.linear(x, params[2 * i], params[2 * i + 1])
        if i < n - 1:
            x = F.leaky_relu(x, LEAKY_SLOPE)
    return x


def _torch_train_steps(*arrays, n_g, n_d, lr_g, lr_d, saturating):
    """The reference: alternating Adam steps in torch, flattened in the order of _flat_names."""
    import torch

    g = [a.detach().clone().requires_grad_(True) for a in arrays[:n_g]]
    d = [a.detach().clone().requires_grad_(True) for a in arrays[n_g:n_g + n_d]]
    data = arrays[n_g + n_d:]
    opt_g = torch.optim.Adam(g, lr=lr_g, betas=BETAS, eps=EPS)
    opt_d = torch.optim.Adam(d, lr=lr_d, betas=BETAS, eps=EPS)
    out = []
    for x_real, z in zip(data[0::2], data[1::2]):
        opt_d.zero_grad()
        fake = _torch_mlp(g, z).detach()
        real_logits, fake_logits = _torch_mlp(d, x_real), _torch_mlp(d, fake)
        d_loss = _torch_d_loss(real_logits, fake_logits)
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad()
        g_loss = _torch_g_loss(_torch_mlp(d, _torch_mlp(g, z)), saturating)
        g_loss.backward()
        opt_g.step()
        out += [d_loss.detach().clone(), *(p.detach().clone() for p in d),
                g_loss.detach().clone(), *(p.detach().clone() for p in g)]
    return torch.cat([t.reshape(-1) for t in out])  # one array; _split cuts it into the pieces


def _split(flat, case):
    """The pieces of the reference's one flat array, shaped like the harness's report (_flatten)."""
    shapes = []
    for _ in case.batches:
        shapes += [(), *(v.shape for v in case.d_params.values()), (), *(v.shape for v in case.g_params.values())]
    pieces, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        pieces.append(flat[start:start + size].reshape(shape))
        start += size
    return pieces


def _diagnose_log(c, log, step, case):
    """Fail with a clear message unless the step made exactly one D update, then one G update."""
    if log == [D_STEP, G_STEP]:
        return
    made = ", ".join(log) if log else "no optimizer step at all"
    message = (f"on case {case}, training step {step} made these updates, in order: {made}. One training "
               f"step is {D_STEP}, then {G_STEP}")
    if any("another dict" in entry or entry not in (D_STEP, G_STEP) for entry in log):
        c.fail(message, hint="each network has its own optimizer: opt_D updates D.params and opt_G updates "
                             "G.params, in place")
    if log.count(G_STEP) > 1:
        c.fail(message, hint=STEP_DETACH_HINT)
    if log.count(D_STEP) > 1:
        c.fail(message, hint=STEP_D_IN_G_HINT)
    if log == [G_STEP, D_STEP]:
        c.fail(message, hint=STEP_ORDER_HINT)
    c.fail(message, hint="update each network once per training step with its own optimizer's step, "
                         "given that network's params dict and gradients: the check compares with Adam")


@exercise("gan.train_step", points=2, compared="torch.optim.Adam on the same networks",
          uses=("course_utils.layers",))
def check_train_step(c, train_step, seed=0):
    """train_step(G, D, opt_G, opt_D, x_real, z, saturating=False): one D update, then one G update."""
    suspects = _Suspects(TRAIN_STEP_MISTAKES)
    for case in _step_cases(seed):
        record = c.call(train_step, *case.args(), case=case.text, via=_train_step_harness)
        for t, returned in enumerate(record["returned"], start=1):
            if not (isinstance(returned, (tuple, list)) and len(returned) == 2):
                c.fail(f"on case {case.text}, step {t} returned {type(returned).__name__}; train_step should "
                       "return the pair (d_loss, g_loss)",
                       hint="give back both losses as a pair, the discriminator's first")
        for t, log in enumerate(record["log"], start=1):
            _diagnose_log(c, log, t, case.text)
        arrays = [*case.g_params.values(), *case.d_params.values()]
        arrays += [a for batch in case.batches for a in batch]
        flat, _ = c.reference(_torch_train_steps, *arrays, n_g=len(case.g_params), n_d=len(case.d_params),
                              lr_g=case.lr_g, lr_d=case.lr_d, saturating=case.saturating)
        names = _flat_names(len(case.g_params) // 2, len(case.d_params) // 2, len(case.batches))
        suspects.new_case(case.args())
        for i, (name, actual, want) in enumerate(zip(names, _flatten(record), _split(flat, case))):
            suspects.expect_close(c, actual, want, case=case.text, name=name, pick=i)


MISTAKES = {
    "discriminator_loss": DISCRIMINATOR_LOSS_MISTAKES,
    "generator_loss": GENERATOR_LOSS_MISTAKES,
    "train_step": TRAIN_STEP_MISTAKES,
}
