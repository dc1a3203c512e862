"""Where the data lives, and the bilingual error messages that say how to get it.

The data directory is, in order:

1. the ``data_dir`` argument (or ``--data-dir`` on the command line);
2. the environment variable ``INTRO2AI_DATA_DIR``;
3. ``<repo root>/datasets`` when the kit is installed editable (``pip install -e .``),
   the repo root being the folder that holds the ``intro2ai`` package and
   ``pyproject.toml``;
4. otherwise ``./datasets`` under the current working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ENV_DATA_DIR", "default_data_dir", "resolve_data_dir", "fix_command"]

ENV_DATA_DIR = "INTRO2AI_DATA_DIR"


def _repo_root() -> Path | None:
    """The source checkout holding the package, or None for a regular install."""
    package_dir = Path(__file__).resolve().parent.parent  # .../intro2ai
    root = package_dir.parent
    if (root / "pyproject.toml").is_file() and (root / "intro2ai" / "__init__.py").is_file():
        return root
    return None


def default_data_dir() -> Path:
    """The data directory used when no argument is given (see the module docstring)."""
    env = os.environ.get(ENV_DATA_DIR, "").strip()
    if env:
        return Path(env).expanduser()
    root = _repo_root()
    if root is not None:
        return root / "datasets"
    return Path.cwd() / "datasets"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Return ``data_dir`` as a :class:`~pathlib.Path`, or the default data directory."""
    if data_dir is None or str(data_dir) == "":
        return default_data_dir()
    return Path(data_dir).expanduser()


def fix_command(dataset: str, data_dir: Path | None = None, action: str = "download") -> str:
    """The exact shell command that downloads (or verifies) ``dataset`` in ``data_dir``."""
    cmd = f"python -m intro2ai.datasets {action} {dataset}"
    if data_dir is not None and Path(data_dir).resolve() != default_data_dir().resolve():
        cmd += f' --data-dir "{data_dir}"'
    return cmd


def missing_message(dataset: str, directory: Path, filename: str, data_dir: Path) -> str:
    """English + Korean text for a file that is not there."""
    cmd = fix_command(dataset, data_dir)
    return (
        f"{dataset}: file {filename!r} not found in directory {str(directory)!r}.\n"
        f"  Fix: run  {cmd}\n"
        f"  (offline? copy the files from a USB stick or campus mirror with "
        f"`python -m intro2ai.datasets import PATH`; see datasets/README.md)\n"
        f"{dataset}: 디렉터리 {str(directory)!r} 에 파일 {filename!r} 이(가) 없습니다.\n"
        f"  해결: 터미널에서  {cmd}  를 실행하세요.\n"
        f"  (인터넷이 안 되면 USB나 학교 mirror의 파일을 "
        f"`python -m intro2ai.datasets import PATH` 로 가져오세요. datasets/README.md 참고)"
    )


def damaged_message(dataset: str, path: Path, problem: str, data_dir: Path) -> str:
    """English + Korean text for a file that is there but unreadable or wrong."""
    cmd = fix_command(dataset, data_dir)
    check = fix_command(dataset, data_dir, "verify")
    return (
        f"{dataset}: file {path.name!r} in directory {str(path.parent)!r} is damaged: {problem}.\n"
        f"  Fix: delete it and run  {cmd}  "
        f"(or check it with `{check}`)\n"
        f"{dataset}: 디렉터리 {str(path.parent)!r} 의 파일 {path.name!r} 이(가) 손상되었습니다: "
        f"{problem}.\n"
        f"  해결: 이 파일을 지우고  {cmd}  를 다시 실행하세요 "
        f"(`{check}` 로 확인할 수 있습니다)."
    )
