"""service: feedback minutes after a student submits (``python -m autograder serve --course DIR``).

Every ``interval`` seconds the course side looks at the nbgrader exchange's inbound folder. The new
submissions found (a student's newest per assignment; an older one not yet graded is superseded)
are graded as one batch through the workers (``workqueue.QueueRunner``), judged and recorded here as
``grade`` does, and each student's page is put in the exchange's feedback folder under the name
``nbgrader fetch_feedback`` looks for (``notebook_hash(submission_secret, notebook)``), one student
at a time. While a batch runs, new submissions wait for the next one: under a burst a student waits
for at most two batches.

The course config (``nbgrader_config.py``) decides what a page shows::

    c.OnSubmit.feedback_policy = "score"     # "none" (no feedback before the deadline), "visible"
                                             # (the page of `grade`: visible tests' messages only),
                                             # "score" (per-cell pass/fail and points, no message)
    c.OnSubmit.feedbacks_per_hour = 3        # per student; a submission over it waits, and its page
                                             # says when its feedback comes

The service keeps one secret seed while it runs, so each source notebook's reference run is computed
once and shared (the workers' results table). The deadline batch (``grade`` on ``submitted/``, its
own OUT) regrades with a fresh secret; manual grades are never touched (the gradebook's rule).
"""
from __future__ import annotations

import dataclasses
import html
import json
import os
import secrets
import shutil
import sys
import time

from . import course, discover, pipeline
from .files import write_atomic
from .limits import Limits
from .record import submission_secret
from .records import Status, SubmissionResult

POLICIES = ("none", "visible", "score")
HOUR_S = 3600.0
ROUND_TRIES = 3   # batches a submission is tried in before its page says it could not be graded


@dataclasses.dataclass(frozen=True)
class Policy:
    """What a student sees after submitting, and how often (``c.OnSubmit`` in the course config)."""
    feedback: str = "none"
    per_hour: int = 3

    @classmethod
    def of(cls, cfg) -> Policy:
        section = cfg.OnSubmit if "OnSubmit" in cfg else {}
        policy = cls(str(section.get("feedback_policy", cls.feedback)), int(section.get("feedbacks_per_hour", cls.per_hour)))
        if policy.feedback not in POLICIES:
            raise ValueError(f"OnSubmit.feedback_policy must be one of {POLICIES}, not {policy.feedback!r}")
        if policy.per_hour < 1:
            raise ValueError("OnSubmit.feedbacks_per_hour must be at least 1 (feedback_policy 'none' gives none)")
        return policy

    def next_allowed(self, times: list[float], now: float) -> float | None:
        """None when a student whose pages went out at ``times`` may get one ``now``; otherwise when
        they may (the oldest page of the hour's last ``per_hour`` plus an hour).

        Examples::

            >>> Policy("score", 2).next_allowed([0.0, 600.0], now=900.0)
            3600.0
            >>> Policy("score", 2).next_allowed([0.0, 600.0], now=3700.0) is None
            True
        """
        recent = sorted(t for t in times if now - t < HOUR_S)
        return None if len(recent) < self.per_hour else recent[len(recent) - self.per_hour] + HOUR_S


@dataclasses.dataclass(frozen=True)
class Inbound:
    """One submission in the exchange: ``inbound/<student>+<assignment>+<timestamp>[+<random>]``."""
    name: str
    student_id: str
    assignment: str
    timestamp: str

    @classmethod
    def scan(cls, folder: str) -> list[Inbound]:
        found = []
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            parts = name.split("+")
            path = os.path.join(folder, name)
            if len(parts) in (3, 4) and all(parts[:3]) and os.path.isdir(path) and not os.path.islink(path):
                found.append(cls(name, parts[0], parts[1], parts[2]))
        return found


