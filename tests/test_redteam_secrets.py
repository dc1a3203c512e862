"""Red team: student code in the trusted grader cannot read the course's secrets.

The hidden cases of a course come from one seed (the same for every student), and result
records are trusted through one HMAC key. Student code that raises with what it can see gets
that text back on its feedback page, so neither may be visible to it: not in its environment,
not as a file of the kit.
"""

from __future__ import annotations

import json

from autograder import cases, grade_submission, records, samples

SEED = "redteam-secret-seed-7f3a"
KEY = "redteam-record-key-91c2"


def test_neither_the_seed_nor_the_record_key_reaches_student_code(tmp_path, monkeypatch):
    monkeypatch.setenv(cases.SEED_ENV, SEED)
    monkeypatch.setenv(records.RECORD_KEY_ENV, KEY)
    kit = samples.KIT_ROOT
    probe = f"""
        import os
        seen = []
        for p in ({str(cases.SEED_FILE)!r}, {str(records.RECORD_KEY_FILE)!r},
                  {str(kit / "autograder" / "cases.py")!r}, {str(kit / "intro2ai" / "layers.py")!r}):
            try:
                seen.append(open(p).read(200))
            except OSError as exc:
                seen.append(type(exc).__name__)
        seen += ['%s=%s' % kv for kv in sorted(os.environ.items())]
        raise RuntimeError(' | '.join(seen))
    """
    recipe = {"regions": {samples.CONV_F: ("body", probe)}}
    sub = tmp_path / "sub"
    for rel in samples.FILES:
        (sub / rel).parent.mkdir(parents=True, exist_ok=True)
        (sub / rel).write_text(samples.build_file(rel, recipe), encoding="utf-8")
    rec = grade_submission(sub, tasks=("hw5_conv_forward",))  # the seed comes from the env
    text = json.dumps(rec, ensure_ascii=False)
    assert "RuntimeError: FileNotFoundError | FileNotFoundError" in text  # the probe ran
    assert SEED not in text and KEY not in text
    for secret_file in (cases.SEED_FILE, records.RECORD_KEY_FILE):
        if secret_file.exists():
            assert secret_file.read_text().strip() not in text
    assert "BEGIN SOLUTION" not in text and "Test cases of the trusted grader" not in text


def test_hidden_case_inputs_do_not_leave_through_exception_messages(tmp_path):
    """Student code that raises with its input's values learns them only for visible cases."""
    probe = """
        raise ValueError('LEAK' + ','.join('%.6f' % v for v in x.ravel()[:30]))
    """
    recipe = {"regions": {samples.CONV_F: ("body", probe)}}
    sub = tmp_path / "sub"
    for rel in samples.FILES:
        (sub / rel).parent.mkdir(parents=True, exist_ok=True)
        (sub / rel).write_text(samples.build_file(rel, recipe), encoding="utf-8")
    rec = grade_submission(sub, seed=SEED, tasks=("hw5_conv_forward",))
    task_cases = rec["tasks"]["hw5_conv_forward"]["cases"]
    hidden = [c for c in task_cases if c["hidden"]]
    visible = [c for c in task_cases if not c["hidden"]]
    assert hidden and visible
    assert all("LEAK" not in c["message"] and "ValueError" in c["message"] for c in hidden)
    assert any("LEAK" in c["message"] for c in visible)  # visible cases keep the student's text
    assert rec["tasks"]["hw5_conv_forward"]["points"] == 0.0
    hidden_text = json.dumps([c for c in task_cases if c["hidden"]], ensure_ascii=False)
    assert "LEAK" not in hidden_text
    assert "LEAK" not in rec["tasks"]["hw5_conv_forward"]["message"] or visible
