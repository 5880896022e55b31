"""Checks for 03_normalization: feature scaling, batch normalization and layer normalization.

The conventions the lesson fixes, and these checks hold the learner to:

* Feature scaling works per feature (column j of an (N, D) array), with statistics fitted on the
  training set only. `fit_standardizer(X_train)` returns `(mean, std)`, the mean and the *biased*
  standard deviation (divide by N, as sklearn's StandardScaler); `fit_minmax(X_train)` returns
  `(x_min, x_range)`. A training column whose values are all equal (max == min) gets std / range 1,
  so it maps to 0 instead of dividing by zero. `standardize(X, mean, std)` and
  `minmax_scale(X, x_min, x_range)` apply fitted statistics to any X (training or test), without
  clipping.
* Batch norm: `out, cache, new_running_mean, new_running_var = batchnorm_forward(x, gamma, beta,
  running_mean, running_var, training=True, momentum=0.1, eps=1e-5)` for x of shape (N, C) or
  (N, C, H, W) (in fact any (N, C, ...)): one statistic per channel (axis 1). The updated running
  statistics are returned as new arrays; the inputs are left untouched. Numbers follow
  torch.nn.functional.batch_norm exactly. Training mode normalizes with the batch's biased variance
  and updates running = (1 - momentum) * running + momentum * batch statistic, with the unbiased
  variance in running_var; eval mode normalizes with the running statistics and leaves them as they are.
  `dx, dgamma, dbeta = batchnorm_backward(dout, cache)`, in both modes.
* Layer norm: `out, cache = layernorm_forward(x, normalized_shape, gamma, beta, eps=1e-5)` normalizes
  over the trailing len(normalized_shape) axes, like torch.nn.functional.layer_norm;
  `dx, dgamma, dbeta = layernorm_backward(dout, cache)`.

The learner's functions are reached only through `c.call`. The backward checks call the learner's own
forward pass (for its cache), and the centred differences of that forward pass are taken beside the
learner's code by the harnesses `_fd_batchnorm` / `_fd_layernorm`, which hand back plain arrays. A known
mistake's hint is offered only while the mistake agrees with every comparison the learner has passed
(course_utils.hints.Suspects).
"""

import functools

import numpy as np
import torch
import torch.nn.functional as F

from course_utils.checking import Mistake, exercise
from course_utils.compare import find_mismatch
from course_utils.gradcheck import numerical_gradient
from course_utils.hints import Suspects

# ---------------------------------------------------------------------------------------------
# NumPy versions of the right answers and of the known wrong ones (to explain a wrong output)
# ---------------------------------------------------------------------------------------------


def _constant_columns(X):
    return X.max(axis=0) == X.min(axis=0)


def _fit_standardizer(X, *, axis=0, ddof=0, guard="ptp", variance=False, keepdims=False):
    mean = X.mean(axis=axis, keepdims=keepdims)
    reduce = X.var if variance else X.std
    spread = reduce(axis=axis, ddof=ddof, keepdims=keepdims)
    if axis is None:  # global statistics, one per column so that shapes match
        mean, spread = np.full(X.shape[1], mean), np.full(X.shape[1], spread)
    if guard == "ptp":
        constant = (X.max(axis=axis, keepdims=keepdims) == X.min(axis=axis, keepdims=keepdims))
        spread = np.where(constant, 1.0, spread)
    elif guard == "zero":
        spread = np.where(spread == 0, 1.0, spread)
    elif guard == "eps":
        spread = spread + 1e-8
    elif guard == "clip":
        spread = np.maximum(spread, 1e-8)
    return mean, spread


def _fit_minmax(X, *, axis=0, guard=True, return_max=False):
    x_min, x_max = X.min(axis=axis), X.max(axis=axis)
    if axis is None:
        x_min, x_max = np.full(X.shape[1], x_min), np.full(X.shape[1], x_max)
    if return_max:
        return x_min, x_max
    x_range = x_max - x_min
    return x_min, (np.where(x_range == 0, 1.0, x_range) if guard else x_range)


def _channel_axes(x):
    """Batch norm averages over every axis but the channel axis 1: N, and H, W for images."""
    return (0,) + tuple(range(2, x.ndim))


def _channel_shape(x):
    """A (C,) vector reshaped to broadcast against x: (1, C) or (1, C, 1, 1)."""
    return (1, -1) + (1,) * (x.ndim - 2)


