"""``make collect``: LMS zip downloads into ``submitted/`` through ``nbgrader zip_collect``."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from autograder import records


def collect(source: Path, course: Path = records.DEFAULT_COURSE, assignment: str = records.DEFAULT_ASSIGNMENT) -> int:
    """Bring LMS downloads into ``submitted/`` through ``nbgrader zip_collect``.

    ``source`` is one student's zip (``<student_id>_<anything>.zip``, as ``make submit``
    writes it), a bulk download holding such zips, or a folder of them.  They go to
    ``downloaded/<assignment>/archive/``; nbgrader extracts them and collects the notebook
    and the two ``.py`` files (the ZipCollect settings of ``nbgrader_config.py``).
    """
    import zipfile

    course = Path(course).resolve()
    source = Path(source)
    archive = course / "downloaded" / assignment / "archive"
    archive.mkdir(parents=True, exist_ok=True)
    zips = sorted(source.glob("*.zip")) if source.is_dir() else [source]
    if not zips:
        raise SystemExit(f"no .zip files in {source}")
    n = 0
    for z in zips:
        with zipfile.ZipFile(z) as zf:
            inner = [m for m in zf.namelist() if m.lower().endswith(".zip") and not m.endswith("/")]
            if inner:  # a bulk download: one zip per student inside
                for member in inner:
                    target = archive / Path(member).name
                    records.atomic_write(target, zf.read(member))
                    n += 1
                continue
        shutil.copy2(z, archive / z.name)
        n += 1
    print(f"{n} archive(s) in {archive}")
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    cmd = [sys.executable, "-m", "nbgrader", "zip_collect", assignment, "--force",
           f"--CourseDirectory.root={course}"]
    return subprocess.run(cmd, cwd=course, env=env).returncode

