"""record: everything after the judge, for one submission, in one call (:func:`record`).

    discover -> plan -> run -> judge -> record
                                        SubmissionResult -> gradebook, autograded/, exchange files, page

The grading parent is the only writer. A submission with a notebook that is not an internal
error is *recorded*: its automatic scores go to the course gradebook (``gradebook``), its
executed notebooks to the course's ``autograded/`` (hidden tests included: the instructor's and
formgrader's), nbgrader's exchange files beside them, and its pages are rendered from the
gradebook (manual points included). A submission that never reaches the gradebook (every
notebook an internal error) gets its pages from the result itself. Every page goes through the
one renderer, ``feedback.render_feedback``; the status box says ``Status.text`` of the notebook.
After the batch, :func:`record_finals` writes ``grades.csv`` with the gradebook's final scores and
refreshes the pages of the graded assignments' other submissions (manual grading since).
"""
from __future__ import annotations

import datetime
import os
import secrets
import stat
from collections.abc import Sequence

from . import feedback, i18n
from .course import Assignment, Course, SourceNotebook
from .discover import EXCHANGE_FILE_BYTES, read_file
from .files import write_atomic
from .gradebook import GradebookError, ResultStore, record_submission, write_autograded
from .notebook import ANSI, Markers, hide
from .records import NotebookResult, RunOutput, Status, StudentRun, Submission, SubmissionResult


def record(result: SubmissionResult, course: Course, out: str, *, submission: Submission,
           assignment: Assignment, runs: dict[str, tuple[StudentRun, NotebookResult]]) -> SubmissionResult:
    """Write one judged submission everywhere it goes (see the module docstring); returns the
    result with a note and the ``feedback-error`` flag when its page could not be written.

    Args:
        result: the judged submission (its cells complete: every graded cell of a graded notebook).
        course: where it is recorded (gradebook, ``autograded/``, ``feedback/``).
        out: the run's output folder (``OUT/feedback/<student>/<assignment>/``).
        submission: what discovery found (the folder the exchange files come from).
        assignment: the assignment's source snapshot.
        runs: notebook stem -> (its run, its verdict), for the notebooks that ran.
    """
    page_folder = os.path.join(out, "feedback", result.student_id, result.assignment)
    recorded = any(n.status is not Status.ERROR for n in result.notebooks)
    if recorded:
        record_submission(course, result)
        folder = course.path("autograded", result.student_id, result.assignment)
        for stem, (ran, nbr) in runs.items():
            source = assignment.notebooks[stem]
            write_autograded(folder, stem + ".ipynb", autograded_cells(ran.plan, ran.output, source, nbr),
                             i18n.autograded_metadata(source.nb.metadata, ran.lang))
        # as nbgrader autograde copies them: generate/release_feedback pair the page with the submission
        write_exchange_files(folder, [submission.path])
    try:
        if recorded:   # from the gradebook: the page a regeneration after manual grading rewrites
            feedback.write_feedback(course, out, assignments=[result.assignment], students=[result.student_id],
                                    results={(result.student_id, result.assignment): result})
        else:
            lang = next((ran.lang for ran, _ in runs.values() if ran.lang != "en"), "en")
            for fb in feedback.result_feedback(result, assignment):
                write_atomic(os.path.join(page_folder, fb.notebook + ".html"),
                             i18n.localize_page(feedback.render_feedback(fb), lang))
    except Exception as e:  # noqa: BLE001 — a bad file of one student is that student's row
        _page_failed(result, e)
    write_exchange_files(page_folder, [submission.path])
    return result


def _page_failed(result: SubmissionResult, e: Exception) -> None:
    note = f"feedback page not written: {type(e).__name__}: {str(e)[:300]}"
    if note not in result.notes:
        result.notes.append(note)
        result.flags = sorted(set(result.flags) | {"feedback-error"})


def record_finals(course: Course, store: ResultStore, assignments: list[str], paged: set[tuple[str, str]]) -> None:
    """After the batch: ``grades.csv`` with the gradebook's final scores (manual points included),
    and the pages of the ``assignments``' submissions this batch did not write (``paged``)."""
    from . import export
    from .files import redact_db_url

    try:
        finals = {(g.student_id, g.assignment): g for g in export.final_grades(course, assignments or None)}
    except Exception as e:  # the gradebook went away after recording: the CSV still gets every row
        store.write_csv()
        raise GradebookError(f"reading the final grades back from the gradebook {redact_db_url(course.db_url)} "
                             f"failed: {type(e).__name__}: {redact_db_url(str(e))[:500]}") from None
    for r in store.all_results():
        key = (r.student_id, r.assignment)
        if key in paged or key not in finals or r.assignment not in assignments:
            continue
        try:
            feedback.write_feedback(course, store.out, assignments=[r.assignment], students=[r.student_id],
                                    results={key: r})
        except Exception as e:  # noqa: BLE001 — the batch always finishes
            before = len(r.notes)
            _page_failed(r, e)
            if len(r.notes) > before:
                store.put(r)
    store.write_csv(finals)


