"""The one table of HW5's student tasks, read from ``rubric.toml``.

Every part of the kit that needs a task's file, function, title, points, tolerances or how it
is called reads it here: the grader, the sandbox (through the job it writes), the cases, the
mistakes, the notebook builder, the students' checks (through their data file, built from this
table at release) and the feedback. No other module spells a task id.

Code that differs per task is registered next to that code under the task's ``function`` (case
makers in :mod:`autograder.cases`, known mistakes in :mod:`autograder.mistakes`) or chosen by the
task's ``kind`` (``"forward"``, ``"backward"``, ``"model"``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

RUBRIC_PATH = Path(__file__).resolve().parent / "rubric.toml"
#: How the grader calls a task (see :class:`Task`).
KINDS = ("forward", "backward", "model")
#: The tolerance of ``[tolerances]`` for a kind's outputs and for its numerical gradients.
_KIND_TOLERANCE = {
    "forward": ("forward", "numerical"),
    "backward": ("backward", "numerical"),
    "model": ("model", "numerical_model"),
}


@dataclass(frozen=True)
class Task:
    """One student task: where its code lives, how it is called and what it is worth.

    Attributes
    ----------
    id : str
        The task id used everywhere (solution region, stub message, pytest marker, rubric key,
        nbgrader ``grade_id``, feedback heading), e.g. ``"hw5_conv_forward"``.
    title : str
        The heading students see (the function or class name).
    file : str
        The submission file that holds the task, relative to the submission folder.
    function : str
        The function or class the student writes in ``file``.
    cases : Mapping[str, float]
        Points per case slot, in rubric order.
    title_ko : str
        What the task is, in Korean (feedback headings, the checks' table).
    kind : str
        ``"forward"``: ``function(*inputs, param) -> (out, cache)``; ``"backward"``:
        ``function(dout, cache)`` with the cache of ``forward`` on the same inputs, returning
        ``outputs`` in order (one array when there is one); ``"model"``: a classifier class
        (``__init__`` and ``loss``).
    naive : bool
        NumPy only (the rule of ``intro2ai.grading_rules``); the sandbox then binds no SciPy and
        refusing stand-ins of the fast layers.
    inputs : tuple of str
        The input arrays, in call order (a backward task: its forward's inputs; ``dout`` comes
        on top). Empty for a model.
    param : str or None
        Name of the dict parameter after the arrays (``"conv_param"``), or None.
    outputs : tuple of str
        The compared outputs (keys of ``[weights]``). Empty for a model (its checks are fixed).
    forward : str or None
        A backward task: the forward function whose cache it takes.
    cache_class : str or None
        A backward task: the module's cache class built from ``(*inputs, param)`` when the
        student's forward fails.
    tolerance : float
        Tolerance of the compared outputs (``[tolerances].<kind>`` unless the task sets one).
    numeric_tolerance : float
        Tolerance of the student's backward against numerical gradients of the student's own
        forward (diagnostic only).
    weights : Mapping[str, float]
        Weight of each output (``[weights]`` unless the task overrides them).
    """

    id: str
    title: str
    file: str
    function: str
    cases: Mapping[str, float]
    title_ko: str = ""
    kind: str = "forward"
    naive: bool = False
    inputs: tuple[str, ...] = ()
    param: str | None = None
    outputs: tuple[str, ...] = ()
    forward: str | None = None
    cache_class: str | None = None
    tolerance: float = 0.0
    numeric_tolerance: float = 0.0
    weights: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def points(self) -> float:
        """The task's full marks: the sum of its cases' points."""
        return float(sum(self.cases.values()))

    @property
    def module(self) -> str:
        """The dotted module of ``file`` (``"intro2ai.layers"``)."""
        return self.file.removesuffix(".py").replace("/", ".")

    def spec(self) -> dict[str, Any]:
        """What the sandbox side needs to run the task (plain JSON; it cannot import this)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "module": self.module,
            "function": self.function,
            "naive": self.naive,
            "inputs": list(self.inputs),
            "param": self.param,
            "outputs": list(self.outputs),
            "forward": self.forward,
            "cache": self.cache_class,
            "naive_functions": list(naive_functions()),
        }


def _task(task_id: str, entry: dict, rubric: dict) -> Task:
    kind = entry.get("kind", "forward")
    if kind not in KINDS:
        raise ValueError(f"rubric.toml: task {task_id} has kind {kind!r}; use one of {KINDS}")
    tol_name, num_name = _KIND_TOLERANCE[kind]
    tolerances = rubric.get("tolerances", {})
    outputs = tuple(entry.get("outputs", ()))
    weights = dict(rubric.get("weights", {}))
    weights.update(entry.get("weights", {}))
    if kind == "backward" and not entry.get("forward"):
        raise ValueError(f"rubric.toml: backward task {task_id} names no forward")
    missing = [k for k in outputs if k not in weights]
    if missing:
        raise ValueError(f"rubric.toml: task {task_id} has outputs {missing} with no weight")
    return Task(
        id=task_id,
        title=entry["title"],
        file=entry["file"],
        function=entry["function"],
        cases=MappingProxyType({k: float(v) for k, v in entry["cases"].items()}),
        title_ko=entry.get("title_ko", ""),
        kind=kind,
        naive=bool(entry.get("naive", False)),
        inputs=tuple(entry.get("inputs", ())),
        param=entry.get("param"),
        outputs=outputs,
        forward=entry.get("forward"),
        cache_class=entry.get("cache"),
        tolerance=float(entry.get("tolerance", tolerances.get(tol_name, 0.0))),
        numeric_tolerance=float(tolerances.get(num_name, 0.0)),
        weights=MappingProxyType({k: float(weights[k]) for k in outputs}),
    )


def from_rubric(rubric: Mapping[str, Any]) -> dict[str, Task]:
    """The table of a loaded rubric (e.g. one with other points or tolerances), by task id."""
    return {task_id: _task(task_id, entry, rubric) for task_id, entry in rubric["tasks"].items()}


def _load(path: Path) -> dict[str, Task]:
    with open(path, "rb") as fh:
        return from_rubric(tomllib.load(fh))


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


def of_kind(kind: str) -> tuple[Task, ...]:
    """The tasks of one kind (``"forward"``, ``"backward"`` or ``"model"``), in rubric order."""
    return tuple(t for t in all_tasks() if t.kind == kind)


def naive_functions() -> tuple[str, ...]:
    """The functions under the NumPy-only rule (every naive task's), in rubric order."""
    return tuple(t.function for t in all_tasks() if t.naive)


def public_table() -> list[dict[str, Any]]:
    """What the students' checks need of the table (ids, titles, files, how each is called),
    as plain JSON: the release ships it inside the checks' data file."""
    return [
        {
            "id": t.id,
            "title": t.title,
            "title_ko": t.title_ko,
            "file": t.file,
            "function": t.function,
            "kind": t.kind,
            "naive": t.naive,
            "inputs": list(t.inputs),
            "param": t.param,
            "outputs": list(t.outputs),
            "forward": t.forward,
            "cache": t.cache_class,
        }
        for t in all_tasks()
    ]
