"""The instructor's whole loop on one machine, in the order (and the commands) of README's
instructor section, on a temporary course (tests/grading/tiny_course.py plus a manually graded
task with a mark scheme):

    release -> three submissions (full via the exchange, partial with written answers from a
    plain folder, blank) -> grade -> manual grades through nbgrader's gradebook API (what
    formgrader's REST handlers do) -> a late fourth student graded -> manual grades still there
    -> feedback (OUT/feedback and the course's feedback/, release_feedback) -> export.

README's instructor commands, in order (test_readme_walks_the_loop keeps them in step), and the
step that runs each here: `make release` (1), `nbgrader collect` (2: files put in submitted/),
`grade` (3, 5), `make lab LAB_ROOT=.` (4: formgrader's API writes), `feedback` and `nbgrader
release_feedback` (6), `export` (7). Every command runs with `--course` on the temporary course.

The grading step is :func:`grade_step`: ``python -m autograder grade`` into the course.
"""
from __future__ import annotations

import csv
import os
import shutil
import stat
import subprocess
import sys
import warnings
from pathlib import Path

import nbformat
import pytest
from coursekit import ROOT, cell, tiny_course

from tests.grading import tiny_course as T

ENV = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
           MPLBACKEND="Agg", GRADLAB_PROGRESS="0")
MARK_SCHEME = "MARKSCHEME_b41e: full marks only if the overflow of exp(-z) is named"
TASK = f"""Describe what goes wrong in $\\sigma(z) = 1 / (1 + e^{{-z}})$ for large negative z.
=== BEGIN MARK SCHEME ===
{MARK_SCHEME}
=== END MARK SCHEME ==="""
# what the instructor writes in formgrader
MANUAL = {"full": ("explain", 1.0, "Right: exp(-z) overflows for very negative z."),
          "partial": ("explain", 0.5, "Half right: name the overflow, not just 'numbers get big'.")}
TASK_POINTS = {"full": 2.0, "partial": 1.0}
EXTRA = ("full", "test_zeros", 0.5)   # extra credit on an autograded cell


