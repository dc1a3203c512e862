"""intro2ai: the course library for the Introduction to AI CNN homework.

Naive layers (``layers``), fast im2col layers (``fast_layers``), sandwich layers
(``layer_utils``), models (``classifiers``), training (``solver``, ``optim``),
gradient checking and data loading.
"""

__version__ = "0.1.0"
