# %% [markdown]
# # 실습 2: im2col로 만드는 Convolution / Pooling layer와 SimpleConvNet
#
# 이 실습에서는
# 1. convolution의 출력 크기 공식을 확인하고,
# 2. 입력 이미지를 행렬로 펼치는 **im2col**을 직접 구현한 뒤,
# 3. im2col로 `Convolution`과 `Pooling` **layer 객체**를 만들고,
# 4. 이 layer들을 쌓아 **SimpleConvNet** (`conv 30@5x5 → ReLU → 2x2 max pool → affine 100 → ReLU → affine 10 → softmax`)을 MNIST 5,000장으로 학습합니다 (Adam, learning rate 0.001).
# 5. 학습한 parameter를 파일로 저장/불러오고, 첫 번째 convolution layer의 filter를 학습 전과 후에 그려 봅니다.
#
# 학습은 `intro2ai.solver.Solver`가, 정답 확인은 `intro2ai.layers`의 naive layer와 `intro2ai.fast_layers`가 맡습니다.
#
# ## 실행 모드 (먼저 읽어 주세요)
#
# | 환경 변수 | 의미 |
# |---|---|
# | `INTRO2AI_FAST=1` | **FAST MODE**: 학습 1,000장 / 테스트 500장, 1 epoch만 학습합니다 (CI용). 정확도 기준은 완화됩니다. |
# | `INTRO2AI_DATA_DIR` | `mnist/` 폴더가 있는 데이터 디렉터리 (기본값: 저장소의 `datasets/`). |
#
# FAST MODE에서 MNIST가 없으면 `intro2ai.datasets.synthetic`이 진짜 IDX 형식의 작은 합성 데이터를 임시 폴더에 만들어 씁니다.

# %%
import json
import time
from collections import OrderedDict

import matplotlib.pyplot as plt
import numpy as np

from intro2ai import fast_layers, layers
from intro2ai.datasets import lab
from intro2ai.gradient_check import eval_numerical_gradient, rel_error
from intro2ai.solver import Solver
from intro2ai.vis_utils import use_korean_font

use_korean_font()  # 그래프의 한글을 나눔고딕(intro2ai/fonts)으로 그립니다
FAST = lab.fast_mode()  # INTRO2AI_FAST
DATASET = lab.lab_dataset()  # INTRO2AI_LAB_DATASET: "mnist" or "fashion-mnist"
print(f"FAST MODE: {FAST}, dataset: {DATASET}")
RESULTS = {"lab": "lab2", "dataset": DATASET, "fast": FAST}
LAB_START = time.perf_counter()

# %% [markdown]
# ## 1. CNN의 기본 개념
#
# **Fully connected layer의 문제점**: 이미지를 한 줄(784개)로 펼쳐 입력하므로 데이터의 **형상(shape)**이 무시됩니다. 가까운 pixel끼리 값이 비슷하다거나, 멀리 떨어진 pixel은 관계가 적다는 공간 정보를 활용하지 못합니다.
# **Convolution layer**는 3차원 `(C, H, W)` 입력을 받아 3차원으로 출력하므로 형상을 유지합니다. convolution layer의 입출력을 **feature map**이라고 부릅니다.
#
# - **Convolution**: filter(kernel)를 입력 위에서 일정 간격으로 움직이며, 겹치는 원소끼리 곱해 모두 더합니다(fused multiply-add). filter 값이 weight이고, filter마다 bias가 하나 있어 모든 출력 원소에 더해집니다. 입력 channel이 여러 개면 channel별로 계산해 더하므로, filter의 channel 수는 입력과 같아야 합니다. filter `FN`개를 쓰면 출력 feature map도 `FN`개 → 출력 `(FN, OH, OW)`. weight 모양은 `(FN, C, FH, FW)`, bias 모양은 `(FN,)`.
# - **Padding** `P`: 입력 둘레를 0으로 채워 출력 크기를 조절합니다 (convolution을 거듭해도 크기가 줄지 않게).
# - **Stride** `S`: filter를 옮기는 간격.
# - **Batch 처리**: 데이터를 `(N, C, H, W)` 4차원으로 묶어 `N`개를 한 번에 계산합니다.
#
# 출력 크기: $OH = \dfrac{H + 2P - FH}{S} + 1$, $OW = \dfrac{W + 2P - FW}{S} + 1$. 나눗셈이 정수로 떨어져야 합니다.
#
# **Pooling layer**: 가로/세로 공간을 줄입니다 (여기서는 window 안의 최댓값, max pooling). 학습할 parameter가 없고, channel 수가 그대로이며, 입력이 조금 움직여도 결과가 잘 변하지 않습니다.
#
# ### <font color='red'>문제 1</font>: 출력 크기
#
# `conv_output_size(size, filter_size, pad, stride)`를 완성하세요. `(size + 2*pad - filter_size)`가 `stride`로 나누어떨어지지 않으면 `ValueError`를 내야 합니다.

