"""Checks for 04_optimizers: SGD, SGD with momentum (and Nesterov), Adam, AdamW and mini-batches.

Every optimizer exercise is a pure step function with explicit state, one convention for all:

    new_param, new_state = step(param, grad, state, lr, ...)

`state` is a dict ({} before the first step); the step returns a new dict and changes none of its
arguments. A check runs the learner's step and the matching torch.optim optimizer (on the course
device, float64) on the same starting parameter and the same sequence of gradients, and compares
the parameter after every step. A wrong trajectory is explained, where possible, by a known wrong
variant (a Mistake) that reproduces the learner's whole run on the case where it first goes wrong,
and agrees with every step the learner got right before (course_utils.hints.Suspects).

The learner's step is reached only through `c.call`: one call per step, and, when a step goes wrong,
one call of the harness `_continue_run`, which finishes the learner's run beside the learner's code so
that the hint can be chosen from the whole run.
"""

import copy
import warnings
from dataclasses import dataclass, field

import numpy as np

from course_utils.checking import Mistake, exercise
from course_utils.hints import Suspects, same_output
from course_utils.compare import find_mismatch

# ------------------------------------------------------------------------------------------
# Trajectories: a case, the torch reference, the learner's run
# ------------------------------------------------------------------------------------------


@dataclass
class Run:
    """One case: a starting parameter, a gradient and a learning rate per step, other hyper-parameters."""

    case: str
    param: np.ndarray
    grads: list
    lrs: list
    hyper: dict = field(default_factory=dict)

    @property
    def steps(self):
        return len(self.grads)


def run_steps(step, run):
    """Apply a NumPy step function along `run`; return the parameters after each step (a list)."""
    param, state, out = run.param, {}, []
    for grad, lr in zip(run.grads, run.lrs):
        param, state = step(param, grad, state, lr=lr, **run.hyper)
        out.append(param)
    return out


def torch_trajectory(optimizer, run, dev=None):
    """The parameters after each step of torch.optim.<optimizer> fed run's gradients (float64, course device).

    The learning rate of step t is set in the param group before that step, as a scheduler does.
    """
    import torch

    from course_utils.torch_ref import exact_float_mode, to_numpy, to_torch

    with exact_float_mode():
        param = to_torch(run.param, dev=dev, requires_grad=True)
        opt = getattr(torch.optim, optimizer)([param], lr=run.lrs[0], **run.hyper)
        out = []
        for grad, lr in zip(run.grads, run.lrs):
            for group in opt.param_groups:
                group["lr"] = lr
            param.grad = to_torch(grad, dev=param.device)
            opt.step()
            out.append(to_numpy(param).copy())
    return out


class WrongStep:
    """A known wrong step function, seen by the check as 'the parameter after step t of a run'."""

    def __init__(self, step):
        self.step = step
        self.__name__ = step.__name__

    def __call__(self, run, t):
        return run_steps(self.step, run)[t]


def _snapshot(state):
    """A deep copy of the state handed to the learner, to notice in-place edits (None if it cannot be copied)."""
    try:
        return copy.deepcopy(state)
    except Exception:
        return None


def _same_state(before, after):
    if before is None:  # nothing to compare with
        return True
    if not (isinstance(before, dict) and isinstance(after, dict)) or before.keys() != after.keys():
        return False
    return all(_equal(before[key], after[key]) for key in before)


def _equal(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
                and np.array_equal(a, b, equal_nan=np.issubdtype(a.dtype, np.inexact)))
    try:
        return bool(a == b) or bool(np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True))
    except Exception:  # values this cannot compare are taken as unchanged
        return True


def _fmt(value):
    return f"{value:g}" if isinstance(value, float) else repr(value)


def _describe(shape, hyper, lrs, what=""):
    lr = f"lr={_fmt(lrs[0])}" if len(set(lrs)) == 1 else "lr=" + "→".join(_fmt(v) for v in dict.fromkeys(lrs))
    parts = [f"param of shape {shape}", f"{len(lrs)} steps", lr] + [f"{k}={_fmt(v)}" for k, v in hyper.items()]
    return (what + ", " if what else "") + ", ".join(parts)


_PAIR_HINT = "a step returns two things, the new parameter and the new state (a dict), as a pair"
_IN_PLACE_STATE_HINT = ("build new arrays and put them in a new dict; the caller's state must stay as it was, "
                        "so that a run can be replayed or restarted")


def _fallback_hint(mismatch, t, run):
    """What to say when no known mistake explains a wrong parameter: the facts the check has established."""
    if mismatch.kind == "shape":
        return "the new parameter has the shape of param: an optimizer step is elementwise"
    if mismatch.kind == "dtype":
        return "keep float64 throughout: no casts, and no integer arithmetic on the parameter"
    if mismatch.kind == "nonfinite":
        return ("a NaN or inf appeared where torch's parameter is finite: look for a division by something that "
                "can be 0, or an infinite value multiplied by 0")
    if t == 0:
        return ("the very first step already differs from torch's: compare your update, term by term, with the "
                "lesson's formula (learning rate, weight decay, hyper-parameters)")
    return (f"your first {t} step{'s' if t > 1 else ''} of this case matched torch's, so one step's arithmetic is "
            "right on its own; what goes wrong is what carries over from one step to the next: the state you "
            "return, and how the next step reads it")


