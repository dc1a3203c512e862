"""``make demo``: the sample submissions graded by the whole pipeline, checked against their
expected scores, in a course of their own.

The demo never grades into the real course: it copies the real course's ``nbgrader_config.py``
and ``source/<assignment>/`` into :data:`DEMO_COURSE` (git-ignored, under ``build/``), releases
the assignment there, and keeps its own ``submitted/``, ``gradebook.db``, records, feedback and
exports there. The real course is only read. ``make demo-clean`` removes the demo course.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from autograder import batch, export, records

#: The demo's own nbgrader course; ``make demo-clean`` (:func:`clean`) removes it.
DEMO_COURSE = records.REPO / "build" / "demo-course"
#: Written into a demo course; :func:`clean` removes only a folder that holds it.
DEMO_MARKER = ".intro2ai-demo-course"

#: Cell timeout of the demo (the course config allows 10 minutes for slow laptops). The demo's
#: samples include infinite loops, each costing one timeout; the reference's slowest cell in
#: fast mode (training) takes about 1.3 s in the grading sandbox.
DEMO_CELL_TIMEOUT_S = 15
DEMO_NOTEBOOK_TIME_LIMIT_S = 150


def sample_names() -> list[str]:
    """The trusted grader's samples, then the notebook-level ones (``samples.NOTEBOOK_SAMPLES``)."""
    from autograder import samples as smod

    return list(smod.SAMPLES) + list(smod.NOTEBOOK_SAMPLES)


def expected_points(name: str) -> dict[str, float] | None:
    """Expected trusted points per task of a sample (``expected_scores.toml``), if known."""
    from autograder import samples as smod

    exp = smod.expected_scores()["samples"]
    if name in exp:
        return {k: float(v) for k, v in exp[name].items() if k != "total"}
    return None


def place_samples(course: Path, assignment: str, names: Iterable[str] | None = None) -> list[str]:
    """Write sample submissions into ``submitted/<name>/<assignment>/``.

    A submission is the released folder with the sample's files on top (the recipes in
    ``autograder.samples`` for the ``.py`` files and, for a notebook-level sample, the released
    notebook as the sample edits it).  An existing folder is replaced only when its content
    differs, so a re-run of the demo resumes.
    """
    from autograder import samples as smod

    course = Path(course).resolve()
    release = course / "release" / assignment
    placed = []
    for name in names or sample_names():
        dest = records.submission_path(course, assignment, name)
        subs = {
            "{KIT}": str(records.REPO),
            "{SUBMISSION}": str(dest),
            "{TMP_MARKER}": "/tmp/intro2ai_ESCAPED_FROM_SANDBOX",
        }
        files: dict[str, str] = {}
        if name in smod.NOTEBOOK_SAMPLES:
            recipe = smod.NOTEBOOK_SAMPLES[name]
            files[f"{assignment}.ipynb"] = smod.build_notebook(
                release / f"{assignment}.ipynb", name
            )
        else:
            recipe = smod.SAMPLES[name]
        for rel in smod.FILES:
            files[rel] = smod.build_file(rel, recipe)
        for rel, text in recipe.get("extra", {}).items():
            import textwrap

            files[rel] = textwrap.dedent(text)
        with tempfile.TemporaryDirectory(prefix="intro2ai-sample-") as tmp:
            staged = Path(tmp) / assignment
            shutil.copytree(
                release, staged, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints")
            )
            for rel, text in files.items():
                for k, v in subs.items():
                    text = text.replace(k, v)
                target = staged / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
            if not (dest.exists() and records.digest(dest) == records.digest(staged)):
                if dest.exists():
                    shutil.rmtree(dest)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copytree(staged, dest)
        placed.append(name)
    return placed


def _inside(a: Path, b: Path) -> bool:
    return a == b or b in a.parents


