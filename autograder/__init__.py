"""The trusted grader of the intro2ai kit (instructor-only; never released).

``grade_submission(submission_dir, *, seed=None) -> dict`` grades one submission folder in
sandboxed child processes against the kit's reference; ``python -m autograder grade DIR
--json`` prints the same record as JSON. See ``autograder/grader.py``; the dict is a
:class:`autograder.results.SubmissionResult` (``SubmissionResult.from_dict`` reads it).
"""

import sys

# nbformat validates notebooks with jsonschema, which imports the optional IRI checker
# rfc3987_syntax when it is installed. Building its grammar takes about a second in every process
# that reads a notebook (each grading worker, each command), and notebooks never use that format.
sys.modules.setdefault("rfc3987_syntax", None)

__all__ = ["grade_submission"]


def grade_submission(submission_dir, *, seed=None, **kwargs):
    """Grade one submission folder (see :func:`autograder.grader.grade_submission`)."""
    from autograder.grader import grade_submission as _grade

    return _grade(submission_dir, seed=seed, **kwargs)
