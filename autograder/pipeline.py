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
from .files import redact_db_url, write_atomic
from .gradebook import (
    GradebookError,
    ResultStore,
    record_submission,
    register_assignment,
    write_autograded,
)
from .limits import Limits
from .notebook import ANSI, Markers
from .records import (
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


def _error_row(sub: Submission, status: Status, h: str, max_score: float, note: str) -> dict:
    return {"student_id": sub.student_id, "assignment": sub.assignment, "input_hash": h, "status": status.code,
            "score": 0.0, "max_score": max_score, "needs_manual_grade": False, "notebooks": {},
            "notes": [note], "flags": [], "timestamp": sub.timestamp}


def _assets(release: str, dest: str) -> str | None:
    """A world-readable copy of the release's data files (no notebooks) for the sandbox, or None."""
    names = [n for n in os.listdir(release) if not n.endswith(".ipynb") and not n.startswith(".")
             and os.path.isfile(os.path.join(release, n)) and not os.path.islink(os.path.join(release, n))]
    if not names:
        return None
    os.makedirs(dest, mode=0o755)
    os.chmod(os.path.dirname(dest), 0o755)
    for n in names:
        shutil.copy(os.path.join(release, n), os.path.join(dest, n))
        os.chmod(os.path.join(dest, n), 0o644)
    return dest


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
    def grade(self) -> list[dict]:
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
            self.assets = {a: _assets(templates.release_dir(a), os.path.join(run_dir, "assets", a)) for a in needed}
            for a in needed:
                register_assignment(self.target, templates.course, a)
            self.timing["templates_s"] = time.monotonic() - t
            self._grade_pending(pending, {a: assignments[a] for a in needed})
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)
        self._record_finals(needed)
        self.timing["total_s"] = time.monotonic() - t0
        return self.store.all_results()

    def _record_finals(self, assignments: list[str]) -> None:
        """The last stage reads the gradebook back: grades.csv with the final scores (manual points
        included) and the students' feedback pages (autograder.feedback), for the assignments graded."""
        from . import export, feedback

        try:
            finals = {(g.student_id, g.assignment): g for g in export.final_grades(self.target, assignments or None)}
        except Exception as e:  # the gradebook went away after recording: the CSV still gets every row
            self.store.write_csv()
            raise GradebookError(f"reading the final grades back from the gradebook {redact_db_url(self.target.db_url)} "
                                 f"failed: {type(e).__name__}: {redact_db_url(str(e))[:500]}") from None
        results = self.store.all_results()
        graded = [r for r in results if (r["student_id"], r["assignment"]) in finals and r["assignment"] in assignments]
        for r in graded:  # one submission at a time: a bad file of one student is that student's row
            try:
                feedback.write_feedback(self.target, self.store.out,
                                        assignments=[r["assignment"]], students=[r["student_id"]],
                                        notes={(r["student_id"], r["assignment"]): list(r.get("notes", []))})
            except Exception as e:  # noqa: BLE001 — the batch always finishes
                note = f"feedback page not written: {type(e).__name__}: {str(e)[:300]}"
                if note not in r.get("notes", []):
                    r["notes"] = list(r.get("notes", [])) + [note]
                    r["flags"] = sorted(set(r.get("flags", [])) | {"feedback-error"})
                    self.store.put(r)
        self.store.write_csv(finals)

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

    def _finish(self, sub: Submission, h: str, futures, refs, assignment: Assignment | None) -> dict:
        max_score = assignment.max_score if assignment else 0.0
        if sub.problem:
            return _error_row(sub, sub.problem.status, h, max_score, sub.problem.detail)
        result = SubmissionResult(sub.student_id, sub.assignment, Status.GRADED, timestamp=sub.timestamp,
                                  max_score=max_score, notes=list(sub.notes), input_hash=h)
        autograded, lang = {}, "en"
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
            lang = lang if lang != "en" else ran.lang
            nbr = judge.judge(ran.plan, ran.output, ref, solution_of=source.solution_of,
                              hidden_lines=list(source.hidden), unsafe=self.unsafe)
            result.notebooks.append(nbr)
            result.flags += nbr.flags
            result.notes += [f"{stem}.ipynb: {n}" for n in ran.output.notes]
            autograded[stem] = (ran, nbr)
        result.status = Status.worst(n.status for n in result.notebooks)
        if self.unsafe:
            result.flags.append("unsafe-no-sandbox")
        result.flags = sorted(set(result.flags))
        stored = stored_record(result, assignment)
        recorded = any(n.status is not Status.ERROR for n in result.notebooks)
        if recorded:
            record_submission(self.target, stored)
            folder = self.target.path("autograded", sub.student_id, sub.assignment)
            for stem, (ran, nbr) in autograded.items():
                source = assignment.notebooks[stem]
                write_autograded(folder, stem + ".ipynb", _autograded_notebook_cells(ran.plan, ran.output, source, nbr),
                                 i18n.autograded_metadata(source.nb.metadata, ran.lang))
            _copy_exchange_files(sub, folder)  # as nbgrader autograde copies them: generate/release_feedback need them
        folder = os.path.join(self.store.out, "feedback", sub.student_id, sub.assignment)
        if not recorded:  # a recorded submission's pages come from the gradebook (_record_finals)
            _unrecorded_pages(folder, stored, assignment.info(), lang)
        _copy_exchange_files(sub, folder)
        return stored


