"""Try lab 1's training choices in a plain Python process, with the notebook's own code.

The model classes (``MLP``, ``LeNet``) and the training helpers (``train``, ``constant_lr``,
``cosine_lr``, ...) are executed from ``notebooks/src/lab1_mnist_mlp_lenet.py``, so what is
measured here is what the notebook runs; only the input preparation is chosen on the command
line. The README's lab-1 measurements were made this way. Use one BLAS thread on a shared machine::

    OPENBLAS_NUM_THREADS=1 INTRO2AI_DATA_DIR=/path/to/datasets \\
        python notebooks/tune_lab1.py --model lenet --prep deskew+std --schedule cosine \\
        --epochs 15 --seeds 0 1

Each run prints the notebook's per-epoch lines and one ``TUNE {json}`` line.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np

from intro2ai import fast_layers, initializers, layers, optim
from intro2ai.datasets import lab

SOURCE = Path(__file__).resolve().parent / "src" / "lab1_mnist_mlp_lenet.py"
# the notebook cells that define the models and the training helpers
CELL_MARKERS = ("class MLP", "class LeNet", "def train(")


def notebook_namespace() -> dict:
    """Execute the lab's model and training cells; return their namespace."""
    cells = re.split(r"^# %%.*$", SOURCE.read_text(encoding="utf-8"), flags=re.M)
    namespace = {
        "np": np,
        "time": time,
        "fast_layers": fast_layers,
        "initializers": initializers,
        "layers": layers,
        "optim": optim,
    }
    for cell in cells:
        if any(marker in cell for marker in CELL_MARKERS):
            exec(compile(cell, str(SOURCE), "exec"), namespace)  # noqa: S102 (our own source)
    missing = [
        n
        for n in ("MLP", "LeNet", "train", "accuracy", "constant_lr", "cosine_lr")
        if n not in namespace
    ]
    if missing:
        raise RuntimeError(f"{SOURCE.name}: cells defining {missing} not found")
    return namespace


def prepare(x_train, x_test, prep: str):
    """'raw', 'std', 'deskew' or 'deskew+std' (standardised with the training statistics)."""
    if "deskew" in prep:
        x_train, x_test = lab.deskew(x_train), lab.deskew(x_test)
    if "std" in prep:
        mean, std = x_train.mean(), x_train.std()
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    return x_train, x_test


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=lab.LAB_DATASETS, default="mnist")
    parser.add_argument("--model", choices=("mlp", "lenet"), default="mlp")
    parser.add_argument("--prep", choices=("raw", "std", "deskew", "deskew+std"), default="raw")
    parser.add_argument("--schedule", choices=("constant", "cosine"), default="constant")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args(argv)

    ns = notebook_namespace()
    data = lab.load_lab_data(args.dataset)
    x_train, x_test = prepare(data.x_train, data.x_test, args.prep)
    schedule = ns["constant_lr"] if args.schedule == "constant" else ns["cosine_lr"]
    for seed in args.seeds:
        model = (ns["MLP"] if args.model == "mlp" else ns["LeNet"])(seed=seed)
        hist = ns["train"](
            model,
            x_train,
            data.y_train,
            x_test,
            data.y_test,
            learning_rate=0.1,
            batch_size=100,
            epochs=args.epochs,
            lr_schedule=schedule,
            seed=seed,
            name=args.model,
        )
        print(
            "TUNE "
            + json.dumps(
                {
                    **vars(args),
                    "seeds": None,
                    "seed": seed,
                    "final_test_acc": hist["test_acc"][-1],
                    "best_test_acc": max(hist["test_acc"]),
                    "seconds": round(hist["seconds"], 1),
                }
            ),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
