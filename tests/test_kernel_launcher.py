"""autograder.kernel_launcher: the program that starts a notebook kernel for nbgrader autograde."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap

import pytest

from autograder import kernel_launcher


def test_place_provided_replaces_release_files_and_keeps_student_files(tmp_path):
    release = tmp_path / "release"
    (release / "intro2ai").mkdir(parents=True)
    (release / "intro2ai" / "layers.py").write_text("stub")
    (release / "intro2ai" / "fast_layers.py").write_text("provided")
    (release / "hw5.ipynb").write_text("{}")
    (release / "__pycache__").mkdir()
    (release / "__pycache__" / "x.pyc").write_text("cache")
    extra = tmp_path / "built.so"
    extra.write_bytes(b"\x7fELF")
    dest = tmp_path / "dest"
    (dest / "intro2ai").mkdir(parents=True)
    (dest / "intro2ai" / "layers.py").write_text("student work")
    (dest / "intro2ai" / "fast_layers.py").write_text("student edit of a provided file")
    (dest / "hw5.ipynb").write_text("student notebook")
    outside = tmp_path / "outside.txt"
    outside.write_text("not to be touched")
    (dest / "intro2ai" / "optim.py").symlink_to(outside)
    (release / "intro2ai" / "optim.py").write_text("provided optim")

    kernel_launcher.place_provided({"release": str(release), "keep": ["intro2ai/layers.py"],
                                    "extra": [[str(extra), "intro2ai/_ext.so"]]}, str(dest))

    assert (dest / "intro2ai" / "layers.py").read_text() == "student work"
    assert (dest / "intro2ai" / "fast_layers.py").read_text() == "provided"
    assert (dest / "hw5.ipynb").read_text() == "student notebook"
    assert not (dest / "__pycache__").exists()
    assert (dest / "intro2ai" / "_ext.so").read_bytes() == b"\x7fELF"
    # a planted symlink is replaced by a regular file, its target is left alone
    assert not (dest / "intro2ai" / "optim.py").is_symlink()
    assert (dest / "intro2ai" / "optim.py").read_text() == "provided optim"
    assert outside.read_text() == "not to be touched"


def test_cap_lowers_a_limit_and_never_raises_above_the_hard_limit():
    code = textwrap.dedent("""
        import resource, sys
        sys.path.insert(0, sys.argv[1])
        import kernel_launcher as kl
        kl.cap(resource.RLIMIT_FSIZE, 12345)
        print(resource.getrlimit(resource.RLIMIT_FSIZE))
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        kl.cap(resource.RLIMIT_NOFILE, 10**6)
        print(resource.getrlimit(resource.RLIMIT_NOFILE))
        kl.cap(resource.RLIMIT_NOFILE, None)
        print(resource.getrlimit(resource.RLIMIT_NOFILE))
    """)
    out = subprocess.run([sys.executable, "-c", code, os.path.dirname(kernel_launcher.__file__)],
                         capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[:3] == ["(12345, 12345)", "(64, 64)", "(64, 64)"]


@pytest.mark.skipif(platform.machine() not in ("x86_64", "aarch64"), reason="seccomp filter for x86_64/aarch64")
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
    out = subprocess.run([sys.executable, "-c", code, os.path.dirname(kernel_launcher.__file__)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split("\n")
    assert lines[0] == "fork EAGAIN"
    assert lines[1].startswith("spawn ")
    assert lines[2] == "threads 1"


def test_launcher_uses_the_standard_library_only():
    """The kernelspec runs it with ``python -I`` as a file: no kit or third-party import."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); before = set(sys.modules); import kernel_launcher; "
            "new = set(sys.modules) - before - {'kernel_launcher'}; "
            "bad = [m for m in new if not (m in sys.stdlib_module_names or m.split('.')[0] in sys.stdlib_module_names)]; "
            "print(bad)")
    out = subprocess.run([sys.executable, "-I", "-c", code, os.path.dirname(kernel_launcher.__file__)],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_pipeline_modules_import_without_a_cycle():
    """Each module of the pipeline imports on its own, and none imports the CLI module."""
    mods = ["records", "notebook_step", "batch", "export", "collect", "demo", "feedback", "pipeline"]
    for mod in mods:
        code = (f"import sys, autograder.{mod}; "
                "print('autograder.pipeline' in sys.modules)")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == ("True" if mod == "pipeline" else "False"), mod


def test_cli_help_lists_the_commands():
    out = subprocess.run([sys.executable, "-m", "autograder.pipeline", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for command in ("autograde", "feedback", "export", "collect", "demo"):
        assert command in out
