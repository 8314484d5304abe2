"""``grade``: discover -> plan -> run (sandbox) -> judge -> record, for a whole batch.

This process is the only writer (gradebook, ``autograded/``, OUT) and never runs student code.
Notebooks, not submissions, are the unit of work: ``jobs`` threads each start one sandbox at a
time (one torch thread each: two 1-thread processes were measured at 1.9x one on two cores). The
reference run of every needed source notebook (same per-batch seed, the student never sees it)
goes first, and is cached in ``OUT/.reference/<source hash>-<seed>.json``.
"""
from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import itertools
import json
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time

from . import __version__, course, discover, i18n, judge, plan, run, sandbox
from .course import Assignment, Course, SourceNotebook
from .files import world_readable_copy, write_atomic
from .gradebook import ResultStore
from .limits import Limits
from .record import record, record_finals
from .records import (
    CellVerdict,
    NotebookFile,
    NotebookResult,
    Outcome,
    Problem,
    RunOutput,
    Status,
    StudentRun,
    Submission,
    SubmissionResult,
)


def _error_row(sub: Submission, status: Status, h: str, max_score: float, note: str) -> SubmissionResult:
    """The result of a submission that was not graded: its status and why, no points."""
    return SubmissionResult(sub.student_id, sub.assignment, status, timestamp=sub.timestamp, max_score=max_score,
                            notes=[note], input_hash=h)


def _assets(release: str, dest: str) -> str | None:
    """A world-readable copy of the release's data files (no notebooks) for the sandbox, or None."""
    return world_readable_copy([os.path.join(release, n) for n in sorted(os.listdir(release))
                                if not n.endswith(".ipynb") and not n.startswith(".")
                                and os.path.isfile(os.path.join(release, n))
                                and not os.path.islink(os.path.join(release, n))], dest)


