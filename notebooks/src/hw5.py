# %% [markdown] id="title"
# # HW5: Convolutional Neural Networks 연습문제
#
# ***참고: 이번 과제 5 도 Stanford 대학 cs231n 수업 자료(http://cs231n.stanford.edu/)를 바탕으로 함***
#
# 과제 3 까지는 fully connected neural network 를 다뤘다. 이번 과제에서는 **convolutional neural
# network (CNN)** 를 다룬다. convolutional layer 와 max-pooling layer 의 forward / backward 연산을
# 직접 구현하고, 이 layer 들을 조합해 작은 CNN 을 만들어 CIFAR-10 으로 학습시킨다.
#
# | 구현문제 | task id | 파일 | 구현할 것 |
# |---|---|---|---|
# | 1 | `hw5_conv_forward` | `intro2ai/layers.py` | `conv_forward_naive` |
# | 2 | `hw5_conv_backward` | `intro2ai/layers.py` | `conv_backward_naive` |
# | 3 | `hw5_max_pool_forward` | `intro2ai/layers.py` | `max_pool_forward_naive` |
# | 4 | `hw5_max_pool_backward` | `intro2ai/layers.py` | `max_pool_backward_naive` |
# | 5 | `hw5_three_layer_convnet` | `intro2ai/classifiers/cnn.py` | `ThreeLayerConvNet` (`__init__`, `loss`) |
#
# 코드는 `.py` 파일에 작성하고, 이 노트북은 **수정하지 말고 실행만** 한다. 터미널에서
# `make check` 로 각 구현문제의 상태를 표로 확인할 수 있다 (`make check TASK=hw5_conv_forward`).
# 노트북은 `make jupyter` 로 열어 실행하거나, `make notebook` 으로 처음부터 끝까지 실행하고 저장한다.
#
# **FAST MODE**: 환경 변수 `INTRO2AI_FAST=1` 을 설정하면 (`INTRO2AI_FAST=1 make notebook` 또는
# `INTRO2AI_FAST=1 make jupyter`) 실제 CIFAR-10 대신 같은 형식의 작은 가짜(synthetic) 데이터로
# 짧게 실행된다. 코드가 끝까지 돌아가는지 빨리 확인할 때 쓰고, 제출할 때는 실제 데이터로 실행한다
# (`make submit` 은 노트북을 마지막으로 FAST MODE 로 실행했는지 제출 기록에 남긴다).
#
# ### 규칙: 구현문제 1-4 는 NumPy 만으로
#
# `conv_forward_naive`, `conv_backward_naive`, `max_pool_forward_naive`, `max_pool_backward_naive`
# 는 **NumPy 만으로** 직접 구현한다.
#
# - 쓰면 안 되는 것: 라이브러리의 convolution / pooling (`scipy.signal`, `scipy.ndimage`, `torch`
#   등), 그리고 이 과제가 제공하는 fast layer (`intro2ai/fast_layers.py`, Cython 확장 모듈) 와
#   sandwich layer (`intro2ai/layer_utils.py`). naive 함수에서 이들을 쓰면 결과가 맞아도 그
#   구현문제는 **0 점**이다 (`make check` 도 같은 규칙으로 검사한다).
# - 써도 되는 것: NumPy 의 모든 기능 (`np.pad`, `np.einsum`, `np.tensordot`, stride tricks
#   (`np.lib.stride_tricks.sliding_window_view`, `as_strided`), 반복문 등).
# - 구현문제 5 (`ThreeLayerConvNet`) 는 제공된 모든 모듈 (fast layer, sandwich layer 포함) 을 써도 된다.
#
# ### 채점 방법
#
# - 점수는 제출한 `intro2ai/layers.py` 와 `intro2ai/classifiers/cnn.py` 를 채점기가 정답 구현과 같은
#   입력으로 비교해서 정한다. **이 노트북의 검사 셀과 `make check` 의 통과 여부는 점수를 정하지
#   않는다** (구현을 확인하는 도구일 뿐이다). 노트북은 실행 결과가 있는 상태로 제출한다.
# - 구현문제마다 여러 **케이스**로 채점하고 케이스마다 부분 점수를 준다 (출력, dx, dw, db 처럼
#   비교하는 값마다 가중치가 있다). 한 케이스에서 오류가 나도 다른 케이스의 점수는 그대로다.
# - **공개(visible) 케이스** 는 이 노트북과 `make check` 가 쓰는 것과 같은 종류의 입력이다.
# - **비공개(hidden) 케이스** 는 채점할 때 새로 뽑는 입력이다. 값과 크기는 매번 다르지만 케이스의
#   종류는 매번 같다: 여러 batch 크기와 channel 수, 정사각형이 아닌 입력, 여러 stride 와 pad
#   (pad=0 포함), 정사각형이 아닌 pooling 창, 창 크기와 다른 stride, 겹치는 창, 창 안에 같은
#   최댓값이 여러 개인 경우 등. 특정 크기에만 맞추지 말고 어떤 크기에서도 맞게 구현한다. 채점
#   결과 페이지에는 케이스마다 모양(shape), stride, pad 와 점수가 나온다.
# - 입력 배열 (`x`, `w`, `b`, `dout`, cache 안의 배열) 을 제자리에서(in place) 바꾸면 감점된다.

# %% [markdown] id="setup-md"
# ### 셀 1: 환경 설정
#
# 필요한 모듈을 import 하고 그래프(plot) 설정을 한다. 코딩 없이 실행만 하면 된다.
# `%autoreload 2` 덕분에 `.py` 파일을 고친 뒤 커널을 재시작하지 않아도 새 코드가 쓰인다.
# `intro2ai.vis_utils` 를 import 하면 그래프의 한글이 함께 들어 있는 나눔고딕 글꼴로 그려진다.

# %% id="setup"
# Setup cell.
import os
import time

