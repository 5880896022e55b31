import os

import pytest


def pytest_collection_modifyitems(config, items):
    """Tests marked `gpu` need CUDA; skip them elsewhere."""
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _known_mistakes_count_as_learner_code(request):
    """The checks' unit tests hand the known mistakes (in course_utils.checks) to the checks as learner code."""
    if not request.module.__name__.startswith("test_checks_"):
        yield
        return
    from course_utils.invoke import trusting

    with trusting("course_utils.checks"):
        yield


def pytest_ignore_collect(collection_path, config):
    """The browser test runs only under `make test-browser` (it needs Chromium and starts JupyterLab)."""
    if collection_path.name == "browser" and not os.environ.get("COURSE_BROWSER_TESTS"):
        return True
    return None
