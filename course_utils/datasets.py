"""Small data sets bundled with the course, so lessons never download anything at run time.

See course_utils/data/README.md for each file's source, licence and format.
"""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
DIGITS_FILE = DATA_DIR / "digits.csv.gz"
DIGITS_SHAPE = (1797, 64)


def load_digits():
    """The 8x8 handwritten digits (UCI optdigits test part, as shipped by scikit-learn).

    Returns (X, y): X float64 of shape (1797, 64) with pixel values 0..16 (row-major 8x8 images),
    y int64 of shape (1797,) with labels 0..9. Each call returns fresh arrays.
    """
    import numpy as np

    if not DIGITS_FILE.is_file():
        raise FileNotFoundError(f"the bundled digits file is missing: {DIGITS_FILE}; reinstall course_utils")
    table = np.loadtxt(DIGITS_FILE, delimiter=",", dtype=np.float64, ndmin=2)
    if table.shape != (DIGITS_SHAPE[0], DIGITS_SHAPE[1] + 1):
        raise ValueError(f"{DIGITS_FILE} holds a table of shape {table.shape}, expected "
                         f"({DIGITS_SHAPE[0]}, {DIGITS_SHAPE[1] + 1}): the file is damaged")
    X = np.ascontiguousarray(table[:, :-1])
    y = table[:, -1].astype(np.int64)
    return X, y
