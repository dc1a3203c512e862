"""The work the benchmark times, built in one place for ``bench.side`` (each side in its own
process) and ``bench.run`` (the one-process table): the convolution cases, the pool, and HW5's
training step (``ThreeLayerConvNet`` forward, backward and Adam at batch 50) with its PyTorch
twin.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

STEP_BATCH = 50
# label -> (x shape, w shape, stride, pad)
CONV = {
    "A": ((100, 3, 31, 31), (25, 3, 3, 3), 2, 1),
    "B": ((50, 3, 32, 32), (32, 3, 7, 7), 1, 3),
    "C": ((100, 1, 28, 28), (20, 1, 5, 5), 1, 0),
    "D": ((64, 64, 32, 32), (64, 64, 3, 3), 1, 1),
}
POOL_SHAPE = (50, 32, 32, 32)  # case B's conv output


def data(shape, dtype, seed: int, scale: float = 1.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def step_batch(dtype) -> tuple[np.ndarray, np.ndarray]:
    """The training step's images and labels."""
    return (
        data((STEP_BATCH, 3, 32, 32), dtype, 3),
        np.random.default_rng(3).integers(0, 10, STEP_BATCH),
    )


def ours_step(dtype) -> tuple[Callable[[], None], Callable[[], object]]:
    """HW5's training step on our layers, and the loss (forward + backward) alone."""
    from intro2ai import optim
    from intro2ai.classifiers.cnn import ThreeLayerConvNet

    X, y = step_batch(dtype)
    np.random.seed(0)
    model = ThreeLayerConvNet(dtype=dtype, weight_scale=1e-2)
    configs = {p: {"learning_rate": 1e-4} for p in model.params}

    def step():
        loss, grads = model.loss(X, y)
        for p in model.params:
            model.params[p], configs[p] = optim.adam(model.params[p], grads[p], configs[p])

    return step, lambda: model.loss(X, y)


def torch_step(dtype) -> Callable[[], None]:
    """The same network and step in PyTorch."""
    import torch

    tdt = torch.float32 if np.dtype(dtype) == np.float32 else torch.float64
    nn = torch.nn
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 32, 7, padding=3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 16 * 16, 100),
        nn.ReLU(),
        nn.Linear(100, 10),
    ).to(tdt)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    X, y = (torch.from_numpy(a) for a in step_batch(dtype))

    def step():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(X), y).backward()
        opt.step()

    return step


def conv_layout(xs, ws, stride, pad, dtype) -> str:
    """Which layout ``conv_forward_fast`` takes for this case (direct, chunked, ... or numpy)."""
    from intro2ai import _fast_layouts, _fast_plan

    _, mod = _fast_plan.backend()
    if mod is None:
        return "numpy"
    H_out = 1 + (xs[2] + 2 * pad - ws[2]) // stride
    W_out = 1 + (xs[3] + 2 * pad - ws[3]) // stride
    return _fast_plan.plan(
        xs[0],
        ws[0],
        ws[1] * ws[2] * ws[3],
        H_out * W_out,
        np.dtype(dtype).itemsize,
        stride=stride,
        simd=_fast_plan.simd_level(mod),
        filt=_fast_layouts.filt(mod, ws[2], ws[3]),
    ).layout
