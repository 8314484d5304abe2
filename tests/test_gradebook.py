"""gradebook and export: the CSVs a spreadsheet opens, the database's errors and passwords (no
sandbox is started here)."""
from __future__ import annotations

import pytest

from autograder import course, gradebook
from autograder.records import CellVerdict, NotebookResult, Status, SubmissionResult


def test_csv_cells_are_neutralised():
    from autograder.files import csv_cell
    assert csv_cell("=SUM(1,2)") == "'=SUM(1,2)" and csv_cell("@x") == "'@x"
    assert csv_cell("+1a") == "'+1a" and csv_cell("-2.5") == "-2.5"
    assert csv_cell("ada") == "ada"


# every character a spreadsheet starts a formula, command or macro with, and a harmless control
DANGEROUS = ["=1+2", "+SUM(A1)", "-cmd|' /C calc'!A0", "@SUM(A1)", "\tx", "\rx", "\nx", "|cmd", "%macro", "\uff1d1+2"]


@pytest.mark.parametrize("which", ["grades.csv", "grades_detail.csv", "grades_final.csv"])
def test_every_csv_neutralises_every_dangerous_first_character(which):
    """One rule for every CSV the grader writes: each dangerous first character is neutralised in
    ``grades.csv``/``grades_detail.csv`` (the run's) and ``grades_final.csv`` (the export)."""
    import csv
    import io

    from autograder import export
    rows = []
    for text in DANGEROUS:
        if which == "grades_final.csv":
            rows.append(export.FinalGrade(text, text, 1.0, 2.0, "graded", False, 1.0, 0.0, 0.0, ""))
        else:
            rows.append(SubmissionResult(text, text, Status.GRADED, [NotebookResult(text, Status.GRADED, [
                CellVerdict(text, 1.0, 2.0, False)])], flags=[text], max_score=2.0, notes=[text]))
    text = {"grades.csv": lambda: gradebook.grades_csv(rows), "grades_detail.csv": lambda: gradebook.detail_csv(rows),
            "grades_final.csv": lambda: export.to_csv(rows)}[which]()
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert len(parsed) == 1 + len(rows), "a cell started a row of its own"
    cells = [c for row in parsed[1:] for c in row]
    for bad in DANGEROUS:
        assert bad not in cells and "'" + bad.replace("\r", "\n") in cells, (which, bad)
    assert not [c for c in cells if c and c[0] in "=+-@\t\r\n|%\uff1d"], cells
    assert export.to_csv([export.FinalGrade("-2", "b", -2.5, 2.0, "graded", False, 0, 0, 0, "")]).splitlines()[1]         .startswith("-2,b,-2.5,2,"), "a negative number stays a number"


def test_database_passwords_never_reach_a_message():
    from autograder.files import redact_db_url
    for password in ("p@ss", "p:ss", "p/ss", "a@b:c/d@e"):
        url = f"postgresql+psycopg://grader:{password}@db.example:5432/gradebook"
        shown = redact_db_url(f"writing {url} failed: could not connect to {url}")
        assert password not in shown and "ss" not in shown and shown.count(
            "postgresql+psycopg://grader:***@db.example:5432/gradebook") == 2, shown
    assert redact_db_url("sqlite:////srv/c/gradebook.db") == "sqlite:////srv/c/gradebook.db"
    from hub.postgres import redact
    assert redact("postgresql://u:a@b@h/d") == "postgresql://u:***@h/d"


def test_gradebook_error_names_the_database(tmp_path):
    bad = course.Course.load(str(tmp_path), "sqlite:///" + str(tmp_path / "no" / "such" / "dir" / "\0gradebook.db"))
    with pytest.raises(gradebook.GradebookError) as exc:
        gradebook.record_submission(bad, SubmissionResult("s", "a1", Status.GRADED))
    assert "gradebook" in str(exc.value) and "gradebook.db" in str(exc.value)
    secret = course.Course.load(str(tmp_path), "postgresql://grader:p@ss:w/rd@127.0.0.1:1/gradebook")
    with pytest.raises(gradebook.GradebookError) as exc:
        with secret.gradebook():
            pass
    assert "127.0.0.1:1/gradebook" in str(exc.value) and "ss:w" not in str(exc.value) and "rd@" not in str(exc.value)