class Service:
    """The on-submit loop of one course (see the module docstring).

    Args:
        course_dir: the nbgrader course folder (its config gives the exchange, the gradebook, the policy).
        db_url: the gradebook URL, when not the config's.
        jobs: notebooks a batch waits for at once (threads; the workers do the running).
        echo: where progress lines go.
    """

    def __init__(self, course_dir: str | None, db_url: str | None = None, *, jobs: int = 64,
                 echo=lambda m: print(m, file=sys.stderr, flush=True)):
        from .workqueue import QueueRunner

        self.target = course.Course.load(course_dir, db_url)
        cfg = self.target.config
        self.policy = Policy.of(cfg)
        course_id = cfg.CourseDirectory.get("course_id") or "gradlab"
        self.exchange = os.path.join(cfg.Exchange.get("root") or "/srv/nbgrader/exchange", course_id)
        source = self.target.path("source")
        self.source = source if os.path.isdir(source) else course.default_source()
        self.state_dir = os.path.join(self.target.root, ".on-submit")   # the course side's, never the exchange's
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        self.state = self._load()
        self.jobs, self.echo = jobs, echo
        self.seed = secrets.randbits(255)   # one per service run: reference runs are shared, never shown
        self.runner = QueueRunner(self.target.db_url, echo=echo) if self.policy.feedback != "none" else None
        self.rounds = 0

    # -- state: which exchange folders were answered, and when each student last got a page ----------
    def _load(self) -> dict:
        try:
            with open(os.path.join(self.state_dir, "state.json"), encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            return {"seen": {}, "released": {}}

    def _save(self) -> None:
        write_atomic(os.path.join(self.state_dir, "state.json"), json.dumps(self.state, indent=1))

    # -- one look at the exchange --------------------------------------------------------------
    def poll_once(self) -> list[dict]:
        """Grade and answer what arrived since the last look; returns the pages released."""
        if self.runner is None:
            return []
        seen, now = self.state["seen"], time.time()
        todo = [s for s in Inbound.scan(os.path.join(self.exchange, "inbound"))
                if seen.get(s.name, {}).get("status") in (None, "held", "retry")]
        newest: dict[tuple[str, str], Inbound] = {}
        for s in sorted(todo, key=lambda s: (s.timestamp, s.name)):
            old = newest.get((s.student_id, s.assignment))
            if old is not None:
                seen[old.name] = {"status": "superseded", "by": s.name, "at": now}
            newest[(s.student_id, s.assignment)] = s
        ready = []
        for s in newest.values():
            when = self.policy.next_allowed(self.state["released"].get(s.student_id, []), now)
            if when is not None:
                if seen.get(s.name, {}).get("status") != "held":
                    self._release_pages(s, {stem: _held_page(s, when, self.policy.per_hour)
                                            for stem in self._notebooks(s.assignment)})
                    seen[s.name] = {"status": "held", "until": when}
                    self.echo(f"on-submit: {s.student_id}/{s.assignment} over {self.policy.per_hour} feedbacks "
                              f"an hour: graded after {time.strftime('%H:%M', time.gmtime(when))} UTC")
                continue
            ready.append(s)
        released = self._grade(ready) if ready else []
        self._save()
        return released

    def _grade(self, subs: list[Inbound]) -> list[dict]:
        self.rounds += 1
        work = os.path.join(self.state_dir, "batches", f"{time.strftime('%Y%m%dT%H%M%S')}-{self.rounds}")
        staged = os.path.join(work, "submitted")
        for s in subs:
            _stage(os.path.join(self.exchange, "inbound", s.name), os.path.join(staged, s.student_id, s.assignment))
        self.echo(f"on-submit: grading {len(subs)} new submission(s): " + ", ".join(s.student_id for s in subs))
        batch = pipeline.Batch(staged, os.path.join(work, "out"), source=self.source, jobs=self.jobs, limits=Limits(),
                               target=self.target, force=True, runner=self.runner, echo=self.echo)
        batch.seed = self.seed
        try:
            results = {(r.student_id, r.assignment): r for r in batch.grade()}
        except Exception as e:  # noqa: BLE001 — the gradebook away (a restart): the next look tries again
            self.echo(f"on-submit: batch not finished ({type(e).__name__}: {str(e)[:300]}); trying again")
            for s in subs:
                self._retry(s, None)
            return []
        self.echo("on-submit: where the batch's time went (s): " + ", ".join(
            f"{k} {v:.1f}" for k, v in batch.timing.items() if k.endswith("_s")))
        released = []
        for s in subs:
            r = results.get((s.student_id, s.assignment))
            pages = self._pages(s, r, os.path.join(work, "out", "feedback", s.student_id, s.assignment))
            if pages is None:
                self._retry(s, r)
                continue
            self._release_pages(s, pages)
            now = time.time()
            self.state["seen"][s.name] = {"status": "released", "at": now, "score": r.score if r else None}
            self.state["released"].setdefault(s.student_id, []).append(now)
            released.append({"inbound": s.name, "student_id": s.student_id, "assignment": s.assignment, "at": now,
                             "score": r.score if r else None})
            with open(os.path.join(self.state_dir, "released.jsonl"), "a", encoding="utf-8") as f:
                f.write(json.dumps(released[-1]) + "\n")
        shutil.rmtree(os.path.join(work, "submitted"), ignore_errors=True)
        return released

    def _retry(self, s: Inbound, r: dict | None) -> None:
        entry = self.state["seen"].setdefault(s.name, {})
        entry["tries"] = entry.get("tries", 0) + 1
        entry["status"] = "retry" if entry["tries"] < ROUND_TRIES else "failed"
        if entry["status"] == "failed":
            self._release_pages(s, {stem: _page(s, "Your submission could not be graded now; it will be graded after "
                                                "the deadline.", []) for stem in self._notebooks(s.assignment)})

    def _notebooks(self, assignment: str) -> list[str]:
        folder = os.path.join(self.source, assignment)
        return course.notebooks_of(folder) if os.path.isdir(folder) else []

    def _pages(self, s: Inbound, r: SubmissionResult | None, feedback_dir: str) -> dict[str, str] | None:
        """The page of each notebook under the policy, or None while the submission is not recorded."""
        if r is None or r.status is Status.ERROR and any("internal error" in n for n in r.notes):
            return None   # the record did not reach the gradebook (it restarted): grade again
        if self.policy.feedback == "visible":
            pages = {}
            for stem in self._notebooks(s.assignment):
                path = os.path.join(feedback_dir, stem + ".html")
                if not os.path.isfile(path):
                    return None
                with open(path, encoding="utf-8") as f:
                    pages[stem] = f.read()
            return pages
        return {stem: score_page(s, r, stem) for stem in self._notebooks(s.assignment)}

    def _release_pages(self, s: Inbound, pages: dict[str, str]) -> None:
        """Each page where ``nbgrader fetch_feedback`` finds it for this submission (and only it)."""
        from nbgrader.utils import notebook_hash
        secret = submission_secret([os.path.join(self.exchange, "inbound", s.name)])
        if not secret:
            return   # no secret: nbgrader cannot pair a page with this submission
        outbound = os.path.join(self.exchange, "feedback")
        if not os.path.isdir(outbound):
            os.makedirs(outbound, exist_ok=True)
            os.chmod(outbound, 0o711)   # as nbgrader's release_feedback: a page is found by its hash, never listed
        for stem, text in pages.items():
            page = os.path.join(outbound, notebook_hash(secret=secret, notebook_id=stem) + ".html")
            write_atomic(page, text)
            os.chmod(page, 0o644)   # the student's fetch_feedback reads it, whatever the service's umask

    def serve(self, interval: float) -> None:
        if self.policy.feedback == "none":
            self.echo("on-submit: the course's OnSubmit.feedback_policy is 'none': no feedback before the deadline")
        while True:
            try:
                for r in self.poll_once():
                    self.echo(f"on-submit: released {r['student_id']}/{r['assignment']} (score {r['score']})")
            except Exception as e:  # noqa: BLE001 — one bad look never stops the service
                self.echo(f"on-submit: {type(e).__name__}: {str(e)[:300]}")
            time.sleep(interval)


def _stage(src: str, dest: str) -> None:
    """A submission's regular files copied (never through a link) where ``grade`` reads them."""
    os.makedirs(dest, exist_ok=True)
    for name in os.listdir(src):
        try:
            data = discover.read_file(os.path.join(src, name))
        except (ValueError, OSError):
            continue   # a link, a folder, an unreadable file: not part of what is graded
        with open(os.path.join(dest, name), "wb") as f:
            f.write(data)


def _page(s: Inbound, headline: str, rows: list[tuple[str, str, str]]) -> str:
    body = "".join(f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td><td>{html.escape(c)}</td></tr>"
                   for a, b, c in rows)
    table = f"<table><tr><th>cell</th><th>result</th><th>points</th></tr>{body}</table>" if rows else ""
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(s.assignment)}</title></head><body>"
            f"<h1>{html.escape(s.assignment)}</h1><p>Submitted {html.escape(s.timestamp)}.</p>"
            f"<p>{html.escape(headline)}</p>{table}</body></html>")


