"""Benchmark of the intro2ai layers: ``python -m bench`` (``make bench``).

First ours against PyTorch (when ``torch`` is importable) with each side in its own process
(``bench.side`` runners driven by ``bench.sides``; rounds alternated, best median kept), with
the default threads and with one thread each, and one epoch of HW5's training
(``bench.epoch``). Then, in one process, the machine's GEMM rate, the naive and fast layers
and PyTorch's CPU ``conv2d`` / ``max_pool2d``. Prints the tables and saves them (text, CSV,
JSON) with a plot under ``bench/results/``. Nothing here is asserted: speed is measured,
never tested.
"""