# %% solution="lab2_output_size"
def conv_output_size(size: int, filter_size: int, pad: int = 0, stride: int = 1) -> int:
    """Output height (or width) of a convolution or pooling window sliding over `size` pixels."""
    ### BEGIN SOLUTION
    span = size + 2 * pad - filter_size
    if span < 0 or span % stride != 0:
        raise ValueError(f"(size + 2*pad - filter_size) = {span}: 0 이상이고 stride {stride}로 "
                         f"나누어떨어져야 합니다. pad나 stride를 바꾸세요.")
    return span // stride + 1
    ### END SOLUTION


# %% check="lab2_output_size_check" points=1
assert conv_output_size(28, 5) == 24, "28x28 입력에 5x5 filter (pad 0, stride 1)이면 24입니다."
assert conv_output_size(24, 2, 0, 2) == 12, "24에 2x2 pooling (stride 2)이면 12입니다."
assert conv_output_size(7, 3, pad=1, stride=2) == 4
assert conv_output_size(4, 3, pad=1, stride=1) == 4, "pad 1, 3x3 filter는 크기를 유지합니다."
try:
    conv_output_size(28, 5, pad=0, stride=2)  # (28 - 5) = 23, stride 2로 나누어떨어지지 않음
except ValueError:
    pass
else:
    raise AssertionError("(28 - 5)는 2로 나누어떨어지지 않으므로 ValueError가 나야 합니다.")
print("통과: 출력 크기 공식이 맞습니다.")

# %% [markdown]
# ## 2. im2col
#
# Convolution을 4중, 6중 for 문으로 그대로 구현하면 느립니다. **im2col**은 filter가 닿는 입력 영역(patch)을 하나씩 한 줄로 펼쳐서 행렬로 만듭니다. 그러면 convolution이 **행렬 곱 한 번**이 되고, 고도로 최적화된 BLAS 행렬 곱을 쓸 수 있습니다.
#
# - 입력 `x`: `(N, C, H, W)` → 출력 `col`: `(N * OH * OW, C * FH * FW)`
# - `col`의 각 행 = filter가 한 위치에서 보는 patch (channel, 세로, 가로 순서로 펼침). 행 순서는 (이미지, 출력 세로 위치, 출력 가로 위치).
# - 예: `(1, 3, 7, 7)`에 5x5 filter → 출력 위치 3x3 = 9개, patch 원소 3x5x5 = 75개 → `(9, 75)`. 배치가 10이면 `(90, 75)`.
# - stride가 filter보다 작으면 patch가 겹치므로 `col`은 원래 입력보다 원소가 많습니다 (메모리를 더 쓰는 대신 빠릅니다).
#
# ### <font color='red'>문제 2</font>: im2col
#
# 힌트: 출력 배열 `col6`를 `(N, C, FH, FW, OH, OW)` 모양으로 만들고, filter 안의 위치 `(i, j)`마다 `x_pad[:, :, i:i + S*OH:S, j:j + S*OW:S]`를 한 번에 복사한 뒤, 축 순서를 `(N, OH, OW, C, FH, FW)`로 바꿔 reshape하면 for 문이 `FH * FW`번으로 줄어듭니다.

