"""Checks for 08_cnn: a small convolutional network assembled from the course's own layers.

The network, as the lesson defines it (every shape is read from the parameters):

    conv(w1, b1, "same" padding) -> ReLU -> 2x2 max pool -> conv(w2, b2, "same") -> ReLU -> 2x2 max pool
    -> flatten (NCHW order, as torch.flatten(x, 1)) -> linear(w3, b3) -> mean softmax cross-entropy
    + (reg / 2) * (|w1|^2 + |w2|^2 + |w3|^2)

Four exercises: `flatten`/`unflatten`, `cnn_forward(x, y, params, reg) -> (loss, logits, cache)`,
`cnn_backward(cache) -> grads` (a dict shaped like params) and
`train_step(params, state, x, y, lr, momentum, reg) -> (new_params, new_state, loss)`.
The references are the same network in torch.nn.functional (float64, course device) and
torch.optim.SGD with momentum. The known mistakes are the same network in NumPy with one thing
wrong (`_numpy_cnn`), written here from the course's reference layers: instructor code only.

Learner code is reached only through `c.call`; `cnn_backward` gets the cache that the learner's own
`cnn_forward` returned (plain data), and `train_step` gets the parameters and state it returned the
step before.
"""

import numpy as np

from course_utils.checking import Mistake, exercise

PARAM_NAMES = ("w1", "b1", "w2", "b2", "w3", "b3")
WEIGHTS = ("w1", "w2", "w3")

# ----------------------------------------------------------------------------------------------
# flatten / unflatten
# ----------------------------------------------------------------------------------------------


def _flatten_cases(seed=0):
    """(description, x). Shapes with C, H and W all different, so that every wrong order shows."""
    rng = np.random.default_rng(seed)
    shapes = [("", (2, 3, 4, 5)), ("batch of 1, ", (1, 2, 3, 4)), ("", (3, 4, 2, 6)),
              ("one channel, ", (2, 1, 3, 5)), ("1x1 feature maps, ", (3, 5, 1, 1)),
              ("the lesson's shape, ", (4, 16, 7, 7))]
    for _ in range(2):
        shapes.append(("random shape ", tuple(int(v) for v in rng.integers(1, 7, size=4))))
    for note, shape in shapes:
        yield f"{note}x of shape {shape}", rng.normal(size=shape)


def _flatten_nhwc(x):
    return x.transpose(0, 2, 3, 1).reshape(x.shape[0], -1)


def _flatten_column_major(x):
    return np.stack([xi.ravel(order="F") for xi in x]) if len(x) else x.reshape(0, -1)


def _flatten_whw_swapped(x):
    return x.transpose(0, 1, 3, 2).reshape(x.shape[0], -1)


FLATTEN_MISTAKES = [
    Mistake("you moved the channel axis last before flattening (the NHWC order of TensorFlow and of images "
            "on disk). torch's flatten and nn.Flatten keep NCHW order: all of channel 0 (row by row), "
            "then all of channel 1, ... A linear layer copied between the two orders multiplies the wrong "
            "pixels", _flatten_nhwc),
    Mistake("you read each example column by column (Fortran order). torch reads the last axis fastest: "
            "within a channel, row by row (C order, NumPy's default)", _flatten_column_major),
    Mistake("you swapped the height and width axes before flattening; within a channel torch reads row by "
            "row, with the width axis varying fastest", _flatten_whw_swapped),
    Mistake("keep the batch axis: flatten turns (N, C, H, W) into (N, C*H*W), one row per example, and "
            "leaves the examples apart", lambda x: x.reshape(-1)),
]

UNFLATTEN_MISTAKES = [
    Mistake("your unflatten undoes a channels-last flatten: it treats each row as (H, W, C). The rows came "
            "from an NCHW flatten, so read them back in that order: (C, H, W) per example",
            lambda d, shape: d.reshape(shape[0], shape[2], shape[3], shape[1]).transpose(0, 3, 1, 2)),
    Mistake("your unflatten reads each row column by column (Fortran order); the flatten wrote it row by "
            "row, last axis fastest, so read it back the same way",
            lambda d, shape: np.stack([r.reshape(shape[1:], order="F") for r in d])),
    Mistake("unflatten must give the gradient the shape of flatten's input, (N, C, H, W): the layer below "
            "expects it", lambda d, shape: d),
]


def _torch_flatten(x):
    import torch

    return torch.flatten(x, 1)


