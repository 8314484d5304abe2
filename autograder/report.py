"""The instructor's report of a graded class: ``python -m autograder report OUT`` → ``OUT/report/index.html``.

Item analysis as an instructor reads it after grading: the score distribution of each
assignment; per graded cell (``grade_id``) its pass rate, the points the class lost there and the
most common failures as the students' visible messages name them; the written answers still to
grade; late and errored submissions; and the pairs of submissions whose code is unusually
similar (:mod:`autograder.similarity`).

Points come from the course gradebook (nbgrader's ``db_url``: manual grades, extra credit and
late penalties included, so the report is right after formgrader and after a regrade); failure
messages and errors from the grading run's records (``OUT/results``); the students' code from
the course's ``autograded/`` notebooks. The page is static and offline: inline CSS, figures as
PNG files beside it, no script, so it opens from disk or from a zip on any machine.

    python -m autograder report OUT                 # OUT/report/index.html (path on stderr)
    python -m autograder report OUT --course DIR    # another course's gradebook and autograded/
    python -m autograder report OUT --lang zh_CN    # the page and its figures in Chinese

The report's language is ``--lang``; by default the class's: the language most of the course's
``autograded/`` notebooks were submitted in (the ``gradlab.lang`` the grader records there; English
on a tie or with none). Its fixed text goes through gradlab's message catalog
(``locale/<lang>/LC_MESSAGES/gradlab.po``, :mod:`gradlab.i18n`); students' messages stay as written.

Data flow: :func:`collect` (gradebook + records → :class:`ClassReport`, typed records, also
written as ``report.json``) → :func:`render` (→ HTML) with :mod:`autograder.report_figures`.
"""
from __future__ import annotations

import collections
import datetime
import html
import json
import os
import re
import statistics
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field

from .files import redact_db_url, write_atomic
from .gradebook import ResultStore
from .records import Status

TOP_FAILURES = 3
# a failure "kind" is its message with the numbers taken out: "expected 4.595, got -4.595" and
# "expected 4.595, got 0.5" are one misunderstanding, not two
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
_TENSOR = re.compile(r"tensor\((?:[^()]|\([^()]*\))*\)")
MAX_KIND = 160


@dataclass(frozen=True)
class CellStat:
    """One graded cell of one assignment over the class (the submissions in the gradebook)."""
    assignment: str
    notebook: str
    grade_id: str
    kind: str                  # "test" (autograded), "answer" (written, graded by hand) or "task"
    max_points: float
    submissions: int           # submissions that have this cell in the gradebook
    full_marks: int            # of which earned every point
    pass_rate: float           # full_marks / submissions (0 when nobody submitted)
    points_lost: float         # sum over submissions of max_points - points
    pending: int               # still waiting for a grader
    failures: list[tuple[str, int]] = field(default_factory=list)  # (kind of failure, submissions), commonest first


@dataclass(frozen=True)
class AssignmentStat:
    """One assignment's scores (final: autograded + manual − late penalty)."""
    name: str
    max_score: float
    students: int              # in the gradebook
    submitted: int
    scores: list[float]        # of the submissions, sorted
    mean: float
    median: float
    figure: str = ""           # histogram PNG, relative to the report folder


@dataclass(frozen=True)
class PendingAnswer:
    """A written answer (or task) that nobody has graded yet."""
    student_id: str
    assignment: str
    notebook: str
    grade_id: str
    max_points: float


@dataclass(frozen=True)
class Incident:
    """A submission that was late, or that the grader could not grade normally."""
    student_id: str
    assignment: str
    kind: str                  # "late", or the run's status (timeout, memory, kernel_died, rejected, ...)
    detail: str


@dataclass
class ClassReport:
    """Everything the page shows (also ``report.json``)."""
    generated: str
    gradebook: str
    assignments: list[AssignmentStat]
    cells: list[CellStat]
    pending: list[PendingAnswer]
    incidents: list[Incident]
    similarity: list = field(default_factory=list)   # similarity.Pair
    similarity_settings: dict = field(default_factory=dict)
    timing: dict = field(default_factory=dict)


