"""MNIST and Fashion-MNIST loaders ("Deep Learning from Scratch" conventions).

Both read the four upstream IDX ``.gz`` files from ``<data dir>/mnist/`` or
``<data dir>/fashion-mnist/`` (or directly from ``data_dir`` when the files are
there). Any number of images is accepted, so a subset in the same format loads
the same way.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from intro2ai.datasets import _paths, _registry, idx

__all__ = [
    "MNIST_CLASSES",
    "FASHION_MNIST_CLASSES",
    "IDX_FILES",
    "load_mnist",
    "load_fashion_mnist",
    "load_idx_set",
]

MNIST_CLASSES: tuple[str, ...] = tuple(str(i) for i in range(10))
FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

# (train images, train labels, test images, test labels): the upstream names.
IDX_FILES: tuple[str, str, str, str] = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def _locate(dataset: str, data_dir: str | os.PathLike | None) -> tuple[Path, Path]:
    """Return (folder holding the IDX files, data dir used in messages)."""
    spec = _registry.get_spec(dataset)
    root = _paths.resolve_data_dir(data_dir)
    sub = root / spec.folder

    def has_files(folder: Path) -> bool:
        return (folder / IDX_FILES[0]).exists() or (folder / IDX_FILES[0][:-3]).exists()

    if has_files(sub) or not has_files(root):
        return sub, root
    return root, root  # data_dir is the folder with the four files itself


def load_idx_set(
    dataset: str, data_dir: str | os.PathLike | None = None
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Read the raw uint8 arrays of an IDX data set.

    Returns
    -------
    ((x_train, y_train), (x_test, y_test))
        ``x`` uint8 ndarray of shape (N, rows, cols), ``y`` uint8 ndarray of shape (N,).

    Raises
    ------
    FileNotFoundError
        A file is missing (the message names the folder, the file and the command
        that downloads it, in English and Korean).
    ValueError
        A file is damaged, or images and labels disagree in count.
    """
    spec = _registry.get_spec(dataset)
    folder, root = _locate(spec.name, data_dir)
    arrays = []
    for name, magic in zip(IDX_FILES, (idx.IMAGES_MAGIC, idx.LABELS_MAGIC) * 2):
        path = folder / name
        if not path.is_file() and (folder / name[: -len(".gz")]).is_file():
            path = folder / name[: -len(".gz")]  # someone gunzipped it: read it as is
        if not path.is_file():
            raise FileNotFoundError(_paths.missing_message(spec.name, folder, name, root))
        try:
            arr = idx.read_idx(path, expected_magic=magic)
        except idx.IDXError as exc:
            raise ValueError(_paths.damaged_message(spec.name, path, str(exc), root)) from exc
        want_ndim = 3 if magic == idx.IMAGES_MAGIC else 1
        if arr.ndim != want_ndim or arr.dtype != np.uint8:
            problem = f"expected {want_ndim}-D uint8 data, found {arr.ndim}-D {arr.dtype}"
            raise ValueError(_paths.damaged_message(spec.name, path, problem, root))
        arrays.append(arr)
    x_train, y_train, x_test, y_test = arrays
    for x, y, xname, yname in (
        (x_train, y_train, IDX_FILES[0], IDX_FILES[1]),
        (x_test, y_test, IDX_FILES[2], IDX_FILES[3]),
    ):
        if len(x) != len(y):
            problem = f"{len(x)} images in {xname} but {len(y)} labels in {yname}"
            raise ValueError(_paths.damaged_message(spec.name, folder / yname, problem, root))
        if y.size and int(y.max()) >= 10:
            problem = f"label {int(y.max())} found; labels must be 0..9"
            raise ValueError(_paths.damaged_message(spec.name, folder / yname, problem, root))
    return (x_train, y_train), (x_test, y_test)


def _convert(x: np.ndarray, y: np.ndarray, normalize: bool, flatten: bool, one_hot_label: bool):
    n = x.shape[0]
    if flatten:
        x = x.reshape(n, -1)
    else:
        x = x.reshape(n, 1, x.shape[1], x.shape[2])
    if normalize:
        x = x.astype(np.float32) / np.float32(255.0)
    y = y.astype(np.int64)
    if one_hot_label:
        one_hot = np.zeros((n, 10), dtype=np.float32)
        one_hot[np.arange(n), y] = 1.0
        y = one_hot
    return x, y


def _load(dataset, data_dir, normalize, flatten, one_hot_label):
    (x_train, y_train), (x_test, y_test) = load_idx_set(dataset, data_dir)
    return (
        _convert(x_train, y_train, normalize, flatten, one_hot_label),
        _convert(x_test, y_test, normalize, flatten, one_hot_label),
    )


def load_mnist(
    data_dir: str | os.PathLike | None = None,
    normalize: bool = True,
    flatten: bool = False,
    one_hot_label: bool = False,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load MNIST from ``<data dir>/mnist/``.

    Parameters
    ----------
    data_dir : str or path-like, optional
        The data directory (holding ``mnist/``) or the folder with the four IDX files.
        Default: ``INTRO2AI_DATA_DIR``, else ``<repo>/datasets``.
    normalize : bool
        True: float32 pixels in [0, 1]. False: the original uint8 values 0..255.
    flatten : bool
        True: images of shape (N, 784). False: (N, 1, 28, 28).
    one_hot_label : bool
        True: labels as float32 ndarray of shape (N, 10) with a single 1 per row.
        False: int64 ndarray of shape (N,) with values 0..9.

    Returns
    -------
    ((x_train, y_train), (x_test, y_test))
        Full MNIST has 60,000 training and 10,000 test images.

    Raises
    ------
    FileNotFoundError
        A file is missing; the message gives the download command
        (``python -m intro2ai.datasets download mnist``).
    ValueError
        A file is damaged.
    """
    return _load("mnist", data_dir, normalize, flatten, one_hot_label)


def load_fashion_mnist(
    data_dir: str | os.PathLike | None = None,
    normalize: bool = True,
    flatten: bool = False,
    one_hot_label: bool = False,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load Fashion-MNIST from ``<data dir>/fashion-mnist/``.

    Same options and return values as :func:`load_mnist`; class names are in
    ``FASHION_MNIST_CLASSES``.
    """
    return _load("fashion-mnist", data_dir, normalize, flatten, one_hot_label)
