"""Korean hints of the trusted grader for mistakes of real student code (issue 13: the pad=0
crop, the whole-window overwrite, the padded cache, and the "check your forward" note)."""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder import grader, samples
from intro2ai import grading_rules

KO = grading_rules.MISTAKE_KO
FORWARD_NOTE = "나 cache 를 확인하세요"

RECIPES = {
    # five of nine public cs231n solutions crop like this; empty at pad=0
    "crop_negative": {
        "conv_backward_naive": (
            "sub",
            "dx = dx_pad[:, :, pad:pad + H, pad:pad + W]",
            "dx = dx_pad[:, :, pad:-pad, pad:-pad]",
        )
    },
    # the mask of the window's max, assigned over the whole window
    "window_assign": {
        "max_pool_backward_naive": (
            "body",
            """
        N, C, H, W = x.shape
        dx = np.zeros(x.shape, dtype=np.result_type(x, dout))
        for n in range(N):
            for i in range(H_out):
                for j in range(W_out):
                    t, l = i * stride, j * stride
                    window = x[n, :, t:t + pool_height, l:l + pool_width]
                    first = np.argmax(window.reshape(C, -1), axis=1)
                    mask = np.zeros((C, pool_height * pool_width))
                    mask[np.arange(C), first] = 1.0
                    dx[n, :, t:t + pool_height, l:l + pool_width] = (
                        mask.reshape(window.shape) * dout[n, :, i, j][:, None, None])
    """,
        )
    },
    # the cs231n idiom `x = x_pad` in the forward: the cache holds the padded input
    "cache_padded": {
        "conv_forward_naive": (
            "sub",
            "out[n, :, i, j] = np.sum(window * w, axis=(1, 2, 3)) + b",
            "out[n, :, i, j] = np.sum(window * w, axis=(1, 2, 3)) + b\nx = x_pad",
        )
    },
    # forward and backward both flip the kernel: the backward agrees with its own forward
    "both_flipped": {
        "conv_forward_naive": ("sub", "window * w", "window * w[:, :, ::-1, ::-1]"),
        "conv_backward_naive": (
            "sub",
            "dw += g * window",
            "dw += (g * window)[:, :, ::-1, ::-1]",
            "np.sum(g * w, axis=0)",
            "np.sum(g * w[:, :, ::-1, ::-1], axis=0)",
        ),
    },
    # a correct forward; only db is wrong (no spot-check can say anything about the forward)
    "db_only": {
        "conv_backward_naive": ("sub", "db = dout.sum(axis=(0, 2, 3))", "db = dout.sum(axis=0)")
    },
}


def _grade(tmp_path: Path, name: str, tasks: tuple[str, ...], seed="hints") -> dict:
    root = tmp_path / name
    for rel in samples.FILES:
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(samples.build_file(rel, {"regions": RECIPES[name]}), encoding="utf-8")
    return grader.grade_submission(root, seed=seed, tasks=tasks)["tasks"]


def _case(task: dict, name: str) -> dict:
    return next(c for c in task["cases"] if c["name"] == name)


@pytest.mark.parametrize("seed", ["hints", "another-seed"])
def test_the_pad0_crop_is_caught_and_named_on_every_seed(tmp_path, seed):
    task = _grade(tmp_path, "crop_negative", ("hw5_conv_backward",), seed)["hw5_conv_backward"]
    case = _case(task, "hidden_nonsquare")  # pad=0 on every seed
    assert case["points"] < case["max_points"] and KO["dx_crop_empty"] in case["message"]
    assert task["points"] < 25


def test_the_whole_window_overwrite_is_named(tmp_path):
    task = _grade(tmp_path, "window_assign", ("hw5_max_pool_backward",))["hw5_max_pool_backward"]
    case = _case(task, "hidden_overlap")
    assert case["points"] == 0 and KO["window_overwrite"] in case["message"], case["message"]
    assert _case(task, "visible_basic")["status"] == "pass"  # no overlap there


def test_a_padded_cache_is_named_not_blamed_on_dout(tmp_path):
    tasks = _grade(tmp_path, "cache_padded", ("hw5_conv_forward", "hw5_conv_backward"))
    assert tasks["hw5_conv_forward"]["points"] == 20  # the forward output is right
    back = tasks["hw5_conv_backward"]
    for case in back["cases"]:
        if case["input"].split("'pad': ")[1][0] != "0":
            assert case["points"] == 0 and KO["cache_padded"] in case["message"], case
        else:  # pad=0: x_pad is x, nothing to see
            assert case["status"] == "pass", case
    assert KO["cache_padded"] in back["message"]


def test_check_your_forward_only_when_the_forward_is_off(tmp_path):
    flipped = _grade(tmp_path, "both_flipped", ("hw5_conv_backward",))["hw5_conv_backward"]
    assert FORWARD_NOTE in flipped["message"], flipped["message"]
    db_only = _grade(tmp_path, "db_only", ("hw5_conv_backward",))["hw5_conv_backward"]
    assert db_only["points"] == 20 and FORWARD_NOTE not in db_only["message"], db_only["message"]
    assert KO["db_batch_only"] in db_only["message"]
