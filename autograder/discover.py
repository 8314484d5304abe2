"""discover: ``SUBMISSIONS/<student>/<assignment>/<notebook>.ipynb``, read as hostile input.

The tree is the students' (an LMS download, nbgrader's ``submitted/``): the parent only
``lstat``s it, handles every name as bytes (``os.fsencode``), never follows a link, never opens
anything but a regular file, and opens those with ``O_NOFOLLOW | O_NONBLOCK`` (a FIFO renamed in
between cannot block), reads at most ``MAX_NOTEBOOK_BYTES`` and gives up after ``READ_TIMEOUT_S``.
Whatever is wrong becomes that submission's ``problem`` (an error row); every student folder
gets a row, the batch goes on.
"""
from __future__ import annotations

import errno
import hashlib
import os
import stat
import threading

from .records import NotebookFile, Problem, Status, Submission

MAX_NOTEBOOK_BYTES = 20 * 2**20
MAX_ENTRIES = 500          # entries in one student or assignment folder
READ_TIMEOUT_S = 30.0


def display_name(name: bytes) -> str:
    """A name as text: UTF-8, or the bytes escaped (``\\xff``) when it is not."""
    return name.decode("utf-8", "backslashreplace")


def _scandir(path: bytes) -> tuple[list[tuple[bytes, os.stat_result]], str | None]:
    """(name, lstat) of the entries of ``path``, sorted; or a problem."""
    try:
        with os.scandir(path) as it:
            entries = []
            for i, e in enumerate(it):
                if i >= MAX_ENTRIES:
                    return [], f"more than {MAX_ENTRIES} entries"
                entries.append((e.name, e.stat(follow_symlinks=False)))
    except OSError as e:
        return [], f"cannot be listed ({e.strerror})"
    return sorted(entries), None


def _kind(st: os.stat_result) -> str:
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISDIR(mode):
        return "a folder"
    if not stat.S_ISREG(mode):
        return "not a regular file"
    return ""


def read_notebook(path: str) -> bytes:
    """The bytes of a notebook the parent may read: regular, not a link, bounded in size and time.

    Raises ``ValueError`` with the reason otherwise (no permission to read counts, as root too:
    a file with no read bit for anyone is unreadable whoever grades it)."""
    return read_file(path, MAX_NOTEBOOK_BYTES)


