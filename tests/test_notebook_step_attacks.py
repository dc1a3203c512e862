"""Attacks on the nbgrader step (issue 11 items 1, 2, 5, 6, 7), each a notebook cell of a
submission built here, graded by the real pipeline (real nbgrader, real kernel, real bubblewrap)
on the tiny course of ``test_pipeline.py`` beside honest victims.

Every test asserts outcomes: the attacker's trusted grade equals what the same honest work
earns (or the attacker is flagged for manual review), the victims keep their scores and are not
flagged, the SHA-256 of the kit's source, of the virtual environment's site-packages and of every
other submission is unchanged, and the batch finishes.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import resource
import shutil
import sysconfig
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell
from test_pipeline import VARIANTS, _tiny_course, fake_grade

from autograder import batch, export, gradebook, jail, records
from autograder.results import AutogradeResult, PipelineRecord

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(jail.level()[0] != "full", reason="needs bubblewrap: " + jail.level()[1]),
]

HONEST = VARIANTS["ref"]  # mylib.py of every student below: 35 / 35 from the stand-in grader
FULL = {"hw5_conv_forward": 20.0, "hw5_max_pool_forward": 15.0}
SITE = Path(sysconfig.get_paths()["purelib"]).resolve()
TEMPLATE = records.REPO / "autograder" / "templates" / "feedback.html.j2"
#: Put in the grading process's environment: the kernel must not find it anywhere.
MARKER = "INTRO2AI-GRADER-ENV-MARKER-7f3a"

SNOOP = r"""
import os, socket
secrets = ["{KIT}/autograder/rubric.toml", "{KIT}/intro2ai/layers.py", "{KIT}/autograder/samples",
           "{COURSE}/gradebook.db", "{COURSE}/submitted/victim/hw5/mylib.py", "{COURSE}/.grading",
           "{KIT}/autograder/.grader_seed", "/root", "/work", "/home", "/srv", "/opt"]
for p in secrets:
    try:
        (os.listdir(p) if os.path.isdir(p) else open(p, "rb").read(16))
        print("READ:" + p)
    except OSError:
        pass
for pid in os.listdir("/proc"):  # the grading processes (pytest here) are out of sight
    if pid.isdigit():
        for part in ("environ", "cmdline"):
            try:
                text = open("/proc/%s/%s" % (pid, part), "rb").read()
            except OSError:
                continue
            if b"SEED" in text or b"{MARKER}" in text or b"test_notebook_step_attacks" in text:
                print("READ:" + part + "-of-" + pid)
if any("SEED" in k for k in os.environ):
    print("READ:seed-in-env")
try:
    socket.create_connection(("1.1.1.1", 53), timeout=3)
    print("READ:network")
except OSError:
    pass
print("uid", os.getuid(), "SNOOP-DONE")
"""

KILLER = r"""
import os, signal
for pid in sorted(int(p) for p in os.listdir("/proc") if p.isdigit()):
    if pid != os.getpid():
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
try:
    os.kill(-1, signal.SIGKILL)
except OSError:
    pass
"""

SYMLINKS = r"""
import os, shutil
targets = {"tpl": "{TEMPLATE}", "site": "{SITE}/intro2ai_planted.py",
           "victim": "{COURSE}/submitted/victim/hw5/mylib.py", "grading": "{COURSE}/.grading/hw5/forged.json"}
for name, target in targets.items():
    for path in (name, target):
        try:
            if path == name:
                os.symlink(target, name)
            with open(path, "w") as fh:
                fh.write("PWNED {\"student\": \"victim\"}")
        except OSError:
            pass
# nbgrader writes the executed notebook back over this name: make it a link to the template
os.remove("hw5.ipynb")
os.symlink(targets["tpl"], "hw5.ipynb")
os.symlink(targets["tpl"], "mylib_link.py")
# the summary the parent reads: make its folder a link out of the scratch
try:
    shutil.rmtree("/scratch/out")
    os.symlink("{COURSE}/.grading/hw5", "/scratch/out")
except OSError:
    pass
"""

#: MB printed by the flood: eight times the kernel's message limit, 128 times a cell's output cap.
FLOOD_MB = 256
FLOOD = f"""
import sys
chunk = "x" * (1 << 20)
for _ in range({FLOOD_MB}):
    sys.stdout.write(chunk)
