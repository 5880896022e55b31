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
"""

import functools

import numpy as np
import torch
import torch.nn.functional as F

from course_utils.checking import Mistake, exercise
from course_utils.compare import find_mismatch
from course_utils.gradcheck import numerical_gradient

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
               stat_axes=None, update="training", swap_affine=False, keepdims_running=False):
    shape, axes = _channel_shape(x), _channel_axes(x)
    if training or eval_batch_stats:
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
                        dgamma_from_x=False, count=None, eval_as_training=False):
    shape, axes = _channel_shape(x), _channel_axes(x)
    if training:
        mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    else:
        mean, var = running_mean.reshape(shape), running_var.reshape(shape)
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean) * inv_std
    over = axes if param_axes is None else param_axes(x)
    dgamma_terms = dout * (x if dgamma_from_x else xhat)
    dgamma = dgamma_terms.sum(axis=over) if sum_params else dgamma_terms
    dbeta = dout.sum(axis=over) if sum_params else dout.copy()
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
                        sum_params=True, param_axes=None, use_gamma=True, dgamma_from_x=False):
    axes = _trailing_axes(x, normalized_shape)
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean) * inv_std
    leading = tuple(range(x.ndim - len(normalized_shape))) if param_axes is None else param_axes(x)
    dgamma_terms = dout * (x if dgamma_from_x else xhat)
    dgamma = dgamma_terms.sum(axis=leading) if sum_params else dgamma_terms
    dbeta = dout.sum(axis=leading) if sum_params else dout.copy()
    g = dout * gamma if use_gamma else dout
    return _norm_backward(g, xhat, inv_std, axes, through_mean, through_var), dgamma, dbeta


# ---------------------------------------------------------------------------------------------
# Known mistakes
# ---------------------------------------------------------------------------------------------

_LEAK_HINT = ("you recomputed the statistics from X instead of using the ones passed in. That is fitting the "
              "scaler on the test set: the statistics must come from the training set (the arguments)")

FIT_STANDARDIZER_MISTAKES = [
    Mistake("you computed one mean and one std over the whole array; statistics are per feature: "
            "reduce over the samples, axis=0", functools.partial(_fit_standardizer, axis=None)),
    Mistake("you computed statistics per sample (axis=1); features are columns: reduce over axis=0",
            functools.partial(_fit_standardizer, axis=1)),
    Mistake("you used the unbiased std (ddof=1, divide by N-1); the lesson's convention is the biased std "
            "(ddof=0, divide by N), as sklearn's StandardScaler and batch norm's normalization",
            functools.partial(_fit_standardizer, ddof=1)),
    Mistake("a constant feature's std came out as about 1e-17, not exactly 0 (rounding in the mean), so "
            "`std == 0` missed it and dividing by it blows tiny rounding errors up to +-1; test for a constant "
            "feature with max == min (np.ptp(X, axis=0) == 0) instead",
            functools.partial(_fit_standardizer, guard="zero")),
    Mistake("a constant feature has std 0, and dividing by it gives NaN or inf; store 1 for a feature whose "
            "training values are all equal (max == min), so it maps to 0",
            functools.partial(_fit_standardizer, guard=None)),
    Mistake("you returned the variance; the second value is the standard deviation (its square root)",
            functools.partial(_fit_standardizer, variance=True)),
    Mistake("return 1-D statistics of shape (D,), without keepdims",
            functools.partial(_fit_standardizer, keepdims=True)),
]

STANDARDIZE_MISTAKES = [
    Mistake(_LEAK_HINT, lambda X, mean, std: (X - X.mean(axis=0)) / X.std(axis=0)),
    Mistake(_LEAK_HINT, lambda X, mean, std: (X - X.mean(axis=0)) / std),
    Mistake("you subtracted the mean but did not divide by the std", lambda X, mean, std: X - mean),
    Mistake("you multiplied by the std; divide by it", lambda X, mean, std: (X - mean) * std),
    Mistake("subtract the mean first, then divide: (X - mean) / std, not X / std - mean",
            lambda X, mean, std: X / std - mean),
]

FIT_MINMAX_MISTAKES = [
    Mistake("you took one min and one max over the whole array; min-max scaling is per feature: axis=0",
            functools.partial(_fit_minmax, axis=None)),
    Mistake("you took the min and max per sample (axis=1); features are columns: reduce over axis=0",
            functools.partial(_fit_minmax, axis=1)),
    Mistake("a constant feature has range max - min = 0, and dividing by it gives NaN or inf; store 1 for such "
            "a feature, so it maps to 0", functools.partial(_fit_minmax, guard=False)),
    Mistake("the second value is the range, x_max - x_min, not the maximum",
            functools.partial(_fit_minmax, return_max=True)),
]

MINMAX_SCALE_MISTAKES = [
    Mistake(_LEAK_HINT, lambda X, x_min, x_range: (X - X.min(axis=0)) / (X.max(axis=0) - X.min(axis=0))),
    Mistake(_LEAK_HINT, lambda X, x_min, x_range: (X - X.min(axis=0)) / x_range),
    Mistake("do not clip: test values outside the training range map outside [0, 1], and that is information "
            "the model needs", lambda X, x_min, x_range: np.clip((X - x_min) / x_range, 0, 1)),
    Mistake("you subtracted the minimum but did not divide by the range", lambda X, x_min, x_range: X - x_min),
    Mistake("subtract the minimum first, then divide: (X - x_min) / x_range",
            lambda X, x_min, x_range: X / x_range - x_min),
]

_bn = functools.partial
BATCHNORM_FORWARD_MISTAKES = [
    Mistake("you normalized with the unbiased variance (ddof=1); batch norm normalizes with the biased "
            "variance (divide by the count n) and keeps the unbiased one only for running_var",
            _bn(_batchnorm, norm_ddof=1)),
    Mistake("running_var must be updated with the unbiased batch variance (times n/(n-1), ddof=1), as "
            "torch does; you used the biased one", _bn(_batchnorm, run_ddof=0)),
    Mistake("momentum is the other way round: running = (1 - momentum) * running + momentum * batch "
            "(torch's convention: momentum is the weight of the new batch)", _bn(_batchnorm, swap_momentum=True)),
    Mistake("in eval mode (training=False) normalize with running_mean and running_var, not with the batch's "
            "statistics", _bn(_batchnorm, eval_batch_stats=True)),
    Mistake("eps goes inside the square root: (x - mean) / sqrt(var + eps), not / (sqrt(var) + eps)",
            _bn(_batchnorm, eps_outside=True)),
    Mistake("you averaged over each sample's features (that is layer norm); batch norm averages each "
            "channel over the batch (axis 0, and H, W for images)",
            _bn(_batchnorm, stat_axes=lambda x: tuple(range(1, x.ndim)))),
    Mistake("for (N, C, H, W) input, average each channel over N, H and W (axes (0, 2, 3)), not over N only",
            _bn(_batchnorm, stat_axes=lambda x: (0,))),
    Mistake("in training mode, return the updated running statistics: "
            "(1 - momentum) * running + momentum * batch statistic", _bn(_batchnorm, update="never")),
    Mistake("in eval mode the running statistics stay as they are; update them only when training",
            _bn(_batchnorm, update="always")),
    Mistake("gamma scales and beta shifts: gamma * x_hat + beta", _bn(_batchnorm, swap_affine=True)),
    Mistake("return running_mean and running_var with shape (C,), like the ones passed in",
            _bn(_batchnorm, keepdims_running=True)),
]

BATCHNORM_BACKWARD_MISTAKES = [
    Mistake("your dx treats the batch mean and variance as constants; in training mode they depend on every "
            "x in the batch, so dx needs the terms through them: "
            "dx = inv_std * (g - mean(g) - x_hat * mean(g * x_hat)) with g = dout * gamma",
            _bn(_batchnorm_backward, through_mean=False, through_var=False)),
    Mistake("your dx is missing the term through the variance: subtract x_hat * mean(g * x_hat) as well",
            _bn(_batchnorm_backward, through_var=False)),
    Mistake("your dx is missing the term through the mean: subtract mean(g) as well",
            _bn(_batchnorm_backward, through_mean=False)),
    Mistake("dgamma and dbeta must be summed over the batch (and H, W), one value per channel: gamma and beta "
            "are shared by every sample", _bn(_batchnorm_backward, sum_params=False)),
    Mistake("for (N, C, H, W) input, sum dgamma and dbeta over N, H and W (axes (0, 2, 3)), not over N only",
            _bn(_batchnorm_backward, param_axes=lambda x: (0,))),
    Mistake("dx is missing the factor gamma: the gradient reaching x_hat is dout * gamma",
            _bn(_batchnorm_backward, use_gamma=False)),
    Mistake("dgamma is sum(dout * x_hat), with the normalized x_hat, not the raw x",
            _bn(_batchnorm_backward, dgamma_from_x=True)),
    Mistake("the count n in the mean terms is N*H*W for (N, C, H, W) input (every value of a channel), not N",
            _bn(_batchnorm_backward, count=lambda x: x.shape[0])),
    Mistake("in eval mode the statistics are the fixed running ones, so they are constants: "
            "dx = dout * gamma / sqrt(running_var + eps), without the mean and variance terms",
            _bn(_batchnorm_backward, eval_as_training=True)),
]

LAYERNORM_FORWARD_MISTAKES = [
    Mistake("you normalized over the batch axis (that is batch norm); layer norm normalizes each sample over "
            "its own trailing normalized_shape axes", _bn(_layernorm, stat_axes=lambda x: (0,))),
    Mistake("you normalized with the unbiased variance (ddof=1); layer norm uses the biased one (divide by the "
            "number of normalized values)", _bn(_layernorm, ddof=1)),
    Mistake("eps goes inside the square root: (x - mean) / sqrt(var + eps)", _bn(_layernorm, eps_outside=True)),
    Mistake("normalize over all the trailing axes named by normalized_shape (here more than one), not just "
            "the last axis", _bn(_layernorm, stat_axes=lambda x: (x.ndim - 1,))),
    Mistake("gamma scales and beta shifts: gamma * x_hat + beta", _bn(_layernorm, swap_affine=True)),
]

LAYERNORM_BACKWARD_MISTAKES = [
    Mistake("your dx treats each sample's mean and variance as constants; they depend on x, so dx needs the "
            "terms through them: dx = inv_std * (g - mean(g) - x_hat * mean(g * x_hat)), means over the "
            "normalized axes", _bn(_layernorm_backward, through_mean=False, through_var=False)),
    Mistake("your dx is missing the term through the variance: subtract x_hat * mean(g * x_hat) as well",
            _bn(_layernorm_backward, through_var=False)),
    Mistake("your dx is missing the term through the mean: subtract mean(g) as well",
            _bn(_layernorm_backward, through_mean=False)),
    Mistake("dgamma and dbeta must be summed over the leading (batch) axes, giving normalized_shape: gamma "
            "and beta are shared by every sample", _bn(_layernorm_backward, sum_params=False)),
    Mistake("sum dgamma and dbeta over every leading axis (all but the normalized ones), not only axis 0",
            _bn(_layernorm_backward, param_axes=lambda x: (0,))),
    Mistake("dx is missing the factor gamma: the gradient reaching x_hat is dout * gamma",
            _bn(_layernorm_backward, use_gamma=False)),
    Mistake("dgamma is sum(dout * x_hat), with the normalized x_hat, not the raw x",
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
    if not isinstance(result, (tuple, list)) or len(result) != count:
        got = f"a tuple of {len(result)} values" if isinstance(result, (tuple, list)) else f"a {type(result).__name__}"
        c.fail(f"on case {case}, your `{fn_name}` returned {got}; it should return the tuple ({', '.join(names)})",
               hint=f"end it with `return {', '.join(names)}`")
    return result


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


def _finite_difference_check(c, forward_out, arrays, grads, dout, case, names):
    """Centred differences (h=1e-6, float64) of the learner's own forward against its gradients.

    The torch.autograd comparison before this one is the precise test (and its errors are the ones
    reported); this one shows the backward pass agrees with the learner's own forward pass.
    """
    numeric = numerical_gradient(forward_out, *arrays, dout=dout)
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
    for case, X in _fit_cases(seed):
        result = _unpack(c, c.call(fit_standardizer, X, case=case), 2, "fit_standardizer", ("mean", "std"), case)
        (ref_mean, ref_std), _ = c.reference(_torch_fit_standardizer, X)
        for i, (name, mine, ref) in enumerate(zip(("mean", "std"), result, (ref_mean, ref_std))):
            c.expect_close(mine, ref, case=case, name=name, mistakes=FIT_STANDARDIZER_MISTAKES, mistake_args=(X,),
                           mistake_output=i)


@exercise("normalization.standardize", points=1, compared="torch (X - mean) / std")
def check_standardize(c, standardize, seed=0):
    """standardize(X, mean, std) applies training statistics to X."""
    for case, args in _apply_cases(_fit_standardizer, seed):
        c.compare(standardize, _torch_scale, *args, case=case, mistakes=STANDARDIZE_MISTAKES)


@exercise("normalization.fit_minmax", points=1, compared="torch amin and amax")
def check_fit_minmax(c, fit_minmax, seed=0):
    """fit_minmax(X_train) returns (x_min, x_range) per feature; a constant feature gets range 1."""
    for case, X in _fit_cases(seed):
        result = _unpack(c, c.call(fit_minmax, X, case=case), 2, "fit_minmax", ("x_min", "x_range"), case)
        refs, _ = c.reference(_torch_fit_minmax, X)
        for i, (name, mine, ref) in enumerate(zip(("x_min", "x_range"), result, refs)):
            c.expect_close(mine, ref, case=case, name=name, mistakes=FIT_MINMAX_MISTAKES, mistake_args=(X,),
                           mistake_output=i)


@exercise("normalization.minmax_scale", points=1, compared="torch (X - x_min) / x_range")
def check_minmax_scale(c, minmax_scale, seed=0):
    """minmax_scale(X, x_min, x_range) applies training statistics to X, without clipping."""
    for case, args in _apply_cases(_fit_minmax, seed):
        c.compare(minmax_scale, _torch_scale, *args, case=case, mistakes=MINMAX_SCALE_MISTAKES)


_BN_NAMES = ("out", "cache", "running_mean", "running_var")


@exercise("normalization.batchnorm_forward", points=2, compared="torch.nn.functional.batch_norm")
def check_batchnorm_forward(c, batchnorm_forward, seed=0):
    """out, cache, running_mean, running_var = batchnorm_forward(x, gamma, beta, running_mean, running_var,
    training, momentum, eps), against F.batch_norm (output and updated running statistics)."""
    for case, args in _bn_cases(seed):
        result = _unpack(c, c.call(batchnorm_forward, *args, case=case), 4, "batchnorm_forward", _BN_NAMES, case)
        refs, _ = c.reference(_torch_batchnorm, *args)
        for pick, ref in zip((0, 2, 3), refs):
            c.expect_close(result[pick], ref, case=case, name=_BN_NAMES[pick], mistakes=BATCHNORM_FORWARD_MISTAKES,
                           mistake_args=args, mistake_output=pick)


@exercise("normalization.batchnorm_backward", points=2, compared="torch.autograd and centred differences")
def check_batchnorm_backward(c, batchnorm_backward, batchnorm_forward, seed=0):
    """dx, dgamma, dbeta = batchnorm_backward(dout, cache), with the cache from your batchnorm_forward."""
    rng = np.random.default_rng(seed + 7)
    for number, (case, args) in enumerate(_bn_cases(seed)):
        x, gamma, beta, rm, rv, training, momentum, eps = args
        dout = rng.normal(size=x.shape)
        ref_out, ref_grads = c.reference(_torch_batchnorm_out, *args, dout=dout, wrt=[0, 1, 2])
        _, cache, _, _ = _forward_for_backward(c, batchnorm_forward, args, ref_out, _BN_NAMES, case)
        grads = _unpack(c, c.call(batchnorm_backward, dout, cache, case=case), 3, "batchnorm_backward",
                        ("dx", "dgamma", "dbeta"), case)
        for i, (name, mine, ref) in enumerate(zip(("dx", "dgamma", "dbeta"), grads, ref_grads)):
            c.expect_close(mine, ref, case=case, name=name, mistakes=BATCHNORM_BACKWARD_MISTAKES,
                           mistake_args=(dout, *args), mistake_output=i)
        if number < 8:  # the fixed cases (all small); random ones are covered by torch.autograd above
            _finite_difference_check(
                c, lambda x_, g_, b_: batchnorm_forward(x_, g_, b_, rm, rv, training, momentum, eps)[0],
                [x, gamma, beta], grads, dout, case, ("dx", "dgamma", "dbeta"))


@exercise("normalization.layernorm_forward", points=1, compared="torch.nn.functional.layer_norm")
def check_layernorm_forward(c, layernorm_forward, seed=0):
    """out, cache = layernorm_forward(x, normalized_shape, gamma, beta, eps), against F.layer_norm."""
    for case, args in _ln_cases(seed):
        result = _unpack(c, c.call(layernorm_forward, *args, case=case), 2, "layernorm_forward", ("out", "cache"), case)
        ref, _ = c.reference(_torch_layernorm, *args)
        c.expect_close(result[0], ref, case=case, name="out", mistakes=LAYERNORM_FORWARD_MISTAKES, mistake_args=args,
                       mistake_output=0)


@exercise("normalization.layernorm_backward", points=1, compared="torch.autograd and centred differences")
def check_layernorm_backward(c, layernorm_backward, layernorm_forward, seed=0):
    """dx, dgamma, dbeta = layernorm_backward(dout, cache), with the cache from your layernorm_forward."""
    rng = np.random.default_rng(seed + 9)
    for number, (case, args) in enumerate(_ln_cases(seed)):
        x, normalized_shape, gamma, beta, eps = args
        dout = rng.normal(size=x.shape)
        ref_out, ref_grads = c.reference(_torch_layernorm, *args, dout=dout, wrt=[0, 2, 3])
        _, cache = _forward_for_backward(c, layernorm_forward, args, ref_out, ("out", "cache"), case)
        grads = _unpack(c, c.call(layernorm_backward, dout, cache, case=case), 3, "layernorm_backward",
                        ("dx", "dgamma", "dbeta"), case)
        for i, (name, mine, ref) in enumerate(zip(("dx", "dgamma", "dbeta"), grads, ref_grads)):
            c.expect_close(mine, ref, case=case, name=name, mistakes=LAYERNORM_BACKWARD_MISTAKES,
                           mistake_args=(dout, *args), mistake_output=i)
        if number < 7:
            _finite_difference_check(
                c, lambda x_, g_, b_: layernorm_forward(x_, normalized_shape, g_, b_, eps)[0],
                [x, gamma, beta], grads, dout, case, ("dx", "dgamma", "dbeta"))
