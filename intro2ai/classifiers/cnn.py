"""A three-layer convolutional network (cs231n's ``ThreeLayerConvNet``).

Architecture::

    conv - relu - 2x2 max pool - affine - relu - affine - softmax

Student task ``hw5_three_layer_convnet``: the parameter set-up in ``__init__`` and the body of
``loss``. Shapes use the letters defined in ``intro2ai.layers``.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from intro2ai import layer_utils, layers

__all__ = ["ThreeLayerConvNet"]


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(
            f"ThreeLayerConvNet: {name} must be a positive integer, got {value!r}"
        )
    return int(value)


class ThreeLayerConvNet:
    """Three-layer convolutional network: conv - relu - 2x2 max pool - affine - relu - affine.

    The network works on minibatches of shape (N, C, H, W) and ends in a softmax loss.
    The convolution keeps the spatial size (stride 1, zero padding ``(filter_size - 1) // 2``);
    the 2x2 max pool with stride 2 halves it.

    Parameters
    ----------
    input_dim : tuple of int (C, H, W), default (3, 32, 32)
        Shape of one input image. H and W must be even (the 2x2 pool tiles them).
    num_filters : int, default 32
        Number of filters F of the convolutional layer.
    filter_size : int, default 7
        Height and width of each filter; odd, so the padding keeps H and W.
    hidden_dim : int, default 100
        Number of units in the hidden affine layer.
    num_classes : int, default 10
        Number of classes K scored by the last affine layer.
    weight_scale : float, default 1e-3
        Standard deviation of the Gaussian the weights are drawn from (``np.random``);
        the biases start at zero.
    reg : float, default 0.0
        L2 regularisation strength: the loss gets ``0.5 * reg * sum(W ** 2)`` for each of
        W1, W2, W3 (not the biases).
    dtype : numpy floating dtype, default np.float32
        Dtype of the parameters and of the computation; use np.float64 for gradient checks.

    Attributes
    ----------
    params : dict of str to ndarray
        ``'W1'``: (F, C, filter_size, filter_size) conv weights, ``'b1'``: (F,);
        ``'W2'``: (F * H/2 * W/2, hidden_dim), ``'b2'``: (hidden_dim,);
        ``'W3'``: (hidden_dim, num_classes), ``'b3'``: (num_classes,).
    reg : float
    dtype : numpy dtype

    Notes
    -----
    Task id: hw5_three_layer_convnet (parameter set-up in ``__init__`` and ``loss``).
    """

    def __init__(
        self,
        input_dim: tuple[int, int, int] = (3, 32, 32),
        num_filters: int = 32,
        filter_size: int = 7,
        hidden_dim: int = 100,
        num_classes: int = 10,
        weight_scale: float = 1e-3,
        reg: float = 0.0,
        dtype: Any = np.float32,
    ) -> None:
        """Set up the weights and biases in ``self.params``.

        Task id: hw5_three_layer_convnet

        Hint (힌트): 가중치는 ``weight_scale * np.random.randn(...)`` 으로, 편향(bias)은 0 으로
        시작합니다. convolution 은 H, W 를 유지하고 2x2 max pool 은 절반으로 줄인다는 점을
        이용해 두 번째 affine layer 의 입력 차원을 계산하세요. 모양(shape)은 class docstring
        의 ``params`` 설명을 따르세요.
        """
        if not (isinstance(input_dim, (tuple, list)) and len(input_dim) == 3):
            raise ValueError(
                f"ThreeLayerConvNet: input_dim must be a tuple (C, H, W), got {input_dim!r}; "
                f"e.g. input_dim=(3, 32, 32)"
            )
        C, H, W = (_positive_int(f"input_dim[{i}]", v) for i, v in enumerate(input_dim))
        num_filters = _positive_int("num_filters", num_filters)
        filter_size = _positive_int("filter_size", filter_size)
        hidden_dim = _positive_int("hidden_dim", hidden_dim)
        num_classes = _positive_int("num_classes", num_classes)
        if filter_size % 2 == 0:
            raise ValueError(
                f"ThreeLayerConvNet: filter_size must be odd so that pad = (filter_size - 1) // 2 "
                f"keeps H and W, got {filter_size}; use e.g. {filter_size + 1}"
            )
        if H % 2 or W % 2:
            raise ValueError(
                f"ThreeLayerConvNet: the 2x2 max pool needs even H and W, got input_dim "
                f"{tuple(input_dim)}; crop or pad the images to even sizes"
            )
        if not np.issubdtype(np.dtype(dtype), np.floating):
            raise TypeError(
                f"ThreeLayerConvNet: dtype must be a floating dtype (np.float32 or np.float64), "
                f"got {dtype!r}"
            )
        self.input_dim = (C, H, W)
        self.params: dict[str, np.ndarray] = {}
        self.reg = reg
        self.dtype = np.dtype(dtype)

        ### BEGIN SOLUTION
        self.params["W1"] = weight_scale * np.random.randn(num_filters, C, filter_size, filter_size)
        self.params["b1"] = np.zeros(num_filters)
        pooled_dim = num_filters * (H // 2) * (W // 2)
        self.params["W2"] = weight_scale * np.random.randn(pooled_dim, hidden_dim)
        self.params["b2"] = np.zeros(hidden_dim)
        self.params["W3"] = weight_scale * np.random.randn(hidden_dim, num_classes)
        self.params["b3"] = np.zeros(num_classes)
        ### END SOLUTION

        for name, value in self.params.items():
            self.params[name] = value.astype(self.dtype)

    def loss(
        self, X: np.ndarray, y: np.ndarray | None = None
    ) -> np.ndarray | tuple[float, dict[str, np.ndarray]]:
        """Scores, or loss and gradients, for a minibatch.

        Task id: hw5_three_layer_convnet

        Parameters
        ----------
        X : ndarray of shape (N, C, H, W)
            Input images.
        y : ndarray of int of shape (N,), optional
            Labels, ``0 <= y[i] < num_classes``.

        Returns
        -------
        scores : ndarray of shape (N, num_classes)
            If ``y`` is None (test time): the class scores, nothing else.
        loss, grads : float, dict of str to ndarray
            If ``y`` is given: the softmax loss plus ``0.5 * reg * sum(W ** 2)`` for W1, W2, W3,
            and the gradient of that loss for every entry of ``self.params`` (same keys and
            shapes).

        Notes
        -----
        Hint (힌트): ``layer_utils.conv_relu_pool_forward``, ``layer_utils.affine_relu_forward``,
        ``layers.affine_forward`` 와 ``layers.softmax_loss`` 를 차례로 쓰고, backward 는 그
        역순입니다. regularization 의 gradient ``reg * W`` 를 잊지 마세요.
        """
        if not isinstance(X, np.ndarray) or X.ndim != 4 or X.shape[1:] != self.input_dim:
            got = f"shape {X.shape}" if isinstance(X, np.ndarray) else type(X).__name__
            raise ValueError(
                f"ThreeLayerConvNet.loss: X must be an ndarray of shape (N, {', '.join(map(str, self.input_dim))}) "
                f"(input_dim of the model), got {got}"
            )
        X = X.astype(self.dtype, copy=False)
        W1, b1 = self.params["W1"], self.params["b1"]
        W2, b2 = self.params["W2"], self.params["b2"]
        W3, b3 = self.params["W3"], self.params["b3"]

        # Pass conv_param and pool_param to the forward passes of the layers.
        filter_size = W1.shape[2]
        conv_param = {"stride": 1, "pad": (filter_size - 1) // 2}
        pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}

        ### BEGIN SOLUTION
        pooled, cache1 = layer_utils.conv_relu_pool_forward(X, W1, b1, conv_param, pool_param)
        hidden, cache2 = layer_utils.affine_relu_forward(pooled, W2, b2)
        scores, cache3 = layers.affine_forward(hidden, W3, b3)
        if y is None:
            return scores

        data_loss, dscores = layers.softmax_loss(scores, y)
        # L2 regularization of the weights (not the biases); nothing to add when reg is 0.
        reg_loss = 0.0
        if self.reg:
            reg_loss = 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2) + np.sum(W3 * W3))
        loss = float(data_loss + reg_loss)

        grads = {}
        dhidden, grads["W3"], grads["b3"] = layers.affine_backward(dscores, cache3)
        dpooled, grads["W2"], grads["b2"] = layer_utils.affine_relu_backward(dhidden, cache2)
        # The first layer's input is the data: no need for its gradient.
        _, grads["W1"], grads["b1"] = layer_utils.conv_relu_pool_backward(
            dpooled, cache1, need_dx=False
        )
        if self.reg:
            for name in ("W1", "W2", "W3"):
                grads[name] += self.reg * self.params[name]
        ### END SOLUTION
        return loss, grads
