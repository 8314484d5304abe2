"""The course's assignments: release (source -> student version) and grading templates.

Both go through nbgrader's ``generate_assignment`` in a *temporary* course dir with a
temporary gradebook, never in place: a release must not depend on what an earlier run left in
``gradebook.db`` or on timestamps, so that CI can regenerate ``course/`` and diff it against the
committed one. The grading template of an assignment is the same temp course dir kept for the
run: its ``source/`` (hidden tests included) and ``gradebook.db`` are copied into each
worker's private course dir.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile

import nbformat
from nbgrader import utils
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

# nbgrader runs the `alembic` executable (by PATH) when it creates a gradebook; make it find the
# one next to this interpreter even when the venv is not activated (`.venv/bin/python -m ...`).
_BIN = os.path.dirname(sys.executable)
if _BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _BIN + os.pathsep + os.environ.get("PATH", "")
REPO_ROOT = os.path.dirname(PACKAGE_DIR)


def course_config() -> Config:
    """The course's nbgrader settings (``autograder/nbgrader_config.py``)."""
    return PyFileConfigLoader("nbgrader_config.py", path=PACKAGE_DIR).load_config()


def default_source() -> str:
    cfg = course_config()
    return os.path.join(cfg.CourseDirectory.root, cfg.CourseDirectory.source_directory)


def default_release() -> str:
    cfg = course_config()
    return os.path.join(cfg.CourseDirectory.root, cfg.CourseDirectory.release_directory)


def list_assignments(source: str) -> list[str]:
    """Assignment folders in ``source`` that hold at least one notebook."""
    if not os.path.isdir(source):
        return []
    return sorted(
        a for a in os.listdir(source)
        if not a.startswith((".", "_")) and os.path.isdir(os.path.join(source, a))
        and any(n.endswith(".ipynb") for n in os.listdir(os.path.join(source, a))))


def notebooks_of(folder: str) -> list[str]:
    return sorted(n[:-6] for n in os.listdir(folder) if n.endswith(".ipynb") and not n.startswith("."))


