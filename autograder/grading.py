"""``grade``: find the submissions, schedule them on N worker slots, merge results (one writer).

Why this shape
--------------
nbgrader grades sequentially (jupyter/nbgrader#174) and its SQLite gradebook is not safe for
concurrent writers. Here every submission is graded by a worker process in its own temp
nbgrader course dir with its own gradebook copy (``autograder.worker``); this process is the
only one that writes OUT (``autograder.gradebook``). Workers are long-lived, one per slot, so
their imports are paid once; each is supervised by a thread that kills it (and every process of
its sandbox uid) when a submission overruns its time limit by a margin, and starts a new one.
A crashing kernel, worker or submission therefore costs one row's status, never the batch.

One torch thread per kernel and one kernel per slot: DESIGN §6 measured two 1-thread
processes at 1.9x one, while a 2-thread process next to another busy process collapses.
"""
from __future__ import annotations

import hashlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import asdict, dataclass

from . import __version__, course, hardening
from .gradebook import ResultStore, atomic_write, merge_nbgrader

WORKER_MARGIN_S = 180  # beyond the submission timeout, for kernel start-ups and nbgrader itself


@dataclass
class Submission:
    student_id: str
    assignment: str
    path: str


def discover(submissions: str) -> list[Submission]:
    """``<student_id>/<assignment_id>/`` folders (nbgrader's submitted layout), sorted."""
    found = []
    for s in sorted(os.listdir(submissions)):
        sdir = os.path.join(submissions, s)
        if s.startswith(".") or not os.path.isdir(sdir) or os.path.islink(sdir):
            continue
        for a in sorted(os.listdir(sdir)):
            adir = os.path.join(sdir, a)
            if not a.startswith(".") and os.path.isdir(adir) and not os.path.islink(adir):
                found.append(Submission(s, a, adir))
    return found


def input_hash(sub: Submission, source_hash: str, limits: hardening.Limits) -> str:
    h = hashlib.sha256()
    h.update(course.tree_hash(sub.path).encode())
    h.update(source_hash.encode())
    h.update(json.dumps(asdict(limits), sort_keys=True).encode())
    h.update(__version__.encode())
    return h.hexdigest()


def data_cache_dir() -> str | None:
    """The grader's own gradlab dataset cache (seeded, as a copy, into each sandbox)."""
    path = os.environ.get("GRADLAB_CACHE")
    if not path:
        try:
            import platformdirs
            path = platformdirs.user_cache_dir("gradlab")
        except ImportError:
            return None
    return path if os.path.isdir(path) else None


def hidden_paths(paths: list[str], keep_visible: list[str]) -> list[str]:
    """Paths to cover in the kernel's mount namespace, minus any that contain a sandbox."""
    out = []
    for p in paths:
        if not p or not os.path.exists(p):
            continue
        p = os.path.realpath(p)
        if any(os.path.commonpath([p, k]) == p for k in keep_visible):
            continue
        if p not in out:
            out.append(p)
    return out


class Slot:
    """One worker process and the thread that feeds it tasks."""

    def __init__(self, index: int, uid: int | None, log_dir: str, cwd: str):
        self.index, self.uid, self.log_dir, self.cwd = index, uid, log_dir, cwd
        self.proc: subprocess.Popen | None = None
        self.killed_for_time = False

    def _spawn(self) -> None:
        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
        pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = pkg_parent + os.pathsep + env.get("PYTHONPATH", "")
        log = open(os.path.join(self.log_dir, f"worker-{self.index}.log"), "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "autograder.worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=log, cwd=self.cwd, env=env)
        log.close()

    def _kill(self) -> None:
        self.killed_for_time = True
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
        if self.uid is not None:
            hardening.kill_uid(self.uid)

    def run_task(self, task: dict, deadline_s: float) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self._spawn()
        self.killed_for_time = False
        timer = threading.Timer(deadline_s, self._kill)
        timer.start()
        try:
            self.proc.stdin.write((json.dumps(task) + "\n").encode())
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except (BrokenPipeError, OSError):
            line = b""
        finally:
            timer.cancel()
        if line:
            return json.loads(line)
        # The worker itself died or was killed: the row still gets written.
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.uid is not None:
            hardening.kill_uid(self.uid)
        self.proc = None
        status = "timeout" if self.killed_for_time else "error"
        note = (f"grader stopped after {deadline_s:.0f} s" if self.killed_for_time
                else "grader worker died (see OUT/logs)")
        return {"student_id": task["student_id"], "assignment": task["assignment"],
                "input_hash": task["input_hash"], "status": status, "score": 0.0,
                "max_score": task["info"]["max_score"], "needs_manual_grade": False,
                "notebooks": {}, "notes": [note], "flags": [], "duration_s": deadline_s}

    def close(self, force: bool = False) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                if force:
                    raise OSError("interrupted")
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        if self.uid is not None:
            hardening.kill_uid(self.uid)


def _unknown_assignment_row(sub: Submission, h: str) -> dict:
    return {"student_id": sub.student_id, "assignment": sub.assignment, "input_hash": h,
            "status": "unknown_assignment", "score": 0.0, "max_score": 0.0, "needs_manual_grade": False,
            "notebooks": {}, "notes": [f"no assignment {sub.assignment!r} in the course"], "flags": [],
            "duration_s": 0.0}


