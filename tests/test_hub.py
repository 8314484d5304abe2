"""A real class, end to end: JupyterHub + configurable-http-proxy + nbgrader's exchange + a
PostgreSQL gradebook, students as separate Unix users, driven in headless Chromium.

One class (``hub/classroom.py``) for the module: throwaway Unix accounts ``glt<random>-*`` (an
instructor, a TA, three students, the grader account), a throwaway PostgreSQL cluster, the hub on
free ports; all removed at the end. The course holds assignment ``01_vanishing_gradients`` with its
smallest notebook only, so grading stays short.

The grading step is ``grade_collected`` (one function): ``python -m autograder grade ... --course
... --db-url ...`` where the autograder supports those options, plain ``nbgrader autograde``
otherwise. Screenshots and timings go to ``artifacts/hub/``.
"""
from __future__ import annotations

import csv
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from coursekit import ROOT

sys.path.insert(0, str(ROOT))
from conftest import require, shared_environment_problem  # noqa: E402

from hub.classroom import COURSE_ID, ClassError, Classroom, Roster, missing_components  # noqa: E402
from hub.postgres import redact  # noqa: E402

ASSIGNMENT = "01_vanishing_gradients"
NOTEBOOK = "01_sigmoid_saturation"
WRITTEN = "answer_tanh_vs_logistic"  # the notebook's manually graded written answer (3 points)
PARTIAL = {"saturation_threshold", "sigmoid"}  # the solution cells the "partial" student fills in
ARTIFACTS = ROOT / "artifacts" / "hub"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
TIMINGS: dict[str, float] = {}


def _skip_reason() -> str | None:
    missing = missing_components()
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"Chromium ({CHROMIUM}; apt-get install chromium)")
    return ("a real class needs: " + "; ".join(missing)) if missing else None


def _require_class() -> None:
    """Skip without root (the class starts servers as other users); otherwise every missing
    component goes through ``require`` (a failure under CI=true)."""
    reason = _skip_reason()
    if reason is None:
        if os.geteuid() == 0:   # the members run this checkout's environment
            require("shared-environment", shared_environment_problem())
        return
    if os.geteuid() != 0:
        pytest.skip(reason)
    component = ("node" if "Node" in reason or "proxy" in reason else "postgresql" if "PostgreSQL" in reason
                 or "psycopg" in reason or "jupyterhub" in reason else "chromium")
    require(component, reason)


# -- the grading step (the integrator switches it to the new grader by its --help) --------------------
def autograder_supports_course() -> bool:
    """Does ``python -m autograder grade`` record into a course gradebook (``--course``, ``--db-url``)?"""
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", "--help"],
                          capture_output=True, text=True, cwd=ROOT)
    return proc.returncode == 0 and "--course" in proc.stdout and "--db-url" in proc.stdout


def grade_collected(course_dir: Path, db_url: str, *, run, assignment: str = ASSIGNMENT, jobs: int | None = None):
    """Grade every collected submission of ``assignment`` into the course gradebook at ``db_url``.

    ``run(cmd, cwd)`` runs a command as the grader account and returns the CompletedProcess.
    Raises ``ClassError`` naming the gradebook (password hidden) when grading fails.
    """
    if autograder_supports_course():
        # the gradebook URL (with its password) comes from the grader's nbgrader config, never argv:
        # a command line is visible to every local user in `ps`
        cmd = ["python", "-m", "autograder", "grade", str(course_dir / "submitted"),
               "--out", str(course_dir / "autograder-out"), "--course", str(course_dir), "--force"]
        cmd += ["--jobs", str(jobs)] if jobs else []   # --force: regrade (as nbgrader autograde --force)
    else:  # nbgrader's own autograde reads db_url from the course's nbgrader_config.py
        cmd = ["nbgrader", "autograde", assignment, "--force"]
    proc = run(cmd, course_dir)
    if proc.returncode != 0:
        raise ClassError(f"grading {assignment} into the gradebook {redact(db_url)} failed "
                         f"(exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return proc


# -- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def room():
    _require_class()
    run_dir = Path(tempfile.mkdtemp(prefix="gradlab-class-test-", dir="/tmp"))
    prefix = f"glt{secrets.token_hex(2)}-"
    t0 = time.perf_counter()
    room = Classroom.prepare(run_dir, Roster.demo(prefix, students=3), {ASSIGNMENT: [f"{NOTEBOOK}.ipynb"]})
    try:
        TIMINGS["prepare_s"] = time.perf_counter() - t0
        room.start()
        TIMINGS.update(room.timings)
        room.grader_nbgrader("generate_assignment", ASSIGNMENT, "--force")
        yield room
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "timings.json").write_text(json.dumps(TIMINGS, indent=1))
        shutil.copy(room.settings.state_dir / "jupyterhub.log", ARTIFACTS / "jupyterhub.log") \
            if (room.settings.state_dir / "jupyterhub.log").exists() else None
        room.destroy()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


