"""What every stage writes the same way: CSV cells no spreadsheet runs, database URLs without their
password, files replaced atomically.

Ground floor: the standard library only, so that any module (the grader's stages, the exports, the
hub) can take these without importing a stage.
"""
from __future__ import annotations

import os
import re
import secrets

#: a cell starting with one of these is a formula, a DDE command or a macro to some spreadsheet
#: (OWASP's CSV-injection list, plus the newline and the full-width equals sign that Excel reads as ``=``)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%", "\uff1d")


def number_text(x: float) -> str:
    """A score as people read it: ``5`` for 5.0, ``0.5``, ``1e-06`` (``format(x, "g")``)."""
    return f"{x:g}"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_cell(value) -> str:
    """``value`` as a CSV cell no spreadsheet runs: text starting with a ``FORMULA_START``
    character gets a leading apostrophe (a number, negative ones included, stays a number), and a
    carriage return becomes a newline: Python's ``csv`` quotes a field holding the line terminator
    (``\n``) but not a bare ``\r``, which a spreadsheet reads as the end of the row — a student's
    text could otherwise start a row of its own.

    Examples:
        >>> [csv_cell(v) for v in ("=SUM(1,2)", "-3", "|cmd", 2.5, True, "ok")]
        ["'=SUM(1,2)", '-3', "'|cmd", '2.5', '1', 'ok']
    """
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        return number_text(value)
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    if text[:1] in FORMULA_START and not _is_number(text):
        return "'" + text
    return text


# scheme://user:password@host — the password is everything up to the *last* "@" of the URL, so a
# password holding "@", ":" or "/" is hidden whole
_CREDENTIALS = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*):\S*@(?P<host>[^\s@/]*)")


def redact_db_url(text: str) -> str:
    """``text`` (a database URL, or a message quoting one) with every URL password replaced by ``***``.

    Examples:
        >>> redact_db_url("postgresql://grader:p@ss:w/rd@db.example:5432/gradebook")
        'postgresql://grader:***@db.example:5432/gradebook'
        >>> redact_db_url("sqlite:////srv/course/gradebook.db")
        'sqlite:////srv/course/gradebook.db'
    """
    return _CREDENTIALS.sub(lambda m: f"{m['head']}:***@{m['host']}", text)


def _umask() -> int:
    """The process's umask, read without changing it (``os.umask`` would, for a moment, for every
    thread: a file another grading thread made then would get the mode ``0o777``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def write_atomic(path: str, data: str | bytes) -> None:
    """Replace ``path`` by ``data`` in one step (a reader sees the old file or the new one, never a
    part), readable as the umask allows: group TAs read what the grader writes where the umask says
    so. (``tempfile.mkstemp`` alone would leave the file 0600.)"""
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".tmp-{os.getpid()}-{secrets.token_hex(4)}-{os.path.basename(path)}")
    try:
        with open(tmp, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def world_readable_copy(paths: list[str], dest: str) -> str | None:
    """``paths`` (regular files) copied into the new folder ``dest``, 0755 with each file 0644
    whatever the umask: what a sandbox, running as another user, may read (the release's data
    files, the generated-data cache). None, and no folder, when ``paths`` is empty.

    Examples:
        >>> import tempfile
        >>> world_readable_copy([], os.path.join(tempfile.mkdtemp(), "assets")) is None
        True
    """
    import shutil

    if not paths:
        return None
    os.makedirs(dest, mode=0o755)
    os.chmod(dest, 0o755)
    for path in paths:
        copied = os.path.join(dest, os.path.basename(path))
        shutil.copy(path, copied)
        os.chmod(copied, 0o644)
    return dest
