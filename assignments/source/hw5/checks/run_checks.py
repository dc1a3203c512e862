"""`make check`: run the HW5 self-checks and print one Korean line per task.

Usage (from the homework folder)::

    python -m checks.run_checks                     # every task
    python -m checks.run_checks TASK_ID             # one task (ids: the table in the output)
    python -m checks.run_checks -v TASK_ID          # every failing case of that task

Exit status 0 when every selected task passes, 1 otherwise.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
import unicodedata
from pathlib import Path

import pytest

from checks.conftest import DATA_FILE, TASK_ROWS, TASKS
from intro2ai import grading_rules

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
_STUB = re.compile(r"^(hw\d+_[A-Za-z0-9_]+):")

PASSED, TODO, NEEDS, FAILED, NOTESTS = (
    "통과",
    "아직 구현하지 않음",
    "선행 과제 필요",
    "실패",
    "검사 없음",
)


class _Collector:
    """Records, per task, how each test ended (without pytest's own report)."""

    def __init__(self) -> None:
        self.results: dict[str, list[tuple[str, str, str]]] = {t: [] for t in TASKS}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        rep = outcome.get_result()
        if rep.when != "call" and rep.passed:
            return
        if rep.when == "teardown" and not rep.failed:
            return
        task = next((m.name for m in item.iter_markers() if m.name in TASKS), None)
        if task is None:
            return
        case = (
            item.callspec.params.get("name", item.callspec.id)
            if hasattr(item, "callspec")
            else item.name
        )
        if rep.skipped:
            self.results[task].append((case, "skipped", ""))
        elif rep.passed:
            self.results[task].append((case, "passed", ""))
        else:
            exc = call.excinfo
            message = str(exc.value) if exc is not None else str(rep.longrepr)
            if exc is not None and exc.errisinstance(NotImplementedError):
                match = _STUB.match(message)
                owner = match.group(1) if match else task
                status = "todo" if owner == task else f"needs:{owner}"
                self.results[task].append((case, status, message))
            elif exc is not None and exc.typename == "Failed":  # the checks' Korean verdict
                self.results[task].append((case, "failed", message.strip()))
            else:  # an exception of the student's code: as the grader reports it
                name = exc.typename if exc is not None else "Error"
                first = message.strip().splitlines()[0] if message.strip() else ""
                status = "memory" if name == "MemoryError" else "error"
                text = grading_rules.error_ko(status, name, first, _where(exc))
                self.results[task].append((case, "failed", f"[{case}] {text}"))


def _where(exc) -> str:
    """``intro2ai/layers.py:123 (conv_forward_naive)``: the last line of the student's files in
    the traceback, or ""."""
    if exc is None:
        return ""
    where = ""
    files = {row["file"] for row in TASK_ROWS.values()}
    for entry in exc.traceback:
        path = Path(str(entry.path)).as_posix()
        rel = next((f for f in files if path.endswith("/" + f)), None)
        if rel:
            where = f"{rel}:{entry.lineno + 1} ({entry.name})"
    return where


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _wrap(text: str, width: int, indent: str) -> list[str]:
    """Lines of at most ``width`` terminal columns (Hangul takes two), each after ``indent``."""
    room = width - _width(indent)
    words = []
    for word in text.split():
        while _width(word) > room:  # a word longer than a line: cut it
            cut = 1
            while _width(word[: cut + 1]) <= room:
                cut += 1
            words.append(word[:cut])
            word = word[cut:]
        words.append(word)
    lines, line = [], ""
    for word in words:
        if line and _width(line + " " + word) > room:
            lines.append(indent + line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(indent + line)
    return lines


def _pad(text: str, width: int) -> str:
    """Left-justify to a terminal width (Hangul takes two columns)."""
    return text + " " * max(0, width - _width(text))


def _stub_left(task: str) -> bool:
    """True when the task's NotImplementedError stub is still in the student's files."""
    import intro2ai

    root = Path(intro2ai.__file__).resolve().parent.parent
    needle = f'"{task}: 아직 구현하지 않았습니다'
    for rel in sorted({row["file"] for row in TASK_ROWS.values()}):
        path = root / rel
        if path.is_file() and needle in path.read_text(encoding="utf-8", errors="replace"):
            return True
    return False


def _summary(
    results: list[tuple[str, str, str]], stub_left: bool = False
) -> tuple[str, str, list[str]]:
    """(status, passed/total, the failing cases' messages)."""
    if not results:
        return NOTESTS, "", []
    statuses = [s for _, s, _ in results]
    n_pass = statuses.count("passed")
    total = len(statuses)
    failed = [m for _, s, m in results if s == "failed"]
    if n_pass == total:
        return PASSED, f"{n_pass}/{total}", []
    if failed:
        return FAILED, f"{n_pass}/{total}", failed
    if "todo" in statuses or stub_left:
        return TODO, f"{n_pass}/{total}", []
    needs = sorted({s.split(":", 1)[1] for s in statuses if s.startswith("needs:")})
    return NEEDS, f"{n_pass}/{total}", [f"먼저 {', '.join(needs)} 를 구현하세요"]


def _warn_if_foreign_package() -> None:
    import intro2ai

    location = Path(intro2ai.__file__).resolve().parent
    if ROOT not in location.parents:
        print(
            f"주의: 이 폴더가 아닌 다른 곳의 intro2ai 를 불러왔습니다 ({location}).\n"
            f"      이 과제 폴더에서 `make install` (pip install -e .) 을 실행하세요.\n"
        )


WIDTH = 100  # columns of the table, Hangul counted as two


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = "-v" in args
    if not TASKS:
        print(
            f"검사 데이터 {DATA_FILE.name} 가 없거나 손상되었습니다. 배포된 과제 폴더를 그대로 쓰세요."
        )
        return 1
    tasks = [a for a in args if a != "-v"] or list(TASKS)
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        print(f"알 수 없는 task id: {', '.join(unknown)}. 가능한 값: {', '.join(TASKS)}")
        return 2
    _warn_if_foreign_package()
    marker = " or ".join(tasks)
    base = [
        str(HERE / "test_hw5.py"),
        "-m",
        marker,
        "-p",
        "no:cacheprovider",
        f"--rootdir={ROOT}",
        "-W",
        "ignore::RuntimeWarning",
        "-q",
        "--tb=no",
    ]
    collector = _Collector()
    sink = io.StringIO()  # pytest's own report is replaced by the table below
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        code = pytest.main(base, plugins=[collector])
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        print(sink.getvalue()[-3000:])
        print(f"pytest 가 검사를 실행하지 못했습니다 (exit {int(code)}).")
        return 1

    width = max(len(t) for t in TASKS)
    print("HW5 자가 점검 (공개 검사; 채점은 같은 종류의 다른 케이스로 합니다)")
    print(f"{'task id':<{width}}  {_pad('상태', 18)}  통과/전체")
    print("-" * WIDTH)
    all_ok, any_failed = True, False
    for task in tasks:
        status, count, messages = _summary(collector.results[task], _stub_left(task))
        all_ok &= status == PASSED
        any_failed |= status == FAILED
        print(f"{task:<{width}}  {_pad(status, 18)}  {count}")
        for text in messages if verbose else messages[:1]:
            for line in _wrap(text, WIDTH, "    "):
                print(line)
    print("-" * WIDTH)
    if all_ok:
        print("모든 검사를 통과했습니다. 노트북을 처음부터 끝까지 실행한 뒤 `make submit` 하세요.")
        return 0
    if any_failed and not verbose:
        print("실패한 케이스를 모두 보기: make check TASK=<task id> VERBOSE=1")
    return 1


if __name__ == "__main__":
    sys.exit(main())