def tree_hash(folder: str) -> str:
    """Content hash of every file below ``folder`` (paths included, mtimes not)."""
    h = hashlib.sha256()
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in (".ipynb_checkpoints", "__pycache__"))
        for name in sorted(files):
            path = os.path.join(root, name)
            h.update(os.path.relpath(path, folder).encode() + b"\0")
            if os.path.islink(path):
                h.update(b"link:" + os.readlink(path).encode())
            else:
                with open(path, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
            h.update(b"\0")
    return h.hexdigest()


def generate(source: str, assignments: list[str], course: str) -> None:
    """Run nbgrader generate_assignment for ``assignments`` in the fresh course dir ``course``."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    os.makedirs(course, exist_ok=True)
    for a in assignments:
        shutil.copytree(os.path.join(source, a), os.path.join(course, "source", a),
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    cfg = course_config()
    cfg.CourseDirectory.root = course
    cfg.CourseDirectory.source_directory = "source"
    cfg.CourseDirectory.release_directory = "release"
    cfg.CourseDirectory.db_url = "sqlite:///" + os.path.join(course, "gradebook.db")
    api = NbGraderAPI(coursedir=CourseDirectory(config=cfg), config=cfg)
    for a in assignments:
        result = api.generate_assignment(a, force=True, create=True)
        if not result.get("success"):
            raise RuntimeError(f"nbgrader generate_assignment {a} failed:\n{result.get('log') or result.get('error')}")


def release(assignments: list[str] | None = None, source: str | None = None,
            release_dir: str | None = None) -> list[str]:
    """Regenerate ``release_dir/<assignment>`` from ``source`` for each assignment (all by default).

    Each assignment folder is replaced as a whole (files that vanished from the source vanish
    from the release too) by a rename, so a failed release leaves the old one in place.
    """
    source = source or default_source()
    release_dir = release_dir or default_release()
    assignments = assignments or list_assignments(source)
    missing = [a for a in assignments if not os.path.isdir(os.path.join(source, a))]
    if missing:
        raise FileNotFoundError(f"no such assignment in {source}: {', '.join(missing)}")
    if not assignments:
        return []
    os.makedirs(release_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gradlab-release-") as tmp:
        generate(source, assignments, os.path.join(tmp, "course"))
        for a in assignments:
            new = os.path.join(tmp, "course", "release", a)
            staged = os.path.join(release_dir, f".{a}.new")
            old = os.path.join(release_dir, f".{a}.old")
            for p in (staged, old):
                shutil.rmtree(p, ignore_errors=True)
            shutil.copytree(new, staged)
            target = os.path.join(release_dir, a)
            if os.path.exists(target):
                os.rename(target, old)
            os.rename(staged, target)
            shutil.rmtree(old, ignore_errors=True)
    return assignments


def _cells_info(source_nb, release_nb) -> dict:
    cells, grade_ids, hidden = [], [], set()
    for cell in source_nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id")
        if not gid:
            continue
        grade_ids.append(gid)
        if meta.get("task"):
            cells.append({"id": gid, "kind": "task", "points": float(meta.get("points", 0))})
        elif meta.get("grade"):
            kind = "answer" if meta.get("solution") else "test"
            cells.append({"id": gid, "kind": kind, "points": float(meta.get("points", 0))})
            if kind == "test":
                hidden.update(line.strip() for line in cell.source.splitlines() if len(line.strip()) >= 10)
    locked = {}
    for cell in release_nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade_id") and utils.is_locked(cell):
            # of the released cell itself: nbgrader's stored checksum can predate the release's
            # own clearing of hidden parts, which would flag every honest student
            locked[meta["grade_id"]] = utils.compute_checksum(cell)
    return {"cells": cells, "grade_ids": grade_ids, "hidden_lines": sorted(hidden, key=len, reverse=True),
            "locked_checksums": locked, "max_score": sum(c["points"] for c in cells)}


def assignment_info(course: str, assignment: str) -> dict:
    """What the worker and the feedback pages need to know about an assignment's notebooks."""
    src = os.path.join(course, "source", assignment)
    rel = os.path.join(course, "release", assignment)
    notebooks = {}
    for stem in notebooks_of(src):
        source_nb = nbformat.read(os.path.join(src, stem + ".ipynb"), as_version=4)
        release_nb = nbformat.read(os.path.join(rel, stem + ".ipynb"), as_version=4)
        notebooks[stem] = _cells_info(source_nb, release_nb)
    return {"assignment": assignment, "notebooks": notebooks,
            "max_score": sum(nb["max_score"] for nb in notebooks.values())}


def grade_ids_by_assignment(source: str) -> dict[str, set[str]]:
    """All nbgrader grade ids of each assignment's source notebooks (to spot misfiled work)."""
    out = {}
    for a in list_assignments(source):
        ids = set()
        for stem in notebooks_of(os.path.join(source, a)):
            try:
                nb = nbformat.read(os.path.join(source, a, stem + ".ipynb"), as_version=4)
            except Exception:  # noqa: BLE001
                continue
            ids |= {c.metadata.nbgrader["grade_id"] for c in nb.cells
                    if c.metadata.get("nbgrader", {}).get("grade_id")}
        out[a] = ids
    return out


class Templates:
    """Grading templates of a run: one temp nbgrader course dir holding every needed assignment."""

    def __init__(self, source: str, assignments: list[str], root: str):
        self.source = source
        self.root = os.path.join(root, "template")
        self.assignments = [a for a in assignments if os.path.isdir(os.path.join(source, a))]
        generate(source, self.assignments, self.root)
        os.chmod(self.root, 0o700)
        self.info = {a: assignment_info(self.root, a) for a in self.assignments}
        self.hash = {a: tree_hash(os.path.join(source, a)) for a in self.assignments}
        ids = grade_ids_by_assignment(source)
        self.others = {a: {b: sorted(v) for b, v in ids.items() if b != a} for a in self.assignments}

    def release_dir(self, assignment: str) -> str:
        return os.path.join(self.root, "release", assignment)


def solution_text(source: str) -> str:
    """A solution cell's source as a student who solved it would submit it (markers removed)."""
    out, hidden = [], False
    for line in source.splitlines():
        s = line.strip()
        if s in ("### BEGIN SOLUTION", "### END SOLUTION", "BEGIN SOLUTION", "END SOLUTION"):
            continue
        if s == "### BEGIN HIDDEN TESTS":
            hidden = True
            continue
        if s == "### END HIDDEN TESTS":
            hidden = False
            continue
        if not hidden:
            out.append(line)
    return "\n".join(out)


def fill_solutions(release_nb, source_nb, which=None):
    """The release notebook with solution cells filled from the source (all, or ids in ``which``)."""
    sources = {c.metadata.nbgrader["grade_id"]: c.source for c in source_nb.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    nb = nbformat.from_dict(json.loads(json.dumps(release_nb)))
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id")
        if meta.get("solution") and gid in sources and (which is None or gid in which):
            cell.source = solution_text(sources[gid])
    return nb
