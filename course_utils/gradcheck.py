"""Centred finite differences in float64, the ground truth for every backward pass."""

import numpy as np

from course_utils.compare import is_match, rel_error


def numerical_gradient(f, *arrays, dout=None, h=1e-6, samples=None, seed=0):
    """Estimate the gradient of L = sum(f(*arrays) * dout) with respect to each array.

    f returns an array (or a scalar); dout defaults to ones of f's output shape, so for a
    scalar f this is the plain gradient. Each estimate is (L(x+h) - L(x-h)) / 2h, computed in
    float64 on copies of the inputs. For arrays with more than `samples` entries, only that many
    randomly chosen entries are estimated and the rest are NaN (see gradient_check).
    Returns a list with one gradient array per input.
    """
    if not arrays:
        raise ValueError("numerical_gradient needs at least one array to differentiate with respect to")
    points = [np.array(a, dtype=np.float64, copy=True) for a in arrays]
    if dout is None:
        dout = np.ones_like(np.asarray(f(*points), dtype=np.float64))
    dout = np.asarray(dout, dtype=np.float64)

    def loss():
        return float(np.sum(np.asarray(f(*points), dtype=np.float64) * dout))

    rng = np.random.default_rng(seed)
    grads = []
    for x in points:
        grad = np.full(x.shape, np.nan) if samples is not None and x.size > samples else np.zeros(x.shape)
        for flat in _indices_to_probe(x.size, samples, rng):
            index = np.unravel_index(flat, x.shape)
            original = x[index]
            x[index] = original + h
            plus = loss()
            x[index] = original - h
            minus = loss()
            x[index] = original
            grad[index] = (plus - minus) / (2 * h)
        grads.append(grad)
    return grads


def _indices_to_probe(size, samples, rng):
    if samples is None or size <= samples:
        return range(size)
    return rng.choice(size, size=samples, replace=False)


def gradient_check(f, arrays, analytic_grads, *, dout=None, h=1e-6, samples=None, seed=0, names=None, verbose=True):
    """Compare analytic gradients with centred differences; return the relative error per input.

    Only the entries that were estimated (all, or `samples` of them) are compared. By the course's rule
    (course_utils.compare) a relative error of at most 1e-6 is a match; in float64 with h = 1e-6 a correct
    backward pass gives about 1e-8 or below, a wrong one 1e-3 or more.
    """
    numeric = numerical_gradient(f, *arrays, dout=dout, h=h, samples=samples, seed=seed)
    names = names or [f"input {i}" for i in range(len(arrays))]
    errors = []
    for name, num, ana in zip(names, numeric, analytic_grads):
        ana = np.asarray(ana, dtype=np.float64)
        if ana.shape != num.shape:
            raise ValueError(f"gradient for {name} has shape {ana.shape}, but {name} has shape {num.shape}")
        probed = ~np.isnan(num)
        err = rel_error(ana[probed], num[probed])
        errors.append(err)
        if verbose:
            verdict = "a match" if is_match(err) else "NOT a match (above 1e-6)"
            print(f"gradient check {name}: rel error {err:.2e} over {int(probed.sum())} entries: {verdict}")
    return errors


def expect_finite_differences(c, torch_fn, arrays, analytic, dout, *, case, names, hint, h=1e-6, tol=1e-6):
    """In a check: confirm the learner's gradients `analytic` with centred differences of the float64
    torch forward `torch_fn` at `arrays` (the finite differences are the ground truth, not torch's
    backward). Fails the case through the Checker `c` naming the first gradient that disagrees."""

    def forward(*values):
        out, _ = c.reference(torch_fn, *values)
        return out

    numeric = numerical_gradient(forward, *arrays, dout=dout, h=h)
    for name, ana, num in zip(names, analytic, numeric):
        ana = np.asarray(ana, dtype=np.float64)
        if ana.shape != num.shape:
            c.fail(f"on case {case}, {name} has shape {ana.shape}, expected shape {num.shape}")
        err = rel_error(ana, num)
        c.expect(err <= tol,
                 f"your {name} disagrees with centred finite differences (h={h:g}, float64): "
                 f"rel error {err:.2e}, tolerance {tol:g} (a correct backward gives about 1e-9)",
                 case=case, hint=hint)