def check_trajectory(c, step, run, optimizer, suspects, state_hint):
    """Run the learner's step along `run` and compare every parameter with torch.optim.<optimizer>.

    `suspects` (a Suspects over the check's mistakes) is shared by the runs of one check: every step the
    learner gets right rules out the mistakes that would have got it wrong.
    """
    expected = torch_trajectory(optimizer, run)
    name = getattr(step, "__name__", "step")
    param, state, trajectory = run.param, {}, []
    for t, (grad, lr) in enumerate(zip(run.grads, run.lrs)):
        case = f"{run.case}; step {t + 1} of {run.steps}"  # for messages about this call
        before = _snapshot(state)
        out = c.call(step, param, grad, state, lr=lr, case=case, **run.hyper)
        if not (isinstance(out, tuple) and len(out) == 2):
            what = f"a tuple of {len(out)} values" if isinstance(out, tuple) else f"a {type(out).__name__}"
            c.fail(f"on case {case}, your `{name}` returned {what}; return the pair (new_param, new_state)",
                   hint=_PAIR_HINT)
        new_param, new_state = out
        if not isinstance(new_state, dict):
            c.fail(f"on case {case}, the new_state your `{name}` returned is a {type(new_state).__name__}, not a dict",
                   hint=state_hint)
        if not _same_state(before, state):  # only visible when the learner's code runs in this process
            c.fail(f"on case {case}, your `{name}` changed the `state` dict it was given (in place)",
                   hint=_IN_PLACE_STATE_HINT)
        name_t = f"the parameter after step {t + 1} of {run.steps}"
        mismatch = find_mismatch(new_param, expected[t], name=name_t)
        if mismatch is None:
            with np.errstate(invalid="ignore"):  # inf - inf where a parameter is (rightly) infinite
                c.expect_close(new_param, expected[t], case=run.case, name=name_t, mistakes=suspects.alive,
                               mistake_args=(run, t))
            suspects.cleared(expected[t], (run, t))
        else:
            # Several wrong variants can agree on one step (Adam's L2 and no decay at all do, on step 1):
            # keep those that reproduce the learner's whole run, as far as it goes.
            rest = c.call(step, new_param, new_state, run.grads[t + 1:], run.lrs[t + 1:], run.hyper,
                          case=case, via=_continue_run)
            learner_run = trajectory + [new_param] + list(rest if isinstance(rest, list) else [])
            hint = ""
            for mistake in suspects:
                if _reproduces(mistake, run, learner_run):
                    hint = mistake.hint
                    break
            if mismatch.max_abs is not None:
                c.max_error = mismatch.max_abs
            c.fail(f"on case {run.case}, {mismatch}", hint=hint or _fallback_hint(mismatch, t, run))
        trajectory.append(new_param)
        param, state = new_param, new_state


def _continue_run(step, param, state, grads, lrs, hyper):
    """Harness (runs beside the learner's code): the learner's parameters after the remaining steps.

    Used only to choose a hint, so it stops quietly at the first step that raises or returns
    something unusable, and ignores NumPy warnings.
    """
    out = []
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for grad, lr in zip(grads, lrs):
            try:
                param, state = step(np.copy(param), np.copy(grad), copy.deepcopy(state), lr=lr, **hyper)
                param = np.array(param, dtype=np.float64)
            except Exception:
                break
            if not isinstance(state, dict):
                break
            out.append(param)
    return out


def _reproduces(mistake, run, learner_run):
    wrong_step = getattr(mistake.fn, "step", None)
    if wrong_step is None:
        return True
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            wrong = run_steps(wrong_step, run)
        return all(same_output(a, w) for a, w in zip(learner_run, wrong))
    except Exception:
        return False


def _gradients(rng, shape, steps, scale=1.0, drift=0.5):
    """A gradient sequence with a persistent direction plus noise, so momentum and Adam's moments matter."""
    base = rng.normal(size=shape) * drift
    return [(base + rng.normal(size=shape)) * scale for _ in range(steps)]


_INFINITE = "a parameter that is already infinite (+inf and -inf entries)"


def _make_runs(specs, seed):
    """specs: (shape, steps, lrs or lr, hyper, what, gradient scale, zero fraction).

    A case whose `what` is _INFINITE starts from a parameter with +inf and -inf entries."""
    rng = np.random.default_rng(seed)
    runs = []
    for shape, steps, lr, hyper, what, scale, zeros in specs:
        lrs = list(lr) if isinstance(lr, (list, tuple)) else [lr] * steps
        grads = _gradients(rng, shape, steps, scale)
        if zeros:
            mask = rng.random(shape) < zeros
            mask.flat[0] = True
            grads = [np.where(mask, 0.0, g) for g in grads]
        param = rng.normal(size=shape)
        if what == _INFINITE:
            param.flat[0], param.flat[-1] = np.inf, -np.inf
        runs.append(Run(_describe(shape, hyper, lrs, what), param, grads, lrs, hyper))
    return runs


def _decayed(param, grad, weight_decay):
    """grad + weight_decay * param, skipped when weight_decay is 0 (as torch does: 0 * inf would be NaN)."""
    return grad + weight_decay * param if weight_decay else grad