# %% solution="lab2_im2col"
def im2col(x: np.ndarray, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """(N, C, H, W) -> (N * OH * OW, C * filter_h * filter_w); one row per filter position."""
    N, C, H, W = x.shape
    OH = conv_output_size(H, filter_h, pad, stride)
    OW = conv_output_size(W, filter_w, pad, stride)
    ### BEGIN SOLUTION
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    col6 = np.empty((N, C, filter_h, filter_w, OH, OW), dtype=x.dtype)
    for i in range(filter_h):
        for j in range(filter_w):
            col6[:, :, i, j] = x_pad[:, :, i:i + stride * OH:stride, j:j + stride * OW:stride]
    col = col6.transpose(0, 4, 5, 1, 2, 3).reshape(N * OH * OW, -1)
    ### END SOLUTION
    return col


# %% check="lab2_im2col_check" points=1
_rng = np.random.default_rng(0)
_x1 = _rng.random((1, 3, 7, 7))
_x2 = _rng.random((10, 3, 7, 7))
assert im2col(_x1, 5, 5).shape == (9, 75), f"(1,3,7,7), 5x5 → (9, 75)인데 {im2col(_x1, 5, 5).shape}"
assert im2col(_x2, 5, 5).shape == (90, 75), f"(10,3,7,7), 5x5 → (90, 75)인데 {im2col(_x2, 5, 5).shape}"
# element by element against an explicit loop over patches (independent of the hint's trick)
_x3 = _rng.standard_normal((2, 2, 7, 6))
_col = im2col(_x3, 3, 2, stride=2, pad=1)
_xp = np.pad(_x3, ((0, 0), (0, 0), (1, 1), (1, 1)))
_expected = np.array([_xp[n, :, 2 * i:2 * i + 3, 2 * j:2 * j + 2].ravel()
                      for n in range(2) for i in range(4) for j in range(4)])
assert _col.shape == _expected.shape, f"모양 {_col.shape} != {_expected.shape}"
assert np.array_equal(_col, _expected), "행/열 순서가 다릅니다: 행은 (n, oh, ow), 열은 (c, fh, fw) 순서입니다."
print("통과: im2col의 모양과 값이 맞습니다: (1,3,7,7) → (9, 75), (10,3,7,7) → (90, 75).")

# %% [markdown]
# Backward에서는 im2col을 거꾸로 돌리는 **col2im**이 필요합니다. 겹치는 patch의 gradient는 같은 입력 pixel로 **더해집니다**. col2im은 주어집니다. 확인: 모든 `x`, `c`에 대해 $\langle \mathrm{im2col}(x), c \rangle = \langle x, \mathrm{col2im}(c) \rangle$ (서로 adjoint)여야 합니다.

# %%
def col2im(col: np.ndarray, x_shape, filter_h: int, filter_w: int, stride: int = 1,
           pad: int = 0) -> np.ndarray:
    """Adjoint of im2col: scatter-add the rows of col back into an (N, C, H, W) array."""
    N, C, H, W = x_shape
    OH = conv_output_size(H, filter_h, pad, stride)
    OW = conv_output_size(W, filter_w, pad, stride)
    col6 = col.reshape(N, OH, OW, C, filter_h, filter_w).transpose(0, 3, 4, 5, 1, 2)
    x_pad = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=col.dtype)
    for i in range(filter_h):
        for j in range(filter_w):
            x_pad[:, :, i:i + stride * OH:stride, j:j + stride * OW:stride] += col6[:, :, i, j]
    return x_pad[:, :, pad:pad + H, pad:pad + W]


_c = _rng.standard_normal(_col.shape)
_lhs = np.sum(im2col(_x3, 3, 2, stride=2, pad=1) * _c)
_rhs = np.sum(_x3 * col2im(_c, _x3.shape, 3, 2, stride=2, pad=1))
assert abs(_lhs - _rhs) < 1e-10 * max(1.0, abs(_lhs))
print(f"im2col과 col2im이 adjoint입니다: {_lhs:.6f} = {_rhs:.6f}")

