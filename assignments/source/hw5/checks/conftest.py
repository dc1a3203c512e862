"""pytest set-up of the HW5 self-checks: one marker per task id.

The task ids, titles and how each task is called come from the table stored in the checks'
data file (``hw5_cases.npz``, key ``table``), built from the grader's task table at release.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

DATA_FILE = Path(__file__).resolve().parent / "hw5_cases.npz"
TABLE_KEY = "table"


#: The keys every row of the table has (checkdata.table()); a row without one is a damaged file.
ROW_KEYS = frozenset(
    ("id", "title", "file", "function", "kind", "naive", "inputs", "outputs", "param")
)
EMPTY = {"tasks": [], "naive_functions": []}


def _valid(table) -> bool:
    """The table's shape as checkdata writes it (a hand-edited file fails clearly instead of
    with a traceback from the code below)."""
    if not isinstance(table, dict):
        return False
    rows, naive = table.get("tasks"), table.get("naive_functions")
    return (
        isinstance(rows, list)
        and all(isinstance(r, dict) and ROW_KEYS <= r.keys() for r in rows)
        and all(isinstance(r["id"], str) and isinstance(r["file"], str) for r in rows)
        and isinstance(naive, list)
        and all(isinstance(n, str) for n in naive)
    )


def _table() -> dict:
    try:
        with np.load(DATA_FILE, allow_pickle=False) as data:
            table = json.loads(str(data[TABLE_KEY]))
    except (OSError, KeyError, ValueError):  # no data file: the checks say so and fail
        return EMPTY
    return table if _valid(table) else EMPTY  # damaged: the same (test_data_file fails)


TABLE = _table()
#: {task id: its row of the table}, in the grader's order.
TASK_ROWS = {row["id"]: row for row in TABLE["tasks"]}
#: {task id: "function (file)"}.
TASKS = {task: f"{row['title']} ({row['file']})" for task, row in TASK_ROWS.items()}


def pytest_configure(config):
    for task, what in TASKS.items():
        config.addinivalue_line("markers", f"{task}: HW5 task {what}")
