"""The record end of ``grade``: one typed result in, the gradebook's row, the exchange files and the page out."""
from __future__ import annotations

import html
import json
import os
import stat

import nbformat

from autograder import course, feedback, gradebook
from autograder.files import world_readable_copy
from autograder.record import write_exchange_files
from autograder.records import CellVerdict, NotebookResult, Status, SubmissionResult
from grading import tiny_course as T


def _result(status=Status.TIMEOUT) -> SubmissionResult:
    return SubmissionResult("ann", "a1", status, [NotebookResult("ps1", status, [
        CellVerdict("test_sigmoid", 2.0, 2.0, True),
        CellVerdict("test_double", 0.0, 1.0, False, "AssertionError (in a hidden test)", "AssertionError"),
        CellVerdict("explain", 0.0, 1.0, False, "to be graded by your instructor", kind="answer",
                    needs_manual_grade=True)], "stopped after 60 s", flags=["review:ps1:cell3:eval"])],
        flags=["review:ps1:cell3:eval"], timestamp="2026-12-01 10:00:00.000000 UTC", max_score=6.0,
        notes=["ps1.ipynb: stopped after 60 s"], input_hash="abc")


def test_result_json_round_trip_and_store(tmp_path):
    r = _result()
    again = SubmissionResult.from_json(json.loads(json.dumps(r.to_json())))
    assert again == r and again.status is Status.TIMEOUT and again.notebooks[0].status is Status.TIMEOUT
    assert again.score == 2.0 and again.needs_manual_grade
    store = gradebook.ResultStore(str(tmp_path))
    store.put(r)
    assert store.all_results() == [r]
    assert store.is_done("ann", "a1", "abc") and not store.is_done("ann", "a1", "other")
    # a record an older grader wrote (or a damaged one) is no result: that submission is graded again
    with open(store.result_path("ann", "a1"), "w") as f:
        json.dump({"student_id": "ann", "assignment": "a1", "input_hash": "abc", "status": "graded", "score": 0.0,
                   "max_score": 6.0, "needs_manual_grade": False, "notebooks": {}, "notes": [], "flags": [],
                   "timestamp": None}, f)
    assert store.get("ann", "a1") is None and not store.is_done("ann", "a1", "abc")


def test_csvs_from_results():
    r = _result()
    rows = gradebook.detail_csv([r]).splitlines()
    assert rows[1:] == ["ann,a1,ps1,explain,0,1,manual", "ann,a1,ps1,test_double,0,1,AssertionError",
                        "ann,a1,ps1,test_sigmoid,2,2,passed"]
    assert gradebook.grades_csv([r]).splitlines()[1] == (
        "ann,a1,2,6,timeout,1,review:ps1:cell3:eval,ps1.ipynb: stopped after 60 s")
    assert "2/6+" in gradebook.format_table([r])


def test_page_of_an_unrecorded_notebook_says_its_status():
    assignment = course.Assignment("a1", "", {"ps1": course.source_notebook(
        "ps1", nbformat.writes(T.ps1_source()).encode())})
    for status in (Status.TIMEOUT, Status.ERROR, Status.KERNEL_DIED):
        [fb] = feedback.result_feedback(_result(status), assignment)
        page = feedback.render_feedback(fb)
        assert html.escape(status.text) in page and "Graded." not in page
        assert fb.score == 2.0 and fb.max_score == T.PS1_MAX
        outcomes = {c.grade_id: c.outcome for c in fb.cells}
        assert outcomes == {"test_sigmoid": "passed", "test_double": "failed", "test_clip": "not run",
                            "test_zeros": "not run", "explain": "pending"}
        assert "AssertionError (in a hidden test)" in page
    # a notebook the result does not have was not submitted
    [fb] = feedback.result_feedback(SubmissionResult("ann", "a1", Status.GRADED), assignment)
    assert fb.status is Status.MISSING_NOTEBOOK and Status.MISSING_NOTEBOOK.text in feedback.render_feedback(fb)


def test_exchange_files_hostile_input_and_fallback(tmp_path):
    sub, dest = tmp_path / "sub", tmp_path / "dest"
    sub.mkdir()
    write_exchange_files(str(dest), [str(sub)])
    assert not dest.exists(), "no timestamp, no fallback: nothing written"
    (sub / "timestamp.txt").write_text("2026-12-01 10:00:00.000000 UTC\x1b[2J\n")
    (sub / "submission_secret.txt").write_text("ab12<script>cd34é٣\n")
    write_exchange_files(str(dest), [str(sub)])
    assert (dest / "timestamp.txt").read_text() == "2026-12-01 10:00:00.000000 UTC[2J"
    assert (dest / "submission_secret.txt").read_text() == "ab12scriptcd34"
    # a link is never followed, whatever it points to; the fallback then stands in
    secret = tmp_path / "root-only"
    secret.write_text("ROOT-ONLY")
    linked, out = tmp_path / "linked", tmp_path / "out"
    linked.mkdir()
    for name in ("timestamp.txt", "submission_secret.txt"):
        (linked / name).symlink_to(secret)
    (linked / "ps1.ipynb").write_text("{}")
    write_exchange_files(str(out), [str(linked)], fallback=True)
    assert "ROOT-ONLY" not in (out / "timestamp.txt").read_text() + (out / "submission_secret.txt").read_text()
    assert (out / "timestamp.txt").read_text().endswith(" UTC") and len((out / "submission_secret.txt").read_text()) == 128
    kept = (out / "submission_secret.txt").read_text()
    write_exchange_files(str(out), [str(linked)], fallback=True)
    assert (out / "submission_secret.txt").read_text() == kept, "a fallback secret is kept once written"


def test_world_readable_copy_whatever_the_umask(tmp_path):
    (tmp_path / "data.csv").write_text("x\n")
    old = os.umask(0o077)
    try:
        dest = world_readable_copy([str(tmp_path / "data.csv")], str(tmp_path / "copy"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o755
    assert stat.S_IMODE(os.stat(os.path.join(dest, "data.csv")).st_mode) == 0o644
    assert world_readable_copy([], str(tmp_path / "none")) is None and not (tmp_path / "none").exists()
