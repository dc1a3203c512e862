"""The student-id validator that guards every place an id becomes a path or a record name."""

import pytest

from autograder import ids


@pytest.mark.parametrize(
    "student",
    [
        "2023123456",
        "kim-minji",
        "adv_fork_bomb",
        "A",
        "x" * 64,
        "report",
        "REPORT",
        "summary",
        "con1",
        "com10",
    ],
)
def test_valid_ids(student):
    assert ids.validate(student) == student


@pytest.mark.parametrize(
    "student",
    [
        "",
        ".",
        "..",
        "a/b",
        "../x",
        "a\\b",
        ".hidden",
        "a.json",
        "x" * 65,
        "김민지",
        "a b",
        "a\nb",
        "CON",
        "nul",
        "com1",
        "LPT9",
        "-lead",
        "_lead",
        "a\x00b",
        "é",
        "１",
    ],
)
def test_invalid_ids(student):
    assert not ids.is_valid(student)
    with pytest.raises(ids.InvalidStudentId):
        ids.validate(student)


def test_non_string_is_invalid():
    assert "string" in ids.problem(12)