def _batchnorm(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5, *,
               norm_ddof=0, run_ddof=1, swap_momentum=False, eval_batch_stats=False, eps_outside=False,
               stat_axes=None, update="training", swap_affine=False, keepdims_running=False,
               run_count=None, train_running_stats=False):
    shape, axes = _channel_shape(x), _channel_axes(x)
    if (training and not train_running_stats) or (eval_batch_stats and not training):
        over = axes if stat_axes is None else stat_axes(x)
        mean = x.mean(axis=over, keepdims=True)
        var = x.var(axis=over, ddof=norm_ddof, keepdims=True)
    else:
        mean, var = running_mean.reshape(shape), running_var.reshape(shape)
    xhat = (x - mean) / (np.sqrt(var) + eps if eps_outside else np.sqrt(var + eps))
    g, b = gamma.reshape(shape), beta.reshape(shape)
    out = b * xhat + g if swap_affine else g * xhat + b
    new_mean, new_var = running_mean.copy(), running_var.copy()
    if update == "always" or (update == "training" and training):
        batch_mean, batch_var = x.mean(axis=axes), x.var(axis=axes, ddof=run_ddof)
        if run_count is not None:  # the unbiased correction n/(n-1) with a wrong count n
            n = run_count(x)
            batch_var = x.var(axis=axes) * n / (n - 1)
        keep = 1 - momentum
        if swap_momentum:
            keep, momentum = momentum, keep
        new_mean = keep * running_mean + momentum * batch_mean
        new_var = keep * running_var + momentum * batch_var
    if keepdims_running:
        new_mean, new_var = new_mean.reshape(shape), new_var.reshape(shape)
    return out, None, new_mean, new_var


def _norm_backward(g, xhat, inv_std, axes, through_mean=True, through_var=True, count=None):
    """dx for xhat = (x - mean) * inv_std with mean/var over `axes`, given g = dL/dxhat."""
    n = count if count is not None else int(np.prod([xhat.shape[a] for a in axes]))
    dx = g
    if through_mean:
        dx = dx - g.sum(axis=axes, keepdims=True) / n
    if through_var:
        dx = dx - xhat * (g * xhat).sum(axis=axes, keepdims=True) / n
    return dx * inv_std


def _batchnorm_backward(dout, x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5, *,
                        through_mean=True, through_var=True, param_axes=None, sum_params=True, use_gamma=True,
                        dgamma_from_x=False, count=None, eval_as_training=False, mean_params=False):
    shape, axes = _channel_shape(x), _channel_axes(x)
    if training:
        mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    else:
        mean, var = running_mean.reshape(shape), running_var.reshape(shape)
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean) * inv_std
    over = axes if param_axes is None else param_axes(x)
    dgamma_terms = dout * (x if dgamma_from_x else xhat)
    reduce = np.mean if mean_params else np.sum
    dgamma = reduce(dgamma_terms, axis=over) if sum_params else dgamma_terms
    dbeta = reduce(dout, axis=over) if sum_params else dout.copy()
    g = dout * gamma.reshape(shape) if use_gamma else dout
    if training or eval_as_training:
        dx = _norm_backward(g, xhat, inv_std, axes, through_mean, through_var, None if count is None else count(x))
    else:
        dx = g * inv_std
    return dx, dgamma, dbeta


def _trailing_axes(x, normalized_shape):
    return tuple(range(x.ndim - len(normalized_shape), x.ndim))


def _layernorm(x, normalized_shape, gamma, beta, eps=1e-5, *, stat_axes=None, ddof=0, eps_outside=False,
               swap_affine=False):
    over = _trailing_axes(x, normalized_shape) if stat_axes is None else stat_axes(x)
    mean = x.mean(axis=over, keepdims=True)
    var = x.var(axis=over, ddof=ddof, keepdims=True)
    xhat = (x - mean) / (np.sqrt(var) + eps if eps_outside else np.sqrt(var + eps))
    return (beta * xhat + gamma if swap_affine else gamma * xhat + beta), None


def _layernorm_backward(dout, x, normalized_shape, gamma, beta, eps=1e-5, *, through_mean=True, through_var=True,
                        sum_params=True, param_axes=None, use_gamma=True, dgamma_from_x=False, mean_params=False):
    axes = _trailing_axes(x, normalized_shape)
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean) * inv_std
    leading = tuple(range(x.ndim - len(normalized_shape))) if param_axes is None else param_axes(x)
    dgamma_terms = dout * (x if dgamma_from_x else xhat)
    reduce = np.mean if mean_params else np.sum
    dgamma = reduce(dgamma_terms, axis=leading) if sum_params else dgamma_terms
    dbeta = reduce(dout, axis=leading) if sum_params else dout.copy()
    g = dout * gamma if use_gamma else dout
    return _norm_backward(g, xhat, inv_std, axes, through_mean, through_var), dgamma, dbeta


# ---------------------------------------------------------------------------------------------
# Known mistakes
# ---------------------------------------------------------------------------------------------

_LEAK_HINT = ("you recomputed the statistics from X instead of using the ones passed in. That is fitting the "
              "scaler on the test set: the statistics must come from the training set (the arguments)")

