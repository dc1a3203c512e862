"""Known student mistakes, applied to the reference, for the Korean diagnostics.

Each function returns ``{mistake_id: {output_key: array}}``: what a submission with that
mistake would have returned on the case's inputs. When a wrong student output matches one of
them (within ``MATCH_TOL``), the feedback names the mistake. Only a hint: the score always
comes from the comparison with the reference.

Each task's mistakes are registered at the end of this module under the task's ``function``
(the task table, :mod:`autograder.tasks`) with :func:`known`; a task with none gets no hints.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from autograder import tasks as tasks_mod

# The Korean names of the mistakes live with the rules students receive (one source for the
# grader and make check).
from intro2ai.grading_rules import MATCH_TOL, MISTAKE_KO  # noqa: E402,F401

#: The known mistakes of each task function and the function that applies them to a case:
#: ``variants(arrays, params, ref) -> {mistake_id: {output_key: array}}``. Registered below,
#: next to their code, with :func:`known`.
_KNOWN: dict[str, tuple[str, ...]] = {}
_VARIANTS: dict[str, Callable[[dict, dict, dict], dict]] = {}


def known(function: str, mistake_ids: tuple[str, ...]):
    """Register the decorated ``variants(arrays, params, ref)`` for the task ``function``,
    whose known mistakes are ``mistake_ids`` (every seed's hidden cases must expose each)."""

    def register(fn):
        _KNOWN[function] = tuple(mistake_ids)
        _VARIANTS[function] = fn
        return fn

    return register


#: Mistakes of a task function that show as an input error (keys of
#: ``intro2ai.grading_rules.ERROR_CAUSES``), registered with their variants below.
ERROR_CAUSES: dict[str, tuple[str, ...]] = {}


def error_cause(task: str, message: str, arrays: dict, params: dict) -> str | None:
    """The known mistake of ``task`` that explains the error ``message`` on a case, or None."""
    from intro2ai.grading_rules import ERROR_CAUSES as CHECK

    for cause in ERROR_CAUSES.get(tasks_mod.get(task).function, ()):
        try:
            if CHECK[cause](message, arrays, params):
                return cause
        except Exception:  # noqa: BLE001  (a hint must never break grading)
            continue
    return None


def variants(task: str, arrays: dict, params: dict, ref: dict) -> dict[str, dict[str, Any]]:
    """What each known mistake of ``task`` would have returned on a case (``{}`` if none)."""
    fn = _VARIANTS.get(tasks_mod.get(task).function)
    return fn(arrays, params, ref) if fn else {}


def _pad(x, pad):
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))


def _windows(xp, HH, WW, stride, Ho, Wo):
    """(N, C, Ho, Wo, HH, WW) view of the windows of ``xp`` (the first Ho x Wo of them)."""
    view = np.lib.stride_tricks.sliding_window_view(xp, (HH, WW), axis=(2, 3))
    return view[:, :, ::stride, ::stride][:, :, :Ho, :Wo]


def _scatter_add(dst, contrib, stride):
    """``dst[:, :, i*s + a, j*s + b] += contrib[:, :, i, j, a, b]`` for all i, j, a, b."""
    Ho, Wo, HH, WW = contrib.shape[2:]
    for a in range(HH):
        for b in range(WW):
            dst[
                :, :, a : a + stride * (Ho - 1) + 1 : stride, b : b + stride * (Wo - 1) + 1 : stride
            ] += contrib[:, :, :, :, a, b]


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
    win = _windows(xp, HH, WW, stride, Ho, Wo)
    return np.einsum("nchwij,fcij->nfhw", win, w) + b[None, :, None, None]


def conv_backward(dout, x, w, stride, pad, accumulate=True, flip=False, last_n_only=False):
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    wk = w[:, :, ::-1, ::-1] if flip else w
    xp = _pad(x, pad)
    dxp = np.zeros_like(xp)
    Ho, Wo = dout.shape[2:]
    win = _windows(xp, HH, WW, stride, Ho, Wo)
    contrib = np.einsum("nfhw,fcij->nchwij", dout, wk)
    if accumulate:
        _scatter_add(dxp, contrib, stride)
    else:  # "=" window after window (images are independent)
        for i in range(Ho):
            for j in range(Wo):
                dxp[:, :, i * stride : i * stride + HH, j * stride : j * stride + WW] = contrib[
                    :, :, i, j
                ]
    if last_n_only:
        dw = np.einsum("fhw,chwij->fcij", dout[-1], win[-1])
    else:
        dw = np.einsum("nfhw,nchwij->fcij", dout, win)
    if flip:
        dw = dw[:, :, ::-1, ::-1]
    dx = dxp[:, :, pad : pad + H, pad : pad + W]
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
        if w.shape[2] == w.shape[3]
        else None,
    }
    return {k: {"out": v} for k, v in out.items() if v is not None}