sys.stdout.flush()
"""

XSS = r"""
from IPython.display import HTML, Javascript, SVG, display
display(HTML("<script>alert('XSS-HTML')</script><b>bold</b>"))
display(Javascript("alert('XSS-JS')"))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg"><script>alert("XSS-SVG")</script></svg>'))
print("<script>alert('XSS-PRINT')</script>")
"""
XSS_MARKDOWN = "<script>alert('XSS-MD')</script> <img src=x onerror=\"alert('XSS-IMG')\">"


def raising_grade(submission_dir, seed=None):
    """The stand-in grader, except for two students: one makes it raise (as a deeply nested
    result header once did), one makes it return points above the maximum."""
    student = Path(submission_dir).parent.name
    if student == "raiser":
        raise RecursionError("maximum recursion depth exceeded while decoding a result header")
    result = fake_grade(submission_dir, seed)
    if student == "malformed":
        result["tasks"]["hw5_conv_forward"]["points"] = float("nan")
    return result


def _with_cell(nb_path: Path, code: str, markdown: str | None = None) -> None:
    nb = nbformat.read(str(nb_path), as_version=4)
    cells = [new_code_cell(code)] + ([new_markdown_cell(markdown)] if markdown else [])
    nb.cells[1:1] = cells
    if markdown:
        nb.metadata["widgets"] = {
            "application/vnd.jupyter.widget-state+json": {"state": {"x": "<script>"}}
        }
    nbformat.write(nb, str(nb_path))


def _tree_sha(root: Path, skip=("__pycache__",)) -> str:
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in skip)
        for name in sorted(filenames):
            path = Path(dirpath, name)
            h.update(str(path.relative_to(root)).encode() + b"\0")
            if path.is_symlink():
                h.update(b"L" + os.readlink(path).encode())
            elif path.is_file():
                h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def _kit_sha() -> str:
    """The kit's source: the grader, the course library, the course config and notebooks."""
    h = hashlib.sha256()
    for part in ("autograder", "intro2ai", "assignments/source", "assignments/nbgrader_config.py"):
        path = records.REPO / part
        h.update(part.encode() + (_tree_sha(path).encode() if path.is_dir() else path.read_bytes()))
    return h.hexdigest()


def _course(tmp: Path, attackers: dict[str, tuple]) -> Path:
    from autograder import cases

    cases.secret_seed()  # the grader's seed file exists before the kit is hashed
    course = _tiny_course(tmp / "course")
    for name in [
        s for s in VARIANTS if s != "ref"
    ]:  # only the honest "ref" stays from test_pipeline
        shutil.rmtree(course / "submitted" / name)
    (course / "submitted" / "ref").rename(course / "submitted" / "victim")
    for name, (code, markdown) in attackers.items():
        dest = course / "submitted" / name / "hw5"
        shutil.copytree(course / "submitted" / "victim" / "hw5", dest)
        (dest / "mylib.py").write_text(HONEST)
        _with_cell(
            dest / "hw5.ipynb",
            code.replace("{KIT}", str(records.REPO))
            .replace("{COURSE}", str(course))
            .replace("{SITE}", str(SITE))
            .replace("{TEMPLATE}", str(TEMPLATE))
            .replace("{MARKER}", MARKER),
            markdown,
        )
    shutil.copytree(course / "submitted" / "victim", course / "submitted" / "victim2")
    return course


def _digests(course: Path) -> dict[str, str]:
    return {p.name: records.digest(p / "hw5") for p in (course / "submitted").iterdir()}


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    """One batch, two workers: the attackers of items 1, 2, 5, 6 and 7 beside two honest victims."""
    tmp = tmp_path_factory.mktemp("attacks")
    course = _course(
        tmp,
        {
            "snoop": (SNOOP, None),
            "killer": (KILLER, None),
            "linker": (SYMLINKS, None),
            "raiser": ("x = 1", None),
            "malformed": ("x = 1", None),
            "xss": (XSS, XSS_MARKDOWN),
            "flood": (FLOOD, None),
        },
    )
    # The linker also hands in a link to another student's work.
    (course / "submitted" / "linker" / "hw5" / "victim_link.py").symlink_to(
        course / "submitted" / "victim" / "hw5" / "mylib.py"
    )
    before = {"kit": _kit_sha(), "site": _tree_sha(SITE), "subs": _digests(course)}
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    os.environ["INTRO2AI_TEST_MARKER"] = MARKER
    try:
        summary = batch.autograde(
            course,
            "hw5",
            jobs=2,
            grader="test_notebook_step_attacks:raising_grade",
            progress=False,
            cell_timeout=60,
            notebook_time_limit=300,
        )
    finally:
        os.environ.pop("INTRO2AI_TEST_MARKER", None)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    after = {"kit": _kit_sha(), "site": _tree_sha(SITE), "subs": _digests(course)}
    return {
        "course": course,
        "summary": summary,
        "rss_growth_kib": rss_after - rss_before,
        "before": before,
        "after": after,
        "db": gradebook.scores(gradebook.db_url(course / "gradebook.db"), "hw5"),
    }