@exercise("cnn.flatten", points=1, compared="torch.flatten(x, 1) and its autograd gradient")
def check_cnn_flatten(c, flatten, unflatten, seed=0):
    """flatten(x) -> (N, C*H*W) in torch's order; unflatten(dflat, shape) -> flatten's backward pass."""
    rng = np.random.default_rng(seed + 1)
    for described, x in _flatten_cases(seed):
        flat = c.call(flatten, x, case=described)
        expected, _ = c.reference(_torch_flatten, x)
        c.expect_close(flat, expected, case=described, name="flatten(x)", mistakes=FLATTEN_MISTAKES,
                       mistake_args=(x,))
        dflat = rng.normal(size=expected.shape)
        shape = tuple(int(n) for n in x.shape)
        described_back = f"{described}, unflatten(dflat, {shape})"
        dx = c.call(unflatten, dflat, shape, case=described_back)
        _, (expected_dx,) = c.reference(_torch_flatten, x, dout=dflat)
        c.expect_close(dx, expected_dx, case=described_back, name="unflatten(dflat, shape)",
                       mistakes=UNFLATTEN_MISTAKES, mistake_args=(dflat, shape))


# ----------------------------------------------------------------------------------------------
# The network in NumPy, right and wrong (instructor code, from the course's reference layers)
# ----------------------------------------------------------------------------------------------


