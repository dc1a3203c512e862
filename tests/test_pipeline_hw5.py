"""The whole HW5 grading pipeline on sample submissions, with real nbgrader and a real gradebook.

A temporary copy of the course (``assignments/`` source and config) is released with the
kit's release step, one sample submission of each failure class (:data:`REPRESENTATIVE`:
baselines, a common mistake, each kind of failure the trusted grader gives, the adversarial
ones that attack the pipeline itself, every notebook-level tampering sample) is placed in
``submitted/``, and the pipeline runs on them with two workers. Each trusted score is asserted
exactly against ``autograder/samples/expected_scores.toml`` (same seed), in the result
records, in the gradebook and in the CSV; the tampering flag, resume, FORCE with two
workers, unchanged submissions and leak-free feedback are checked too.

Every sample through this pipeline is ``make demo``'s job (it checks each one against the
same expected scores); ``tests/test_grader_samples.py`` pins every sample's exact trusted score.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import pytest

from autograder import batch, demo, export, feedback, gradebook, records
from autograder import samples as smod

pytestmark = pytest.mark.slow

REPO = records.REPO
#: One sample per failure class, and what it stands for (each grades as in expected_scores.toml).
REPRESENTATIVE = {
    "reference": "every task passes, in the notebook and in the trusted grader",
    "release": "every task a stub: not attempted",
    "conv_no_pad": "a common mistake: partial credit, a hint in the feedback",
    "syntax_error": "a file that cannot be imported: an error in its tasks only",
    # Patching numpy's comparisons in the kernel ends the same way here: flagged as tampering.
    "adv_uses_fast_layers": "notebook tests pass, the trusted grader fails: flagged as tampering",
    "adv_forged_records": "forged result records: the trusted grader's own flags",
    # The other loops, the fork bomb and the output flood end the same way here: a cell timeout;
    # sys.exit and os._exit in a task take syntax_error's path (an error in that task only), NaN
    # outputs conv_no_pad's (a task failed in both places). The memory bomb is graded in
    # test_sandbox and test_grader_samples, and hits the notebook's kernel in test_pipeline.
    "adv_infinite_loop": "never returns: a timeout (a cell timeout in the notebook)",
    "adv_write_outside": "writes into the kit, /tmp and its own submission",
    "nb_edited_tests": "replaces the notebook's locked test cells",
    # Reading the kit from layers.py (adv_exec_instructor) fails in both sandboxes like this.
    "nb_exec_instructor": "a notebook cell loads the instructor's layers.py: nothing flagged",
    "nb_custom_exc": "a notebook cell swallows every error",
}
#: INTRO2AI_HW5_SAMPLES="reference,release,..." grades those instead ("all": every sample).
_ENV = [s for s in os.environ.get("INTRO2AI_HW5_SAMPLES", "").split(",") if s]
SUBSET = demo.sample_names() if _ENV == ["all"] else (_ENV or list(REPRESENTATIVE))
#: Samples whose notebook tests passed only because the kernel could read the kit: the kit is not
#: visible in the nbgrader step's sandbox, so their tests fail there too and nothing is flagged.
KIT_UNREADABLE = {"adv_exec_instructor"}
#: make demo's: the looping sample and the forged records each cost one cell timeout.
CELL_TIMEOUT = demo.DEMO_CELL_TIMEOUT_S
NOTEBOOK_TIME_LIMIT = demo.DEMO_NOTEBOOK_TIME_LIMIT_S


def _release_course(tmp: Path) -> Path:
    from autograder import release

    course = tmp / "assignments"
    course.mkdir()
    shutil.copy2(REPO / "assignments" / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(
        REPO / "assignments" / "source",
        course / "source",
        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"),
    )
    folder, problems = release.build_release("hw5", REPO, course_dir=course)
    assert problems == [], problems
    return course


def _autograde(course: Path, seed, students: list[str], **kwargs) -> dict:
    """make demo's autograde run (fast notebook, its timeouts) on ``students``."""
    return batch.autograde(
        course,
        "hw5",
        students=students,
        seed=seed,
        progress=False,
        cell_timeout=CELL_TIMEOUT,
        fast_notebook=True,
        notebook_time_limit=NOTEBOOK_TIME_LIMIT,
        **kwargs,
    )


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The course after one autograde run with two workers (shared by the tests below)."""
    from autograder import samples as smod

    course = _release_course(tmp_path_factory.mktemp("hw5course"))
    names = demo.place_samples(course, "hw5", SUBSET)
    assert names == SUBSET
    digests = {s: records.digest(records.submission_path(course, "hw5", s)) for s in SUBSET}
    seed = smod.expected_scores()["seed"]
    first = _autograde(course, seed, SUBSET, jobs=2)
    return {"course": course, "digests": digests, "first": first, "seed": seed}


def _state(course: Path) -> dict:
    state = gradebook.scores(gradebook.db_url(course / "gradebook.db"), "hw5")
    return {
        s: {
            "flagged": v["flagged"],
            "cells": {
                g: (c["score"], c["needs_manual_grade"]) for g, c in sorted(v["cells"].items())
            },
        }
        for s, v in sorted(state.items())
    }


def test_every_trusted_score_exactly_as_expected(graded):
    course = graded["course"]
    assert sorted(graded["first"]["graded"]) == sorted(SUBSET)
    db = gradebook.scores(gradebook.db_url(course / "gradebook.db"), "hw5")
    rows = {r["student"]: r for r in csv.DictReader(export.export(course, "hw5").open())}
    for name in SUBSET:
        want = demo.expected_points(name)
        rec = records.load_record(course, "hw5", name)
        got = {t: v["points"] for t, v in rec["trusted"]["tasks"].items()}
        assert got == want, name
        for task, pts in want.items():
            cell = db[name]["cells"][task]
            # Each task's graded cell carries the trusted score, scaled to the cell's points.
            max_pts = rec["trusted"]["tasks"][task]["max_points"]
            assert cell["score"] == pytest.approx(pts * cell["max_score"] / max_pts, abs=1e-9), (
                name,
                task,
            )
            assert float(rows[name][task]) == pts, (name, task)
        assert float(rows[name]["total"]) == sum(want.values())


def test_tampering_flagged_only_where_the_kernel_was_fooled(graded):
    course = graded["course"]
    db = gradebook.scores(gradebook.db_url(course / "gradebook.db"), "hw5")
    for name in SUBSET:
        rec = records.load_record(course, "hw5", name)
        # The notebook fooled, the trusted grader not: possible tampering, found by the pipeline.
        flagged = sorted(
            f["task"]
            for f in rec["flags"]
            if f["kind"] == "possible_tampering" and "source" not in f
        )
        recipe = smod.NOTEBOOK_SAMPLES.get(name) or smod.SAMPLES.get(name, {})
        want = sorted(recipe.get("tampered", [])) if name not in KIT_UNREADABLE else []
        assert flagged == want, name
        # The trusted grader's own flags (forged result records) are kept beside them.
        own = sorted(f["task"] for f in rec["flags"] if f.get("source") == "trusted grader")
        if name == "adv_forged_records":
            assert own, name
        assert db[name]["flagged"] is bool(want or own), name
        for task in want:
            cell = db[name]["cells"][task]
            assert cell["needs_manual_grade"] and cell["auto_score"] == cell["max_score"], (
                name,
                task,
            )
    # The untouched release and the reference pass or fail in both places: nothing to flag.
    assert not records.load_record(course, "hw5", "reference")["flags"]


def test_every_notebook_ran_in_the_sandbox_with_a_kernel_that_cannot_fork(graded):
    course = graded["course"]
    for name in SUBSET:
        levels = records.load_record(course, "hw5", name)["notebook_isolation"]
        assert levels, name
        for level in levels:
            assert level.startswith("bwrap:full") and "kernel-no-fork" in level, (name, level)


def test_submissions_unchanged_and_nothing_escaped(graded):
    course = graded["course"]
    for name, before in graded["digests"].items():
        assert records.digest(records.submission_path(course, "hw5", name)) == before, name
    assert not (REPO / "autograder" / "samples" / "ESCAPED_FROM_SANDBOX").exists()
    assert not Path("/tmp/intro2ai_ESCAPED_FROM_SANDBOX").exists()


def test_feedback_pages_leak_nothing(graded):
    import nbformat

    course = graded["course"]
    pages = feedback.write_all(course, "hw5", students=SUBSET)
    assert len(pages) == len(SUBSET)
    # Hidden test code of the source notebook (long lines only: short ones are generic).
    source_nb = nbformat.read(str(course / "source" / "hw5" / "hw5.ipynb"), as_version=4)
    hidden = []
    for cell in source_nb.cells:
        inside = False
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and len(line.strip()) >= 20:
                hidden.append(line.strip())
    assert hidden, "the notebook has hidden tests"
    reference_lines = [s for s in feedback.forbidden_snippets() if s not in feedback.MARKERS]
    assert reference_lines
    for page in pages:
        text = feedback.visible_text(page.read_text(encoding="utf-8"))
        assert "hw5_conv_forward" in text and "허용 오차" in text
        for bad in hidden + reference_lines + ["BEGIN HIDDEN", "BEGIN SOLUTION", "END SOLUTION"]:
            assert bad not in text, (page.name, bad)
    conv_no_pad = feedback.visible_text(
        feedback.page_path(course, "hw5", "conv_no_pad").read_text("utf-8")
    )
    assert "10 / 20" in conv_no_pad and "hidden" in conv_no_pad


def test_resume_then_force_with_other_jobs_gives_same_gradebook(graded):
    course, seed = graded["course"], graded["seed"]
    before = _state(course)
    again = _autograde(course, seed, SUBSET, jobs=2)
    assert again["graded"] == [] and sorted(again["skipped"]) == sorted(SUBSET)
    some = ["reference"]
    forced = _autograde(course, seed, some, jobs=1, force=True)
    assert sorted(forced["graded"]) == sorted(some)
    assert _state(course) == before
    report = json.loads(records.report_path(course, "hw5").read_text())
    assert report["seconds_per_submission"]["total"]["mean"] > 0
