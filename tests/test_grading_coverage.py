"""Coverage by construction: every seed's hidden cases expose every known mistake.

The property runs at the level of case generation and the grader's in-process comparison and
scoring (no sandbox): for each seed, the reference's outputs get full marks on every case, and
the outputs of every known mistake (``autograder.mistakes.TASK_MISTAKES``, applied to the
reference) lose points on at least one case of its task.
"""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest

from autograder import cases, grader, mistakes
from intro2ai import grading_rules

RUBRIC = grader.load_rubric()
N_SEEDS = int(os.environ.get("INTRO2AI_COVERAGE_SEEDS", "2000"))


def _points(task, case, ref, arrays):
    checks = grader.value_checks(task, case, ref, arrays, RUBRIC, hints=False)
    return grader.share_points(checks, float(RUBRIC["tasks"][task]["cases"][case.name]))


def _coverage(task: str, seed: str) -> dict[str, bool]:
    """{mistake: loses points on this seed}; asserts the reference's full marks."""
    lost = dict.fromkeys(mistakes.TASK_MISTAKES[task], False)
    task_cases = cases.make_cases(task, seed)
    if task == "hw5_three_layer_convnet":
        task_cases = [c for c in task_cases if "X" in c.arrays]
        for c in task_cases:
            grader.prepare_net_case(c)
    for case in task_cases:
        ref = {k: np.asarray(v) for k, v in grader.reference_outputs(task, case).items()}
        full = float(RUBRIC["tasks"][task]["cases"][case.name])
        assert _points(task, case, ref, ref) == full, (seed, task, case.name)
        if all(lost.values()):
            continue
        variants = grader.mistaken_outputs(task, case, ref)
        assert set(variants) <= set(lost), (task, set(variants) - set(lost))  # none unlisted
        for name, outs in variants.items():
            if not lost[name]:
                lost[name] = _points(task, case, ref, {**ref, **outs}) < full
    return lost


@pytest.mark.slow
@pytest.mark.parametrize("task", cases.TASKS)
def test_every_seed_gives_the_reference_full_marks_and_costs_every_mistake_points(task):
    missed = {}
    for i in range(N_SEEDS if task != "hw5_three_layer_convnet" else N_SEEDS // 4):
        seed = f"coverage-{i}"
        for name, lost in _coverage(task, seed).items():
            if not lost:
                missed.setdefault(name, []).append(seed)
    assert not missed, {k: v[:5] + [f"... {len(v)} seeds"] for k, v in missed.items()}


def _init_record(init: dict, params: dict):
    from autograder import sandbox

    case = cases.Case("hw5_three_layer_convnet", "init_hidden", {}, {"init": init}, True)
    res = sandbox.CaseResult(
        arrays={"p_" + k: np.asarray(v) for k, v in params.items()}, names=list(params), done=True
    )
    ref = grader.reference_outputs("hw5_three_layer_convnet", case)
    return {c.name: c for c in grader._init_checks(res, ref, case, RUBRIC)}


def _every_init_geometry():
    """Every hidden __init__ geometry cases.py can draw, and the visible one."""
    yield cases._net_kwargs(None, True)
    for C, H, dW, F, fs, hidden, classes in itertools.product(
        (1, 2, 3), (6, 8, 10), (1, 2), (4, 5, 6), (3, 5), (8, 9, 11), (3, 4, 6)
    ):
        yield {
            "input_dim": [C, H, H + 2 * dW],
            "num_filters": F,
            "filter_size": fs,
            "hidden_dim": hidden,
            "num_classes": classes,
            "weight_scale": 10**-2.5,
            "reg": 0.5,
            "dtype": "float64",
        }


def test_the_init_check_passes_every_correct_init_and_fails_a_missing_weight_scale():
    from intro2ai.classifiers import cnn

    n = 0
    for init in _every_init_geometry():
        # The sandbox child builds the model right after np.random.seed(0), as here.
        with grader._global_seed(0):
            model = cnn.ThreeLayerConvNet(**grader._net_kwargs(init))
        checks = _init_record(init, model.params)
        assert checks["params"].passed and checks["init_values"].passed, (init, checks)
        wrong = {
            k: (v / init["weight_scale"] if k.startswith("W") else v)
            for k, v in model.params.items()
        }
        assert not _init_record(init, wrong)["init_values"].passed, init
        n += 1
    assert n == 1 + 3 * 3 * 2 * 3 * 2 * 3 * 3


@pytest.mark.parametrize("n", [1, 24, 300, 30_000])
def test_init_band_holds_for_small_and_large_arrays(n):
    lo, hi = grading_rules.init_scale_band(n)
    assert 0 <= lo < 1 < hi
    rng = np.random.default_rng(n)
    ratios = np.mean(rng.standard_normal((2000, n)) ** 2, axis=1)
    assert np.all((lo <= ratios) & (ratios <= hi))  # 2,000 correct draws: none outside
    assert hi < 100  # weights of randn without weight_scale (<= 0.1) are >= 100x too large
