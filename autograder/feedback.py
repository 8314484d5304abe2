"""Feedback pages for students: final points (manual grading included), never the hidden tests.

nbgrader's own feedback (``generate_feedback``) is the whole autograded notebook, hidden test
cells included (jupyter/nbgrader#917, #1363). Ours is one page per notebook that says, per
graded cell, how many points it earned (the autograder's, or the instructor's manual score and
extra credit from formgrader) and the grader's comment, and for a failed test the error type
and message. Every message comes from the judge's record (``autograder.judge``): a failure in the
*visible* part of a test cell shows its class and message, one in a hidden region only its class
and "(in a hidden test)"; it is capped, and any hidden-test line, hidden-test string literal or
mark-scheme line found in it is replaced by "[hidden]". No cell source and no output the student's
process wrote for a test cell is shown (``autograded/`` test cells hold only the judge's message).

The pages are read from the course gradebook (nbgrader's ``db_url``: what formgrader edits) and
the course's ``autograded/`` notebooks, so regenerating them after manual grading
(``python -m autograder feedback OUT``) includes the manual points. They are written to
``OUT/feedback/<student>/<assignment>/<notebook>.html`` and to the course's
``feedback/<student>/<assignment>/`` (nbgrader's layout, with the ``timestamp.txt`` and
``submission_secret.txt`` that ``nbgrader release_feedback`` reads), so ``nbgrader
release_feedback ASSIGNMENT`` returns them through the exchange.

Every page is one :class:`NotebookFeedback` rendered by :func:`render_feedback`: from the
gradebook (:func:`notebook_feedback`), or, for a submission that never reaches the gradebook
(every notebook an internal error), from the grading run's result (:func:`result_feedback`).
The status box says the notebook's grading status (``Status.text``) when it is not graded.
"""
from __future__ import annotations

