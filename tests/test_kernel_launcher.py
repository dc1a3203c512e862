"""autograder.kernel_launcher: the program that starts a notebook kernel for nbgrader autograde."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap

import pytest

from autograder.jailed import kernel_launcher


def test_place_extensions_replaces_a_planted_link_and_leaves_its_target(tmp_path):
    ext = tmp_path / "built.so"
    ext.write_bytes(b"\x7fELF")
    dest = tmp_path / "dest"
    (dest / "intro2ai").mkdir(parents=True)
    outside = tmp_path / "outside.txt"
    outside.write_text("not to be touched")
    (dest / "intro2ai" / "_ext.so").symlink_to(outside)
    kernel_launcher.place_extensions(
        [[str(ext), "intro2ai/_ext.so"], [str(ext), "sub/dir/_x.so"]], str(dest)
    )
    assert not (dest / "intro2ai" / "_ext.so").is_symlink()
    assert (dest / "intro2ai" / "_ext.so").read_bytes() == b"\x7fELF"
    assert (dest / "sub" / "dir" / "_x.so").read_bytes() == b"\x7fELF"
    assert outside.read_text() == "not to be touched"


@pytest.mark.skipif(
    platform.machine() not in ("x86_64", "aarch64"), reason="seccomp filter for x86_64/aarch64"
)
def test_forbid_new_processes_allows_threads_but_no_processes():
    code = textwrap.dedent("""
        import errno, os, subprocess, sys, threading
        sys.path.insert(0, sys.argv[1])
        import kernel_launcher as kl
        assert kl.forbid_new_processes()
        seen = []
        t = threading.Thread(target=lambda: seen.append(1)); t.start(); t.join()
        try:
            os.fork()
            print("forked")
        except OSError as exc:
            print("fork", errno.errorcode[exc.errno])
        try:
            subprocess.run(["true"])
            print("spawned")
        except OSError as exc:
            print("spawn", errno.errorcode[exc.errno])
        print("threads", len(seen))
    """)
    out = subprocess.run(
        [sys.executable, "-c", code, os.path.dirname(kernel_launcher.__file__)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split("\n")
    assert lines[0] == "fork EAGAIN"
    assert lines[1].startswith("spawn ")
    assert lines[2] == "threads 1"


def test_launcher_uses_the_standard_library_only():
    """The kernelspec runs it with ``python -I`` as a file: no kit or third-party import."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); before = set(sys.modules); import kernel_launcher; "
        "new = set(sys.modules) - before - {'kernel_launcher'}; "
        "bad = [m for m in new if not (m in sys.stdlib_module_names or m.split('.')[0] in sys.stdlib_module_names)]; "
        "print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", code, os.path.dirname(kernel_launcher.__file__)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == "[]"


@pytest.mark.slow
def test_pipeline_modules_import_without_a_cycle():
    """Each module of the pipeline imports on its own, and none imports the CLI module."""
    mods = [
        "records",
        "notebook_step",
        "batch",
        "export",
        "collect",
        "demo",
        "feedback",
        "gradebook",
        "pipeline",
    ]
    for mod in mods:
        code = f"import sys, autograder.{mod}; print('autograder.pipeline' in sys.modules)"
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == ("True" if mod == "pipeline" else "False"), mod


def test_cli_help_lists_the_commands():
    out = subprocess.run(
        [sys.executable, "-m", "autograder.pipeline", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for command in ("autograde", "feedback", "export", "collect", "demo"):
        assert command in out