_ALWAYS_DECAY = ("0 times inf is NaN: you added the weight-decay term even with weight_decay 0, so an infinite "
                 "parameter became NaN. torch leaves the term out altogether when weight_decay is 0, and the "
                 "infinite parameter stays infinite")


# ------------------------------------------------------------------------------------------
# Plain SGD
# ------------------------------------------------------------------------------------------


def _sgd_ascent(param, grad, state, lr, weight_decay=0.0):
    return param + lr * _decayed(param, grad, weight_decay), state


def _sgd_decay_sign(param, grad, state, lr, weight_decay=0.0):
    return param - lr * (grad - weight_decay * param if weight_decay else grad), state


def _sgd_decay_unscaled(param, grad, state, lr, weight_decay=0.0):
    return param - lr * grad - (weight_decay * param if weight_decay else 0.0), state


def _sgd_no_decay(param, grad, state, lr, weight_decay=0.0):
    return param - lr * grad, state


def _sgd_always_decay(param, grad, state, lr, weight_decay=0.0):
    return param - lr * (grad + weight_decay * param), state


SGD_MISTAKES = [
    Mistake("you stepped up the gradient (gradient ascent): a descent step moves the parameter against the "
            "gradient", WrongStep(_sgd_ascent)),
    Mistake("weight decay is the gradient of the L2 penalty (weight_decay/2)·|param|², which pulls the weights "
            "towards 0: its term has the same sign as the parameter, and you subtracted it",
            WrongStep(_sgd_decay_sign)),
    Mistake("your weight-decay term is not scaled by the learning rate: torch adds it to the gradient, and the "
            "learning rate then scales the whole sum", WrongStep(_sgd_decay_unscaled)),
    Mistake("you ignored weight_decay: torch adds the gradient of the L2 penalty to the loss gradient before "
            "the step", WrongStep(_sgd_no_decay)),
    Mistake(_ALWAYS_DECAY, WrongStep(_sgd_always_decay)),
]


def sgd_runs(seed=0):
    specs = [
        ((1,), 4, 0.1, {}, "scalar-like", 1.0, 0),
        ((5,), 5, 0.05, {"weight_decay": 0.1}, "", 1.0, 0),
        ((3, 4), 5, 0.3, {"weight_decay": 0.01}, "matrix", 1.0, 0),
        ((2, 3, 2), 6, [0.1, 0.1, 0.1, 0.03, 0.03, 0.01], {"weight_decay": 0.5}, "a learning-rate schedule", 2.0, 0),
        ((3,), 3, 0.1, {}, _INFINITE, 1.0, 0),
    ]
    return _make_runs(specs, seed)


@exercise("optimizers.sgd_step", points=1, compared="torch.optim.SGD step for step")
def check_sgd_step(c, sgd_step, seed=0):
    """sgd_step(param, grad, state, lr, weight_decay=0.0) -> (new_param, new_state), as torch.optim.SGD."""
    suspects = Suspects(SGD_MISTAKES)
    for run in sgd_runs(seed):
        check_trajectory(c, sgd_step, run, "SGD", suspects,
                         state_hint="plain SGD keeps no state: hand back the state dict you were given")


# ------------------------------------------------------------------------------------------
# SGD with momentum and Nesterov
# ------------------------------------------------------------------------------------------


def _momentum_reference(param, grad, state, lr, momentum, nesterov=False, weight_decay=0.0):
    d_p = _decayed(param, grad, weight_decay)
    buf = momentum * state["momentum_buffer"] + d_p if "momentum_buffer" in state else d_p
    update = d_p + momentum * buf if nesterov else buf
    return param - lr * update, {"momentum_buffer": buf}


def _momentum_ema(param, grad, state, lr, momentum, nesterov=False, weight_decay=0.0):
    d_p = _decayed(param, grad, weight_decay)
    buf = momentum * state.get("v", 0.0) + (1 - momentum) * d_p
    update = d_p + momentum * buf if nesterov else buf
    return param - lr * update, {"v": buf}


def _momentum_nesterov_ignored(param, grad, state, lr, momentum, nesterov=False, weight_decay=0.0):
    return _momentum_reference(param, grad, state, lr, momentum, False, weight_decay)


def _momentum_nesterov_old_buffer(param, grad, state, lr, momentum, nesterov=False, weight_decay=0.0):
    # Nesterov's look-ahead taken along the buffer from *before* this step (the first step has none yet,
    # so it uses this gradient): the later steps are then plain momentum steps.
    d_p = _decayed(param, grad, weight_decay)
    old = state.get("momentum_buffer", d_p)
    buf = momentum * state["momentum_buffer"] + d_p if "momentum_buffer" in state else d_p
    update = d_p + momentum * old if nesterov else buf
    return param - lr * update, {"momentum_buffer": buf}


def _momentum_forgot_state(param, grad, state, lr, momentum, nesterov=False, weight_decay=0.0):
    return _momentum_reference(param, grad, {}, lr, momentum, nesterov, weight_decay)


