"""Helpers for the from-scratch deep-learning course.

Importing this package is cheap: NumPy, torch and matplotlib are loaded only by the
functions that need them. The public names below are resolved lazily on first use.

Learner-facing:   setup, device, seed_everything, rel_error, assert_close,
                  numerical_gradient, gradient_check, compare_with_torch, skip_if_unfinished
Checks:           course_utils.checks.<lesson>.check_<exercise>(learner_function)
Instructor-facing: the `course` command (course_utils.cli)
"""

from importlib import import_module

__version__ = "0.1.0"

_LAZY = {
    "setup": "course_utils.device",
    "device": "course_utils.device",
    "describe_device": "course_utils.device",
    "seed_everything": "course_utils.device",
    "rel_error": "course_utils.compare",
    "assert_close": "course_utils.compare",
    "numerical_gradient": "course_utils.gradcheck",
    "gradient_check": "course_utils.gradcheck",
    "compare_with_torch": "course_utils.torch_ref",
    "torch_reference": "course_utils.torch_ref",
    "CheckFailure": "course_utils.checking",
    "CheckResult": "course_utils.checking",
    "skip_if_unfinished": "course_utils.checking",
    "load_digits": "course_utils.datasets",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'course_utils' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
