"""intro2ai._malloc: after ``import intro2ai`` the memory of freed arrays is used again for the
next ones, without page faults; a user's malloc settings are left alone; nothing there can stop
the import."""

from __future__ import annotations

import ctypes
import json
import os
import platform
import subprocess
import sys
import textwrap

import pytest

from intro2ai import _malloc

# Runs in a child: rounds of three (50, 32, 32, 32) float32 arrays (6.5 MB each, a pooling
# layer's dx in HW5's network) made and freed, and the page faults of each round.
PROBE = textwrap.dedent("""
    import json, resource
    import intro2ai
    import numpy as np
    from intro2ai import _malloc
    faults = []
    for _ in range(6):
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        arrays = [np.ones((50, 32, 32, 32), dtype=np.float32) for _ in range(3)]
        assert all(float(a.sum()) == a.size for a in arrays)
        del arrays
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
    print(json.dumps({"status": _malloc.status(), "faults": faults}))
""")

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")


def _probe(**env) -> dict:
    full = {k: v for k, v in os.environ.items() if k not in _malloc.USER_VARS}
    full.update(env)
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], env=full, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@glibc_only
def test_freed_arrays_memory_is_used_again_without_page_faults():
    res = _probe()
    assert res["status"] == "set", res
    # The first round maps fresh pages (fewer faults where transparent huge pages back them);
    # later rounds reuse them.
    assert res["faults"][0] > 0, res
    assert max(res["faults"][1:]) < 50, res


@glibc_only
@pytest.mark.parametrize(
    "var,value",
    [("MALLOC_TOP_PAD_", "131072"), ("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=1")],
)
def test_user_setting_is_kept(var, value):
    # glibc's own behaviour: the top of the heap goes back to the kernel, and each round maps
    # its pages again, faulting about as often as the first (which is also what makes the test
    # above able to fail).
    res = _probe(**{var: value})
    assert res["status"] == f"user set ({var})", res
    assert res["faults"][0] > 0, res
    assert min(res["faults"][1:]) >= res["faults"][0] // 2, res


def test_without_glibc_nothing_is_done(monkeypatch):
    monkeypatch.setitem(_malloc._status, "malloc", _malloc.status())
    monkeypatch.setattr(_malloc.platform, "libc_ver", lambda: ("", ""))
    for var in _malloc.USER_VARS:
        monkeypatch.delenv(var, raising=False)
    assert _malloc.keep_freed_memory() == "not glibc"


def test_a_failure_never_stops_the_import(monkeypatch):
    def broken(_name):
        raise OSError("no C library here")

    monkeypatch.setitem(_malloc._status, "malloc", _malloc.status())
    for var in _malloc.USER_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(_malloc.platform, "libc_ver", lambda: ("glibc", "2.36"))
    monkeypatch.setattr(ctypes, "CDLL", broken)
    assert _malloc.keep_freed_memory() == "failed (OSError: no C library here)"
    assert _malloc.status().startswith("failed")