# %% [markdown]
# ## 3. Layer 객체
#
# 각 layer를 `forward(x)`, `backward(dout)` 메서드를 가진 객체로 만듭니다. forward는 backward에 필요한 값을 객체 안에 기억하고, backward는 입력에 대한 gradient를 돌려주면서 parameter의 gradient를 `self.dW`, `self.db`에 저장합니다.
#
# **Convolution**: weight `W` `(FN, C, FH, FW)`를 `reshape(FN, -1).T`로 `(C*FH*FW, FN)` 행렬로 펼치면, `col @ W_col + b`가 `(N*OH*OW, FN)` 결과를 줍니다. 이를 `(N, OH, OW, FN)`으로 reshape한 뒤 `transpose(0, 3, 1, 2)`로 `(N, FN, OH, OW)`를 만듭니다. im2col 덕분에 affine layer와 거의 같은 모양의 코드가 됩니다.
#
# **Pooling**: im2col로 펼친 뒤 `(-1, pool_h * pool_w)`로 reshape하면 한 행이 한 channel의 한 window가 됩니다. 행마다 최댓값을 구하고 `(N, OH, OW, C)` → `(N, C, OH, OW)`로 되돌립니다. Backward는 ReLU처럼, 최댓값이었던 원소로만 gradient를 보냅니다 (window 안에 최댓값이 여러 개면 `np.argmax`가 고르는 첫 번째).
#
# ### <font color='red'>문제 3</font>: `Convolution.forward`와 `Pooling.forward`
#
# backward는 주어져 있습니다. backward가 쓰는 값(`self.x`, `self.col`, `self.col_W`, `self.arg_max`)을 forward에서 저장해야 합니다.

# %% solution="lab2_layers"
class Convolution:
    """Convolution layer on im2col; W of shape (FN, C, FH, FW), b of shape (FN,)."""

    def __init__(self, W, b, stride=1, pad=0):
        self.W, self.b = W, b
        self.stride, self.pad = stride, pad
        self.x = self.col = self.col_W = None
        self.dW = self.db = None

    def forward(self, x):
        FN, C, FH, FW = self.W.shape
        N, _, H, W = x.shape
        OH = conv_output_size(H, FH, self.pad, self.stride)
        OW = conv_output_size(W, FW, self.pad, self.stride)
        ### BEGIN SOLUTION
        col = im2col(x, FH, FW, self.stride, self.pad)
        col_W = self.W.reshape(FN, -1).T
        out = col @ col_W + self.b
        out = out.reshape(N, OH, OW, FN).transpose(0, 3, 1, 2)
        self.x, self.col, self.col_W = x, col, col_W
        ### END SOLUTION
        return out

    def backward(self, dout):
        FN, C, FH, FW = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)
        self.db = dout.sum(axis=0)
        self.dW = (self.col.T @ dout).T.reshape(FN, C, FH, FW)
        dcol = dout @ self.col_W.T
        return col2im(dcol, self.x.shape, FH, FW, self.stride, self.pad)


class Pooling:
    """Max pooling on im2col (no padding)."""

    def __init__(self, pool_h, pool_w, stride=1):
        self.pool_h, self.pool_w, self.stride = pool_h, pool_w, stride
        self.x = self.arg_max = None

    def forward(self, x):
        N, C, H, W = x.shape
        OH = conv_output_size(H, self.pool_h, 0, self.stride)
        OW = conv_output_size(W, self.pool_w, 0, self.stride)
        ### BEGIN SOLUTION
        col = im2col(x, self.pool_h, self.pool_w, self.stride, 0)
        col = col.reshape(-1, self.pool_h * self.pool_w)
        self.arg_max = np.argmax(col, axis=1)
        out = col[np.arange(col.shape[0]), self.arg_max]
        out = out.reshape(N, OH, OW, C).transpose(0, 3, 1, 2)
        self.x = x
        ### END SOLUTION
        return out

    def backward(self, dout):
        pool_size = self.pool_h * self.pool_w
        dout = dout.transpose(0, 2, 3, 1)
        dmax = np.zeros((dout.size, pool_size), dtype=dout.dtype)
        dmax[np.arange(dout.size), self.arg_max] = dout.ravel()
        dcol = dmax.reshape(dout.shape[0] * dout.shape[1] * dout.shape[2], -1)
        return col2im(dcol, self.x.shape, self.pool_h, self.pool_w, self.stride, 0)