import numpy as np
import matplotlib.pyplot as plt

from intro2ai.classifiers.cnn import ThreeLayerConvNet
from intro2ai.data_utils import get_CIFAR10_data
from intro2ai.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from intro2ai.layers import (conv_backward_naive, conv_forward_naive, max_pool_backward_naive,
                             max_pool_forward_naive)
from intro2ai.fast_layers import (conv_backward_fast, conv_forward_fast, max_pool_backward_fast,
                                  max_pool_forward_fast)
from intro2ai.solver import Solver
from intro2ai.vis_utils import visualize_grid  # also registers the bundled Korean font (NanumGothic)

# %matplotlib inline
plt.rcParams['figure.figsize'] = (10.0, 8.0)  # set default size of plots
plt.rcParams['image.interpolation'] = 'nearest'
plt.rcParams['image.cmap'] = 'gray'

# %load_ext autoreload
# %autoreload 2

# FAST MODE: INTRO2AI_FAST=1 -> small synthetic CIFAR-10, short training.
FAST = os.environ.get('INTRO2AI_FAST', '').strip() not in ('', '0')
print('FAST MODE (작은 가짜 데이터로 빠르게 실행)' if FAST else '일반 모드 (실제 CIFAR-10)')

# %% [markdown] id="data-md"
# ### 셀 2: CIFAR-10 데이터 불러오기 및 전처리
#
# 데이터를 불러와 평균 영상을 빼는 전처리까지 한다. 코딩 없이 실행만 하면 된다.
# CIFAR-10 이 아직 없으면 아래 셀이 내려받는 명령을 알려 준다
# (터미널에서 `python -m intro2ai.datasets download cifar10`).

# %% id="data"
# Load the (preprocessed) CIFAR-10 data.
if FAST:
    import tempfile
    from intro2ai.datasets.synthetic import write_cifar10
    fast_dir = tempfile.mkdtemp(prefix='intro2ai_fast_cifar10_')
    write_cifar10(fast_dir, n_per_batch=60, n_test=100, seed=0)
    data = get_CIFAR10_data(num_training=200, num_validation=100, num_test=100, data_dir=fast_dir)
else:
    try:
        data = get_CIFAR10_data()
    except FileNotFoundError:
        print('CIFAR-10 데이터가 없습니다. 터미널(과제 폴더)에서 다음 명령으로 내려받은 뒤 이 셀을 다시 실행하세요:\n'
              '    python -m intro2ai.datasets download cifar10\n'
              '(빠른 확인만 하려면 INTRO2AI_FAST=1 로 Jupyter 를 시작하면 작은 가짜 데이터를 씁니다.)')
        raise
for k, v in list(data.items()):
    print(f'{k}: {v.shape}')

# %% [markdown] id="conv-forward-md"
# ## 셀 3-7: Convolution, Max-pooling layer 의 forward / backward 구현
#
# ### 구현문제 1: Convolution layer naive forward (`hw5_conv_forward`) & 셀 3: 검증
#
# **구현문제 1**: 파일 `intro2ai/layers.py` 를 열어 `conv_forward_naive` 를 구현하시오.
# 입력 검사와 `stride, pad, H_out, W_out` 계산, cache 만들기는 이미 되어 있다.
#
# 지금은 속도는 신경 쓰지 말고 정확하게 구현하는 데 집중한다. 구현한 뒤 아래 셀을 실행한다
# (상대 오차 `difference` 는 1e-7 보다 작아야 한다, 보통 e-8 정도).

# %% graded="hw5_conv_forward"
x_shape = (2, 3, 4, 4)
w_shape = (3, 3, 4, 4)
x = np.linspace(-0.1, 0.5, num=np.prod(x_shape)).reshape(x_shape)
w = np.linspace(-0.2, 0.3, num=np.prod(w_shape)).reshape(w_shape)
b = np.linspace(-0.1, 0.2, num=3)

conv_param = {'stride': 2, 'pad': 1}
out, _ = conv_forward_naive(x, w, b, conv_param)
correct_out = np.array([[[[-0.08759809, -0.10987781],
                          [-0.18387192, -0.2109216 ]],
                         [[ 0.21027089,  0.21661097],
                          [ 0.22847626,  0.23004637]],
                         [[ 0.50813986,  0.54309974],
                          [ 0.64082444,  0.67101435]]],
                        [[[-0.98053589, -1.03143541],
                          [-1.19128892, -1.24695841]],
                         [[ 0.69108355,  0.66880383],
                          [ 0.59480972,  0.56776003]],
                         [[ 2.36270298,  2.36904306],
                          [ 2.38090835,  2.38247847]]]])

# Compare your output to ours; difference should be around e-8
print('Testing conv_forward_naive')
difference = rel_error(out, correct_out)
print('difference: ', difference)
assert out.shape == correct_out.shape, f'출력 shape 이 {out.shape} 입니다. {correct_out.shape} 이어야 합니다.'
assert difference < 1e-7, 'conv_forward_naive 의 출력이 기대값과 다릅니다. padding, stride, bias 를 확인하세요.'
print('통과: conv_forward_naive 출력이 기대값과 일치합니다.')
### BEGIN HIDDEN TESTS
_hw5_rng = np.random.default_rng(20260905)
for _hw5_xs, _hw5_ws, _hw5_cp in [((2, 2, 7, 5), (3, 2, 3, 1), {'stride': 2, 'pad': 1}),
                                   ((1, 3, 6, 6), (2, 3, 2, 2), {'stride': 2, 'pad': 0})]:
    _hw5_x = _hw5_rng.standard_normal(_hw5_xs)
    _hw5_w = _hw5_rng.standard_normal(_hw5_ws)
    _hw5_b = _hw5_rng.standard_normal(_hw5_ws[0])
    _hw5_p, _hw5_s = _hw5_cp['pad'], _hw5_cp['stride']
    _hw5_xp = np.pad(_hw5_x, [(0, 0), (0, 0), (_hw5_p, _hw5_p), (_hw5_p, _hw5_p)])
    _hw5_win = np.lib.stride_tricks.sliding_window_view(_hw5_xp, _hw5_ws[2:], axis=(2, 3))
    _hw5_ref = np.einsum('nchwij,fcij->nfhw', _hw5_win, _hw5_w) + _hw5_b[None, :, None, None]
    _hw5_ref = _hw5_ref[:, :, ::_hw5_s, ::_hw5_s]
    _hw5_out, _ = conv_forward_naive(_hw5_x, _hw5_w, _hw5_b, _hw5_cp)
    assert _hw5_out.shape == _hw5_ref.shape and rel_error(_hw5_out, _hw5_ref) < 1e-7