def autograder(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``python -m autograder ARGS``, run from the repository root as README gives it."""
    cmd = [sys.executable, "-m", "autograder", *args]
    proc = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    if check:
        assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


def nbgrader(*args: str, course: Path) -> subprocess.CompletedProcess:
    """``nbgrader ARGS`` from the repository root (its nbgrader_config.py), on the course ``course``."""
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={course}"],
                          cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "| ERROR]" not in proc.stderr, f"nbgrader {' '.join(args)}:\n{proc.stderr[-5000:]}"
    return proc


def grade_step(course: Path, assignment: str) -> subprocess.CompletedProcess:
    """The one grading step of the loop: every new submission of ``assignment`` into the course
    gradebook and ``autograded/``: ``python -m autograder grade`` (README's command) into the course."""
    return autograder("grade", str(course / "submitted"), "--out", str(course / "grading-out"),
                      "--course", str(course), "--jobs", "2")


def _source_with_task(root: Path) -> None:
    """The tiny course's sources, ps1 ending in a manually graded task cell."""
    ps1 = T.ps1_source()
    ps1.cells.append(cell(TASK, "task_overflow", markdown=True, task=True, points=2))
    tiny_course(root / "solutions", {"a1/ps1.ipynb": ps1, "a2/ps2.ipynb": T.ps2_source()})


def _submission(course: Path, kind: str) -> nbformat.NotebookNode:
    from autograder.course import fill_solutions

    release = nbformat.read(course / "course" / "a1" / "ps1.ipynb", as_version=4)
    if kind in ("full", "late"):
        nb = fill_solutions(release, nbformat.read(course / "solutions" / "a1" / "ps1.ipynb", as_version=4))
        nb.cells[T.cell_index(nb, "explain")].source = "For very negative z, exp(-z) overflows to inf."
        return nb
    nb = T.clone(release)
    if kind == "partial":
        T.set_solution(nb, "double_impl", "def double(x):\n    return 2 * x")
        # passes the visible test, fails the hidden one (whose assert message is HIDDEN_MARK)
        T.set_solution(nb, "clip_impl", "def clip01(x):\n    return np.clip(x, 0.0, 1.0) if x[0] < 2 else x")
        nb.cells[T.cell_index(nb, "explain")].source = "The numbers get big."
    return nb


def put_grade(gb, grade_id: str, student: str, manual_score=None, extra_credit=None) -> None:
    """What formgrader's ``PUT /formgrader/api/grade/<id>`` does (nbgrader's GradeHandler)."""
    grade = gb.find_grade(grade_id, "ps1", "a1", student)
    grade.manual_score = manual_score
    grade.extra_credit = extra_credit
    grade.needs_manual_grade = grade.manual_score is None and grade.auto_score is None
    gb.db.commit()


def put_comment(gb, grade_id: str, student: str, text: str) -> None:
    """What formgrader's ``PUT /formgrader/api/comment/<id>`` does (nbgrader's CommentHandler)."""
    gb.find_comment(grade_id, "ps1", "a1", student).manual_comment = text
    gb.db.commit()


@pytest.mark.slow
def test_instructor_loop(tmp_path):
    old_umask = os.umask(0o027)  # a TA group shares the course: results must be group-readable
    try:
        _loop(tmp_path)
    finally:
        os.umask(old_umask)


def _loop(tmp_path: Path) -> None:
    course, out, exchange = tmp_path / "course", tmp_path / "out", tmp_path / "exchange"
    _source_with_task(course)

    # 1. release: course/a1 generated and the assignment registered in the course gradebook
    autograder("release", "--course", str(course))
    release = course / "course" / "a1" / "ps1.ipynb"
    assert release.exists() and (course / "gradebook.db").exists()
    assert MARK_SCHEME not in release.read_text() and T.HIDDEN_MARK not in release.read_text()

    # 2. three submissions: full (through the exchange: timestamp + secret), partial and blank (a folder)
    for student in ("full", "partial", "blank"):
        dest = course / "submitted" / student / "a1"
        dest.mkdir(parents=True)
        nbformat.write(_submission(course, student), dest / "ps1.ipynb")
    (course / "submitted" / "full" / "a1" / "timestamp.txt").write_text("2026-11-30 10:00:00.000000 UTC")
    (course / "submitted" / "full" / "a1" / "submission_secret.txt").write_text("f" * 128)

    # 3. grade: pristine test cells raise no false "checksum has changed" warning
    proc = grade_step(course, "a1")
    assert "has changed" not in proc.stderr, proc.stderr[-3000:]

    # 4. manual grades, as formgrader's API handlers write them
    from nbgrader.api import Gradebook
    db_url = f"sqlite:///{course / 'gradebook.db'}"
    with warnings.catch_warnings(), Gradebook(db_url) as gb:
        warnings.simplefilter("ignore")
        for student, (gid, points, comment) in MANUAL.items():
            put_grade(gb, gid, student, manual_score=points)
            put_comment(gb, gid, student, comment)
            put_grade(gb, "task_overflow", student, manual_score=TASK_POINTS[student])
        put_grade(gb, "task_overflow", "blank", manual_score=0.0)  # the blank one: graded 0, no comment
        put_grade(gb, EXTRA[1], EXTRA[0], extra_credit=EXTRA[2])

    # 5. a late fourth student, graded with the same step: the manual grades stay
    dest = course / "submitted" / "late" / "a1"
    dest.mkdir(parents=True)
    nbformat.write(_submission(course, "late"), dest / "ps1.ipynb")
    grade_step(course, "a1")
    with warnings.catch_warnings(), Gradebook(db_url) as gb:
        warnings.simplefilter("ignore")
        for student, (gid, points, comment) in MANUAL.items():
            assert gb.find_grade(gid, "ps1", "a1", student).manual_score == points
            assert gb.find_comment(gid, "ps1", "a1", student).manual_comment == comment
        assert gb.find_grade(EXTRA[1], "ps1", "a1", EXTRA[0]).extra_credit == EXTRA[2]
        assert gb.find_submission("a1", "late").score == T.PS1_MAX - 1  # all tests; written answer pending

    # 6. feedback: OUT/feedback and the course's feedback/, then back through the exchange
    autograder("feedback", str(out), "--course", str(course))
    secrets = [T.HIDDEN_MARK, MARK_SCHEME, "### BEGIN HIDDEN TESTS", "torch.testing.assert_close(sigmoid(",
               "Because exp overflows."]  # hidden tests, mark scheme, the model answer
    for student in ("full", "partial", "blank", "late"):
        page = (out / "feedback" / student / "a1" / "ps1.html").read_text()
        assert (course / "feedback" / student / "a1" / "ps1.html").read_text() == page
        leaked = [s for s in secrets if s in page]
        assert not leaked, f"{student}'s page shows {leaked}"
        if student in MANUAL:
            gid, points, comment = MANUAL[student]
            assert comment.replace("'", "&#x27;") in page, page
            assert f"{points:g} / 1" in page and f"{TASK_POINTS[student]:g} / 2" in page, page
    full = (out / "feedback" / "full" / "a1" / "ps1.html").read_text()
    assert f"{T.PS1_MAX + 2 + EXTRA[2]:g} / {T.PS1_MAX + 2:g} points" in full and "extra credit" in full
    partial = (out / "feedback" / "partial" / "a1" / "ps1.html").read_text()
    assert "AssertionError (in a hidden test)" in partial  # clip01 fails only the hidden case
    assert "to be graded by your instructor" in (out / "feedback" / "late" / "a1" / "ps1.html").read_text()
    for student in ("full", "partial", "blank", "late"):  # release_feedback needs these, exchange or not
        for name in ("timestamp.txt", "submission_secret.txt"):
            assert (course / "feedback" / student / "a1" / name).exists(), (student, name)
    assert (course / "feedback" / "full" / "a1" / "submission_secret.txt").read_text() == "f" * 128
    exchange.mkdir()
    nbgrader("release_feedback", "a1", f"--Exchange.root={exchange}", course=course)
    assert len(list((exchange / "gradlab" / "feedback").glob("*.html"))) == 4

    # 7. export: autograded + manual points for all four
    autograder("export", str(out), "--course", str(course), "--to", str(out / "grades_final.csv"))
    with open(out / "grades_final.csv", newline="") as f:
        table = list(csv.DictReader(f))
    rows = {r["student_id"]: r for r in table if r["assignment"] == "a1"}
    assert set(rows) == {"full", "partial", "blank", "late"}
    assert {(r["student_id"], r["status"]) for r in table if r["assignment"] == "a2"} == {
        (s, "missing") for s in rows}  # released, not submitted: a row of 0 each
    expect = {  # (auto, manual, total, pending)
        "full": (T.PS1_MAX - 1, 1 + 2 + EXTRA[2], T.PS1_MAX + 2 + EXTRA[2], 0),
        "partial": (T.PS1_TESTS["test_double"], 0.5 + 1, 1 + 0.5 + 1, 0),
        "blank": (0, 0, 0, 0),
        "late": (T.PS1_MAX - 1, 0, T.PS1_MAX - 1, 1),
    }
    for student, (auto, manual, total, pending) in expect.items():
        r = rows[student]
        got = (float(r["auto_score"]), float(r["manual_score"]), float(r["score"]), int(r["needs_manual_grade"]))
        assert got == (auto, manual, total, pending), (student, r)
        assert float(r["max_score"]) == T.PS1_MAX + 2

    # results are group-readable (umask 027 -> 0640), never 0600
    for path in [out / "grades_final.csv", *(out / "feedback").rglob("*.html"), *(course / "feedback").rglob("*.html")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & stat.S_IRGRP and not mode & stat.S_IROTH, (path, oct(mode))


# --------------------------------------------------------------------------------------------
# the pieces, each shown able to fail
HIDDEN_CELL = ("x = torch.arange(4.0)\nassert (double(x) == 2 * x).all(), 'visible: double(x) should be 2x'\n"
               "### BEGIN HIDDEN TESTS\nsecret_input_91 = torch.full((3,), 1.5)\n"
               "assert (double(secret_input_91) == 3.0).all(), 'hidden message 4e2c'\n### END HIDDEN TESTS")


def _error_cell(line: int, evalue: str, ename: str = "AssertionError", count: int = 7) -> dict:
    return {"source": HIDDEN_CELL, "execution_count": count, "outputs": [{
        "output_type": "error", "ename": ename, "evalue": evalue,
        "traceback": ["\x1b[0;31m------\x1b[0m", f"Cell \x1b[0;32mIn[{count}], line {line}\x1b[0m",
                      f"\x1b[0;31m{ename}\x1b[0m: {evalue}"]}]}


def test_failure_message_shows_visible_failures_only():
    from autograder.feedback import failure_message
    from autograder.notebook import secrets_in

    secret = secrets_in([HIDDEN_CELL, "Answer.\n=== BEGIN MARK SCHEME ===\nscheme line 77a\n=== END MARK SCHEME ==="])
    assert {"hidden message 4e2c", "secret_input_91 = torch.full((3,), 1.5)", "scheme line 77a"} <= set(secret)
    assert "visible: double(x) should be 2x" not in secret
    # a visible failure: its message, with any hidden text in it replaced
    assert failure_message(_error_cell(2, "visible: double(x) should be 2x"), secret) == \
        "AssertionError: visible: double(x) should be 2x"
    assert failure_message(_error_cell(2, "got secret_input_91 = torch.full((3,), 1.5)"), secret) == \
        "AssertionError: got [hidden]"
    # a failure inside the hidden tests, or one that cannot be located: the type only
    assert failure_message(_error_cell(5, "hidden message 4e2c"), secret) == "AssertionError (in a hidden test)"
    assert failure_message(_error_cell(5, "hidden message 4e2c", count=8) | {"execution_count": 9}, secret) == \
        "AssertionError (in a hidden test)"
    assert failure_message({"source": HIDDEN_CELL, "outputs": []}, secret) == ""


def test_csv_cells_cannot_be_formulas():
    from autograder.export import FinalGrade, to_csv
    from autograder.files import csv_cell as csv_safe

    assert [csv_safe(v) for v in ("=1+2", "+SUM(A1)", "@cmd", "-2+3", "\tx", "alice", -2.5, True)] == \
        ["'=1+2", "'+SUM(A1)", "'@cmd", "'-2+3", "'\tx", "alice", "-2.5", "1"]
    row = FinalGrade("=HYPERLINK(\"x\")", "a1", 1.0, 2.0, "graded", True, 1.0, 0.0, 0.0, "")
    assert to_csv([row]).splitlines()[1].startswith("\"'=HYPERLINK(\"\"x\"\")\",a1,1,2,graded,1,")


def test_result_files_follow_the_umask(tmp_path):
    from autograder.files import write_atomic as write_file

    old = os.umask(0o027)
    try:
        write_file(str(tmp_path / "d" / "grades.csv"), "x\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "d" / "grades.csv").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o750


def test_workspace_is_never_overwritten(tmp_path):
    from autograder.course import sync_workspace

    release, ws = tmp_path / "course", tmp_path / "workspace"
    (release / "a1").mkdir(parents=True)
    (release / "a1" / "ps1.ipynb").write_text("release v1")
    assert sync_workspace(str(release), str(ws)) == (True, ["a1/ps1.ipynb"])
    (ws / "a1" / "ps1.ipynb").write_text("my work")
    (release / "a1" / "ps1.ipynb").write_text("release v2")   # make release / git pull
    (release / "a2").mkdir()
    (release / "a2" / "ps2.ipynb").write_text("new assignment")
    assert sync_workspace(str(release), str(ws)) == (False, ["a2/ps2.ipynb"])
    assert (ws / "a1" / "ps1.ipynb").read_text() == "my work"
    assert (ws / "a2" / "ps2.ipynb").read_text() == "new assignment"


@pytest.mark.slow
def test_release_refuses_to_overwrite_work(tmp_path):
    from autograder import course

    source = T.write_source(str(tmp_path / "solutions"))
    release = tmp_path / "course"
    db = f"sqlite:///{tmp_path / 'gradebook.db'}"
    course.release(["a1"], source=source, release_dir=str(release), db_url=db)
    course.release(["a1"], source=source, release_dir=str(release), db_url=db)  # unchanged: fine
    worked = release / "a1" / "ps1.ipynb"
    worked.write_text(worked.read_text().replace("YOUR ANSWER HERE", "my answer"))
    with pytest.raises(course.ModifiedRelease) as e:
        course.release(["a1"], source=source, release_dir=str(release))
    assert str(worked) in str(e.value) and "--force" in str(e.value)
    assert "my answer" in worked.read_text()
    course.release(["a1"], source=source, release_dir=str(release), force=True)
    assert "my answer" not in worked.read_text()
    from nbgrader.api import Gradebook
    with Gradebook(db) as gb:  # registered: what nbgrader autograde and formgrader need
        nb = gb.find_notebook("ps1", "a1")
        assert {c.name for c in nb.grade_cells} == set(T.PS1_TESTS) | set(T.PS1_MANUAL)
        assert T.HIDDEN_MARK in gb.find_source_cell("test_clip", "ps1", "a1").source


# --------------------------------------------------------------------------------------------
# README walks this loop: its commands are the ones the loop test runs, and make lab's variables work
README_LOOP = ["make release", "nbgrader collect", "python -m autograder grade submitted --out OUT",
               "make lab LAB_ROOT=.", "python -m autograder feedback OUT", "nbgrader release_feedback",
               "python -m autograder export OUT"]


def test_readme_walks_the_loop():
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## For instructors"):text.index("## For maintainers")]
    positions = [section.find(cmd) for cmd in README_LOOP]
    assert -1 not in positions, [c for c, p in zip(README_LOOP, positions) if p < 0]
    assert positions == sorted(positions), "README gives the loop's commands out of order"


@pytest.mark.parametrize("variable, expected", [
    ("PORT=8890", "--port=8890"), ("NO_BROWSER=1", "--no-browser"), ("ALLOW_ROOT=1", "--allow-root"),
    ("LAB_ARGS=--ServerApp.ip=0.0.0.0", "--ServerApp.ip=0.0.0.0"), ("LAB_ROOT=.", "--ServerApp.root_dir=. "),
    ("WORKSPACE=elsewhere", "workspace course elsewhere"),
])
def test_make_lab_variables(variable, expected):
    """Each README variable changes `make lab`'s command line as it says (dry run, nothing started)."""
    if shutil.which("make") is None:
        pytest.skip("no make")
    text = (ROOT / "README.md").read_text()
    assert f"make lab {variable.split('=')[0]}=" in text, f"README does not document {variable}"
    proc = subprocess.run(["make", "-n", "lab", variable], cwd=ROOT, capture_output=True, text=True, timeout=60)
    plain = subprocess.run(["make", "-n", "lab", "ALLOW_ROOT=0"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert expected in proc.stdout + " ", proc.stdout
    assert expected not in plain.stdout + " ", plain.stdout  # the default does not do it


def test_lab_settings_overrides(tmp_path):
    """jupyter/lab/settings/overrides.json (make lab installs it in the venv) is valid for this
    JupyterLab and turns the news popup off and the jump-to-last-executed-cell button on (after
    Run All stops at a failing exercise, the button scrolls to it: JupyterLab has no setting that
    scrolls there by itself, runAll selects the last cell)."""
    from jupyterlab.commands import get_app_dir
    from jupyterlab_server.settings_utils import _get_overrides, get_settings

    app_settings = str(ROOT / "jupyter" / "lab" / "settings")
    overrides, error = _get_overrides(app_settings)
    assert not error, error
    defaults = {}
    for name in ("@jupyterlab/apputils-extension:notification", "@jupyterlab/notebook-extension:tracker"):
        result, warnings_ = get_settings(app_settings, os.path.join(get_app_dir(), "schemas"), str(tmp_path), name,
                                         overrides=overrides)
        assert not any(warnings_), warnings_
        defaults[name] = {k: v.get("default") for k, v in result["schema"]["properties"].items()}
    assert defaults["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
    assert defaults["@jupyterlab/notebook-extension:tracker"]["kernelStatus"]["showJumpToRecentExecutionButton"] is True