class Batch:
    """One ``grade`` run (see the module docstring)."""

    def __init__(self, submissions: str, out: str, *, source: str | None = None, jobs: int | None = None,
                 limits: Limits | None = None, target: Course | None = None, force: bool = False,
                 unsafe: bool = False, skip_experiments: bool = True, echo=lambda m: print(m, file=sys.stderr),
                 runner=None):
        self.submissions = os.path.abspath(submissions)
        self.store = ResultStore(out)
        self.source = os.path.abspath(source or course.default_source())
        self.jobs = max(1, jobs or len(os.sched_getaffinity(0)))
        self.limits = limits or Limits()
        self.target = target or Course.load()   # where results are recorded: its gradebook and autograded/
        self.force, self.unsafe, self.echo, self.skip = force, unsafe, echo, skip_experiments
        self.seed = secrets.randbits(255)  # the batch secret: only one-way keys of it reach a sandbox
        self._slots = itertools.count()
        self._local = threading.local()
        self.timing: dict[str, float] = {}   # where the time went (seconds, summed over slots)
        self._lock = threading.Lock()
        self.cache: str | None = None
        self.paged: set[tuple[str, str]] = set()   # submissions whose pages this batch wrote
        # every notebook, reference and student, runs through this one callable:
        # ``runner(nb_plan, *, seed, limits, slot, assignment_dir, cache_dir, unsafe, lang) -> RunOutput``
        self.runner = runner or run.run_notebook

    # -- run in a slot ------------------------------------------------------------------------
    def _slot(self) -> int:
        if not hasattr(self._local, "slot"):
            self._local.slot = next(self._slots)
        return self._local.slot

    def _run(self, nb_plan, release_dir: str | None, lang: str = "en") -> RunOutput:
        out = self.runner(nb_plan, seed=self.seed, limits=self.limits, slot=self._slot(),
                               assignment_dir=release_dir, cache_dir=self.cache, unsafe=self.unsafe, lang=lang)
        kind = "reference" if nb_plan.student_id == "<reference>" else "student"
        imports, cells = out.timing.get("imports_s", 0.0), out.timing.get("cells_s", 0.0)
        with self._lock:
            for key, value in ((f"{kind}_notebooks", 1), (f"{kind}_sandbox_start_s", max(0.0, out.seconds - imports - cells)),
                               (f"{kind}_imports_s", imports), (f"{kind}_cells_s", cells),
                               (f"{kind}_cpu_s", out.timing.get("cpu_s", 0.0))):
                self.timing[key] = self.timing.get(key, 0.0) + value
        return out

    def _reference(self, assignment: str, source: SourceNotebook, release_dir) -> RunOutput:
        cache = os.path.join(self.store.out, ".reference", f"{source.digest[:24]}-{self.seed}-{int(self.skip)}.json")
        try:
            with open(cache, encoding="utf-8") as f:
                return RunOutput.from_json(json.load(f))
        except (OSError, ValueError, KeyError, TypeError):
            pass
        out = self._run(plan.reference(source.nb, assignment=assignment, notebook=source.name, stub=self.target.stub,
                                       skip_experiments=self.skip), release_dir)
        write_atomic(cache, json.dumps(out.to_json()))
        return out

    # -- the batch --------------------------------------------------------------------------
    def grade(self) -> list[SubmissionResult]:
        t0 = time.monotonic()
        # only a local run needs this machine's sandbox: the queue's workers each check their own
        # and refuse work without it
        if not self.unsafe and self.runner is run.run_notebook:
            problem = sandbox.check(self.limits)
            if problem:
                raise sandbox.SandboxUnavailable(
                    f"grade refuses to run student code without its sandbox: {problem}. "
                    "Fix that (see `python -m autograder doctor`), or pass --unsafe-no-sandbox to grade "
                    "anyway (every row is then flagged unsafe-no-sandbox).")
        assignments = course.read_assignments(self.source)   # each source notebook read once, here
        subs = discover.discover(self.submissions, {a: list(x.notebooks) for a, x in assignments.items()})
        pending: list[tuple[Submission, str]] = []
        for sub in subs:
            known = assignments.get(sub.assignment)
            h = discover.input_hash(sub, known.source_hash if known else "", json.dumps(dataclasses.asdict(self.limits)),
                                    __version__, str(self.unsafe))
            if self.force or not self.store.is_done(sub.student_id, sub.assignment, h):
                pending.append((sub, h))
        if len(pending) < len(subs):
            self.echo(f"{len(subs) - len(pending)} submission(s) already graded with the same inputs "
                      "(use --force to regrade)")
        self.timing["discover_s"] = time.monotonic() - t0
        needed = sorted({s.assignment for s, _ in pending if s.assignment in assignments and not s.problem})
        run_dir = tempfile.mkdtemp(prefix="gradlab-run-")
        os.chmod(run_dir, 0o711)  # the template (hidden tests) stays 0700 inside; assets are world-readable
        try:
            t = time.monotonic()
            templates = course.Templates(self.source, needed, run_dir) if needed else None
            self.cache = sandbox.copy_cache(os.path.join(run_dir, "cache"))
            os.makedirs(os.path.join(run_dir, "assets"), mode=0o755)
            os.chmod(os.path.join(run_dir, "assets"), 0o755)
            self.assets = {a: _assets(templates.release_dir(a), os.path.join(run_dir, "assets", a)) for a in needed}
            if needed:   # the course gradebook learns each assignment as this batch's templates have it
                course.register(templates.course.db_url, self.target.db_url, needed)
            self.timing["templates_s"] = time.monotonic() - t
            self._grade_pending(pending, {a: assignments[a] for a in needed})
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)
        record_finals(self.target, self.store, needed, self.paged)
        self.timing["total_s"] = time.monotonic() - t0
        return self.store.all_results()

    def _grade_pending(self, pending, assignments: dict[str, Assignment]) -> None:
        from .progress import Progress

        bar = Progress(self.echo)  # notebooks done / total and the ETA, on the terminal or in the log
        with cf.ThreadPoolExecutor(self.jobs) as pool:
            refs: dict[tuple[str, str], cf.Future] = {}
            for a in sorted({s.assignment for s, _ in pending if s.assignment in assignments}):
                for stem, nb in assignments[a].notebooks.items():
                    refs[(a, stem)] = bar.track(pool.submit(self._reference, a, nb, self.assets[a]))
            jobs: list[tuple[Submission, str, dict]] = []
            for sub, h in pending:
                futures = {}
                if not sub.problem and sub.assignment in assignments:
                    for f in sub.notebooks:
                        futures[f.name[:-6]] = bar.track(pool.submit(
                            self._student, sub, f, assignments[sub.assignment].notebooks[f.name[:-6]],
                            self.assets[sub.assignment]))
                jobs.append((sub, h, futures))
            for sub, h, futures in jobs:
                cf.wait(list(futures.values()) + [f for (a, _), f in refs.items() if a == sub.assignment])
                t = time.monotonic()  # from here: judge and record (this thread, the single writer)
                try:
                    result = self._finish(sub, h, futures, refs, assignments.get(sub.assignment))
                except Exception as e:  # noqa: BLE001 — never lose a row
                    result = _error_row(sub, Status.ERROR, h, 0.0, f"internal error: {type(e).__name__}: {e}")
                self.store.put(result)
                self.store.write_csv()
                self.timing["judge_and_record_s"] = self.timing.get("judge_and_record_s", 0.0) + time.monotonic() - t
        bar.close()

    def _student(self, sub: Submission, f: NotebookFile, source: SourceNotebook, release_dir) -> StudentRun:
        """Plan and run one submitted notebook (from the bytes discovery read), or say what stopped it."""
        stem = f.name[:-6]
        if f.problem:
            return StudentRun(stem, problem=f.problem)
        try:
            nb = plan.parse(f.data)
        except ValueError as e:
            return StudentRun(stem, problem=Problem(Status.INVALID_NOTEBOOK, str(e)))
        p = plan.make(source.nb, nb, student_id=sub.student_id, assignment=sub.assignment, notebook=stem,
                      stub=self.target.stub, skip_experiments=self.skip)
        if p.problem:
            return StudentRun(stem, p, problem=Problem(Status.INVALID_NOTEBOOK, p.problem))
        # the visible tests speak the language the student worked in (the feedback page shows them)
        lang = i18n.language_of(nb)
        return StudentRun(stem, p, self._run(p, release_dir, lang), lang=lang)

    def _finish(self, sub: Submission, h: str, futures, refs, assignment: Assignment | None) -> SubmissionResult:
        max_score = assignment.max_score if assignment else 0.0
        if sub.problem:
            return _error_row(sub, sub.problem.status, h, max_score, sub.problem.detail)
        result = SubmissionResult(sub.student_id, sub.assignment, Status.GRADED, timestamp=sub.timestamp,
                                  max_score=max_score, notes=list(sub.notes), input_hash=h)
        autograded = {}
        for stem, future in futures.items():
            ran: StudentRun = future.result()
            source = assignment.notebooks[stem]
            ref = refs[(sub.assignment, stem)].result()
            if ref.status is not Status.GRADED or any(c.outcome is not Outcome.OK for c in ref.cells):
                result.flags.append(f"reference-failed:{stem}")
            if ran.problem:
                result.notebooks.append(NotebookResult(stem, ran.problem.status, [], f"{stem}.ipynb: {ran.problem.detail}"))
                result.notes.append(f"{stem}.ipynb: {ran.problem.detail}")
                continue
            with run.AST_LOCK:   # the judge parses the student's cells while other threads build payloads
                nbr = judge.judge(ran.plan, ran.output, ref, solution_of=source.solution_of,
                                  hidden_lines=list(source.hidden), unsafe=self.unsafe)
            if nbr.status is Status.GRADED or nbr.cells:
                _complete(nbr, source)
            result.notebooks.append(nbr)
            result.flags += nbr.flags
            result.notes += [f"{stem}.ipynb: {n}" for n in ran.output.notes]
            autograded[stem] = (ran, nbr)
        result.status = Status.worst(n.status for n in result.notebooks)
        if self.unsafe:
            result.flags.append("unsafe-no-sandbox")
        result.flags = sorted(set(result.flags))
        record(result, self.target, self.store.out, submission=sub, assignment=assignment, runs=autograded)
        self.paged.add((sub.student_id, sub.assignment))
        return result


def _complete(nbr: NotebookResult, source: SourceNotebook) -> None:
    """Every graded cell of the source in the verdicts of a notebook that was judged: one the plan
    never ran (a task) scores 0 (the gradebook and ``grades_detail.csv`` list every graded cell)."""
    judged = {c.grade_id for c in nbr.cells}
    nbr.cells += [CellVerdict(c.grade_id, 0.0, c.points, False, kind=c.kind) for c in source.cells
                  if c.grade_id not in judged]


def grade(submissions: str, out: str, **kwargs) -> list[SubmissionResult]:
    return Batch(submissions, out, **kwargs).grade()