### END HIDDEN TESTS

# %% [markdown] id="image-md"
# ### 셀 4: Convolution 으로 영상 처리하기
#
# convolutional layer 가 하는 연산을 눈으로 확인하기 위해, 구현한 `conv_forward_naive` 로 두 장의
# 사진(고양이 Chelsea 와 커피잔, scikit-image 의 CC0 예제 사진)에 흔히 쓰는 영상 처리 연산을 적용한다.
# 첫 번째 filter 는 컬러 영상을 흑백(grayscale)으로 바꾸고, 두 번째 filter 는 파란 채널에서 가로
# 방향 에지(edge)를 검출한다. 연산은 모두 같은 convolution forward 이고 kernel 값만 다르다.
# 결과 그림이 그럴듯하면 forward 구현이 맞을 가능성이 높다.

# %% id="image-demo" needs="hw5_conv_forward"
from importlib.resources import files

from imageio.v2 import imread
from PIL import Image

images = files('intro2ai') / 'notebook_images'
cat = imread(images / 'chelsea.jpg')
coffee = imread(images / 'coffee.jpg')

def center_square(img):
    """Crop the middle square of a wide (or tall) image."""
    h, w = img.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return img[top:top + s, left:left + s]

img_size = 64 if FAST else 200   # Make this smaller if it runs too slow
cat_sq = center_square(cat)
coffee_sq = center_square(coffee)
x = np.zeros((2, 3, img_size, img_size))
x[0] = np.array(Image.fromarray(cat_sq).resize((img_size, img_size))).transpose((2, 0, 1))
x[1] = np.array(Image.fromarray(coffee_sq).resize((img_size, img_size))).transpose((2, 0, 1))

# Two 3x3 filters.
w = np.zeros((2, 3, 3, 3))
# The first filter converts the image to grayscale (weights of the R, G, B channels).
w[0, 0, :, :] = [[0, 0, 0], [0, 0.3, 0], [0, 0, 0]]
w[0, 1, :, :] = [[0, 0, 0], [0, 0.6, 0], [0, 0, 0]]
w[0, 2, :, :] = [[0, 0, 0], [0, 0.1, 0], [0, 0, 0]]
# The second filter detects horizontal edges in the blue channel (Sobel).
w[1, 2, :, :] = [[1, 2, 1], [0, 0, 0], [-1, -2, -1]]
# No bias for grayscale; 128 for the edges so that nothing is negative.
b = np.array([0.0, 128.0])

out, _ = conv_forward_naive(x, w, b, {'stride': 1, 'pad': 1})
assert out.shape == (2, 2, img_size, img_size)
# Grayscale of a pixel = 0.3 R + 0.6 G + 0.1 B of the same pixel.
assert np.allclose(out[:, 0, 1:-1, 1:-1], 0.3 * x[:, 0, 1:-1, 1:-1] + 0.6 * x[:, 1, 1:-1, 1:-1] + 0.1 * x[:, 2, 1:-1, 1:-1])

def imshow_no_ax(img, normalize=True):
    """Show an image as uint8 without axis labels."""
    if normalize:
        img_max, img_min = np.max(img), np.min(img)
        img = 255.0 * (img - img_min) / (img_max - img_min)
    plt.imshow(img.astype('uint8'))
    plt.gca().axis('off')

for row, original in enumerate((cat_sq, coffee_sq)):
    plt.subplot(2, 3, 3 * row + 1)
    imshow_no_ax(original, normalize=False)
    plt.title('원본 영상' if row == 0 else '')
    plt.subplot(2, 3, 3 * row + 2)
    imshow_no_ax(out[row, 0])
    plt.title('흑백 (grayscale)' if row == 0 else '')
    plt.subplot(2, 3, 3 * row + 3)
    imshow_no_ax(out[row, 1])
    plt.title('가로 에지 (edge)' if row == 0 else '')
plt.show()
print('흑백 변환 결과가 기대값과 일치합니다. 그림에서 에지가 잘 보이는지 확인하세요.')

# %% [markdown] id="conv-backward-md"
# ### 구현문제 2: Convolution layer naive backward (`hw5_conv_backward`) & 셀 5: 검증
#
# **구현문제 2**: 파일 `intro2ai/layers.py` 에서 `conv_backward_naive` 를 구현하시오.
# 아래 셀은 수치 미분(numerical gradient)과 비교한다. 상대 오차는 1e-8 정도 이하여야 한다.

# %% graded="hw5_conv_backward" needs="hw5_conv_forward"
np.random.seed(231)
x = np.random.randn(4, 3, 5, 5)
w = np.random.randn(2, 3, 3, 3)
b = np.random.randn(2,)
dout = np.random.randn(4, 2, 5, 5)
conv_param = {'stride': 1, 'pad': 1}

dx_num = eval_numerical_gradient_array(lambda x: conv_forward_naive(x, w, b, conv_param)[0], x, dout)
dw_num = eval_numerical_gradient_array(lambda w: conv_forward_naive(x, w, b, conv_param)[0], w, dout)
db_num = eval_numerical_gradient_array(lambda b: conv_forward_naive(x, w, b, conv_param)[0], b, dout)

