"""notebooks/tune_lab1.py: the lab-1 tuning script runs the notebook's own model and training code."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from intro2ai.datasets import synthetic

SCRIPT = Path(__file__).resolve().parent.parent / "notebooks" / "tune_lab1.py"


@pytest.fixture(scope="module")
def tune():
    spec = importlib.util.spec_from_file_location("tune_lab1", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_namespace_holds_the_notebook_definitions(tune):
    ns = tune.notebook_namespace()
    assert ns["MLP"]().params["W1"].shape == (784, 128)
    assert ns["LeNet"]().params["W3"].shape == (800, 500)
    assert ns["constant_lr"](0.7) == 1.0
    assert ns["cosine_lr"](0.0) == pytest.approx(1.0) and ns["cosine_lr"](0.5) == pytest.approx(0.5)


@pytest.mark.parametrize("prep", ["raw", "std", "deskew", "deskew+std"])
def test_prepare_uses_training_statistics(tune, prep):
    rng = np.random.default_rng(0)
    x_train = rng.random((20, 1, 28, 28)).astype(np.float32)
    x_test = rng.random((5, 1, 28, 28)).astype(np.float32)
    a, b = tune.prepare(x_train, x_test, prep)
    assert a.shape == x_train.shape and b.shape == x_test.shape and a.dtype == np.float32
    if "std" in prep:
        assert abs(float(a.mean())) < 1e-4 and abs(float(a.std()) - 1) < 1e-3
    else:
        assert a.min() >= 0.0


def test_main_trains_and_reports(tune, tmp_path, monkeypatch, capsys):
    synthetic.write_idx_set(tmp_path / "mnist", n_train=200, n_test=100, seed=0)
    monkeypatch.setenv("INTRO2AI_DATA_DIR", str(tmp_path))
    assert (
        tune.main(
            [
                "--model",
                "mlp",
                "--prep",
                "deskew+std",
                "--schedule",
                "cosine",
                "--epochs",
                "2",
                "--seeds",
                "0",
                "1",
            ]
        )
        == 0
    )
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("TUNE ")]
    results = [json.loads(line[len("TUNE ") :]) for line in lines]
    assert [r["seed"] for r in results] == [0, 1]
    for r in results:
        assert 0.0 <= r["final_test_acc"] <= r["best_test_acc"] <= 1.0
        assert r["prep"] == "deskew+std" and r["schedule"] == "cosine" and r["epochs"] == 2
