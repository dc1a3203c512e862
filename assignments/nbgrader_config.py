"""nbgrader configuration of the intro2ai course (run nbgrader from this folder).

Layout: ``source/<hw>/`` (instructor notebooks, student-side files), ``release/<hw>/`` (what
students get; built by ``make release``, never committed), ``submitted/``, ``autograded/``,
``feedback/`` and ``gradebook.db`` (generated, never committed).

The trusted grade comes from the kit's sandboxed grader (``autograder``); nbgrader keeps the
bookkeeping. The settings below make nbgrader's own notebook autograde safe for a batch of
hundreds of submissions.
"""

import os

c = get_config()  # noqa: F821  (provided by traitlets when nbgrader loads this file)

# --- course --------------------------------------------------------------------------------
c.CourseDirectory.course_id = "intro2ai"
# The course root is the folder holding this file, wherever nbgrader is started from.
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"

# Never copy editor leftovers or build outputs into a release or a submission.
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints",
    "*.pyc",
    "__pycache__",
    "feedback",
    "build",
    "*.so",
    "*.c",
    "*.egg-info",
    ".pytest_cache",
]

# Every file a student edits. On autograde nbgrader normally overwrites submitted files with
# the instructor's release copy; these must stay the student's own, or we would grade the stubs.
STUDENT_FILES = ["intro2ai/layers.py", "intro2ai/classifiers/cnn.py"]
c.Autograde.exclude_overwriting = {"hw5": STUDENT_FILES}

# --- execution during autograde ------------------------------------------------------------
# Naive conv loops are slow (the full HW5 notebook with naive checks takes minutes on a weak
# laptop); allow 10 minutes per cell before calling it stuck.
c.Execute.timeout = 600
# On a timeout, do NOT interrupt and carry on: a kernel stuck in C code (a huge NumPy call)
# ignores SIGINT, and every later cell would wait the full timeout again. Instead nbclient
# raises CellTimeoutError, nbgrader records this submission as failed and moves on to the next.
c.Execute.interrupt_on_timeout = False
c.Execute.raise_on_iopub_timeout = True
# Kill (SIGKILL) the kernel when the notebook ends or fails, rather than waiting for a
# graceful shutdown that a wedged kernel never answers.
c.Execute.shutdown_kernel = "immediate"
c.Execute.execute_retries = 0
# Keep each cell's output bounded (a print in a naive loop can produce megabytes).
c.LimitOutput.max_lines = 200
c.LimitOutput.max_traceback = 40

# --- collecting LMS downloads ---------------------------------------------------------------
# `make collect` (autograder/collect.py) brings LMS downloads into submitted/ through one safe
# extraction routine; nbgrader's zip_collect is deliberately left unconfigured (it reads student
# ids from extracted paths, applies archive names and modes, and has no size caps). Without a
# FileNameCollectorPlugin.named_regexp, a hand-run `nbgrader zip_collect` collects nothing.
