"""The course: :class:`Course` (its folders, gradebook and markers, resolved once from nbgrader's
config chain), its assignments, the release (source -> student version), registration in the
course gradebook, the grading templates, and the student's workspace.

Release and templates go through nbgrader's ``generate_assignment`` in a *temporary* course dir
with a temporary gradebook, never in place: a release must not depend on what an earlier run
left in ``gradebook.db`` or on timestamps, so that CI can regenerate ``course/`` and diff it
against the committed one. The assignments' structure (notebooks, graded cells, locked cells'
sources and checksums) is then copied from that temporary gradebook into the course gradebook
(:func:`register`), so that ``nbgrader autograde``, formgrader and ``nbgrader export`` work
from the repository root. A grading run keeps such a temporary course (:class:`Templates`, 0700
in the run's folder) for its whole batch: the release each sandbox gets its data files from, and
the gradebook the course gradebook learns each assignment from. Hidden tests never leave it.

A release never overwrites a notebook a student has worked on (:func:`modified_notebooks`);
students work in a copy anyway (:func:`sync_workspace`, ``make lab``).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import nbformat
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from .files import redact_db_url
from .gradebook import GradebookError
from .notebook import Markers, grade_id, hidden_text, meta

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def new_gradebook(db_url: str, course_id: str | None = None):
    """nbgrader's ``Gradebook`` at ``db_url`` (created when it does not exist yet, with the folder
    of an SQLite file).

    A new gradebook gets its schema version from the ``alembic`` executable, which nbgrader runs by
    ``PATH``: the one next to this interpreter is put first, so that it is found when the venv is
    not activated (``.venv/bin/python -m ...``)."""
    from nbgrader.api import Gradebook

    _alembic_on_path()
    if db_url.startswith("sqlite:///"):   # a new course's folder: nbgrader creates the file, not the folder
        os.makedirs(os.path.dirname(db_url[len("sqlite:///"):]) or ".", exist_ok=True)
    return Gradebook(db_url) if course_id is None else Gradebook(db_url, course_id)


def _alembic_on_path() -> None:
    here = os.path.dirname(sys.executable)
    if here not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = here + os.pathsep + os.environ.get("PATH", "")


def _config(root: str | None = None, db_url: str | None = None) -> Config:
    """The course's nbgrader settings: ``autograder/nbgrader_config.py``, then, for a course moved
    to ``root``, nbgrader's own config chain for it (:func:`_course_config_files`), then ``db_url``."""
    cfg = PyFileConfigLoader("nbgrader_config.py", path=PACKAGE_DIR).load_config()
    if root:
        root = os.path.abspath(root)
        for extra in _course_config_files(root):
            cfg.merge(extra)
        cfg.CourseDirectory.root = root
    if db_url:
        cfg.CourseDirectory.db_url = db_url
    return cfg


def _course_config_files(root: str) -> list[Config]:
    """nbgrader's own config chain for the course at ``root``: ``nbgrader_config.py`` in the Jupyter
    config folders (system first, the user's ``~/.jupyter`` last) and then in ``root`` itself — only
    the files that describe this course (no ``CourseDirectory.root``, or this one). A gradebook URL
    with a password can so live in a config file (the hub's grader) and never on a command line."""
    from jupyter_core.paths import jupyter_config_path

    found = []
    for folder in [*reversed(jupyter_config_path()), root]:
        if os.path.isfile(os.path.join(folder, "nbgrader_config.py")):
            extra = PyFileConfigLoader("nbgrader_config.py", path=folder).load_config()
            other = extra.get("CourseDirectory", {}).get("root")
            if not other or os.path.realpath(other) == os.path.realpath(root):
                found.append(extra)
    return found