def _copy_exchange_files(sub: Submission, folder: str) -> None:
    """The submission's ``timestamp.txt`` and ``submission_secret.txt`` (nbgrader's exchange pairs a
    feedback page with its submission by them), read as hostile input (``discover.read_file``:
    size-capped, never through a link) and written anew, 0644, as printable text only."""
    if not sub.timestamp:
        return
    write_atomic(os.path.join(folder, "timestamp.txt"), sub.timestamp)
    try:
        secret = discover.read_file(os.path.join(sub.path, "submission_secret.txt"), discover.EXCHANGE_FILE_BYTES)
    except (ValueError, OSError):
        return
    text = "".join(ch for ch in secret[:256].decode("ascii", "replace").strip() if ch.isalnum())
    if text:
        write_atomic(os.path.join(folder, "submission_secret.txt"), text)


def _redacted(o: dict | None, secret: list[str]) -> dict | None:
    """A student cell's output with hidden-test text it smuggled out replaced by "[hidden]"."""
    def clean(text: str) -> str:
        for piece in secret:
            if piece in text:
                text = text.replace(piece, "[hidden]")
        return text

    if o is None:
        return None
    if o["output_type"] == "stream":
        o["text"] = clean(ANSI.sub("", o["text"]))
    elif o["output_type"] == "error":
        o.update(ename=clean(o["ename"]), evalue=clean(o["evalue"]), traceback=[clean(t) for t in o["traceback"]])
    else:
        o["data"] = {k: clean(v) if not k.startswith("image/") else v for k, v in o["data"].items()}
    return o


def _neutral(source: str) -> str:
    """A student's cell as ``autograded/`` keeps it: a hidden-test marker in it would make nbgrader's
    ClearHiddenTests (generate_feedback) fail on a cell that is not a test, so it is broken up."""
    for marker in Markers().hidden:
        source = source.replace(marker, marker.replace("HIDDEN", "HIDDEN\u200b"))
    return source


def _judged_outputs(verdict) -> list[dict]:
    """A test cell's only output in ``autograded/``: the judge's own message (never what the
    student's process printed, which may hold the running cell's hidden source)."""
    if verdict is None or verdict.passed or not verdict.message:
        return []
    ename = verdict.ename or "Failed"
    return [{"output_type": "error", "ename": ename, "evalue": verdict.message,
             "traceback": [verdict.message if verdict.message.startswith(ename) else f"{ename}: {verdict.message}"]}]


