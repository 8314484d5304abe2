"""The grading pipeline on a tiny course: one batch of hostile and ordinary submissions, graded by
the real CLI (``python -m autograder grade ... --jobs 2``) once as the user running the tests and,
when that is root (CI), once more as an unprivileged user (``gradlab-test``): same verdicts.

The cases (tests/grading/hostile.py) cover the developers' hostile suite: isolation between
notebooks and from the host, hostile submission trees, output caps, CSV injection, and routes around
an in-kernel verdict (each earns what a blank notebook earns).
"""
from __future__ import annotations

import csv
import glob
import hashlib
import io
import os
import pwd
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

import pytest
from conftest import require, sandbox_problem, shared_python
from coursekit import ROOT

from autograder import course, sandbox
from grading import hostile
from grading import tiny_course as T
from grading.nbgrader_cli import make_course, nbgrader

ORDINARY = ["full", "blank", "partial"]
# each of these fools plain nbgrader into giving marks; none may earn anything here
CHEATS = ["patch_allclose", "patch_numpy_allclose", "patch_tensor_eq", "patch_isinstance", "patch_transformer",
          "patch_during_call"]
LIMITS = ["--timeout", "30", "--cell-timeout", "8", "--memory", "1500", "--max-procs", "32"]
TEST_USER = "gradlab-test"

@pytest.fixture(autouse=True, scope="module")
def _sandbox():
    require("sandbox", sandbox_problem())


def _digest(path):
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _root_home_entries() -> list[str]:
    """What a student must not see of root's home: ``/root`` itself, or, when this checkout lies in
    it, everything there but the folders down to the checkout's environment, which the sandbox
    recreates (empty) to mount the environment's packages at their own path."""
    if not str(ROOT).startswith("/root/"):
        return ["/root"]
    try:
        return [os.path.join("/root", n) for n in os.listdir("/root") if not str(ROOT).startswith(os.path.join("/root", n) + "/")]
    except OSError:
        return ["/root"]


def _test_user() -> pwd.struct_passwd:
    """The unprivileged user the root run drops to (created on first use)."""
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        made = subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", TEST_USER], capture_output=True, text=True)
        try:   # (another test worker may have made it a moment before: useradd then says it exists)
            return pwd.getpwnam(TEST_USER)
        except KeyError:
            raise AssertionError(f"useradd {TEST_USER} failed: {made.stderr}") from None


def cli_argv(python: str | None = None) -> list[str]:
    """``python -m autograder`` with the environment's interpreter: ``make`` builds ``.venv`` from a
    Python every user can run, and its editable install finds this checkout from any cwd."""
    return [python or sys.executable, "-m", "autograder"]


def run_cli(*args, user=None, timeout=1500, env=None):
    preexec = None
    if user is not None:
        def preexec():
            os.setgroups([])
            os.setresgid(user.pw_gid, user.pw_gid, user.pw_gid)
            os.setresuid(user.pw_uid, user.pw_uid, user.pw_uid)
    environ = dict(os.environ, **(env or {}))
    if user is not None:
        # nbgrader runs `alembic` by name: the environment's bin first, as `make test` does
        python = shared_python()   # a private checkout's copy that this user can run
        environ.update(HOME=user.pw_dir, USER=user.pw_name, PATH=os.path.dirname(python) + ":/usr/bin:/bin")
        environ.pop("GRADLAB_CACHE", None)
    return subprocess.run(cli_argv(python if user is not None else None) + list(args), cwd=ROOT if user is None else "/", capture_output=True,
                          text=True, timeout=timeout, preexec_fn=preexec, env=environ)


def _world_dir(prefix: str) -> str:
    path = tempfile.mkdtemp(prefix=prefix)
    os.chmod(path, 0o755)
    return path