@dataclass(frozen=True)
class Course:
    """One nbgrader course, resolved once and handed to every command and stage.

    ``root`` holds its folders (nbgrader's ``CourseDirectory``: ``source`` = ``solutions/``,
    ``release`` = ``course/``, ``submitted/``, ``autograded/``, ``feedback/``), ``db_url`` its
    gradebook (nbgrader's default: ``sqlite:///<root>/gradebook.db``), ``markers`` the region
    markers and stubs of its preprocessors.

    Examples:
        >>> c = Course.load()
        >>> os.path.relpath(c.path("source", assignment="01_x", notebook="a"), c.root)
        'solutions/01_x/a.ipynb'
    """
    root: str
    db_url: str
    course_id: str
    markers: Markers
    config: Config = field(repr=False, compare=False)

    @classmethod
    def load(cls, root: str | None = None, db_url: str | None = None) -> Course:
        """The course at ``root`` (default: this repository's) with its gradebook (default: the
        config's ``db_url``, else nbgrader's): the one resolution of nbgrader's config chain."""
        return cls.of(_config(root, db_url))

    @classmethod
    def of(cls, cfg: Config) -> Course:
        """The course a complete nbgrader ``cfg`` describes (nbgrader's own defaults filled in)."""
        from nbgrader.coursedir import CourseDirectory

        cd = CourseDirectory(config=cfg)
        return cls(os.path.abspath(cd.root), cd.db_url, cd.course_id, Markers.from_config(cfg), cfg)

    @property
    def stub(self) -> str:
        """What the release puts in a solution code cell (``ClearSolutions.code_stub``)."""
        return self.markers.code_stub

    def assignments(self) -> dict[str, Assignment]:
        """Every assignment of the course's source folder, each source notebook read once."""
        return read_assignments(self.path("source"))

    def path(self, step: str, student: str = "", assignment: str = "", notebook: str = "") -> str:
        """``<root>/<step's folder>/<student>/<assignment>[/<notebook>.ipynb]`` by nbgrader's
        ``CourseDirectory.format_path``; ``step`` names a folder trait (``source``, ``release``,
        ``submitted``, ``autograded``, ``feedback``)."""
        from nbgrader.coursedir import CourseDirectory

        cd = CourseDirectory(config=self.config)
        path = os.path.normpath(cd.format_path(getattr(cd, step + "_directory"), student or ".", assignment or "."))
        return os.path.join(path, notebook + ".ipynb") if notebook else path

    @contextlib.contextmanager
    def gradebook(self):
        """The course gradebook, open (nbgrader's ``Gradebook``, its SQLAlchemy warnings silenced);
        a database that cannot be opened is a :class:`GradebookError` naming it, password redacted."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # nbgrader's own SQLAlchemy autoflush warnings
            try:
                gb = new_gradebook(self.db_url)
            except Exception as e:  # noqa: BLE001 — any driver error: say which database, never its secret
                raise GradebookError(f"cannot open the gradebook {redact_db_url(self.db_url)}: {type(e).__name__}: "
                                     f"{redact_db_url(str(e))[:300]}") from None
            with gb:
                yield gb


def default_source() -> str:
    """This repository's source notebooks (``solutions/``)."""
    return Course.load().path("source")


def default_release() -> str:
    """This repository's student release (``course/``)."""
    return Course.load().path("release")


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