def _autograded_notebook_cells(p, out: RunOutput, source: SourceNotebook, nbr: NotebookResult) -> list[dict]:
    meta, source_nb = source.cell_metadata, source.nb
    verdicts = {v.grade_id: v for v in nbr.cells}
    secret = list(source.hidden)
    tampered = any(f.startswith("tampered:") for f in nbr.flags)  # then no reported output is shown
    cells = []
    for c in p.cells:
        ident = {"id": f"cell-{c.index}"}   # nbformat 4.5 cell ids: no MissingIDFieldWarning downstream
        if c.kind in ("markdown", "answer") and c.grade_id not in meta or c.kind == "markdown":
            cells.append({"cell_type": "markdown", "source": _neutral(c.source), "metadata": meta.get(c.grade_id, {}),
                          **ident})
            continue
        if c.kind in ("answer", "task"):   # written answers and tasks keep their cell type (markdown)
            cell_type = "markdown" if source_nb.cells and any(
                s.metadata.get("nbgrader", {}).get("grade_id") == c.grade_id and s.cell_type == "markdown"
                for s in source_nb.cells) else "code"
            cells.append({"cell_type": cell_type, "source": _neutral(c.source), "metadata": meta.get(c.grade_id, {}),
                          **ident})
            continue
        if c.kind == "test":
            cells.append({"cell_type": "code", "source": c.source, "metadata": meta.get(c.grade_id, {}),
                          "outputs": _judged_outputs(verdicts.get(c.grade_id)), **ident})
            continue
        ran = None if tampered else out.cell(c.index)
        outputs = [_redacted(_clean_output(o), secret) for o in (ran.outputs if ran else [])]
        cells.append({"cell_type": "code", "source": _neutral(c.source), "metadata": meta.get(c.grade_id, {}),
                      "outputs": [o for o in outputs if o], **ident})
    return cells


def _clean_output(o) -> dict | None:
    """An output the runner reported, kept only in nbformat's shape (it came from the student's process)."""
    if not isinstance(o, dict):
        return None
    kind = o.get("output_type")
    if kind == "stream" and o.get("name") in ("stdout", "stderr") and isinstance(o.get("text"), str):
        return {"output_type": "stream", "name": o["name"], "text": o["text"]}
    if kind == "error":
        tb = o.get("traceback")
        return {"output_type": "error", "ename": str(o.get("ename", ""))[:200], "evalue": str(o.get("evalue", ""))[:5000],
                "traceback": [str(t)[:20000] for t in tb[:5]] if isinstance(tb, list) else []}
    if kind in ("display_data", "execute_result") and isinstance(o.get("data"), dict):
        data = {str(k): v for k, v in o["data"].items() if isinstance(v, str)}
        out = {"output_type": kind, "data": data, "metadata": {}}
        if kind == "execute_result":
            out["execution_count"] = o["execution_count"] if type(o.get("execution_count")) is int else None
        return out
    return None


def stored_record(result: SubmissionResult, assignment: Assignment | None) -> dict:
    """The submission as stored in OUT/results and handed to the feedback pages and export."""
    notebooks = {}
    for n in result.notebooks:
        grades, cells = {}, {}
        for c in n.cells:
            manual = c.kind == "answer"
            auto = None if c.needs_manual_grade else c.points
            grades[c.grade_id] = {"score": c.points, "auto_score": auto, "max_score": c.max_points,
                                  "needs_manual_grade": c.needs_manual_grade, "manual": manual}
            cells[c.grade_id] = {"errors": [{"ename": c.ename or "", "evalue": c.message}] if not c.passed and not manual
                                 and c.message else [], "verdict": "passed" if c.passed else "failed"}
        if assignment and n.status is Status.GRADED or n.cells:
            for cell in assignment.notebooks[n.notebook].cells if assignment else ():
                grades.setdefault(cell.grade_id, {"score": 0.0, "auto_score": 0.0, "max_score": cell.points,
                                                  "needs_manual_grade": False, "manual": cell.kind == "answer"})
        notebooks[n.notebook] = {"status": n.status.code, "score": n.score, "grades": grades, "cells": cells}
    return {"student_id": result.student_id, "assignment": result.assignment, "input_hash": result.input_hash,
            "status": result.status.code, "score": result.score, "max_score": result.max_score,
            "needs_manual_grade": result.needs_manual_grade, "notebooks": notebooks, "notes": result.notes,
            "flags": result.flags, "timestamp": result.timestamp}


def _unrecorded_pages(folder: str, stored: dict, info: dict | None, lang: str = "en") -> list[str]:
    """The page of a submission that never reaches the gradebook (every notebook errored), from
    this run's record: ``feedback.write_pages(folder, stored_record, assignment_info) -> [paths]``.
    Every other submission's pages are written once, from the gradebook, by ``_record_finals``."""
    if not info:
        return []
    from . import feedback
    return feedback.write_pages(folder, stored, info, lang)


def grade(submissions: str, out: str, **kwargs) -> list[dict]:
    return Batch(submissions, out, **kwargs).grade()