def _grade_batch(tiny, user=None) -> dict:
    source, _, c = tiny
    root = _world_dir("gradlab-batch-")
    subs, out, course_dir = (os.path.join(root, n) for n in ("submitted", "out", "course"))
    os.makedirs(out)
    os.makedirs(course_dir)
    if user is not None:
        for d in (out, course_dir):
            os.chown(d, user.pw_uid, user.pw_gid)
    repo_db = os.path.join(ROOT, "gradebook.db")
    attack = [repo_db, os.path.join(course_dir, "gradebook.db"), os.path.join(source, "a1", "ps1.ipynb")]
    peek = [os.path.join(ROOT, ".git"), os.path.join(ROOT, "solutions"), source, subs, out, course_dir,
            os.path.join(ROOT, "autograder")] + _root_home_entries()
    expected = hostile.build(c, subs, attack_targets=attack, peek_targets=peek)
    before = {p: _digest(p) for p in (repo_db, os.path.join(source, "a1", "ps1.ipynb"))}
    proc = run_cli("grade", subs, "--out", out, "--jobs", "2", "--source", source, "--course", course_dir,
                   *LIMITS, user=user)
    ended = time.clock_gettime(time.CLOCK_BOOTTIME)
    rows = {}
    if os.path.exists(os.path.join(out, "grades.csv")):
        with open(os.path.join(out, "grades.csv"), newline="") as f:
            rows = {r["student_id"].removeprefix("'"): r for r in csv.DictReader(f)}
    return {"proc": proc, "out": out, "subs": subs, "course": course_dir, "expected": expected, "rows": rows,
            "source": source, "before": before, "user": user, "root": root, "ended": ended}


@pytest.fixture(scope="session")
def batch(tiny):
    """Every case graded once, as the user running the tests."""
    b = _grade_batch(tiny)
    yield b
    shutil.rmtree(b["root"], ignore_errors=True)


@pytest.fixture(scope="session")
def batch_unprivileged(tiny):
    """The same cases graded by an unprivileged user (when the tests run as root, as CI does)."""
    if os.geteuid() != 0:
        pytest.skip("the tests already run unprivileged: the main batch is the unprivileged run")
    b = _grade_batch(tiny, user=_test_user())
    yield b
    shutil.rmtree(b["root"], ignore_errors=True)


CASES = ["full", "full_control", "blank", "partial", "infinite_loop", "unkillable_loop", "memory_hog", "fork_bomb",
         "sys_exit", "os_exit", "segfault", "kill_self", "patch_allclose", "patch_numpy_allclose", "patch_tensor_eq",
         "patch_isinstance", "patch_assertionerror", "patch_showtraceback", "patch_excepthook", "patch_transformer",
         "patch_during_call", "override_run_cell", "frame_walk", "tensor_subclass_liar", "float_equal_to_anything",
         "torch_library_override", "deleted_test_cell", "duplicated_cells", "split_cell", "retyped_cell",
         "edited_tests", "renamed", "missing", "corrupt_json", "empty_file", "other_assignment", "fifo_notebook",
         "fifo_beside", "unreadable", "linked_student", "non_utf8_\\xff", "non_utf8_file", "=SUM(1,2)", "csv_note",
         "aa_plant", "zz_persistence_probe", "peek", "shm_fill", "output_flood", "display_update_flood",
         "huge_error", "gradebook_attack", "stderr_noise", "leak_hidden_tests", "leak_in_exception_name",
         # the verdict is the judge's: forged observations, unflagged built-ins, leaks to the page, messages students need
         "trace_hook_forgery", "record_forgery_from_frames", "string_built_builtin", "builtin_in_added_cell",
         "leak_hidden_in_class_name", "extra_result_lines", "print_running_cell", "stash_and_print_later",
         "hidden_marker_in_solution", "visible_message_smuggle",
         # the strengthened strip rule: checking() switched back on, a relayed (forged) record
         "fake_checking", "relay_predictable_record"]


