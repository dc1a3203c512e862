"""The loaders on the real data copies, located only through INTRO2AI_REAL_DATA_DIR.

CI sets the variable to ../shared/datasets when that folder exists (see .ci/run).
There, fashion-mnist/ is the complete set (60,000 + 10,000) and mnist/ a 10,000-digit
subset split 8,000 / 2,000. Without the variable every test here skips.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from intro2ai import datasets
from intro2ai.datasets import _registry, download

REAL_DIR = os.environ.get("INTRO2AI_REAL_DATA_DIR", "").strip()

pytestmark = pytest.mark.skipif(
    not REAL_DIR or not Path(REAL_DIR).is_dir(),
    reason="real data not available: set INTRO2AI_REAL_DATA_DIR to the folder holding "
    "mnist/ and fashion-mnist/",
)


def _need(sub: str) -> Path:
    path = Path(REAL_DIR) / sub
    if not path.is_dir():
        pytest.skip(f"{path} not present")
    return path


def test_real_fashion_mnist_shapes_dtypes_counts():
    _need("fashion-mnist")
    (x, y), (xt, yt) = datasets.load_fashion_mnist(REAL_DIR)
    assert x.shape == (60000, 1, 28, 28) and xt.shape == (10000, 1, 28, 28)
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert np.bincount(y, minlength=10).tolist() == [6000] * 10
    assert np.bincount(yt, minlength=10).tolist() == [1000] * 10


def test_real_mnist_subset_shapes_dtypes_counts():
    _need("mnist")
    (x, y), (xt, yt) = datasets.load_mnist(REAL_DIR, normalize=False, flatten=True)
    assert x.shape == (8000, 784) and xt.shape == (2000, 784)
    assert x.dtype == np.uint8 and int(x.max()) == 255
    assert len(y) == 8000 and len(yt) == 2000
    counts = np.bincount(np.concatenate([y, yt]), minlength=10)
    assert counts.sum() == 10000 and counts.min() > 800  # about 1,000 per class


def test_real_fashion_mnist_verifies_as_repack():
    """The Debian copy re-compresses the upstream IDX data: its content pins match."""
    folder = _need("fashion-mnist")
    spec = _registry.get_spec("fashion-mnist")
    for f in spec.files:
        status = download.check_file(folder / f.name, f)
        assert status in ("OK", "OK (repacked)"), (f.name, status)