out, cache = conv_forward_naive(x, w, b, conv_param)
dx, dw, db = conv_backward_naive(dout, cache)

# Your errors should be around e-8 or less.
print('Testing conv_backward_naive function')
errors = {'dx': rel_error(dx, dx_num), 'dw': rel_error(dw, dw_num), 'db': rel_error(db, db_num)}
for name, err in errors.items():
    print(f'{name} error: ', err)
for name, err in errors.items():
    assert err < 1e-7, f'{name} 가 수치 미분과 다릅니다 (상대 오차 {err:.1e}). {name} 계산을 확인하세요.'
print('통과: dx, dw, db 가 수치 미분과 일치합니다.')
### BEGIN HIDDEN TESTS
_hw5_rng = np.random.default_rng(5150)
_hw5_x = _hw5_rng.standard_normal((2, 2, 7, 6))
_hw5_w = _hw5_rng.standard_normal((3, 2, 3, 2))
_hw5_b = _hw5_rng.standard_normal(3)
_hw5_cp = {'stride': 2, 'pad': 1}
_hw5_out, _hw5_cache = conv_forward_naive(_hw5_x, _hw5_w, _hw5_b, _hw5_cp)
_hw5_dout = _hw5_rng.standard_normal(_hw5_out.shape)
_hw5_grads = conv_backward_naive(_hw5_dout, _hw5_cache)
_hw5_nums = [eval_numerical_gradient_array(lambda v: conv_forward_naive(v, _hw5_w, _hw5_b, _hw5_cp)[0], _hw5_x, _hw5_dout),
             eval_numerical_gradient_array(lambda v: conv_forward_naive(_hw5_x, v, _hw5_b, _hw5_cp)[0], _hw5_w, _hw5_dout),
             eval_numerical_gradient_array(lambda v: conv_forward_naive(_hw5_x, _hw5_w, v, _hw5_cp)[0], _hw5_b, _hw5_dout)]
for _hw5_g, _hw5_n in zip(_hw5_grads, _hw5_nums):
    assert _hw5_g.shape == _hw5_n.shape and rel_error(_hw5_g, _hw5_n) < 1e-6
### END HIDDEN TESTS

# %% [markdown] id="pool-forward-md"
# ### 구현문제 3: Max-pooling layer naive forward (`hw5_max_pool_forward`) & 셀 6: 검증
#
# **구현문제 3**: 파일 `intro2ai/layers.py` 에서 `max_pool_forward_naive` 를 구현하시오.
# 속도는 신경 쓰지 말고 정확하게 구현한다. 상대 오차는 e-8 정도여야 한다.

# %% graded="hw5_max_pool_forward"
x_shape = (2, 3, 4, 4)
x = np.linspace(-0.3, 0.4, num=np.prod(x_shape)).reshape(x_shape)
pool_param = {'pool_width': 2, 'pool_height': 2, 'stride': 2}

out, _ = max_pool_forward_naive(x, pool_param)

correct_out = np.array([[[[-0.26315789, -0.24842105],
                          [-0.20421053, -0.18947368]],
                         [[-0.14526316, -0.13052632],
                          [-0.08631579, -0.07157895]],
                         [[-0.02736842, -0.01263158],
                          [ 0.03157895,  0.04631579]]],
                        [[[ 0.09052632,  0.10526316],
                          [ 0.14947368,  0.16421053]],
                         [[ 0.20842105,  0.22315789],
                          [ 0.26736842,  0.28210526]],
                         [[ 0.32631579,  0.34105263],
                          [ 0.38526316,  0.4       ]]]])

# Compare your output with ours. Difference should be on the order of e-8.
print('Testing max_pool_forward_naive function:')
difference = rel_error(out, correct_out)
print('difference: ', difference)
assert out.shape == correct_out.shape, f'출력 shape 이 {out.shape} 입니다. {correct_out.shape} 이어야 합니다.'
assert difference < 1e-7, 'max_pool_forward_naive 의 출력이 기대값과 다릅니다. 창(window) 위치와 stride 를 확인하세요.'
print('통과: max_pool_forward_naive 출력이 기대값과 일치합니다.')
### BEGIN HIDDEN TESTS
_hw5_rng = np.random.default_rng(4242)
for _hw5_xs, _hw5_pp in [((2, 3, 7, 6), {'pool_height': 3, 'pool_width': 2, 'stride': 2}),
                          ((1, 2, 5, 5), {'pool_height': 2, 'pool_width': 2, 'stride': 1})]:
    _hw5_x = _hw5_rng.standard_normal(_hw5_xs)
    _hw5_win = np.lib.stride_tricks.sliding_window_view(
        _hw5_x, (_hw5_pp['pool_height'], _hw5_pp['pool_width']), axis=(2, 3))
    _hw5_ref = _hw5_win[:, :, ::_hw5_pp['stride'], ::_hw5_pp['stride']].max(axis=(-2, -1))
    _hw5_out, _ = max_pool_forward_naive(_hw5_x, _hw5_pp)
    assert _hw5_out.shape == _hw5_ref.shape and rel_error(_hw5_out, _hw5_ref) < 1e-7
### END HIDDEN TESTS

# %% [markdown] id="pool-backward-md"
# ### 구현문제 4: Max-pooling layer naive backward (`hw5_max_pool_backward`) & 셀 7: 검증
#
# **구현문제 4**: 파일 `intro2ai/layers.py` 에서 `max_pool_backward_naive` 를 구현하시오.
# 창(window) 안에 같은 최댓값이 여러 개이면 gradient 는 행 우선(row-major) 순서로 **첫 번째**
# 최댓값(`np.argmax` 가 고르는 원소)에만 전달한다. 상대 오차는 e-12 정도여야 한다.

