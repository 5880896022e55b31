"""Checks for 00_welcome: the warm-up exercise."""

import numpy as np

from course_utils.checking import Mistake, exercise
from course_utils.hints import Suspects

ROW_MEANS_MISTAKES = [
    Mistake("you averaged down the columns (axis 0); each row's mean reduces over the columns, axis 1",
            lambda x: x.mean(axis=0)),
    Mistake("you summed instead of averaging: a mean also divides by the number of columns",
            lambda x: x.sum(axis=1)),
    Mistake("you averaged over the whole array; keep one mean per row",
            lambda x: np.full(x.shape[0], x.mean())),
    Mistake("keep a 1-D result of shape (rows,): without keepdims, the reduced axis disappears",
            lambda x: x.mean(axis=1, keepdims=True)),
    Mistake("you divided by the number of rows; each row's mean divides by the number of columns",
            lambda x: x.sum(axis=1) / x.shape[0]),
]


def _row_means_cases(seed):
    rng = np.random.default_rng(seed)
    yield "x of shape (1, 1)", np.array([[3.5]])
    x = rng.normal(size=(1, 5))
    yield "non-square x of shape (4, 7)", rng.normal(size=(4, 7))
    yield "one row, x of shape (1, 5)", x
    yield "one column, x of shape (6, 1)", rng.normal(size=(6, 1))
    for _ in range(3):
        rows, cols = rng.integers(1, 9, size=2)
        yield f"random x of shape ({rows}, {cols})", rng.normal(size=(rows, cols)) * 10


@exercise("welcome.row_means", points=1, compared="torch.mean(x, dim=1)")
def check_row_means(c, row_means, seed=0):
    """row_means(x) returns the mean of each row of a 2-D array. `seed` picks the random cases."""
    suspects = Suspects(ROW_MEANS_MISTAKES)
    for case, x in _row_means_cases(seed):
        actual = c.call(row_means, x, case=case)
        expected, _ = c.reference(lambda t: t.mean(dim=1), x)
        suspects.expect_close(c, actual, expected, case=case, args=(x,))
