"""Building blocks for lesson 10's from-scratch GAN, on the layers of earlier lessons.

`MLP` stacks lesson 05's `linear_forward`/`linear_backward` with leaky ReLU between the layers (none
after the last one), in the course's convention: `out, cache = net.forward(x)` and
`dx, grads = net.backward(dout, cache)`, where `grads` is a dict with the keys of `net.params`
("w0", "b0", "w1", ...; weights in torch's (out_features, in_features) layout). `backward` returns
the gradient with respect to the input as well: that is the path by which a generator learns
through its discriminator.

`Adam` keeps lesson 04's `adam_step` state for a dict of parameters: `opt.step(net.params, grads)`
replaces each entry of `net.params` by its updated value (new arrays; nothing is changed in place,
so a cache taken before the step still holds the old weights).

`Packed` lets a discriminator judge several samples at once (PacGAN), which makes mode collapse costly.
`softplus` and `sigmoid` are the stable forms used by the losses (lessons 01 and 02).
"""

import numpy as np

from course_utils.layers.dense import linear_backward, linear_forward
from course_utils.layers.optim import adam_step

LEAKY_SLOPE = 0.2


def leaky_relu(x, slope=LEAKY_SLOPE):
    """x where x > 0, slope * x elsewhere (torch.nn.functional.leaky_relu); for 0 <= slope <= 1."""
    return np.maximum(x, slope * x)


def leaky_relu_backward(dout, x, slope=LEAKY_SLOPE):
    """dout where x > 0, slope * dout elsewhere (torch's choice at 0)."""
    return dout * np.where(x > 0, 1.0, slope)


def softplus(x):
    """log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|)."""
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def sigmoid(x):
    """1 / (1 + e^-x) without overflow: exp only ever sees -|x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def param_names(n_layers):
    return [name for i in range(n_layers) for name in (f"w{i}", f"b{i}")]


class MLP:
    """Linear -> leaky ReLU -> ... -> linear, with its parameters in the dict `params`."""

    def __init__(self, params, slope=LEAKY_SLOPE):
        if len(params) % 2 or sorted(params) != sorted(param_names(len(params) // 2)):
            raise ValueError(f"params must hold w0, b0, w1, b1, ...; got {sorted(params)}")
        self.params = {k: np.array(params[k], dtype=np.float64) for k in param_names(len(params) // 2)}
        self.slope = slope

    @classmethod
    def init(cls, sizes, rng, slope=LEAKY_SLOPE):
        """Layer sizes (d_in, hidden, ..., d_out); He-style weights for leaky ReLU, zero biases."""
        params = {}
        gain = 2.0 / (1.0 + slope**2)
        for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            params[f"w{i}"] = rng.normal(size=(d_out, d_in)) * np.sqrt(gain / d_in)
            params[f"b{i}"] = np.zeros(d_out)
        return cls(params, slope)

    @property
    def n_layers(self):
        return len(self.params) // 2

    def forward(self, x):
        """Returns (out, cache); cache holds each layer's input, weights and pre-activation."""
        h, cache = np.asarray(x, dtype=np.float64), []
        for i in range(self.n_layers):
            z, lin_cache = linear_forward(h, self.params[f"w{i}"], self.params[f"b{i}"])
            last = i == self.n_layers - 1
            cache.append((lin_cache, None if last else z))
            h = z if last else leaky_relu(z, self.slope)
        return h, cache

    def backward(self, dout, cache):
        """Returns (dx, grads): the gradient of sum(out * dout) w.r.t. the input and each parameter."""
        if len(cache) != self.n_layers:
            raise ValueError(f"this cache is from a network with {len(cache)} layers, not {self.n_layers}")
        grads, d = {}, np.asarray(dout, dtype=np.float64)
        (x_last, w_last, _), _ = cache[-1]
        out_shape = (np.shape(x_last)[0], np.shape(w_last)[0])
        if d.shape != out_shape:
            raise ValueError(f"dout has shape {d.shape}, but this network's output has shape {out_shape}: "
                             "backward takes the gradient of the loss with respect to this network's own output")
        for i in reversed(range(self.n_layers)):
            lin_cache, z = cache[i]
            if z is not None:
                d = leaky_relu_backward(d, z, self.slope)
            d, grads[f"w{i}"], grads[f"b{i}"] = linear_backward(d, lin_cache)
        return d, {k: grads[k] for k in self.params}

    def __call__(self, x):
        return self.forward(x)[0]

    def copy(self):
        return MLP(self.params, self.slope)


class Adam:
    """Adam (torch.optim.Adam's update, lesson 04's adam_step) over a dict of parameters."""

    def __init__(self, lr=1e-3, betas=(0.5, 0.999), eps=1e-8, on_step=None):
        self.lr, self.betas, self.eps = lr, tuple(betas), eps
        self.state = {}
        self.on_step = on_step  # called as on_step(params, grads) before each step (the checks record steps)

    def step(self, params, grads):
        """Replace every params[k] by its Adam update with gradient grads[k]."""
        if self.on_step is not None:
            self.on_step(params, grads)
        if sorted(grads) != sorted(params):
            raise ValueError(f"grads has the keys {sorted(grads)}, but the parameters are {sorted(params)}")
        for k in params:
            if np.shape(grads[k]) != np.shape(params[k]):
                raise ValueError(f"the gradient for {k} has shape {np.shape(grads[k])}, "
                                 f"the parameter {np.shape(params[k])}")
            params[k], self.state[k] = adam_step(params[k], grads[k], self.state.get(k, {}), self.lr,
                                                 self.betas, self.eps, 0.0)


class Packed:
    """PacGAN's packing (Lin et al., 2018): a discriminator that judges `m` samples at a time.

    Wraps an MLP whose input is m times as wide. forward(x) cuts the batch x of shape (N, d) into N/m packs of
    m consecutive samples, each a row of length m*d, and returns one logit per pack, shape (N/m, 1);
    backward(dout, cache) returns the gradient with respect to x, shaped like x. `params` is the wrapped
    network's dict, so an optimizer that updates it updates the packed discriminator.
    """

    def __init__(self, net, m):
        self.net, self.m = net, int(m)

    @property
    def params(self):
        return self.net.params

    def forward(self, x):
        x = np.asarray(x, dtype=np.float64)
        if x.shape[0] % self.m:
            raise ValueError(f"a batch of {x.shape[0]} samples cannot be cut into packs of {self.m}")
        out, cache = self.net.forward(x.reshape(x.shape[0] // self.m, -1))
        return out, (cache, x.shape)

    def backward(self, dout, cache):
        inner, shape = cache
        dx, grads = self.net.backward(dout, inner)
        return dx.reshape(shape), grads

    def __call__(self, x):
        return self.forward(x)[0]
