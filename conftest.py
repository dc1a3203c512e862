"""pytest set-up of the kit's own tests: one marker per task of the task table.

(``pytest -m <task id>`` runs a task's tests; ``--strict-markers`` refuses any other id.) The
release does not ship this file: its ``checks/conftest.py`` registers the same markers from the
checks' data.
"""


def pytest_configure(config):
    from autograder import tasks

    for task in tasks.all_tasks():
        config.addinivalue_line("markers", f"{task.id}: HW5 task {task.title}")