def score_page(s: Inbound, r: SubmissionResult, stem: str) -> str:
    """The ``score`` policy's page: each autograded cell passed or failed, and its points; no
    message of any test (a hidden test's text or its failure would make the grader an oracle)."""
    nb = next((n for n in r.notebooks if n.notebook == stem), None)
    if nb is None:
        return _page(s, f"{stem}.ipynb was not graded ({r.status.code}).", [])
    rows = []
    cells = sorted({c.grade_id: c for c in nb.cells}.items())
    for gid, c in cells:
        if c.kind == "answer":
            rows.append((gid, "graded by hand after the deadline", f"– / {c.max_points:g}"))
        else:
            rows.append((gid, "passed" if c.passed else "failed", f"{c.points:g} / {c.max_points:g}"))
    auto = sum(c.points for _, c in cells if c.kind != "answer")
    auto_max = sum(c.max_points for _, c in cells if c.kind != "answer")
    return _page(s, f"{stem}.ipynb: {auto:g} of {auto_max:g} autograded points ({nb.status.code}). Hidden tests "
                    "run again with new inputs after the deadline.", rows)


def _held_page(s: Inbound, when: float, per_hour: int) -> str:
    return _page(s, f"You have had {per_hour} feedbacks in the last hour: this submission is graded after "
                    f"{time.strftime('%H:%M', time.gmtime(when))} UTC, and this page is replaced then.", [])


def main(args) -> int:
    service = Service(args.course, args.db_url, jobs=args.jobs or 64)
    service.echo(f"on-submit: watching {os.path.join(service.exchange, 'inbound')} every {args.interval:g} s "
                 f"(policy {service.policy.feedback}, {service.policy.per_hour} feedbacks per student an hour)")
    service.serve(args.interval)
    return 0
