"""Tiny data sets in the genuine file formats, for tests and notebook fast modes.

The files are byte-for-byte the same *format* as the real releases, so the real
loaders read them unchanged:

* :func:`write_cifar10` writes ``<root>/cifar-10-batches-py/`` with
  ``data_batch_1`` .. ``data_batch_5``, ``test_batch`` and ``batches.meta``:
  pickled dicts with bytes keys, ``b'data'`` a uint8 ndarray of shape (N, 3072)
  and ``b'labels'`` a list of ints, as in the python version of CIFAR-10.
* :func:`write_idx_set` writes the four upstream-named IDX ``.gz`` files of an
  MNIST-like set.

The images are *learnable*: each class has its own pattern (an oriented coloured
grating for CIFAR-10, a blocky glyph for the IDX sets) plus noise, a random
brightness shift and (IDX) a one-pixel jitter, so a small network trained on them
reaches high accuracy in a few epochs while a constant guess stays at 10 %.
Everything is a deterministic function of ``seed``.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from intro2ai.datasets import cifar10, idx, mnist

__all__ = ["write_cifar10", "write_idx_set", "cifar10_images", "idx_images"]

NUM_CLASSES = 10


def _balanced_labels(rng: np.random.Generator, n: int) -> np.ndarray:
    labels = np.arange(n) % NUM_CLASSES
    rng.shuffle(labels)
    return labels


def _cifar_prototypes(rng: np.random.Generator) -> np.ndarray:
    """(10, 3, 32, 32) class patterns in [-1, 1]."""
    yy, xx = np.mgrid[0:32, 0:32] / 32.0
    protos = np.empty((NUM_CLASSES, 3, 32, 32))
    for c in range(NUM_CLASSES):
        theta = np.pi * c / NUM_CLASSES
        freq = 2.0 + (c % 3)
        phase = rng.uniform(0, 2 * np.pi)
        grating = np.sin(2 * np.pi * freq * (xx * np.cos(theta) + yy * np.sin(theta)) + phase)
        colour = rng.uniform(-1.0, 1.0, size=3)
        tint = rng.uniform(-0.5, 0.5, size=3)
        protos[c] = 0.6 * colour[:, None, None] * grating + tint[:, None, None]
    return np.clip(protos, -1.0, 1.0)


def cifar10_images(n: int, rng: np.random.Generator, protos: np.ndarray | None = None):
    """``n`` learnable CIFAR-like images.

    Returns
    -------
    data : uint8 ndarray of shape (n, 3072)
        Row layout of the real batches (1024 R, 1024 G, 1024 B values).
    labels : int64 ndarray of shape (n,)
        Balanced over the 10 classes, shuffled.
    """
    if protos is None:
        protos = _cifar_prototypes(rng)
    labels = _balanced_labels(rng, n)
    noise = rng.normal(0.0, 35.0, size=(n, 3, 32, 32))
    shift = rng.uniform(-20.0, 20.0, size=(n, 1, 1, 1))
    images = 128.0 + 70.0 * protos[labels] + noise + shift
    data = np.clip(np.rint(images), 0, 255).astype(np.uint8).reshape(n, 3072)
    return data, labels


def _dump(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        pickle.dump(obj, fh, protocol=2)  # the real files are protocol-2 pickles
    os.replace(tmp, path)


def write_cifar10(
    root: str | os.PathLike, n_per_batch: int = 100, n_test: int = 100, seed: int = 0
) -> Path:
    """Write a tiny, genuine-format ``cifar-10-batches-py`` folder under ``root``.

    Parameters
    ----------
    root : str or path-like
        The data directory; the batches go to ``root/cifar-10-batches-py/``.
    n_per_batch : int
        Images in each of ``data_batch_1`` .. ``data_batch_5`` (real data: 10,000).
    n_test : int
        Images in ``test_batch`` (real data: 10,000).
    seed : int
        Seed of the generator; same seed, same bytes.

    Returns
    -------
    Path
        The ``cifar-10-batches-py`` folder, ready for ``load_CIFAR10`` /
        ``get_CIFAR10_data(data_dir=root)``.
    """
    if n_per_batch < 1 or n_test < 1:
        raise ValueError(
            f"write_cifar10: n_per_batch and n_test must be >= 1, got {n_per_batch}, {n_test}"
        )
    rng = np.random.default_rng(seed)
    protos = _cifar_prototypes(rng)
    folder = Path(root) / cifar10.CIFAR10_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    batches = [
        (name, n_per_batch, f"training batch {i} of 5")
        for i, name in enumerate(cifar10.TRAIN_BATCHES, start=1)
    ]
    batches.append((cifar10.TEST_BATCH, n_test, "testing batch 1 of 1"))
    for name, n, label in batches:
        data, labels = cifar10_images(n, rng, protos)
        filenames = [
            f"synthetic_{cifar10.CIFAR10_CLASSES[y]}_{name}_{i:05d}.png".encode()
            for i, y in enumerate(labels)
        ]
        _dump(
            folder / name,
            {
                b"batch_label": label.encode(),
                b"labels": [int(y) for y in labels],
                b"data": data,
                b"filenames": filenames,
            },
        )
    _dump(
        folder / cifar10.META,
        {
            b"num_cases_per_batch": n_per_batch,
            b"label_names": [c.encode() for c in cifar10.CIFAR10_CLASSES],
            b"num_vis": 3072,
        },
    )
    return folder


def _glyphs(rng: np.random.Generator) -> np.ndarray:
    """(10, 28, 28) blocky class glyphs in [0, 1], centred in a 20x20 box like MNIST."""
    glyphs = np.zeros((NUM_CLASSES, 28, 28))
    for c in range(NUM_CLASSES):
        cells = rng.random((5, 5)) < 0.45
        cells[2, 2] = True  # never empty
        glyphs[c, 4:24, 4:24] = np.kron(cells, np.ones((4, 4)))
    return glyphs


def idx_images(n: int, rng: np.random.Generator, glyphs: np.ndarray | None = None):
    """``n`` learnable MNIST-like images: uint8 (n, 28, 28) and uint8 labels (n,)."""
    if glyphs is None:
        glyphs = _glyphs(rng)
    labels = _balanced_labels(rng, n)
    images = glyphs[labels] * rng.uniform(0.7, 1.0, size=(n, 1, 1))
    shifts = rng.integers(-1, 2, size=(n, 2))
    for i, (dy, dx) in enumerate(shifts):
        images[i] = np.roll(images[i], (dy, dx), axis=(0, 1))
    images += rng.normal(0.0, 0.15, size=images.shape)
    images = np.clip(np.rint(images * 255.0), 0, 255).astype(np.uint8)
    return images, labels.astype(np.uint8)


def write_idx_set(directory: str | os.PathLike, n_train: int, n_test: int, seed: int = 0) -> Path:
    """Write the four upstream-named IDX ``.gz`` files of a tiny MNIST-like set.

    Parameters
    ----------
    directory : str or path-like
        Destination folder, e.g. ``<data dir>/mnist`` or ``<data dir>/fashion-mnist``.
    n_train, n_test : int
        Number of training and test images (28x28 uint8, labels 0..9, balanced).
    seed : int
        Seed of the generator; same seed, same bytes.

    Returns
    -------
    Path
        ``directory``, ready for ``load_mnist(directory)`` or, for its parent,
        ``load_mnist(parent)`` / ``load_fashion_mnist(parent)``.
    """
    if n_train < 1 or n_test < 1:
        raise ValueError(f"write_idx_set: n_train and n_test must be >= 1, got {n_train}, {n_test}")
    rng = np.random.default_rng(seed)
    glyphs = _glyphs(rng)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    x_train, y_train = idx_images(n_train, rng, glyphs)
    x_test, y_test = idx_images(n_test, rng, glyphs)
    for name, arr in zip(mnist.IDX_FILES, (x_train, y_train, x_test, y_test)):
        tmp = directory / (name + ".tmp")
        idx.write_idx(tmp, arr, compress=True)
        os.replace(tmp, directory / name)
    return directory
