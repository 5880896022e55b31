import numpy as np
import pytest

from course_utils.gradcheck import gradient_check, numerical_gradient


def test_centred_difference_of_a_quadratic_is_exact():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    (grad,) = numerical_gradient(lambda a: np.sum(a ** 2), x)
    np.testing.assert_allclose(grad, 2 * x, rtol=1e-8)


def test_several_inputs_and_an_upstream_gradient():
    rng = np.random.default_rng(0)
    a, b, dout = rng.normal(size=(3, 4)), rng.normal(size=(4, 2)), rng.normal(size=(3, 2))
    da, db = numerical_gradient(lambda a, b: a @ b, a, b, dout=dout)
    np.testing.assert_allclose(da, dout @ b.T, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(db, a.T @ dout, rtol=1e-7, atol=1e-9)


def test_inputs_are_not_modified():
    x = np.array([1.0, 2.0])
    numerical_gradient(lambda a: np.sum(np.sin(a)), x)
    assert x.tolist() == [1.0, 2.0]


def test_sampling_estimates_only_some_entries():
    x = np.random.default_rng(1).normal(size=(50, 40))
    (grad,) = numerical_gradient(lambda a: np.sum(a ** 3), x, samples=25)
    probed = ~np.isnan(grad)
    assert probed.sum() == 25
    # the loss sums 2000 terms, so rounding in L(x±h) limits the estimate to ~1e-7 absolute
    np.testing.assert_allclose(grad[probed], 3 * x[probed] ** 2, rtol=1e-6, atol=1e-6)


def test_gradient_check_catches_a_wrong_gradient():
    x = np.random.default_rng(2).normal(size=5)
    right = gradient_check(lambda a: np.tanh(a), [x], [1 - np.tanh(x) ** 2], verbose=False)[0]
    wrong = gradient_check(lambda a: np.tanh(a), [x], [np.tanh(x) * (1 - np.tanh(x))], verbose=False)[0]
    assert right < 1e-8
    assert wrong > 1e-2


def test_gradient_check_rejects_a_wrongly_shaped_gradient():
    with pytest.raises(ValueError, match="shape"):
        gradient_check(lambda a: a.sum(), [np.zeros((2, 3))], [np.zeros(6)], verbose=False)


def test_gradient_check_says_whether_it_is_a_match(capsys):
    x = np.random.default_rng(3).normal(size=4)
    gradient_check(lambda a: np.tanh(a), [x], [1 - np.tanh(x) ** 2], names=["x"])
    gradient_check(lambda a: np.tanh(a), [x], [1 - np.tanh(x)], names=["x"])
    right, wrong = capsys.readouterr().out.splitlines()
    assert right.endswith(": a match") and "NOT a match" in wrong