# -- nbgrader's exchange files -------------------------------------------------------------------
def write_exchange_files(dest: str, sources: Sequence[str], *, fallback: bool = False) -> None:
    """``timestamp.txt`` and ``submission_secret.txt`` in ``dest``, from the first of the ``sources``
    folders that has them (nbgrader's exchange pairs a feedback page with its submission by them).

    Every source may be the student's tree: each file is read as hostile input
    (``discover.read_file``: size-capped, never through a link) and written anew, 0644 under the
    umask, as printable text only (the secret: letters and digits, as nbgrader writes it). Without
    a timestamp nothing is written, unless ``fallback``: a submission from a plain folder (an LMS
    download) then gets its notebooks' newest modification time and a fresh random secret (kept
    if ``dest`` has one), so that ``nbgrader release_feedback`` runs; such students cannot
    ``fetch_feedback`` and get ``OUT/feedback/<student>/`` through the LMS instead.

    Examples:
        >>> import tempfile
        >>> d = tempfile.mkdtemp()
        >>> write_exchange_files(d, [tempfile.mkdtemp()])
        >>> os.listdir(d)
        []
    """
    stamp = _exchange_text(sources, "timestamp.txt")
    stamp = "".join(ch for ch in stamp.strip()[:64] if ch.isprintable()) if stamp is not None else ""
    secret = submission_secret(sources)
    if not stamp and not fallback:
        return
    write_atomic(os.path.join(dest, "timestamp.txt"), stamp or _newest_notebook_time(sources))
    if secret:
        write_atomic(os.path.join(dest, "submission_secret.txt"), secret)
    elif fallback and not os.path.exists(os.path.join(dest, "submission_secret.txt")):
        write_atomic(os.path.join(dest, "submission_secret.txt"), secrets.token_hex(64))


def submission_secret(sources: Sequence[str]) -> str:
    """The submission's ``submission_secret.txt`` from the first of ``sources`` that has one, as
    nbgrader writes it (ASCII letters and digits; whatever else a student's tree holds is dropped), or ''."""
    secret = _exchange_text(sources, "submission_secret.txt")
    return "".join(ch for ch in secret.strip()[:256] if ch.isascii() and ch.isalnum()) if secret is not None else ""


def _exchange_text(sources: Sequence[str], name: str) -> str | None:
    for folder in sources:
        try:
            return read_file(os.path.join(folder, name), EXCHANGE_FILE_BYTES).decode("utf-8", "replace")
        except (ValueError, OSError):
            continue
    return None


def _newest_notebook_time(folders: Sequence[str]) -> str:
    times = [st.st_mtime for d in folders if os.path.isdir(d) for n in os.listdir(d)
             if n.endswith(".ipynb") for st in [os.lstat(os.path.join(d, n))] if stat.S_ISREG(st.st_mode)]
    when = datetime.datetime.fromtimestamp(max(times) if times else datetime.datetime.now().timestamp(), datetime.UTC)
    return when.strftime("%Y-%m-%d %H:%M:%S.%f %Z")


# -- autograded/ ---------------------------------------------------------------------------------
def _redacted(o: dict | None, secret: Sequence[str]) -> dict | None:
    """A student cell's output with hidden-test text it smuggled out replaced by "[hidden]"."""
    if o is None:
        return None
    if o["output_type"] == "stream":
        o["text"] = hide(ANSI.sub("", o["text"]), secret)
    elif o["output_type"] == "error":
        o.update(ename=hide(o["ename"], secret), evalue=hide(o["evalue"], secret),
                 traceback=[hide(t, secret) for t in o["traceback"]])
    else:
        o["data"] = {k: hide(v, secret) if not k.startswith("image/") else v for k, v in o["data"].items()}
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


def autograded_cells(p, out: RunOutput, source: SourceNotebook, nbr: NotebookResult) -> list[dict]:
    """The cells of ``autograded/<student>/<assignment>/<notebook>.ipynb``: the plan's cells with
    the source's metadata, a student cell's outputs (cleaned, hidden text redacted; none at all
    when the results were tampered with), a test cell's judged message."""
    meta, source_nb = source.cell_metadata, source.nb
    verdicts = {v.grade_id: v for v in nbr.cells}
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
        outputs = [_redacted(_clean_output(o), source.hidden) for o in (ran.outputs if ran else [])]
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