import html
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from . import i18n
from .files import number_text, redact_db_url, write_atomic
from .gradebook import ResultStore
from .notebook import ANSI, hidden_line_numbers, redact, safe_ename, secrets_in
from .records import CellVerdict, Status, SubmissionResult

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:52rem;margin:2rem auto;
padding:0 1rem;color:#1f2328;line-height:1.5}
h1{font-size:1.5rem;margin-bottom:.2rem} .sub{color:#57606a;margin-top:0}
.score{font-size:2rem;font-weight:600} .status{padding:.6rem 1rem;border-radius:6px;margin:1rem 0}
.ok{background:#dafbe1} .warn{background:#fff8c5} .bad{background:#ffebe9}
table{border-collapse:collapse;width:100%;margin-top:1rem} th,td{text-align:left;padding:.45rem .6rem;
border-bottom:1px solid #d0d7de;vertical-align:top} th{background:#f6f8fa}
td.pts{white-space:nowrap;text-align:right} code{background:#f6f8fa;padding:.1rem .3rem;border-radius:4px;
font-size:.9em;word-break:break-word} .pass{color:#1a7f37;font-weight:600} .fail{color:#cf222e;font-weight:600}
.pending{color:#9a6700;font-weight:600} ul.notes{color:#57606a}
"""


# ============================================================================================
# pages from the course gradebook (manual grading included)
# IPython's frame headers, and Python's (``File "<ipython-input-3-…>", line 1``: the grader's runner)
FRAME = re.compile(r'^(?:Cell In\s*\[(\d+)\]|Input In \[(\d+)\]|(?:File ")?<ipython-input-(\d+)-[0-9a-f]+>"?),? (?:line )?(\d+)')


@dataclass
class CellFeedback:
    """One graded cell of a submitted notebook, as a student may read it."""
    grade_id: str
    kind: str                       # "test" (autograded), "answer" (graded solution cell), "task"
    max_points: float
    auto_points: float | None       # what the autograder gave (None: not autograded)
    manual_points: float | None     # what the instructor gave in formgrader (None: not overridden)
    extra_credit: float
    points: float                   # nbgrader's score: manual if set, else auto, plus extra credit
    pending: bool                   # still needs a manual grade
    outcome: str                    # "passed" | "failed" | "partial" | "pending" | "graded" | "not run"
    message: str = ""               # why a test failed: capped, redacted, safe to show
    comment: str = ""               # the grader's comment (formgrader), shown as written


@dataclass
class NotebookFeedback:
    student_id: str
    assignment: str
    notebook: str
    score: float                    # final: manual points, extra credit and late penalty included
    max_score: float
    late_penalty: float = 0.0
    pending: bool = False           # some cell still needs manual grading
    autograded: bool = True         # an autograded notebook exists for the messages
    cells: list[CellFeedback] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)   # from the grading run: shown as is
    status: Status | None = None    # the grading run's status of this notebook (None: not known here)
    lang: str = "en"                # the language the student worked in: the page is written in it


def failure_message(cell, secret_text: list[str]) -> str:
    """What a student may read about the error output of an executed test ``cell`` ('' if none).

    The grader writes a test cell of ``autograded/`` with one output, the judge's own message
    (already capped and scrubbed; traceback = that message): it is shown, redacted once more. Any
    other error output (a notebook autograded by plain nbgrader) shows its type always, and its
    message only when the test cell's own frame of the traceback lies in the visible part of the
    cell (a failure inside the hidden tests, or one that cannot be located, shows only the type).
    """
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if not errors:
        return ""
    err = errors[-1]
    ename = safe_ename(err.get("ename", "Error"), secret_text)
    value = str(err.get("evalue", ""))
    tb = err.get("traceback") or []
    if len(tb) == 1 and str(tb[0]) in (value, f"{err.get('ename', '')}: {value}"):  # the judge's record
        return redact(value, secret_text)
    line = None
    for frame in (row.strip() for t in tb for row in ANSI.sub("", str(t)).splitlines()):
        m = FRAME.match(frame)
        if m and int(next(g for g in m.groups()[:3] if g)) == cell.get("execution_count"):
            line = int(m.group(4))
            break
    if line is None or line in hidden_line_numbers(cell.get("source", "")):
        return f"{ename} (in a hidden test)"
    value = redact(value, secret_text)
    return f"{ename}: {value}" if value else ename


def _read_autograded(path: str) -> tuple[dict[str, dict], str]:
    """The graded cells (by grade id) of the autograded notebook at ``path``, and the language it
    says the student worked in; ``({}, "en")`` for a missing or broken one (it has no messages)."""
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 — a missing or broken notebook just has no messages
        return {}, "en"
    return ({c.metadata.nbgrader["grade_id"]: c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")},
            i18n.language_of(nb))


def _cell_outcome(kind: str, g, message: str) -> str:
    if g.needs_manual_grade:
        return "pending"
    if kind == "test" and g.auto_score is None and g.manual_score is None:
        return "not run"
    if g.manual_score is not None and kind != "test":
        return "graded"
    if message or (g.score or 0) <= 0 < (g.max_score or 0):
        return "failed"
    return "passed" if (g.score or 0) >= (g.max_score or 0) else "partial"


def notebook_feedback(gb, course, assignment: str, student_id: str, notebook: str) -> NotebookFeedback:
    """The feedback of one submitted notebook, from gradebook ``gb`` and the ``course``'s ``autograded/``."""
    sub = gb.find_submission_notebook(notebook, assignment, student_id)
    source_nb = sub.notebook
    kinds = {c.name: ("answer" if c.name in {s.name for s in source_nb.solution_cells} else "test")
             for c in source_nb.grade_cells}
    kinds.update({c.name: "task" for c in source_nb.task_cells})
    secret_text = secrets_in([c.source or "" for c in source_nb.source_cells])
    nb_path = course.path("autograded", student_id, assignment, notebook)
    executed, lang = _read_autograded(nb_path)
    comments = {c.name: (c.manual_comment if c.manual_comment is not None else c.auto_comment) or ""
                for c in sub.comments}
    order = {name: i for i, name in enumerate(executed)}
    cells = []
    for g in sorted(sub.grades, key=lambda g: (order.get(g.name, len(order)), g.name)):
        kind = kinds.get(g.name, "test")
        message = failure_message(executed[g.name], secret_text) if kind == "test" and g.name in executed else ""
        cells.append(CellFeedback(
            grade_id=g.name, kind=kind, max_points=float(g.max_score or 0), auto_points=g.auto_score,
            manual_points=g.manual_score, extra_credit=float(g.extra_credit or 0), points=float(g.score or 0),
            pending=bool(g.needs_manual_grade), outcome=_cell_outcome(kind, g, message), message=message,
            comment=comments.get(g.name, "")))
    penalty = float(sub.late_submission_penalty or 0)
    return NotebookFeedback(student_id=student_id, assignment=assignment, notebook=notebook,
                            score=float(sub.score or 0) - penalty, max_score=float(sub.max_score or 0),
                            late_penalty=penalty, pending=bool(sub.needs_manual_grade),
                            autograded=os.path.exists(nb_path), cells=cells, lang=lang)


def collect_feedback(course, assignments: list[str] | None = None,
            students: list[str] | None = None) -> list[NotebookFeedback]:
    """Feedback of every submitted notebook in the ``course``'s gradebook (optionally only some
    assignments/students)."""
    out = []
    with course.gradebook() as gb:
        for a in gb.assignments:
            if assignments and a.name not in assignments:
                continue
            for sub in sorted(a.submissions, key=lambda s: s.student.id):
                if students and sub.student.id not in students:
                    continue
                for nb in sorted(sub.notebooks, key=lambda n: n.name):
                    out.append(notebook_feedback(gb, course, a.name, sub.student.id, nb.name))
    return out


def result_feedback(result: SubmissionResult, assignment) -> list[NotebookFeedback]:
    """The pages of a submission that never reached the gradebook, from its ``result`` and the
    ``assignment``'s source snapshot (``course.Assignment``): one per notebook of the assignment,
    every graded cell with what this run gave it (no manual points: nobody graded it by hand)."""
    pages = []
    for stem, source in assignment.notebooks.items():
        nb = next((n for n in result.notebooks if n.notebook == stem), None)
        verdicts = {c.grade_id: c for c in nb.cells} if nb else {}
        cells = [_verdict_feedback(g.grade_id, g.kind, g.points, verdicts.get(g.grade_id), source.hidden)
                 for g in source.cells]
        pages.append(NotebookFeedback(
            result.student_id, result.assignment, stem, score=nb.score if nb else 0.0, max_score=source.max_score,
            pending=any(c.pending for c in cells), autograded=False, cells=cells, notes=list(result.notes),
            status=nb.status if nb else (result.status if result.status is not Status.GRADED
                                         else Status.MISSING_NOTEBOOK)))
    return pages


def _verdict_feedback(grade_id: str, kind: str, points: float, v: CellVerdict | None, hidden) -> CellFeedback:
    if v is None:
        return CellFeedback(grade_id, kind, points, None, None, 0.0, 0.0, False, "not run")
    if v.needs_manual_grade:
        outcome = "pending"
    elif v.passed or v.points >= v.max_points > 0:
        outcome = "passed"
    else:
        outcome = "partial" if v.points > 0 else "failed"
    message = redact(v.message, list(hidden)) if kind == "test" and not v.passed else ""
    auto = None if v.needs_manual_grade else v.points
    return CellFeedback(grade_id, kind, v.max_points, auto, None, 0.0, v.points, v.needs_manual_grade, outcome, message)


_OUTCOME_HTML = {"passed": '<span class="pass">passed</span>', "failed": '<span class="fail">failed</span>',
                 "partial": '<span class="pending">partial credit</span>',
                 "pending": '<span class="pending">to be graded by your instructor</span>',
                 "graded": '<span class="pass">graded by your instructor</span>',
                 "not run": '<span class="fail">not run</span>'}
_KIND = {"test": "test", "answer": "written answer", "task": "task"}


def _points_html(c: CellFeedback) -> str:
    if c.pending:
        return f"– / {number_text(c.max_points)}"
    text = f"{number_text(c.points)} / {number_text(c.max_points)}"
    notes = []
    if c.manual_points is not None and c.auto_points is not None and c.manual_points != c.auto_points:
        notes.append(f"set by your instructor (autograder: {number_text(c.auto_points)})")
    if c.extra_credit:
        notes.append(f"includes {number_text(c.extra_credit)} extra credit")
    return text + "".join(f'<br><span class="sub">{html.escape(n)}</span>' for n in notes)


def render_feedback(fb: NotebookFeedback) -> str:
    """The HTML page of one notebook's feedback (self-contained, no script, no external resource)."""
    rows = []
    for c in fb.cells:
        result = _OUTCOME_HTML[c.outcome] + (f" — <code>{html.escape(c.message)}</code>" if c.message else "")
        comment = (f'<div class="comment"><b>Comment:</b> {html.escape(c.comment)}</div>' if c.comment.strip() else "")
        rows.append(f"<tr><td><code>{html.escape(c.grade_id)}</code></td><td>{_KIND.get(c.kind, c.kind)}</td>"
                    f'<td>{result}{comment}</td><td class="pts">{_points_html(c)}</td></tr>')
    if fb.status not in (None, Status.GRADED):
        status = ("warn" if fb.status in (Status.TIMEOUT, Status.MEMORY) else "bad", fb.status.text)
    elif not fb.autograded:
        status = ("bad", "This notebook has not been graded automatically yet.")
    elif fb.pending:
        status = ("warn", "Some written answers are still to be graded by your instructor: "
                          "the total above does not include them yet.")
    else:
        status = ("ok", "Graded. The total includes your instructor's manual grading.")
    late = (f"<p class='sub'>Late submission penalty: −{number_text(fb.late_penalty)} points.</p>"
            if fb.late_penalty else "")
    if fb.notes:
        late += "<ul class='notes'>" + "".join(f"<li>{html.escape(n)}</li>" for n in fb.notes) + "</ul>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Feedback: {html.escape(fb.assignment)} / {html.escape(fb.notebook)}</title><style>{CSS}
.comment{{margin-top:.3rem;padding:.3rem .5rem;background:#f6f8fa;border-left:3px solid #54aeff;white-space:pre-wrap}}</style></head>
<body>
<h1>{html.escape(fb.notebook)}</h1>
<p class="sub">Assignment <b>{html.escape(fb.assignment)}</b> · student <b>{html.escape(fb.student_id)}</b></p>
<div class="score">{number_text(fb.score)} / {number_text(fb.max_score)} points</div>
<div class="status {status[0]}">{html.escape(status[1])}</div>
{late}
<table><thead><tr><th>Graded cell</th><th>Kind</th><th>Result</th><th>Points</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
<p class="sub">Tests are run on a fresh kernel, top to bottom. Hidden tests are not shown; fix the failing
function and check it against the visible tests before resubmitting.</p>
</body></html>
"""


def write_feedback(course, out: str | None = None, *, assignments: list[str] | None = None,
                   students: list[str] | None = None,
                   results: Mapping[tuple[str, str], SubmissionResult] | None = None) -> list[NotebookFeedback]:
    """Write every submitted notebook's page to the ``course``'s ``feedback/`` and ``out/feedback/``.

    Reads the course's gradebook and ``autograded/``. ``out`` None writes the course's folder
    only. ``results`` maps (student_id, assignment) to the grading run's result: each page of
    that submission shows its notes and its notebook's status. Returns what was written, one
    record per page.
    """
    from .record import write_exchange_files

    pages = collect_feedback(course, assignments, students)
    for fb in pages:
        result = (results or {}).get((fb.student_id, fb.assignment))
        if result is not None:
            fb.notes = list(result.notes)
            fb.status = next((n.status for n in result.notebooks if n.notebook == fb.notebook), None)
        page = i18n.localize_page(render_feedback(fb), fb.lang)
        course_fb = course.path("feedback", fb.student_id, fb.assignment)
        write_atomic(os.path.join(course_fb, fb.notebook + ".html"), page)
        write_exchange_files(course_fb, [course.path("autograded", fb.student_id, fb.assignment),
                                         course.path("submitted", fb.student_id, fb.assignment)], fallback=True)
        if out:
            write_atomic(os.path.join(os.path.abspath(out), "feedback", fb.student_id, fb.assignment,
                                    fb.notebook + ".html"), page)
    return pages


# --------------------------------------------------------------------------------------------
# `python -m autograder feedback OUT` (cli.py: `feedback.build_subparser(sub)`)
def cmd_feedback(args) -> int:
    from .course import Course

    course = Course.load(args.course, args.db_url)
    # the grading run's results (when OUT holds them) give each page its status and notes
    results = {(r.student_id, r.assignment): r for r in ResultStore(args.out).all_results()}
    pages = write_feedback(course, args.out, assignments=args.assignment or None, students=args.student or None,
                           results=results)
    pending = sum(p.pending for p in pages)
    print(f"wrote {len(pages)} feedback page(s) from {redact_db_url(course.db_url)} to "
          f"{os.path.join(os.path.abspath(args.out), 'feedback')} and {course.path('feedback')}"
          + (f"; {pending} still need manual grading" if pending else ""))
    return 0


DESCRIPTION = ("One page per submitted notebook from the course gradebook (manual points and comments from "
               "formgrader included) and the course's autograded/ notebooks, never hidden tests: "
               "OUT/feedback/<student>/<assignment>/<notebook>.html and the course's feedback/ "
               "(then: nbgrader release_feedback ASSIGNMENT).")


def build_subparser(sub) -> None:
    """Add ``feedback`` to the subparsers ``sub`` of ``python -m autograder``."""
    add_arguments(sub.add_parser("feedback", help="write students' feedback pages from the course gradebook",
                                 description=DESCRIPTION))


def add_arguments(p) -> None:
    p.add_argument("out", metavar="OUT")
    p.add_argument("--course", default=None, metavar="DIR", help="course root (default: the repository)")
    p.add_argument("--db-url", default=None, help="gradebook (default: the course's db_url)")
    p.add_argument("--assignment", action="append", default=[], help="only this assignment (repeatable)")
    p.add_argument("--student", action="append", default=[], help="only this student (repeatable)")
    p.set_defaults(func=cmd_feedback)


if __name__ == "__main__":
    import argparse

    _parser = argparse.ArgumentParser(prog="python -m autograder.feedback", description=DESCRIPTION)
    add_arguments(_parser)
    _args = _parser.parse_args()
    sys.exit(_args.func(_args))