@pytest.mark.slow
def test_batch_finishes_with_a_row_per_submission(batch):
    proc = batch["proc"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert set(batch["rows"]) == set(batch["expected"]) == set(CASES)
    for r in batch["rows"].values():
        assert float(r["max_score"]) in (T.PS1_MAX, 0.0), r


@pytest.mark.slow
@pytest.mark.parametrize("student", CASES)
def test_case_outcome(batch, student):
    status, score = batch["expected"][student]
    row = batch["rows"][student]
    assert (row["status"], float(row["score"]) if score is not None else None) == (status, score), row
    for flag in hostile.FLAGS.get(student, []):
        assert flag in row["flags"], (flag, row["flags"])


@pytest.mark.slow
def test_unprivileged_run_gives_the_same_verdicts(batch, batch_unprivileged):
    proc = batch_unprivileged["proc"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ours = {s: (r["status"], float(r["score"]), r["flags"]) for s, r in batch_unprivileged["rows"].items()}
    root = {s: (r["status"], float(r["score"]), r["flags"]) for s, r in batch["rows"].items()}
    assert ours == root
    assert {s: v[:2] for s, v in ours.items() if batch_unprivileged["expected"][s][1] is not None} == \
        {s: (st, float(sc)) for s, (st, sc) in batch_unprivileged["expected"].items() if sc is not None}


@pytest.mark.slow
def test_feedback_never_shows_hidden_tests(batch):
    out = batch["out"]
    hidden_lines = [line.strip() for line in (T.TEST_SIGMOID + T.TEST_DOUBLE + T.TEST_CLIP + T.TEST_ZEROS).split("\n")
                    if "hidden" in line.lower() or T.HIDDEN_MARK in line or "record(" in line]
    pages = glob.glob(os.path.join(out, "feedback", "*", "a1", "ps1.html"))
    assert len(pages) >= 40
    for page in pages:
        with open(page, encoding="utf-8") as f:
            html = f.read()
        assert T.HIDDEN_MARK not in html, page
        assert "BEGIN HIDDEN" not in html and "record(" not in html, page
        for line in hidden_lines:
            assert line not in html, (page, line)
    with open(os.path.join(out, "feedback", "full", "a1", "ps1.html"), encoding="utf-8") as f:
        html = f.read()
    assert "5 / 6 points" in html and "passed" in html and "to be graded by your instructor" in html
    with open(os.path.join(out, "feedback", "blank", "a1", "ps1.html"), encoding="utf-8") as f:
        assert "NotImplementedError" in f.read()


def _stat_fields(pid: int | str) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command name (the state is [0], the parent [1],
    the start time [19]); OSError when the process is gone."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def _another_workers(pid: int) -> bool:
    """Whether ``pid`` or one of its ancestors belongs to another of `make test`'s workers (xdist
    sets ``PYTEST_XDIST_WORKER`` in each, and every grader a worker starts inherits it): that grader
    is alive and busy with its own batch. This batch's grader has exited, so what it left behind hangs
    from init, with no such ancestor."""
    me = os.environ.get("PYTEST_XDIST_WORKER", "").encode()
    while pid > 1:
        try:
            ppid = int(_stat_fields(pid)[1])
        except (OSError, ValueError, IndexError):
            return False   # gone: nothing above it to tell
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:    # a process that has just exited, or one the kernel hides: its parent tells
            env = []
        worker = next((v.split(b"=", 1)[1] for v in env if v.startswith(b"PYTEST_XDIST_WORKER=")), None)
        if worker is not None and worker != me:
            return True
        pid = ppid
    return False


@pytest.mark.slow
def test_nothing_outside_the_sandbox_changed_or_survived(batch):
    for path, digest in batch["before"].items():
        assert _digest(path) == digest, f"{path} changed during grading"
    for planted in ("/tmp/gradlab-planted", "/dev/shm/gradlab-planted", "/dev/shm/fill",
                    os.path.expanduser("~/.ipython/profile_default/startup/00-gradlab-planted.py")):
        assert not os.path.exists(planted), planted
    survivors = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
            started = int(_stat_fields(pid)[19]) / os.sysconf("SC_CLK_TCK")
            uid = os.stat(f"/proc/{pid}").st_uid
        except (OSError, ValueError, IndexError):
            continue
        ours = hostile.DAEMON_MARK.encode() in cmd or str(ROOT).encode() in cmd and (
            sandbox.UID_BASE <= uid < sandbox.UID_BASE + 1000 or b"/opt/gradlab/runner.py" in cmd)
        # a grader started later, or one another test worker runs now, is not this batch's
        if ours and started < batch["ended"] and not _another_workers(int(pid)):
            survivors.append((pid, uid, cmd[:80]))
    assert not survivors, survivors
    # the course gradebook is intact and agrees with the CSV (formgrader and nbgrader export read it)
    db = os.path.join(batch["course"], "gradebook.db")
    assert sqlite3.connect(db).execute("pragma integrity_check").fetchone()[0] == "ok"
    from nbgrader.api import Gradebook
    with Gradebook("sqlite:///" + db) as gb:
        for student, row in batch["rows"].items():
            if row["status"] in ("graded", "timeout", "memory", "process_limit", "kernel_died", "missing_notebook",
                                 "invalid_notebook"):
                assert gb.find_submission("a1", student).score == float(row["score"]), student


@pytest.mark.slow
def test_outputs_are_capped(batch):
    folder = os.path.join(batch["course"], "autograded")
    for student in ("output_flood", "display_update_flood", "huge_error"):
        path = os.path.join(folder, student, "a1", "ps1.ipynb")
        assert os.path.getsize(path) < 3_000_000, (student, os.path.getsize(path))
    notes = batch["rows"]["display_update_flood"]["notes"] + batch["rows"]["output_flood"]["notes"]
    assert "dropped" in notes
    assert os.path.getsize(os.path.join(batch["out"], "results", "huge_error", "a1.json")) < 100_000


@pytest.mark.slow
def test_csv_cells_cannot_be_formulas(batch):
    with open(os.path.join(batch["out"], "grades.csv"), newline="") as f:
        rows = list(csv.reader(f))
    for row in rows[1:]:
        for cell in row:
            assert not cell or cell[0] not in "=+@" and not (cell[0] == "-" and not cell[1:2].isdigit()), row
    assert ["'=SUM(1,2)"] == [r[0] for r in rows if "SUM" in r[0]]
    assert any("'=HYPERLINK(1).ipynb was graded as ps1.ipynb" in r[7] for r in rows)


@pytest.mark.slow
def test_flags_notes_and_detail(batch):
    rows = batch["rows"]
    assert "renamed" in rows["renamed"]["notes"]
    assert "symbolic link" in rows["linked_student"]["notes"]
    assert "UTF-8" in rows["non_utf8_\\xff"]["notes"]
    assert "FIFO" in rows["fifo_notebook"]["notes"]
    assert "unreadable" in rows["unreadable"]["notes"]
    assert rows["full"]["needs_manual_grade"] == "1" and rows["blank"]["needs_manual_grade"] == "0"
    with open(os.path.join(batch["out"], "grades_detail.csv")) as f:
        detail = [r for r in csv.DictReader(f) if r["student_id"] == "stderr_noise"]
    assert {r["grade_id"]: float(r["score"]) for r in detail}["test_double"] == 1


@pytest.mark.slow
def test_rerun_resumes_without_regrading(batch):
    before = open(os.path.join(batch["out"], "grades.csv")).read()
    proc = run_cli("grade", batch["subs"], "--out", batch["out"], "--jobs", "2", "--source", batch["source"],
                   "--course", batch["course"], *LIMITS, user=batch["user"])
    assert proc.returncode == 0, proc.stderr
    assert "already graded" in proc.stderr
    assert open(os.path.join(batch["out"], "grades.csv")).read() == before


@pytest.mark.slow
def test_export_and_feedback_commands(batch):
    """After grade, `export` and `feedback` read the same course gradebook (README's loop): the export
    holds grade's scores, and feedback rewrites one page per graded notebook, as many as it says."""
    from autograder import export
    course = str(batch["course"])
    proc = run_cli("export", batch["out"], "--course", course, "--to", "-")
    assert proc.returncode == 0, proc.stderr
    exported = list(csv.DictReader(io.StringIO(proc.stdout, newline="")))
    assert exported and list(exported[0]) == export.COLUMNS, proc.stdout[:500]
    final = {(r["student_id"], r["assignment"]): r for r in exported}
    for student in ORDINARY:
        row, graded = final[(student, "a1")], batch["rows"][student]
        assert (float(row["score"]), float(row["max_score"]), row["status"]) == (
            float(graded["score"]), float(graded["max_score"]), "graded"), (student, row, graded)
    full = final[("full", "a1")]
    assert (float(full["auto_score"]), float(full["max_score"])) == (sum(T.PS1_TESTS.values()), T.PS1_MAX), full
    pages = os.path.join(batch["out"], "feedback", "*", "*", "*.html")
    before = {p: os.stat(p).st_mtime_ns for p in glob.glob(pages)}
    time.sleep(0.01)   # a rewritten page gets a later mtime
    proc = run_cli("feedback", batch["out"], "--course", course)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rewritten = sorted(p for p in glob.glob(pages) if os.stat(p).st_mtime_ns != before.get(p))
    said = re.search(r"wrote (\d+) feedback page\(s\)", proc.stdout)
    assert said and int(said.group(1)) == len(rewritten), (proc.stdout, rewritten)
    assert os.path.join(batch["out"], "feedback", "full", "a1", "ps1.html") in rewritten, rewritten


@pytest.mark.slow
def test_scores_equal_nbgrader_autograde(batch, tmp_path):
    """Parity with plain nbgrader on honest work (full, partial, blank, wrong); the cheats fool
    plain nbgrader and earn nothing here."""
    course_dir = tmp_path / "course"
    make_course(course_dir, batch["source"])
    nbgrader("generate_assignment", "a1", "--force", cwd=course_dir)
    wrong_dir = tmp_path / "wrong"
    c = hostile.Course(batch["source"], os.path.join(os.path.dirname(batch["source"]), "release"))
    hostile.write(str(wrong_dir / "a1"), c.wrong())
    for student in ORDINARY + CHEATS + ["stderr_noise"]:
        shutil.copytree(os.path.join(batch["subs"], student, "a1"), course_dir / "submitted" / student / "a1")
    shutil.copytree(wrong_dir / "a1", course_dir / "submitted" / "wrong" / "a1")
    nbgrader("autograde", "a1", "--force", cwd=course_dir)
    nbgrader("export", "--to", str(tmp_path / "nbgrader.csv"), cwd=course_dir)
    with open(tmp_path / "nbgrader.csv") as f:
        theirs = {r["student_id"]: float(r["score"]) for r in csv.DictReader(f)}
    ours = {s: float(batch["rows"][s]["score"]) for s in ORDINARY + CHEATS}
    for student in ORDINARY:
        assert ours[student] == theirs[student], (student, ours[student], theirs[student])
    assert [theirs[s] for s in ORDINARY] == [5, 0, 2]
    assert theirs["wrong"] == 0 == float(batch["rows"]["patch_allclose"]["score"])
    for student in CHEATS:
        assert theirs[student] > 0 and ours[student] == 0, (student, theirs[student], ours[student])
    assert theirs["stderr_noise"] < 5 and float(batch["rows"]["stderr_noise"]["score"]) == 5


@pytest.mark.slow
def test_regrade_and_late_student_keep_manual_grades(tiny, tmp_path):
    """Manual scores, comments and extra credit survive a late student and a --force regrade."""
    from nbgrader.api import Gradebook
    source, _, c = tiny
    subs, out, course_dir = tmp_path / "subs", tmp_path / "out", tmp_path / "course"
    hostile.write(str(subs / "ann" / "a1"), c.full())
    args = ["--out", str(out), "--jobs", "2", "--source", source, "--course", str(course_dir), *LIMITS]
    assert run_cli("grade", str(subs), *args).returncode == 0
    db = "sqlite:///" + str(course_dir / "gradebook.db")
    with Gradebook(db) as gb:
        g = gb.find_grade("explain", "ps1", "a1", "ann")
        g.manual_score, g.extra_credit = 0.5, 0.25
        gb.find_comment("explain", "ps1", "a1", "ann").manual_comment = "good start"
        gb.db.commit()
    hostile.write(str(subs / "late" / "a1"), c.partial())
    proc = run_cli("grade", str(subs), *args)
    assert proc.returncode == 0 and "already graded" in proc.stderr, proc.stderr
    hostile.write(str(subs / "ann" / "a1"), c.partial())   # a resubmission, regraded with --force
    assert run_cli("grade", str(subs), *args, "--force").returncode == 0
    with Gradebook(db) as gb:
        g = gb.find_grade("explain", "ps1", "a1", "ann")
        assert (g.manual_score, g.extra_credit) == (0.5, 0.25)
        assert gb.find_comment("explain", "ps1", "a1", "ann").manual_comment == "good start"
        assert gb.find_grade("test_sigmoid", "ps1", "a1", "ann").auto_score == 2
        assert gb.find_grade("test_double", "ps1", "a1", "ann").auto_score == 0
        assert gb.find_submission("a1", "late").score == 2
    assert (course_dir / "autograded" / "late" / "a1" / "ps1.ipynb").exists()


@pytest.mark.slow
def test_skipping_experiments_gives_the_same_scores(tiny, tmp_path, monkeypatch):
    """The source gains an `experiment` cell (slow, needed by no test) and the submissions too:
    graded with skipping (default) and without, the scores are equal. Each submission's page is
    rendered once, from the gradebook."""
    import nbformat
    from nbformat.v4 import new_code_cell

    from autograder import pipeline
    from autograder.limits import Limits
    source, release, c = tiny
    src2 = tmp_path / "source"
    shutil.copytree(source, src2)
    nb = nbformat.read(src2 / "a1" / "ps1.ipynb", as_version=4)
    exp = new_code_cell("import time\ncurve = [float(sigmoid(torch.tensor(t / 10))) for t in range(50)]\ntime.sleep(1)",
                        metadata={"tags": ["experiment"]})
    nb.cells.insert(T.cell_index(nb, "test_sigmoid") + 1, exp)
    nbformat.write(nb, src2 / "a1" / "ps1.ipynb")
    subs = tmp_path / "subs"
    for name, work in (("full", c.full()), ("partial", c.partial()), ("blank", c.blank()), ("wrong", c.wrong())):
        work.cells.insert(T.cell_index(work, "test_sigmoid") + 1, T.clone(nb).cells[T.cell_index(nb, "test_sigmoid") + 1])
        hostile.write(str(subs / name / "a1"), work)
    from autograder import feedback
    rendered = []  # each page is rendered once, from the gradebook (no per-run page for a recorded submission)
    monkeypatch.setattr(feedback, "result_feedback", lambda *a, **k: rendered.append("run-record") or [])
    render = feedback.render_feedback
    monkeypatch.setattr(feedback, "render_feedback", lambda fb: rendered.append((fb.student_id, fb.notebook)) or render(fb))
    scores = {}
    for skip in (True, False):
        b = pipeline.Batch(str(subs), str(tmp_path / f"out{skip}"), source=str(src2), jobs=2,
                           limits=Limits(timeout_s=60, cell_timeout_s=20, memory_mb=2000),
                           target=course.Course.load(str(tmp_path / f"course{skip}")),
                           skip_experiments=skip, echo=lambda m: None)
        scores[skip] = {r.student_id: r.score for r in b.grade()}
    assert scores[True] == scores[False] == {"full": 5, "partial": 2, "blank": 0, "wrong": 0}
    assert sorted(rendered) == sorted([(s, "ps1") for s in ("full", "partial", "blank", "wrong")] * 2), rendered


@pytest.mark.slow
def test_grade_refuses_without_sandbox_and_unsafe_flag_marks_rows(tiny, tmp_path):
    source, _, c = tiny
    subs = tmp_path / "subs"
    hostile.write(str(subs / "ann" / "a1"), c.full())
    args = ["grade", str(subs), "--out", str(tmp_path / "out"), "--source", source, "--course", str(tmp_path / "c")]
    proc = run_cli(*args, env={"PATH": "/nonexistent"})
    assert proc.returncode == 3 and "bubblewrap is not installed" in proc.stderr, proc.stderr
    proc = run_cli(*args, "--unsafe-no-sandbox", *LIMITS, env={"PATH": "/nonexistent"})
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "out" / "grades.csv") as f:
        [row] = list(csv.DictReader(f))
    assert "unsafe-no-sandbox" in row["flags"] and float(row["score"]) == 5


def _autograded_outputs(batch, student) -> str:
    """Every output of ``autograded/<student>/a1/ps1.ipynb`` as one text (what formgrader and
    nbgrader's generate_feedback show besides the cells' sources)."""
    import json
    path = os.path.join(batch["course"], "autograded", student, "a1", "ps1.ipynb")
    if not os.path.exists(path):
        return ""
    with open(path, encoding="utf-8") as f:
        nb = json.load(f)
    return json.dumps([c.get("outputs", []) for c in nb["cells"]])


@pytest.mark.slow
@pytest.mark.parametrize("student", hostile.LEAK_CASES)
def test_no_hidden_test_text_reaches_pages_autograded_outputs_or_csv(batch, student):
    hidden = [line.strip() for src in (T.TEST_SIGMOID, T.TEST_DOUBLE, T.TEST_CLIP, T.TEST_ZEROS)
              for line in src.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0].splitlines()
              if len(line.strip()) >= 12]
    with open(os.path.join(batch["out"], "feedback", student, "a1", "ps1.html"), encoding="utf-8") as f:
        page = f.read()
    row = " ".join(batch["rows"][student].values())
    for where, text in (("page", page), ("autograded outputs", _autograded_outputs(batch, student)), ("csv", row)):
        assert T.HIDDEN_MARK not in text, (where, student)
        assert "FORGED-RESULT-LINE" not in text, (where, student)
        for line in hidden:
            assert line not in text, (where, student, line)


