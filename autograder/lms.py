"""Final grades as the gradebook-import CSV of an LMS: Canvas or Moodle.

Both import one column per assignment and find each student by an identifier that only the LMS
knows, so the instructor supplies a **roster**: a CSV with a ``student_id`` column (the nbgrader
student id) and the LMS's identifiers of the same student::

    student_id,name,canvas_id,sis_user_id,sis_login_id,section,email,username,idnumber
    ada,Ada Lovelace,1042,A123,ada@uni.example,Section 1,ada@uni.example,ada,A123

Only the columns the chosen LMS reads are needed (Canvas: ``name`` and ``canvas_id`` or
``sis_user_id``; Moodle: the one named by ``--moodle-id``). A graded student missing from the
roster is an error, never a silently dropped grade.

* **Canvas** (Grades → Import, "Gradebook import CSV"): the columns ``Student, ID, SIS User ID,
  SIS Login ID, Section``, then one column per assignment headed ``<name> (<Canvas assignment
  id>)``, or ``<name>`` alone to have Canvas create the assignment; the row after the header is
  ``Points Possible`` with each assignment's points.
* **Moodle** (Grades → Import → CSV file): a header row; one identifier column (email address,
  ID number or username, matched in the import form's "Map from / Map to") and one numeric column
  per grade item (each mapped to its grade item in the form).

Every cell goes through :func:`autograder.files.csv_cell`, so no spreadsheet runs a name as a
formula.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from .export import FinalGrade
from .files import csv_cell

CANVAS_FIXED = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
# Moodle's import form maps an identifier column to one of these user fields
MOODLE_IDS = {"email": "Email address", "idnumber": "ID number", "username": "Username"}


class RosterError(ValueError):
    """The roster cannot map every graded student to the LMS."""


@dataclass(frozen=True)
class RosterEntry:
    """One student as the LMS knows them (a row of the instructor's roster CSV)."""
    student_id: str
    name: str = ""
    canvas_id: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""
    email: str = ""
    username: str = ""
    idnumber: str = ""


def read_roster(path: str) -> dict[str, RosterEntry]:
    """``student_id -> RosterEntry`` from the roster CSV at ``path`` (unknown columns are ignored)."""
    known = set(RosterEntry.__dataclass_fields__)
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "student_id" not in reader.fieldnames:
            raise RosterError(f"{path}: the roster needs a student_id column (the nbgrader student id)")
        roster = {}
        for row in reader:
            entry = RosterEntry(**{k: (v or "").strip() for k, v in row.items() if k in known})
            if entry.student_id:
                roster[entry.student_id] = entry
    return roster


def _table(rows: list[FinalGrade]) -> tuple[list[str], dict[str, float], dict[str, dict[str, float]]]:
    """(assignments, their points possible, student -> assignment -> score)."""
    assignments = sorted({r.assignment for r in rows})
    points = {r.assignment: r.max_score for r in rows}
    scores: dict[str, dict[str, float]] = {}
    for r in rows:
        scores.setdefault(r.student_id, {})[r.assignment] = r.score
    return assignments, points, scores


def _unmatched(students, roster: dict[str, RosterEntry], need) -> list[str]:
    return sorted(s for s in students if s not in roster or not need(roster[s]))


def _csv_text(table: list[list]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")   # RFC 4180 line ends, as both LMSs export
    for row in table:
        w.writerow([csv_cell(v) for v in row])
    return buf.getvalue()


def canvas_csv(rows: list[FinalGrade], roster: dict[str, RosterEntry],
               assignment_ids: dict[str, str] | None = None) -> str:
    """Canvas's gradebook-import CSV of ``rows``.

    Args:
        rows: final grades (:func:`autograder.export.final_grades`).
        roster: ``student_id -> RosterEntry``; each student needs ``canvas_id`` or ``sis_user_id``.
        assignment_ids: assignment name -> Canvas assignment id (the column then updates that
            assignment; without one Canvas creates a new assignment on import).

    Examples::

        >>> from autograder.export import FinalGrade
        >>> g = FinalGrade("ada", "a1", 4.0, 5.0, "graded", False, 4.0, 0.0, 0.0, "")
        >>> print(canvas_csv([g], {"ada": RosterEntry("ada", "Ada L", canvas_id="7")}, {"a1": "31"}), end="")
        Student,ID,SIS User ID,SIS Login ID,Section,a1 (31)\r
        Points Possible,,,,,5\r
        Ada L,7,,,,4\r
    """
    assignments, points, scores = _table(rows)
    missing = _unmatched(scores, roster, lambda e: e.canvas_id or e.sis_user_id)
    if missing:
        raise RosterError("no Canvas ID or SIS User ID in the roster for: " + ", ".join(missing))
    ids = assignment_ids or {}
    header = CANVAS_FIXED + [f"{a} ({ids[a]})" if a in ids else a for a in assignments]
    table = [header, ["Points Possible", "", "", "", ""] + [points[a] for a in assignments]]
    for sid in sorted(scores, key=lambda s: (roster[s].name or s, s)):
        e = roster[sid]
        table.append([e.name or sid, e.canvas_id, e.sis_user_id, e.sis_login_id, e.section]
                     + [scores[sid].get(a, "") for a in assignments])
    return _csv_text(table)


def moodle_csv(rows: list[FinalGrade], roster: dict[str, RosterEntry], identifier: str = "email") -> str:
    """Moodle's "Import grades from CSV" file of ``rows``: one identifier column, one column per grade item.

    Args:
        rows: final grades (:func:`autograder.export.final_grades`).
        roster: ``student_id -> RosterEntry``; each student needs the ``identifier`` field.
        identifier: ``email``, ``idnumber`` or ``username``: the user field Moodle matches on.

    Examples::

        >>> from autograder.export import FinalGrade
        >>> g = FinalGrade("ada", "a1", 4.5, 5.0, "graded", False, 4.5, 0.0, 0.0, "")
        >>> print(moodle_csv([g], {"ada": RosterEntry("ada", email="ada@uni.example")}), end="")
        Email address,a1\r
        ada@uni.example,4.5\r
    """
    if identifier not in MOODLE_IDS:
        raise ValueError(f"identifier must be one of {sorted(MOODLE_IDS)}, not {identifier!r}")
    assignments, _, scores = _table(rows)
    missing = _unmatched(scores, roster, lambda e: getattr(e, identifier))
    if missing:
        raise RosterError(f"no {identifier} in the roster for: " + ", ".join(missing))
    table = [[MOODLE_IDS[identifier]] + assignments]
    for sid in sorted(scores, key=lambda s: getattr(roster[s], identifier)):
        table.append([getattr(roster[sid], identifier)] + [scores[sid].get(a, "") for a in assignments])
    return _csv_text(table)
