"""Red team: answers a student can know in advance must earn nothing from the trusted grader.

The notebook prints the expected output of its forward checks (``correct_out`` of the linspace
inputs), and the provided fast layers compute any answer for inputs a student knows. A lookup
table keyed on the inputs' shapes or on a hash of their bytes, holding such answers for the
notebook's inputs, must earn 0 points: the grader's cases (visible ones included) must not be
inputs whose answer the student could have looked up.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from autograder import cases, grade_submission, samples
from intro2ai import fast_layers

# The notebook's forward checks (assignments/source/hw5/hw5.ipynb): these inputs and their
# printed correct_out are in every student's copy.
NB_CONV_X = np.linspace(-0.1, 0.5, num=2 * 3 * 4 * 4).reshape(2, 3, 4, 4)
NB_CONV_W = np.linspace(-0.2, 0.3, num=3 * 3 * 4 * 4).reshape(3, 3, 4, 4)
NB_CONV_B = np.linspace(-0.1, 0.2, num=3)
NB_POOL_X = np.linspace(-0.3, 0.4, num=2 * 3 * 4 * 4).reshape(2, 3, 4, 4)


def _answers() -> tuple[list, list]:
    conv = fast_layers.conv_forward_fast(NB_CONV_X, NB_CONV_W, NB_CONV_B, {"stride": 2, "pad": 1})[
        0
    ]
    pool = fast_layers.max_pool_forward_fast(
        NB_POOL_X, {"pool_height": 2, "pool_width": 2, "stride": 2}
    )[0]
    return conv.tolist(), pool.tolist()


def _build(dest: Path, keyed: str) -> Path:
    conv, pool = _answers()
    if keyed == "shape":
        key = "tuple(x.shape)"
        conv_key, pool_key = repr(NB_CONV_X.shape), repr(NB_POOL_X.shape)
    else:  # a hash of the input bytes
        key = "__import__('hashlib').sha256(np.ascontiguousarray(x).tobytes()).hexdigest()"
        import hashlib

        conv_key = repr(hashlib.sha256(NB_CONV_X.tobytes()).hexdigest())
        pool_key = repr(hashlib.sha256(NB_POOL_X.tobytes()).hexdigest())
    recipe = {
        "base": "release",
        "regions": {
            samples.CONV_F: ("body", f"out = np.array(_CONV.get({key}, 0.0))"),
            samples.POOL_F: ("body", f"out = np.array(_POOL.get({key}, 0.0))"),
        },
        "append": {
            "intro2ai/layers.py": textwrap.dedent(f"""
            _CONV = {{{conv_key}: {conv!r}}}
            _POOL = {{{pool_key}: {pool!r}}}
        """)
        },
    }
    for rel in samples.FILES:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(samples.build_file(rel, recipe), encoding="utf-8")
    return dest


@pytest.mark.parametrize("keyed", ["shape", "hash"])
def test_a_lookup_of_the_notebooks_printed_answers_earns_nothing(tmp_path, keyed):
    sub = _build(tmp_path / "sub", keyed)
    rec = grade_submission(
        sub, seed="redteam-lookup", tasks=("hw5_conv_forward", "hw5_max_pool_forward")
    )
    points = {t: r["points"] for t, r in rec["tasks"].items()}
    assert points == {"hw5_conv_forward": 0, "hw5_max_pool_forward": 0}, {
        t: r["message"] for t, r in rec["tasks"].items()
    }


def test_no_graded_case_is_an_input_the_release_shows():
    """Every seed's cases, visible ones included, differ from the notebook's printed inputs."""
    shown = [NB_CONV_X, NB_CONV_W, NB_CONV_B, NB_POOL_X]
    for seed in ("s1", "s2", "intro2ai-samples"):
        for task in cases.TASKS:
            for case in cases.make_cases(task, seed):
                for arr in case.arrays.values():
                    assert not any(
                        arr.shape == s.shape and np.array_equal(arr, s) for s in shown
                    ), (seed, task, case.name)