def failure_kind(message: str) -> str:
    """The kind of a visible failure message: numbers and tensors replaced by ``#``, capped.

    Examples::

        >>> failure_kind("AssertionError: expected ln(0.99/0.01) = 4.595, got -4.595")
        'AssertionError: expected ln(#/#) = #, got #'
    """
    text = _NUMBER.sub("#", _TENSOR.sub("tensor(#)", " ".join((message or "").split())))
    return text if len(text) <= MAX_KIND else text[:MAX_KIND] + " …"


# -- collect ------------------------------------------------------------------------------------
def _record_failures(out: str) -> dict[tuple[str, str, str, str], str]:
    """(student, assignment, notebook, grade_id) -> the run's visible failure message of that test cell."""
    failures = {}
    for r in ResultStore(out).all_results():
        for nb in r.notebooks:
            for c in nb.cells:
                if not c.passed and c.kind != "answer" and c.message:
                    failures[(r.student_id, r.assignment, nb.notebook, c.grade_id)] = c.message
    return failures


def _incidents(out: str, late: list[Incident]) -> list[Incident]:
    rows = list(late)
    for r in ResultStore(out).all_results():
        if r.status is not Status.GRADED:
            rows.append(Incident(r.student_id, r.assignment, r.status.code, " | ".join(r.notes)[:300]))
        elif r.flags:
            rows.append(Incident(r.student_id, r.assignment, "flagged", " ".join(r.flags)[:300]))
    return sorted(rows, key=lambda i: (i.assignment, i.student_id, i.kind))


def collect(db_url: str, out: str) -> ClassReport:
    """The class report from the gradebook at ``db_url`` and the run records in ``out`` (no similarity yet)."""
    from .course import new_gradebook

    failures = _record_failures(out)
    assignments, cells, pending, late = [], [], [], []
    with warnings.catch_warnings(), new_gradebook(db_url) as gb:
        warnings.simplefilter("ignore")  # nbgrader's own SQLAlchemy autoflush warnings
        students = len(gb.students)
        for a in sorted(gb.assignments, key=lambda a: a.name):
            kinds, order, stats = {}, {}, {}
            for nb in a.notebooks:
                answers = {c.name for c in nb.solution_cells}
                for c in nb.grade_cells:
                    kinds[(nb.name, c.name)] = "answer" if c.name in answers else "test"
                for c in nb.task_cells:
                    kinds[(nb.name, c.name)] = "task"
                order.update({(nb.name, c.name): (nb.name, i) for i, c in enumerate(nb.source_cells)})
            scores = []
            for sub in sorted(a.submissions, key=lambda s: s.student.id):
                sid, penalty = sub.student.id, float(sub.late_submission_penalty or 0)
                scores.append(float(sub.score or 0) - penalty)
                seconds_late = float(sub.total_seconds_late or 0)
                if seconds_late > 0:
                    late.append(Incident(sid, a.name, "late", f"{datetime.timedelta(seconds=round(seconds_late))} late"
                                         + (f", penalty {penalty:g}" if penalty else "")))
                for snb in sub.notebooks:
                    for g in snb.grades:
                        key = (snb.name, g.name)
                        s = stats.setdefault(key, {"n": 0, "full": 0, "lost": 0.0, "pending": 0,
                                                   "max": float(g.max_score or 0), "fail": collections.Counter()})
                        points, top = float(g.score or 0), float(g.max_score or 0)
                        s["n"] += 1
                        s["full"] += points >= top
                        s["lost"] += max(0.0, top - points)
                        if g.needs_manual_grade:
                            s["pending"] += 1
                            pending.append(PendingAnswer(sid, a.name, snb.name, g.name, top))
                        elif points < top and kinds.get(key) == "test":
                            message = failures.get((sid, a.name, snb.name, g.name))
                            s["fail"][failure_kind(message) if message else "no message (not run or hidden check)"] += 1
            for key, s in sorted(stats.items(), key=lambda kv: order.get(kv[0], (kv[0][0], 10**6))):
                cells.append(CellStat(a.name, key[0], key[1], kinds.get(key, "test"), s["max"], s["n"], s["full"],
                                      s["full"] / s["n"] if s["n"] else 0.0, round(s["lost"], 6), s["pending"],
                                      s["fail"].most_common(TOP_FAILURES)))
            scores.sort()
            assignments.append(AssignmentStat(a.name, float(a.max_score or 0), students, len(scores), scores,
                                              statistics.fmean(scores) if scores else 0.0,
                                              statistics.median(scores) if scores else 0.0))
    return ClassReport(datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                       redact_db_url(db_url), assignments, cells, sorted(pending, key=lambda p: (p.assignment, p.student_id)),
                       _incidents(out, late))


