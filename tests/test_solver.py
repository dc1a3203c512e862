"""Tests of intro2ai.solver.Solver: training loop, histories, best params, checkpoints."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from intro2ai import layers
from intro2ai.solver import Solver


class SoftmaxModel:
    """A linear softmax classifier: small enough to train in milliseconds."""

    def __init__(self, D, K, seed=0):
        rng = np.random.default_rng(seed)
        self.params = {"W": 1e-3 * rng.standard_normal((D, K)), "b": np.zeros(K)}

    def loss(self, X, y=None):
        scores, cache = layers.affine_forward(X, self.params["W"], self.params["b"])
        if y is None:
            return scores
        loss, dscores = layers.softmax_loss(scores, y)
        _, dW, db = layers.affine_backward(dscores, cache)
        return loss, {"W": dW, "b": db}


class ScriptedModel:
    """Its validation accuracy is 1 only while ``params['step'] == good_step``, else 0.

    The label is stored in the input (column 0); the custom update rule below adds 1 to
    ``step`` at every iteration, so the test knows which epoch is the best one.
    """

    def __init__(self, good_step, K=3):
        self.params = {"step": np.zeros(1)}
        self.good_step, self.K = good_step, K

    def loss(self, X, y=None):
        labels = X[:, 0].astype(int)
        if self.params["step"][0] != self.good_step:
            labels = (labels + 1) % self.K  # always wrong
        scores = np.eye(self.K)[labels]
        if y is None:
            return scores
        return 1.0, {"step": np.zeros(1)}


def count_steps(w, dw, config):
    return w + 1, config


def blobs(n, D=5, K=3, seed=0):
    """Well-separated Gaussian blobs (same centres for every seed): linearly separable."""
    centers = 5 * np.random.default_rng(12345).standard_normal((K, D))
    rng = np.random.default_rng(seed)
    y = rng.integers(K, size=n)
    return centers[y] + 0.5 * rng.standard_normal((n, D)), y


def blob_data():
    X_train, y_train = blobs(200, seed=1)
    X_val, y_val = blobs(50, seed=2)
    return {"X_train": X_train, "y_train": y_train, "X_val": X_val, "y_val": y_val}


def scripted_data(n=6, K=3):
    y = np.arange(n) % K
    X = np.stack([y, np.zeros(n)], axis=1).astype(float)
    return {"X_train": X, "y_train": y, "X_val": X, "y_val": y}


def test_trains_a_linear_model_and_records_history():
    np.random.seed(0)
    data = blob_data()
    model = SoftmaxModel(5, 3)
    solver = Solver(
        model,
        data,
        update_rule="sgd",
        optim_config={"learning_rate": 0.1},
        batch_size=20,
        num_epochs=4,
        verbose=False,
    )
    solver.train()
    iterations = 4 * (200 // 20)
    assert len(solver.loss_history) == iterations
    # Accuracy is measured after the first iteration and at the end of every epoch.
    assert len(solver.train_acc_history) == len(solver.val_acc_history) == 4 + 1
    assert solver.epoch == 4
    assert solver.loss_history[-1] < solver.loss_history[0]
    assert solver.check_accuracy(data["X_val"], data["y_val"]) > 0.95


def test_best_params_are_kept_and_restored():
    good_step = 3  # after 3 iterations: the end of epoch 3 (1 iteration per epoch)
    data = scripted_data()
    model = ScriptedModel(good_step)
    solver = Solver(model, data, update_rule=count_steps, batch_size=6, num_epochs=5, verbose=False)
    solver.train()
    # checks after iterations 1 (first and epoch 1), 2, 3, 4, 5
    assert solver.val_acc_history == [0.0, 0.0, 1.0, 0.0, 0.0]
    assert solver.best_val_acc == 1.0
    assert solver.best_params["step"][0] == good_step
    assert model.params["step"][0] == good_step, "train() must leave the best params in the model"
    assert model.params["step"] is not solver.best_params["step"], "restore copies, not aliases"


def test_lr_decay_per_epoch_and_separate_configs():
    np.random.seed(0)
    model = SoftmaxModel(5, 3)
    solver = Solver(
        model,
        blob_data(),
        update_rule="sgd_momentum",
        optim_config={"learning_rate": 0.01, "weight_decay": 1e-3},
        lr_decay=0.5,
        batch_size=50,
        num_epochs=3,
        verbose=False,
    )
    solver.train()
    for name, config in solver.optim_configs.items():
        assert config["learning_rate"] == pytest.approx(0.01 * 0.5**3), name
        assert config["velocity"].shape == model.params[name].shape, name
    assert solver.optim_config == {"learning_rate": 0.01, "weight_decay": 1e-3}, (
        "user dict untouched"
    )


def test_checkpoints_are_written_atomically_and_load(tmp_path):
    np.random.seed(0)
    model = SoftmaxModel(5, 3)
    name = str(tmp_path / "ckpt" / "softmax")
    solver = Solver(
        model,
        blob_data(),
        update_rule="adam",
        batch_size=100,
        num_epochs=2,
        checkpoint_name=name,
        verbose=False,
    )
    solver.train()
    files = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert files == ["softmax_epoch_1.pkl", "softmax_epoch_2.pkl"], f"unexpected files {files}"
    with open(tmp_path / "ckpt" / "softmax_epoch_2.pkl", "rb") as f:
        checkpoint = pickle.load(f)
    assert checkpoint["epoch"] == 2
    assert checkpoint["update_rule"] == "adam"
    assert checkpoint["loss_history"] == solver.loss_history
    assert checkpoint["val_acc_history"] == solver.val_acc_history
    assert set(checkpoint["model"].params) == {"W", "b"}
    restored = checkpoint["model"]
    assert isinstance(restored.loss(np.zeros((2, 5))), np.ndarray)


def test_verbose_output_and_progress_bar(capsys):
    np.random.seed(0)
    solver = Solver(
        SoftmaxModel(5, 3),
        blob_data(),
        batch_size=100,
        num_epochs=1,
        print_every=1,
        verbose=True,
        progress=True,
    )
    solver.train()
    captured = capsys.readouterr()
    assert "(Iteration 1 / 2) loss:" in captured.out
    assert "(Epoch 1 / 1) train acc:" in captured.out
    assert "train" in captured.err, "the tqdm bar writes to stderr"


def test_check_accuracy_subsamples_and_batches():
    data = scripted_data(n=250)
    model = ScriptedModel(good_step=0)
    solver = Solver(model, data, batch_size=10, verbose=False)
    assert solver.check_accuracy(data["X_val"], data["y_val"], batch_size=7) == 1.0
    assert solver.check_accuracy(data["X_val"], data["y_val"], num_samples=20) == 1.0


def test_bad_arguments_raise():
    data = blob_data()
    model = SoftmaxModel(5, 3)
    with pytest.raises(ValueError, match=r"Solver: unknown update_rule 'adagrad'"):
        Solver(model, data, update_rule="adagrad")
    with pytest.raises(ValueError, match=r"Solver: data is missing key\(s\) \['y_val'\]"):
        Solver(model, {k: v for k, v in data.items() if k != "y_val"})
    with pytest.raises(ValueError, match=r"Solver: data\['X_train'\] has 200 examples.*199"):
        Solver(model, dict(data, y_train=data["y_train"][:-1]))
    with pytest.raises(TypeError, match=r"Solver: model must have"):
        Solver(object(), data)
    with pytest.raises(ValueError, match=r"Solver: batch_size must be a positive integer"):
        Solver(model, data, batch_size=0)


def test_failed_checkpoint_leaves_no_partial_file(tmp_path):
    np.random.seed(0)
    model = SoftmaxModel(5, 3)
    model.unpicklable = lambda: None  # pickle.dump fails half-way through the checkpoint
    solver = Solver(
        model,
        blob_data(),
        batch_size=100,
        num_epochs=1,
        checkpoint_name=str(tmp_path / "broken"),
        verbose=False,
    )
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        solver.train()
    assert list(tmp_path.iterdir()) == [], (
        "neither the checkpoint nor its temporary file may remain"
    )