# %% [markdown]
# 확인: `Convolution`, `Pooling`의 forward/backward를 수업 라이브러리의 naive layer(`layers.conv_forward_naive`, 정답 기준)와 fast layer(`fast_layers`)와 비교합니다. 일부러 채널 수, stride, padding이 서로 다른 경우를 씁니다.

# %% check="lab2_layers_check" points=2
_rng = np.random.default_rng(3)
for (N, C, H, W_), (FN, FH, FW), stride, pad in [((2, 3, 8, 7), (4, 3, 2), 1, 1),
                                                  ((3, 1, 9, 9), (2, 5, 5), 2, 0)]:
    _x = _rng.standard_normal((N, C, H, W_))
    _w = _rng.standard_normal((FN, C, FH, FW))
    _b = _rng.standard_normal(FN)
    conv = Convolution(_w, _b, stride=stride, pad=pad)
    _out = conv.forward(_x)
    _ref, _cache = layers.conv_forward_naive(_x, _w, _b, {"stride": stride, "pad": pad})
    assert _out.shape == _ref.shape, f"Convolution 출력 모양 {_out.shape} != {_ref.shape}"
    _err = rel_error(_out, _ref)
    assert _err < 1e-10, f"Convolution.forward가 conv_forward_naive와 다릅니다 (error {_err:.1e})."
    _dout = _rng.standard_normal(_out.shape)
    _dx = conv.backward(_dout)
    _dx_ref, _dw_ref, _db_ref = layers.conv_backward_naive(_dout, _cache)
    for _name, _a, _r in (("dx", _dx, _dx_ref), ("dW", conv.dW, _dw_ref), ("db", conv.db, _db_ref)):
        assert rel_error(_a, _r) < 1e-9, f"Convolution.backward의 {_name}가 다릅니다."

_x = _rng.standard_normal((2, 3, 8, 6))
pool = Pooling(2, 2, stride=2)
_out = pool.forward(_x)
_ref, _cache = fast_layers.max_pool_forward_fast(_x, {"pool_height": 2, "pool_width": 2, "stride": 2})
assert _out.shape == (2, 3, 4, 3), f"Pooling 출력 모양이 (2, 3, 4, 3)이어야 하는데 {_out.shape}"
assert np.array_equal(_out, _ref), "Pooling.forward가 max_pool_forward_fast와 다릅니다."
_dout = _rng.standard_normal(_out.shape)
assert rel_error(pool.backward(_dout), fast_layers.max_pool_backward_fast(_dout, _cache)) < 1e-12, \
    "Pooling.backward 결과가 다릅니다. forward에서 self.arg_max를 저장했는지 확인하세요."
print("통과: Convolution / Pooling layer가 naive layer, fast layer와 같은 값을 냅니다.")

# %% [markdown]
# 나머지 layer(ReLU, Affine, Softmax-with-loss)는 같은 방식의 객체로 주어집니다.

# %%
class Relu:
    def forward(self, x):
        self.mask = x <= 0
        return np.where(self.mask, 0, x)

    def backward(self, dout):
        return np.where(self.mask, 0, dout)


class Affine:
    def __init__(self, W, b):
        self.W, self.b = W, b
        self.dW = self.db = None

    def forward(self, x):
        self.x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return self.x @ self.W + self.b

    def backward(self, dout):
        self.dW = self.x.T @ dout
        self.db = dout.sum(axis=0)
        return (dout @ self.W.T).reshape(self.x_shape)


