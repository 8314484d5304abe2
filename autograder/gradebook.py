"""record: the course's nbgrader gradebook, ``autograded/``, and the run's files in OUT.

One writer (the grading parent) and these places:

* the **course's gradebook** (nbgrader's ``db_url``: SQLite by default, PostgreSQL when the
  course config says so; the one formgrader and ``nbgrader export`` read), through nbgrader's
  ``Gradebook`` API: each graded submission is one transaction that sets the ``auto_score`` of
  its autograded cells only. Manual scores, comments and extra credit are never touched; a
  written answer's automatic state is set only while nobody has graded it by hand. A database
  error rolls that submission back and names the database; a re-run completes the batch.
* the course's ``autograded/<student>/<assignment>/<notebook>.ipynb`` (what nbgrader autograde
  leaves: the executed notebook with hidden tests, for the instructor and formgrader);
* OUT: ``results/<student>/<assignment>.json`` (``SubmissionResult.to_json()``: the resume point,
  what ``report`` and the on-submit service read), ``grades.csv``, ``grades_detail.csv``. Files
  are written to a temp name and renamed.
"""
from __future__ import annotations

import csv
import io
import json
import os

from .files import csv_cell, number_text, redact_db_url, write_atomic
from .records import Status, SubmissionResult

CSV_COLUMNS = ["student_id", "assignment", "score", "max_score", "status", "needs_manual_grade",
               "flags", "notes"]
DETAIL_COLUMNS = ["student_id", "assignment", "notebook", "grade_id", "score", "max_score", "outcome"]


class GradebookError(RuntimeError):
    """Writing the course gradebook failed (the message names the database)."""


# -- OUT ----------------------------------------------------------------------------------------
class ResultStore:
    """``OUT/results/<student>/<assignment>.json``: one record per submission (the resume point)."""

    def __init__(self, out: str):
        self.out = os.path.abspath(out)
        os.makedirs(self.out, exist_ok=True)

    def result_path(self, student_id: str, assignment: str) -> str:
        return os.path.join(self.out, "results", student_id, assignment + ".json")

    def get(self, student_id: str, assignment: str) -> SubmissionResult | None:
        """The stored result, or None (none, or one an older grader wrote: it is graded again)."""
        try:
            with open(self.result_path(student_id, assignment), encoding="utf-8") as f:
                return SubmissionResult.from_json(json.load(f))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def is_done(self, student_id: str, assignment: str, input_hash: str) -> bool:
        """A final result for exactly these inputs exists (internal errors are retried)."""
        r = self.get(student_id, assignment)
        return r is not None and r.input_hash == input_hash and r.status is not Status.ERROR

    def put(self, result: SubmissionResult) -> None:
        write_atomic(self.result_path(result.student_id, result.assignment),
                     json.dumps(result.to_json(), indent=1, sort_keys=True))

    def all_results(self) -> list[SubmissionResult]:
        out = []
        root = os.path.join(self.out, "results")
        for s in sorted(os.listdir(root)) if os.path.isdir(root) else []:
            folder = os.path.join(root, s)
            for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
                if name.endswith(".json") and not name.startswith("."):
                    r = self.get(s, name[:-5])
                    if r:
                        out.append(r)
        return out

    def write_csv(self, finals: dict | None = None) -> str:
        """grades.csv (``finals``: (student, assignment) -> export.FinalGrade from the course gradebook,
        so that a graded row's score includes the manual points given in formgrader) and grades_detail.csv."""
        results = self.all_results()
        write_atomic(os.path.join(self.out, "grades.csv"), grades_csv(results, finals))
        write_atomic(os.path.join(self.out, "grades_detail.csv"), detail_csv(results))
        return os.path.join(self.out, "grades.csv")


def grades_csv(results: list[SubmissionResult], finals: dict | None = None) -> str:
    """One row per submission; a row the gradebook holds takes its final score (autograded + manual)
    and whether manual grading is still pending from there."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in results:
        final = (finals or {}).get((r.student_id, r.assignment))
        score = final.score if final is not None and r.status is Status.GRADED else r.score
        pending = final.needs_manual_grade if final is not None else r.needs_manual_grade
        w.writerow([csv_cell(r.student_id), csv_cell(r.assignment), number_text(score), number_text(r.max_score),
                    r.status.code, int(bool(pending)), csv_cell(" ".join(r.flags)), csv_cell(" | ".join(r.notes))])
    return buf.getvalue()


def detail_csv(results: list[SubmissionResult]) -> str:
    """One row per graded cell: its points and outcome (``manual``, the error class of a failed
    test, ``passed`` or ``failed``)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(DETAIL_COLUMNS)
    for r in results:
        for nb in sorted(r.notebooks, key=lambda n: n.notebook):
            for gid, c in sorted({c.grade_id: c for c in nb.cells}.items()):
                if c.needs_manual_grade:
                    outcome = "manual"
                elif not c.passed and c.kind != "answer" and c.message:
                    outcome = c.ename or "failed"
                else:
                    outcome = "passed" if c.points >= c.max_points else "failed"
                w.writerow([csv_cell(r.student_id), csv_cell(r.assignment), csv_cell(nb.notebook), csv_cell(gid),
                            number_text(c.points), number_text(c.max_points), csv_cell(outcome)])
    return buf.getvalue()