# -- render -------------------------------------------------------------------------------------
CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:68rem;margin:2rem auto;padding:0 1rem;
color:#1f2328;line-height:1.45} h1{font-size:1.6rem;margin-bottom:.2rem} h2{margin-top:2.2rem;
border-bottom:1px solid #d0d7de;padding-bottom:.3rem} .sub{color:#57606a;margin-top:0}
table{border-collapse:collapse;width:100%;margin:.8rem 0} th,td{text-align:left;padding:.35rem .55rem;
border-bottom:1px solid #d0d7de;vertical-align:top} th{background:#f6f8fa} td.n{text-align:right;white-space:nowrap}
.bar{display:inline-block;height:.7rem;background:#2f81f7;vertical-align:middle;margin-right:.4rem}
.low{color:#cf222e;font-weight:600} ul.f{margin:0;padding-left:1.1rem;font-size:.92em} code{background:#f6f8fa;
padding:.05rem .3rem;border-radius:4px;font-size:.9em;word-break:break-word} figure{margin:.6rem 0}
figure img{max-width:100%;border:1px solid #d0d7de;border-radius:6px} .note{background:#fff8c5;padding:.7rem 1rem;
border-radius:6px} .muted{color:#57606a} nav a{margin-right:1rem}
"""


def _e(x) -> str:
    return html.escape(str(x))


def _n(x: float) -> str:
    return f"{x:g}"


def class_language(autograded: str | None) -> str:
    """The language most notebooks under ``autograded/<student>/<assignment>/`` were submitted in
    (``"en"`` on a tie or with none): the report's default language."""
    from . import i18n

    counts: collections.Counter = collections.Counter()
    if autograded and os.path.isdir(autograded):
        for student in sorted(os.listdir(autograded)):
            for assignment in sorted(_subdirs(os.path.join(autograded, student))):
                folder = os.path.join(autograded, student, assignment)
                for name in sorted(os.listdir(folder)):
                    if name.endswith(".ipynb"):
                        counts[i18n.notebook_language(os.path.join(folder, name))] += 1
    ranked = counts.most_common(2)
    if not ranked or (len(ranked) == 2 and ranked[0][1] == ranked[1][1]):
        return "en"
    return ranked[0][0]


def _subdirs(path: str) -> list[str]:
    return [d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d))] if os.path.isdir(path) else []


def gettext_of(lang: str):
    """``_`` of ``lang``: gradlab's catalog (the report's fixed text is extracted with gradlab's messages)."""
    from gradlab.i18n import translation

    return translation(lang).gettext


def _assignment_html(a: AssignmentStat, cells: list[CellStat], figures: dict[str, str], _=str) -> str:
    kinds = {"test": _("test"), "answer": _("answer"), "task": _("task")}
    rows = []
    for c in cells:
        fails = "".join(f"<li><code>{_e(k)}</code> ×{n}</li>" for k, n in c.failures)
        rate = f'<span class="bar" style="width:{c.pass_rate * 5:.2f}rem"></span>{c.pass_rate:.0%}'
        cls = ' class="low"' if c.kind == "test" and c.submissions and c.pass_rate < 0.5 else ""
        rows.append(f"<tr><td><code>{_e(c.grade_id)}</code><br><span class='muted'>{_e(c.notebook)}</span></td>"
                    f"<td>{_e(kinds.get(c.kind, c.kind))}</td><td class='n'>{_n(c.max_points)}</td><td class='n'{cls}>{rate}<br>"
                    f"<span class='muted'>{c.full_marks}/{c.submissions}</span></td><td class='n'>{_n(c.points_lost)}</td>"
                    f"<td>{'<ul class=f>' + fails + '</ul>' if fails else ''}"
                    + (f"<span class=muted>{_e(_('{n} to grade').format(n=c.pending))}</span>" if c.pending else "")
                    + "</td></tr>")
    figs = "".join(f'<figure><img src="{_e(figures[k])}" alt="{_e(alt.format(name=a.name))}"></figure>'
                   for k, alt in ((f"hist:{a.name}", _("score distribution of {name}")),
                                  (f"cells:{a.name}", _("pass rate per cell of {name}")))
                   if k in figures)
    summary = _("{submitted} of {students} students submitted · mean {mean} · median {median} · out of {max} points")
    heads = (_("cell (grade_id)"), _("kind"), _("points"), _("full marks"), _("points lost"),
             _("commonest failures (visible message)"))
    return (f'<h2 id="a-{_e(a.name)}">{_e(a.name)}</h2>'
            f"<p>{_e(summary.format(submitted=a.submitted, students=a.students, mean=f'{a.mean:.2f}', median=_n(a.median), max=_n(a.max_score)))}</p>{figs}"
            "<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in heads) + f"</tr>{''.join(rows)}</table>")


def render(rep: ClassReport, figures: dict[str, str], lang: str = "en") -> str:
    """The report page (``figures``: key -> PNG path relative to the page), its fixed text in ``lang``."""
    from . import similarity

    _ = gettext_of(lang)
    parts = [f"<h1>{_e(_('Class report'))}</h1><p class='sub'>"
             + _e(_("gradebook {gradebook} · generated {generated}").format(gradebook=rep.gradebook,
                                                                           generated=rep.generated)) + "</p>",
             "<nav>" + "".join(f'<a href="#a-{_e(a.name)}">{_e(a.name)}</a>' for a in rep.assignments)
             + f'<a href="#pending">{_e(_("to grade"))}</a><a href="#incidents">{_e(_("late and errors"))}</a>'
             f'<a href="#similarity">{_e(_("similarity"))}</a></nav>',
             "<p class='muted'>" + _e(_("Pass rate: the share of the submissions in the gradebook that earned every "
                                        "point of the cell; points lost: what those submissions missed there, summed. "
                                        "Failures are grouped by the message the students see, with its numbers "
                                        "taken out.")) + "</p>"]
    for a in rep.assignments:
        parts.append(_assignment_html(a, [c for c in rep.cells if c.assignment == a.name], figures, _))
    parts.append(f'<h2 id="pending">{_e(_("Written answers still to grade ({n})").format(n=len(rep.pending)))}</h2>')
    if rep.pending:
        groups: dict[tuple[str, str, str], list[str]] = {}
        for p in rep.pending:
            groups.setdefault((p.assignment, p.notebook, p.grade_id), []).append(p.student_id)
        parts.append("<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in (_("assignment"), _("cell"), _("to grade"),
                                                                             _("students"))) + "</tr>"
                     + "".join(f"<tr><td>{_e(a)}<br><span class='muted'>{_e(nb)}</span></td><td><code>{_e(gid)}</code>"
                               f"</td><td class='n'>{len(who)}</td><td>{_e(', '.join(who))}</td></tr>"
                               for (a, nb, gid), who in groups.items())
                     + "</table><p class='muted'>" + _e(_("Grade them in formgrader; run the report again "
                                                           "afterwards (until then they count as 0 points above).")) + "</p>")
    else:
        parts.append(f"<p>{_e(_('None: every written answer has been graded.'))}</p>")
    parts.append(f'<h2 id="incidents">{_e(_("Late and error rows ({n})").format(n=len(rep.incidents)))}</h2>')
    if rep.incidents:
        parts.append("<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in (_("student"), _("assignment"), _("what"),
                                                                             _("detail"))) + "</tr>"
                     + "".join(f"<tr><td>{_e(i.student_id)}</td><td>{_e(i.assignment)}</td><td>{_e(i.kind)}</td>"
                               f"<td>{_e(i.detail)}</td></tr>" for i in rep.incidents) + "</table>")
    else:
        parts.append(f"<p>{_e(_('None.'))}</p>")
    parts.append(similarity.render_section(rep.similarity, rep.similarity_settings))
    return (f"<!DOCTYPE html><html lang='{'zh-CN' if lang == 'zh_CN' else 'en'}'><head><meta charset='utf-8'>"
            f"<title>{_e(_('Class report'))}</title>"
            f"<meta name='viewport' content='width=device-width,initial-scale=1'><style>{CSS}</style></head>"
            f"<body>{''.join(parts)}</body></html>\n")