FIT_STANDARDIZER_MISTAKES = [
    Mistake("you computed one mean and one std for the whole array; the statistics are per feature: each "
            "column on its own, reduced over the samples (axis 0)", functools.partial(_fit_standardizer, axis=None)),
    Mistake("you computed the statistics per sample (across each row); features are columns, so reduce down "
            "each column, over the samples (axis 0)", functools.partial(_fit_standardizer, axis=1)),
    Mistake("you used the unbiased std (dividing by N-1); the lesson's convention is the biased std, dividing "
            "by N, as scikit-learn's StandardScaler and batch norm's normalization",
            functools.partial(_fit_standardizer, ddof=1)),
    Mistake("a constant feature's std came out as about 1e-17, not exactly 0 (rounding in the mean), so an exact "
            "test for zero missed it, and dividing by it blows rounding errors up to about ±1. Recognise a "
            "constant feature by its values (its largest equals its smallest), not by its std",
            functools.partial(_fit_standardizer, guard="zero")),
    Mistake("a constant feature has std 0, and dividing by it gives NaN or inf; store 1 for a feature whose "
            "training values are all equal, so that it maps to 0",
            functools.partial(_fit_standardizer, guard=None)),
    Mistake("you added a small eps to the std (or clipped it from below). That changes every feature's std a "
            "little, and a constant feature still gets a tiny std instead of 1, so its rounding noise is divided "
            "by almost nothing. Store exactly 1 for a constant feature and leave the others as they are",
            functools.partial(_fit_standardizer, guard="eps")),
    Mistake("you added a small eps to the std (or clipped it from below). That changes every feature's std a "
            "little, and a constant feature still gets a tiny std instead of 1, so its rounding noise is divided "
            "by almost nothing. Store exactly 1 for a constant feature and leave the others as they are",
            functools.partial(_fit_standardizer, guard="clip")),
    Mistake("you returned the variance; the second value is the standard deviation, its square root",
            functools.partial(_fit_standardizer, variance=True)),
    Mistake("the statistics have shape (D,), one value per feature: do not keep the reduced axis (keepdims)",
            functools.partial(_fit_standardizer, keepdims=True)),
]

STANDARDIZE_MISTAKES = [
    Mistake(_LEAK_HINT, lambda X, mean, std: (X - X.mean(axis=0)) / X.std(axis=0)),
    Mistake(_LEAK_HINT, lambda X, mean, std: (X - X.mean(axis=0)) / std),
    Mistake("you subtracted the mean but did not divide by the std", lambda X, mean, std: X - mean),
    Mistake("you multiplied by the std; divide by it", lambda X, mean, std: (X - mean) * std),
    Mistake("the order matters: subtract the mean from X first, then divide the difference by the std",
            lambda X, mean, std: X / std - mean),
]

FIT_MINMAX_MISTAKES = [
    Mistake("you took one min and one max over the whole array; min-max scaling is per feature, each column on "
            "its own (reduce over axis 0)", functools.partial(_fit_minmax, axis=None)),
    Mistake("you took the min and max per sample (across each row); features are columns, so reduce down each "
            "column (axis 0)", functools.partial(_fit_minmax, axis=1)),
    Mistake("a constant feature has range 0 (its max equals its min), and dividing by it gives NaN or inf; store "
            "1 for such a feature, so that it maps to 0", functools.partial(_fit_minmax, guard=False)),
    Mistake("the second value is the range (the maximum minus the minimum), not the maximum itself",
            functools.partial(_fit_minmax, return_max=True)),
]

MINMAX_SCALE_MISTAKES = [
    Mistake(_LEAK_HINT, lambda X, x_min, x_range: (X - X.min(axis=0)) / (X.max(axis=0) - X.min(axis=0))),
    Mistake(_LEAK_HINT, lambda X, x_min, x_range: (X - X.min(axis=0)) / x_range),
    Mistake("do not clip: test values outside the training range map outside [0, 1], and that is information "
            "the model needs", lambda X, x_min, x_range: np.clip((X - x_min) / x_range, 0, 1)),
    Mistake("you subtracted the minimum but did not divide by the range", lambda X, x_min, x_range: X - x_min),
    Mistake("the order matters: subtract the minimum from X first, then divide the difference by the range",
            lambda X, x_min, x_range: X / x_range - x_min),
]

_bn = functools.partial
BATCHNORM_FORWARD_MISTAKES = [
    Mistake("you normalized with the unbiased variance (dividing by n-1); batch norm normalizes with the biased "
            "variance (dividing by the count n) and keeps the unbiased one only for running_var",
            _bn(_batchnorm, norm_ddof=1)),
    Mistake("running_var is updated with the unbiased batch variance (dividing by n-1, not n), as torch does; "
            "you used the biased one", _bn(_batchnorm, run_ddof=0)),
    Mistake("the unbiased correction of running_var counts every value that shares a channel's statistics: for "
            "images that is N·H·W values per channel, not the N samples",
            _bn(_batchnorm, run_count=lambda x: x.shape[0])),
    Mistake("momentum is the other way round. In torch's convention momentum is the weight of the new batch's "
            "statistic, and the old running value keeps the rest (1 - momentum)", _bn(_batchnorm, swap_momentum=True)),
    Mistake("in eval mode (training False) normalize with running_mean and running_var, not with the batch's "
            "statistics", _bn(_batchnorm, eval_batch_stats=True)),
    Mistake("in training mode normalize with the batch's own mean and variance; the running statistics are only "
            "updated while training, and used in eval mode", _bn(_batchnorm, train_running_stats=True)),
    Mistake("eps goes inside the square root: it is added to the variance, not to the standard deviation",
            _bn(_batchnorm, eps_outside=True)),
    Mistake("you averaged over each sample's features (that is layer norm); batch norm averages each "
            "channel over the batch (axis 0, and H, W for images)",
            _bn(_batchnorm, stat_axes=lambda x: tuple(range(1, x.ndim)))),
    Mistake("for (N, C, H, W) input, average each channel over N, H and W (axes 0, 2 and 3), not over N only",
            _bn(_batchnorm, stat_axes=lambda x: (0,))),
    Mistake("in training mode the running statistics move towards the batch's statistics (by momentum); you "
            "handed back the old ones unchanged", _bn(_batchnorm, update="never")),
    Mistake("in eval mode the running statistics stay as they are; update them only when training",
            _bn(_batchnorm, update="always")),
    Mistake("gamma scales and beta shifts the normalized values; you used them the other way round",
            _bn(_batchnorm, swap_affine=True)),
    Mistake("the running statistics keep the shape (C,) of the ones passed in", _bn(_batchnorm, keepdims_running=True)),
]

