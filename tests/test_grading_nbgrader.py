"""nbgrader's real exchange with a temporary exchange root: release -> fetch -> submit -> collect,
then ``python -m autograder grade`` on what nbgrader collected, and our feedback pages back to the
student through nbgrader's release_feedback -> fetch_feedback.

(The score comparison with ``nbgrader autograde`` + ``nbgrader export`` lives in test_grading.py,
next to the batch whose submissions it reuses.)
"""
from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest
from coursekit import ROOT

from grading import tiny_course as T
from grading.nbgrader_cli import make_course, nbgrader


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from autograder import course
    from grading import hostile

    root = tmp_path_factory.mktemp("tiny-exchange")
    source = T.write_source(str(root / "source"))
    course.release(source=source, release_dir=str(root / "release"))
    return source, str(root / "release"), hostile.Course(source, str(root / "release"))


@pytest.mark.slow
def test_real_exchange_flow(tiny, tmp_path):
    source, _, c = tiny
    exchange, course, home = tmp_path / "exchange", tmp_path / "course", tmp_path / "student"
    exchange.mkdir()
    home.mkdir()
    make_course(course, source, exchange)
    nbgrader("generate_assignment", "a1", "--force", cwd=course)
    nbgrader("release_assignment", "a1", "--force", cwd=course)
    student_flags = ["--course", "gradlab-test", f"--Exchange.root={exchange}"]
    nbgrader("fetch_assignment", "a1", *student_flags, cwd=home)
    fetched = home / "a1" / "ps1.ipynb"
    assert fetched.exists()
    # the student solves two of the four exercises in the fetched copy, then submits
    import nbformat

    from autograder.course import fill_solutions
    nb = fill_solutions(nbformat.read(fetched, as_version=4), c.ps1_source, which={"sigmoid_impl", "double_impl"})
    nbformat.write(nb, fetched)
    nbgrader("submit", "a1", *student_flags, cwd=home)
    nbgrader("collect", "a1", cwd=course)
    collected = course / "submitted"
    [student_id] = os.listdir(collected)
    assert (collected / student_id / "a1" / "ps1.ipynb").exists()
    # our grader on the folder nbgrader collected ...
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(collected), "--out", str(out),
                           "--source", str(course / "source"), "--course", str(course), "--jobs", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    with open(out / "grades.csv") as f:
        [row] = list(csv.DictReader(f))
    assert row["student_id"] == student_id and row["status"] == "graded"
    assert float(row["score"]) == 3  # sigmoid (2) + double (1)
    # ... and our feedback pages (grade wrote them into the course's feedback/ too) travel back to the
    # student through nbgrader's exchange
    assert (course / "feedback" / student_id / "a1" / "ps1.html").exists()
    nbgrader("release_feedback", "a1", cwd=course)
    nbgrader("fetch_feedback", "a1", *student_flags, cwd=home)
    [page] = list((home / "a1" / "feedback").glob("*/ps1.html"))
    html = page.read_text()
    assert "3 / 6 points" in html and T.HIDDEN_MARK not in html
