"""Wall time of one trusted-grader task child, in the sandbox and without it.

    .venv/bin/python -m bench.sandbox_overhead [N]

Runs ``autograder.sandbox.run_task`` on one small conv-forward case of the reference
submission, N times (default 20) in each of two processes, alternating so that a burst of load
on a shared machine hits both: one process with ``autograder.jail`` (bubblewrap, relay), one
with the jail turned off (the relay and the same worker run directly). Prints the medians.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile

_SERVER = r"""
import os, sys, tempfile, time
from autograder import cases, grader, jail, sandbox, samples, tasks
TASK = tasks.of_kind("forward")[0].id  # the first forward layer task of the table (conv)
if sys.argv[1] == "unsandboxed":
    jail.level = lambda: ("none", "bench")
    os.environ[jail.ALLOW_UNSANDBOXED_ENV] = "1"
root = tempfile.mkdtemp()
samples.build_samples(root, names=["reference"])
files, _ = sandbox.read_submission(os.path.join(root, "reference"))
case = cases.make_cases(TASK, "bench")[0]
limits = grader.load_rubric()["limits"]
sandbox.provided_package()
sandbox.run_task(TASK, [case], files, limits)  # warm-up (and jail.level())
print("ready", flush=True)
for line in sys.stdin:
    t = time.monotonic()
    run = sandbox.run_task(TASK, [case], files, limits)
    assert run.cases[0].done, run
    print(f"{time.monotonic() - t:.4f}", flush=True)
"""


def main(n: int = 20) -> dict[str, float]:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "server.py")
        with open(script, "w") as fh:
            fh.write(_SERVER)
        env = dict(os.environ, PYTHONPATH=root)
        procs = {
            mode: subprocess.Popen(
                [sys.executable, script, mode],
                cwd=root,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for mode in ("jail", "unsandboxed")
        }
        try:
            for p in procs.values():
                if p.stdout.readline().strip() != "ready":
                    raise RuntimeError("a benchmark process failed to start")
            times: dict[str, list[float]] = {m: [] for m in procs}
            for _ in range(n):
                for mode, p in procs.items():
                    p.stdin.write("go\n")
                    p.stdin.flush()
                    times[mode].append(float(p.stdout.readline()))
        finally:
            for p in procs.values():
                p.stdin.close()
                p.wait()
    medians = {m: statistics.median(t) for m, t in times.items()}
    load = os.getloadavg()[0]
    print(f"task child (one conv-forward case), median of {n}; load average {load:.1f}")
    for mode, t in times.items():
        print(
            f"  {mode:12s} {medians[mode] * 1000:6.0f} ms  (min {min(t) * 1000:.0f}, "
            f"max {max(t) * 1000:.0f})"
        )
    print(
        f"  sandbox overhead: {(medians['jail'] - medians['unsandboxed']) * 1000:+.0f} ms "
        f"per task child"
    )
    return medians


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