_PARAMS_SUMMED = ("gamma and beta are shared by every value of a channel, so their gradients add up all the "
                  "contributions: a sum over the batch (and H, W), not a mean")
BATCHNORM_BACKWARD_MISTAKES = [
    Mistake("your dx treats the batch mean and variance as constants. In training mode they depend on every x of "
            "the channel, so dx also needs the gradient that flows through them: one extra term through the "
            "mean and one through the variance", _bn(_batchnorm_backward, through_mean=False, through_var=False)),
    Mistake("your dx has the term through the mean but not the one through the variance: the variance depends "
            "on every x of the channel too", _bn(_batchnorm_backward, through_var=False)),
    Mistake("your dx has the term through the variance but not the one through the mean: the mean depends on "
            "every x of the channel too", _bn(_batchnorm_backward, through_mean=False)),
    Mistake("dgamma and dbeta are summed over the batch (and H, W), one value per channel: gamma and beta are "
            "shared by every sample", _bn(_batchnorm_backward, sum_params=False)),
    Mistake("for (N, C, H, W) input, sum dgamma and dbeta over N, H and W (axes 0, 2 and 3), not over N only",
            _bn(_batchnorm_backward, param_axes=lambda x: (0,))),
    Mistake(_PARAMS_SUMMED, _bn(_batchnorm_backward, mean_params=True)),
    Mistake("dx is missing the factor gamma: x_hat reaches the output scaled by gamma, so the gradient that "
            "reaches x_hat is scaled by gamma too", _bn(_batchnorm_backward, use_gamma=False)),
    Mistake("dgamma weighs dout by the normalized x_hat (what gamma multiplies), not by the raw x",
            _bn(_batchnorm_backward, dgamma_from_x=True)),
    Mistake("the averages in dx's extra terms run over every value of a channel: for images that is N·H·W "
            "values, not N", _bn(_batchnorm_backward, count=lambda x: x.shape[0])),
    Mistake("in eval mode the statistics are the fixed running ones, constants that do not depend on x: dx has "
            "no terms through the mean and the variance", _bn(_batchnorm_backward, eval_as_training=True)),
]

LAYERNORM_FORWARD_MISTAKES = [
    Mistake("you normalized over the batch axis (that is batch norm); layer norm normalizes each sample over "
            "its own trailing normalized_shape axes", _bn(_layernorm, stat_axes=lambda x: (0,))),
    Mistake("you normalized with the unbiased variance (dividing by D-1); layer norm uses the biased one "
            "(dividing by the number of normalized values)", _bn(_layernorm, ddof=1)),
    Mistake("eps goes inside the square root: it is added to the variance, not to the standard deviation",
            _bn(_layernorm, eps_outside=True)),
    Mistake("normalize over all the trailing axes named by normalized_shape (here more than one), not just "
            "the last axis", _bn(_layernorm, stat_axes=lambda x: (x.ndim - 1,))),
    Mistake("gamma scales and beta shifts the normalized values; you used them the other way round",
            _bn(_layernorm, swap_affine=True)),
]

LAYERNORM_BACKWARD_MISTAKES = [
    Mistake("your dx treats each sample's mean and variance as constants. They depend on x, so dx also needs "
            "the gradient that flows through them: one extra term through the mean and one through the "
            "variance, each averaged over the normalized axes", _bn(_layernorm_backward, through_mean=False,
                                                                     through_var=False)),
    Mistake("your dx has the term through the mean but not the one through the variance: the variance depends "
            "on every x of the sample too", _bn(_layernorm_backward, through_var=False)),
    Mistake("your dx has the term through the variance but not the one through the mean: the mean depends on "
            "every x of the sample too", _bn(_layernorm_backward, through_mean=False)),
    Mistake("dgamma and dbeta are summed over the leading (batch) axes, giving the shape normalized_shape: "
            "gamma and beta are shared by every sample", _bn(_layernorm_backward, sum_params=False)),
    Mistake("sum dgamma and dbeta over every leading axis (all but the normalized ones), not only axis 0",
            _bn(_layernorm_backward, param_axes=lambda x: (0,))),
    Mistake("gamma and beta are shared by every sample, so their gradients add up all the contributions: a sum "
            "over the leading axes, not a mean", _bn(_layernorm_backward, mean_params=True)),
    Mistake("dx is missing the factor gamma: x_hat reaches the output scaled by gamma, so the gradient that "
            "reaches x_hat is scaled by gamma too", _bn(_layernorm_backward, use_gamma=False)),
    Mistake("dgamma weighs dout by the normalized x_hat (what gamma multiplies), not by the raw x",
            _bn(_layernorm_backward, dgamma_from_x=True)),
]