def grade(submissions: str, out: str, *, jobs: int | None = None, limits: hardening.Limits | None = None,
          source: str | None = None, force: bool = False, progress: bool = True,
          echo=lambda msg: print(msg, file=sys.stderr)) -> list[dict]:
    """Grade every submission under ``submissions`` into ``out``; returns all results in ``out``."""
    limits = limits or hardening.Limits()
    source = os.path.abspath(source or course.default_source())
    submissions = os.path.abspath(submissions)
    jobs = max(1, min(jobs or len(os.sched_getaffinity(0)), hardening.UID_BLOCK))
    store = ResultStore(out)
    subs = discover(submissions)
    known = set(course.list_assignments(source))
    caps = hardening.capabilities()
    for note in caps.notes:
        echo(f"warning: {note}")

    interrupted = False
    previous_term = None
    if threading.current_thread() is threading.main_thread():
        def on_term(signum, frame):
            raise KeyboardInterrupt(f"signal {signum}")
        previous_term = signal.signal(signal.SIGTERM, on_term)
    run_dir = tempfile.mkdtemp(prefix="gradlab-run-")
    os.chmod(run_dir, 0o700)
    log_dir = os.path.join(store.out, "logs")
    os.makedirs(log_dir, exist_ok=True)
    slots: list[Slot] = []
    try:
        needed = sorted({s.assignment for s in subs if s.assignment in known})
        source_hash = {a: course.tree_hash(os.path.join(source, a)) for a in needed}
        pending = []
        for sub in subs:
            if sub.assignment not in known:
                h = input_hash(sub, "", limits)
                if force or not store.is_done(sub.student_id, sub.assignment, h):
                    store.put(_unknown_assignment_row(sub, h), None)
                continue
            h = input_hash(sub, source_hash[sub.assignment], limits)
            if not force and store.is_done(sub.student_id, sub.assignment, h):
                continue
            pending.append((sub, h))
        skipped = len(subs) - len(pending)
        if skipped:
            echo(f"{skipped} submission(s) already graded with the same inputs (use --force to regrade)")

        templates = None
        if pending:  # nbgrader's generate_assignment only when there is something to grade
            templates = course.Templates(source, needed, run_dir)
            for a in templates.assignments:  # lets `feedback` re-render pages without the source
                atomic_write(os.path.join(store.out, "assignments", a + ".json"),
                             json.dumps(templates.info[a], indent=1))
            tmp = os.path.realpath(tempfile.gettempdir())
            hide = hidden_paths([source, submissions, store.out, course.default_source(),
                                 os.path.join(course.REPO_ROOT, "gradebook.db"), run_dir],
                                keep_visible=[tmp])
            uid_base = hardening.uid_block() if caps.private_uid else None
            jobs = min(jobs, len(pending))
            slots = [Slot(i, None if uid_base is None else uid_base + i, log_dir, run_dir) for i in range(jobs)]
            cache = data_cache_dir()
            tasks: queue.Queue = queue.Queue()
            results: queue.Queue = queue.Queue()
            for sub, h in pending:
                tasks.put({
                    "student_id": sub.student_id, "assignment": sub.assignment, "submission_dir": sub.path,
                    "input_hash": h, "template": templates.root, "release_dir": templates.release_dir(sub.assignment),
                    "info": templates.info[sub.assignment], "others": templates.others[sub.assignment],
                    "staging_dir": store.new_staging(), "limits": asdict(limits), "hide": hide,
                    "namespaces": caps.namespaces, "data_cache": cache,
                })

            def feed(slot: Slot) -> None:
                while True:
                    try:
                        task = tasks.get_nowait()
                    except queue.Empty:
                        return
                    task["uid"] = slot.uid
                    try:
                        result = slot.run_task(task, limits.timeout_s + WORKER_MARGIN_S)
                    except Exception as e:  # noqa: BLE001 — never lose a row
                        result = {**_unknown_assignment_row(Submission(task["student_id"], task["assignment"], ""),
                                                            task["input_hash"]),
                                  "status": "error", "max_score": task["info"]["max_score"],
                                  "notes": [f"scheduler error: {type(e).__name__}: {e}"]}
                    results.put((task, result))

            threads = [threading.Thread(target=feed, args=(slot,), daemon=True) for slot in slots]
            for t in threads:
                t.start()
            bar = _progress(len(pending), progress)
            for _ in range(len(pending)):
                task, result = results.get()
                store.put(result, task["staging_dir"])
                store.write_csv()
                if bar is not None:
                    bar.set_postfix_str(f"{result['student_id']}/{result['assignment']}: {result['status']}")
                    bar.update(1)
            if bar is not None:
                bar.close()
            for t in threads:
                t.join()
        store.write_csv()
        if templates is not None:
            try:
                merge_nbgrader(store.all_results(), os.path.join(templates.root, "gradebook.db"),
                               os.path.join(store.out, "gradebook.db"))
            except Exception as e:  # noqa: BLE001 — the CSV is the contract; the db is a convenience
                echo(f"warning: could not write OUT/gradebook.db: {type(e).__name__}: {e}")
        return store.all_results()
    except KeyboardInterrupt:
        interrupted = True
        echo("interrupted: results so far are kept; run the same command again to resume")
        raise
    finally:
        for slot in slots:
            slot.close(force=interrupted)
        store.clear_staging()
        shutil.rmtree(run_dir, ignore_errors=True)
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, unit="submission", desc="grading", file=sys.stderr, dynamic_ncols=True,
                smoothing=0.1)
