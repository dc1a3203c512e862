"""The README and docs/ stay true to the repository and short enough to read.

- Every relative link in ``README.md`` and ``docs/*.md`` points at a file or folder that exists,
  and its ``#anchor``, if any, at a heading of the Markdown page it names (GitHub's slugs).
- Every ``make X`` the README names is a target of the kit's ``Makefile``, except in the
  students' (Korean) quick start, whose targets are those of the released HW5 folder's own
  ``Makefile`` (``assignments/source/hw5/Makefile``). Every kit target with a ``##`` help text
  appears in the README.
- Every repository path written as inline code (`` `autograder/jail.py` ``) exists, unless it
  is something the kit generates (``GENERATED``), so a moved file shows up here.
- No sentence in ``README.md`` or ``docs/*.md`` is longer than ``MAX_WORDS`` words.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
KIT_MAKEFILE = ROOT / "Makefile"
STUDENT_MAKEFILE = ROOT / "assignments" / "source" / "hw5" / "Makefile"
# The README section for students is the one whose heading has this word ("student" in Korean).
STUDENT_SECTION_WORD = "학생"

# Top-level folders whose paths, written as inline code, must exist in the repository.
REPO_FOLDERS = (
    "intro2ai/",
    "assignments/",
    "autograder/",
    "notebooks/",
    "bench/",
    "tests/",
    "datasets/",
    "docs/",
)
# Paths the kit creates (releases, course data, secrets, results): never committed.
GENERATED = (
    "assignments/gradebook.db",
    "assignments/submitted/",
    "assignments/release/",
    "assignments/autograded/",
    "assignments/feedback/",
    "assignments/exports/",
    "assignments/.grading/",
    "autograder/.grader_seed",
    "autograder/.record_key",
    "bench/results/",
    "notebooks/executed/",
)

# The brief asks for sentences of about 40 words at most; 45 leaves room for a list of names.
MAX_WORDS = 45

FENCE = re.compile(r"^```.*?^```[^\n]*$", re.S | re.M)
COMMENT = re.compile(r"<!--.*?-->", re.S)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
INLINE_CODE = re.compile(r"`[^`\n]+`")
MAKE_CALL = re.compile(r"\bmake\s+([a-z][a-z0-9_-]*)")
TARGET_WITH_HELP = re.compile(r"^([A-Za-z0-9_-]+):[^\n]*##", re.M)
TARGET = re.compile(r"^([A-Za-z0-9_-]+):", re.M)
# A sentence ends at '.', '!' or '?' (optionally followed by a closing bracket, quote or "**") before
# whitespace. Abbreviations such as "e.g." split a sentence early, which only makes the check
# more lenient, never stricter.
SENTENCE_END = re.compile(r"(?<=[.!?])[)\"'\]*]*\s+")


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _targets(makefile: Path, pattern: re.Pattern = TARGET) -> set[str]:
    return set(pattern.findall(makefile.read_text(encoding="utf-8")))


def _sections(text: str) -> list[tuple[str, str]]:
    """``(heading, body)`` for each ``## `` section; the text before the first one has heading ``''``."""
    parts = re.split(r"^(## .*)$", text, flags=re.M)
    out = [("", parts[0])]
    out += [(parts[i], parts[i + 1]) for i in range(1, len(parts), 2)]
    return out


def _code_texts(text: str) -> list[str]:
    """The text inside fenced code blocks and inline code spans, where commands are written."""
    blocks = FENCE.findall(text)
    return blocks + INLINE_CODE.findall(FENCE.sub("", text))


def _prose_chunks(text: str) -> list[str]:
    """Prose to measure, in chunks that never join two sentences across a structure.

    Fenced code blocks and HTML comments are left out (code is not prose). Each paragraph, list
    item, heading and table cell is a chunk of its own; a table's separator row is skipped.
    Inline code spans count as one word each, since a command or path is read as one name.
    """
    text = COMMENT.sub("", FENCE.sub("", text))
    text = INLINE_CODE.sub("CODE", text)
    chunks: list[str] = []
    current: list[str] = []

    def flush() -> None:
        if current:
            chunks.append(" ".join(current))
            current.clear()

    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            flush()
        elif stripped.startswith("|"):
            flush()
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                chunks.extend(c for c in cells if c)
        elif stripped.startswith("#") or re.match(r"([-*+]|\d+\.)\s", stripped):
            flush()
            current.append(stripped)
        else:
            current.append(stripped)
    flush()
    return chunks


def _sentences(text: str) -> list[str]:
    return [s for chunk in _prose_chunks(text) for s in SENTENCE_END.split(chunk) if s.strip()]