# ---------------------------------------------------------------------------------------------
# PyTorch references (tensors in float64 on the course device)
# ---------------------------------------------------------------------------------------------


def _torch_fit_standardizer(X):
    constant = X.amax(dim=0) == X.amin(dim=0)
    std = X.std(dim=0, correction=0)
    return X.mean(dim=0), torch.where(constant, torch.ones_like(std), std)


def _torch_fit_minmax(X):
    x_min = X.amin(dim=0)
    x_range = X.amax(dim=0) - x_min
    return x_min, torch.where(x_range == 0, torch.ones_like(x_range), x_range)


def _torch_scale(X, shift, scale):
    return (X - shift) / scale


def _torch_batchnorm(x, gamma, beta, running_mean, running_var, training, momentum, eps):
    """F.batch_norm updates the running statistics in place; work on copies and return them."""
    running_mean, running_var = running_mean.clone(), running_var.clone()
    out = F.batch_norm(x, running_mean, running_var, gamma, beta, training=training, momentum=momentum, eps=eps)
    return out, running_mean, running_var


def _torch_batchnorm_out(x, gamma, beta, running_mean, running_var, training, momentum, eps):
    return _torch_batchnorm(x, gamma, beta, running_mean, running_var, training, momentum, eps)[0]


def _torch_layernorm(x, normalized_shape, gamma, beta, eps):
    return F.layer_norm(x, normalized_shape, gamma, beta, eps)


# ---------------------------------------------------------------------------------------------
# Cases: fixed edge cases first, then seeded random ones
# ---------------------------------------------------------------------------------------------


def _feature_source(rng, d):
    """Centres and spreads of d features on very different scales (like m², rooms, km, ...)."""
    scales = 10.0 ** rng.uniform(-2, 3, size=d)
    return rng.normal(size=d) * scales * 3, scales


def _features(rng, n, d, *, source=None, shift=0.0):
    """n samples of d features drawn around `source` (a new one if None), shifted by `shift` spreads."""
    centres, scales = _feature_source(rng, d) if source is None else source
    return centres + shift * scales + rng.normal(size=(n, d)) * scales


def _fit_cases(seed=0):
    rng = np.random.default_rng(seed)
    yield "X_train of shape (6, 3), features on very different scales", _features(rng, 6, 3)
    with_constant = _features(rng, 5, 3)
    with_constant[:, 1] = 5.0
    yield "a constant feature (column 1 is all 5.0), X_train of shape (5, 3)", with_constant
    yield "a constant feature of 0.1s, X_train of shape (3, 2)", np.column_stack([[1.0, 2.0, 4.0], [0.1, 0.1, 0.1]])
    yield "one training sample, X_train of shape (1, 4)", _features(rng, 1, 4)
    yield "non-square X_train of shape (2, 7)", _features(rng, 2, 7)
    yield "one feature, X_train of shape (8, 1)", _features(rng, 8, 1)
    for _ in range(3):
        n, d = (int(v) for v in rng.integers(2, 12, size=2))
        yield f"random X_train of shape ({n}, {d})", _features(rng, n, d)


def _apply_cases(fit, seed=0):
    """(case, (X, shift, scale)): statistics fitted (by the reference) on a training set, applied to X.

    Test sets come from the same features, shifted, so statistics recomputed from X differ from the
    training ones."""
    rng = np.random.default_rng(seed + 1)
    source = _feature_source(rng, 3)
    train = _features(rng, 6, 3, source=source)
    yield "the training set itself, X of shape (6, 3)", (train, *fit(train))
    yield "a test set of shape (4, 3), statistics from a training set of 6 samples", \
        (_features(rng, 4, 3, source=source, shift=1.5), *fit(train))
    yield "a single test sample, X of shape (1, 3), statistics from a training set of 6", \
        (_features(rng, 1, 3, source=source, shift=-2.0), *fit(train))
    with_constant = train.copy()
    with_constant[:, 2] = -3.0
    yield "a constant training feature (scale 1), test X of shape (5, 3)", \
        (_features(rng, 5, 3, source=source, shift=0.5), *fit(with_constant))
    for _ in range(3):
        n, m, d = (int(v) for v in rng.integers(2, 10, size=3))
        source = _feature_source(rng, d)
        train = _features(rng, n, d, source=source)
        test = _features(rng, m, d, source=source, shift=float(rng.uniform(-2, 2)))
        yield f"random test X of shape ({m}, {d}), statistics from a training set of shape ({n}, {d})", \
            (test, *fit(train))


