"""Shared fixtures: where the real data sets are, and GPU availability."""

import os
from pathlib import Path

import pytest

import fuzz._profiles  # noqa: F401  (registers the fuzz profiles before hypothesis loads --hypothesis-profile)

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir():
    """``$SKLRP_DATA`` or ``../shared/data`` beside the checkout (None if absent)."""
    env = os.environ.get("SKLRP_DATA")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if cand.is_dir():
            return cand
    return None


@pytest.fixture(scope="session")
def data_dir():
    """Folder of the real data sets; skips the test with a reason when absent."""
    d = shared_data_dir()
    if d is None:
        pytest.skip("real data not available: set SKLRP_DATA or put ../shared/data beside the checkout")
    return d


def gpu_available():
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def pytest_collection_modifyitems(config, items):
    if gpu_available():
        return
    skip = pytest.mark.skip(reason="needs CuPy and a CUDA GPU (none available here)")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)
