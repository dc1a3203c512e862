"""The task table (autograder/tasks.py, from rubric.toml) is the one place that lists the tasks.

Every task of the table has its reference region, its case makers, its pytest marker and its
row in the checks' data; and no module of the grader or of the students' checks spells a task id
of its own.
"""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path

import pytest

from autograder import cases, checkdata, grader, mistakes, release, sandbox, tasks

REPO = Path(__file__).resolve().parent.parent
TASKS = tasks.all_tasks()


def test_the_table_reads_the_rubric():
    rubric = grader.load_rubric()
    assert tasks.ids() == tuple(rubric["tasks"])
    for t in TASKS:
        entry = rubric["tasks"][t.id]
        assert (t.title, t.file, t.function) == (entry["title"], entry["file"], entry["function"])
        assert t.points == sum(entry["cases"].values())
        assert t.title_ko and t.kind in tasks.KINDS
        tol_name = entry.get("tolerance", {"model": "model"}.get(t.kind, t.kind))
        assert t.tolerance == rubric["tolerances"].get(tol_name, tol_name)
        assert dict(t.weights) == {k: rubric["weights"][k] for k in t.outputs}
    assert tasks.get(TASKS[0].id) is TASKS[0]
    with pytest.raises(KeyError, match="unknown task id"):
        tasks.get("hw0_nothing")


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.id)
def test_each_task_has_its_reference_region_and_callable(task):
    text = (REPO / task.file).read_text(encoding="utf-8")
    regions = [r for r in release.find_regions(text, task.file) if r.task_id == task.id]
    assert regions, f"{task.file} has no solution region of {task.id}"
    module = importlib.import_module(task.module)
    assert callable(getattr(module, task.function))
    if task.kind == "backward":
        assert callable(getattr(module, task.forward)) and callable(
            getattr(module, task.cache_class)
        )


def test_every_solution_region_is_a_task_of_the_table():
    ids = set(tasks.ids())
    for rel in sandbox.SUBMISSION_FILES:
        found = {r.task_id for r in release.find_regions((REPO / rel).read_text("utf-8"), rel)}
        assert found <= ids and found == {t.id for t in TASKS if t.file == rel}, rel


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.id)
def test_each_task_has_cases_mistakes_and_check_cases(task):
    assert [c.name for c in cases.make_cases(task.id, "s")] == list(task.cases)
    assert cases.check_cases(task.id)
    assert task.id in mistakes.TASK_MISTAKES  # its known mistakes (none registered: no hints)


def test_pytest_has_one_marker_per_task_and_pyproject_none(pytestconfig):
    names = {m.split(":", 1)[0] for m in pytestconfig.getini("markers")}
    assert set(tasks.ids()) <= names  # registered from the table by the root conftest.py
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    listed = {m.split(":", 1)[0] for m in config["tool"]["pytest"]["ini_options"]["markers"]}
    assert not {n for n in listed if re.fullmatch(r"hw\d+_\w+", n)}


def test_the_checks_data_carries_the_table():
    table = checkdata.table()
    assert [row["id"] for row in table["tasks"]] == list(tasks.ids())
    assert table["naive_functions"] == list(tasks.naive_functions())
    arrays = checkdata.build_arrays()
    assert {k.split("::")[0] for k in arrays if k != checkdata.TABLE_KEY} == set(tasks.ids())


def test_the_sandbox_job_names_the_task_from_the_table():
    for t in TASKS:
        spec = t.spec()
        assert spec["kind"] == t.kind and spec["function"] == t.function
        assert (t.id in sandbox.NAIVE_TASKS) == t.naive


#: Where a task id may be written: the table, the reference regions (intro2ai/), and the
#: sample submissions (autograder/samples/: fixtures that name what one particular forged
#: submission does, e.g. which task it tampers with, not a table of the tasks).
_SCANNED = ("autograder", "assignments/source/hw5/checks", "bench")
_ALLOWED = {"autograder/tasks.py", "autograder/rubric.toml"}


def test_no_module_but_the_table_spells_a_task_id():
    ids = re.compile("|".join(re.escape(t) for t in tasks.ids()))
    offenders = []
    for top in _SCANNED:
        for path in sorted((REPO / top).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel in _ALLOWED or rel.startswith("autograder/samples/"):
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if ids.search(line):
                    offenders.append(f"{rel}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def _relay_module():
    """autograder/_relay.py as a module (it reads its config from argv when imported)."""
    import importlib.util
    import json
    import sys

    spec = importlib.util.spec_from_file_location(
        "_relay_under_test", REPO / "autograder" / "_relay.py"
    )
    module = importlib.util.module_from_spec(spec)
    argv = sys.argv
    sys.argv = ["_relay.py", json.dumps({"result_fd": 1})]
    try:
        spec.loader.exec_module(module)
    finally:
        sys.argv = argv
    return module


def test_the_relay_accepts_exactly_the_keys_the_table_names():
    relay = _relay_module()
    for t in TASKS:
        shared, arrays, diag = relay.layer_keys(t.spec())
        if t.kind == "model":
            assert (shared, arrays, diag) == ((), set(), set())
            continue
        assert arrays == set(t.outputs)
        if t.kind == "backward":
            assert shared == (*t.inputs, "dout") and diag == {"num_d" + k for k in t.inputs}
        else:
            assert shared == t.inputs and diag == set()
    bad = dict(TASKS[0].spec(), outputs=["out", "../x"])
    with pytest.raises(ValueError):
        relay.layer_keys(bad)  # a malformed job is refused, never widened


def test_the_naive_rules_default_functions_are_naive_tasks_of_the_table():
    from intro2ai import grading_rules

    assert set(grading_rules.NAIVE_FUNCTIONS) <= set(tasks.naive_functions())