def _bn_arrays(rng, shape, *, constant_channel=None):
    c = shape[1]
    channel = _channel_shape(np.empty(shape))
    x = rng.normal(size=c).reshape(channel) * 3 + rng.uniform(0.3, 3, size=c).reshape(channel) * rng.normal(size=shape)
    if constant_channel is not None:
        x[:, constant_channel] = 0.1
    gamma = rng.normal(size=c) + 1.0
    beta = rng.normal(size=c)
    running_mean = rng.normal(size=c)
    running_var = rng.uniform(0.5, 2.0, size=c)
    return x, gamma, beta, running_mean, running_var


def _describe_bn(x, training, momentum, eps):
    mode = "training" if training else "eval mode"
    extra = "" if (momentum, eps) == (0.1, 1e-5) else f", momentum={momentum:g}, eps={eps:g}"
    return f"{mode}, x of shape {x.shape}{extra}"


def _bn_cases(seed=0):
    """(case, (x, gamma, beta, running_mean, running_var, training, momentum, eps))."""
    rng = np.random.default_rng(seed + 3)
    fixed = [
        ((2, 3), True, 0.1, 1e-5, None, "batch of 2 in training mode"),
        ((1, 4), False, 0.1, 1e-5, None, "batch of 1 in eval mode"),
        ((6, 5), False, 0.1, 1e-5, None, "eval mode, running statistics unlike the batch's"),
        ((5, 3), True, 0.1, 1e-5, 1, "a constant feature (column 1 all 0.1) in training mode"),
        ((7, 4), True, 0.3, 1e-3, None, "non-square x in training mode"),
        ((2, 3, 4, 5), True, 0.1, 1e-5, None, "images (N, C, H, W) in training mode"),
        ((1, 2, 3, 2), True, 0.2, 1e-5, None, "a single image in training mode (6 values per channel)"),
        ((3, 2, 2, 3), False, 0.1, 1e-4, None, "images (N, C, H, W) in eval mode"),
    ]
    for shape, training, momentum, eps, constant, words in fixed:
        x, gamma, beta, rm, rv = _bn_arrays(rng, shape, constant_channel=constant)
        yield f"{words}: {_describe_bn(x, training, momentum, eps)}", (x, gamma, beta, rm, rv, training, momentum, eps)
    for _ in range(4):
        training = bool(rng.integers(2))
        if rng.integers(2):
            shape = (int(rng.integers(2, 9)), int(rng.integers(1, 7)))
        else:
            shape = (int(rng.integers(2, 4)), int(rng.integers(1, 5)), int(rng.integers(1, 4)), int(rng.integers(2, 4)))
        momentum, eps = float(rng.choice([0.1, 0.01, 0.5])), float(rng.choice([1e-5, 1e-3]))
        x, gamma, beta, rm, rv = _bn_arrays(rng, shape)
        yield f"random {_describe_bn(x, training, momentum, eps)}", (x, gamma, beta, rm, rv, training, momentum, eps)


def _ln_cases(seed=0):
    """(case, (x, normalized_shape, gamma, beta, eps))."""
    rng = np.random.default_rng(seed + 5)

    def arrays(shape, k, eps=1e-5):
        x = rng.normal(size=shape) * rng.uniform(0.3, 3) + rng.normal() * 3
        normalized = tuple(shape[len(shape) - k:])
        return x, normalized, rng.normal(size=normalized) + 1.0, rng.normal(size=normalized), eps

    constant_row = arrays((3, 5), 1)
    constant_row[0][1] = 0.1
    fixed = [
        ("a batch of 1, x of shape (1, 5), normalized_shape (5,)", arrays((1, 5), 1)),
        ("non-square x of shape (4, 7), normalized_shape (7,)", arrays((4, 7), 1)),
        ("a constant sample (row 1 all 0.1), x of shape (3, 5)", constant_row),
        ("a sequence batch x of shape (2, 3, 4), normalized_shape (4,)", arrays((2, 3, 4), 1)),
        ("x of shape (2, 3, 4), normalized_shape (3, 4): two normalized axes", arrays((2, 3, 4), 2)),
        ("images x of shape (2, 3, 2, 2), normalized_shape (3, 2, 2), eps=1e-3", arrays((2, 3, 2, 2), 3, eps=1e-3)),
        ("x of shape (6, 1), normalized_shape (1,): one feature", arrays((6, 1), 1)),
    ]
    yield from fixed
    for _ in range(3):
        ndim = int(rng.integers(2, 5))
        shape = tuple(int(v) for v in rng.integers(1, 5, size=ndim))
        shape = (shape[0],) + tuple(max(2, s) for s in shape[1:])
        k = int(rng.integers(1, ndim))
        eps = float(rng.choice([1e-5, 1e-3]))
        x, normalized, gamma, beta, eps = arrays(shape, k, eps)
        yield (f"random x of shape {shape}, normalized_shape {normalized}, eps={eps:g}",
               (x, normalized, gamma, beta, eps))


# ---------------------------------------------------------------------------------------------
# Helpers shared by the checks
# ---------------------------------------------------------------------------------------------


