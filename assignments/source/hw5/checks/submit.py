"""`make submit`: write the HW5 hand-in zip (exactly the graded files + a SHA-256 manifest).

Usage (from the homework folder)::

    python -m checks.submit STUDENT_ID

Writes ``<STUDENT_ID>_hw5_submission.zip`` with ``hw5.ipynb``, ``intro2ai/layers.py``,
``intro2ai/classifiers/cnn.py`` and ``MANIFEST.sha256``: one ``<sha256>  <path>`` line per
file (the format ``sha256sum -c`` reads) after ``#`` comment lines, which ``sha256sum -c``
skips, naming the student id and how the notebook was last run (``notebook_mode: full``, ``fast``
for FAST MODE, ``not-run``, or ``unknown``). Refuses, with a Korean message and exit status 1,
when the student id is missing or invalid (the instructors' ``collect`` places a zip by the id in
its name), a file is missing or the notebook is not valid JSON.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = ("hw5.ipynb", "intro2ai/layers.py", "intro2ai/classifiers/cnn.py")
MANIFEST = "MANIFEST.sha256"
_STUB = re.compile(r'"(hw5_[a-z_]+): 아직 구현하지 않았습니다')

# The same rule as the instructors' autograder/ids.py (ID_PATTERN, RESERVED; not shipped to
# students, so copied here; the kit's tests assert the copies are equal), and no '_': `make
# collect` reads the id from the zip's name up to its first '_' (autograder/collect.py LMS_NAME).
MAX_ID_LENGTH = 64
ID_PATTERN = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_-]{{0,{MAX_ID_LENGTH - 1}}}")
RESERVED_IDS = frozenset(
    {"con", "prn", "aux", "nul"} | {f"{d}{i}" for d in ("com", "lpt") for i in range(10)}
)

# What the notebook's setup cell (id "setup") prints first in each mode.
FAST_BANNER = "FAST MODE"
FULL_BANNER = "일반 모드"


def student_id_problem(student_id: str) -> str | None:
    """Why ``student_id`` cannot name a submission (Korean), or None when it can."""
    if not student_id:
        return (
            "학번이 없습니다. 학번을 붙여 실행하세요: make submit STUDENT_ID=20261234 "
            "(채점할 때 zip 파일 이름의 학번으로 제출자를 찾습니다)"
        )
    if len(student_id) > MAX_ID_LENGTH:
        return f"학번이 너무 깁니다 ({len(student_id)} 자, 최대 {MAX_ID_LENGTH} 자): {student_id!r}"
    if not ID_PATTERN.fullmatch(student_id):
        return (
            f"학번에는 영문자(A-Z, a-z), 숫자, '-' 만 쓸 수 있고 영문자나 숫자로 "
            f"시작해야 합니다: {student_id!r}"
        )
    if "_" in student_id:  # the instructors read the id from the zip name, up to its first '_'
        return (
            f"학번에는 '_' 를 쓸 수 없습니다: {student_id!r} (채점할 때 zip 파일 이름의 첫 '_' "
            "앞부분을 학번으로 읽습니다)"
        )
    if student_id.lower() in RESERVED_IDS:
        return (
            f"{student_id!r} 는 Windows 에서 파일 이름으로 쓸 수 없는 이름이라 학번으로 쓸 수 "
            "없습니다. 실제 학번을 쓰세요."
        )
    return None


def notebook_mode(nb: dict) -> str:
    """How the notebook was last run, from the output of its setup cell.

    ``"fast"`` (FAST MODE, ``INTRO2AI_FAST=1``), ``"full"`` (real CIFAR-10), ``"not-run"`` (the
    setup cell has no output) or ``"unknown"`` (no setup cell, or output of neither kind).
    """
    cell = next(
        (c for c in nb.get("cells", []) if isinstance(c, dict) and c.get("id") == "setup"), None
    )
    if cell is None:
        return "unknown"
    outputs = cell.get("outputs") or []
    if not isinstance(outputs, list):
        return "unknown"
    if not outputs:
        return "not-run"
    text = "".join(
        str(part)
        for o in outputs
        if isinstance(o, dict)
        for part in (o.get("text") if isinstance(o.get("text"), list) else [o.get("text", "")])
    )
    if FAST_BANNER in text:
        return "fast"
    if FULL_BANNER in text:
        return "full"
    return "unknown"


def _refuse(message: str) -> int:
    print(f"제출 파일을 만들지 않았습니다: {message}", file=sys.stderr)
    return 1


def build(root: Path = ROOT, student_id: str = "") -> Path:
    """Write the zip and return its path; raise ValueError (Korean message) when refusing."""
    why = student_id_problem(student_id)
    if why:
        raise ValueError(why)
    missing = [f for f in FILES if not (root / f).is_file()]
    if missing:
        raise ValueError(
            f"다음 파일이 없습니다: {', '.join(missing)} (과제 폴더에서 실행했는지 확인하세요)"
        )
    try:
        nb = json.loads((root / "hw5.ipynb").read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"hw5.ipynb 가 올바른 노트북(JSON) 파일이 아닙니다 ({exc}). "
            "Jupyter 에서 노트북을 다시 저장하세요."
        ) from exc
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError(
            "hw5.ipynb 에 cells 가 없습니다. Jupyter 에서 저장한 노트북 파일인지 확인하세요."
        )

    lines = [
        "# intro2ai hw5 submission (sha256sum -c skips these # lines)\n",
        f"# student_id: {student_id}\n",
        f"# notebook_mode: {notebook_mode(nb)}\n",
    ]
    for rel in FILES:
        digest = hashlib.sha256((root / rel).read_bytes()).hexdigest()
        lines.append(f"{digest}  {rel}\n")
    out = root / f"{student_id}_hw5_submission.zip"
    tmp = out.with_suffix(".zip.part")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for rel in FILES:
                zf.write(root / rel, arcname=rel)
            zf.writestr(MANIFEST, "".join(lines))
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    student_id = args[0].strip() if args else ""
    try:
        out = build(ROOT, student_id)
    except ValueError as exc:
        return _refuse(str(exc))
    print(f"제출 파일을 만들었습니다: {out.name}")
    for rel in FILES:
        print(f"  - {rel}")
    print(f"  - {MANIFEST} (각 파일의 SHA-256)")
    todo = sorted(
        {m for rel in FILES[1:] for m in _STUB.findall((ROOT / rel).read_text(encoding="utf-8"))}
    )
    if todo:
        print(f"주의: 아직 구현하지 않은 과제가 있습니다: {', '.join(todo)}")
    nb = json.loads((ROOT / "hw5.ipynb").read_text(encoding="utf-8"))
    mode = notebook_mode(nb)
    ran = any(
        c.get("outputs")
        for c in nb["cells"]
        if isinstance(c, dict) and c.get("cell_type") == "code"
    )
    if mode == "not-run" or not ran:
        print(
            "주의: 노트북에 실행 결과가 없습니다. make notebook 으로 처음부터 끝까지 실행하고 저장한 뒤 "
            "다시 제출하세요."
        )
    elif mode == "fast":
        print(
            "주의: 노트북을 마지막으로 FAST MODE (INTRO2AI_FAST=1, 작은 가짜 데이터) 로 실행했습니다. "
            "제출 기록(MANIFEST.sha256)에 그렇게 남습니다. 실제 CIFAR-10 으로 실행하려면 "
            "INTRO2AI_FAST 없이 make notebook 을 실행한 뒤 다시 제출하세요."
        )
    print("이 zip 파일을 LMS 에 올리세요.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