def format_table(results: list[SubmissionResult]) -> str:
    """The gradebook as a plain-text table (what ``make grade`` prints)."""
    rows = [("student", "assignment", "score", "status", "flags")]
    for r in results:
        rows.append((r.student_id, r.assignment, f"{number_text(r.score)}/{number_text(r.max_score)}"
                     + ("+" if r.needs_manual_grade else ""), r.status.code, " ".join(r.flags)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# -- the course's nbgrader gradebook ----------------------------------------------------------
def _submission(gb, assignment: str, student: str, timestamp):
    """The submission (created, with every grade and comment row, in the open transaction)."""
    from nbgrader.api import Comment, Grade, MissingEntry, Student, SubmittedAssignment, SubmittedNotebook
    try:
        return gb.find_submission(assignment, student)
    except MissingEntry:
        pass
    try:
        st = gb.find_student(student)
    except MissingEntry:
        st = Student(id=student)
        gb.db.add(st)
    sub = SubmittedAssignment(assignment=gb.find_assignment(assignment), student=st)
    if timestamp:
        sub.timestamp = timestamp
    for notebook in sub.assignment.notebooks:
        nb = SubmittedNotebook(notebook=notebook, assignment=sub)
        for cell in notebook.grade_cells:
            Grade(cell_id=cell.id, notebook=nb)
        for cell in notebook.solution_cells:
            Comment(cell_id=cell.id, notebook=nb)
        for cell in notebook.task_cells:
            Comment(cell_id=cell.id, notebook=nb)
            Grade(cell_id=cell.id, notebook=nb)
    gb.db.add(sub)
    gb.db.flush()
    return sub


def record_submission(course, result: SubmissionResult) -> None:
    """Write one submission's automatic scores in the ``course``'s gradebook, in one transaction."""
    from nbgrader import utils
    with course.gradebook() as gb:
        try:
            stamp = None
            if result.timestamp:
                try:
                    stamp = utils.parse_utc(result.timestamp)
                except Exception:  # noqa: BLE001 — a student's timestamp.txt may be anything
                    stamp = None
            sub = _submission(gb, result.assignment, result.student_id, stamp)
            for nb in sub.notebooks:
                graded = {c.grade_id: c for n in result.notebooks if n.notebook == nb.name for c in n.cells}
                answers = {c.name for c in nb.notebook.solution_cells}
                for grade in nb.grades:
                    g = graded.get(grade.name)
                    if grade.name not in answers:       # autograded: always the new score
                        grade.auto_score = float(g.points) if g else 0.0
                        grade.needs_manual_grade = False
                    elif g is not None and grade.manual_score is None:  # not yet graded by hand
                        grade.auto_score = g.auto_points
                        grade.needs_manual_grade = g.needs_manual_grade
            gb.db.commit()
        except Exception as e:  # noqa: BLE001
            gb.db.rollback()
            raise GradebookError(f"{result.student_id}/{result.assignment}: writing the gradebook "
                                 f"{redact_db_url(course.db_url)} failed: {type(e).__name__}: "
                                 f"{redact_db_url(str(e))}") from None


def write_autograded(folder: str, notebook: str, cells: list[dict], metadata: dict) -> str:
    """``folder/<notebook>.ipynb``: the executed cells (hidden tests included; instructor only).

    formgrader renders this notebook in the instructor's session: every markdown cell and output
    passes ``autograder.sanitize`` first (data only, no script)."""
    import nbformat

    from . import sanitize
    nb = nbformat.v4.new_notebook(metadata=metadata)
    for c in cells:
        if c["cell_type"] == "markdown":
            nb.cells.append(nbformat.v4.new_markdown_cell(sanitize.clean_markdown(c["source"]), metadata=c["metadata"]))
        else:
            cell = nbformat.v4.new_code_cell(c["source"], metadata=c["metadata"],
                                             execution_count=c.get("execution_count"))
            cell.outputs = [nbformat.from_dict(o) for o in sanitize.clean_outputs(c.get("outputs", []))]
            nb.cells.append(cell)
    path = os.path.join(folder, notebook)
    write_atomic(path, nbformat.writes(nb))
    return path
