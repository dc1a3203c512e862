"""One epoch of HW5's training, as the notebook's training cell runs it:
``python -m bench.epoch [--images N]`` prints one JSON line with the seconds it took.

The cell: ``ThreeLayerConvNet(weight_scale=0.001, hidden_dim=500, reg=0.001)`` and a
``Solver`` with ``num_epochs=1, batch_size=50, update_rule='adam', learning_rate=1e-3``
(verbose, printing every 20 iterations; the prints go to stderr here). The data is synthetic
and CIFAR-10-sized: ``images`` training and 1,000 validation images of shape (3, 32, 32), in
float64 as ``get_CIFAR10_data`` returns them. Runs in its own process with the default
environment (NumPy imported before ``intro2ai``, as in the notebook); the time includes the
Solver's accuracy checks at the end of the epoch, as the cell's does.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.epoch")
    ap.add_argument("--images", type=int, default=49_000)
    args = ap.parse_args(argv)

    from intro2ai import _malloc, _threads
    from intro2ai.classifiers.cnn import ThreeLayerConvNet
    from intro2ai.solver import Solver

    rng = np.random.default_rng(0)
    data = {
        "X_train": rng.standard_normal((args.images, 3, 32, 32)),
        "y_train": rng.integers(0, 10, args.images),
        "X_val": rng.standard_normal((1000, 3, 32, 32)),
        "y_val": rng.integers(0, 10, 1000),
    }
    np.random.seed(231)
    with contextlib.redirect_stdout(sys.stderr):
        t0 = time.perf_counter()
        model = ThreeLayerConvNet(weight_scale=0.001, hidden_dim=500, reg=0.001)
        solver = Solver(
            model,
            data,
            num_epochs=1,
            batch_size=50,
            update_rule="adam",
            optim_config={"learning_rate": 1e-3},
            verbose=True,
            print_every=20,
        )
        solver.train()
        seconds = time.perf_counter() - t0
    iterations = max(args.images // 50, 1)
    print(
        json.dumps(
            {
                "images": args.images,
                "iterations": iterations,
                "seconds": seconds,
                "ms_per_iteration": seconds * 1e3 / iterations,
                "openblas_idle_threads": _threads.status(),
                "malloc_thresholds": _malloc.status(),
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
