"""Final grades from the course gradebook: autograded + manual points, one row per student and assignment.

The gradebook is nbgrader's (``db_url``), the one ``grade``, ``nbgrader autograde`` and
formgrader write, so the export includes the manual scores and extra credit given in formgrader
without any other step. Every assignment of the gradebook gets a row for every student (a
student who did not submit gets ``status=missing`` and 0 points), as ``nbgrader export`` does.
The first columns are those of ``grades.csv`` (student_id, assignment, score, max_score, status).

    python -m autograder export OUT            # OUT/grades_final.csv (and the path on stderr)
    python -m autograder export OUT --to -     # the CSV on stdout
    python -m autograder export OUT --format canvas --roster roster.csv   # OUT/grades_canvas.csv
    python -m autograder export OUT --format moodle --roster roster.csv   # OUT/grades_moodle.csv

``--format canvas|moodle`` writes the LMS's own gradebook-import file (:mod:`autograder.lms`).

``final_grades(course)`` is the function ``grade`` uses for ``OUT/grades.csv``'s points.
Every CSV cell that a spreadsheet would read as a formula is neutralised (:func:`autograder.files.csv_cell`).
"""
from __future__ import annotations

import csv
import io
import os
import sys
from dataclasses import astuple, dataclass, fields

from .files import csv_cell, redact_db_url, write_atomic


@dataclass(frozen=True)
class FinalGrade:
    """One student's grade on one assignment, as the gradebook has it now."""
    student_id: str
    assignment: str
    score: float               # autograded + manual + extra credit − late penalty
    max_score: float
    status: str                # "graded" (in the gradebook) or "missing" (no submission)
    needs_manual_grade: bool   # some cell still waits for a grader in formgrader
    auto_score: float          # points of the cells graded automatically (tests)
    manual_score: float        # points of the cells graded by hand (written answers), extra credit included
    late_penalty: float
    timestamp: str             # the submission's time (nbgrader's timestamp.txt), "" if unknown


COLUMNS = [f.name for f in fields(FinalGrade)]


def _points(grades) -> tuple[float, float]:
    """(auto, manual) points of a submission's grades: a manual score overrides, extra credit is manual."""
    auto = manual = 0.0
    for g in grades:
        extra = float(g.extra_credit or 0)
        if g.manual_score is not None:
            manual += float(g.manual_score) + extra
        else:
            auto += float(g.auto_score or 0)
            manual += extra
    return auto, manual


def final_grades(course, assignments: list[str] | None = None) -> list[FinalGrade]:
    """Every (student, assignment) of the ``course``'s gradebook, sorted by assignment then student."""
    rows = []
    with course.gradebook() as gb:
        students = sorted(s.id for s in gb.students)
        for a in sorted(gb.assignments, key=lambda a: a.name):
            if assignments and a.name not in assignments:
                continue
            max_score = float(a.max_score or 0)
            subs = {s.student.id: s for s in a.submissions}
            for sid in students:
                sub = subs.get(sid)
                if sub is None:
                    rows.append(FinalGrade(sid, a.name, 0.0, max_score, "missing", False, 0.0, 0.0, 0.0, ""))
                    continue
                grades = [g for nb in sub.notebooks for g in nb.grades]
                auto, manual = _points(grades)
                penalty = float(sub.late_submission_penalty or 0)
                rows.append(FinalGrade(
                    student_id=sid, assignment=a.name, score=float(sub.score or 0) - penalty, max_score=max_score,
                    auto_score=auto, manual_score=manual, late_penalty=penalty,
                    needs_manual_grade=bool(sub.needs_manual_grade), status="graded",
                    timestamp=sub.timestamp.isoformat(sep=" ") if sub.timestamp else ""))
    return rows