def _kinds(rec: PipelineRecord) -> set[str]:
    return {f.kind.value for f in rec.flags}


def test_batch_finishes_and_nothing_outside_the_scratch_changes(attacked):
    s = attacked["summary"]
    assert sorted(s["graded"]) == [
        "flood",
        "killer",
        "linker",
        "malformed",
        "raiser",
        "snoop",
        "victim",
        "victim2",
        "xss",
    ]
    assert attacked["after"]["kit"] == attacked["before"]["kit"]
    assert attacked["after"]["site"] == attacked["before"]["site"]
    assert attacked["after"]["subs"] == attacked["before"]["subs"]
    assert not (SITE / "intro2ai_planted.py").exists()
    assert "PWNED" not in TEMPLATE.read_text(encoding="utf-8")
    grading = records.record_dir(attacked["course"], "hw5")
    assert sorted(p.name for p in grading.iterdir()) == sorted(
        [f"{s}.json" for s in s["graded"]] + ["_report.json"]
    )


def test_victims_keep_their_scores_and_are_not_flagged(attacked):
    for victim in ("victim", "victim2"):
        rec = attacked["summary"]["records"][victim]
        assert {t: v.points for t, v in rec.trusted.tasks.items()} == FULL
        assert rec.flags == () and rec.notebook_returncode == 0, rec.flags
        cells = attacked["db"][victim]["cells"]
        assert {t: cells[t]["score"] for t in FULL} == FULL
        assert not attacked["db"][victim]["flagged"]


def test_item1_the_kernel_sees_no_secret_no_network_no_other_process(attacked):
    rec = attacked["summary"]["records"]["snoop"]
    assert {t: v.points for t, v in rec.trusted.tasks.items()} == FULL
    nb = nbformat.read(
        str(attacked["course"] / "autograded" / "snoop" / "hw5" / "hw5.ipynb"), as_version=4
    )
    printed = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
    )
    assert "SNOOP-DONE" in printed  # the cell ran to its end ...
    assert "READ:" not in printed  # ... and reached none of the secrets
    assert "uid 0 " not in printed
    # The killer ends only its own sandbox; its honest work keeps its grade, the others theirs.
    killer = attacked["summary"]["records"]["killer"]
    assert {t: v.points for t, v in killer.trusted.tasks.items()} == FULL


def test_item2_planted_links_lead_to_no_write_outside_the_scratch(attacked):
    rec = attacked["summary"]["records"]["linker"]
    assert {t: v.points for t, v in rec.trusted.tasks.items()} == FULL
    # Its summary folder was a link: the parent read nothing through it and flagged the notebook.
    assert "notebook_autograde_failed" in _kinds(rec)
    assert rec.autograde == AutogradeResult()
    assert (attacked["course"] / "submitted" / "victim" / "hw5" / "mylib.py").read_text() == HONEST
    assert not (attacked["course"] / "autograded" / "linker" / "hw5" / "hw5.ipynb").exists()


def test_item5_a_grader_exception_gives_zero_and_a_review_flag_never_the_notebook_score(attacked):
    rows = {
        r["student"]: r for r in csv.DictReader(export.export(attacked["course"], "hw5").open())
    }
    for student in ("raiser", "malformed"):
        rec = attacked["summary"]["records"][student]
        assert "trusted_grader_error" in _kinds(rec) and "needs_manual_grade" in _kinds(rec), (
            rec.flags
        )
        assert rec.trusted.total == 0.0
        cells = attacked["db"][student]["cells"]
        for task in FULL:
            assert cells[task]["auto_score"] == FULL[task]  # the kernel passed its own tests ...
            assert cells[task]["score"] == 0.0  # ... and that is not the grade
            assert cells[task]["needs_manual_grade"]
        assert attacked["db"][student]["flagged"]
        assert (
            float(rows[student]["total"]) == 0.0
            and "trusted_grader_error" in rows[student]["flags"]
        )


