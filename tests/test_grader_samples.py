"""Every sample submission through the trusted grader: exact scores, containment, purity.

The samples (autograder/samples/__init__.py) are built from the kit's reference into a
temporary folder; expected points per task are in autograder/samples/expected_scores.toml.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from autograder import grade_submission, mistakes, samples
from autograder.results import SubmissionResult
from autograder.sandbox import leftover_processes

REPO = Path(__file__).resolve().parent.parent

EXPECTED = samples.expected_scores()
ALL = list(samples.SAMPLES) + (list(samples.NOTEBOOK_SAMPLES) if samples.RELEASE_NOTEBOOK else [])
TMP_MARKER = "/tmp/intro2ai_ESCAPED_FROM_SANDBOX_test"
IS_ROOT = os.geteuid() == 0
# Loops, bombs and cheats end as the right kind of failure, and only in their own task.
STATUS = {
    "release": {"hw5_conv_forward": "not_attempted", "hw5_three_layer_convnet": "not_attempted"},
    "adv_infinite_loop": {"hw5_max_pool_backward": "timeout"},
    "adv_keyboard_interrupt": {"hw5_conv_backward": "timeout"},
    "adv_fork_bomb": {"hw5_conv_backward": "timeout"},
    "adv_memory_bomb": {"hw5_max_pool_forward": "memory"},
    "adv_forward_loop": {"hw5_conv_forward": "timeout", "hw5_conv_backward": "pass"},
    "adv_exec_instructor": {"hw5_conv_forward": "error", "hw5_max_pool_forward": "error"},
    "adv_os_exit": {"hw5_max_pool_backward": "partial"},
    "adv_sys_exit": {"hw5_conv_forward": "exit", "hw5_conv_backward": "pass"},
    "conv_float32": {"hw5_conv_forward": "fail"},
    "syntax_error": {"hw5_max_pool_backward": "error", "hw5_three_layer_convnet": "pass"},
    "adv_uses_fast_layers": {"hw5_conv_forward": "error"},
}

# The Korean hint each common mistake must produce (autograder/mistakes.py names them).
HINTS = {
    "conv_no_pad": ("hw5_conv_forward", "pad_ignored"),
    "conv_flipped": ("hw5_conv_forward", "kernel_flipped"),
    "conv_no_bias": ("hw5_conv_forward", "bias_missing"),
    "conv_no_stride": ("hw5_conv_forward", "stride_ignored"),
    "conv_transposed": ("hw5_conv_forward", "filter_transposed"),
    "convb_flipped": ("hw5_conv_backward", "kernel_flipped"),
    "convb_overwrite": ("hw5_conv_backward", "overwrite"),
    "convb_no_crop": ("hw5_conv_backward", "dx_not_cropped"),
    "convb_db_batch_only": ("hw5_conv_backward", "db_batch_only"),
    "pool_avg": ("hw5_max_pool_forward", "avg_pool"),
    "pool_no_stride": ("hw5_max_pool_forward", "stride_ignored"),
    "pool_hw_swapped": ("hw5_max_pool_forward", "pool_hw_swapped"),
    "poolb_all_max": ("hw5_max_pool_backward", "all_maxima"),
    "poolb_overwrite": ("hw5_max_pool_backward", "overwrite"),
    "poolb_mutates_cache": ("hw5_max_pool_backward", "cache_mutated"),
    "net_no_reg": ("hw5_three_layer_convnet", "reg_missing"),
    "net_reg_no_half": ("hw5_three_layer_convnet", "reg_no_half"),
}


def _tree_hash(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        h.update(str(p.relative_to(folder)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def _sandbox_processes() -> list[int]:
    """Processes still inside a sandbox of this test process (its cgroups, its relays)."""
    return leftover_processes()


@pytest.fixture(scope="module")
def sample_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("samples")
    samples.build_samples(root, names=ALL, tmp_marker=TMP_MARKER)
    return root


def test_every_sample_has_expected_scores():
    assert set(EXPECTED["samples"]) == set(samples.SAMPLES) | set(samples.NOTEBOOK_SAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL)
def test_sample_scores_exactly(name, sample_root):
    if (
        name.startswith("adv_")
        and not IS_ROOT
        and name in ("adv_exec_instructor", "adv_write_outside")
    ):
        pytest.skip("reading/writing the kit is only prevented with full (root) isolation")
    folder = sample_root / name
    before = _tree_hash(folder)
    record = grade_submission(folder, seed=EXPECTED["seed"], limits=dict(EXPECTED["limits"]))
    want = EXPECTED["samples"][name]
    got = {t: r["points"] for t, r in record["tasks"].items()}
    assert got == {t: v for t, v in want.items() if t != "total"}, f"{name}: " + " | ".join(
        r["message"] for r in record["tasks"].values()
    )
    assert record["total"] == want["total"]
    assert record["max_total"] == 100
    # Pure function: the submission folder is untouched.
    assert _tree_hash(folder) == before
    # Containment: nothing escaped, nothing left running.
    assert not os.path.exists(TMP_MARKER)
    assert not (folder / samples.ESCAPE_MARKER).exists()
    assert not (REPO / "autograder" / "samples" / samples.ESCAPE_MARKER).exists()
    assert _sandbox_processes() == []
    if IS_ROOT:
        assert record["isolation"] == "full"
    for task in record["tasks"].values():
        assert task["message"] and task["status"]
    assert SubmissionResult.from_dict(record).to_dict() == record  # the typed result, exactly
    if name in HINTS:
        task, hint = HINTS[name]
        assert mistakes.MISTAKE_KO[hint] in record["tasks"][task]["message"]
    for task, status in STATUS.get(name, {}).items():
        assert record["tasks"][task]["status"] == status, record["tasks"][task]["message"]