@pytest.mark.slow
def test_test_cells_in_autograded_hold_only_the_judges_message(batch):
    import json
    for student in ("full", "print_running_cell", "blank"):
        with open(os.path.join(batch["course"], "autograded", student, "a1", "ps1.ipynb"), encoding="utf-8") as f:
            nb = json.load(f)
        for cell in nb["cells"]:
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade") and cell["cell_type"] == "code":
                assert all(o["output_type"] == "error" for o in cell["outputs"]), (student, cell["outputs"])
                assert len(cell["outputs"]) <= 1 and (student != "full" or not cell["outputs"])
            assert cell.get("id"), "autograded cells carry ids (no MissingIDFieldWarning)"


@pytest.mark.slow
def test_pages_show_visible_failures_and_only_the_class_of_hidden_ones(batch):
    def page(student):
        with open(os.path.join(batch["out"], "feedback", student, "a1", "ps1.html"), encoding="utf-8") as f:
            return f.read()
    blank = page("blank")  # every visible test fails on the release's stub: its message is shown
    assert "NotImplementedError: replace this line with your solution" in blank
    assert "(in a hidden test)" not in blank
    assert T.VISIBLE_DOUBLE_MESSAGE in page("patch_allclose")  # a wrong double fails its visible assert
    assert "AssertionError (in a hidden test)" in page("trace_hook_forgery")  # right on the visible range only
    # a class name built from the hidden test's code never reaches the page
    assert "Exception (in a hidden test)" in page("leak_hidden_in_class_name")


@pytest.mark.slow
def test_student_text_with_hidden_markers_keeps_nbgrader_feedback_working(batch):
    import nbformat
    from nbgrader.preprocessors import ClearHiddenTests
    path = os.path.join(batch["course"], "autograded", "hidden_marker_in_solution", "a1", "ps1.ipynb")
    nb = nbformat.read(path, as_version=4)
    ClearHiddenTests().preprocess(nb, {})  # raised "hidden test region not in a grade cell" before
    assert all(T.HIDDEN_MARK not in c.source for c in nb.cells)
