"""`make submit`: write the HW5 hand-in zip (exactly the graded files + a SHA-256 manifest).

Usage (from the homework folder)::

    python -m checks.submit [STUDENT_ID]

Writes ``hw5_submission.zip`` (``<STUDENT_ID>_hw5_submission.zip`` when an id is given) with
``hw5.ipynb``, ``intro2ai/layers.py``, ``intro2ai/classifiers/cnn.py`` and ``MANIFEST.sha256``
(one ``<sha256>  <path>`` line per file, the format ``sha256sum -c`` reads). Refuses, with a
Korean message and exit status 1, when a file is missing or the notebook is not valid JSON.
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


def _refuse(message: str) -> int:
    print(f"제출 파일을 만들지 않았습니다: {message}", file=sys.stderr)
    return 1


def build(root: Path = ROOT, student_id: str = "") -> Path:
    """Write the zip and return its path; raise ValueError (Korean message) when refusing."""
    missing = [f for f in FILES if not (root / f).is_file()]
    if missing:
        raise ValueError(f"다음 파일이 없습니다: {', '.join(missing)} (과제 폴더에서 실행했는지 확인하세요)")
    try:
        nb = json.loads((root / "hw5.ipynb").read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"hw5.ipynb 가 올바른 노트북(JSON) 파일이 아닙니다 ({exc}). "
                         "Jupyter 에서 노트북을 다시 저장하세요.") from exc
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError("hw5.ipynb 에 cells 가 없습니다. Jupyter 에서 저장한 노트북 파일인지 확인하세요.")
    if student_id and not re.fullmatch(r"[A-Za-z0-9]+", student_id):
        raise ValueError(f"학번에는 영문자와 숫자만 쓸 수 있습니다: {student_id!r}")

    lines = []
    for rel in FILES:
        digest = hashlib.sha256((root / rel).read_bytes()).hexdigest()
        lines.append(f"{digest}  {rel}\n")
    name = f"{student_id}_hw5_submission.zip" if student_id else "hw5_submission.zip"
    out = root / name
    tmp = out.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for rel in FILES:
            zf.write(root / rel, arcname=rel)
        zf.writestr(MANIFEST, "".join(lines))
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    student_id = args[0] if args else ""
    try:
        out = build(ROOT, student_id)
    except ValueError as exc:
        return _refuse(str(exc))
    print(f"제출 파일을 만들었습니다: {out.name}")
    for rel in FILES:
        print(f"  - {rel}")
    print(f"  - {MANIFEST} (각 파일의 SHA-256)")
    todo = sorted({m for rel in FILES[1:] for m in _STUB.findall((ROOT / rel).read_text(encoding="utf-8"))})
    if todo:
        print(f"주의: 아직 구현하지 않은 과제가 있습니다: {', '.join(todo)}")
    nb = json.loads((ROOT / "hw5.ipynb").read_text(encoding="utf-8"))
    if not any(c.get("outputs") for c in nb["cells"] if c.get("cell_type") == "code"):
        print("주의: 노트북에 실행 결과가 없습니다. 처음부터 끝까지 실행하고 저장한 뒤 다시 제출하세요.")
    print("이 zip 파일을 LMS 에 올리세요.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
