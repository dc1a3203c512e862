"""Known student mistakes, applied to the reference, for the Korean diagnostics.

Each function returns ``{mistake_id: {output_key: array}}``: what a submission with that
mistake would have returned on the case's inputs. When a wrong student output matches one of
them (within ``MATCH_TOL``), the feedback names the mistake. Only a hint: the score always
comes from the comparison with the reference.
"""

from __future__ import annotations

import numpy as np

#: A wrong output "is" a known mistake when it matches the mistaken reference this closely.
MATCH_TOL = 1e-6

MISTAKE_KO = {
    "pad_ignored": "padding 을 무시함 (pad=0 으로 계산한 결과와 일치)",
    "kernel_flipped": "kernel(filter) 을 상하좌우로 뒤집음 (flip). CNN 의 convolution 은 "
                      "뒤집지 않는 cross-correlation 입니다",
    "bias_missing": "bias(b) 를 더하지 않음",
    "stride_ignored": "stride 를 무시함 (stride=1 로 계산한 결과와 일치)",
    "filter_transposed": "filter 의 HH, WW 축을 바꿔 씀 (transpose)",
    "dx_not_cropped": "dx 에서 padding 부분을 잘라내지 않음 (shape 이 padding 된 입력과 같음)",
    "overwrite": "겹치는 창(window) 의 gradient 를 더하지(+=) 않고 덮어씀(=)",
    "db_batch_only": "db 를 batch 축(N) 으로만 합함 (N, H_out, W_out 모두 합해야 함)",
    "dw_no_batch_sum": "dw 를 batch 의 마지막 예제로만 계산함 (모든 n 에 대해 더해야 함)",
    "all_maxima": "max-pool gradient 를 창(window) 의 모든 최댓값에 보냄 (첫 번째 최댓값, "
                  "np.argmax 순서, 에만 보내야 함)",
    "last_max": "같은 최댓값이 여럿일 때 마지막 최댓값에 gradient 를 보냄 (첫 번째여야 함)",
    "whole_window": "gradient 를 창(window) 의 모든 위치에 보냄 (최댓값 위치에만 보내야 함)",
    "avg_pool": "최댓값 대신 평균(average pooling) 을 구함",
    "pool_hw_swapped": "pool_height 와 pool_width 를 바꿔 씀",
    "channels_mixed": "채널(C) 축까지 포함해 최댓값을 구함 (채널별로 따로 구해야 함)",
    "reg_missing": "regularization 항 0.5 * reg * sum(W**2) 을 loss 와 gradient 에 넣지 않음",
    "reg_no_half": "regularization 에 0.5 를 곱하지 않음 (reg * sum(W**2), gradient 2 * reg * W)",
    "reg_grad_missing": "loss 에는 regularization 을 넣었지만 gradient 에 reg * W 를 더하지 않음",
    "bias_regularized": "bias 까지 regularization 에 넣음 (W1, W2, W3 만 넣어야 함)",
    "cache_mutated": "입력 또는 cache 의 배열을 in-place 로 수정함 (cache mutated)",
}


def _pad(x, pad):
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))