def generate(source: str, assignments: list[str], course: str) -> Course:
    """Run nbgrader generate_assignment for ``assignments`` in the fresh course dir ``course``
    (nbgrader's own folder names and gradebook there; this course's stubs and markers); returns it."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    cfg = _config()
    cfg.CourseDirectory.root = os.path.abspath(course)
    cfg.CourseDirectory.source_directory = "source"    # nbgrader's own names in a scratch course
    cfg.CourseDirectory.release_directory = "release"
    cfg.CourseDirectory.pop("db_url", None)   # its own gradebook (nbgrader's default), never the course's
    made = Course.of(cfg)
    os.makedirs(course, exist_ok=True)
    for a in assignments:
        shutil.copytree(os.path.join(source, a), made.path("source", assignment=a),
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    _alembic_on_path()   # generate_assignment creates the scratch course's gradebook (see new_gradebook)
    api = NbGraderAPI(coursedir=CourseDirectory(config=cfg), config=cfg)
    for a in assignments:
        result = api.generate_assignment(a, force=True, create=True)
        if not result.get("success"):
            raise RuntimeError(f"nbgrader generate_assignment {a} failed:\n{result.get('log') or result.get('error')}")
    return made


class ModifiedRelease(RuntimeError):
    """A release notebook was changed after it was generated (someone worked in it)."""

    def __init__(self, paths: list[str]):
        self.paths = paths
        super().__init__(
            "these release notebooks were modified after the last release (a student's work?) and "
            "would be overwritten:\n  " + "\n  ".join(paths)
            + "\nmove them away (students work in workspace/, see `make lab`), or release with --force")


def _git_blob(path: str) -> bytes | None:
    """``path`` as committed in the HEAD of its git repository, None outside git or if untracked."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        top = subprocess.run(["git", "-C", folder, "rev-parse", "--show-toplevel"], capture_output=True,
                             text=True, timeout=30)
        if top.returncode != 0:
            return None
        rel = os.path.relpath(os.path.abspath(path), top.stdout.strip())
        blob = subprocess.run(["git", "-C", top.stdout.strip(), "show", f"HEAD:{rel}"], capture_output=True,
                              timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return blob.stdout if blob.returncode == 0 else None


def _read_bytes(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def modified_notebooks(old: str, new: str) -> list[str]:
    """Notebooks of the release folder ``old`` that replacing it by ``new`` would lose work in.

    A notebook is untouched when it is byte-identical to the new release (nothing changes) or
    to its committed version in git (an earlier release, not yet regenerated). Anything else
    (edited, run, saved by JupyterLab, or not in git at all and different) counts as modified.
    """
    if not os.path.isdir(old):
        return []
    out = []
    for name in sorted(os.listdir(old)):
        path = os.path.join(old, name)
        if not name.endswith(".ipynb") or not os.path.isfile(path):
            continue
        mine = _read_bytes(path)
        if mine == _read_bytes(os.path.join(new, name)) or mine == _git_blob(path):
            continue
        out.append(path)
    return out


def register(template_db_url: str, db_url: str, assignments: list[str], course_id: str | None = None) -> None:
    """Copy the assignments' structure from a release's gradebook into the course gradebook.

    Does what ``nbgrader generate_assignment`` does to the database (assignment, notebooks,
    graded/solution/task cells, locked cells' sources and checksums) without touching students:
    submissions, grades, manual scores and comments already there stay. A notebook that vanished
    from the source is removed only while the assignment has no submission (nbgrader's rule).
    Idempotent; a failure rolls back and is a :class:`GradebookError` naming the database.
    """
    doing = "opening"
    try:
        with warnings.catch_warnings(), new_gradebook(template_db_url) as src, new_gradebook(db_url, course_id) as dst:
            warnings.simplefilter("ignore")  # nbgrader's own SQLAlchemy autoflush warnings
            for a in assignments:
                doing = f"registering {a} in"
                try:
                    _register(src, dst, a)
                except Exception:
                    dst.db.rollback()
                    raise
    except Exception as e:  # noqa: BLE001 — any driver error: say which database, never its secret
        raise GradebookError(f"{doing} the gradebook {redact_db_url(db_url)} failed: {type(e).__name__}: "
                             f"{redact_db_url(str(e))[:500]}") from None


def _register(src, dst, a: str) -> None:
    new = src.find_assignment(a)
    dst.update_or_create_assignment(a)
    gone = {nb.name for nb in dst.find_assignment(a).notebooks} - {nb.name for nb in new.notebooks}
    if gone and dst.find_assignment(a).submissions:
        raise RuntimeError(f"notebook(s) {', '.join(sorted(gone))} vanished from the source but the assignment "
                           "has submissions")
    for name in sorted(gone):
        dst.remove_notebook(name, a)
    for nb in new.notebooks:
        dst.update_or_create_notebook(nb.name, a)
        for c in nb.grade_cells:
            dst.update_or_create_grade_cell(c.name, nb.name, a, max_score=c.max_score, cell_type=c.cell_type)
        for c in nb.solution_cells:
            dst.update_or_create_solution_cell(c.name, nb.name, a)
        for c in nb.task_cells:
            dst.update_or_create_task_cell(c.name, nb.name, a, max_score=c.max_score, cell_type=c.cell_type)
        for c in nb.source_cells:
            dst.update_or_create_source_cell(c.name, nb.name, a, cell_type=c.cell_type, locked=c.locked,
                                             source=c.source, checksum=c.checksum)


def release(assignments: list[str] | None = None, source: str | None = None,
            release_dir: str | None = None, *, force: bool = False, db_url: str | None = None,
            course_id: str = "") -> list[str]:
    """Regenerate ``release_dir/<assignment>`` from ``source`` for each assignment (all by default).

    Each assignment folder is replaced as a whole (files that vanished from the source vanish
    from the release too) by a rename, so a failed release leaves the old one in place. A
    notebook someone worked in (:func:`modified_notebooks`) stops the release before anything
    is written, unless ``force``. With ``db_url``, the assignments are also registered in that
    gradebook (:func:`register`); the release's own files never depend on it.
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
        made = generate(source, assignments, os.path.join(tmp, "course"))
        modified = [p for a in assignments for p in modified_notebooks(
            os.path.join(release_dir, a), made.path("release", assignment=a))]
        if modified and not force:
            raise ModifiedRelease(modified)
        if db_url:
            register(made.db_url, db_url, assignments, course_id)
        for a in assignments:
            new = made.path("release", assignment=a)
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


@dataclass(frozen=True)
class GradedCell:
    """One graded cell of a source notebook: a test (autograded), a written answer (graded by
    hand) or a task."""
    grade_id: str
    kind: str                      # "test" | "answer" | "task"
    points: float


@dataclass(frozen=True)
class SourceNotebook:
    """One source notebook, read and parsed once: everything a batch derives from it.

    ``nb`` is the parsed notebook (the planner and the reference run take it); the rest is what
    the judge, ``autograded/`` and the pages need, derived here once instead of per submission.
    """
    name: str                                   # the stem: "ps1" for ps1.ipynb
    nb: nbformat.NotebookNode = field(repr=False, compare=False)
    digest: str                                 # sha256 of the file's bytes (the reference cache key)
    cells: tuple[GradedCell, ...]
    hidden: tuple[str, ...]                     # hidden-test text that must never reach a student
    solution_of: Mapping[str, str]              # test grade_id -> the solution cell it grades
    cell_metadata: Mapping[str, dict] = field(repr=False, compare=False)   # grade_id -> the cell's metadata

    @property
    def max_score(self) -> float:
        return sum(c.points for c in self.cells)


@dataclass(frozen=True)
class Assignment:
    """One assignment's source folder, read once: its notebooks and the hash of every file in it
    (what a result depends on besides the submission)."""
    name: str
    source_hash: str
    notebooks: Mapping[str, SourceNotebook]

    @property
    def max_score(self) -> float:
        return sum(nb.max_score for nb in self.notebooks.values())


def _read_source(path: str) -> bytes:
    """The bytes of one file of an assignment's source (the instructor's: trusted, unbounded)."""
    with open(path, "rb") as f:
        return f.read()


def source_notebook(name: str, data: bytes) -> SourceNotebook:
    """The :class:`SourceNotebook` of ``name``.ipynb from its bytes."""
    from . import plan

    nb = nbformat.reads(data.decode("utf-8"), as_version=4)
    cells = []
    for cell in nb.cells:
        m, gid = meta(cell), grade_id(cell)
        if gid and (m.get("task") or m.get("grade")):   # a graded solution, code or text, is graded by hand
            kind = "task" if m.get("task") else "answer" if m.get("solution") else "test"
            cells.append(GradedCell(gid, kind, float(m.get("points", 0))))
    return SourceNotebook(
        name, nb, hashlib.sha256(data).hexdigest(), tuple(cells), tuple(hidden_text(nb)),
        MappingProxyType(plan.solution_of(nb)),
        MappingProxyType({grade_id(c): dict(c.metadata) for c in nb.cells if grade_id(c)}))


def read_assignment(folder: str) -> Assignment:
    """The assignment in ``folder``, every file read once: its top-level notebooks parsed, and the
    content hash of every file below the folder (paths included, mtimes not), from the same bytes."""
    h, notebooks = hashlib.sha256(), {}
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in (".ipynb_checkpoints", "__pycache__"))
        for name in sorted(files):
            path = os.path.join(root, name)
            h.update(os.path.relpath(path, folder).encode() + b"\0")
            if os.path.islink(path):
                h.update(b"link:" + os.readlink(path).encode())
            else:
                data = _read_source(path)
                h.update(data)
                if root == folder and name.endswith(".ipynb") and not name.startswith("."):
                    notebooks[name[:-6]] = source_notebook(name[:-6], data)
            h.update(b"\0")
    return Assignment(os.path.basename(os.path.normpath(folder)), h.hexdigest(),
                      MappingProxyType(dict(sorted(notebooks.items()))))


def read_assignments(source: str) -> dict[str, Assignment]:
    """Every assignment of the ``source`` folder (:func:`list_assignments`), read once."""
    return {a: read_assignment(os.path.join(source, a)) for a in list_assignments(source)}


class Templates:
    """Grading templates of a run: one temp nbgrader course dir holding every needed assignment."""

    def __init__(self, source: str, assignments: list[str], root: str):
        self.source = source
        self.root = os.path.join(root, "template")
        self.assignments = [a for a in assignments if os.path.isdir(os.path.join(source, a))]
        self.course = generate(source, self.assignments, self.root)
        os.chmod(self.root, 0o700)

    def release_dir(self, assignment: str) -> str:
        return self.course.path("release", assignment=assignment)


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


# --------------------------------------------------------------------------------------------
# the student's workspace: a copy of the release that no release ever overwrites
def sync_workspace(release_dir: str, workspace: str) -> tuple[bool, list[str]]:
    """Create ``workspace`` from ``release_dir`` on first use; later, copy in new files only.

    Nothing already in ``workspace`` is ever replaced, so a student's work survives ``make
    release`` and ``git pull``. Returns (created, the files copied in, relative to workspace).
    """
    created = not os.path.isdir(workspace)
    added = []
    for a in list_assignments(release_dir):
        src = os.path.join(release_dir, a)
        for root, dirs, files in os.walk(src):
            dirs[:] = sorted(d for d in dirs if d not in (".ipynb_checkpoints", "__pycache__"))
            for name in sorted(files):
                rel = os.path.relpath(os.path.join(root, name), release_dir)
                dst = os.path.join(workspace, rel)
                if os.path.lexists(dst):
                    continue
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                shutil.copyfile(os.path.join(root, name), dst)  # the student's own file (mode from umask)
                added.append(rel)
    return created, added


def workspace_main(argv: list[str] | None = None) -> int:
    """``python -m autograder.course workspace [RELEASE] [WORKSPACE]`` (``make lab``)."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m autograder.course workspace",
                                description=sync_workspace.__doc__.split("\n\n")[0])
    p.add_argument("release_dir", nargs="?", default=None, metavar="RELEASE", help="default: course/")
    p.add_argument("workspace", nargs="?", default=os.path.join(Course.load().root, "workspace"), metavar="WORKSPACE",
                   help="default: workspace/")
    args = p.parse_args(argv)
    created, added = sync_workspace(args.release_dir or default_release(), args.workspace)
    if created:
        print(f"created your workspace {args.workspace} from the course release: work there; "
              "no release or update overwrites it")
    elif added:
        print(f"new in the course release, copied into {args.workspace} (nothing of yours was changed):")
        for rel in added:
            print("  " + rel)
    return 0


