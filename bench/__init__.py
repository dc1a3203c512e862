"""Benchmark of the intro2ai layers: ``python -m bench`` (``make bench``).

Measures, in one run and side by side, the machine's GEMM rate, the naive and fast layers and
(when ``torch`` is importable) PyTorch's CPU ``conv2d`` / ``max_pool2d`` and a training step of
the same ThreeLayerConvNet. Prints a table and saves it (CSV, JSON) with a plot under
``bench/results/``. Nothing here is asserted: speed is measured, never tested.
"""
