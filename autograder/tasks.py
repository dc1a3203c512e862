"""The one table of HW5's student tasks, read from ``rubric.toml``.

Every part of the kit that needs a task's file, function, title or points reads it here:
the grader, the cases, the mistakes, the notebook builder, the student checks and the feedback.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

RUBRIC_PATH = Path(__file__).resolve().parent / "rubric.toml"


@dataclass(frozen=True)
class Task:
    """One student task: where its code lives and what it is worth.

    Attributes
    ----------
    id : str
        The task id used everywhere (solution region, stub message, pytest marker, rubric key,
        nbgrader ``grade_id``, feedback heading), e.g. ``"hw5_conv_forward"``.
    title : str
        The heading students see.
    file : str
        The submission file that holds the task, relative to the submission folder.
    function : str
        The function or class the student writes in ``file``.
    cases : Mapping[str, float]
        Points per case slot, in rubric order.
    """

    id: str
    title: str
    file: str
    function: str
    cases: Mapping[str, float]

    @property
    def points(self) -> float:
        """The task's full marks: the sum of its cases' points."""
        return float(sum(self.cases.values()))


def _load(path: Path) -> dict[str, Task]:
    with open(path, "rb") as fh:
        rubric = tomllib.load(fh)
    table = {}
    for task_id, entry in rubric["tasks"].items():
        table[task_id] = Task(id=task_id, title=entry["title"], file=entry["file"],
                              function=entry["function"],
                              cases=MappingProxyType({k: float(v) for k, v in entry["cases"].items()}))
    return table


@cache
def _table() -> dict[str, Task]:
    return _load(RUBRIC_PATH)


def all_tasks() -> tuple[Task, ...]:
    """Every task, in rubric order."""
    return tuple(_table().values())


def get(task_id: str) -> Task:
    """The task with id ``task_id``; ``KeyError`` naming the known ids if there is none."""
    try:
        return _table()[task_id]
    except KeyError:
        raise KeyError(f"unknown task id {task_id!r}; the rubric has {sorted(_table())}") from None


def ids() -> tuple[str, ...]:
    """The task ids, in rubric order."""
    return tuple(_table())