def _numpy_cnn(x, y, params, reg=0.0, *, relu1=True, relu2=True, flatten_order="nchw", loss_sum=False,
               penalty="half", relu1_backward=True, relu2_backward=True, unflatten_order="nchw",
               weight_grad="sum", grad_scale=1.0):
    """(loss, logits, grads) of the lesson's network, with switches that produce its common wrong variants.

    penalty: "half" (right: reg/2 * sum w^2), "none", "full" (reg * sum w^2), "biases" (biases too).
    weight_grad: "sum" (right: layer gradient + reg * w), "layer_only", "penalty_only".
    """
    from course_utils.layers.conv import conv2d_backward, conv2d_forward
    from course_utils.layers.dense import linear_backward, linear_forward, relu_backward, softmax_cross_entropy
    from course_utils.layers.pool import max_pool2d_backward, max_pool2d_forward

    w1, b1, w2, b2, w3, b3 = (np.asarray(params[k], dtype=np.float64) for k in PARAM_NAMES)
    z1, conv1 = conv2d_forward(x, w1, b1, padding=w1.shape[-1] // 2)
    h1 = np.maximum(z1, 0.0) if relu1 else z1
    p1, pool1 = max_pool2d_forward(h1, 2)
    z2, conv2 = conv2d_forward(p1, w2, b2, padding=w2.shape[-1] // 2)
    h2 = np.maximum(z2, 0.0) if relu2 else z2
    p2, pool2 = max_pool2d_forward(h2, 2)
    f = _flatten_nhwc(p2) if flatten_order == "nhwc" else p2.reshape(p2.shape[0], -1)
    logits, fc = linear_forward(f, w3, b3)
    data_loss, dlogits = softmax_cross_entropy(logits, y)
    if loss_sum:
        data_loss, dlogits = data_loss * len(y), dlogits * len(y)
    squares = sum(float(np.sum(w ** 2)) for w in (w1, w2, w3))
    loss = data_loss + {"half": 0.5 * reg * squares, "none": 0.0, "full": reg * squares,
                        "biases": 0.5 * reg * (squares + sum(float(np.sum(b ** 2)) for b in (b1, b2, b3)))}[penalty]
    dlogits = dlogits * grad_scale
    df, dw3, db3 = linear_backward(dlogits, fc)
    if unflatten_order == "nhwc":
        n, ch, hh, ww = p2.shape
        dp2 = df.reshape(n, hh, ww, ch).transpose(0, 3, 1, 2)
    else:
        dp2 = df.reshape(p2.shape)
    dh2 = max_pool2d_backward(dp2, pool2)
    dz2 = relu_backward(dh2, z2) if relu2 and relu2_backward else dh2
    dp1, dw2, db2 = conv2d_backward(dz2, conv2)
    dh1 = max_pool2d_backward(dp1, pool1)
    dz1 = relu_backward(dh1, z1) if relu1 and relu1_backward else dh1
    _, dw1, db1 = conv2d_backward(dz1, conv1)
    grads = {"b1": db1, "b2": db2, "b3": db3}
    for name, layer_grad, w in (("w1", dw1, w1), ("w2", dw2, w2), ("w3", dw3, w3)):
        grads[name] = {"sum": layer_grad + reg * w, "layer_only": layer_grad,
                       "penalty_only": reg * w}[weight_grad]
    return loss, logits, {k: grads[k] for k in PARAM_NAMES}


def _cnn_variant(**switches):
    def wrong(x, y, params, reg=0.0):
        loss, logits, grads = _numpy_cnn(x, y, params, reg, **switches)
        return loss, logits, grads

    return wrong


def _torch_logits(x, w1, b1, w2, b2, w3, b3):
    import torch
    import torch.nn.functional as F

    h = F.max_pool2d(F.relu(F.conv2d(x, w1, b1, padding=w1.shape[-1] // 2)), 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, w2, b2, padding=w2.shape[-1] // 2)), 2)
    return F.linear(torch.flatten(h, 1), w3, b3)


def _torch_loss(x, y, w1, b1, w2, b2, w3, b3, reg=0.0):
    import torch.nn.functional as F

    logits = _torch_logits(x, w1, b1, w2, b2, w3, b3)
    penalty = (w1 ** 2).sum() + (w2 ** 2).sum() + (w3 ** 2).sum()
    return F.cross_entropy(logits, y) + 0.5 * reg * penalty


def _init_params(rng, c_in, c1, k1, c2, k2, hw2, n_classes):
    """He-scaled random weights and small random biases (so that ReLU and pooling both matter)."""
    fan1, fan2, fan3 = c_in * k1 * k1, c1 * k2 * k2, c2 * hw2
    return {"w1": rng.normal(size=(c1, c_in, k1, k1)) * np.sqrt(2.0 / fan1),
            "b1": rng.normal(size=c1) * 0.3,
            "w2": rng.normal(size=(c2, c1, k2, k2)) * np.sqrt(2.0 / fan2),
            "b2": rng.normal(size=c2) * 0.3,
            "w3": rng.normal(size=(n_classes, fan3)) * np.sqrt(1.0 / fan3),
            "b3": rng.normal(size=n_classes) * 0.3}


def _cnn_cases(seed=0):
    """(description, x, y, params, reg): fixed shapes first (reg = 0, then reg > 0), then seeded random ones."""
    rng = np.random.default_rng(seed)
    specs = [  # N, C_in, H, W, conv1 filters, k1, conv2 filters, k2, classes, reg
        (2, 1, 8, 8, 2, 3, 3, 3, 4, 0.0),
        (3, 1, 12, 8, 4, 5, 3, 3, 5, 0.0),
        (1, 1, 8, 8, 3, 3, 2, 3, 3, 0.0),
        (2, 3, 8, 12, 2, 3, 4, 3, 4, 0.1),
        (3, 1, 12, 10, 3, 5, 2, 3, 3, 0.05),
        (2, 1, 28, 28, 8, 5, 16, 3, 10, 1e-3),
    ]
    for _ in range(2):
        n, c1, c2, classes = (int(v) for v in rng.integers(1, 5, size=4))
        h, w = (int(v) for v in rng.integers(2, 4, size=2) * 4)
        specs.append((n, 1, h, w, c1, int(rng.choice([3, 5])), c2, 3, classes + 1,
                      float(rng.choice([0.0, 0.02]))))
    for n, c_in, h, w, c1, k1, c2, k2, classes, reg in specs:
        x = rng.normal(size=(n, c_in, h, w))
        y = rng.integers(0, classes, size=n)
        params = _init_params(rng, c_in, c1, k1, c2, k2, (h // 4) * (w // 4), classes)
        shapes = ", ".join(f"{k} {params[k].shape}" for k in WEIGHTS)
        described = f"x of shape {x.shape}, {shapes}, reg = {reg:g}"
        if n == 1:
            described = "batch of 1: " + described
        if h % 4 or w % 4 or (h // 2) % 2 or (w // 2) % 2:
            described += " (the second pool drops an odd row or column, as torch's does)"
        yield described, x, y, params, reg


_MISSING_RELU = ("without a ReLU between them, a convolution followed by another linear map collapses into "
                 "one linear map, and the network loses its nonlinearity. ")
FORWARD_MISTAKES = [
    Mistake(_MISSING_RELU + "ReLU comes after *each* convolution; yours are both missing",
            _cnn_variant(relu1=False, relu2=False)),
    Mistake(_MISSING_RELU + "The ReLU after the first convolution is missing (before the first pool)",
            _cnn_variant(relu1=False)),
    Mistake(_MISSING_RELU + "The ReLU after the second convolution is missing (before the second pool)",
            _cnn_variant(relu2=False)),
    Mistake("the features reach the linear layer in the wrong order: you flattened channels-last (NHWC). "
            "The weights w3 are laid out for torch's NCHW flatten, channel by channel; use your `flatten`",
            _cnn_variant(flatten_order="nhwc")),
    Mistake("your loss is the sum over the batch; the lesson's loss (like F.cross_entropy and "
            "nn.CrossEntropyLoss) is the mean, so that the learning rate does not depend on the batch size",
            _cnn_variant(loss_sum=True)),
    Mistake("the L2 penalty is missing from the loss: with reg > 0 the loss is the mean cross-entropy plus "
            "the penalty on the weights (section 2)",
            _cnn_variant(penalty="none")),
    Mistake("the penalty is half of reg times the sum of the squared weights (the 1/2 keeps its gradient "
            "simple); yours lacks the 1/2",
            _cnn_variant(penalty="full")),
    Mistake("only the weights w1, w2, w3 are penalised, not the biases (a bias does not make the network "
            "more sensitive to its input)", _cnn_variant(penalty="biases")),
]


def _check_forward_result(c, result, described):
    if not (isinstance(result, tuple) and len(result) == 3):
        c.fail(f"on case {described}, cnn_forward returned {type(result).__name__}"
               f"{' of length ' + str(len(result)) if isinstance(result, (tuple, list)) else ''}; "
               "it should return the triple (loss, logits, cache)",
               hint="return three things, in this order: the loss, the logits and the cache (what cnn_backward needs)")
    loss = result[0]
    if isinstance(loss, np.ndarray) and loss.shape != ():
        c.fail(f"on case {described}, the loss has shape {loss.shape}; it should be one number",
               hint="the loss is the mean cross-entropy over the batch plus the penalty: a single number")
    return result


def _forward_checked(c, cnn_forward, described, x, y, params, reg, what="cnn_forward"):
    """Call the learner's forward, compare logits and loss with torch; return the learner's result."""
    result = _check_forward_result(c, c.call(cnn_forward, x, y, params, reg, case=described), described)
    args = [params[k] for k in PARAM_NAMES]
    expected_logits, _ = c.reference(_torch_logits, x, *args)
    expected_loss, _ = c.reference(_torch_loss, x, y, *args, reg=reg)
    mistake_args = (x, y, params, reg)
    c.expect_close(result[1], expected_logits, case=described, name=f"logits from {what}",
                   mistakes=FORWARD_MISTAKES, mistake_args=mistake_args, mistake_output=1)
    c.expect_close(result[0], expected_loss, case=described, name=f"loss from {what}",
                   mistakes=FORWARD_MISTAKES, mistake_args=mistake_args, mistake_output=0)
    return result


@exercise("cnn.forward", points=2, compared="the same network in torch.nn.functional",
          uses=("course_utils.layers",))
def check_cnn_forward(c, cnn_forward, seed=0):
    """cnn_forward(x, y, params, reg) -> (loss, logits, cache), against F.conv2d/relu/max_pool2d/linear."""
    for described, x, y, params, reg in _cnn_cases(seed):
        _forward_checked(c, cnn_forward, described, x, y, params, reg)


# ----------------------------------------------------------------------------------------------
# cnn_backward
# ----------------------------------------------------------------------------------------------


def _grads_variant(**switches):
    def wrong(x, y, params, reg=0.0):
        return _numpy_cnn(x, y, params, reg, **switches)[2]

    return wrong


def _summed_loss_grads(x, y, params, reg=0.0):
    """The gradients of the summed cross-entropy (N times the mean's) plus the right penalty gradients."""
    grads = _numpy_cnn(x, y, params, 0.0, grad_scale=float(len(y)))[2]
    return {k: g + reg * np.asarray(params[k]) if k in WEIGHTS else g for k, g in grads.items()}


_SHARED = ("each weight is used twice: once in its layer and once in the penalty, so its gradient has two "
           "contributions that must be added up, as the gradients of any reused value are. ")
BACKWARD_MISTAKES = [
    Mistake(_SHARED + "Yours holds only the penalty's contribution: it overwrote the gradient that came back "
            "through the layer", _grads_variant(weight_grad="penalty_only")),
    Mistake(_SHARED + "Yours holds only the contribution that came back through the layer; the penalty's "
            "own gradient (section 2) is missing or was overwritten", _grads_variant(weight_grad="layer_only")),
    Mistake("the gradient skipped a ReLU's backward pass: after the first max pool's backward, the "
            "gradient must be zeroed where the first convolution's output was <= 0",
            _grads_variant(relu1_backward=False)),
    Mistake("the gradient skipped a ReLU's backward pass: after the second max pool's backward, the "
            "gradient must be zeroed where the second convolution's output was <= 0",
            _grads_variant(relu2_backward=False)),
    Mistake("the gradient skipped both ReLUs' backward passes: each must zero the gradient where its "
            "convolution's output was <= 0", _grads_variant(relu1_backward=False, relu2_backward=False)),
    Mistake("your unflatten in the backward pass reads the gradient channels-last (NHWC), but the forward "
            "pass flattened NCHW: the gradient reaches the wrong positions. Undo exactly the flatten you did",
            _grads_variant(unflatten_order="nhwc")),
    Mistake("your gradients are those of the summed loss, N times too large: the loss is the mean over the "
            "batch, so its gradient with respect to the logits carries a factor 1/N", _summed_loss_grads),
]


def _check_grads_result(c, grads, described):
    if not isinstance(grads, dict):
        c.fail(f"on case {described}, cnn_backward returned {type(grads).__name__}; it should return a dict "
               "with one gradient per parameter", hint="return a dict with the same keys as params")
    missing = [k for k in PARAM_NAMES if k not in grads]
    if missing:
        c.fail(f"on case {described}, the gradient dict has no {', '.join(repr(k) for k in missing)}",
               hint="return one gradient per parameter, under the parameter's own name")


@exercise("cnn.backward", points=3, compared="torch.autograd on the same network",
          uses=("course_utils.layers",))
def check_cnn_backward(c, cnn_forward, cnn_backward, seed=0):
    """cnn_backward(cache) -> {"w1": dL/dw1, ...}, for the cache your cnn_forward returns."""
    for described, x, y, params, reg in _cnn_cases(seed):
        result = c.call(cnn_forward, x, y, params, reg, case=described)
        result = _check_forward_result(c, result, described)
        args = [params[k] for k in PARAM_NAMES]
        expected_loss, expected_grads = c.reference(_torch_loss, x, y, *args, reg=reg, dout=np.array(1.0),
                                                    wrt=list(range(2, 8)))
        if not _same(result[0], expected_loss):
            c.fail(f"on case {described}, your cnn_forward's loss does not match torch's, so its cache cannot "
                   "give the right gradients", hint="make check_cnn_forward pass first")
        grads = c.call(cnn_backward, result[2], case=described)
        _check_grads_result(c, grads, described)
        for name, expected in zip(PARAM_NAMES, expected_grads):
            c.expect_close(grads[name], expected, case=described, name=f"grads['{name}']",
                           mistakes=BACKWARD_MISTAKES, mistake_args=(x, y, params, reg), mistake_output=name)


def _same(actual, expected):
    try:
        a = np.asarray(actual, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    e = np.asarray(expected, dtype=np.float64)
    return a.shape == e.shape and bool(np.allclose(a, e, rtol=1e-6, atol=1e-8))


# ----------------------------------------------------------------------------------------------
# train_step: one step of SGD with momentum on the whole network
# ----------------------------------------------------------------------------------------------


def _step_variant(fresh_state=False, uphill=False, weights_only=False, decay_twice=False):
    """One SGD-with-momentum step of the network from (params, state), with switches for wrong variants."""

    def wrong(params, state, x, y, lr, momentum=0.9, reg=0.0):
        loss, _, grads = _numpy_cnn(x, y, params, reg)
        new_params, new_state = {}, {}
        for name in PARAM_NAMES:
            g = grads[name] + (reg * params[name] if decay_twice and name in WEIGHTS else 0.0)
            old = {} if fresh_state else (state or {}).get(name, {})
            buf = momentum * old["momentum_buffer"] + g if "momentum_buffer" in old else np.array(g, copy=True)
            if weights_only and name not in WEIGHTS:
                new_params[name] = params[name]
            else:
                new_params[name] = params[name] + lr * buf if uphill else params[name] - lr * buf
            new_state[name] = {"momentum_buffer": buf}
        return new_params, new_state, loss

    return wrong


STEP_MISTAKES = [
    Mistake("your parameters moved uphill: a gradient step subtracts the learning rate times the update",
            _step_variant(uphill=True)),
    Mistake("only the weights moved: every parameter, biases included, takes a step along its own gradient",
            _step_variant(weights_only=True)),
    Mistake("the penalty's gradient is counted twice: cnn_backward's gradients already include it, so the "
            "optimizer must not add weight decay on top", _step_variant(decay_twice=True)),
    Mistake("from the second step on yours is plain SGD: the momentum buffer must carry over from step to "
            "step. Each parameter's optimizer state comes in with `state`, and the updated one must go back "
            "out in new_state, to be passed to the next step", _step_variant(fresh_state=True)),
]


def _torch_sgd_run(params, batches, lr, momentum, reg):
    """Losses and parameters after each step of torch.optim.SGD(momentum) on the network (float64)."""
    import torch

    from course_utils.torch_ref import exact_float_mode, to_numpy, to_torch

    with exact_float_mode():
        tensors = [to_torch(params[k], requires_grad=True) for k in PARAM_NAMES]
        opt = torch.optim.SGD(tensors, lr=lr, momentum=momentum)
        out = []
        for x, y in batches:
            opt.zero_grad()
            loss = _torch_loss(to_torch(x), to_torch(y), *tensors, reg=reg)
            loss.backward()
            opt.step()
            out.append((float(loss.item()), {k: to_numpy(t).copy() for k, t in zip(PARAM_NAMES, tensors)}))
    return out


def _step_cases(seed=0):
    """(description, params, batches, lr, momentum, reg): a few steps each, the state carried along."""
    rng = np.random.default_rng(seed)
    for n, h, w, c1, k1, c2, classes, steps, lr, momentum, reg in [
            (4, 8, 8, 2, 3, 3, 3, 3, 0.1, 0.9, 0.01),
            (3, 12, 8, 3, 5, 2, 4, 3, 0.05, 0.5, 0.1),
            (2, 8, 12, 2, 3, 2, 3, 2, 0.2, 0.9, 0.0)]:
        params = _init_params(rng, 1, c1, k1, c2, 3, (h // 4) * (w // 4), classes)
        batches = [(rng.normal(size=(n, 1, h, w)), rng.integers(0, classes, size=n)) for _ in range(steps)]
        shapes = ", ".join(f"{k} {params[k].shape}" for k in WEIGHTS)
        yield (f"batches of shape {(n, 1, h, w)}, {shapes}, lr = {lr:g}, momentum = {momentum:g}, reg = {reg:g}",
               params, batches, lr, momentum, reg)


def _fresh_state():
    return {name: {} for name in PARAM_NAMES}


@exercise("cnn.train_step", points=2, compared="torch.optim.SGD(momentum=...) on the same network",
          uses=("course_utils.layers",))
def check_cnn_train_step(c, train_step, seed=0):
    """train_step(params, state, x, y, lr, momentum, reg) -> (new_params, new_state, loss), step by step."""
    for described, params, batches, lr, momentum, reg in _step_cases(seed):
        expected_run = _torch_sgd_run(params, batches, lr, momentum, reg)
        current, state = {k: v.copy() for k, v in params.items()}, _fresh_state()
        for step, ((x, y), (expected_loss, expected_params)) in enumerate(zip(batches, expected_run), start=1):
            where = f"{described}, step {step} of {len(batches)}"
            args = (current, state, x, y, lr, momentum, reg)
            result = c.call(train_step, *args, case=where)
            if not (isinstance(result, tuple) and len(result) == 3 and isinstance(result[0], dict)):
                c.fail(f"on case {where}, train_step should return (new_params, new_state, loss), with "
                       "new_params a dict like params",
                       hint="return three things, in this order: the new parameters (a dict like params), the new state "
                            "and the loss")
            new_params, new_state, loss = result
            missing = [k for k in PARAM_NAMES if k not in new_params]
            if missing:
                c.fail(f"on case {where}, new_params has no {', '.join(repr(k) for k in missing)}",
                       hint="return every parameter, updated, under its own name")
            c.expect_close(loss, expected_loss, case=where, name="loss (before the step)",
                           mistakes=[], mistake_args=args)
            for name in PARAM_NAMES:
                picked = [Mistake(m.hint, lambda *a, fn=m.fn, key=name: fn(*a)[0][key]) for m in STEP_MISTAKES]
                c.expect_close(new_params[name], expected_params[name], case=where, name=f"new_params['{name}']",
                               mistakes=picked, mistake_args=args)
            current, state = new_params, new_state
