"""Minibatch training loop for classification models (cs231n's ``Solver`` contract).

A model is any object with

- ``model.params``: dict mapping parameter names to ndarrays;
- ``model.loss(X, y=None)``: class scores of shape (N, K) when ``y`` is None, else
  ``(loss, grads)`` with ``grads`` holding one gradient per entry of ``params``.

Example::

    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-3},
                    lr_decay=0.95, num_epochs=10, batch_size=100, print_every=100)
    solver.train()
    solver.best_params, solver.val_acc_history

``data`` holds ``'X_train'``, ``'y_train'``, ``'X_val'``, ``'y_val'``. At the end of ``train``
the model's parameters are the ones that scored best on the validation set.

Minibatches and accuracy subsamples are drawn with ``np.random`` (as in cs231n), so
``np.random.seed`` makes a run reproducible.
"""

from __future__ import annotations

import copy
import os
import pickle
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np
from tqdm import tqdm

from intro2ai import optim

__all__ = ["Solver"]

_DATA_KEYS = ("X_train", "y_train", "X_val", "y_val")


class Solver:
    """Train a classification model with minibatch gradient descent.

    Parameters
    ----------
    model : object
        Has ``params`` (dict of ndarrays) and ``loss(X, y=None)`` (see the module docstring).
    data : dict
        ``'X_train'`` of shape (N_train, ...), ``'y_train'`` of shape (N_train,),
        ``'X_val'`` of shape (N_val, ...), ``'y_val'`` of shape (N_val,).
    update_rule : str or callable, default 'sgd'
        ``'sgd'``, ``'sgd_momentum'``, ``'rmsprop'`` or ``'adam'`` (see ``intro2ai.optim``),
        or a function with the same signature ``rule(w, dw, config) -> (next_w, config)``.
    optim_config : dict, optional
        Hyperparameters of the update rule (e.g. ``{'learning_rate': 1e-3}``; ``'weight_decay'``
        for sgd and sgd_momentum). Each parameter gets its own copy, which also keeps that
        parameter's optimizer state.
    lr_decay : float, default 1.0
        The learning rate is multiplied by this after every epoch.
    batch_size : int, default 100
        Minibatch size.
    num_epochs : int, default 10
        Number of passes over the training data.
    num_train_samples : int or None, default 1000
        Training examples (a random subsample) used to measure training accuracy each
        epoch; None uses all of them.
    num_val_samples : int or None, default None
        Validation examples used each epoch; None uses all of them.
    checkpoint_name : str or None, default None
        If given, after every epoch the solver writes ``<checkpoint_name>_epoch_<k>.pkl``
        (atomically: a temporary file in the same folder, then ``os.replace``).
    print_every : int, default 10
        Print the training loss every this many iterations (when ``verbose``).
    verbose : bool, default True
        Print losses and accuracies during training.
    progress : bool, default False
        Show a tqdm progress bar over the iterations (printed lines go through
        ``tqdm.write`` so the bar stays intact).

    Attributes
    ----------
    loss_history : list of float
        Minibatch loss of every iteration.
    train_acc_history, val_acc_history : list of float
        Accuracies measured at the start and at the end of every epoch.
    best_val_acc : float
    best_params : dict of str to ndarray
        Copies of the parameters with the best validation accuracy so far.
    epoch : int
        Completed epochs.
    """

    def __init__(
        self,
        model: Any,
        data: dict,
        update_rule: str | Callable = "sgd",
        optim_config: dict | None = None,
        lr_decay: float = 1.0,
        batch_size: int = 100,
        num_epochs: int = 10,
        num_train_samples: int | None = 1000,
        num_val_samples: int | None = None,
        checkpoint_name: str | None = None,
        print_every: int = 10,
        verbose: bool = True,
        progress: bool = False,
    ) -> None:
        if not (hasattr(model, "params") and callable(getattr(model, "loss", None))):
            raise TypeError(
                "Solver: model must have a dict `params` and a method `loss(X, y=None)`, got "
                f"{type(model).__name__}"
            )
        if not isinstance(data, dict):
            raise TypeError(
                f"Solver: data must be a dict with keys {list(_DATA_KEYS)}, got "
                f"{type(data).__name__}"
            )
        missing = [k for k in _DATA_KEYS if k not in data]
        if missing:
            raise ValueError(
                f"Solver: data is missing key(s) {missing}; expected {list(_DATA_KEYS)}, got "
                f"{sorted(map(str, data))}"
            )
        for X_key, y_key in (("X_train", "y_train"), ("X_val", "y_val")):
            X, y = data[X_key], data[y_key]
            if len(X) != len(y):
                raise ValueError(
                    f"Solver: data['{X_key}'] has {len(X)} examples (shape {np.shape(X)}) but "
                    f"data['{y_key}'] has {len(y)} labels (shape {np.shape(y)}); they must match"
                )
        if len(data["X_train"]) == 0:
            raise ValueError("Solver: data['X_train'] is empty; nothing to train on")
        for name, value in (
            ("batch_size", batch_size),
            ("num_epochs", num_epochs),
            ("print_every", print_every),
        ):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"Solver: {name} must be a positive integer, got {value!r}")

        self.model = model
        self.X_train, self.y_train = data["X_train"], data["y_train"]
        self.X_val, self.y_val = data["X_val"], data["y_val"]

        if isinstance(update_rule, str):
            if update_rule not in optim.__all__:
                raise ValueError(
                    f"Solver: unknown update_rule {update_rule!r}; choose one of {optim.__all__}"
                )
            self.update_rule_name = update_rule
            self.update_rule = getattr(optim, update_rule)
        elif callable(update_rule):
            self.update_rule_name = getattr(update_rule, "__name__", repr(update_rule))
            self.update_rule = update_rule
        else:
            raise TypeError(
                f"Solver: update_rule must be a name from {optim.__all__} or a function, got "
                f"{type(update_rule).__name__}"
            )
        self.optim_config = dict(optim_config or {})
        self.lr_decay = lr_decay
        self.batch_size = int(batch_size)
        self.num_epochs = int(num_epochs)
        self.num_train_samples = num_train_samples
        self.num_val_samples = num_val_samples
        self.checkpoint_name = checkpoint_name
        self.print_every = int(print_every)
        self.verbose = verbose
        self.progress = progress
        self._reset()

    def _reset(self) -> None:
        """Set up the bookkeeping; called by ``__init__`` (call it again to start over)."""
        self.epoch = 0
        self.best_val_acc = 0.0
        self.best_params: dict[str, np.ndarray] = {}
        self.loss_history: list[float] = []
        self.train_acc_history: list[float] = []
        self.val_acc_history: list[float] = []
        self.optim_configs = {name: copy.deepcopy(self.optim_config) for name in self.model.params}

    def _print(self, message: str) -> None:
        if self.verbose:
            if self.progress:
                tqdm.write(message)
            else:
                print(message)

    def _step(self) -> None:
        """One gradient update on a random minibatch."""
        num_train = len(self.X_train)
        batch_mask = np.random.choice(num_train, self.batch_size)
        X_batch, y_batch = self.X_train[batch_mask], self.y_train[batch_mask]
        loss, grads = self.model.loss(X_batch, y_batch)
        self.loss_history.append(float(loss))
        for name, w in self.model.params.items():
            if name not in grads:
                raise KeyError(
                    f"Solver: model.loss returned no gradient for parameter '{name}'; grads has "
                    f"keys {sorted(grads)}, it needs one per key of model.params"
                )
            next_w, next_config = self.update_rule(w, grads[name], self.optim_configs[name])
            self.model.params[name] = next_w
            self.optim_configs[name] = next_config

    def _save_checkpoint(self) -> str | None:
        """Write ``<checkpoint_name>_epoch_<epoch>.pkl`` atomically; return its path."""
        if self.checkpoint_name is None:
            return None
        checkpoint = {
            "model": self.model,
            "update_rule": self.update_rule_name,
            "lr_decay": self.lr_decay,
            "optim_config": self.optim_config,
            "batch_size": self.batch_size,
            "num_train_samples": self.num_train_samples,
            "num_val_samples": self.num_val_samples,
            "epoch": self.epoch,
            "loss_history": self.loss_history,
            "train_acc_history": self.train_acc_history,
            "val_acc_history": self.val_acc_history,
            "best_val_acc": self.best_val_acc,
            "best_params": self.best_params,
        }
        filename = f"{self.checkpoint_name}_epoch_{self.epoch}.pkl"
        folder = os.path.dirname(os.path.abspath(filename))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".checkpoint-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(checkpoint, f)
            os.replace(tmp, filename)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
        self._print(f'Saving checkpoint to "{filename}"')
        return filename

    def check_accuracy(
        self, X: np.ndarray, y: np.ndarray, num_samples: int | None = None, batch_size: int = 100
    ) -> float:
        """Fraction of examples the model classifies correctly.

        Parameters
        ----------
        X : ndarray of shape (N, ...)
        y : ndarray of int of shape (N,)
        num_samples : int, optional
            Use a random subsample of this many examples (all of them if None or >= N).
        batch_size : int, default 100
            Examples per call of ``model.loss`` (keeps memory bounded).

        Returns
        -------
        float
            Accuracy in [0, 1].
        """
        N = len(X)
        if len(y) != N:
            raise ValueError(f"Solver.check_accuracy: X has {N} examples but y has {len(y)} labels")
        if N == 0:
            return 0.0
        if num_samples is not None and N > num_samples:
            mask = np.random.choice(N, num_samples)
            X, y = X[mask], y[mask]
            N = num_samples
        predictions = []
        for start in range(0, N, batch_size):
            scores = self.model.loss(X[start : start + batch_size])
            predictions.append(np.argmax(scores, axis=1))
        y_pred = np.concatenate(predictions)
        return float(np.mean(y_pred == y))

    def train(self) -> None:
        """Run the optimisation; afterwards ``model.params`` are the best validation params."""
        num_train = len(self.X_train)
        iterations_per_epoch = max(num_train // self.batch_size, 1)
        num_iterations = self.num_epochs * iterations_per_epoch
        bar = tqdm(total=num_iterations, desc="train", unit="it", disable=not self.progress)
        try:
            for t in range(num_iterations):
                self._step()
                bar.update(1)
                if t % self.print_every == 0:
                    self._print(
                        f"(Iteration {t + 1} / {num_iterations}) loss: {self.loss_history[-1]:f}"
                    )
                if self.progress:
                    bar.set_postfix(loss=f"{self.loss_history[-1]:.4f}", refresh=False)

                epoch_end = (t + 1) % iterations_per_epoch == 0
                if epoch_end:
                    self.epoch += 1
                    for config in self.optim_configs.values():
                        if "learning_rate" in config:
                            config["learning_rate"] *= self.lr_decay

                first_it = t == 0
                last_it = t == num_iterations - 1
                if first_it or last_it or epoch_end:
                    train_acc = self.check_accuracy(
                        self.X_train, self.y_train, num_samples=self.num_train_samples
                    )
                    val_acc = self.check_accuracy(
                        self.X_val, self.y_val, num_samples=self.num_val_samples
                    )
                    self.train_acc_history.append(train_acc)
                    self.val_acc_history.append(val_acc)
                    self._print(
                        f"(Epoch {self.epoch} / {self.num_epochs}) "
                        f"train acc: {train_acc:f}; val_acc: {val_acc:f}"
                    )
                    if val_acc > self.best_val_acc or not self.best_params:
                        self.best_val_acc = val_acc
                        self.best_params = {k: v.copy() for k, v in self.model.params.items()}
                    if epoch_end:
                        self._save_checkpoint()
        finally:
            bar.close()

        # Keep the best parameters (copies, so further training does not change best_params).
        self.model.params = {k: v.copy() for k, v in self.best_params.items()}
