import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module, restored afterwards: on a busy 2-core machine two threads made
    the many small decoding steps of the tests several times slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def text_gpt():
    import engine
    return engine.load("text-gpt")


@pytest.fixture(scope="module")
def dates():
    import engine
    return engine.load("dates-transformer")


@pytest.fixture(scope="session")
def need_browser():
    """Skip a browser test without chromium or playwright, with how to install them (fail when CI is set)."""
    from dashboard import headless
    if headless.chromium_path() is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but chromium is missing. " + headless.INSTALL_HINT)
        pytest.skip(headless.INSTALL_HINT)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("CI is set but playwright is not installed (pip install -r requirements.txt)")
        pytest.skip("playwright is not installed: pip install -r requirements.txt")