# -- helpers ----------------------------------------------------------------------------------------
def gradebook(room):
    from nbgrader.api import Gradebook
    return Gradebook(room.db_url, course_id=COURSE_ID)


def scores(room, assignment: str = ASSIGNMENT) -> dict[str, dict]:
    """Per student: autograded points, manual points, total (nbgrader's own score), from the gradebook."""
    out = {}
    with gradebook(room) as gb:
        for sub in gb.assignment_submissions(assignment):
            auto = sum(g.auto_score or 0 for nb in sub.notebooks for g in nb.grades if g.auto_score is not None
                       and g.manual_score is None)
            manual = sum(g.manual_score or 0 for nb in sub.notebooks for g in nb.grades if g.manual_score is not None)
            out[sub.student.id] = {"auto": auto, "manual": manual, "score": sub.score,
                                   "needs_manual": sub.needs_manual_grade}
    return out


def do_work(room, login: str, level: str) -> None:
    """Fill the fetched notebook in ``login``'s home: every solution cell (full), some (partial) or none."""
    import nbformat
    home = Path(room.run_as(login, ["sh", "-c", "echo $HOME"]).stdout.strip())
    path = home / COURSE_ID / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    source = nbformat.read(ROOT / "solutions" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    markers = {"### BEGIN SOLUTION", "### END SOLUTION"}  # a student's copy has none
    answers = {c.metadata["nbgrader"]["grade_id"]: "\n".join(
        line for line in c.source.splitlines() if line.strip() not in markers)
        for c in source.cells if c.metadata.get("nbgrader", {}).get("solution")}
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers and (level == "full" or (level == "partial" and gid in PARTIAL)):
            cell.source = answers[gid]
    nbformat.write(nb, path)
    shutil.chown(path, login, login)


def login(browser, room, who: str):
    """A browser context logged in to the hub as ``who`` (the hub's PAM login form)."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    page = ctx.new_page()
    page.goto(f"{room.settings.url}/hub/login", timeout=60_000)
    page.fill("#username_input", who)
    page.fill("#password_input", room.settings.roster.member(who).password)
    page.click("#login_submit")
    return ctx, page


def open_assignments_tab(page):
    page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
    page.wait_for_selector(".jp-LauncherCard", timeout=120_000)
    page.keyboard.press("ControlOrMeta+Shift+c")
    page.click('#modal-command-palette li[data-command="nbgrader:open-assignment-list"]')
    page.wait_for_selector("#released_assignments_list", timeout=60_000)


def wait_rows(page, name: str, n: int, timeout: float = 60):
    rows = page.locator(f"#{name}_assignments_list > .list_item")
    deadline = time.monotonic() + timeout
    while rows.count() != n:
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} list has {rows.count()} rows, expected {n}:\n"
                                 + page.inner_text("body")[:2000])
        page.wait_for_timeout(300)
    return rows


def formgrader_api(room, token: str, method: str, path: str, body: dict | None = None):
    req = urllib.request.Request(f"{room.settings.url}/services/{COURSE_ID}/formgrader/api{path}",
                                 method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"null")


def grade(room, **kw):
    s = room.settings
    return grade_collected(s.course_root, room.db_url, **kw, run=lambda cmd, cwd: room.run_as(
        s.roster.grader, cmd, cwd=cwd, env=room.hub_env(s.roster.grader, s.service_token), check=False))


TINY = "00_class_check"  # a one-exercise assignment: the concurrency and failure tests grade it in seconds


def tiny_notebook():
    """One autograded exercise (1 point; its hidden test records what it asserts) and one written answer."""
    import nbformat
    from coursekit import cell, notebook

    return nbformat.writes(notebook([
        cell("# Class check\nWrite `double(x)`.", "intro", markdown=True),
        cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION", "double", solution=True),
        cell("from gradlab.observe import record\nassert double(3) == 6\n"
             "### BEGIN HIDDEN TESTS\nassert double(-2.5) == -5.0\n"
             "record(\"double/values\", [double(3), double(-2.5)])\n### END HIDDEN TESTS",
             "test_double", grade=True, points=1),
        cell("Doubling twice quadruples.", "explain", markdown=True, solution=True, grade=True, points=2),
    ]))


@pytest.fixture(scope="module")
def tiny(room):
    """The tiny assignment released, fetched, worked (full / full / blank), submitted, collected, graded."""
    s = room.settings
    src = s.course_root / "solutions" / TINY
    room.run_as(s.roster.grader, ["mkdir", "-p", str(src)])
    (src / "check.ipynb").write_text(tiny_notebook())
    shutil.chown(src / "check.ipynb", s.roster.grader, s.roster.grader)
    room.grader_nbgrader("generate_assignment", TINY, "--force")
    room.grader_nbgrader("release_assignment", TINY, "--force")
    students = [m.login for m in s.roster.students]
    for who, level in zip(students, ["full", "full", "blank"]):
        token = room.user_token(who)
        room.student_nbgrader(who, "fetch_assignment", TINY, "--course", COURSE_ID, token=token)
        if level == "full":
            path = f"$HOME/{COURSE_ID}/{TINY}/check.ipynb"
            room.run_as(who, ["sh", "-c", f"sed -i 's/raise NotImplementedError(.*)/return 2 * x/' {path}"])
        room.student_nbgrader(who, "submit", TINY, "--course", COURSE_ID, token=token)
    room.grader_nbgrader("collect", TINY)
    grade(room, assignment=TINY)
    got = scores(room, TINY)
    assert [got[w]["auto"] for w in students] == [1, 1, 0], got
    return students


# -- the tests --------------------------------------------------------------------------------------
@pytest.mark.hub
@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.timeout(600)
def test_release_fetch_submit_grade_formgrader_feedback_export(room, browser):
    s = room.settings
    students = [m.login for m in s.roster.students]
    instructor = next(m.login for m in s.roster.staff if m.role.value == "instructor")
    course = s.course_root
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    t_release = time.perf_counter()
    room.grader_nbgrader("release_assignment", ASSIGNMENT, "--force")

    # student 1 in the browser: hub login -> their server -> Assignments tab -> Fetch -> Submit
    t0 = time.perf_counter()
    ctx, page = login(browser, room, students[0])
    open_assignments_tab(page)
    TIMINGS["student_server_start_via_browser_s"] = time.perf_counter() - t0
    rows = wait_rows(page, "released", 1)
    assert ASSIGNMENT in rows.first.inner_text()
    rows.first.locator(".item_status button").click()  # Fetch
    wait_rows(page, "fetched", 1)
    page.screenshot(path=str(ARTIFACTS / "student_assignments_tab.png"))
    do_work(room, students[0], "full")
    wait_rows(page, "fetched", 1).first.locator('.item_status button:text("Submit")').click()
    wait_rows(page, "submitted", 1)
    page.screenshot(path=str(ARTIFACTS / "student_submitted.png"))

    # students 2 and 3: their servers through the hub API, the nbgrader CLI as each Unix user
    TIMINGS["student_server_start_api_s"] = room.start_server(students[1])
    for who, level in [(students[1], "partial"), (students[2], "blank")]:
        token = room.user_token(who)
        room.student_nbgrader(who, "fetch_assignment", ASSIGNMENT, "--course", COURSE_ID, token=token)
        do_work(room, who, level)
        room.student_nbgrader(who, "submit", ASSIGNMENT, "--course", COURSE_ID, token=token)

    # the instructor collects and grades into the PostgreSQL gradebook
    room.grader_nbgrader("collect", ASSIGNMENT)
    assert sorted(p.name for p in (course / "submitted").iterdir()) == sorted(students)
    t0 = time.perf_counter()
    grade(room)
    TIMINGS["grade_3_students_s"] = time.perf_counter() - t0
    got = scores(room)
    assert set(got) == set(students)
    full, partial, blank = (got[x]["auto"] for x in students)
    assert full > partial > 0 and blank == 0, got

    # formgrader in the browser shows the scores; the instructor gives manual points to the written answer
    ictx, ipage = login(browser, room, instructor)
    ipage.wait_for_url("**/user/**", timeout=120_000)
    fg = f"{s.url}/services/{COURSE_ID}/formgrader"
    ipage.goto(f"{fg}/manage_submissions/{ASSIGNMENT}", timeout=120_000)
    ipage.wait_for_selector("td.student-id", timeout=60_000)
    for who in students:  # each row shows that student's gradebook score
        row = ipage.locator("tr", has_text=who).inner_text()
        assert f"{got[who]['score']:g} / " in row, (who, row, got[who])
    subs = json.loads(ipage.request.get(f"{fg}/api/submitted_notebooks/{ASSIGNMENT}/{NOTEBOOK}").text())
    sid = next(x["id"] for x in subs if x["student"] == students[0])
    ipage.goto(f"{fg}/submissions/{sid}/?index=0", timeout=60_000)
    box = ipage.locator(f"input.score#{WRITTEN}")
    box.wait_for(timeout=60_000)
    ipage.wait_for_load_state("networkidle")  # formgrade.js has loaded the grades and bound its inputs
    box.fill("2")
    box.press("Tab")  # the change event saves the grade (PUT /formgrader/api/grade/<id>)
    deadline = time.monotonic() + 30
    while scores(room)[students[0]]["manual"] != 2:
        assert time.monotonic() < deadline, "formgrader did not save the manual grade"
        time.sleep(0.3)
    ipage.screenshot(path=str(ARTIFACTS / "formgrader_manual_grade.png"), full_page=False)
    ipage.goto(f"{fg}/manage_submissions/{ASSIGNMENT}")
    ipage.wait_for_selector("td.student-id")
    row = ipage.locator("tr", has_text=students[0]).inner_text()
    assert f"{full + 2:g} / " in row, row  # autograded + the manual points
    ipage.screenshot(path=str(ARTIFACTS / "formgrader_scores.png"))
    ictx.close()

    # feedback: generated and released by the grader, fetched by each student, their own only
    # (python -m autograder feedback: the gradebook's points and comments, never the hidden tests)
    room.run_as(s.roster.grader, ["python", "-m", "autograder", "feedback", str(course / "autograder-out"),
                                  "--course", str(course)], cwd=course, env=room.hub_env(s.roster.grader, s.service_token))
    room.grader_nbgrader("release_feedback", ASSIGNMENT)
    final = scores(room)
    pages = {}
    for who in students:
        room.student_nbgrader(who, "fetch_feedback", ASSIGNMENT, "--course", COURSE_ID)
        home = Path(room.run_as(who, ["sh", "-c", "echo $HOME"]).stdout.strip())
        found = sorted(home.glob(f"{COURSE_ID}/{ASSIGNMENT}/feedback/*/{NOTEBOOK}.html"))  # timestamps have spaces
        assert len(found) == 1, found
        pages[who] = str(found[0])
        html = room.run_as(who, ["cat", pages[who]]).stdout
        assert f"{final[who]['score']:g} / " in html, (who, final[who])
        assert "BEGIN HIDDEN TESTS" not in html
    TIMINGS["release_to_feedback_3_students_s"] = time.perf_counter() - t_release
    for who, other in [(students[1], students[0]), (students[2], students[1])]:
        assert room.run_as(who, ["cat", pages[other]], check=False).returncode != 0, \
            f"{who} could read {other}'s feedback"
    # the fetched feedback page, in student 1's browser session
    rel = pages[students[0]].split(f"/{students[0]}/", 1)[1]
    page.goto(f"{s.url}/user/{students[0]}/files/{urllib.parse.quote(rel)}", timeout=60_000)
    page.wait_for_selector("div.score", timeout=30_000)   # "<points> / <max> points"
    page.screenshot(path=str(ARTIFACTS / "student_feedback.png"))
    ctx.close()

    # the exported CSV: autograded + manual points for every student
    room.grader_nbgrader("export", "--to", str(course / "grades.csv"))
    with open(course / "grades.csv") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f) if r["assignment"] == ASSIGNMENT}
    assert set(rows) == set(students)
    for who in students:
        assert float(rows[who]["score"]) == pytest.approx(final[who]["auto"] + final[who]["manual"]), rows[who]
    assert float(rows[students[0]]["score"]) == pytest.approx(full + 2)


@pytest.mark.hub
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_students_cannot_read_others_work_solutions_or_gradebook(room, tiny):
    s = room.settings
    me, other = tiny[1], tiny[0]
    other_home = Path(room.run_as(other, ["sh", "-c", "echo $HOME"]).stdout.strip())
    inbound = s.exchange / COURSE_ID / "inbound"
    other_inbound = next(p for p in inbound.iterdir() if p.name.startswith(f"{other}+{TINY}+"))
    # nbgrader's exchange model: inbound is 0733 (no listing) and each submission's folder name ends
    # in 12 random bytes, so another student cannot find it (its files are 0644 for the grader's
    # collect: whoever knows the full name could read them; ngshare closes that, deploy/README.md)
    student_, assignment_, timestamp_, random_ = other_inbound.name.split("+")
    assert (student_, assignment_) == (other, TINY) and len(random_) >= 12, other_inbound.name
    guessed = inbound / "+".join([student_, assignment_, timestamp_])
    denied = {
        "another student's home": ["ls", str(other_home)],
        "another student's notebook": ["cat", str(other_home / COURSE_ID / TINY / "check.ipynb")],
        "the exchange's inbound listing": ["ls", str(inbound)],
        "another student's inbound submission, named without its random part": ["cat", str(guessed / "check.ipynb")],
        "another student's inbound submission, by glob": ["sh", "-c", f"cat '{inbound}/{other}'+*/*.ipynb"],
        "the course's solutions/": ["ls", str(s.course_root / "solutions")],
        "the course's source notebook": ["cat", str(s.course_root / "solutions" / TINY / "check.ipynb")],
        "the checkout's solutions/": ["ls", str(ROOT / "solutions")],
        "the grader's nbgrader config (gradebook password)": ["cat", str(s.grader_home / ".jupyter" / "nbgrader_config.py")],
    }
    for what, cmd in denied.items():
        proc = room.run_as(me, cmd, check=False)
        assert proc.returncode != 0, f"{me} could read {what}: {proc.stdout[:200]}"
    # negative self-test: the same commands as the owner do succeed, so a denial above is a denial
    assert room.run_as(other, ["cat", str(other_home / COURSE_ID / TINY / "check.ipynb")]).returncode == 0
    assert room.run_as(s.roster.grader, ["ls", str(s.course_root / "solutions")]).returncode == 0
    # the gradebook: PostgreSQL asks every login for a password; the student has none
    probe = ("import psycopg, sys\n"
             "for user in ('gradlab', 'postgres'):\n"
             "    try:\n"
             f"        psycopg.connect(host='127.0.0.1', port={room.cluster.port}, dbname='gradlab', user=user, connect_timeout=5)\n"
             "        print('CONNECTED as', user); sys.exit(1)\n"
             "    except psycopg.OperationalError as e:\n"
             "        print('refused:', e)\n")
    proc = room.run_as(me, [f"{s.member_bin}/python", "-c", probe], check=False)
    assert proc.returncode == 0 and "CONNECTED" not in proc.stdout and "refused" in proc.stdout, \
        proc.stdout + proc.stderr
    import psycopg  # with the password (the grader's), the gradebook does open
    with psycopg.connect(room.db_url.replace("postgresql+psycopg", "postgresql")) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
    # and formgrader is closed to students (not in formgrade-gradlab)
    with pytest.raises(urllib.error.HTTPError) as e:
        formgrader_api(room, room.user_token(me), "GET", "/assignments")
    assert e.value.code == 403


@pytest.mark.hub
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_grading_while_formgrader_writes_manual_grades(room, tiny):
    """Several submissions regraded while a formgrader session writes manual grades: nothing lost."""
    s = room.settings
    instructor = next(m.login for m in s.roster.staff if m.role.value == "instructor")
    token = room.user_token(instructor)
    written = {}
    for sub in formgrader_api(room, token, "GET", f"/submitted_notebooks/{TINY}/check"):
        grades = formgrader_api(room, token, "GET", f"/grades?submission_id={sub['id']}")
        written[sub["student"]] = next(g["id"] for g in grades if g["name"] == "explain")
    assert set(written) == set(tiny)
    errors, writes, done = [], {}, threading.Event()

    def manual_grading():  # keep writing until the grader is done; the last value per student must stay
        i = 0
        while not done.is_set() or i < 2 * len(tiny):
            who = tiny[i % len(tiny)]
            value = float(i % 3)
            try:
                formgrader_api(room, token, "PUT", f"/grade/{written[who]}",
                               {"manual_score": value, "extra_credit": None})
                writes[who] = value
            except Exception as e:  # noqa: BLE001 — every failure is a finding
                errors.append(repr(e))
            i += 1
            time.sleep(0.05)

    before = scores(room, TINY)
    t = threading.Thread(target=manual_grading)
    t.start()
    try:
        proc = grade(room, assignment=TINY)
    finally:
        done.set()
        t.join(60)
    assert not errors, errors[:3]
    text = (proc.stdout + proc.stderr).lower()
    assert "deadlock" not in text and "could not obtain lock" not in text and "traceback" not in text, text[-2000:]
    after = scores(room, TINY)
    for who in tiny:
        assert after[who]["manual"] == writes[who], (who, after[who], writes[who])
        assert after[who]["auto"] == before[who]["auto"], (who, before[who], after[who])


@pytest.mark.hub
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_postgres_stopped_mid_grading_then_rerun(room, tiny):
    s = room.settings
    expected = {who: v["auto"] for who, v in scores(room, TINY).items()}
    autograded = s.course_root / "autograded"
    result = {}

    def run():
        try:
            # one notebook at a time: the database goes away while the batch still has work to record
            result["proc"] = grade(room, assignment=TINY, jobs=1)
        except ClassError as e:
            result["error"] = str(e)

    started = {p.name: (p / TINY).stat().st_mtime for p in autograded.iterdir() if (p / TINY).exists()}
    t = threading.Thread(target=run)
    t.start()
    deadline = time.monotonic() + 300
    # wait until the first submission has been regraded, then take the database away
    while t.is_alive() and not any((autograded / w / TINY).exists() and (autograded / w / TINY).stat().st_mtime
                                   > started.get(w, 0) for w in tiny):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    room.cluster.stop("immediate")
    t.join(600)
    assert "error" in result, "grading went on without its gradebook"
    msg = result["error"]
    grader_output = msg.split("\n", 1)[1]  # what the grading command itself said
    assert f"port {room.cluster.port}" in grader_output or f":{room.cluster.port}" in grader_output, msg[-1500:]
    password = room.db_url.split("://", 1)[1].split("@")[0].split(":", 1)[1]
    assert password not in msg, "the error shows the gradebook password"

    room.cluster.start()
    # nothing half written: every submitted notebook has all its grades, each with a score or none at all
    with gradebook(room) as gb:
        cells = {g.name for g in gb.find_notebook("check", TINY).grade_cells}
        for sub in gb.assignment_submissions(TINY):
            for nb in sub.notebooks:
                assert {g.name for g in nb.grades} == cells, (sub.student.id, [g.name for g in nb.grades])
    grade(room, assignment=TINY)
    assert {who: v["auto"] for who, v in scores(room, TINY).items()} == expected
    assert all((autograded / w / TINY / "check.ipynb").exists() for w in tiny)


@pytest.mark.hub
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_make_class_prints_logins_and_stops_cleanly_on_ctrl_c():
    """``make class`` = ``python -m hub.classroom``: up, the logins printed, Ctrl-C leaves nothing behind."""
    import pwd
    import re
    import signal
    import socket
    _require_class()
    prefix = f"glc{secrets.token_hex(2)}-"
    proc = subprocess.Popen([sys.executable, "-m", "hub.classroom", "--prefix", prefix, "--students", "1",
                             "--release", ""], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    out = []
    try:
        for line in proc.stdout:
            out.append(line)
            if "Ctrl-C stops everything" in line:
                break
        text = "".join(out)
        url = re.search(r"running at (http://127\.0\.0\.1:\d+)", text).group(1)
        for who in ("instructor", "ta", "student1"):
            assert re.search(rf"{prefix}{who}\s+password \S+", text), text
        with urllib.request.urlopen(f"{url}/hub/login", timeout=30) as r:
            assert r.status == 200
        pg_port = int(re.search(r"@127\.0\.0\.1:(\d+)/gradlab", text).group(1))
        exchange = Path(re.search(r"exchange\s+: (\S+)", text).group(1))
    finally:
        proc.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal sends
        rest = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0, "".join(out) + rest
    for who in ("instructor", "ta", "student1", "grader"):
        with pytest.raises(KeyError):
            pwd.getpwnam(prefix + who)
    assert not exchange.parent.exists(), f"{exchange.parent} left behind"
    for port in (pg_port, int(url.rsplit(":", 1)[1])):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"


# -- beyond one machine: deploy/ is checked here, not deployed ----------------------------------------
DEPLOY = ROOT / "deploy"


def unknown_z2jh_keys(values: dict, keys: set[str], prefix: str = "") -> list[str]:
    """Dotted keys of ``values`` that the chart's schema does not have (lists and open maps: not entered)."""
    bad = []
    for name, value in values.items():
        key = f"{prefix}.{name}" if prefix else name
        if key not in keys:
            bad.append(key)
            continue
        if isinstance(value, dict) and f"{key}.*" not in keys:
            bad += unknown_z2jh_keys(value, keys, key)
    return bad


def test_z2jh_values_use_only_keys_of_the_chart_schema():
    import yaml
    lines = (DEPLOY / "z2jh" / "schema-keys.txt").read_text().splitlines()
    assert lines[0].startswith("# z2jh values.schema.yaml keys"), lines[0]
    keys = set(lines[1:])
    values = yaml.safe_load((DEPLOY / "z2jh" / "values.yaml").read_text())
    assert unknown_z2jh_keys(values, keys) == []
    # the checker catches a misspelt key at any depth (negative self-test)
    assert unknown_z2jh_keys({"singleuser": {"storage": {"extraVolume": []}}, "hubb": {}}, keys) == \
        ["singleuser.storage.extraVolume", "hubb"]
    # the same nbgrader setup as `make class`
    config = values["singleuser"]["extraFiles"]["nbgrader-config"]["stringData"]
    assert "JupyterHubAuthPlugin" in config and "path_includes_course = True" in config
    assert set(values["hub"]["loadRoles"]) >= {f"formgrade-{COURSE_ID}", f"nbgrader-{COURSE_ID}"}
    assert values["hub"]["services"][COURSE_ID]["url"]


def test_kernels_get_the_same_environment_from_make_class_and_z2jh():
    """What a member's kernel runs with (one torch thread on a shared machine, inline figures, no
    progress bars) is set twice, in the class hub's config and in the chart's values: the same."""
    import ast

    import yaml
    tree = ast.parse((ROOT / "hub" / "jupyterhub_config.py").read_text())
    base = next(n.value for n in ast.walk(tree) if isinstance(n, ast.Assign)
                and any(getattr(t, "id", None) == "BASE_ENV" for t in n.targets))
    make_class = {k.value: v.value for k, v in zip(base.keys, base.values) if isinstance(v, ast.Constant)}
    values = yaml.safe_load((DEPLOY / "z2jh" / "values.yaml").read_text())
    assert make_class == values["singleuser"]["extraEnv"]
    assert make_class["OMP_NUM_THREADS"] == make_class["MKL_NUM_THREADS"] == "1"


def test_course_service_manifest_uses_the_postgresql_gradebook_and_the_course_layout():
    import yaml
    docs = list(yaml.safe_load_all((DEPLOY / "z2jh" / "course-service.yaml").read_text()))
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]["nbgrader_config.py"]
    assert 'db_url = os.environ["GRADLAB_GRADEBOOK_URL"]' in config
    assert "ClearHiddenTests" in config  # feedback pages without hidden tests, as on one machine
    for line in ['source_directory = "solutions"', 'release_directory = "course"', f'course_id = "{COURSE_ID}"']:
        assert line in config and line.replace('"', "'").split("=")[1].strip().strip("'") in \
            (ROOT / "autograder" / "nbgrader_config.py").read_text(), line
    env = {e["name"] for e in next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
           ["containers"][0]["env"]}
    assert {"JUPYTERHUB_API_TOKEN", "GRADLAB_GRADEBOOK_URL", "JUPYTERHUB_SERVICE_NAME"} <= env


def test_singleuser_image_pins_the_course_environment_plus_the_hub_extra():
    import tomllib

    import yaml
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((DEPLOY / "image" / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "python=3.11" in env["dependencies"]
    assert sorted(pip) == sorted(project["dependencies"] + project["optional-dependencies"]["hub"])
    root_env = yaml.safe_load((ROOT / "environment.yml").read_text())
    root_pip = next(d["pip"] for d in root_env["dependencies"] if isinstance(d, dict))
    assert [p for p in root_pip if not p.startswith("-")] == [p for p in pip if p in root_pip]
    constraints = (ROOT / "constraints.txt").read_text().splitlines()
    for pin in project["optional-dependencies"]["hub"]:
        assert pin in constraints, f"{pin} missing from constraints.txt (make lock)"
    post = (DEPLOY / "image" / "postBuild").read_text()
    assert "rm -rf solutions" in post and os.access(DEPLOY / "image" / "postBuild", os.X_OK)