def build_report(db_url: str, out: str, *, autograded: str | None, source: str | None, similarity_check: bool = True,
          lang: str | None = None, **similarity_args) -> tuple[str, ClassReport]:
    """Write ``OUT/report/`` (index.html, figures, report.json, similarity pages); returns (index path, report).

    ``lang``: the page's and the figures' language (default :func:`class_language` of ``autograded``)."""
    from . import report_figures, similarity

    t0 = time.monotonic()
    folder = os.path.join(os.path.abspath(out), "report")
    rep = collect(db_url, out)
    rep.timing["collect_s"] = round(time.monotonic() - t0, 3)
    t = time.monotonic()
    lang = lang or class_language(autograded)
    figures = report_figures.draw(rep, folder, lang)
    rep.timing["figures_s"] = round(time.monotonic() - t, 3)
    if similarity_check and autograded:
        t = time.monotonic()
        checked = similarity.check_similarity(db_url, autograded, source, folder, **similarity_args)
        rep.similarity, rep.similarity_settings = checked.pairs, checked.settings
        rep.timing["similarity_s"] = round(time.monotonic() - t, 3)
    rep.timing["total_s"] = round(time.monotonic() - t0, 3)
    index = os.path.join(folder, "index.html")
    write_atomic(index, render(rep, figures, lang))
    write_atomic(os.path.join(folder, "report.json"), json.dumps(asdict(rep), indent=1))
    return index, rep