def _momentum_sutskever(param, grad, state, lr, momentum, nesterov=False, weight_decay=0.0):
    # v = mu v - lr g; p += v (or p += mu v - lr g for Nesterov): lr lives inside the buffer
    d_p = _decayed(param, grad, weight_decay)
    v = momentum * state.get("v", 0.0) - lr * d_p
    return param + (momentum * v - lr * d_p if nesterov else v), {"v": v}


def _momentum_decay_outside(param, grad, state, lr, momentum, nesterov=False, weight_decay=0.0):
    new_param, new_state = _momentum_reference(param, grad, state, lr, momentum, nesterov, 0.0)
    return new_param - (lr * weight_decay * param if weight_decay else 0.0), new_state


def _momentum_nesterov_lookahead_only(param, grad, state, lr, momentum, nesterov=False, weight_decay=0.0):
    # Nesterov as "step by mu * buf": forgets the gradient term
    d_p = _decayed(param, grad, weight_decay)
    buf = momentum * state["momentum_buffer"] + d_p if "momentum_buffer" in state else d_p
    update = momentum * buf if nesterov else buf
    return param - lr * update, {"momentum_buffer": buf}


def _momentum_always_decay(param, grad, state, lr, momentum, nesterov=False, weight_decay=0.0):
    d_p = grad + weight_decay * param
    buf = momentum * state["momentum_buffer"] + d_p if "momentum_buffer" in state else d_p
    update = d_p + momentum * buf if nesterov else buf
    return param - lr * update, {"momentum_buffer": buf}


MOMENTUM_MISTAKES = [
    Mistake("this is the 'EMA' momentum of some textbooks, which mixes 1 − momentum of the gradient into the "
            "buffer. PyTorch (dampening 0) adds the whole gradient to momentum times the buffer, so its steps "
            "are 1/(1 − momentum) times larger at the same lr", WrongStep(_momentum_ema)),
    Mistake("with nesterov on, your steps are plain momentum steps. Nesterov steps along this step's "
            "gradient plus momentum times the buffer *after* this step's update; with the buffer from before "
            "the update, gradient plus momentum times the old buffer is just the new buffer again",
            WrongStep(_momentum_nesterov_ignored)),
    Mistake("your Nesterov step used the buffer from before this step's update (from step 2 on, that makes it "
            "a plain momentum step). Update the buffer first, then look ahead along the updated buffer",
            WrongStep(_momentum_nesterov_old_buffer)),
    Mistake("your Nesterov step leaves out the gradient: it moves along momentum times the buffer only, where "
            "torch moves along this step's gradient plus that", WrongStep(_momentum_nesterov_lookahead_only)),
    Mistake("your step did not carry its state: every call started from an empty buffer, which is plain SGD. "
            "Read the momentum buffer from the state when it is there, and hand the updated one back in the "
            "new state", WrongStep(_momentum_forgot_state)),
    Mistake("this is Sutskever's form, whose buffer holds steps already multiplied by lr. It equals PyTorch's "
            "only while lr is constant: when lr changes, the old velocity keeps the old lr. PyTorch keeps lr "
            "out of the buffer and multiplies by it when stepping", WrongStep(_momentum_sutskever)),
    Mistake("you added the weight decay outside the momentum buffer: PyTorch adds the decay term to the "
            "gradient first, and that sum goes into the buffer", WrongStep(_momentum_decay_outside)),
    Mistake(_ALWAYS_DECAY, WrongStep(_momentum_always_decay)),
]


def momentum_runs(seed=0):
    specs = [
        ((1,), 6, 0.1, {"momentum": 0.9}, "scalar-like", 1.0, 0),
        ((5,), 6, 0.05, {"momentum": 0.5}, "", 1.0, 0),
        ((3, 4), 6, 0.02, {"momentum": 0.9, "nesterov": True}, "matrix, Nesterov", 1.0, 0),
        ((6,), 6, 0.05, {"momentum": 0.9, "weight_decay": 0.1}, "", 1.0, 0),
        ((2, 3), 6, 0.05, {"momentum": 0.8, "nesterov": True, "weight_decay": 0.05}, "Nesterov", 1.0, 0),
        ((4,), 7, [0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.01], {"momentum": 0.9}, "a learning-rate schedule", 1.0, 0),
        ((3, 2), 5, 0.1, {"momentum": 0.0}, "momentum 0 (plain SGD)", 1.0, 0),
        ((4,), 4, 0.1, {"momentum": 0.9, "nesterov": True}, _INFINITE, 1.0, 0),
    ]
    return _make_runs(specs, seed)


@exercise("optimizers.sgd_momentum_step", points=2, compared="torch.optim.SGD(momentum=...) step for step")
def check_sgd_momentum_step(c, sgd_momentum_step, seed=0):
    """sgd_momentum_step(param, grad, state, lr, momentum, nesterov=False, weight_decay=0.0) -> (new_param, new_state)."""
    suspects = Suspects(MOMENTUM_MISTAKES)
    for run in momentum_runs(seed):
        check_trajectory(c, sgd_momentum_step, run, "SGD", suspects,
                         state_hint="the new state is a dict that holds the momentum buffer under the key "
                                    "'momentum_buffer', as torch.optim names it")


# ------------------------------------------------------------------------------------------
# Adam and AdamW
# ------------------------------------------------------------------------------------------


