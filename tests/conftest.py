"""Shared test configuration: single-threaded BLAS/torch and the hypothesis profile."""

from __future__ import annotations

import os
import tempfile

# Before numpy / torch load their thread pools (the Makefile exports the same).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

# Trained zoo networks are cached in REPLENS_CACHE: one folder per test session, never the
# user's own cache (tests must not read results a previous run or another checkout left).
os.environ["REPLENS_CACHE"] = tempfile.mkdtemp(prefix="replens-test-cache-")

import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

torch.set_num_threads(1)

# Property tests draw seeds and build well-conditioned data from them, so every example is
# meaningful; a modest number of examples keeps the suite fast. deadline=None: the first
# call of a measure can be slow (imports, LAPACK warm-up) without being a bug.
settings.register_profile(
    "replens",
    max_examples=50,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
# More examples on demand: HYPOTHESIS_PROFILE=thorough pytest tests/test_properties.py
settings.register_profile("thorough", parent=settings.get_profile("replens"), max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "replens"))


def pytest_configure(config):
    config.addinivalue_line("markers", "cuda: needs a CUDA device; skipped with that reason where there is none")


def pytest_collection_modifyitems(config, items):
    """One CUDA marker for the suite: ``@pytest.mark.cuda`` tests skip cleanly without a GPU."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="no CUDA device")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)
