"""Programs that run inside the nbgrader step's sandbox (see :mod:`autograder.notebook_step`).

This folder is bound read-only into that sandbox, so it holds only code that may be shown to a
student's kernel: no seed, rubric, reference, samples or anything else of ``autograder/``. Its
modules import the standard library and the grading environment's packages (nbgrader,
jupyter_client), never the kit.
"""