def conv_backward_mistakes(x, w, b, dout, conv_param) -> dict:
    s, p = conv_param["stride"], conv_param["pad"]
    res = {}
    dx, dw, dxp = conv_backward(dout, x, w, s, p)
    if p:
        res["dx_not_cropped"] = {"dx": dxp}
    else:  # dx_pad[:, :, pad:-pad, pad:-pad] is empty at pad=0
        res["dx_crop_empty"] = {"dx": dxp[:, :, 0:-0, 0:-0]}
    fdx, fdw, _ = conv_backward(dout, x, w, s, p, flip=True)
    res["kernel_flipped"] = {"dx": fdx, "dw": fdw}
    odx, _, _ = conv_backward(dout, x, w, s, p, accumulate=False)
    if not np.allclose(odx, dx):
        res["overwrite"] = {"dx": odx}
    _, ldw, _ = conv_backward(dout, x, w, s, p, last_n_only=True)
    if x.shape[0] > 1:
        res["dw_no_batch_sum"] = {"dw": ldw}
    res["db_batch_only"] = {"db": dout.sum(axis=0)}
    return res


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
            win = x[:, :, i * s : i * s + ph, j * s : j * s + pw]
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
    """Max-pool backward; ``accumulate``: True ``+=``, False ``=`` at the max only, None ``=``
    on the whole window."""
    N, C = x.shape[:2]
    Ho, Wo = dout.shape[2:]
    win = _windows(x, ph, pw, s, Ho, Wo).reshape(N, C, Ho, Wo, ph * pw)
    if rule in ("first", "last"):
        k = (
            win.argmax(axis=4)
            if rule == "first"
            else win.shape[4] - 1 - win[..., ::-1].argmax(axis=4)
        )
        mask = np.zeros_like(win)
        np.put_along_axis(mask, k[..., None], 1.0, axis=4)
    elif rule == "all":
        mask = (win == win.max(axis=4, keepdims=True)).astype(float)
    else:  # whole window
        mask = np.ones_like(win)
    contrib = (mask * dout[..., None]).reshape(N, C, Ho, Wo, ph, pw)
    mask = mask.reshape(contrib.shape)
    dx = np.zeros_like(x)
    if accumulate:
        _scatter_add(dx, contrib, s)
        return dx
    for i in range(Ho):
        for j in range(Wo):
            sl = (slice(None), slice(None), slice(i * s, i * s + ph), slice(j * s, j * s + pw))
            if accumulate is None:  # "=" on the whole window (zeros included)
                dx[sl] = contrib[:, :, i, j]
            else:  # "=" at the chosen position(s) only
                dx[sl] = np.where(mask[:, :, i, j] > 0, contrib[:, :, i, j], dx[sl])
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
    for name, kw in (
        ("all_maxima", {"rule": "all"}),
        ("last_max", {"rule": "last"}),
        ("whole_window", {"rule": "window"}),
        ("overwrite", {"accumulate": False}),
        ("window_overwrite", {"accumulate": None}),
    ):
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
        res["reg_missing"] = {
            "loss": np.float64(data_loss),
            **{"g_" + k: v for k, v in data_grads.items()},
        }
        res["reg_no_half"] = {
            "loss": np.float64(data_loss + reg * sq),
            **{"g_" + k: data_grads[k] + 2 * reg * params[k] for k in ws},
        }
        res["reg_grad_missing"] = {"g_" + k: data_grads[k] for k in ws}
        res["bias_regularized"] = {
            "loss": np.float64(loss + 0.5 * reg * sq_b),
            **{"g_" + k: grads[k] + reg * params[k] for k in params if k not in ws},
        }
    return res


# -------------------------------------------------------------------------------------------
# The known mistakes of each task function (the table's ``function``), applied to a case
# -------------------------------------------------------------------------------------------


@known(
    "conv_forward_naive",
    ("pad_ignored", "kernel_flipped", "bias_missing", "stride_ignored", "filter_transposed"),
)
def _conv_forward_variants(A, p, ref):
    return conv_forward_mistakes(A["x"], A["w"], A["b"], p["conv_param"])


@known(
    "conv_backward_naive",
    (
        "dx_not_cropped",
        "dx_crop_empty",
        "kernel_flipped",
        "overwrite",
        "dw_no_batch_sum",
        "db_batch_only",
    ),
)
def _conv_backward_variants(A, p, ref):
    return conv_backward_mistakes(A["x"], A["w"], A["b"], A["dout"], p["conv_param"])


ERROR_CAUSES["conv_backward_naive"] = ("cache_padded",)  # cache.x padded in forward


@known(
    "max_pool_forward_naive", ("stride_ignored", "pool_hw_swapped", "avg_pool", "channels_mixed")
)
def _pool_forward_variants(A, p, ref):
    return pool_forward_mistakes(A["x"], p["pool_param"])


@known(
    "max_pool_backward_naive",
    ("all_maxima", "last_max", "whole_window", "overwrite", "window_overwrite"),
)
def _pool_backward_variants(A, p, ref):
    return pool_backward_mistakes(A["x"], A["dout"], p["pool_param"])


@known("ThreeLayerConvNet", ("reg_missing", "reg_no_half", "reg_grad_missing", "bias_regularized"))
def _net_variants(A, p, ref):
    if "X" not in A:  # an __init__ case: its checks have no mistaken outputs
        return {}
    params = {k[len("param_") :]: v for k, v in A.items() if k.startswith("param_")}
    grads = {k[2:]: v for k, v in ref.items() if k.startswith("g_")}
    return net_mistakes(params, p["reg"], float(ref["loss"]), grads)


#: The known mistakes of each task id (from the table): every seed's hidden cases expose each
#: of them (tests/test_grading_coverage.py).
TASK_MISTAKES = {t.id: _KNOWN.get(t.function, ()) for t in tasks_mod.all_tasks()}