def read_file(path: str, limit: int = MAX_NOTEBOOK_BYTES) -> bytes:
    """Any file of a submission (notebook, ``timestamp.txt``, ``submission_secret.txt`` ...), read as
    hostile input: ``O_NOFOLLOW | O_NONBLOCK``, a regular file with a read bit, at most ``limit``
    bytes, within ``READ_TIMEOUT_S``. A link is never followed: it is a ``ValueError`` (that
    student's problem), whatever it points to.

    Examples:
        >>> read_file("/etc/hostname", 1000)[:0]
        b''
    """
    box: dict = {}

    def read():
        try:
            fd = os.open(os.fsencode(path), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as e:
            box["error"] = ("a symbolic link (not followed)" if e.errno == errno.ELOOP
                            else f"cannot be opened ({e.strerror})")
            return
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                box["error"] = "not a regular file"
            elif not st.st_mode & 0o444:
                box["error"] = "unreadable (no read permission)"
            elif st.st_size > limit:
                box["error"] = f"too large ({st.st_size} bytes > {limit})"
            else:
                chunks, size = [], 0
                while size <= limit:
                    b = os.read(fd, 1 << 20)
                    if not b:
                        break
                    chunks.append(b)
                    size += len(b)
                if size > limit:
                    box["error"] = "too large"
                else:
                    box["data"] = b"".join(chunks)
        except OSError as e:
            box["error"] = f"cannot be read ({e.strerror})"
        finally:
            os.close(fd)

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(READ_TIMEOUT_S)
    if t.is_alive():
        raise ValueError(f"reading took longer than {READ_TIMEOUT_S:g} s")
    if "error" in box:
        raise ValueError(box["error"])
    return box["data"]


def _notebooks(folder: bytes, expected: list[str]) -> tuple[tuple[NotebookFile, ...], list[str], str | None]:
    """The expected notebooks of one assignment folder (a single renamed one is accepted)."""
    entries, problem = _scandir(folder)
    if problem:
        return (), [], f"the assignment folder {problem}"
    found = {name: st for name, st in entries if not name.startswith(b".")}
    notes, files = [], []
    extra = [n for n in found if n.endswith(b".ipynb") and display_name(n)[:-6] not in expected]
    for stem in expected:
        name = os.fsencode(stem + ".ipynb")
        st = found.get(name)
        if st is None and len(expected) == 1 and len(extra) == 1:
            name, st = extra[0], found[extra[0]]
            notes.append(f"{display_name(name)} was graded as {stem}.ipynb (renamed)")
        path = os.fsdecode(os.path.join(folder, name))
        shown = display_name(name)
        if st is None:
            files.append(NotebookFile(stem + ".ipynb", None, Problem(Status.MISSING_NOTEBOOK, "was not submitted")))
        elif stat.S_ISDIR(st.st_mode):   # a folder is no notebook at all, not an unsafe file
            files.append(NotebookFile(stem + ".ipynb", None, Problem(Status.INVALID_NOTEBOOK, f"{shown} is a folder")))
        elif _kind(st):
            files.append(NotebookFile(stem + ".ipynb", None, _rejected(f"{shown} is {_kind(st)}")))
        elif not st.st_mode & 0o444:
            files.append(NotebookFile(stem + ".ipynb", None, _rejected(f"{shown} is unreadable (no read permission)")))
        elif st.st_size > MAX_NOTEBOOK_BYTES:
            files.append(NotebookFile(stem + ".ipynb", None, _rejected(f"{shown} is too large ({st.st_size} bytes)")))
        else:
            files.append(_read_notebook_file(stem + ".ipynb", path))
    return tuple(files), notes, None


def _rejected(detail: str) -> Problem:
    return Problem(Status.REJECTED, detail)


def _read_notebook_file(name: str, path: str) -> NotebookFile:
    """The notebook at ``path``, read once (its bytes are hashed and graded); a file that cannot
    be read safely (it became a link or a FIFO since the ``lstat``, grew too large, stalled) is
    rejected."""
    try:
        return NotebookFile(name, path, data=read_notebook(path))
    except ValueError as e:
        return NotebookFile(name, path, _rejected(str(e)))


def discover(root: str, assignments: dict[str, list[str]]) -> list[Submission]:
    """Every ``<student>/<assignment>`` folder under ``root`` (``assignments``: name -> notebook stems).

    A problem with a student folder (a link, a non-UTF-8 name, unreadable) gives one row for that
    student with assignment ``"?"``; an unknown assignment folder gives a row with that problem.
    """
    out: list[Submission] = []
    top, problem = _scandir(os.fsencode(root))
    if problem:
        raise ValueError(f"{root}: {problem}")
    for sname, sst in top:
        if sname.startswith(b"."):
            continue
        student = display_name(sname)
        spath = os.fsdecode(os.path.join(os.fsencode(root), sname))
        if stat.S_ISREG(sst.st_mode):
            continue  # a file beside the student folders (README, a zip) is nobody's submission
        bad = _kind(sst) if not stat.S_ISDIR(sst.st_mode) else ""
        if bad or not _utf8(sname):
            why = f"the student folder is {bad}" if bad else "the student folder's name is not valid UTF-8"
            out.append(Submission(student, "?", spath, problem=_rejected(why)))
            continue
        entries, problem = _scandir(os.fsencode(spath))
        if problem:
            out.append(Submission(student, "?", spath, problem=_rejected(f"the student folder {problem}")))
            continue
        subs = [(n, st) for n, st in entries if not n.startswith(b".") and not stat.S_ISREG(st.st_mode)]
        if not subs:
            out.append(Submission(student, "?", spath, problem=_rejected("no assignment folder in the student folder")))
        for aname, ast_ in subs:
            assignment = display_name(aname)
            apath = os.fsdecode(os.path.join(os.fsencode(spath), aname))
            if _kind(ast_) and not stat.S_ISDIR(ast_.st_mode) or not _utf8(aname):
                why = f"the assignment folder is {_kind(ast_)}" if _utf8(aname) else "the folder name is not valid UTF-8"
                out.append(Submission(student, assignment, apath, problem=_rejected(why)))
            elif assignment not in assignments:
                out.append(Submission(student, assignment, apath, problem=Problem(Status.UNKNOWN_ASSIGNMENT, "unknown assignment")))
            else:
                files, notes, problem = _notebooks(os.fsencode(apath), assignments[assignment])
                out.append(Submission(student, assignment, apath, files, problem=problem and _rejected(problem),
                                      timestamp=_timestamp(apath), notes=tuple(notes)))
    return out


def _utf8(name: bytes) -> bool:
    try:
        name.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


EXCHANGE_FILE_BYTES = 4096   # timestamp.txt, submission_secret.txt: a line each


def _timestamp(folder: str) -> str | None:
    try:
        text = read_file(os.path.join(folder, "timestamp.txt"), EXCHANGE_FILE_BYTES).decode("utf-8", "replace")
    except (ValueError, OSError):
        return None
    return "".join(ch for ch in text.strip()[:64] if ch.isprintable()) or None


def input_hash(sub: Submission, *extra: str) -> str:
    """What a result depends on: the notebooks' bytes as discovery read them (or why they could
    not be read) and ``extra`` (source hash ...)."""
    h = hashlib.sha256()
    for f in sub.notebooks:
        h.update(f.name.encode() + b"\0")
        if f.data is not None:
            h.update(hashlib.sha256(f.data).digest())
        h.update(b"\0" + (f.problem.detail if f.problem else "").encode())
    for e in extra:
        h.update(e.encode() + b"\0")
    return h.hexdigest()
