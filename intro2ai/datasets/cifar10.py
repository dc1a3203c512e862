"""CIFAR-10 loader for the python version (``cifar-10-batches-py``), cs231n style.

The python version is a folder of pickles: ``data_batch_1`` .. ``data_batch_5``
(10,000 images each), ``test_batch`` and ``batches.meta``. Each batch is a dict
with ``data`` (uint8 ndarray of shape (N, 3072): 1024 red, 1024 green, 1024 blue
values, rows of 32 pixels) and ``labels`` (list of N ints in 0..9). They were
written by Python 2, so keys come back as ``bytes`` or ``str`` depending on the
pickle's encoding; both are accepted.

The pickles are read with a restricted unpickler that only builds NumPy arrays and
plain containers, so a file from a USB stick cannot run code when loaded.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from intro2ai.datasets import _paths

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_FOLDER",
    "load_CIFAR_batch",
    "load_CIFAR10",
    "get_CIFAR10_data",
]

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
CIFAR10_FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META = "batches.meta"

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
    ("codecs", "encode"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")


def _str_keys(d: dict) -> dict:
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in d.items()}


def _read_pickle(path: Path):
    with open(path, "rb") as fh:
        return _SafeUnpickler(fh, encoding="latin1").load()


def _batches_dir(root: str | os.PathLike | None) -> tuple[Path, Path]:
    """(folder with the batches, data dir for messages) for ``root``.

    ``root`` may be the ``cifar-10-batches-py`` folder itself (as in cs231n) or the
    data directory that contains it.
    """
    base = _paths.resolve_data_dir(root)
    if (base / TRAIN_BATCHES[0]).exists() or base.name == CIFAR10_FOLDER:
        return base, base.parent
    return base / CIFAR10_FOLDER, base


def _read_batch(path: Path, data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images of shape (N, 3, 32, 32) and int64 labels of one batch file."""
    if not path.is_file():
        raise FileNotFoundError(_paths.missing_message("cifar10", path.parent, path.name, data_dir))
    try:
        d = _str_keys(_read_pickle(path))
        data = np.asarray(d["data"])
        labels = np.asarray(d["labels"], dtype=np.int64)
    except (
        pickle.UnpicklingError,
        EOFError,
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
    ) as exc:
        problem = f"not a CIFAR-10 python batch ({type(exc).__name__}: {exc})"
        raise ValueError(_paths.damaged_message("cifar10", path, problem, data_dir)) from exc
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        problem = f"'data' should be uint8 of shape (N, 3072), found {data.dtype} {data.shape}"
        raise ValueError(_paths.damaged_message("cifar10", path, problem, data_dir))
    if labels.shape != (data.shape[0],) or (labels.size and (labels.min() < 0 or labels.max() > 9)):
        problem = f"'labels' should be {data.shape[0]} ints in 0..9, found shape {labels.shape}"
        raise ValueError(_paths.damaged_message("cifar10", path, problem, data_dir))
    return data.reshape(-1, 3, 32, 32), labels


def _read_all(root) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """uint8 (N, 3, 32, 32) train and test images with int64 labels."""
    folder, data_dir = _batches_dir(root)
    for name in TRAIN_BATCHES + (TEST_BATCH,):
        if not (folder / name).is_file():
            raise FileNotFoundError(_paths.missing_message("cifar10", folder, name, data_dir))
    parts = [_read_batch(folder / name, data_dir) for name in TRAIN_BATCHES]
    Xtr = np.concatenate([p[0] for p in parts])
    Ytr = np.concatenate([p[1] for p in parts])
    Xte, Yte = _read_batch(folder / TEST_BATCH, data_dir)
    return Xtr, Ytr, Xte, Yte


def load_CIFAR_batch(filename: str | os.PathLike, data_dir: Path | None = None):
    """Load one CIFAR-10 batch file (cs231n's ``load_CIFAR_batch``).

    Returns
    -------
    X : ndarray of shape (N, 32, 32, 3), float64
        Pixel values 0..255 (cs231n's layout, channels last).
    Y : ndarray of shape (N,), int64
        Labels 0..9.
    """
    path = Path(filename)
    data_dir = path.parent.parent if data_dir is None else data_dir
    X, Y = _read_batch(path, data_dir)
    return X.transpose(0, 2, 3, 1).astype(np.float64), Y


