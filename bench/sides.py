"""Ours and PyTorch's, each side in its own process, rounds alternated (see ``bench.side``).

For each task the parent asks the ``ours`` process for a round of ``k`` timed calls, then the
``torch`` process for one, and so on for ``rounds`` rounds; each side's figure is its best
round median. Between two rounds the parent waits ``PAUSE_S``, so that threads one side left
spinning have gone quiet before the other side's round (OpenBLAS's spin for up to ~0.1 s). A
burst of load on the (shared) machine then hits both sides instead of one.

The targets are those of issue 15; ``met`` says whether a run met them, under the load it had.

``one_thread=True`` starts both sides with one thread (``OPENBLAS_NUM_THREADS``,
``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` and ``INTRO2AI_NUM_THREADS`` = 1, as in the grading
sandbox) and compares the process CPU time of a call: the work each side does, which other
processes on a busy machine barely change (wall-clock times with two threads suffer badly
from them, PyTorch's OpenMP threads most).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAUSE_S = 0.25

# task -> (label, target ratio ours/torch at most)
TARGETS = {
    "step:float32": ("ThreeLayerConvNet step, batch 50 (fwd+bwd+adam)", 1.0),
    "step:float64": ("ThreeLayerConvNet step, batch 50 (fwd+bwd+adam)", 0.6),
    **{f"conv:{c}:float32": (f"{c} conv fwd+bwd", 0.8) for c in "ABCD"},
    **{f"conv:{c}:float64": (f"{c} conv fwd+bwd", 0.7) for c in "ABCD"},
    "pool:float64": ("pool 2x2 s2 on (50, 32, 32, 32) fwd+bwd", 1.0),
    "pool:float32": ("pool 2x2 s2 on (50, 32, 32, 32) fwd+bwd", None),
}
ONE_THREAD_VARS = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "INTRO2AI_NUM_THREADS",
)
# Calls per round: fewer for the slow tasks.
K = {"conv:D:float32": 5, "conv:D:float64": 4}


class Side:
    """A ``python -m bench.side`` process."""

    def __init__(self, which: str, one_thread: bool = False):
        self.which = which
        env = dict(os.environ)
        if one_thread:
            env.update({v: "1" for v in ONE_THREAD_VARS})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.side", which],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            env=env,
        )
        hello = self._read()
        self.env = hello["env"]

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"bench.side {self.which} exited ({self.proc.wait()})")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"bench.side {self.which}: {reply['error']}")
        return reply

    def round(self, task: str, k: int) -> dict:
        self.proc.stdin.write(json.dumps({"task": task, "k": k}) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        try:
            self.proc.stdin.write("\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


def run(
    tasks: list[str], rounds: int, k: int, with_torch: bool, log=print, one_thread: bool = False
) -> dict:
    """Time ``tasks`` on both sides; returns {"env": {...}, "results": [...]}."""
    key = "median_cpu_ms" if one_thread else "median_ms"
    sides = {"ours": Side("ours", one_thread)}
    try:
        if with_torch:
            sides["torch"] = Side("torch", one_thread)
        results = []
        for task in tasks:
            best = {name: float("inf") for name in sides}
            medians = {name: [] for name in sides}
            for _ in range(rounds):
                for name, side in sides.items():
                    time.sleep(PAUSE_S)
                    med = side.round(task, K.get(task, k))[key]
                    medians[name].append(round(med, 3))
                    best[name] = min(best[name], med)
            label, target = TARGETS.get(task, (task, None))
            ratio = best["ours"] / best["torch"] if "torch" in best else None
            res = {
                "task": task,
                "label": label,
                "dtype": task.split(":")[-1],
                "ours_ms": best["ours"],
                "torch_ms": best.get("torch"),
                "ratio": ratio,
                "target": target,
                "met": None if ratio is None or target is None else ratio <= target,
                "round_medians": medians,
            }
            results.append(res)
            log(
                f"  sides{' (one thread, CPU time)' if one_thread else ''} {task}: ours {best['ours']:.2f} ms"
                + (f", torch {best['torch']:.2f} ms, ratio {ratio:.2f}" if ratio else "")
            )
        return {
            "env": {name: side.env for name, side in sides.items()},
            "results": results,
            "one_thread": one_thread,
            "clock": "process CPU time" if one_thread else "wall (perf_counter)",
        }
    finally:
        for side in sides.values():
            side.close()


def epoch(images: int) -> dict:
    """``python -m bench.epoch`` in its own process: one epoch of HW5's training."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.epoch", "--images", str(images)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def default_tasks(quick: bool, cases: str) -> list[str]:
    dtypes = ("float32",) if quick else ("float32", "float64")
    tasks = [f"step:{dt}" for dt in dtypes]
    tasks += [f"conv:{c}:{dt}" for dt in dtypes for c in "ABCD" if c in cases]
    tasks += ["pool:float64"] if not quick else ["pool:float32"]
    return tasks


def print_table(res: dict, out=sys.stdout) -> None:
    title = (
        "one thread each, CPU time (as graded)"
        if res.get("one_thread")
        else "each side in its own process"
    )
    header = (
        f"{title:<48} {'dtype':<8} {'ours ms':>9} {'torch ms':>9} {'ratio':>6} {'target':>7}  met"
    )
    print(header, file=out)
    print("-" * len(header), file=out)
    for r in res["results"]:
        torch_ms = "-" if r["torch_ms"] is None else f"{r['torch_ms']:.2f}"
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
        target = "-" if r["target"] is None else f"<={r['target']:.1f}"
        met = "-" if r["met"] is None else ("yes" if r["met"] else "NO")
        print(
            f"{r['label'][:48]:<48} {r['dtype']:<8} {r['ours_ms']:>9.2f} {torch_ms:>9} "
            f"{ratio:>6} {target:>7}  {met}",
            file=out,
        )


if __name__ == "__main__":  # a quick look: python -m bench.sides [task ...]
    tasks = sys.argv[1:] or ["step:float32"]
    print(f"load {os.getloadavg()}")
    res = run(tasks, rounds=5, k=10, with_torch=True)
    print_table(res)
    print(f"load {os.getloadavg()}")
    print(json.dumps(res["env"], indent=1))
