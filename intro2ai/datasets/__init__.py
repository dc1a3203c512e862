"""Data sets for the course: CIFAR-10, MNIST and Fashion-MNIST.

Loaders read the genuine distribution formats (CIFAR-10 python pickles, IDX
``.gz``) from the data directory: the ``data_dir`` argument, else the
environment variable ``INTRO2AI_DATA_DIR``, else ``<repo root>/datasets`` for an
editable install (``./datasets`` otherwise). Layout::

    <data dir>/cifar-10-batches-py/   data_batch_1..5, test_batch, batches.meta
    <data dir>/mnist/                 the four upstream IDX .gz files
    <data dir>/fashion-mnist/         the four upstream IDX .gz files

Get the data with ``python -m intro2ai.datasets download cifar10|mnist|fashion-mnist``
(``import``, ``verify`` and ``list`` too; see ``datasets/README.md``).
:mod:`intro2ai.datasets.synthetic` writes tiny learnable sets in the same formats.
"""

from intro2ai.datasets import lab  # the lab notebooks' helpers: load_lab_data, deskew
from intro2ai.datasets._paths import ENV_DATA_DIR, default_data_dir, resolve_data_dir
from intro2ai.datasets.cifar10 import (
    CIFAR10_CLASSES,
    get_CIFAR10_data,
    load_CIFAR10,
    load_CIFAR_batch,
)
from intro2ai.datasets.mnist import (
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    load_fashion_mnist,
    load_mnist,
)

__all__ = [
    "lab",
    "CIFAR10_CLASSES",
    "MNIST_CLASSES",
    "FASHION_MNIST_CLASSES",
    "ENV_DATA_DIR",
    "default_data_dir",
    "resolve_data_dir",
    "load_CIFAR_batch",
    "load_CIFAR10",
    "get_CIFAR10_data",
    "load_mnist",
    "load_fashion_mnist",
]