def prepare_course(source_course: Path, assignment: str, demo_course: Path = DEMO_COURSE) -> Path:
    """Make ``demo_course`` a released nbgrader course with the source of ``source_course``
    (which is only read), and return it. Refuses a folder that overlaps the real course or that
    holds something other than a demo course."""
    from autograder import release

    source_course, demo_course = Path(source_course).resolve(), Path(demo_course).resolve()
    if _inside(demo_course, source_course) or _inside(source_course, demo_course):
        raise SystemExit(
            f"the demo course {demo_course} must be outside the real course {source_course}"
        )
    if (
        demo_course.exists()
        and any(demo_course.iterdir())
        and not (demo_course / DEMO_MARKER).exists()
    ):
        raise SystemExit(
            f"{demo_course} exists and is not a demo course (no {DEMO_MARKER}); choose another folder"
        )
    demo_course.mkdir(parents=True, exist_ok=True)
    (demo_course / DEMO_MARKER).write_text(
        f"demo course of {source_course}; make demo-clean removes it\n"
    )
    shutil.copy2(source_course / "nbgrader_config.py", demo_course / "nbgrader_config.py")
    src = demo_course / "source" / assignment
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(
        source_course / "source" / assignment,
        src,
        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"),
    )
    _, problems = release.build_release(assignment, records.REPO, course_dir=demo_course)
    if problems:
        raise SystemExit("the demo release failed its leak check:\n" + "\n".join(problems))
    return demo_course


def clean(demo_course: Path = DEMO_COURSE) -> bool:
    """Remove a demo course (only a folder marked as one); True when something was removed."""
    demo_course = Path(demo_course)
    if not demo_course.exists():
        return False
    if not (demo_course / DEMO_MARKER).is_file():
        raise SystemExit(f"{demo_course} is not a demo course (no {DEMO_MARKER}); not removed")
    shutil.rmtree(demo_course)
    return True


def demo(
    course: Path = records.DEFAULT_COURSE,
    assignment: str = records.DEFAULT_ASSIGNMENT,
    *,
    jobs: int = 2,
    force: bool = False,
    cell_timeout: int | None = DEMO_CELL_TIMEOUT_S,
    fast_notebook: bool = True,
    notebook_time_limit: float = DEMO_NOTEBOOK_TIME_LIMIT_S,
    names: Iterable[str] | None = None,
    demo_course: Path = DEMO_COURSE,
) -> dict:
    """In the demo course (made from ``course``, which is only read): release, place the samples,
    autograde, write feedback, export (CSV and histogram), print the table.

    The trusted grader uses the samples' seed (``expected_scores.toml``), so the
    table can be checked against the expected scores: the last column says so.
    """
    from autograder import feedback
    from autograder import samples as smod

    course = prepare_course(course, assignment, demo_course)
    print(f"[demo] demo course {course} (the real course is not touched)", flush=True)
    names = list(names or sample_names())
    names = place_samples(course, assignment, names)
    print(f"[demo] {len(names)} sample submissions in {records.submitted_dir(course)}", flush=True)
    seed = smod.expected_scores().get("seed")
    summary = batch.autograde(
        course,
        assignment,
        jobs=jobs,
        force=force,
        students=names,
        seed=seed,
        cell_timeout=cell_timeout,
        fast_notebook=fast_notebook,
        notebook_time_limit=notebook_time_limit,
    )
    pages = feedback.write_all(course, assignment, students=names)
    csv_path = export.export(course, assignment)
    graded = {s: r for s, r in records.current_records(course, assignment)[0].items() if s in names}
    png = export.histogram_path(csv_path)
    mismatches = []
    for s, rec in graded.items():
        want = expected_points(s)
        got = {t: v.points for t, v in rec.trusted.tasks.items()}
        if want is not None and got != want:
            mismatches.append(s)
    print()
    print(export.format_table(graded))
    print()
    stats = batch._timing_stats([r.timings for r in summary["records"].values()])
    if stats:
        print(
            f"[demo] graded {len(summary['graded'])} (skipped {len(summary['skipped'])} unchanged) "
            f"in {summary['wall']:.0f} s with {jobs} jobs; per submission: nbgrader "
            f"{stats['nbgrader']['mean']:.1f} s, trusted grader {stats['trusted']['mean']:.1f} s"
        )
    else:
        print(
            f"[demo] nothing changed since the last run: {len(summary['skipped'])} submissions kept "
            f"(FORCE=1 regrades)"
        )
    print(
        f"[demo] scores equal to autograder/samples/expected_scores.toml: "
        f"{len(graded) - len(mismatches)}/{len(graded)}"
        + (f" (differ: {', '.join(sorted(mismatches))})" if mismatches else "")
    )
    for s, f in sorted((s, export.flag_summary(r)) for s, r in graded.items() if r.flags):
        print(f"[demo] flag {s}: {f}")
    print(f"[demo] feedback:  {len(pages)} pages under {course / 'feedback'}")
    print(f"[demo] grades:    {csv_path}")
    print(f"[demo] histogram: {png}")
    print(
        f"[demo] gradebook: {batch._gradebook_file(course)} (nbgrader formgrader shows the same scores)"
    )
    summary["mismatches"] = mismatches
    return summary