def test_item7_formgrader_gets_no_markup_from_the_notebook(attacked):
    from nbconvert import HTMLExporter

    path = attacked["course"] / "autograded" / "xss" / "hw5" / "hw5.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    mimes = {
        m for c in nb.cells if c.cell_type == "code" for o in c.outputs for m in o.get("data", {})
    }
    assert mimes <= {"text/plain"}
    assert "widgets" not in nb.metadata
    outputs = json.dumps([c.outputs for c in nb.cells if c.cell_type == "code"])
    for payload in ("XSS-HTML", "XSS-JS", "XSS-SVG"):  # rich outputs: only their text/plain stays
        assert payload not in outputs
    assert "<script>alert('XSS-PRINT')" in outputs  # printed text stays text ...
    html, _ = HTMLExporter().from_notebook_node(nb)
    for payload in ("XSS-HTML", "XSS-JS", "XSS-SVG", "XSS-PRINT", "XSS-MD"):  # ... and is escaped
        assert (
            f"<script>alert('{payload}')" not in html and f'<script>alert("{payload}")' not in html
        )
    assert "<img src=x" not in html and "&lt;img src=x" in html  # the markdown's tag is text
    assert (
        "&lt;script&gt;alert(&#39;XSS-PRINT&#39;)" in html
        or "&lt;script&gt;alert('XSS-PRINT')" in html
    )
    rec = attacked["summary"]["records"]["xss"]
    assert {t: v.points for t, v in rec.trusted.tasks.items()} == FULL
    assert "possible_tampering" not in _kinds(rec)


def test_item6_an_output_flood_stays_out_of_the_grading_process(attacked):
    # The grading process never held the flood (ru_maxrss is in KiB).
    assert attacked["rss_growth_kib"] < FLOOD_MB // 2 * 1024
    rec = attacked["summary"]["records"]["flood"]
    assert {t: v.points for t, v in rec.trusted.tasks.items()} == FULL
    published = attacked["course"] / "autograded" / "flood" / "hw5" / "hw5.ipynb"
    assert not published.exists() or published.stat().st_size < 1024**2
    assert records.record_path(attacked["course"], "hw5", "flood").stat().st_size < 200_000


READER = r"""
import os
d = os.environ["INTRO2AI_DATA_DIR"]
print("DATA-DIR", d, sorted(os.listdir(os.path.join(d, "cifar-10-batches-py")))[:2])
try:
    with open(os.path.join(d, "cifar-10-batches-py", "data_batch_1"), "w") as fh:
        fh.write("PWNED")
    print("WRITE-ALLOWED")
except OSError:
    print("WRITE-DENIED")
"""


def test_notebook_data_read_only_at_a_fixed_path_and_a_flag_when_missing(
    tmp_path, monkeypatch, capsys
):
    from intro2ai.datasets import cifar10

    course = _course(tmp_path, {"reader": (READER, None)})
    src = course / "source" / "hw5" / "hw5.ipynb"  # this course's notebook now reads CIFAR-10
    nb = nbformat.read(str(src), as_version=4)
    nb.cells.append(new_markdown_cell("`data = get_CIFAR10_data()`"))
    nbformat.write(nb, str(src))
    data = tmp_path / "data"
    (data / cifar10.CIFAR10_FOLDER).mkdir(parents=True)
    for name in (*cifar10.TRAIN_BATCHES, cifar10.TEST_BATCH):
        (data / cifar10.CIFAR10_FOLDER / name).write_bytes(b"batch " + name.encode())
    monkeypatch.setenv("INTRO2AI_DATA_DIR", str(data))
    run = dict(
        grader="test_pipeline:fake_grade", progress=False, cell_timeout=60, notebook_time_limit=300
    )

    with_data = batch.autograde(course, "hw5", jobs=2, students=["reader", "victim"], **run)
    assert all(r.flags == () for r in with_data["records"].values()), with_data["records"]
    shown = (course / "autograded" / "reader" / "hw5" / "hw5.ipynb").read_text(encoding="utf-8")
    assert "DATA-DIR /data" in shown and "data_batch_1" in shown and "WRITE-DENIED" in shown
    assert (data / cifar10.CIFAR10_FOLDER / "data_batch_1").read_bytes() == b"batch data_batch_1"
    assert "notebook_data_missing" not in capsys.readouterr().out

    monkeypatch.setenv("INTRO2AI_DATA_DIR", str(tmp_path / "empty"))
    without = batch.autograde(
        course, "hw5", jobs=2, force=True, students=["reader", "victim"], **run
    )
    for rec in without["records"].values():
        assert [f.kind for f in rec.flags] == ["notebook_data_missing"]
        assert {t: v.points for t, v in rec.trusted.tasks.items()} == FULL
    out = capsys.readouterr().out
    assert out.count("notebook_data_missing") == 1 and "make data" in out

    fast = batch.autograde(
        course, "hw5", jobs=1, force=True, students=["victim"], fast_notebook=True, **run
    )
    assert fast["records"]["victim"].flags == ()
