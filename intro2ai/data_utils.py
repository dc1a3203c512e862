"""cs231n-compatible name for the data loaders (``from intro2ai.data_utils import get_CIFAR10_data``).

Everything here lives in :mod:`intro2ai.datasets`; this module only re-exports it so
notebooks written against cs231n's ``data_utils`` keep working.
"""

from intro2ai.datasets import (
    CIFAR10_CLASSES,
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    get_CIFAR10_data,
    load_CIFAR10,
    load_CIFAR_batch,
    load_fashion_mnist,
    load_mnist,
)

__all__ = [
    "CIFAR10_CLASSES",
    "MNIST_CLASSES",
    "FASHION_MNIST_CLASSES",
    "load_CIFAR_batch",
    "load_CIFAR10",
    "get_CIFAR10_data",
    "load_mnist",
    "load_fashion_mnist",
]