# %% graded="hw5_max_pool_backward" needs="hw5_max_pool_forward"
np.random.seed(231)
x = np.random.randn(3, 2, 8, 8)
dout = np.random.randn(3, 2, 4, 4)
pool_param = {'pool_height': 2, 'pool_width': 2, 'stride': 2}

dx_num = eval_numerical_gradient_array(lambda x: max_pool_forward_naive(x, pool_param)[0], x, dout)

out, cache = max_pool_forward_naive(x, pool_param)
dx = max_pool_backward_naive(dout, cache)

# Your error should be on the order of e-12
print('Testing max_pool_backward_naive function:')
err = rel_error(dx, dx_num)
print('dx error: ', err)
assert dx.shape == x.shape, f'dx 의 shape 이 {dx.shape} 입니다. x 와 같은 {x.shape} 이어야 합니다.'
assert err < 1e-8, f'dx 가 수치 미분과 다릅니다 (상대 오차 {err:.1e}). 최댓값 위치로만 gradient 를 보내는지 확인하세요.'
print('통과: max_pool_backward_naive 가 수치 미분과 일치합니다.')
### BEGIN HIDDEN TESTS
_hw5_x = np.zeros((1, 1, 4, 4))
_hw5_x[0, 0, 1, 1] = _hw5_x[0, 0, 1, 2] = 1.0
_hw5_pp = {'pool_height': 2, 'pool_width': 2, 'stride': 2}
_hw5_out, _hw5_cache = max_pool_forward_naive(_hw5_x, _hw5_pp)
_hw5_dx = max_pool_backward_naive(np.arange(1.0, 5.0).reshape(1, 1, 2, 2), _hw5_cache)
_hw5_ref = np.zeros((1, 1, 4, 4))
_hw5_ref[0, 0, 1, 1], _hw5_ref[0, 0, 1, 2], _hw5_ref[0, 0, 2, 0], _hw5_ref[0, 0, 2, 2] = 1.0, 2.0, 3.0, 4.0
assert np.array_equal(_hw5_dx, _hw5_ref)
_hw5_rng = np.random.default_rng(777)
_hw5_x = (_hw5_rng.permutation(50) / 50.0).reshape(1, 2, 5, 5)
_hw5_pp = {'pool_height': 3, 'pool_width': 3, 'stride': 1}
_hw5_out, _hw5_cache = max_pool_forward_naive(_hw5_x, _hw5_pp)
_hw5_dout = _hw5_rng.standard_normal(_hw5_out.shape)
_hw5_num = eval_numerical_gradient_array(lambda v: max_pool_forward_naive(v, _hw5_pp)[0], _hw5_x, _hw5_dout)
assert rel_error(max_pool_backward_naive(_hw5_dout, _hw5_cache), _hw5_num) < 1e-8
### END HIDDEN TESTS

# %% [markdown] id="fast-md"
# ## 셀 8: Fast layers (Cython 확장 모듈)
#
# naive 구현은 반복문이 많아 느리다. `intro2ai/fast_layers.py` 에는 빠른 convolution 과
# max-pooling 이 제공된다. convolution 은 보통 **im2col** 방식이고, stride 가 1 이면 CPU 의 SIMD
# 명령(AVX2, AVX-512)으로 padding 된 이미지를 바로 읽는 direct convolution 을 쓴다. 핵심 부분은
# Cython 확장 모듈(과 그 안에 포함된 C 코드)로 되어 있어 한 번 컴파일(compile)해야 한다. 과제 폴더의 터미널에서 다음을 실행한 뒤 **커널을 재시작**한다:
#
# ```bash
# make compile-cython      # = python setup.py build_ext --inplace
# ```
#
# 컴파일하지 않아도 같은 결과를 내는 NumPy 버전이 쓰이지만 느리다. 아래 셀은 확장 모듈이
# 준비되었는지 알려 준다. 그다음 셀들은 naive 와 fast 구현의 결과(상대 오차)와 속도를 비교한다.

# %% id="extension-status"
from intro2ai import _extension

if _extension.is_built():
    print('Cython 확장 모듈이 준비되었습니다: fast layers 가 컴파일된 kernel (im2col, direct convolution) 을 씁니다.')
else:
    print('Cython 확장 모듈이 없습니다 (원인: %s).' % _extension.import_error())
    print('터미널에서 `make compile-cython` 을 실행한 뒤 커널을 재시작하세요. 지금은 NumPy 버전으로 계속합니다.')