def test_docs_folder_has_pages():
    assert DOCS, "docs/ holds no .md page; the README links to them"


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors of a Markdown page (lower case, punctuation dropped, '-' for spaces)."""
    slugs: set[str] = set()
    for heading in re.findall(
        r"^#{1,6}\s+(.*?)\s*$", FENCE.sub("", page.read_text(encoding="utf-8")), re.M
    ):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        n, unique = 0, slug
        while unique in slugs:  # a repeated heading gets -1, -2, ...
            n += 1
            unique = f"{slug}-{n}"
        slugs.add(unique)
    return slugs


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_relative_links_resolve(page):
    text = COMMENT.sub("", FENCE.sub("", page.read_text(encoding="utf-8")))
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):
            continue  # an URL (https:, mailto:)
        path, _, anchor = target.partition("#")
        dest = page.parent / path if path else page
        if not dest.exists():
            broken.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(target)
    assert not broken, (
        f"{_rel(page)} has links that do not resolve (missing file or heading): {broken}"
    )


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_code_paths_exist(page):
    text = COMMENT.sub("", FENCE.sub("", page.read_text(encoding="utf-8")))
    missing = []
    for span in INLINE_CODE.findall(text):
        path = span.strip("`")
        if not path.startswith(REPO_FOLDERS) or " " in path or path.startswith(GENERATED):
            continue
        if not (any(ROOT.glob(path)) if "*" in path else (ROOT / path).exists()):
            missing.append(path)
    assert not missing, (
        f"{_rel(page)} names repository paths that do not exist: {sorted(set(missing))}"
    )


def test_readme_make_targets_exist():
    kit = _targets(KIT_MAKEFILE)
    student = _targets(STUDENT_MAKEFILE)
    unknown = []
    for heading, body in _sections(README.read_text(encoding="utf-8")):
        known, where = (
            (student, _rel(STUDENT_MAKEFILE))
            if STUDENT_SECTION_WORD in heading
            else (kit, "Makefile")
        )
        for code in _code_texts(body):
            unknown += [f"make {t} ({where})" for t in MAKE_CALL.findall(code) if t not in known]
    assert not unknown, f"README.md names make targets that do not exist: {unknown}"


def test_docs_make_targets_exist():
    # docs/ pages describe both the kit and the released HW5 folder.
    known = _targets(KIT_MAKEFILE) | _targets(STUDENT_MAKEFILE)
    unknown = []
    for page in DOCS:
        for code in _code_texts(page.read_text(encoding="utf-8")):
            unknown += [
                f"{_rel(page)}: make {t}" for t in MAKE_CALL.findall(code) if t not in known
            ]
    assert not unknown, f"docs/ name make targets that no Makefile has: {unknown}"


def test_every_documented_make_target_is_in_the_readme():
    named = {
        t
        for code in _code_texts(README.read_text(encoding="utf-8"))
        for t in MAKE_CALL.findall(code)
    }
    missing = sorted(_targets(KIT_MAKEFILE, TARGET_WITH_HELP) - named)
    assert not missing, f"Makefile targets with a ## help text missing from README.md: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_no_sentence_is_too_long(page):
    long = [
        (len(s.split()), s)
        for s in _sentences(page.read_text(encoding="utf-8"))
        if len(s.split()) > MAX_WORDS
    ]
    assert not long, f"{_rel(page)}: sentences over {MAX_WORDS} words: " + "; ".join(
        f"({n} words) {s[:120]}..." for n, s in long
    )


def test_sentence_splitter():
    text = (
        "# Title\n\nOne two. Three `a b c` four!\n\n- item one\n- item two\n\n"
        "```bash\nmake demo   # not prose. at all\n```\n\n| a | b c |\n|---|---|\n| d. e | f |\n"
    )
    assert _sentences(text) == [
        "# Title",
        "One two.",
        "Three CODE four!",
        "- item one",
        "- item two",
        "a",
        "b c",
        "d.",
        "e",
        "f",
    ]
    assert _code_texts(text)[0].startswith("```bash")
    assert MAKE_CALL.findall("make demo; make labs-run LABS=x") == ["demo", "labs-run"]


def test_anchor_slugs(tmp_path):
    page = tmp_path / "p.md"
    page.write_text(
        "# A title\n## Measuring speed: `make bench`\n## 학생용 빠른 시작 (HW5)\n## A title\n",
        encoding="utf-8",
    )
    assert _anchors(page) == {
        "a-title",
        "measuring-speed-make-bench",
        "학생용-빠른-시작-hw5",
        "a-title-1",
    }
