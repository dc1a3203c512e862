"""Student ids: the one validator used wherever an id becomes a path or a record name.

A student id comes from outside (an LMS archive name, a command-line option, a folder name
under ``submitted/``) and is then joined into paths (``submitted/<id>/``, ``.grading/<id>.json``,
``feedback/<id>/``). It is accepted only when it matches :data:`ID_PATTERN` and is not a
reserved name, so an id can never climb out of its folder or hide as a dot file.

The kit's own files beside per-student files (the batch report beside the records, for example)
are named with a leading ``_`` or ``.``, which no id can start with: they cannot collide with any
student, so a student called ``report`` keeps their record. The reserved names are those a
course folder copied to Windows or an SMB share could not hold (``CON``, ``NUL``, ``COM1``...).
"""

from __future__ import annotations

import re

#: At most this many characters (file-system and CSV friendly; LMS ids are far shorter).
MAX_LENGTH = 64
#: ASCII letters and digits, then letters, digits, ``_`` and ``-``. No dot (so no ``..``, no
#: hidden files, no extension confusion), no slash, no space, nothing outside ASCII.
ID_PATTERN = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_-]{{0,{MAX_LENGTH - 1}}}")
#: Windows device names (compared case-insensitively): no file or folder may be called so there.
RESERVED = frozenset(
    {"con", "prn", "aux", "nul"} | {f"{d}{i}" for d in ("com", "lpt") for i in range(10)}
)

CHARSET_DOC = (
    "ASCII letters and digits, '_' and '-', starting with a letter or digit, "
    f"at most {MAX_LENGTH} characters"
)


class InvalidStudentId(ValueError):
    """A student id that may not become a path or a record name."""


def problem(student: object) -> str | None:
    """Why ``student`` is not a valid id (English, for instructors), or None when it is."""
    if not isinstance(student, str):
        return f"a student id must be a string, got {type(student).__name__}"
    if len(student) > MAX_LENGTH:
        return f"student id of {len(student)} characters (at most {MAX_LENGTH})"
    if not ID_PATTERN.fullmatch(student):
        return f"student id {student!r} has characters outside the allowed set ({CHARSET_DOC})"
    if student.lower() in RESERVED:
        return f"student id {student!r} is a reserved device name on Windows"
    return None


def is_valid(student: object) -> bool:
    return problem(student) is None


def validate(student: object) -> str:
    """Return ``student`` unchanged when valid; raise :class:`InvalidStudentId` otherwise."""
    why = problem(student)
    if why is not None:
        raise InvalidStudentId(why)
    return student  # type: ignore[return-value]