# %% id="fast-conv" needs="hw5_conv_forward,hw5_conv_backward"
# Relative errors should be around e-9 or less.
np.random.seed(231)
shape_x, shape_w = ((20, 3, 15, 15), (10, 3, 3, 3)) if FAST else ((100, 3, 31, 31), (25, 3, 3, 3))
x = np.random.randn(*shape_x)
w = np.random.randn(*shape_w)
b = np.random.randn(shape_w[0],)
dout = np.random.randn(shape_x[0], shape_w[0], (shape_x[2] - 1) // 2 + 1, (shape_x[3] - 1) // 2 + 1)
conv_param = {'stride': 2, 'pad': 1}

t0 = time.perf_counter()
out_naive, cache_naive = conv_forward_naive(x, w, b, conv_param)
t1 = time.perf_counter()
out_fast, cache_fast = conv_forward_fast(x, w, b, conv_param)
t2 = time.perf_counter()

print('Testing conv_forward_fast:')
print('Naive: %fs' % (t1 - t0))
print('Fast: %fs' % (t2 - t1))
print('Speedup: %fx' % ((t1 - t0) / max(t2 - t1, 1e-9)))
print('Difference: ', rel_error(out_naive, out_fast))

t0 = time.perf_counter()
dx_naive, dw_naive, db_naive = conv_backward_naive(dout, cache_naive)
t1 = time.perf_counter()
dx_fast, dw_fast, db_fast = conv_backward_fast(dout, cache_fast)
t2 = time.perf_counter()

print('\nTesting conv_backward_fast:')
print('Naive: %fs' % (t1 - t0))
print('Fast: %fs' % (t2 - t1))
print('Speedup: %fx' % ((t1 - t0) / max(t2 - t1, 1e-9)))
print('dx difference: ', rel_error(dx_naive, dx_fast))
print('dw difference: ', rel_error(dw_naive, dw_fast))
print('db difference: ', rel_error(db_naive, db_fast))
for name, a, c in [('out', out_naive, out_fast), ('dx', dx_naive, dx_fast), ('dw', dw_naive, dw_fast), ('db', db_naive, db_fast)]:
    assert rel_error(a, c) < 1e-8, f'naive 와 fast 의 {name} 가 다릅니다. naive 구현을 확인하세요.'
print('통과: naive 와 fast convolution 결과가 일치합니다.')

# %% id="fast-pool" needs="hw5_max_pool_forward,hw5_max_pool_backward"
# Relative errors should be close to 0.0.
np.random.seed(231)
x = np.random.randn(20 if FAST else 100, 3, 32, 32)
dout = np.random.randn(x.shape[0], 3, 16, 16)
pool_param = {'pool_height': 2, 'pool_width': 2, 'stride': 2}

t0 = time.perf_counter()
out_naive, cache_naive = max_pool_forward_naive(x, pool_param)
t1 = time.perf_counter()
out_fast, cache_fast = max_pool_forward_fast(x, pool_param)
t2 = time.perf_counter()

print('Testing pool_forward_fast:')
print('Naive: %fs' % (t1 - t0))
print('fast: %fs' % (t2 - t1))
print('speedup: %fx' % ((t1 - t0) / max(t2 - t1, 1e-9)))
print('difference: ', rel_error(out_naive, out_fast))

t0 = time.perf_counter()
dx_naive = max_pool_backward_naive(dout, cache_naive)
t1 = time.perf_counter()
dx_fast = max_pool_backward_fast(dout, cache_fast)
t2 = time.perf_counter()

print('\nTesting pool_backward_fast:')
print('Naive: %fs' % (t1 - t0))
print('fast: %fs' % (t2 - t1))
print('speedup: %fx' % ((t1 - t0) / max(t2 - t1, 1e-9)))
print('dx difference: ', rel_error(dx_naive, dx_fast))
assert rel_error(out_naive, out_fast) < 1e-10 and rel_error(dx_naive, dx_fast) < 1e-10, \
    'naive 와 fast max-pooling 결과가 다릅니다. naive 구현을 확인하세요.'
print('통과: naive 와 fast max-pooling 결과가 일치합니다.')

# %% [markdown] id="sandwich-md"
# ## 셀 9-10: Convolutional "sandwich" layers
#
# 과제 3 처럼, 자주 함께 쓰는 layer 묶음(sandwich)을 `intro2ai/layer_utils.py` 에 하나의 layer 처럼
# 정의해 두었다 (fast layers 사용). 아래 셀로 사용법을 익히고 gradient 가 맞는지 확인한다.
# 코딩 없이 실행만 하면 된다.

# %% id="conv-relu-pool"
from intro2ai.layer_utils import conv_relu_pool_forward, conv_relu_pool_backward
np.random.seed(231)
x = np.random.randn(2, 3, 16, 16)
w = np.random.randn(3, 3, 3, 3)
b = np.random.randn(3,)
dout = np.random.randn(2, 3, 8, 8)
conv_param = {'stride': 1, 'pad': 1}
pool_param = {'pool_height': 2, 'pool_width': 2, 'stride': 2}

out, cache = conv_relu_pool_forward(x, w, b, conv_param, pool_param)
dx, dw, db = conv_relu_pool_backward(dout, cache)

dx_num = eval_numerical_gradient_array(lambda x: conv_relu_pool_forward(x, w, b, conv_param, pool_param)[0], x, dout)
dw_num = eval_numerical_gradient_array(lambda w: conv_relu_pool_forward(x, w, b, conv_param, pool_param)[0], w, dout)
db_num = eval_numerical_gradient_array(lambda b: conv_relu_pool_forward(x, w, b, conv_param, pool_param)[0], b, dout)

# Relative errors should be around e-8 or less
print('Testing conv_relu_pool')
errors = {'dx': rel_error(dx_num, dx), 'dw': rel_error(dw_num, dw), 'db': rel_error(db_num, db)}
for name, err in errors.items():
    print(f'{name} error: ', err)
    assert err < 1e-6, f'conv_relu_pool 의 {name} 상대 오차 {err:.1e} 가 너무 큽니다.'
print('통과: conv_relu_pool sandwich layer 의 gradient 가 맞습니다.')

# %% id="conv-relu"
from intro2ai.layer_utils import conv_relu_forward, conv_relu_backward
np.random.seed(231)
x = np.random.randn(2, 3, 8, 8)
w = np.random.randn(3, 3, 3, 3)
b = np.random.randn(3,)
dout = np.random.randn(2, 3, 8, 8)
conv_param = {'stride': 1, 'pad': 1}

out, cache = conv_relu_forward(x, w, b, conv_param)
dx, dw, db = conv_relu_backward(dout, cache)

dx_num = eval_numerical_gradient_array(lambda x: conv_relu_forward(x, w, b, conv_param)[0], x, dout)
dw_num = eval_numerical_gradient_array(lambda w: conv_relu_forward(x, w, b, conv_param)[0], w, dout)
db_num = eval_numerical_gradient_array(lambda b: conv_relu_forward(x, w, b, conv_param)[0], b, dout)

# Relative errors should be around e-8 or less
print('Testing conv_relu:')
errors = {'dx': rel_error(dx_num, dx), 'dw': rel_error(dw_num, dw), 'db': rel_error(db_num, db)}
for name, err in errors.items():
    print(f'{name} error: ', err)
    assert err < 1e-6, f'conv_relu 의 {name} 상대 오차 {err:.1e} 가 너무 큽니다.'
print('통과: conv_relu sandwich layer 의 gradient 가 맞습니다.')

# %% [markdown] id="convnet-md"
# ## 셀 11-20: Three-layer convolutional network 학습과 활용
#
# 필요한 layer 를 모두 구현했으니 이들을 결합해 간단한 CNN 을 만든다.
# 구조: `conv - relu - 2x2 max pool - affine - relu - affine - softmax`.
#
# ### 구현문제 5: Three-layer CNN (`hw5_three_layer_convnet`)
#
# **구현문제 5**: 파일 `intro2ai/classifiers/cnn.py` 의 `ThreeLayerConvNet` class 를 완성하시오
# (`__init__` 의 parameter 초기화와 `loss`). sandwich layer 를 써도 된다.
# 아래 셀들로 구현을 디버깅할 수 있다.
#
# ### 셀 11: Loss 의 유효성 검증 (sanity check)
#
# 새 network 를 만들면 먼저 loss 값이 그럴듯한지 본다. softmax loss 에서 weight 가 작은 random
# 값이면 `C` 개 class 에 대한 초기 loss 는 약 `log(C)` 이다 (CIFAR-10: log(10) ≈ 2.3).
# regularization 을 더하면 조금 커진다.

# %% id="loss-sanity" needs="hw5_three_layer_convnet"
np.random.seed(231)
model = ThreeLayerConvNet()

N = 50
X = np.random.randn(N, 3, 32, 32)
y = np.random.randint(10, size=N)

loss, grads = model.loss(X, y)
print('Initial loss (no regularization): ', loss)
assert abs(loss - np.log(10)) < 0.2, f'regularization 없는 초기 loss {loss:.3f} 가 log(10)≈2.303 에서 너무 멉니다.'

model.reg = 0.5
loss_reg, grads = model.loss(X, y)
print('Initial loss (with regularization): ', loss_reg)
assert loss_reg > loss, 'regularization 을 켜면 loss 가 커져야 합니다. reg 항을 더했는지 확인하세요.'
print('통과: 초기 loss 가 약 log(10) 이고 regularization 을 켜면 커집니다.')

# %% [markdown] id="grad-check-md"
# ### 셀 12: Gradient 의 유효성 검증
#
# loss 가 그럴듯하면 수치 미분(numerical gradient)으로 backward pass 를 검증한다. 작은 인공 데이터와
# 적은 수의 neuron 을 쓴다. 정확하게 구현해도 ReLU 와 max-pool 의 꺾인 점 때문에 상대 오차가
# 1e-2 정도 날 수 있다.

# %% graded="hw5_three_layer_convnet"
num_inputs = 2
input_dim = (3, 16, 16)
reg = 0.0
num_classes = 10
np.random.seed(231)
X = np.random.randn(num_inputs, *input_dim)
y = np.random.randint(num_classes, size=num_inputs)

model = ThreeLayerConvNet(
    num_filters=3,
    filter_size=3,
    input_dim=input_dim,
    hidden_dim=7,
    dtype=np.float64
)
expected_shapes = {'W1': (3, 3, 3, 3), 'b1': (3,), 'W2': (3 * 8 * 8, 7), 'b2': (7,), 'W3': (7, 10), 'b3': (10,)}
got_shapes = {k: v.shape for k, v in model.params.items()}
assert got_shapes == expected_shapes, f'params 의 shape 이 {got_shapes} 입니다. 기대값: {expected_shapes}'
loss, grads = model.loss(X, y)
assert set(grads) == set(model.params), 'grads 에는 params 의 모든 이름(W1, b1, ..., b3)이 있어야 합니다.'
# Errors should be small, but correct implementations may have
# relative errors up to the order of e-2
for param_name in sorted(grads):
    f = lambda _: model.loss(X, y)[0]
    param_grad_num = eval_numerical_gradient(f, model.params[param_name], verbose=False, h=1e-6)
    e = rel_error(param_grad_num, grads[param_name])
    print('%s max relative error: %e' % (param_name, e))
    assert e < 2e-2, f'{param_name} 의 gradient 상대 오차 {e:.1e} 가 너무 큽니다.'
print('통과: ThreeLayerConvNet 의 모든 gradient 가 수치 미분과 일치합니다.')
### BEGIN HIDDEN TESTS
from intro2ai.layer_utils import conv_relu_pool_forward as _hw5_crp, affine_relu_forward as _hw5_ar
from intro2ai.layers import affine_forward as _hw5_af, softmax_loss as _hw5_sl
np.random.seed(99)
_hw5_m = ThreeLayerConvNet(input_dim=(2, 10, 12), num_filters=4, filter_size=5, hidden_dim=6,
                           num_classes=3, weight_scale=0.1, reg=0.3, dtype=np.float64)
_hw5_p = _hw5_m.params
assert _hw5_p['W1'].shape == (4, 2, 5, 5) and _hw5_p['W2'].shape == (4 * 5 * 6, 6) and _hw5_p['W3'].shape == (6, 3)
_hw5_X = np.random.randn(3, 2, 10, 12)
_hw5_y = np.array([0, 2, 1])
_hw5_h, _ = _hw5_crp(_hw5_X, _hw5_p['W1'], _hw5_p['b1'], {'stride': 1, 'pad': 2},
                     {'pool_height': 2, 'pool_width': 2, 'stride': 2})
_hw5_h, _ = _hw5_ar(_hw5_h.reshape(3, -1), _hw5_p['W2'], _hw5_p['b2'])
_hw5_s, _ = _hw5_af(_hw5_h, _hw5_p['W3'], _hw5_p['b3'])
assert rel_error(_hw5_m.loss(_hw5_X), _hw5_s) < 1e-7
_hw5_ref = _hw5_sl(_hw5_s, _hw5_y)[0] + 0.5 * 0.3 * sum(np.sum(_hw5_p[k] ** 2) for k in ('W1', 'W2', 'W3'))
assert abs(_hw5_m.loss(_hw5_X, _hw5_y)[0] - _hw5_ref) < 1e-7
### END HIDDEN TESTS

# %% [markdown] id="overfit-md"
# ### 셀 13-16: 적은 데이터로 overfitting 시키기
#
# 모델을 점검하는 좋은 방법은 아주 적은 학습 데이터로 학습해 보는 것이다. 데이터가 적으면 모델이
# 쉽게 overfitting 되어 training accuracy 가 매우 높아지고 validation accuracy 는 낮게 남는다.
# 실제 CIFAR-10 에서는 100 장으로 학습한다. FAST MODE 의 가짜 데이터는 class 마다 무늬가 뚜렷해서
# 100 장이면 validation 도 잘 맞히므로, 10 장 (몇몇 class 는 한 장도 없다) 으로 학습해 같은
# 현상을 보인다.

# %% id="overfit" needs="hw5_three_layer_convnet"
np.random.seed(231)

num_train = 10 if FAST else 100
small_data = {
  'X_train': data['X_train'][:num_train],
  'y_train': data['y_train'][:num_train],
  'X_val': data['X_val'],
  'y_val': data['y_val'],
}

model = ThreeLayerConvNet(weight_scale=1e-2)

solver = Solver(
    model,
    small_data,
    num_epochs=15,
    batch_size=min(50, num_train),
    update_rule='adam',
    optim_config={'learning_rate': 1e-3,},
    verbose=True,
    print_every=1
)
solver.train()

# %% id="overfit-train-acc" needs="hw5_three_layer_convnet"
# Print final training accuracy.
small_train_acc = solver.check_accuracy(small_data['X_train'], small_data['y_train'])
print('Small data training accuracy:', small_train_acc)
assert small_train_acc > 0.6, f'100개 영상의 training accuracy 가 {small_train_acc:.2f} 입니다. overfitting 되지 않았습니다: loss 와 gradient 를 확인하세요.'
print('통과: 적은 데이터에 overfitting 됩니다.')

# %% id="overfit-val-acc" needs="hw5_three_layer_convnet"
# Print final validation accuracy.
small_val_acc = solver.check_accuracy(small_data['X_val'], small_data['y_val'])
print('Small data validation accuracy:', small_val_acc)
print(f'training {small_train_acc:.2f} 와 validation {small_val_acc:.2f} 의 차이가 overfitting 의 크기다.')

# %% [markdown] id="overfit-plot-md"
# loss 와 training / validation accuracy 를 그래프로 그리면 overfitting 이 분명하게 보인다
# (training accuracy 는 1 에 가까워지고 validation accuracy 는 훨씬 아래에 머문다):

# %% id="overfit-plot" needs="hw5_three_layer_convnet"
plt.subplot(2, 1, 1)
plt.plot(solver.loss_history, 'o')
plt.title(f'학습 영상 {num_train} 장으로 학습')
plt.xlabel('반복 (iteration)')
plt.ylabel('손실 (loss)')

plt.subplot(2, 1, 2)
plt.plot(solver.train_acc_history, '-o')
plt.plot(solver.val_acc_history, '-o')
plt.legend(['학습 (train)', '검증 (validation)'], loc='upper left')
plt.xlabel('epoch')
plt.ylabel('정확도 (accuracy)')
plt.ylim(0, 1.05)
plt.tight_layout()
plt.show()

# %% [markdown] id="train-md"
# ### 셀 17-19: 전체 데이터로 학습
#
# three-layer CNN 을 전체 학습 데이터로 1 epoch 학습하면 training set 에서 40 % 이상의 accuracy 가
# 나와야 한다. (FAST MODE 에서는 작은 가짜 데이터로 짧게 학습하므로 이 목표는 적용하지 않는다.)

# %% id="train" needs="hw5_three_layer_convnet"
model = ThreeLayerConvNet(weight_scale=0.001, hidden_dim=500, reg=0.001)

solver = Solver(
    model,
    data,
    num_epochs=1,
    batch_size=50,
    update_rule='adam',
    optim_config={'learning_rate': 1e-3,},
    verbose=True,
    print_every=20
)
solver.train()

# %% id="train-acc" needs="hw5_three_layer_convnet"
# Print final training accuracy (on 1000 training images, as the Solver does during training).
full_train_acc = solver.check_accuracy(data['X_train'], data['y_train'], num_samples=1000)
print('Full data training accuracy:', full_train_acc)
if FAST:
    print('FAST MODE: 가짜 데이터라 40 % 목표는 확인하지 않습니다.')
else:
    assert full_train_acc > 0.4, f'1 epoch 후 training accuracy 가 {full_train_acc:.2f} 입니다. 40 % 를 넘어야 합니다.'
    print('통과: 1 epoch 만에 training accuracy 40 % 를 넘었습니다.')

# %% id="val-acc" needs="hw5_three_layer_convnet"
# Print final validation accuracy.
print(
    'Full data validation accuracy:',
    solver.check_accuracy(data['X_val'], data['y_val'])
)

# %% [markdown] id="filters-md"
# ### 셀 20: Filter (convolution kernel) 시각화
#
# 학습된 CNN 의 첫 번째 layer filter 들을 그려 본다. 실제 CIFAR-10 으로 학습했다면 색 덩어리나
# 방향이 있는 에지 모양이 보인다.

# %% id="filters" needs="hw5_three_layer_convnet"
grid = visualize_grid(model.params['W1'].transpose(0, 2, 3, 1))
plt.imshow(grid.astype('uint8'))
plt.title('첫 번째 conv layer 의 filter')
plt.axis('off')
plt.gcf().set_size_inches(5, 5)
plt.show()
