"""Grade tables: the CSV export, the terminal table and the histogram of totals.

They read typed records (:class:`autograder.results.PipelineRecord`, from
``records.current_records``).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from autograder import records as store
from autograder.results import PipelineRecord


def task_ids(records: dict[str, PipelineRecord]) -> list[str]:
    """Task ids in grading order (first record's order, then any others sorted)."""
    seen: list[str] = []
    for rec in records.values():
        for t in rec.trusted.tasks:
            if t not in seen:
                seen.append(t)
    return seen


def flag_summary(rec: PipelineRecord) -> str:
    """The record's flags as ``kind`` or ``kind:task``, joined by ``;``."""
    return ";".join(f.summary() for f in rec.flags)


def grade_rows(records: dict[str, PipelineRecord]) -> tuple[list[str], list[list]]:
    """Header and rows of the grade table (student x task, total, flags)."""
    tasks = task_ids(records)
    header = ["student", *tasks, "total", "max_total", "flags"]
    rows = []
    for student in sorted(records):
        rec = records[student]
        t = rec.trusted.tasks
        rows.append(
            [
                student,
                *[_num(t[k].points) if k in t else "" for k in tasks],
                _num(rec.trusted.total),
                _num(rec.trusted.max_total),
                flag_summary(rec),
            ]
        )
    return header, rows


def _num(x) -> float | int:
    x = float(x)
    return int(x) if x == int(x) else round(x, 4)


def export(
    course: Path = store.DEFAULT_COURSE,
    assignment: str = store.DEFAULT_ASSIGNMENT,
    out: Path | None = None,
) -> Path:
    """Write the grades CSV (student, per-task points, total, max_total, flags) atomically, and
    the histogram of the grades beside it (:func:`histogram_path`); return the CSV's path.

    Only records that are the grade of the submission now in ``submitted/`` are exported; each
    other one (submission deleted, or changed since grading) is named on stdout with the reason.
    """
    course = Path(course).resolve()
    graded, stale = store.current_records(course, assignment)
    for student, why in sorted(stale.items()):
        print(f"not exported: {student}: {why}")
    if not graded:
        raise SystemExit(f"no graded submissions for {assignment}: run `make autograde` first")
    header, rows = grade_rows(graded)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    out = Path(out) if out else store.exports_dir(course) / f"{assignment}_grades.csv"
    store.atomic_write(out, buf.getvalue())
    histogram(graded, histogram_path(out), assignment)
    return out


def histogram_path(csv_path: Path) -> Path:
    """Where :func:`export` draws the histogram: ``<csv stem>_histogram.png`` beside the CSV."""
    return Path(csv_path).with_name(Path(csv_path).stem + "_histogram.png")


def format_table(records: dict[str, PipelineRecord]) -> str:
    header, rows = grade_rows(records)
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def histogram(
    records: dict[str, PipelineRecord], out: Path, assignment: str = store.DEFAULT_ASSIGNMENT
) -> Path:
    """Save :func:`histogram_figure` as a PNG (atomically) and return its path."""
    import matplotlib.pyplot as plt

    fig = histogram_figure(records, assignment)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    store.atomic_write(Path(out), buf.getvalue())
    return Path(out)


def histogram_figure(
    records: dict[str, PipelineRecord], assignment: str = store.DEFAULT_ASSIGNMENT
):
    """Histograms of the grades, one panel per task and one of the total (matplotlib, Agg), with
    at most 20 bars per panel and integer count ticks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    tasks = task_ids(records)
    panels = []  # (title, points of each student, max points)
    for t in tasks:
        pts = [r.trusted.tasks[t].points for r in records.values() if t in r.trusted.tasks]
        mx = max(
            [r.trusted.tasks[t].max_points for r in records.values() if t in r.trusted.tasks]
            + pts
            + [1.0]
        )
        panels.append((t, pts, mx))
    totals = [r.trusted.total for r in records.values()]
    max_total = max([r.trusted.max_total for r in records.values()] + totals + [1.0])
    panels.append((f"total (of {_num(max_total)})", totals, max_total))
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), dpi=100, squeeze=False)
    for ax, (title, values, mx) in zip(axes.flat, panels):
        bins = min(20, max(1, int(round(mx)))) if mx >= 1 else 1
        ax.hist(values, bins=bins, range=(0, mx), color="#4477aa", edgecolor="white")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts of students: whole numbers
        ax.set_ylim(bottom=0, top=max(1, ax.get_ylim()[1]))
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("points", fontsize=8)
        ax.set_ylabel("submissions", fontsize=8)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.suptitle(f"{assignment}: {len(records)} submissions")
    fig.tight_layout()
    return fig
