"""The grading run's results in OUT: one JSON per submission, the CSV views, feedback, merging.

Only the parent process writes here (the single writer); workers hand in their results and
files through a staging dir. Every file is written to a temp name and renamed into place, so an
interrupted run leaves either the old or the new version, never half a file, and a re-run can
resume: a submission whose ``input_hash`` (its files, the assignment's source, the limits, the
grader version) already has a result is not graded again.

Layout of OUT::

    grades.csv                       one row per (student_id, assignment)
    grades_detail.csv                one row per graded cell
    results/<student>/<assignment>.json
    feedback/<student>/<assignment>/<notebook>.html
    autograded/<student>/<assignment>/<notebook>.ipynb   (for the instructor only)
    gradebook.db                     nbgrader gradebook of the run (formgrader, nbgrader export)
"""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile

CSV_COLUMNS = ["student_id", "assignment", "score", "max_score", "status", "needs_manual_grade",
               "flags", "notes"]
DETAIL_COLUMNS = ["student_id", "assignment", "notebook", "grade_id", "score", "max_score", "outcome"]


def atomic_write(path: str, data: str | bytes) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def replace_dir(src: str, dst: str) -> None:
    """Put directory ``src`` at ``dst`` (same filesystem), replacing what was there."""
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    old = None
    if os.path.exists(dst):
        old = dst + ".old-" + os.path.basename(src)
        os.rename(dst, old)
    os.rename(src, dst)
    if old:
        shutil.rmtree(old, ignore_errors=True)


class ResultStore:
    def __init__(self, out: str):
        self.out = os.path.abspath(out)
        os.makedirs(self.out, exist_ok=True)
        self.staging_root = os.path.join(self.out, ".staging")

    def result_path(self, student_id: str, assignment: str) -> str:
        return os.path.join(self.out, "results", student_id, assignment + ".json")

    def get(self, student_id: str, assignment: str) -> dict | None:
        try:
            with open(self.result_path(student_id, assignment)) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def is_done(self, student_id: str, assignment: str, input_hash: str) -> bool:
        """A final result for exactly these inputs exists (internal errors are retried)."""
        r = self.get(student_id, assignment)
        return bool(r) and r.get("input_hash") == input_hash and r.get("status") != "error"

    def new_staging(self) -> str:
        os.makedirs(self.staging_root, exist_ok=True)
        return tempfile.mkdtemp(dir=self.staging_root)

    def put(self, result: dict, staging: str | None) -> None:
        """Commit one submission's result (files first, the JSON record last)."""
        s, a = result["student_id"], result["assignment"]
        if staging and os.path.isdir(staging):
            for kind in ("feedback", "autograded"):
                src = os.path.join(staging, kind)
                if os.path.isdir(src):
                    replace_dir(src, os.path.join(self.out, kind, s, a))
            shutil.rmtree(staging, ignore_errors=True)
        atomic_write(self.result_path(s, a), json.dumps(result, indent=1, sort_keys=True))

    def clear_staging(self) -> None:
        """Only when no worker is running: staging dirs of finished tasks are already moved."""
        shutil.rmtree(self.staging_root, ignore_errors=True)

    def all_results(self) -> list[dict]:
        out = []
        root = os.path.join(self.out, "results")
        if not os.path.isdir(root):
            return out
        for s in sorted(os.listdir(root)):
            folder = os.path.join(root, s)
            for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
                if name.endswith(".json") and not name.startswith("."):
                    r = self.get(s, name[:-5])
                    if r:
                        out.append(r)
        return out

    def write_csv(self) -> str:
        results = self.all_results()
        atomic_write(os.path.join(self.out, "grades.csv"), grades_csv(results))
        atomic_write(os.path.join(self.out, "grades_detail.csv"), detail_csv(results))
        return os.path.join(self.out, "grades.csv")


def _num(x: float) -> str:
    return f"{x:g}"


def grades_csv(results: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in results:
        w.writerow([r["student_id"], r["assignment"], _num(r["score"]), _num(r["max_score"]), r["status"],
                    int(bool(r.get("needs_manual_grade"))), " ".join(r.get("flags", [])),
                    " | ".join(r.get("notes", []))])
    return buf.getvalue()


def detail_csv(results: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(DETAIL_COLUMNS)
    for r in results:
        for stem, nb in sorted(r.get("notebooks", {}).items()):
            for gid, g in sorted(nb.get("grades", {}).items()):
                cell = nb.get("cells", {}).get(gid, {})
                if g.get("needs_manual_grade") and g.get("auto_score") is None:
                    outcome = "manual"
                elif cell.get("errors"):
                    outcome = cell["errors"][-1]["ename"]
                else:
                    outcome = cell.get("verdict") or ("passed" if g["score"] >= g["max_score"] else "")
                w.writerow([r["student_id"], r["assignment"], stem, gid, _num(g["score"]),
                            _num(g["max_score"]), outcome])
    return buf.getvalue()


def format_table(results: list[dict]) -> str:
    """The gradebook as a plain-text table (what ``make grade`` prints)."""
    rows = [("student", "assignment", "score", "status", "flags")]
    for r in results:
        rows.append((r["student_id"], r["assignment"], f"{_num(r['score'])}/{_num(r['max_score'])}"
                     + ("+" if r.get("needs_manual_grade") else ""), r["status"], " ".join(r.get("flags", []))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def merge_nbgrader(results: list[dict], template_db: str, out_db: str) -> None:
    """Write the run's scores into an nbgrader gradebook at ``out_db`` (single writer).

    The assignments' structure is copied from the template gradebook (same nbgrader
    ``generate_assignment`` output the workers used); each result adds the student, the
    submission and every grade cell's ``auto_score``, so ``nbgrader export`` and formgrader see
    the same numbers as grades.csv.
    """
    import warnings

    from nbgrader.api import Gradebook, MissingEntry

    tmp = out_db + ".tmp"
    shutil.copy(template_db, tmp)
    with warnings.catch_warnings(), Gradebook("sqlite:///" + tmp) as gb:
        warnings.simplefilter("ignore")  # nbgrader's own SQLAlchemy autoflush warnings
        known = {a.name for a in gb.assignments}
        for r in results:
            if r["assignment"] not in known:
                continue
            gb.update_or_create_student(r["student_id"])
            gb.update_or_create_submission(r["assignment"], r["student_id"])
            for stem, nb in r.get("notebooks", {}).items():
                for gid, g in nb.get("grades", {}).items():
                    try:
                        grade = gb.find_grade(gid, stem, r["assignment"], r["student_id"])
                    except MissingEntry:
                        continue
                    grade.auto_score = g.get("auto_score")
                    grade.needs_manual_grade = bool(g.get("needs_manual_grade"))
            for stem in {nb.name for nb in gb.find_assignment(r["assignment"]).notebooks} - set(r.get("notebooks", {})):
                sub_nb = gb.find_submission_notebook(stem, r["assignment"], r["student_id"])
                for grade in sub_nb.grades:
                    grade.auto_score = 0
                    grade.needs_manual_grade = False
            gb.db.commit()
    os.replace(tmp, out_db)