def _adam(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, *,
          l2=True, decoupled=False, correct_m=True, correct_v=True, step_offset=0, eps_inside=False,
          carry=True, swap_betas=False, decay_after=False, decay_scale_lr=True, store_corrected=False,
          correct_sqrt=False, always_decay=False, zero_l2=False):
    """Adam with switches that produce its common wrong variants (all switches off: torch.optim.Adam)."""
    beta1, beta2 = (betas[1], betas[0]) if swap_betas else betas
    state = state if carry else {}
    t = state.get("step", 0) + 1
    if l2:
        d_p = grad + weight_decay * param if always_decay else _decayed(param, grad, weight_decay)
    elif zero_l2:  # an L2 term of weight 0 added anyway (as AdamW calling an Adam step that never skips it)
        d_p = grad + 0.0 * param
    else:
        d_p = grad
    decay = (lr if decay_scale_lr else 1.0) * weight_decay
    if decoupled and not decay_after:
        param = param * (1 - decay)
    m = beta1 * state.get("exp_avg", 0.0) + (1 - beta1) * d_p
    v = beta2 * state.get("exp_avg_sq", 0.0) + (1 - beta2) * d_p * d_p
    tc = t + step_offset
    m_hat = m / (1 - beta1 ** tc) if correct_m else m
    v_hat = v / (1 - beta2 ** tc) if correct_v and not correct_sqrt else v
    root = np.sqrt(v_hat) / (1 - beta2 ** tc) if correct_sqrt else np.sqrt(v_hat)
    denom = np.sqrt(v_hat + eps) if eps_inside else root + eps
    new_param = param - lr * m_hat / denom
    if decoupled and decay_after:
        new_param = new_param * (1 - decay)
    if store_corrected:
        return new_param, {"step": t, "exp_avg": m_hat, "exp_avg_sq": v_hat}
    return new_param, {"step": t, "exp_avg": m, "exp_avg_sq": v}