def to_csv(rows: list[FinalGrade]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow([csv_cell(v) for v in astuple(r)])
    return buf.getvalue()


def write_csv(path: str, rows: list[FinalGrade]) -> str:
    """Write ``rows`` to ``path`` (group-readable as the umask allows); returns the path."""
    write_atomic(path, to_csv(rows))
    return path


# --------------------------------------------------------------------------------------------
# `python -m autograder export OUT` (cli.py: `export.build_subparser(sub)`)
def cmd_export(args) -> int:
    from .course import Course

    course = Course.load(args.course, args.db_url)
    rows = final_grades(course, args.assignment or None)
    try:
        text = _formatted(rows, args)
    except ValueError as e:   # lms.RosterError included: a student the LMS could not be told about
        print(f"export: {e}", file=sys.stderr)
        return 2
    if args.to == "-":
        sys.stdout.write(text)
        return 0
    name = "grades_final.csv" if args.format == "csv" else f"grades_{args.format}.csv"
    path = args.to or os.path.join(args.out, name)
    write_atomic(path, text)
    pending = sum(r.needs_manual_grade for r in rows)
    print(f"wrote {len(rows)} row(s) from {redact_db_url(course.db_url)} to {path}"
          + (f"; {pending} still need manual grading (needs_manual_grade=1)" if pending else ""), file=sys.stderr)
    return 0


def _formatted(rows: list[FinalGrade], args) -> str:
    if args.format == "csv":
        return to_csv(rows)
    from . import lms

    if not args.roster:
        raise ValueError(f"--format {args.format} needs --roster FILE (student_id and the LMS's identifiers)")
    roster = lms.read_roster(args.roster)
    if args.format == "canvas":
        bad = [item for item in args.lms_id if "=" not in item]
        if bad:
            raise ValueError(f"--lms-id takes ASSIGNMENT=ID, not {bad[0]!r}")
        return lms.canvas_csv(rows, roster, dict(item.split("=", 1) for item in args.lms_id))
    return lms.moodle_csv(rows, roster, args.moodle_id)


def add_arguments(p) -> None:
    p.add_argument("out", metavar="OUT")
    p.add_argument("--to", default=None, help="file to write (default: OUT/grades_final.csv; '-' for stdout)")
    p.add_argument("--course", default=None, metavar="DIR", help="course root (default: the repository)")
    p.add_argument("--db-url", default=None, help="gradebook (default: the course's db_url)")
    p.add_argument("--assignment", action="append", default=[], help="only this assignment (repeatable)")
    p.add_argument("--format", choices=["csv", "canvas", "moodle"], default="csv",
                   help="csv: this grader's columns (default); canvas / moodle: that LMS's gradebook-import "
                        "CSV (needs --roster; default file OUT/grades_<format>.csv)")
    p.add_argument("--roster", default=None, metavar="CSV",
                   help="student_id plus the LMS's identifiers: name, canvas_id, sis_user_id, sis_login_id, "
                        "section (Canvas); email, idnumber or username (Moodle)")
    p.add_argument("--moodle-id", choices=["email", "idnumber", "username"], default="email",
                   help="the user field Moodle matches students on (default email)")
    p.add_argument("--lms-id", action="append", default=[], metavar="ASSIGNMENT=ID",
                   help="Canvas assignment id of an assignment (repeatable): its column updates that "
                        "assignment; without it Canvas creates a new one")
    p.set_defaults(func=cmd_export)


def build_subparser(sub) -> None:
    """Add ``export`` to the subparsers ``sub`` of ``python -m autograder``."""
    add_arguments(sub.add_parser(
        "export", help="final grades (autograded + manual points) from the course gradebook as CSV",
        description=__doc__.split("\n\n")[0] + ". Columns: " + ", ".join(COLUMNS) + "."))


if __name__ == "__main__":
    import argparse

    _parser = argparse.ArgumentParser(prog="python -m autograder.export", description=__doc__.split("\n\n")[0])
    add_arguments(_parser)
    _args = _parser.parse_args()
    sys.exit(_args.func(_args))