# --------------------------------------------------------------------------------------------
# `python -m autograder report OUT` (cli.py: `report.build_subparser(sub)`)
def cmd_report(args) -> int:
    from .course import Course

    course = Course.load(args.course, args.db_url)
    db_url = course.db_url
    source = args.source or course.path("source")
    index, rep = build_report(db_url, args.out, autograded=course.path("autograded"),
                       source=source if os.path.isdir(source) else None, similarity_check=not args.no_similarity,
                       threshold=args.threshold, min_tokens=args.min_tokens, max_share=args.max_share, lang=args.lang)
    print(f"wrote {index} ({len(rep.assignments)} assignment(s), {len(rep.pending)} answer(s) to grade, "
          f"{len(rep.similarity)} similar pair(s)) from {redact_db_url(db_url)} in {rep.timing['total_s']:.1f} s",
          file=sys.stderr)
    return 0


def add_arguments(p) -> None:
    from .similarity import Settings

    d = Settings()
    p.add_argument("out", metavar="OUT", help="the grading output folder (run records in OUT/results)")
    p.add_argument("--course", default=None, metavar="DIR", help="course root (default: the repository)")
    p.add_argument("--db-url", default=None, help="gradebook (default: the course's db_url)")
    p.add_argument("--source", default=None, metavar="DIR",
                   help="the assignments' source notebooks, whose solutions are discounted in the similarity "
                        "check (default: the course's source folder)")
    p.add_argument("--no-similarity", action="store_true", help="skip the similarity check")
    p.add_argument("--lang", choices=("en", "zh_CN"), default=None,
                   help="the report's language (default: the one most of the class's autograded notebooks were "
                        "submitted in)")
    p.add_argument("--threshold", type=float, default=d.threshold,
                   help=f"similarity (share of a submission's own code matched) that lists a pair (default {d.threshold:g})")
    p.add_argument("--min-tokens", type=int, default=d.min_tokens,
                   help=f"matched code below this many normalised characters never lists a pair (default {d.min_tokens})")
    p.add_argument("--max-share", type=float, default=d.max_share,
                   help="a passage found in more than this share of the class counts as common code, not a match "
                        f"(default {d.max_share:g})")
    p.set_defaults(func=cmd_report)


def build_subparser(sub) -> None:
    """Add ``report`` to the subparsers ``sub`` of ``python -m autograder``."""
    add_arguments(sub.add_parser(
        "report", help="the instructor's class report (item analysis, similarity, to grade) as OUT/report/index.html",
        description=__doc__.split("\n\n")[0]))