def _unpack(c, result, count, fn_name, names, case):
    return c.expect_tuple(result, names, case=case, what=f"`{fn_name}`")


def _forward_for_backward(c, forward, args, reference_out, names, case):
    """Run the learner's forward (to get its cache); refuse to check a backward on top of a wrong forward."""
    result = _unpack(c, c.call(forward, *args, case=case), len(names), getattr(forward, "__name__", "forward"),
                     names, case)
    mismatch = find_mismatch(result[0], reference_out, name="out")
    if mismatch is not None:
        c.fail(f"on case {case}, your `{getattr(forward, '__name__', 'forward')}` gives a wrong output ({mismatch}), "
               "so its cache cannot be trusted",
               hint="make the forward pass's check pass first, then come back to the backward pass")
    return result


def _fd_batchnorm(batchnorm_forward, x, gamma, beta, running_mean, running_var, training, momentum, eps, dout):
    """Harness (runs beside the learner's code): centred differences of the learner's batchnorm_forward.

    The gradients of sum(out * dout) with respect to x, gamma and beta (h=1e-6, float64), as plain arrays.
    """
    def out(x_, g_, b_):
        return batchnorm_forward(x_, g_, b_, running_mean, running_var, training, momentum, eps)[0]

    return numerical_gradient(out, x, gamma, beta, dout=dout)


def _fd_layernorm(layernorm_forward, x, normalized_shape, gamma, beta, eps, dout):
    """Harness (runs beside the learner's code): centred differences of the learner's layernorm_forward."""
    def out(x_, g_, b_):
        return layernorm_forward(x_, normalized_shape, g_, b_, eps)[0]

    return numerical_gradient(out, x, gamma, beta, dout=dout)


def _finite_difference_check(c, numeric, grads, case, names):
    """Compare the learner's gradients with centred differences (h=1e-6, float64) of the learner's own forward.

    `numeric` comes from a harness (_fd_batchnorm, _fd_layernorm). The torch.autograd comparison before this
    one is the precise test (and its errors are the ones reported); this one shows the backward pass agrees
    with the learner's own forward pass.
    """
    if not (isinstance(numeric, (list, tuple)) and len(numeric) == len(names)):
        c.fail(f"on case {case}, the centred differences of your forward pass could not be computed",
               hint="make the forward pass's check pass first, then come back to the backward pass")
    for name, mine, num in zip(names, grads, numeric):
        # h=1e-6 leaves a truncation + rounding error near 1e-9 times the gradient's scale: 1e-6 is generous.
        scale = max(1.0, float(np.max(np.abs(num))))
        mismatch = find_mismatch(mine, num, atol=1e-6 * scale, rtol=1e-5,
                                 name=f"{name} (against centred differences of your forward)")
        if mismatch is not None:
            c.fail(f"on case {case}, {mismatch}",
                   hint="your backward pass disagrees with the slope of your own forward pass: check that the "
                        "cache holds what the forward pass really computed")
    c.expect(True, "", case=case)


# ---------------------------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------------------------


@exercise("normalization.fit_standardizer", points=1, compared="torch mean and std(correction=0)")
def check_fit_standardizer(c, fit_standardizer, seed=0):
    """fit_standardizer(X_train) returns (mean, std) per feature; a constant feature gets std 1."""
    suspects = Suspects(FIT_STANDARDIZER_MISTAKES)
    for case, X in _fit_cases(seed):
        result = _unpack(c, c.call(fit_standardizer, X, case=case), 2, "fit_standardizer", ("mean", "std"), case)
        (ref_mean, ref_std), _ = c.reference(_torch_fit_standardizer, X)
        for i, (name, mine, ref) in enumerate(zip(("mean", "std"), result, (ref_mean, ref_std))):
            suspects.expect_close(c, mine, ref, case=case, name=name, args=(X,), pick=i)


@exercise("normalization.standardize", points=1, compared="torch (X - mean) / std")
def check_standardize(c, standardize, seed=0):
    """standardize(X, mean, std) applies training statistics to X."""
    suspects = Suspects(STANDARDIZE_MISTAKES)
    for case, args in _apply_cases(_fit_standardizer, seed):
        actual = c.call(standardize, *args, case=case)
        expected, _ = c.reference(_torch_scale, *args)
        suspects.expect_close(c, actual, expected, case=case, name="output", args=args)


@exercise("normalization.fit_minmax", points=1, compared="torch amin and amax")
def check_fit_minmax(c, fit_minmax, seed=0):
    """fit_minmax(X_train) returns (x_min, x_range) per feature; a constant feature gets range 1."""
    suspects = Suspects(FIT_MINMAX_MISTAKES)
    for case, X in _fit_cases(seed):
        result = _unpack(c, c.call(fit_minmax, X, case=case), 2, "fit_minmax", ("x_min", "x_range"), case)
        refs, _ = c.reference(_torch_fit_minmax, X)
        for i, (name, mine, ref) in enumerate(zip(("x_min", "x_range"), result, refs)):
            suspects.expect_close(c, mine, ref, case=case, name=name, args=(X,), pick=i)