def _variant(name, **switches):
    def step(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        return _adam(param, grad, state, lr, betas, eps, weight_decay, **switches)

    step.__name__ = name
    return WrongStep(step)


_NO_CORRECTION = ("you left out the bias correction. m and v start at zero, so early on they are biased towards "
                  "zero; dividing each by one minus its beta to the power t (t counts the steps so far, this one "
                  "included) removes that bias")
_STEP_FROM_ZERO = ("your bias correction counted the first step as step 0, where one minus beta to the power 0 is "
                   "0 and the correction divides by zero. The step count includes the step being taken: the "
                   "first step is step 1")
_STEP_TOO_LATE = ("your bias correction counted each step twice (one ahead): the step count includes the step "
                  "being taken, and the first step is step 1, not 2")
_EPS_INSIDE = ("eps goes outside the square root: it is added to the root of the corrected v, not to v itself "
               "(the two differ where v is tiny)")
_FORGOT_STATE = ("your step did not carry its state: every call started again from zero moments and step 1. "
                 "Read the step count and both moments from the state you are given, and hand the updated ones "
                 "back in the new state")
_SWAPPED_BETAS = ("betas is the pair (beta1, beta2): beta1 (0.9) averages the gradient, beta2 (0.999) averages "
                  "its square; you used them the other way round")
_ONLY_V = ("you corrected v but not m: m starts at zero too, and without its correction the early steps are too "
           "small")
_ONLY_M = ("you corrected m but not v: v starts at zero too, and without its correction the early steps are far "
           "too large")
_STORED_CORRECTED = ("your state holds the bias-corrected moments. The state must carry the raw moving averages "
                     "m and v: the correction is for this step's update only, and corrected values fed back into "
                     "the averages get corrected again at every later step")
_CORRECT_SQRT = ("you divided the square root of v by v's bias correction. The correction belongs to v itself, "
                 "under the square root, so the root sees only its square root")

ADAM_MISTAKES = [
    Mistake(_NO_CORRECTION, _variant("adam_no_bias_correction", correct_m=False, correct_v=False)),
    Mistake(_ONLY_V, _variant("adam_only_v_corrected", correct_m=False)),
    Mistake(_ONLY_M, _variant("adam_only_m_corrected", correct_v=False)),
    Mistake(_STEP_FROM_ZERO, _variant("adam_step_from_zero", step_offset=-1)),
    Mistake(_STEP_TOO_LATE, _variant("adam_step_counted_twice", step_offset=1)),
    Mistake(_EPS_INSIDE, _variant("adam_eps_inside_sqrt", eps_inside=True)),
    Mistake(_CORRECT_SQRT, _variant("adam_corrected_outside_sqrt", correct_sqrt=True)),
    Mistake(_STORED_CORRECTED, _variant("adam_stores_corrected_moments", store_corrected=True)),
    Mistake("your weight decay is decoupled (the weights shrink directly): that is AdamW. torch.optim.Adam "
            "adds the L2 term to the gradient, before the moments",
            _variant("adam_decoupled_decay", l2=False, decoupled=True)),
    Mistake("you ignored weight_decay: torch.optim.Adam adds the L2 term to the gradient before updating the "
            "moments", _variant("adam_no_decay", l2=False)),
    Mistake(_FORGOT_STATE, _variant("adam_forgot_state", carry=False)),
    Mistake(_SWAPPED_BETAS, _variant("adam_swapped_betas", swap_betas=True)),
    Mistake(_ALWAYS_DECAY, _variant("adam_always_decay", always_decay=True)),
]

ADAMW_MISTAKES = [
    Mistake("you applied the decay through the gradient: that is Adam's L2, which Adam's normalisation "
            "rescales. AdamW shrinks the weights directly, by a factor that depends on lr and weight_decay, and "
            "then takes an Adam step with the plain gradient", _variant("adamw_as_l2")),
    Mistake("you ignored weight_decay: AdamW first shrinks the weights in proportion to lr times weight_decay",
            _variant("adamw_no_decay", l2=False)),
    Mistake("you decayed after the Adam update; torch.optim.AdamW shrinks the weights first, then applies the "
            "Adam update", _variant("adamw_decay_after", l2=False, decoupled=True, decay_after=True)),
    Mistake("your decay is not scaled by lr: torch.optim.AdamW shrinks the weights by lr times weight_decay "
            "of their value per step", _variant("adamw_decay_unscaled", l2=False, decoupled=True,
                                                 decay_scale_lr=False)),
    Mistake("you applied both decays, L2 through the gradient and the decoupled shrink; AdamW uses only the "
            "decoupled one", _variant("adamw_both_decays", l2=True, decoupled=True)),
    Mistake(_NO_CORRECTION, _variant("adamw_no_bias_correction", l2=False, decoupled=True,
                                     correct_m=False, correct_v=False)),
    Mistake(_STEP_FROM_ZERO, _variant("adamw_step_from_zero", l2=False, decoupled=True, step_offset=-1)),
    Mistake(_EPS_INSIDE, _variant("adamw_eps_inside_sqrt", l2=False, decoupled=True, eps_inside=True)),
    Mistake(_STORED_CORRECTED, _variant("adamw_stores_corrected_moments", l2=False, decoupled=True,
                                        store_corrected=True)),
    Mistake(_FORGOT_STATE, _variant("adamw_forgot_state", l2=False, decoupled=True, carry=False)),
    Mistake("0 times inf is NaN: the Adam step inside your AdamW added the L2 term although its weight decay "
            "is 0, so an infinite parameter became NaN. torch leaves a zero-weight term out altogether",
            _variant("adamw_inner_always_decay", l2=False, zero_l2=True, decoupled=True)),
]

_ADAM_STATE_HINT = ("the new state is a dict with the step count and both moments, under torch.optim's names "
                    "'step', 'exp_avg' and 'exp_avg_sq'")


def adam_runs(seed=0, decoupled=False):
    wd = "weight_decay"
    default_wd = 0.01 if decoupled else 0.0
    specs = [
        ((1,), 5, 0.1, {}, "scalar-like", 1.0, 0),
        ((5,), 8, 0.05, {"betas": (0.9, 0.999)}, "", 1.0, 0),
        ((3, 4), 6, 0.01, {wd: 0.1}, "matrix", 1.0, 0),
        ((2, 3, 2), 6, 0.02, {"betas": (0.8, 0.99), "eps": 1e-6, wd: 0.2}, "", 3.0, 0),
        ((4,), 5, 0.01, {}, "tiny gradients (where eps matters)", 1e-6, 0),
        ((3,), 5, 0.05, {wd: 0.05}, "a gradient with exact zeros", 1.0, 0.4),
        ((6,), 6, [0.05, 0.05, 0.05, 0.01, 0.01, 0.005], {wd: 0.5}, "a learning-rate schedule", 1.0, 0),
        ((4,), 3, 0.05, {}, _INFINITE, 1.0, 0),
    ]
    if decoupled:  # AdamW's own default weight_decay=0.01 applies where a case names none
        specs = [(s, n, lr, {wd: default_wd, **h}, w, sc, z) for s, n, lr, h, w, sc, z in specs]
    return _make_runs(specs, seed + (1 if decoupled else 0))


@exercise("optimizers.adam_step", points=2, compared="torch.optim.Adam step for step")
def check_adam_step(c, adam_step, seed=0):
    """adam_step(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0) -> (new_param, new_state)."""
    suspects = Suspects(ADAM_MISTAKES)
    for run in adam_runs(seed):
        check_trajectory(c, adam_step, run, "Adam", suspects, state_hint=_ADAM_STATE_HINT)


@exercise("optimizers.adamw_step", points=1, compared="torch.optim.AdamW step for step")
def check_adamw_step(c, adamw_step, seed=0):
    """adamw_step(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2) -> (new_param, new_state)."""
    suspects = Suspects(ADAMW_MISTAKES)
    for run in adam_runs(seed, decoupled=True):
        check_trajectory(c, adamw_step, run, "AdamW", suspects, state_hint=_ADAM_STATE_HINT)


# ------------------------------------------------------------------------------------------
# Mini-batches
# ------------------------------------------------------------------------------------------

_NO_SHUFFLE = ("with shuffle on, the batches came out in the original order 0, 1, 2, ...: draw a new random "
               "order (a permutation of the n indices) every epoch, from the generator you are given")
_DROPPED_LAST = ("the last, smaller batch is missing: keep it unless drop_last is True "
                 "(torch's DataLoader keeps it by default), or every epoch skips the same n % batch_size samples")
_KEPT_LAST = "with drop_last True, leave out the last batch when it is smaller than batch_size"
_REPLACEMENT = ("some samples came twice in one epoch and others never: sample without replacement "
                "(a permutation), so that every sample is seen exactly once per epoch")
_RESEEDED = ("two epochs drawn from the same generator came out in the same order: you made a new generator "
             "(or re-seeded) inside the function. Draw from the `rng` you are given, so each epoch gets a new order")
_GLOBAL_RNG = ("two generators with the same seed gave different batches: you drew from NumPy's global np.random "
               "(or an unseeded generator). Use the `rng` argument, so a seed makes the run reproducible")
_EMPTY_BATCH = "your last batch is empty: stop cutting at n, so that no batch has zero samples"


def _mb_no_shuffle(n, batch_size, rng, shuffle=True, drop_last=False):
    order = np.arange(n)
    stop = n - n % batch_size if drop_last else n
    return [order[i:i + batch_size] for i in range(0, stop, batch_size)]


def _mb_drop_last_always(n, batch_size, rng, shuffle=True, drop_last=False):
    order = rng.permutation(n) if shuffle else np.arange(n)
    return [order[i:i + batch_size] for i in range(0, n - n % batch_size, batch_size)]


def _mb_keep_last_always(n, batch_size, rng, shuffle=True, drop_last=False):
    order = rng.permutation(n) if shuffle else np.arange(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def _mb_with_replacement(n, batch_size, rng, shuffle=True, drop_last=False):
    order = rng.integers(0, n, size=n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    return [order[i:i + batch_size] for i in range(0, stop, batch_size)]


def _mb_reseeded(n, batch_size, rng, shuffle=True, drop_last=False):
    fresh = np.random.default_rng(0)  # a new generator on every call: the same order every epoch
    order = fresh.permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    return [order[i:i + batch_size] for i in range(0, stop, batch_size)]


def _mb_global_rng(n, batch_size, rng, shuffle=True, drop_last=False):
    order = np.random.permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    return [order[i:i + batch_size] for i in range(0, stop, batch_size)]


def _mb_empty_batch(n, batch_size, rng, shuffle=True, drop_last=False):
    order = rng.permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n + 1  # one past n: an empty batch when batch_size divides n
    return [order[i:i + batch_size] for i in range(0, stop, batch_size)]


MINIBATCH_MISTAKES = [
    Mistake(_NO_SHUFFLE, _mb_no_shuffle),
    Mistake(_DROPPED_LAST, _mb_drop_last_always),
    Mistake(_KEPT_LAST, _mb_keep_last_always),
    Mistake(_REPLACEMENT, _mb_with_replacement),
    Mistake(_RESEEDED, _mb_reseeded),
    Mistake(_GLOBAL_RNG, _mb_global_rng),
    Mistake(_EMPTY_BATCH, _mb_empty_batch),
]


def _loader_batches(n, batch_size, shuffle, drop_last, seed=0):
    """torch's DataLoader over range(n): the batches as NumPy index arrays."""
    import torch
    from torch.utils.data import DataLoader

    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(range(n), batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, generator=generator)
    return [b.numpy() for b in loader]


def _listed_batches(minibatch_indices, n, batch_size, rng, **kwargs):
    """Harness (runs beside the learner's code): the learner's batches, with a generator listed.

    A learner may well write minibatch_indices with `yield`, and a loop over it works as a list does;
    only a list crosses to the check as plain data, so a generator (or any other lazy iterable that is
    not an array) is turned into the list of its batches here. Anything else comes back unchanged.
    """
    out = minibatch_indices(n, batch_size, rng, **kwargs)
    if out is None or isinstance(out, (list, tuple, dict, np.ndarray, np.generic, str, bytes, int, float)):
        return out
    if hasattr(out, "__iter__"):
        return list(out)
    return out


_LIST_HINT = "the function gives back a list with one 1-D array of indices per mini-batch"


def _as_batches(c, out, case, name):
    if out is None or isinstance(out, (np.ndarray, str, bytes, dict)) or not isinstance(out, (list, tuple)):
        what = "a NumPy array" if isinstance(out, np.ndarray) else type(out).__name__
        c.fail(f"on case {case}, your `{name}` returned {what}; return a list of index arrays, one per mini-batch",
               hint=_LIST_HINT)
    batches = []
    for i, batch in enumerate(out):
        batch = np.asarray(batch)
        if batch.ndim != 1:
            c.fail(f"on case {case}, batch {i} has shape {batch.shape}; each batch is a 1-D array of indices",
                   hint=_LIST_HINT)
        if batch.size and not np.issubdtype(batch.dtype, np.integer):
            c.fail(f"on case {case}, batch {i} has dtype {batch.dtype}; indices must be integers",
                   hint="indices select rows, so they are integers: keep the integer array a permutation or a "
                        "range gives, without dividing or casting to float")
        batches.append(batch)
    return batches


def _call_batches(c, fn, n, batch_size, rng, case, **kwargs):
    out = c.call(fn, n, batch_size, rng, case=case, via=_listed_batches, **kwargs)
    return _as_batches(c, out, case, getattr(fn, "__name__", "minibatch_indices"))


def _check_sizes(c, batches, expected, n, batch_size, drop_last, case):
    sizes, want = [len(b) for b in batches], [len(b) for b in expected]
    if sizes == want:
        c.expect(True, "", case=case)  # records the case as passed
        return
    if any(s == 0 for s in sizes):
        hint = _EMPTY_BATCH
    elif not drop_last and sizes == want[:-1] and n % batch_size:
        hint = _DROPPED_LAST
    elif drop_last and sizes[:-1] == want and sizes[-1] < batch_size:
        hint = _KEPT_LAST
    else:
        hint = ("cut the order into consecutive chunks of batch_size; only the last one may be smaller "
                "(and it is left out when drop_last is True)")
    c.fail(f"on case {case}, you returned {len(sizes)} batches of sizes {_short(sizes)}, which is not how torch's "
           f"DataLoader cuts {n} samples into batches of {batch_size}", hint=hint)


def _short(sizes):
    return str(sizes) if len(sizes) <= 8 else f"[{', '.join(map(str, sizes[:6]))}, ..., {sizes[-1]}]"


@exercise("optimizers.minibatch_indices", points=1, compared="torch's DataLoader")
def check_minibatch_indices(c, minibatch_indices, seed=0):
    """minibatch_indices(n, batch_size, rng, shuffle=True, drop_last=False) -> list of 1-D integer index arrays.

    A generator of batches is accepted too (it is listed beside the learner's code, see _listed_batches).
    """
    rng = np.random.default_rng(seed)
    # 1. shuffle=False: exactly DataLoader's batches, in order
    for n, batch_size, drop_last in [(10, 3, False), (12, 4, False), (5, 8, False), (1, 1, False),
                                     (10, 3, True), (5, 8, True)]:
        case = f"n={n}, batch_size={batch_size}, shuffle=False, drop_last={drop_last}"
        batches = _call_batches(c, minibatch_indices, n, batch_size, np.random.default_rng(seed), case,
                                shuffle=False, drop_last=drop_last)
        expected = _loader_batches(n, batch_size, False, drop_last)
        _check_sizes(c, batches, expected, n, batch_size, drop_last, case)
        for i, (mine, theirs) in enumerate(zip(batches, expected)):
            c.expect(np.array_equal(mine, theirs), f"batch {i} is not the next {len(theirs)} indices in order",
                     case=case, hint="with shuffle off, keep the order 0, 1, ..., n-1 and cut it into consecutive "
                                     "chunks")
    # 2. shuffle=True: DataLoader's batch sizes, each sample once per epoch, a shuffled order
    cases = [(50, 8, False), (48, 8, False), (37, 5, True), (int(rng.integers(20, 60)), int(rng.integers(2, 9)), False)]
    for n, batch_size, drop_last in cases:
        case = f"n={n}, batch_size={batch_size}, shuffle=True, drop_last={drop_last}"
        batches = _call_batches(c, minibatch_indices, n, batch_size, np.random.default_rng(seed), case,
                                shuffle=True, drop_last=drop_last)
        _check_sizes(c, batches, _loader_batches(n, batch_size, True, drop_last), n, batch_size, drop_last, case)
        seen = np.concatenate(batches) if batches else np.zeros(0, dtype=int)
        c.expect(seen.min() >= 0 and seen.max() < n, f"an index lies outside range({n})", case=case,
                 hint="indices run from 0 to n-1")
        c.expect(len(np.unique(seen)) == len(seen), "a sample appears more than once in one epoch", case=case,
                 hint=_REPLACEMENT)
        c.expect(not np.array_equal(seen, np.arange(len(seen))), "the samples came out in their original order",
                 case=case, hint=_NO_SHUFFLE)
    # 3. reproducible with a seed, and a new order every epoch
    n, batch_size = 40, 6
    case = f"n={n}, batch_size={batch_size}, shuffle=True, two generators with the same seed"
    saved = np.random.get_state()
    try:  # a learner drawing from the global generator gets another order the second time
        np.random.seed(seed + 1)
        first = _call_batches(c, minibatch_indices, n, batch_size, np.random.default_rng(seed + 7), case,
                              shuffle=True, drop_last=False)
        np.random.seed(seed + 2)
        again = _call_batches(c, minibatch_indices, n, batch_size, np.random.default_rng(seed + 7), case,
                              shuffle=True, drop_last=False)
    finally:
        np.random.set_state(saved)
    c.expect(len(first) == len(again) and all(np.array_equal(a, b) for a, b in zip(first, again)),
             "the same seed gave different batches", case=case, hint=_GLOBAL_RNG)
    case = f"n={n}, batch_size={batch_size}, shuffle=True, two epochs from one generator"
    epochs_rng = np.random.default_rng(seed + 11)
    epoch1 = _call_batches(c, minibatch_indices, n, batch_size, epochs_rng, case)
    epoch2 = _call_batches(c, minibatch_indices, n, batch_size, epochs_rng, case)
    c.expect(not np.array_equal(np.concatenate(epoch1), np.concatenate(epoch2)),
             "epoch 2 has exactly the order of epoch 1", case=case, hint=_RESEEDED)
