"""``python -m bench`` end to end on one small case (no timing is asserted, only that it runs
and reports every row it promises, with the layout each fast convolution took)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from intro2ai import _extension

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_quick_run_reports_and_saves(tmp_path):
    env = dict(os.environ, INTRO2AI_NUM_THREADS="2")
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--no-torch", "--cases", "C",
         "--naive-batch", "1", "--out", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "GEMM float32:" in out and "C conv x(100, 1, 28, 28) w(20, 1, 5, 5) s1 p0" in out
    assert "ThreeLayerConvNet step, batch 50" in out
    saved = sorted(p.suffix for p in tmp_path.iterdir())
    assert saved == [".csv", ".json", ".png", ".txt"], saved
    data = json.loads(next(tmp_path.glob("*.json")).read_text())
    rows = data["rows"]
    impls = {(r["what"], r["impl"]) for r in rows if r["case"].startswith("C conv")}
    assert {("fwd", "fast"), ("bwd", "fast"), ("fwd+bwd", "fast"), ("fwd+bwd", "strides"),
            ("fwd+bwd", "naive")} <= impls
    assert all(r["ms"] > 0 for r in rows)
    fwd = next(r for r in rows if r["case"].startswith("C conv") and r["what"] == "fwd")
    level = data["meta"]["direct_simd_level"]
    if not _extension.is_built():
        assert fwd["note"] == "numpy layout" and level == -1
    else:
        # Stride 1: the direct kernels where the CPU has SIMD ones, else by size (chunked).
        assert fwd["note"] == ("direct layout" if level >= 1 else "chunked layout"), fwd
    step = [r for r in rows if r["case"].startswith("ThreeLayerConvNet") and r["impl"] == "fast"]
    assert len(step) == 1 and "epoch of 49000 images" in step[0]["note"]