def conv_forward(x, w, b, stride, pad, grid=None):
    """Plain NumPy cross-correlation (independent of the kit; used for mistaken variants).

    ``grid=(H_out, W_out)`` evaluates only that many output positions (a student loop that
    uses the right output size with a wrong stride/pad); otherwise the size follows from
    ``stride`` and ``pad`` with floor division.
    """
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    if H + 2 * pad < HH or W + 2 * pad < WW:
        return None
    xp = _pad(x, pad)
    Ho, Wo = 1 + (H + 2 * pad - HH) // stride, 1 + (W + 2 * pad - WW) // stride
    if grid is not None:
        if (grid[0] - 1) * stride + HH > xp.shape[2] or (grid[1] - 1) * stride + WW > xp.shape[3]:
            return None
        Ho, Wo = grid
    out = np.empty((N, F, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            win = xp[:, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
            out[:, :, i, j] = np.tensordot(win, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out


def conv_backward(dout, x, w, stride, pad, accumulate=True, flip=False, last_n_only=False):
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    wk = w[:, :, ::-1, ::-1] if flip else w
    xp = _pad(x, pad)
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    Ho, Wo = dout.shape[2:]
    for n in range(N):
        if last_n_only:
            dw = np.zeros_like(w)
        for i in range(Ho):
            for j in range(Wo):
                sl = (n, slice(None), slice(i * stride, i * stride + HH),
                      slice(j * stride, j * stride + WW))
                g = dout[n, :, i, j]
                contrib = np.tensordot(g, wk, axes=(0, 0))
                if accumulate:
                    dxp[sl] += contrib
                else:
                    dxp[sl] = contrib
                dw += g[:, None, None, None] * xp[sl][None]
    if flip:
        dw = dw[:, :, ::-1, ::-1]
    dx = dxp[:, :, pad:pad + H, pad:pad + W]
    return dx, dw, dxp


def conv_forward_mistakes(x, w, b, conv_param) -> dict:
    s, p = conv_param["stride"], conv_param["pad"]
    grid = conv_forward(x, w, b, s, p).shape[2:]
    out = {
        "pad_ignored": conv_forward(x, w, b, s, 0) if p else None,
        "kernel_flipped": conv_forward(x, w[:, :, ::-1, ::-1], b, s, p),
        "bias_missing": conv_forward(x, w, np.zeros_like(b), s, p),
        "stride_ignored": conv_forward(x, w, b, 1, p, grid=grid) if s != 1 else None,
        "filter_transposed": conv_forward(x, w.transpose(0, 1, 3, 2), b, s, p)
        if w.shape[2] == w.shape[3] else None,
    }
    return {k: {"out": v} for k, v in out.items() if v is not None}


def conv_backward_mistakes(x, w, b, dout, conv_param) -> dict:
    s, p = conv_param["stride"], conv_param["pad"]
    res = {}
    dx, dw, dxp = conv_backward(dout, x, w, s, p)
    if p:
        res["dx_not_cropped"] = {"dx": dxp}
    fdx, fdw, _ = conv_backward(dout, x, w, s, p, flip=True)
    res["kernel_flipped"] = {"dx": fdx, "dw": fdw}
    odx, _, _ = conv_backward(dout, x, w, s, p, accumulate=False)
    if not np.allclose(odx, dx):
        res["overwrite"] = {"dx": odx}
    if p:
        pdx, pdw, _ = conv_backward(dout, x, w, s, 0) if dout.shape[2:] == (
            1 + (x.shape[2] - w.shape[2]) // s, 1 + (x.shape[3] - w.shape[3]) // s) else (
            None, None, None)
        if pdx is not None:
            res["pad_ignored"] = {"dx": pdx, "dw": pdw}
    _, ldw, _ = conv_backward(dout, x, w, s, p, last_n_only=True)
    if x.shape[0] > 1:
        res["dw_no_batch_sum"] = {"dw": ldw}
    res["db_batch_only"] = {"db": dout.sum(axis=0)}
    return res


def _pool_windows(x, ph, pw, s):
    N, C, H, W = x.shape
    Ho, Wo = 1 + (H - ph) // s, 1 + (W - pw) // s
    for i in range(Ho):
        for j in range(Wo):
            yield i, j, (slice(None), slice(None), slice(i * s, i * s + ph),
                         slice(j * s, j * s + pw))


def pool_forward(x, ph, pw, s, how="max", grid=None):
    """Max (or mean, or channel-mixed max) pooling; ``grid`` as in :func:`conv_forward`."""
    N, C, H, W = x.shape
    if H < ph or W < pw:
        return None
    Ho, Wo = 1 + (H - ph) // s, 1 + (W - pw) // s
    if grid is not None:
        Ho, Wo = grid
    out = np.empty((N, C, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            win = x[:, :, i * s:i * s + ph, j * s:j * s + pw]
            if win.size == 0:
                return None
            if how == "max":
                out[:, :, i, j] = win.max(axis=(2, 3))
            elif how == "mean":
                out[:, :, i, j] = win.mean(axis=(2, 3))
            else:  # channels mixed
                out[:, :, i, j] = win.max(axis=(1, 2, 3))[:, None]
    return out


def pool_backward(x, dout, ph, pw, s, rule="first", accumulate=True):
    dx = np.zeros_like(x)
    N, C = x.shape[:2]
    for i, j, sl in _pool_windows(x, ph, pw, s):
        win = x[sl].reshape(N, C, -1)
        g = dout[:, :, i, j]
        if rule == "first":
            mask = np.zeros_like(win)
            np.put_along_axis(mask, win.argmax(axis=2)[..., None], 1.0, axis=2)
        elif rule == "last":
            k = win.shape[2] - 1 - win[:, :, ::-1].argmax(axis=2)
            mask = np.zeros_like(win)
            np.put_along_axis(mask, k[..., None], 1.0, axis=2)
        elif rule == "all":
            mask = (win == win.max(axis=2, keepdims=True)).astype(float)
        else:  # whole window
            mask = np.ones_like(win)
        contrib = (mask * g[..., None]).reshape(x[sl].shape)
        if accumulate:
            dx[sl] += contrib
        else:  # "=" at the chosen position(s) only
            dx[sl] = np.where(mask.reshape(x[sl].shape) > 0, contrib, dx[sl])
    return dx


def pool_forward_mistakes(x, pool_param) -> dict:
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    grid = pool_forward(x, ph, pw, s).shape[2:]
    res = {
        "stride_ignored": pool_forward(x, ph, pw, 1, grid=grid) if s != 1 else None,
        "pool_hw_swapped": pool_forward(x, pw, ph, s, grid=grid) if ph != pw else None,
        "avg_pool": pool_forward(x, ph, pw, s, "mean"),
        "channels_mixed": pool_forward(x, ph, pw, s, "mixed") if x.shape[1] > 1 else None,
    }
    return {k: {"out": v} for k, v in res.items() if v is not None}


def pool_backward_mistakes(x, dout, pool_param) -> dict:
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    ref = pool_backward(x, dout, ph, pw, s)
    res = {}
    for name, kw in (("all_maxima", {"rule": "all"}), ("last_max", {"rule": "last"}),
                     ("whole_window", {"rule": "window"}), ("overwrite", {"accumulate": False})):
        v = pool_backward(x, dout, ph, pw, s, **kw)
        if not np.allclose(v, ref):
            res[name] = {"dx": v}
    return res


def net_mistakes(params, reg, loss, grads) -> dict:
    """Regularisation mistakes, from the reference loss/grads with the reference params."""
    ws = ("W1", "W2", "W3")
    sq = sum(float(np.sum(params[k] ** 2)) for k in ws)
    sq_b = sum(float(np.sum(params[k] ** 2)) for k in params if k not in ws)
    data_loss = loss - 0.5 * reg * sq
    data_grads = {k: g - (reg * params[k] if k in ws else 0) for k, g in grads.items()}
    res = {}
    if reg:
        res["reg_missing"] = {"loss": np.float64(data_loss),
                              **{"g_" + k: v for k, v in data_grads.items()}}
        res["reg_no_half"] = {"loss": np.float64(data_loss + reg * sq),
                              **{"g_" + k: data_grads[k] + 2 * reg * params[k] for k in ws}}
        res["reg_grad_missing"] = {"g_" + k: data_grads[k] for k in ws}
        res["bias_regularized"] = {"loss": np.float64(loss + 0.5 * reg * sq_b),
                                   **{"g_" + k: grads[k] + reg * params[k]
                                      for k in params if k not in ws}}
    return res