def load_CIFAR10(root: str | os.PathLike | None = None):
    """Load all of CIFAR-10 (cs231n's ``load_CIFAR10``).

    Parameters
    ----------
    root : str or path-like, optional
        The ``cifar-10-batches-py`` folder, or the data directory holding it.
        Default: the data directory (``INTRO2AI_DATA_DIR``, else ``<repo>/datasets``).

    Returns
    -------
    Xtr : ndarray of shape (N_train, 32, 32, 3), float64
    Ytr : ndarray of shape (N_train,), int64
    Xte : ndarray of shape (N_test, 32, 32, 3), float64
    Yte : ndarray of shape (N_test,), int64
        Channels last, as in cs231n; :func:`get_CIFAR10_data` returns (N, 3, 32, 32).

    Raises
    ------
    FileNotFoundError, ValueError
        Missing or damaged files; the message gives the command that fixes it.
    """
    Xtr, Ytr, Xte, Yte = _read_all(root)
    return (
        Xtr.transpose(0, 2, 3, 1).astype(np.float64),
        Ytr,
        Xte.transpose(0, 2, 3, 1).astype(np.float64),
        Yte,
    )


def load_label_names(root: str | os.PathLike | None = None) -> tuple[str, ...]:
    """Class names stored in ``batches.meta`` (the same as ``CIFAR10_CLASSES``)."""
    folder, data_dir = _batches_dir(root)
    path = folder / META
    if not path.is_file():
        raise FileNotFoundError(_paths.missing_message("cifar10", folder, META, data_dir))
    try:
        meta = _str_keys(_read_pickle(path))
        names = meta["label_names"]
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(_paths.damaged_message("cifar10", path, str(exc), data_dir)) from exc
    return tuple(n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names)


def get_CIFAR10_data(
    num_training: int = 49000,
    num_validation: int = 1000,
    num_test: int = 1000,
    subtract_mean: bool = True,
    data_dir: str | os.PathLike | None = None,
    *,
    dtype=np.float64,
) -> dict[str, np.ndarray]:
    """Load CIFAR-10 and prepare it for the classifiers (cs231n's ``get_CIFAR10_data``).

    The validation set is the ``num_validation`` training images that follow the
    first ``num_training``; the test set is the first ``num_test`` test images. With
    ``subtract_mean`` the mean training image is subtracted from all three sets.

    Parameters
    ----------
    num_training, num_validation, num_test : int
        Sizes of the three sets; ``num_training + num_validation`` must not exceed the
        number of training images (50,000 for the real data).
    subtract_mean : bool
        Subtract the mean image of the training set.
    data_dir : str or path-like, optional
        Data directory (or the ``cifar-10-batches-py`` folder itself).
    dtype : numpy dtype, keyword-only
        Float type of the images (float64 as in cs231n; float32 halves the memory).

    Returns
    -------
    dict
        ``X_train``, ``X_val``, ``X_test``: ndarray of shape (N, 3, 32, 32), ``dtype``;
        ``y_train``, ``y_val``, ``y_test``: int64 ndarray of shape (N,).
    """
    for name, value in (
        ("num_training", num_training),
        ("num_validation", num_validation),
        ("num_test", num_test),
    ):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
            raise ValueError(f"get_CIFAR10_data: {name} must be a non-negative int, got {value!r}")
    X_train, y_train, X_test, y_test = _read_all(data_dir)  # uint8, (N, 3, 32, 32)
    n_train_avail, n_test_avail = len(X_train), len(X_test)
    if num_training + num_validation > n_train_avail:
        raise ValueError(
            f"get_CIFAR10_data: num_training + num_validation = {num_training + num_validation} "
            f"but only {n_train_avail} training images are available; use smaller numbers.\n"
            f"get_CIFAR10_data: 학습 이미지가 {n_train_avail}개뿐입니다. "
            f"num_training + num_validation 을 줄이세요."
        )
    if num_test > n_test_avail:
        raise ValueError(
            f"get_CIFAR10_data: num_test = {num_test} but only {n_test_avail} test images are "
            f"available; use a smaller number.\n"
            f"get_CIFAR10_data: 테스트 이미지가 {n_test_avail}개뿐입니다. num_test 를 줄이세요."
        )
    # Convert only the slices that are kept, straight to `dtype` (the full float64
    # training set would need 1.2 GB before slicing).
    data = {
        "X_train": X_train[:num_training].astype(dtype),
        "y_train": y_train[:num_training].copy(),
        "X_val": X_train[num_training : num_training + num_validation].astype(dtype),
        "y_val": y_train[num_training : num_training + num_validation].copy(),
        "X_test": X_test[:num_test].astype(dtype),
        "y_test": y_test[:num_test].copy(),
    }
    if subtract_mean and num_training > 0:
        mean_image = data["X_train"].mean(axis=0, dtype=np.float64).astype(dtype)
        for key in ("X_train", "X_val", "X_test"):
            data[key] -= mean_image
    return data