# --------------------------------------------------------------------------------------------
# `python -m autograder release` (cli.py: `course.build_subparser(sub)`)
def cmd_release(args) -> int:
    c = Course.load(args.course, args.db_url)
    source = args.source or c.path("source")
    own_release = args.release_dir is None
    release_dir = args.release_dir or c.path("release")
    # the course gradebook learns the assignments when the course's own release is regenerated
    # (or --db-url names one); a scratch --release-dir (CI's sync check) leaves it alone
    db_url = args.db_url or (c.db_url if own_release and not args.no_register else None)
    try:
        done = release(args.assignments or None, source=source, release_dir=release_dir, force=args.force,
                       db_url=db_url, course_id=c.course_id)
    except (ModifiedRelease, FileNotFoundError, RuntimeError) as e:
        print(f"release: {e}", file=sys.stderr)
        return 1
    if not done:
        print(f"no assignments in {source}: nothing to release")
    for a in done:
        print(f"released {a} -> {os.path.join(release_dir, a)}" + (f" (registered in {redact_db_url(db_url)})" if db_url else ""))
    if own_release and done:
        # the translated editions are the English release with translated prose (autograder/i18n.py)
        from . import i18n
        for lang in i18n.translated_languages():
            written = i18n.build(release_dir, lang=lang, assignments=done)
            print(f"built {len(written)} {lang} notebooks -> {release_dir}.{lang}")
    return 0


