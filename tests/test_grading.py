"""The grading pipeline on a tiny course: one parallel batch of hostile and ordinary submissions.

The whole batch (see tests/grading/hostile.py) is graded once per session by the real CLI
(``python -m autograder grade ... --jobs 2``); the tests below read its outputs.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time

import pytest

from autograder import course
from grading import hostile
from grading import tiny_course as T
from grading.nbgrader_cli import make_course, nbgrader

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORDINARY = ["full", "blank", "partial"]
# each of these fools plain nbgrader into giving marks; none may earn anything here
CHEATS = ["patch_allclose", "patch_numpy_allclose", "patch_tensor_eq", "patch_isinstance", "patch_transformer",
          "patch_during_call"]
LIMITS = ["--timeout", "45", "--cell-timeout", "10", "--memory", "1500", "--max-procs", "32"]


def run_cli(*args, timeout=900):
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def _digest(path):
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """The tiny course, released with nbgrader: (source dir, release dir, hostile.Course)."""
    root = tmp_path_factory.mktemp("tiny")
    source = T.write_source(str(root / "source"))
    release = str(root / "release")
    course.release(source=source, release_dir=release)
    return source, release, hostile.Course(source, release)


@pytest.fixture(scope="session")
def batch(tiny, tmp_path_factory):
    """Grade every case once, in parallel, through the CLI."""
    source, _, c = tiny
    root = tmp_path_factory.mktemp("batch")
    subs, out = str(root / "submitted"), str(root / "out")
    repo_db = os.path.join(ROOT, "gradebook.db")
    expected = hostile.build(c, subs, attack_targets=[repo_db, os.path.join(out, "gradebook.db"),
                                                      os.path.join(source, "a1", "ps1.ipynb")])
    before = {p: _digest(p) for p in (repo_db, os.path.join(source, "a1", "ps1.ipynb"))}
    t = time.monotonic()
    proc = run_cli("grade", subs, "--out", out, "--jobs", "2", "--source", source, "--no-progress", *LIMITS)
    elapsed = time.monotonic() - t
    with open(os.path.join(out, "grades.csv")) as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    return {"proc": proc, "out": out, "subs": subs, "expected": expected, "rows": rows, "source": source,
            "before": before, "elapsed": elapsed}


@pytest.mark.slow
def test_batch_finishes_with_a_row_per_submission(batch):
    proc = batch["proc"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert set(batch["rows"]) == set(batch["expected"])
    assert len(batch["expected"]) >= 20
    for r in batch["rows"].values():
        assert r["assignment"] == "a1"
        assert float(r["max_score"]) == T.PS1_MAX


@pytest.mark.slow
@pytest.mark.parametrize("student", [
    "full", "full_control", "blank", "partial", "infinite_loop", "unkillable_loop", "memory_hog", "fork_bomb",
    "sys_exit", "os_exit", "segfault", "kill_self", "patch_allclose", "patch_numpy_allclose", "patch_tensor_eq",
    "patch_isinstance", "patch_assertionerror", "patch_showtraceback", "patch_excepthook", "patch_transformer",
    "patch_during_call", "deleted_test_cell", "duplicated_cells", "split_cell", "retyped_cell", "edited_tests",
    "renamed", "missing", "corrupt_json", "empty_file", "other_assignment", "output_flood", "gradebook_attack",
    "stderr_noise", "leak_hidden_tests"])
def test_case_outcome(batch, student):
    status, score = batch["expected"][student]
    row = batch["rows"][student]
    assert (row["status"], float(row["score"])) == (status, score), row


@pytest.mark.slow
def test_feedback_for_everyone_and_never_hidden_tests(batch):
    out = batch["out"]
    hidden_lines = [line.strip() for line in (T.TEST_SIGMOID + T.TEST_DOUBLE + T.TEST_CLIP + T.TEST_ZEROS).split("\n")
                    if "hidden" in line.lower() or T.HIDDEN_MARK in line]
    for student in batch["expected"]:
        page = os.path.join(out, "feedback", student, "a1", "ps1.html")
        assert os.path.exists(page), student
        with open(page, encoding="utf-8") as f:
            html = f.read()
        assert T.HIDDEN_MARK not in html, student
        assert "BEGIN HIDDEN TESTS" not in html
        for line in hidden_lines:
            assert line not in html, (student, line)
    with open(os.path.join(out, "feedback", "full", "a1", "ps1.html"), encoding="utf-8") as f:
        html = f.read()
    assert "5 / 6 points" in html and "passed" in html and "to be graded by your instructor" in html
    with open(os.path.join(out, "feedback", "blank", "a1", "ps1.html"), encoding="utf-8") as f:
        assert "NotImplementedError" in f.read()


@pytest.mark.slow
def test_nothing_was_written_outside_the_sandbox(batch):
    for path, digest in batch["before"].items():
        assert _digest(path) == digest, f"{path} changed during grading"
    result = json.load(open(os.path.join(batch["out"], "results", "gradebook_attack", "a1.json")))
    assert result["status"] == "graded" and result["score"] == 5
    # the run's own nbgrader gradebook is intact and agrees with the CSV
    db = sqlite3.connect(os.path.join(batch["out"], "gradebook.db"))
    assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
    students = {r[0] for r in db.execute("select id from student")}
    assert set(batch["expected"]) <= students
    from nbgrader.api import Gradebook
    with Gradebook("sqlite:///" + os.path.join(batch["out"], "gradebook.db")) as gb:
        for student, row in batch["rows"].items():
            assert gb.find_submission("a1", student).score == float(row["score"]), student


@pytest.mark.slow
def test_details_flags_and_notes(batch):
    rows = batch["rows"]
    assert "patches-comparison" in rows["patch_allclose"]["flags"]
    assert "patches-ipython" in rows["patch_transformer"]["flags"]
    assert "renamed" in rows["renamed"]["notes"]
    assert "edited read-only cells were restored" in rows["edited_tests"]["notes"]
    assert "belongs to assignment a2" in rows["other_assignment"]["notes"]
    assert "dropped" in rows["output_flood"]["notes"]
    assert rows["full"]["needs_manual_grade"] == "1"
    with open(os.path.join(batch["out"], "grades_detail.csv")) as f:
        detail = [r for r in csv.DictReader(f) if r["student_id"] == "stderr_noise"]
    assert {r["grade_id"]: float(r["score"]) for r in detail}["test_double"] == 1


@pytest.mark.slow
def test_rerun_resumes_without_regrading(batch):
    before = open(os.path.join(batch["out"], "grades.csv")).read()
    t = time.monotonic()
    proc = run_cli("grade", batch["subs"], "--out", batch["out"], "--jobs", "2", "--source", batch["source"],
                   "--no-progress", *LIMITS)
    assert proc.returncode == 0, proc.stderr
    assert "already graded" in proc.stderr
    assert time.monotonic() - t < 60
    assert open(os.path.join(batch["out"], "grades.csv")).read() == before


@pytest.mark.slow
def test_export_and_feedback_commands(batch):
    proc = run_cli("export", batch["out"])
    assert proc.returncode == 0
    assert proc.stdout.splitlines()[0].startswith("student_id,assignment,score,max_score,status")
    proc = run_cli("export", batch["out"], "--detail")
    assert "grade_id" in proc.stdout.splitlines()[0]
    proc = run_cli("feedback", batch["out"])
    assert proc.returncode == 0 and "wrote feedback for" in proc.stdout


@pytest.mark.slow
def test_scores_equal_nbgrader_autograde_and_export(batch, tmp_path):
    course = tmp_path / "course"
    make_course(course, batch["source"])
    nbgrader("generate_assignment", "a1", "--force", cwd=course)
    for student in ORDINARY + CHEATS + ["stderr_noise"]:
        dest = course / "submitted" / student / "a1"
        shutil.copytree(os.path.join(batch["subs"], student, "a1"), dest)
    nbgrader("autograde", "a1", "--force", cwd=course)
    nbgrader("export", "--to", str(tmp_path / "nbgrader.csv"), cwd=course)
    with open(tmp_path / "nbgrader.csv") as f:
        theirs = {r["student_id"]: float(r["score"]) for r in csv.DictReader(f)}
    ours = {s: float(batch["rows"][s]["score"]) for s in ORDINARY + CHEATS}
    for student in ORDINARY:
        assert ours[student] == theirs[student], (student, ours[student], theirs[student])
    assert [theirs[s] for s in ORDINARY] == [5, 0, 2]
    # the cheats really do fool plain nbgrader, and earn nothing here
    for student in CHEATS:
        assert theirs[student] > 0 and ours[student] == 0, (student, theirs[student], ours[student])
    # a warning on stderr costs the point under plain nbgrader, not here
    assert theirs["stderr_noise"] < 5 and float(batch["rows"]["stderr_noise"]["score"]) == 5