@exercise("normalization.minmax_scale", points=1, compared="torch (X - x_min) / x_range")
def check_minmax_scale(c, minmax_scale, seed=0):
    """minmax_scale(X, x_min, x_range) applies training statistics to X, without clipping."""
    suspects = Suspects(MINMAX_SCALE_MISTAKES)
    for case, args in _apply_cases(_fit_minmax, seed):
        actual = c.call(minmax_scale, *args, case=case)
        expected, _ = c.reference(_torch_scale, *args)
        suspects.expect_close(c, actual, expected, case=case, name="output", args=args)


_BN_NAMES = ("out", "cache", "running_mean", "running_var")


@exercise("normalization.batchnorm_forward", points=2, compared="torch.nn.functional.batch_norm")
def check_batchnorm_forward(c, batchnorm_forward, seed=0):
    """out, cache, running_mean, running_var = batchnorm_forward(x, gamma, beta, running_mean, running_var,
    training, momentum, eps), against F.batch_norm (output and updated running statistics)."""
    suspects = Suspects(BATCHNORM_FORWARD_MISTAKES)
    for case, args in _bn_cases(seed):
        result = _unpack(c, c.call(batchnorm_forward, *args, case=case), 4, "batchnorm_forward", _BN_NAMES, case)
        refs, _ = c.reference(_torch_batchnorm, *args)
        for pick, ref in zip((0, 2, 3), refs):
            suspects.expect_close(c, result[pick], ref, case=case, name=_BN_NAMES[pick], args=args, pick=pick)


@exercise("normalization.batchnorm_backward", points=2, compared="torch.autograd and centred differences")
def check_batchnorm_backward(c, batchnorm_backward, batchnorm_forward, seed=0):
    """dx, dgamma, dbeta = batchnorm_backward(dout, cache), with the cache from your batchnorm_forward."""
    rng = np.random.default_rng(seed + 7)
    suspects = Suspects(BATCHNORM_BACKWARD_MISTAKES)
    for number, (case, args) in enumerate(_bn_cases(seed)):
        x = args[0]
        dout = rng.normal(size=x.shape)
        ref_out, ref_grads = c.reference(_torch_batchnorm_out, *args, dout=dout, wrt=[0, 1, 2])
        _, cache, _, _ = _forward_for_backward(c, batchnorm_forward, args, ref_out, _BN_NAMES, case)
        grads = _unpack(c, c.call(batchnorm_backward, dout, cache, case=case), 3, "batchnorm_backward",
                        ("dx", "dgamma", "dbeta"), case)
        for i, (name, mine, ref) in enumerate(zip(("dx", "dgamma", "dbeta"), grads, ref_grads)):
            suspects.expect_close(c, mine, ref, case=case, name=name, args=(dout, *args), pick=i)
        if number < 8:  # the fixed cases (all small); random ones are covered by torch.autograd above
            numeric = c.call(batchnorm_forward, *args, dout, case=case, via=_fd_batchnorm)
            _finite_difference_check(c, numeric, grads, case, ("dx", "dgamma", "dbeta"))


@exercise("normalization.layernorm_forward", points=1, compared="torch.nn.functional.layer_norm")
def check_layernorm_forward(c, layernorm_forward, seed=0):
    """out, cache = layernorm_forward(x, normalized_shape, gamma, beta, eps), against F.layer_norm."""
    suspects = Suspects(LAYERNORM_FORWARD_MISTAKES)
    for case, args in _ln_cases(seed):
        result = _unpack(c, c.call(layernorm_forward, *args, case=case), 2, "layernorm_forward", ("out", "cache"), case)
        ref, _ = c.reference(_torch_layernorm, *args)
        suspects.expect_close(c, result[0], ref, case=case, name="out", args=args, pick=0)


@exercise("normalization.layernorm_backward", points=1, compared="torch.autograd and centred differences")
def check_layernorm_backward(c, layernorm_backward, layernorm_forward, seed=0):
    """dx, dgamma, dbeta = layernorm_backward(dout, cache), with the cache from your layernorm_forward."""
    rng = np.random.default_rng(seed + 9)
    suspects = Suspects(LAYERNORM_BACKWARD_MISTAKES)
    for number, (case, args) in enumerate(_ln_cases(seed)):
        x = args[0]
        dout = rng.normal(size=x.shape)
        ref_out, ref_grads = c.reference(_torch_layernorm, *args, dout=dout, wrt=[0, 2, 3])
        _, cache = _forward_for_backward(c, layernorm_forward, args, ref_out, ("out", "cache"), case)
        grads = _unpack(c, c.call(layernorm_backward, dout, cache, case=case), 3, "layernorm_backward",
                        ("dx", "dgamma", "dbeta"), case)
        for i, (name, mine, ref) in enumerate(zip(("dx", "dgamma", "dbeta"), grads, ref_grads)):
            suspects.expect_close(c, mine, ref, case=case, name=name, args=(dout, *args), pick=i)
        if number < 7:
            numeric = c.call(layernorm_forward, *args, dout, case=case, via=_fd_layernorm)
            _finite_difference_check(c, numeric, grads, case, ("dx", "dgamma", "dbeta"))