def build_subparser(sub) -> None:
    """Add ``release`` to the subparsers ``sub`` of ``python -m autograder``."""
    add_arguments(sub.add_parser("release", help="regenerate course/ from solutions/ and register it in the gradebook",
                                 description=RELEASE_DESCRIPTION))


RELEASE_DESCRIPTION = ("Regenerate the student release of each assignment from its source, "
                       "deterministically (temporary gradebook; the output does not depend on time), "
                       "and register the assignments in the course gradebook (nbgrader's db_url) so "
                       "that nbgrader autograde, formgrader and export work from the repository root. "
                       "Refuses to overwrite a release notebook someone worked in, unless --force.")


def add_arguments(p) -> None:
    p.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="default: every assignment")
    p.add_argument("--source", default=None, help="source folder (default: the course's solutions/)")
    p.add_argument("--release-dir", default=None,
                   help="release folder (default: the course's course/); another folder is not registered")
    p.add_argument("--course", default=None, metavar="DIR", help="course root (default: the repository)")
    p.add_argument("--db-url", default=None, help="gradebook to register in (default: the course's db_url)")
    p.add_argument("--no-register", action="store_true", help="do not touch the course gradebook")
    p.add_argument("--force", action="store_true", help="overwrite release notebooks even if they were modified")
    p.set_defaults(func=cmd_release)


if __name__ == "__main__":
    if sys.argv[1:2] == ["workspace"]:
        sys.exit(workspace_main(sys.argv[2:]))
    import argparse

    _parser = argparse.ArgumentParser(prog="python -m autograder.course", description=RELEASE_DESCRIPTION)
    add_arguments(_parser)
    _args = _parser.parse_args()
    sys.exit(_args.func(_args))
