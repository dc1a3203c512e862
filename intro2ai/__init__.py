"""intro2ai: the course library for the Introduction to AI CNN homework.

Naive layers (``layers``), fast im2col layers (``fast_layers``), sandwich layers
(``layer_utils``), models (``classifiers``), training (``solver``, ``optim``),
gradient checking and data loading.
"""

from intro2ai import _malloc, _threads

# OpenBLAS's idle threads sleep at once instead of spinning for ~0.1 s after each threaded
# GEMM, where they hold a core the fast layers' threads need (see intro2ai/_threads.py).
_threads.quiet_openblas()
# Freed arrays' memory is kept for the next ones instead of being mapped again page by page
# (see intro2ai/_malloc.py).
_malloc.keep_freed_memory()

__version__ = "0.1.0"
