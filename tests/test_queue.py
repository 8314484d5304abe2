"""Grading on several machines: the procrastinate queue on the course's PostgreSQL (autograder/workqueue.py,
autograder/service.py, ``worker`` / ``serve`` / ``grade --queue``).

A throwaway PostgreSQL cluster (``hub.postgres.Cluster``) for the module, one database per test. The
course is one tiny assignment (``test_hub.tiny_notebook``: one autograded exercise, one written
answer), so each sandboxed run takes a few seconds on this 2-core machine. Figures (submit → feedback,
throughput against ``grade --jobs``) go to ``artifacts/queue/figures.json``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from coursekit import ROOT

sys.path.insert(0, str(ROOT))
from conftest import require, sandbox_problem  # noqa: E402
from test_hub import tiny_notebook  # noqa: E402

from autograder.course import Course as GradingCourse  # noqa: E402

ASSIGNMENT = "00_class_check"
ARTIFACTS = ROOT / "artifacts" / "queue"
PY = sys.executable


def _postgres_problem() -> str | None:
    from hub.postgres import find_bin_dir
    if find_bin_dir() is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) not found"
    try:
        import procrastinate  # noqa: F401
        import psycopg  # noqa: F401
    except ImportError as e:
        return f"{e.name} is not installed (make hub-setup)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster():
    require("postgresql", _postgres_problem())
    import tempfile

    from hub.postgres import Cluster
    home = tempfile.mkdtemp(prefix="gradlab-queue-pg-")
    os.chmod(home, 0o711)   # the server may run as another user (postgres, when we are root)
    c = Cluster.create(Path(home) / "pg", port=_free_port())
    c.start()
    yield c
    c.remove()
    shutil.rmtree(home, ignore_errors=True)


def _sandbox():
    require("sandbox", sandbox_problem())


def student_notebook(who: str, full: bool) -> str:
    """The tiny notebook as a student submits it: the exercise done or not, and their own comment
    (so no two students' payloads are the same and no result is shared between them)."""
    nb = tiny_notebook().replace("return 2 * x", f"return 2 * x  # {who}" if full else "raise NotImplementedError()")
    return nb.replace("Doubling twice quadruples.", f"Doubling twice quadruples ({who}).")


@dataclasses.dataclass
class Course:
    root: Path
    db_url: str
    exchange: Path
    procs: list

    def config(self, **on_submit) -> None:
        lines = ["c = get_config()", f"c.CourseDirectory.db_url = {self.db_url!r}",
                 "c.CourseDirectory.course_id = 'gradlab'", f"c.Exchange.root = {str(self.exchange)!r}"]
        lines += [f"c.OnSubmit.{k} = {v!r}" for k, v in on_submit.items()]
        (self.root / "nbgrader_config.py").write_text("\n".join(lines) + "\n")

    def start(self, *args: str, log: str) -> subprocess.Popen:
        env = {**os.environ, "GRADLAB_PROGRESS": "0", "PATH": f"{Path(PY).parent}:{os.environ['PATH']}"}
        proc = subprocess.Popen([PY, "-m", "autograder", *args, "--course", str(self.root)], cwd=ROOT, env=env,
                                stdout=open(self.root.parent / log, "ab"), stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def submit(self, who: str, full: bool) -> dict:
        """What ``nbgrader submit`` leaves in the exchange (the notebook, timestamp.txt, submission_secret.txt)."""
        ts = time.strftime("%Y-%m-%d %H:%M:%S.") + f"{time.time() % 1:.6f}"[2:] + " UTC"
        folder = self.exchange / "gradlab" / "inbound" / f"{who}+{ASSIGNMENT}+{ts}+{secrets.token_hex(4)}"
        folder.mkdir(parents=True)
        (folder / "check.ipynb").write_text(student_notebook(who, full))
        (folder / "timestamp.txt").write_text(ts)
        secret = secrets.token_hex(64)
        (folder / "submission_secret.txt").write_text(secret)
        return {"who": who, "full": full, "secret": secret, "at": time.time(), "folder": folder}

    def page(self, sub: dict) -> Path:
        """Where ``nbgrader fetch_feedback`` looks for this submission's page."""
        from nbgrader.utils import notebook_hash
        return self.exchange / "gradlab" / "feedback" / (notebook_hash(secret=sub["secret"], notebook_id="check") + ".html")


@pytest.fixture
def course(cluster, tmp_path):
    name = "q" + secrets.token_hex(4)
    url = cluster.create_database(name, name, secrets.token_urlsafe(12))
    root = tmp_path / "course"
    (root / "solutions" / ASSIGNMENT).mkdir(parents=True)
    (root / "solutions" / ASSIGNMENT / "check.ipynb").write_text(tiny_notebook())
    (tmp_path / "exchange" / "gradlab" / "inbound").mkdir(parents=True)
    c = Course(root, url, tmp_path / "exchange", [])
    c.config()
    yield c
    for p in c.procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in c.procs:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def _reference_plan(seed_source=None):
    import nbformat

    from autograder import plan
    nb = nbformat.reads(seed_source or tiny_notebook(), as_version=4)
    return plan.reference(nb, assignment=ASSIGNMENT, notebook="check", skip_experiments=True,
                          stub=GradingCourse.load().stub)


# -- unit tests -------------------------------------------------------------------------------------
def test_payload_and_task_hold_no_batch_seed():
    from autograder import run, workqueue
    from autograder.limits import Limits
    seed = secrets.randbits(255)
    payload = run.build_payload(_reference_plan(), seed=seed, limits=Limits())
    task = workqueue.Task.make(payload, Limits(), "en", None)
    text = json.dumps(dataclasses.asdict(task))
    raw = seed.to_bytes(32, "big")
    import base64
    for form in (str(seed), raw.hex(), hex(seed)[2:], base64.b64encode(raw).decode()):
        assert form not in text, "the batch seed crossed the queue"
    request = json.loads(payload)
    keys = [c["key"] for c in request["cells"] if c["kind"] == "test"]
    assert keys and all(isinstance(k, str) and k for k in keys)   # each test cell got its one-way key
    assert request["results_fd"] == -1                             # the executing process sets its own
    # the key decides what is run: another seed (or language) is another task, the same is the same
    again = workqueue.Task.make(run.build_payload(_reference_plan(), seed=seed, limits=Limits()), Limits(), "en", None)
    other = workqueue.Task.make(run.build_payload(_reference_plan(), seed=seed + 1, limits=Limits()), Limits(), "en", None)
    assert again.key == task.key != other.key != workqueue.Task.make(payload, Limits(), "zh_CN", None).key


def test_a_workers_raw_run_is_read_as_hostile_data():
    from autograder import run
    from autograder.limits import MB, Limits
    lines = b"".join(json.dumps(d).encode() + b"\n" for d in ({"index": 1, "grade_id": "t", "outcome": "ok"},
                                                                 {"done": True}))
    good = run.RawRun(lines, len(lines), b"", 0, False, 1.0, 0)
    out = run.read(run.RawRun.from_json(json.loads(json.dumps(good.to_json()))), Limits())
    assert out.status.code == "graded" and [c.index for c in out.cells] == [1]
    # wrong types read as absent; results past the cap are dropped and said so; OOM kills make it memory
    bad = run.RawRun.from_json({"results": 5, "returncode": "x", "timed_out": "yes", "seconds": -3, "oom_kills": [1]})
    assert (bad.results, bad.returncode, bad.timed_out, bad.seconds, bad.oom_kills) == (b"", None, False, 0.0, 0)
    assert run.read(bad, Limits()).status.code == "kernel_died"
    big = run.RawRun(lines + b"x" * (2 * MB), 3 * MB, b"", 0, False, 1.0, 0)
    small = dataclasses.replace(Limits(), result_mb=1)
    assert "exceeded 1 MB" in " ".join(run.read(big, small).notes)
    oom = dataclasses.replace(good, oom_kills=1)
    assert run.read(oom, Limits()).status.code == "memory"


def test_worker_without_sandbox_refuses_and_says_why(tmp_path):
    venv_bin = str(Path(PY).parent)   # no bwrap on this PATH: the sandbox cannot start
    proc = subprocess.run([PY, "-m", "autograder", "worker", "--db-url", "postgresql+psycopg://x:y@127.0.0.1:9/x"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PATH": venv_bin, "HOME": str(tmp_path)})
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "refusing to take work" in proc.stderr and "bubblewrap" in proc.stderr, proc.stderr[-2000:]


def test_on_submit_policy_score_page_and_exchange_scan(tmp_path):
    from traitlets.config import Config

    from autograder import service
    cfg = Config()
    assert service.Policy.of(cfg) == service.Policy("none", 3)   # nothing before the deadline, as before
    cfg.OnSubmit.feedback_policy, cfg.OnSubmit.feedbacks_per_hour = "score", 2
    policy = service.Policy.of(cfg)
    assert policy == service.Policy("score", 2)
    for bad in ({"feedback_policy": "all"}, {"feedbacks_per_hour": 0}):
        c = Config()
        for k, v in bad.items():
            setattr(c.OnSubmit, k, v)
        with pytest.raises(ValueError):
            service.Policy.of(c)
    # the hourly limit: a third page within the hour waits for the first to be an hour old
    assert policy.next_allowed([], 0.0) is None and policy.next_allowed([10.0], 20.0) is None
    assert policy.next_allowed([10.0, 20.0, 4000.0], 4100.0) is None
    assert policy.next_allowed([10.0, 3000.0, 3500.0], 3600.0) == 3000.0 + 3600.0

    # the exchange's inbound names; a link or a malformed name is no submission
    inbound = tmp_path / "inbound"
    for name in ("ann+00_class_check+2026-12-06 10:00:00.000001 UTC+ab12", "bob+00_class_check+2026-12-06 10:01:00 UTC",
                 "junk", "a+b"):
        (inbound / name).mkdir(parents=True)
    (inbound / "eve+00_class_check+2026-12-06 10:02:00 UTC").symlink_to(tmp_path)
    found = service.Inbound.scan(str(inbound))
    assert [(s.student_id, s.assignment) for s in found] == [("ann", ASSIGNMENT), ("bob", ASSIGNMENT)]
    # staging copies regular files only, never through a link
    src = inbound / found[0].name
    (src / "check.ipynb").write_text("{}")
    (tmp_path / "secret.txt").write_text("the grader's")
    (src / "leak.ipynb").symlink_to(tmp_path / "secret.txt")
    service._stage(str(src), str(tmp_path / "staged"))
    assert sorted(os.listdir(tmp_path / "staged")) == ["check.ipynb"]

    # the score page: pass/fail and points per cell, never a test's message (hidden or not)
    from autograder.records import CellVerdict, NotebookResult, Status, SubmissionResult
    record = SubmissionResult("s", ASSIGNMENT, Status.GRADED, [NotebookResult("check", Status.GRADED, [
        CellVerdict("test_double", 0.0, 1.0, False, "double(-2.5) should be -5.0 <hidden input>", "AssertionError"),
        CellVerdict("explain", 0.0, 2.0, False, kind="answer", needs_manual_grade=True)])])
    page = service.score_page(found[0], record, "check")
    assert "test_double" in page and "failed" in page and "0 / 1" in page and "by hand" in page
    assert "double(-2.5)" not in page and "AssertionError" not in page and "<hidden" not in page


@pytest.mark.hub
@pytest.mark.timeout(300)
def test_a_task_that_fails_every_time_gets_an_error_row_and_the_rest_goes_on(course):
    _sandbox()
    from autograder import run, workqueue
    from autograder.limits import Limits
    course.start("worker", "--jobs", "1", log="worker.log")
    runner = workqueue.QueueRunner(course.db_url)
    try:
        broken = workqueue.Task(key="broken-" + secrets.token_hex(8), payload="[]", limits=dataclasses.asdict(Limits()),
                            lang="en", assets={})   # execute refuses it: an exception in the worker, each time
        good = workqueue.Task.make(run.build_payload(_reference_plan(), seed=secrets.randbits(255), limits=Limits()),
                               Limits(), "en", None)
        f_broken, f_good = runner.submit(broken, Limits()), runner.submit(good, Limits())
        out = f_broken.result(timeout=200)
        assert out.status.code == "error"
        assert f"failed on the grading workers {workqueue.MAX_ATTEMPTS} times" in out.notes[0], out.notes
        ok = f_good.result(timeout=200)
        assert ok.status.code == "graded" and ok.cells, ok
        import psycopg
        with psycopg.connect(workqueue.conninfo(course.db_url)) as conn:
            assert conn.execute("SELECT attempts, status FROM procrastinate_jobs WHERE args->>'key' = %s",
                                (broken.key,)).fetchone() == (workqueue.MAX_ATTEMPTS, "failed")
            assert conn.execute("SELECT count(*) FROM gradlab_results").fetchone()[0] == 2
    finally:
        runner.close()
    with psycopg.connect(workqueue.conninfo(course.db_url)) as conn:   # the batch's raw outputs went with it
        assert conn.execute("SELECT count(*) FROM gradlab_results").fetchone()[0] == 0


@pytest.mark.hub
@pytest.mark.timeout(300)
def test_on_submit_visible_policy_releases_the_grade_page_and_a_held_page_over_the_limit(course):
    """``visible``: the page ``grade`` writes (no hidden-test text) where fetch_feedback finds it;
    a second submission within the hour, over a limit of 1, gets a page saying when instead."""
    _sandbox()
    course.config(feedback_policy="visible", feedbacks_per_hour=1)
    course.start("worker", "--jobs", "1", log="worker.log")
    course.start("serve", "--interval", "1", log="serve.log")
    first = course.submit("ann", full=False)
    deadline = time.time() + 240
    while not course.page(first).exists():
        assert time.time() < deadline, (course.root.parent / "serve.log").read_text()[-3000:]
        time.sleep(0.2)
    page = course.page(first).read_text()
    assert "test_double" in page or "double" in page
    assert "-2.5" not in page and "record(" not in page   # the hidden test's input and text stay hidden
    second = course.submit("ann", full=True)
    while not course.page(second).exists():
        assert time.time() < deadline, (course.root.parent / "serve.log").read_text()[-3000:]
        time.sleep(0.2)
    held = course.page(second).read_text()
    assert "feedbacks in the last hour" in held and "UTC" in held
    state = json.loads((course.root / ".on-submit" / "state.json").read_text())
    assert state["seen"][second["folder"].name]["status"] == "held"
    assert state["seen"][first["folder"].name]["status"] == "released"


@pytest.mark.hub
@pytest.mark.timeout(300)
def test_on_submit_page_reaches_the_student_through_nbgrader_submit_and_fetch_feedback(course, tmp_path):
    """The student's side with nbgrader's own commands: ``nbgrader submit`` puts the work in the
    exchange, ``serve`` grades it through a worker, and ``nbgrader fetch_feedback`` (what
    JupyterLab's Assignments tab runs) brings the page into the student's folder."""
    _sandbox()
    course.config(feedback_policy="visible", feedbacks_per_hour=5)
    outbound = course.exchange / "gradlab" / "outbound" / ASSIGNMENT   # what release_assignment leaves
    outbound.mkdir(parents=True)
    (outbound / "check.ipynb").write_text(student_notebook("blank", full=False))
    home = tmp_path / "student"
    (home / ASSIGNMENT).mkdir(parents=True)
    (home / ASSIGNMENT / "check.ipynb").write_text(student_notebook("amy", full=False))
    flags = ["--course", "gradlab", f"--Exchange.root={course.exchange}", f"--Exchange.cache={tmp_path / 'cache'}"]
    env = {**os.environ, "PATH": f"{Path(PY).parent}:{os.environ['PATH']}"}

    def nbgrader(*args: str, check: bool = True) -> str:
        done = subprocess.run([PY, "-m", "nbgrader", *args, *flags], cwd=home, env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0 or not check, done.stdout[-2000:] + done.stderr[-2000:]
        return done.stdout + done.stderr

    course.start("worker", "--jobs", "1", log="worker.log")
    course.start("serve", "--interval", "1", log="serve.log")
    nbgrader("submit", ASSIGNMENT)
    deadline = time.time() + 240
    pages: list[Path] = []
    while not pages:
        assert time.time() < deadline, (course.root.parent / "serve.log").read_text()[-3000:]
        time.sleep(1)
        said = nbgrader("fetch_feedback", ASSIGNMENT, check=False)   # fails while no page is released
        pages = list((home / ASSIGNMENT / "feedback").glob("*/check.html"))
    page = pages[0].read_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "fetched_feedback.html").write_text(page)   # what the student's folder now holds
    assert "test_double" in page or "double" in page, page[:2000] + said
    assert "-2.5" not in page and "record(" not in page   # the hidden test's input and text stay hidden


# -- the done-when scenario ---------------------------------------------------------------------------
def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def _local_scores(course: Course, subs: list[dict], tmp: Path) -> dict[str, float]:
    """The same submissions graded by a local ``grade`` (its own course folder and SQLite gradebook)."""
    from autograder import pipeline
    local = tmp / "local-course"
    shutil.copytree(course.root / "solutions", local / "solutions")
    staged = tmp / "local-submitted"
    for s in subs:
        d = staged / s["who"] / ASSIGNMENT
        d.mkdir(parents=True)
        for name in ("check.ipynb", "timestamp.txt"):
            shutil.copy(s["folder"] / name, d / name)
    batch = pipeline.Batch(str(staged), str(tmp / "local-out"), source=str(local / "solutions"), jobs=2,
                           target=GradingCourse.load(str(local), None), echo=lambda m: None)
    return {r.student_id: r.score for r in batch.grade()}


@pytest.mark.hub
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_on_submit_burst_with_a_killed_worker_and_a_postgres_restart(course, cluster, tmp_path):
    """2 workers + the course service; 20 submissions in under a minute; one worker SIGKILLed while it
    runs a notebook, PostgreSQL restarted once: every student gets their own page, each submission is
    recorded once, and the scores are a local ``grade``'s."""
    _sandbox()
    import psycopg

    from autograder import workqueue
    course.config(feedback_policy="score", feedbacks_per_hour=5)
    workers = [course.start("worker", "--jobs", "1", log=f"worker{i}.log") for i in range(2)]
    course.start("serve", "--interval", "1", log="serve.log")
    time.sleep(3)   # the service has read the exchange once

    # idle: one submission, nothing else queued
    idle = []
    for i in range(2):
        s = course.submit(f"idle{i}", full=True)
        while not course.page(s).exists():
            assert time.time() - s["at"] < 120, (tmp_path / "serve.log").read_text()[-3000:]
            time.sleep(0.1)
        idle.append(time.time() - s["at"])

    # the burst: 20 students within a minute (one every 2.5 s)
    subs, killed, restarted = [], False, False
    start = time.time()
    latency: dict[str, float] = {}
    while len(latency) < 20:
        now = time.time()
        if len(subs) < 20 and now - start >= 2.5 * len(subs):
            subs.append(course.submit(f"s{len(subs):02d}", full=len(subs) % 3 != 2))
        for s in subs:
            if s["who"] not in latency and course.page(s).exists():
                latency[s["who"]] = time.time() - s["at"]
        if not killed and _children(workers[0].pid):   # a sandbox is running under worker 0: kill it there
            os.kill(workers[0].pid, signal.SIGKILL)
            workers[0].wait()
            killed = time.time()
            course.start("worker", "--jobs", "1", log="worker2.log")   # as its Deployment would restart it
        if killed and not restarted and len(latency) >= 6:
            cluster.stop("fast")
            time.sleep(2)
            cluster.start()
            restarted = time.time()
        assert time.time() - start < 420, f"{len(latency)}/20 pages; service log:\n" + \
            (tmp_path / "serve.log").read_text()[-4000:]
        time.sleep(0.1)
    assert killed and restarted
    log = (tmp_path / "serve.log").read_text()
    assert "goes to another worker" in log, log[-3000:]   # the killed worker's notebook was put back
    assert max(s["at"] for s in subs) - start < 60   # 20 submissions within one minute

    # every student has their own page, for their own submission
    for s in subs:
        page = course.page(s).read_text()
        assert s["folder"].name.split("+")[2] in page
        assert "assert double(-2.5)" not in page and "record(" not in page   # no hidden-test text
    # each submission graded and released once; one result row per task; no job left behind
    released = [json.loads(line) for line in (course.root / ".on-submit" / "released.jsonl").read_text().splitlines()]
    burst = [r for r in released if r["student_id"].startswith("s")]
    assert sorted(r["student_id"] for r in burst) == sorted(s["who"] for s in subs)
    with psycopg.connect(workqueue.conninfo(course.db_url)) as conn:
        left = conn.execute("SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')").fetchone()[0]
        assert left == 0
        dup = conn.execute("SELECT key FROM gradlab_results GROUP BY key HAVING count(*) > 1").fetchall()
        assert dup == []
    from autograder.export import final_grades
    graded = {(g.student_id, g.assignment) for g in final_grades(GradingCourse.load(str(course.root), course.db_url), [ASSIGNMENT])}
    assert {s["who"] for s in subs} <= {st for st, _ in graded}
    # the scores of a local grade of the same submissions
    queued = {r["student_id"]: r["score"] for r in burst}
    local = _local_scores(course, subs, tmp_path)
    assert queued == local, (queued, local)
    assert sorted(set(queued.values())) == [0.0, 1.0]

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    values = sorted(latency.values())
    figures = {"idle_s": idle, "burst_median_s": statistics.median(values),
               "burst_p95_s": values[max(0, round(0.95 * len(values)) - 1)], "burst_max_s": values[-1],
               "jobs_put_back": log.count("goes to another worker"), "pg_restart_at_s": restarted - start, "kill_at_s": killed - start}
    (ARTIFACTS / "figures.json").write_text(json.dumps(figures, indent=1))
    print(json.dumps(figures, indent=1))


# -- Kubernetes: checked, not deployed (as the rest of deploy/) ----------------------------------------
def test_worker_deployment_and_on_submit_watcher_manifests():
    import ast

    import yaml
    z2jh = ROOT / "deploy" / "z2jh"
    docs = list(yaml.safe_load_all((z2jh / "workers.yaml").read_text()))
    worker = next(d for d in docs if d["kind"] == "Deployment")
    pod = worker["spec"]["template"]["spec"]
    (box,) = pod["containers"]
    assert box["command"][:4] == ["python", "-m", "autograder", "worker"]
    assert "--unsafe-no-sandbox" not in box["command"]   # a worker grades only in its sandbox
    # what bubblewrap needs inside a pod, and nothing more
    assert pod["hostUsers"] is False and box["securityContext"]["procMount"] == "Unmasked"
    assert box["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert box["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True and not pod["automountServiceAccountToken"]
    # the gradebook URL from the secret, never on a command line; no course volume in a worker pod
    env = {e["name"]: e for e in box["env"]}
    assert env["GRADLAB_GRADEBOOK_URL"]["valueFrom"]["secretKeyRef"]["name"] == "gradlab-gradebook"
    assert not any("postgresql" in str(a) for a in box["command"])
    claims = [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert claims == [], claims
    assert box["resources"]["limits"]["cpu"] == "1" and box["command"][-2:] == ["--jobs", "1"]
    policy = next(d for d in docs if d["kind"] == "NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"] == worker["spec"]["selector"]["matchLabels"]
    assert [p["port"] for p in policy["spec"]["egress"][0]["ports"]] == [5432]

    service = list(yaml.safe_load_all((z2jh / "course-service.yaml").read_text()))
    course = next(d for d in service if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    watcher = next(c for c in course["containers"] if "serve" in c.get("command", []))
    assert watcher["image"] == box["image"]   # one image: the worker runs what the course side planned
    assert {m["mountPath"] for m in watcher["volumeMounts"]} >= {"/srv/course", "/srv/nbgrader/exchange"}
    config = next(d for d in service if d["kind"] == "ConfigMap")["data"]["nbgrader_config.py"]
    from autograder import service as on_submit
    cfg = {}
    for line in config.splitlines():
        if line.strip().startswith("c.OnSubmit."):
            key, value = line.strip()[len("c.OnSubmit."):].split("=", 1)
            cfg[key.strip()] = ast.literal_eval(value.strip())
    assert on_submit.Policy(cfg["feedback_policy"], cfg["feedbacks_per_hour"]).feedback in on_submit.POLICIES


# -- figures: throughput against grade --jobs ----------------------------------------------------------
def _workers_alive(db_url: str) -> int:
    import psycopg

    from autograder import workqueue
    with psycopg.connect(workqueue.conninfo(db_url)) as conn:
        return conn.execute("SELECT count(*) FROM procrastinate_workers WHERE last_heartbeat > now() - "
                            "interval '5 seconds'").fetchone()[0]


@pytest.mark.hub
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_throughput_of_1_and_2_workers_against_grade_jobs_1_and_2(course, tmp_path):
    """The same class graded four ways, in one run: ``grade --jobs 1/2`` and ``grade --queue`` with 1
    and 2 worker processes; the same scores each time, and the queue's overhead per notebook."""
    _sandbox()
    from autograder import pipeline, workqueue
    staged = tmp_path / "submitted"
    students = 4   # two full, two blank: both scores, and two notebooks for each of two jobs or workers
    for i in range(students):
        d = staged / f"t{i}" / ASSIGNMENT
        d.mkdir(parents=True)
        (d / "check.ipynb").write_text(student_notebook(f"t{i}", full=i % 2 == 0))
    target = GradingCourse.load(str(course.root), None)

    def grade(name: str, jobs: int, runner=None) -> tuple[float, dict]:
        kw = {"runner": runner} if runner else {}
        batch = pipeline.Batch(str(staged), str(tmp_path / name), source=str(course.root / "solutions"), jobs=jobs,
                               target=target, force=True, echo=lambda m: None, **kw)
        t = time.monotonic()
        results = batch.grade()
        return time.monotonic() - t, {r.student_id: r.score for r in results}

    runs = {}
    for jobs in (1, 2):
        runs[f"grade --jobs {jobs}"] = grade(f"local{jobs}", jobs)
    runner = workqueue.QueueRunner(course.db_url)
    try:
        for n in (1, 2):
            course.start("worker", "--jobs", "1", log=f"bench-worker{n}.log")
            deadline = time.monotonic() + 120
            while _workers_alive(course.db_url) < n:
                assert time.monotonic() < deadline, "the workers did not start"
                time.sleep(0.2)
            runs[f"grade --queue, {n} worker(s)"] = grade(f"queue{n}", 64, runner)
        # the queue's own cost per notebook, with idle workers: submit -> result, less the sandbox's time
        from autograder import run
        from autograder.limits import Limits
        dispatch = []
        for _ in range(4):
            task = workqueue.Task.make(run.build_payload(_reference_plan(), seed=secrets.randbits(255), limits=Limits()),
                                   Limits(), "en", None)
            t = time.monotonic()
            out = runner.submit(task, Limits()).result(timeout=300)
            assert out.status.code == "graded"
            dispatch.append(time.monotonic() - t - out.seconds)
    finally:
        runner.close()
    scores = [s for _, s in runs.values()]
    assert all(s == scores[0] for s in scores), runs

    def made(name: str) -> dict[str, bytes]:   # what a batch leaves for people: the CSVs and the pages
        out = tmp_path / name
        files = [out / "grades.csv", out / "grades_detail.csv", *sorted((out / "feedback").rglob("*.html"))]
        return {str(f.relative_to(out)): f.read_bytes() for f in files}
    local = made("local1")
    assert len(local) == 2 + students
    for name in ("local2", "queue1", "queue2"):
        assert made(name) == local, name   # byte for byte: nothing in them depends on where a notebook ran
    assert sorted(set(scores[0].values())) == [0.0, 1.0]
    notebooks = len(scores[0]) + 1   # and the reference run
    seconds = {k: round(t, 1) for k, (t, _) in runs.items()}
    figures = {"notebooks": notebooks, "wall_s": seconds,
               "queue_over_local_1": round(seconds["grade --queue, 1 worker(s)"] / seconds["grade --jobs 1"], 2),
               "queue_over_local_2": round(seconds["grade --queue, 2 worker(s)"] / seconds["grade --jobs 2"], 2),
               "overhead_s_per_notebook_1": round((seconds["grade --queue, 1 worker(s)"] - seconds["grade --jobs 1"])
                                                  / notebooks, 2),
               "overhead_s_per_notebook_2": round((seconds["grade --queue, 2 worker(s)"] - seconds["grade --jobs 2"])
                                                  / notebooks, 2)}
    figures["queue_cost_s_per_notebook_idle_median"] = round(statistics.median(dispatch), 2)
    figures["queue_cost_s_per_notebook_idle_max"] = round(max(dispatch), 2)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "throughput.json").write_text(json.dumps(figures, indent=1))
    print(json.dumps(figures, indent=1))
