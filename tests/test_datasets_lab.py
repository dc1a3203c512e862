"""intro2ai.datasets.lab: the lab notebooks' settings, data loading with the FAST MODE
fallback, and deskewing."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from intro2ai import datasets
from intro2ai.datasets import lab, synthetic

REAL_DIR = os.environ.get("INTRO2AI_REAL_DATA_DIR", "").strip()
needs_real_mnist = pytest.mark.skipif(
    not (REAL_DIR and (Path(REAL_DIR) / "mnist").is_dir()),
    reason="real data not available: set INTRO2AI_REAL_DATA_DIR to the folder holding mnist/",
)

# Bilinear resampling of a one-pixel line leaves residual slant; a deskewed image keeps
# |alpha| below this (the slanted input has alpha 0.5).
DESKEW_ALPHA_TOL = 0.05


@pytest.fixture
def idx_root(tmp_path):
    synthetic.write_idx_set(tmp_path / "mnist", n_train=60, n_test=30, seed=4)
    synthetic.write_idx_set(tmp_path / "fashion-mnist", n_train=40, n_test=20, seed=5)
    return tmp_path


# ---------------------------------------------------------------- settings


@pytest.mark.parametrize(
    "value, expected", [("", False), ("0", False), (" 0 ", False), ("1", True), ("yes", True)]
)
def test_fast_mode(value, expected):
    assert lab.fast_mode({lab.ENV_FAST: value}) is expected
    assert lab.fast_mode({}) is False


def test_lab_dataset_default_and_choice():
    assert lab.lab_dataset({}) == "mnist"
    assert lab.lab_dataset({lab.ENV_LAB_DATASET: " "}) == "mnist"
    assert lab.lab_dataset({lab.ENV_LAB_DATASET: "fashion-mnist"}) == "fashion-mnist"


def test_lab_dataset_unknown_is_a_bilingual_error():
    with pytest.raises(ValueError) as info:
        lab.lab_dataset({lab.ENV_LAB_DATASET: "cifar10"})
    msg = str(info.value)
    assert "'cifar10'" in msg and "mnist" in msg and "데이터셋" in msg


# ---------------------------------------------------------------- loading


@pytest.mark.parametrize("dataset, n_train, n_test", [("mnist", 60, 30), ("fashion-mnist", 40, 20)])
@pytest.mark.parametrize("fast", [False, True])
def test_real_files_are_read_whole(idx_root, dataset, n_train, n_test, fast):
    data = lab.load_lab_data(dataset, fast=fast, data_dir=idx_root)
    (x_train, y_train), (x_test, y_test) = (
        datasets.load_mnist(idx_root)
        if dataset == "mnist"
        else datasets.load_fashion_mnist(idx_root)
    )
    assert data.source == "real" and data.dataset == dataset
    assert data.data_dir == idx_root
    assert (
        data.summary()
        .splitlines()[0]
        .startswith(f"{dataset} (real): x_train ({n_train}, 1, 28, 28)")
    )
    assert "FAST MODE" not in data.summary()
    assert data.x_train.shape == (n_train, 1, 28, 28) and data.x_train.dtype == np.float32
    assert data.x_test.shape == (n_test, 1, 28, 28) and data.y_test.dtype == np.int64
    np.testing.assert_array_equal(data.x_train, x_train)
    np.testing.assert_array_equal(data.y_test, y_test)
    expected_classes = (
        datasets.MNIST_CLASSES if dataset == "mnist" else datasets.FASHION_MNIST_CLASSES
    )
    assert data.classes == expected_classes


def test_subset_sizes_take_the_first_images(idx_root):
    whole = lab.load_lab_data("mnist", data_dir=idx_root)
    part = lab.load_lab_data("mnist", n_train=25, n_test=7, data_dir=idx_root)
    assert len(part.x_train) == len(part.y_train) == 25
    assert len(part.x_test) == len(part.y_test) == 7
    np.testing.assert_array_equal(part.x_train, whole.x_train[:25])
    np.testing.assert_array_equal(part.y_test, whole.y_test[:7])
    bigger = lab.load_lab_data("mnist", n_train=10_000, data_dir=idx_root)
    assert len(bigger.x_train) == 60  # fewer images than asked: the whole set


def test_normalize_false_gives_raw_uint8(idx_root):
    data = lab.load_lab_data("mnist", normalize=False, data_dir=idx_root)
    assert data.x_train.dtype == np.uint8 and data.x_train.max() > 1


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_bad_subset_size(idx_root, bad):
    with pytest.raises(ValueError, match="n_train"):
        lab.load_lab_data("mnist", n_train=bad, data_dir=idx_root)


def test_unknown_dataset(idx_root):
    with pytest.raises(ValueError, match="cifar10"):
        lab.load_lab_data("cifar10", data_dir=idx_root)


def test_fast_mode_falls_back_to_synthetic(tmp_path):
    data = lab.load_lab_data("mnist", fast=True, n_train=120, n_test=50, data_dir=tmp_path, seed=3)
    assert data.source == "synthetic" and data.data_dir is None
    assert data.x_train.shape == (120, 1, 28, 28) and data.x_test.shape == (50, 1, 28, 28)
    assert (
        data.x_train.dtype == np.float32 and 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
    )
    assert set(np.unique(data.y_train)) == set(range(10))  # balanced classes
    assert "[FAST MODE]" in data.summary() and "합성(synthetic)" in data.summary()
    assert "x_test  (50, 1, 28, 28) float32" in data.summary()
    # the same bytes as write_idx_set with the same seed, and nothing left in the data dir
    synthetic.write_idx_set(tmp_path / "ref" / "mnist", n_train=120, n_test=50, seed=3)
    (x_ref, y_ref), _ = datasets.load_mnist(tmp_path / "ref")
    np.testing.assert_array_equal(data.x_train, x_ref)
    np.testing.assert_array_equal(data.y_train, y_ref)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ref"]


def test_fast_mode_default_synthetic_sizes(tmp_path):
    data = lab.load_lab_data("fashion-mnist", fast=True, data_dir=tmp_path)
    assert data.source == "synthetic"
    assert len(data.x_train) == lab.DEFAULT_SYNTHETIC_TRAIN
    assert len(data.x_test) == lab.DEFAULT_SYNTHETIC_TEST
    assert data.classes == datasets.FASHION_MNIST_CLASSES


def test_full_mode_missing_data_is_a_bilingual_error(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        lab.load_lab_data("fashion-mnist", fast=False, data_dir=tmp_path)
    msg = str(info.value)
    assert str(tmp_path) in msg
    assert "python -m intro2ai.datasets download fashion-mnist" in msg
    assert "INTRO2AI_FAST=1" in msg and "INTRO2AI_DATA_DIR" in msg
    assert "full mode" in msg and "전체 실행" in msg and "해결" in msg
    assert isinstance(info.value.__cause__, FileNotFoundError)


def test_data_dir_from_environment(idx_root, monkeypatch):
    monkeypatch.setenv("INTRO2AI_DATA_DIR", str(idx_root))
    data = lab.load_lab_data("mnist")
    assert data.source == "real" and len(data.x_train) == 60


@needs_real_mnist
def test_real_mnist_split():
    data = lab.load_lab_data("mnist", data_dir=REAL_DIR)
    assert data.source == "real"
    assert data.x_train.shape == (8000, 1, 28, 28) and data.x_test.shape == (2000, 1, 28, 28)
    part = lab.load_lab_data("mnist", fast=True, n_train=1000, n_test=500, data_dir=REAL_DIR)
    assert part.source == "real"
    np.testing.assert_array_equal(part.x_train, data.x_train[:1000])
    np.testing.assert_array_equal(part.y_test, data.y_test[:500])


# ---------------------------------------------------------------- deskew


def _moments(img):
    rows, cols = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    total = img.sum()
    mr, mc = (img * rows).sum() / total, (img * cols).sum() / total
    var_r = (img * (rows - mr) ** 2).sum() / total
    cov = (img * (rows - mr) * (cols - mc)).sum() / total
    return mr, mc, cov / var_r


def _slanted_bar(alpha=0.5, centre=(12.0, 15.0), shape=(28, 28)):
    img = np.zeros(shape)
    for r in range(6, 20):
        c = centre[1] + alpha * (r - centre[0])
        c0 = int(np.floor(c))
        img[r, c0] += 1 - (c - c0)  # the line's exact column, split over two pixels
        img[r, c0 + 1] += c - c0
    return img


def test_deskew_straightens_and_centres_a_slanted_bar():
    img = _slanted_bar(alpha=0.5)
    assert abs(_moments(img)[2] - 0.5) < 1e-9  # the oracle: the bar's slant by construction
    out = lab.deskew(img[None, None].astype(np.float32))
    assert out.shape == (1, 1, 28, 28) and out.dtype == np.float32
    mr, mc, alpha = _moments(out[0, 0].astype(np.float64))
    assert abs(alpha) < DESKEW_ALPHA_TOL, f"residual slant {alpha:.3f}"
    assert abs(mr - 13.5) < 0.5 and abs(mc - 13.5) < 0.5, (mr, mc)
    assert abs(out.sum() - img.sum()) / img.sum() < 0.05  # ink is moved, not lost


def test_deskew_leaves_an_upright_centred_image_and_blank_images_alone():
    img = np.zeros((28, 28))
    img[8:20, 10:18] = 1.0  # centre of mass (13.5, 13.5), no slant
    blank = np.zeros((28, 28))
    out = lab.deskew(np.stack([img, blank]))
    np.testing.assert_allclose(out[0], img, atol=1e-12)
    np.testing.assert_array_equal(out[1], blank)


def test_deskew_each_image_independently():
    a, b = _slanted_bar(0.5), _slanted_bar(-0.3, centre=(14.0, 12.0))
    both = lab.deskew(np.stack([a, b])[:, None])
    np.testing.assert_array_equal(both[0], lab.deskew(a[None, None])[0])
    np.testing.assert_array_equal(both[1], lab.deskew(b[None, None])[0])


@pytest.mark.parametrize(
    "bad, exc",
    [
        (np.zeros((2, 28, 28), dtype=np.uint8), TypeError),
        ([[0.0]], TypeError),
        (np.zeros((2, 3, 28, 28)), ValueError),
        (np.zeros((28, 28)), ValueError),
    ],
)
def test_deskew_input_checks(bad, exc):
    with pytest.raises(exc, match="deskew"):
        lab.deskew(bad)
