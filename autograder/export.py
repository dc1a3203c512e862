"""Grade tables: the CSV export, the terminal table and the histogram of totals."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from autograder import records as store


def task_ids(records: dict[str, dict]) -> list[str]:
    """Task ids in grading order (first record's order, then any others sorted)."""
    seen: list[str] = []
    for rec in records.values():
        for t in rec["trusted"].get("tasks", {}):
            if t not in seen:
                seen.append(t)
    return seen


def flag_summary(rec: dict) -> str:
    parts = []
    for f in rec.get("flags", []):
        parts.append(f["kind"] + (f":{f['task']}" if "task" in f else ""))
    return ";".join(parts)


def grade_rows(records: dict[str, dict]) -> tuple[list[str], list[list]]:
    """Header and rows of the grade table (student x task, total, flags)."""
    tasks = task_ids(records)
    header = ["student", *tasks, "total", "max_total", "flags"]
    rows = []
    for student in sorted(records):
        rec = records[student]
        t = rec["trusted"].get("tasks", {})
        rows.append([student, *[_num(t[k]["points"]) if k in t else "" for k in tasks],
                     _num(rec["trusted"].get("total", 0.0)), _num(rec["trusted"].get("max_total", 0.0)),
                     flag_summary(rec)])
    return header, rows


def _num(x) -> float | int:
    x = float(x)
    return int(x) if x == int(x) else round(x, 4)


def export(course: Path = store.DEFAULT_COURSE, assignment: str = store.DEFAULT_ASSIGNMENT,
           out: Path | None = None) -> Path:
    """Write the grades CSV (student, per-task points, total, max_total, flags) atomically."""
    course = Path(course).resolve()
    graded = store.load_records(course, assignment)
    if not graded:
        raise SystemExit(f"no graded submissions for {assignment}: run `make autograde` first")
    header, rows = grade_rows(graded)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    out = Path(out) if out else store.exports_dir(course) / f"{assignment}_grades.csv"
    store.atomic_write(out, buf.getvalue())
    return out


def format_table(records: dict[str, dict]) -> str:
    header, rows = grade_rows(records)
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def histogram(records: dict[str, dict], out: Path, assignment: str = store.DEFAULT_ASSIGNMENT) -> Path:
    """Save a histogram of total scores (matplotlib, Agg) and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    totals = [float(r["trusted"].get("total", 0.0)) for r in records.values()]
    max_total = max([float(r["trusted"].get("max_total", 0.0)) for r in records.values()] + [1.0])
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    bins = min(20, max(5, int(max_total) if max_total <= 20 else 20))
    ax.hist(totals, bins=bins, range=(0, max_total), color="#4477aa", edgecolor="white")
    ax.set_xlabel(f"total score (of {_num(max_total)})")
    ax.set_ylabel("submissions")
    ax.set_title(f"{assignment}: {len(totals)} submissions")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    store.atomic_write(Path(out), buf.getvalue())
    return Path(out)