class SoftmaxWithLoss:
    def forward(self, scores, y):
        self.loss, self.dscores = layers.softmax_loss(scores, y)
        return self.loss

    def backward(self):
        return self.dscores


# %% [markdown]
# ## 4. SimpleConvNet
#
# `Conv → ReLU → Pooling → Affine → ReLU → Affine → Softmax`. 처음 weight는 표준편차 0.01의 정규분포로 초기화합니다.
# `Solver`가 쓰는 모델 규칙(cs231n)을 따릅니다: `model.params` dict, `model.loss(X)`는 점수, `model.loss(X, y)`는 `(loss, grads)`.
# Solver는 update 때 `model.params[k]`를 새 배열로 바꾸므로, `loss`는 처음에 `_bind()`로 layer 객체에 현재 parameter를 다시 연결합니다.
#
# ### <font color='red'>문제 4</font>: `SimpleConvNet.loss`의 backward
#
# forward는 주어집니다. `self.last_layer.backward()`부터 시작해 layer들을 **거꾸로** 돌며 `backward`를 호출하고, `grads`에 `'W1'..'b3'`를 채우세요 (`Conv1`, `Affine1`, `Affine2` layer의 `dW`, `db`).

# %% solution="lab2_simple_convnet"
class SimpleConvNet:
    """conv - relu - 2x2 max pool - affine - relu - affine - softmax."""

    def __init__(self, input_dim=(1, 28, 28), filter_num=30, filter_size=5, pad=0, stride=1,
                 hidden_size=100, output_size=10, weight_init_std=0.01, seed=0,
                 dtype=np.float32):
        rng = np.random.default_rng(seed)
        C, H, W = input_dim
        conv_out = conv_output_size(H, filter_size, pad, stride)
        pool_out = filter_num * (conv_out // 2) * (conv_out // 2)
        shapes = {"W1": (filter_num, C, filter_size, filter_size), "W2": (pool_out, hidden_size),
                  "W3": (hidden_size, output_size)}
        self.params = {}
        for i in (1, 2, 3):
            shape = shapes[f"W{i}"]
            self.params[f"W{i}"] = (weight_init_std * rng.standard_normal(shape)).astype(dtype)
            self.params[f"b{i}"] = np.zeros(shape[0] if i == 1 else shape[1], dtype=dtype)
        self.layers = OrderedDict()
        self.layers["Conv1"] = Convolution(None, None, stride, pad)
        self.layers["Relu1"] = Relu()
        self.layers["Pool1"] = Pooling(2, 2, stride=2)
        self.layers["Affine1"] = Affine(None, None)
        self.layers["Relu2"] = Relu()
        self.layers["Affine2"] = Affine(None, None)
        self.last_layer = SoftmaxWithLoss()

    def _bind(self):
        for i, key in enumerate(("Conv1", "Affine1", "Affine2"), start=1):
            self.layers[key].W = self.params[f"W{i}"]
            self.layers[key].b = self.params[f"b{i}"]

    def predict(self, X):
        self._bind()
        for layer in self.layers.values():
            X = layer.forward(X)
        return X

    def loss(self, X, y=None):
        scores = self.predict(X)
        if y is None:
            return scores
        loss = self.last_layer.forward(scores, y)
        grads = {}
        ### BEGIN SOLUTION
        dout = self.last_layer.backward()
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        for i, key in enumerate(("Conv1", "Affine1", "Affine2"), start=1):
            grads[f"W{i}"] = self.layers[key].dW
            grads[f"b{i}"] = self.layers[key].db
        ### END SOLUTION
        return loss, grads

    def save_params(self, path):
        np.savez(path, **self.params)

    def load_params(self, path):
        with np.load(path) as data:
            for key in self.params:
                self.params[key] = data[key].astype(self.params[key].dtype)


# %% check="lab2_simple_convnet_check" points=1
_rng = np.random.default_rng(4)
_net = SimpleConvNet(input_dim=(1, 10, 10), filter_num=3, filter_size=3, hidden_size=6,
                     output_size=4, weight_init_std=0.3, seed=4, dtype=np.float64)
_X, _y = _rng.standard_normal((3, 1, 10, 10)), np.array([0, 3, 1])
_loss, _grads = _net.loss(_X, _y)
assert set(_grads) == set(_net.params), f"grads 키 {sorted(_grads)} != {sorted(_net.params)}"
for _name in sorted(_net.params):
    _num = eval_numerical_gradient(lambda _: _net.loss(_X, _y)[0], _net.params[_name], verbose=False)
    _err = rel_error(_num, _grads[_name])
    assert _err < 1e-6, f"'{_name}'의 gradient가 수치 미분과 다릅니다 (relative error {_err:.1e})."
assert SimpleConvNet().params["W2"].shape == (4320, 100), "W2 모양은 (30*12*12, 100)이어야 합니다."
print("통과: SimpleConvNet의 gradient가 수치 미분과 일치합니다.")

# %% [markdown]
# ## 5. MNIST로 학습하기
#
# 시간이 오래 걸리지 않도록 학습 5,000장, 테스트 1,000장만 씁니다 (FAST MODE: 800 / 500장, 1 epoch). Optimizer는 **Adam** (learning rate 0.001), batch 100, 20 epoch.
#
# `Solver`는 epoch마다 **validation** 정확도를 재고, 끝나면 validation 정확도가 가장 좋았던 parameter를 모델에 남깁니다. 이 선택에 테스트 데이터를 쓰면 테스트 점수가 실제보다 좋게 나오므로, 학습 데이터에서 따로 떼어 낸 1,000장을 validation으로 쓰고 테스트 데이터는 마지막에 한 번만 씁니다.

# %%
N_TRAIN, N_VAL, N_TEST, EPOCHS = (800, 200, 500, 1) if FAST else (5000, 1000, 1000, 20)
# the first N_TRAIN + N_VAL training images (intro2ai.datasets.lab; FAST MODE: synthetic if missing)
data = lab.load_lab_data(DATASET, fast=FAST, n_train=N_TRAIN + N_VAL, n_test=N_TEST)
print(data.summary())  # shapes; in FAST MODE also says when the data is synthetic
x_train, y_train = data.x_train[:N_TRAIN], data.y_train[:N_TRAIN]
x_val, y_val = data.x_train[N_TRAIN:], data.y_train[N_TRAIN:]
x_test, y_test = data.x_test, data.y_test
RESULTS.update(data=data.source, n_train=len(x_train), n_test=len(x_test), epochs=EPOCHS)
print("train:", x_train.shape, x_train.dtype, " validation:", x_val.shape, " test:", x_test.shape)

# %%
network = SimpleConvNet(seed=0)
initial_filters = network.params["W1"].copy()
solver = Solver(network, {"X_train": x_train, "y_train": y_train, "X_val": x_val, "y_val": y_val},
                update_rule="adam", optim_config={"learning_rate": 1e-3}, batch_size=100,
                num_epochs=EPOCHS, num_train_samples=1000, num_val_samples=None,
                print_every=50, verbose=True)
_t0 = time.perf_counter()
solver.train()
train_seconds = time.perf_counter() - _t0
test_acc = solver.check_accuracy(x_test, y_test)
RESULTS.update(test_acc=round(float(test_acc), 4), train_seconds=round(train_seconds, 1))
print(f"test accuracy {test_acc:.4f}  ({train_seconds:.0f}s)")

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
ax1.plot(solver.loss_history, lw=0.7)
ax1.set_xlabel("반복 (iteration)")
ax1.set_ylabel("학습 손실 (training loss)")
_ep = np.arange(len(solver.train_acc_history))
ax2.plot(_ep, solver.train_acc_history, "o-", label="학습 (train)")
ax2.plot(_ep, solver.val_acc_history, "s-", label="검증 (validation)")
ax2.set_xlabel("epoch")
ax2.set_ylabel("정확도 (accuracy)")
ax2.set_ylim(0, 1.0)
ax2.legend(loc="lower right")
plt.show()

# %% [markdown]
# 기준: test accuracy 0.93 이상 (학습 5,000장, 20 epoch; 이 설정에서 보통 0.95 안팎이 나옵니다). **FAST MODE는 8 iteration뿐이라 기준 없이, loss가 처음 값보다 줄었는지만 확인합니다.**

# %% check="lab2_accuracy" points=1
if FAST:  # FAST MODE: relaxed (8 iterations of Adam from a 0.01 initialisation)
    _first, _last = solver.loss_history[0], np.mean(solver.loss_history[-3:])
    assert _last < _first, f"loss가 줄지 않았습니다: {_first:.4f} → {_last:.4f}"
    print(f"통과 (FAST MODE): loss {_first:.4f} → {_last:.4f}, test accuracy {test_acc:.4f}")
else:
    assert test_acc >= 0.93, f"test accuracy {test_acc:.4f} < 0.93. 문제 2~4를 다시 확인하세요."
    print(f"통과: test accuracy {test_acc:.4f} (기준 0.93).")

# %% [markdown]
# ## 6. Parameter 저장과 불러오기
#
# 학습한 parameter를 `np.savez`로 `.npz` 파일에 저장하고, 새 네트워크에 불러와 같은 예측을 하는지 확인합니다 (pickle과 달리 `.npz`는 불러올 때 임의의 코드를 실행하지 않습니다).

# %% check="lab2_save_load" points=1
network.save_params("simple_convnet_params.npz")
restored = SimpleConvNet(seed=123)
assert not np.array_equal(restored.params["W1"], network.params["W1"])
restored.load_params("simple_convnet_params.npz")
for _key in network.params:
    assert np.array_equal(restored.params[_key], network.params[_key]), f"{_key}가 다릅니다."
assert np.array_equal(restored.loss(x_test[:50]), network.loss(x_test[:50]))
print("통과: 저장한 parameter를 불러온 네트워크가 똑같이 예측합니다 (simple_convnet_params.npz).")

# %% [markdown]
# ## 7. 첫 번째 layer의 filter 시각화
#
# `W1`의 모양은 `(30, 1, 5, 5)`: channel이 1개인 5x5 filter 30개이므로 흑백 이미지로 그릴 수 있습니다. 학습 전 filter는 무작위라 규칙이 없지만, 학습 후에는 **edge**(밝기가 바뀌는 경계)나 **blob**(덩어리) 같은 규칙이 보입니다. 첫 layer는 이런 원시적인 특징을 뽑고, 층이 깊어질수록 더 추상적인 정보에 반응하게 됩니다.

# %%
def filter_show(filters, title, nx=10):
    FN = filters.shape[0]
    ny = int(np.ceil(FN / nx))
    fig, axes = plt.subplots(ny, nx, figsize=(nx * 0.9, ny * 0.9 + 0.4))
    for i, ax in enumerate(np.ravel(axes)):
        ax.set_xticks([])
        ax.set_yticks([])
        if i < FN:
            ax.imshow(filters[i, 0], cmap="gray_r", interpolation="nearest")
        else:
            ax.axis("off")
    fig.suptitle(title)
    plt.show()


filter_show(initial_filters, "학습 전 (무작위)")
network.load_params("simple_convnet_params.npz")
filter_show(network.params["W1"], "학습 후")

# %% [markdown]
# ## 정리
#
# - CNN은 fully connected network에 convolution layer와 pooling layer를 더한 것입니다.
# - im2col로 이미지를 행렬로 펼치면 convolution과 pooling을 행렬 연산으로 간단하고 빠르게 구현할 수 있습니다 (대신 메모리를 더 씁니다).
# - 학습된 첫 layer의 filter는 edge와 blob 같은 원시적인 특징에 반응합니다.
# - 대표적인 CNN: LeNet (sigmoid, subsampling), AlexNet (ReLU, dropout, GPU와 대량의 데이터).

# %%
RESULTS["total_seconds"] = round(time.perf_counter() - LAB_START, 1)
print("LAB_RESULT " + json.dumps(RESULTS))
