"""The nbgrader vocabulary of a notebook: cell roles, region markers, and what a student must never read.

Every part of the grader, the book and the tests reads a notebook through these functions, so a
cell is a test, a region is hidden and a line is secret by one rule:

* roles come from ``nbgrader.utils`` (``is_grade``/``is_solution``/``is_task``/``is_locked``) after
  the cell's ``nbgrader`` metadata is checked to be a mapping (a submitted notebook is hostile input);
* region markers are nbgrader's own preprocessor traits (``ClearSolutions``, ``ClearHiddenTests``,
  ``ClearMarkScheme``: :class:`Markers`), matched as nbgrader matches them: a line *containing* the
  marker opens or closes a region, and a region left open runs to the end of the cell;
* secrets (:func:`secrets_in`) are what a message shown to a student must never quote: hidden-test
  lines, their string literals, mark-scheme lines, the marker lines themselves; :func:`redact`
  replaces them and caps the message; :func:`secret_blocks` is the same regions seen as blocks
  (solutions and model answers included), for the checks that the release and the book leak none.

This module is the ground floor: it imports nbformat's and nbgrader's utilities only.
"""
from __future__ import annotations

import ast
import builtins
import enum
import re
from dataclasses import dataclass

from nbformat import NotebookNode
from nbgrader import utils

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# the runner's own wrapping of a student's value (never the student's text)
SCAFFOLD = re.compile(r"__gradlab__\.seal\('[0-9a-f]*'\)|__gradlab_value__ = \(|__gradlab_value__")
#: the longest message about one cell a student reads (a page, a CSV note, ``autograded/``)
MAX_MESSAGE = 300


class Role(enum.Enum):
    """What an nbgrader cell is to the grader."""
    SETUP = "setup"          # locked code: runs as the source has it
    SOLUTION = "solution"    # the student's code
    TEST = "test"            # autograded: runs as the source has it, hidden tests included
    ANSWER = "answer"        # a written answer, graded by hand
    TASK = "task"            # nbgrader's task cell, graded by hand
    MARKDOWN = "markdown"    # locked prose


def meta(cell) -> dict:
    """The cell's ``nbgrader`` metadata, ``{}`` when absent or not a mapping."""
    m = (cell.get("metadata") or {}).get("nbgrader") if isinstance(cell.get("metadata"), dict) else None
    return m if isinstance(m, dict) else {}


def grade_id(cell) -> str | None:
    """The cell's nbgrader ``grade_id``, or None (unmarked, or not a non-empty string)."""
    gid = meta(cell).get("grade_id")
    return gid if isinstance(gid, str) and gid else None


def text(cell) -> str:
    """The cell's source as one string (nbformat allows a list of lines)."""
    src = cell.get("source", "")
    if isinstance(src, list):
        src = "".join(str(s) for s in src)
    return src if isinstance(src, str) else ""


def tags(cell) -> list:
    t = (cell.get("metadata") or {}).get("tags") if isinstance(cell.get("metadata"), dict) else None
    return t if isinstance(t, list) else []


def _checked(cell) -> NotebookNode:
    """The cell's nbgrader metadata in the shape ``nbgrader.utils`` reads (any cell, even a hostile one)."""
    return NotebookNode(metadata=NotebookNode(nbgrader=meta(cell)))


def is_solution(cell) -> bool:
    return bool(utils.is_solution(_checked(cell)))


def is_grade(cell) -> bool:
    return bool(utils.is_grade(_checked(cell)))


def is_locked(cell) -> bool:
    return bool(meta(cell)) and bool(utils.is_locked(_checked(cell)))


def is_test(cell) -> bool:
    """An autograded test: a graded code cell that is not itself a solution (any grade id)."""
    return cell.get("cell_type") == "code" and is_grade(cell) and not is_solution(cell)


def role(cell) -> Role | None:
    """The role of an nbgrader cell (one with a ``grade_id``), None for any other cell.

    Examples:
        >>> from nbformat.v4 import new_code_cell
        >>> role(new_code_cell("assert f(1) == 2", metadata={"nbgrader": {"grade": True, "grade_id": "t"}}))
        <Role.TEST: 'test'>
    """
    if grade_id(cell) is None:
        return None
    if utils.is_task(_checked(cell)):
        return Role.TASK
    if cell.get("cell_type") != "code":
        return Role.ANSWER if is_solution(cell) or is_grade(cell) else Role.MARKDOWN
    if is_solution(cell):
        return Role.SOLUTION
    return Role.TEST if is_grade(cell) else Role.SETUP


@dataclass(frozen=True)
class Markers:
    """The course's region markers and stubs: nbgrader's ``ClearSolutions``/``ClearHiddenTests``/
    ``ClearMarkScheme`` traits under the course's config."""
    solution: tuple[str, str] = ("BEGIN SOLUTION", "END SOLUTION")
    hidden: tuple[str, str] = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
    scheme: tuple[str, str] = ("BEGIN MARK SCHEME", "END MARK SCHEME")
    code_stub: str = '# YOUR CODE HERE\nraise NotImplementedError()'
    text_stub: str = "YOUR ANSWER HERE"

    @classmethod
    def from_config(cls, cfg) -> Markers:
        """The markers a traitlets ``cfg`` (the course's nbgrader config) gives nbgrader's preprocessors."""
        from nbgrader.preprocessors import ClearHiddenTests, ClearMarkScheme, ClearSolutions

        sol, hid, sch = ClearSolutions(config=cfg), ClearHiddenTests(config=cfg), ClearMarkScheme(config=cfg)
        return cls((sol.begin_solution_delimeter, sol.end_solution_delimeter),
                   (hid.begin_test_delimeter, hid.end_test_delimeter),
                   (sch.begin_mark_scheme_delimeter, sch.end_mark_scheme_delimeter),
                   sol.code_stub.get("python", cls.code_stub), sol.text_stub)


def hidden_segments(source: str, markers: Markers = Markers()) -> list[tuple[bool, str]]:
    """``source`` cut into ``(hidden, text)`` pieces: the visible parts and the hidden-test regions
    (marker lines dropped), in order. A hidden region runs to its end marker or the cell's end.

    Examples:
        >>> hidden_segments("a\\n### BEGIN HIDDEN TESTS\\nb\\n### END HIDDEN TESTS\\n")
        [(False, 'a\\n'), (True, 'b\\n')]
    """
    begin, end = markers.hidden
    out: list[tuple[bool, list[str]]] = []
    hidden = False
    for line in source.splitlines(keepends=True):
        if begin in line or end in line:
            hidden = begin in line
            out.append((hidden, []))
            continue
        if not out or out[-1][0] != hidden:
            out.append((hidden, []))
        out[-1][1].append(line)
    return [(h, "".join(lines)) for h, lines in out if "".join(lines).strip()]


def regions(source: str, begin: str, end: str) -> list[list[str]]:
    """The lines strictly between each ``begin``/``end`` pair of ``source`` (nbgrader's rule: a line
    containing the marker; a region left open runs to the end).

    Examples:
        >>> regions("a\\n### BEGIN HIDDEN TESTS\\nb\\n### END HIDDEN TESTS\\nc", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
        [['b']]
    """
    blocks, cur = [], None
    for line in source.splitlines():
        if begin in line:
            cur = []
        elif end in line and cur is not None:
            blocks.append(cur)
            cur = None
        elif cur is not None:
            cur.append(line)
    if cur is not None:
        blocks.append(cur)
    return blocks


def marker_lines(source: str, markers: Markers) -> set[str]:
    """The stripped lines of ``source`` that hold a hidden-test or mark-scheme marker."""
    words = (*markers.hidden, *markers.scheme)
    return {line.strip() for line in source.splitlines() if any(w in line for w in words)}


def literals(lines: list[str]) -> list[str]:
    """String literals of at least 4 characters in ``lines`` (hidden assert messages and inputs)."""
    out = []
    for m in re.finditer(r"(?:[rbuRBU]|[fF][rR]?)?(\"[^\"\n]*\"|'[^'\n]*')", "\n".join(lines)):
        try:
            value = ast.literal_eval(m.group(1))
        except (ValueError, SyntaxError):
            value = m.group(1)[1:-1]
        if isinstance(value, str) and len(value.strip()) >= 4:
            out.append(value.strip())
    return out


# how a message names the markers even where a course's own marker lines are not in hand
_MARKER_TEXT = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS", "=== BEGIN MARK SCHEME ===", "=== END MARK SCHEME ===")


def secrets_in(sources: list[str], markers: Markers = Markers()) -> list[str]:
    """Text that must never reach a student, longest first: hidden-test lines and literals,
    mark-scheme lines, and the markers (a message quoting a cell shows no region marker)."""
    found = set(_MARKER_TEXT) | set(markers.hidden) | set(markers.scheme)
    for src in sources:
        found |= marker_lines(src, markers)
        for block in regions(src, *markers.hidden):
            found.update(line.strip() for line in block if len(line.strip()) >= 4)
            found.update(literals(block))
        for block in regions(src, *markers.scheme):
            found.update(line.strip() for line in block if len(line.strip()) >= 4)
    return sorted(found, key=len, reverse=True)


def hidden_line_numbers(source: str, markers: Markers = Markers()) -> set[int]:
    """1-based line numbers of ``source`` inside (or on the markers of) hidden-test regions."""
    begin, end = markers.hidden
    out, inside = set(), False
    for i, line in enumerate(source.split("\n"), start=1):
        if begin in line:
            inside = True
        if inside:
            out.add(i)
        if end in line:
            inside = False
    return out


def hide(text: str, secret) -> str:
    """``text`` with every piece of ``secret`` (longest first, as :func:`secrets_in` orders them)
    replaced by "[hidden]"."""
    for piece in secret:
        if piece and piece in text:
            text = text.replace(piece, "[hidden]")
    return text


def redact(message: str, secret: list[str]) -> str:
    """``message`` as a student may read it: no ANSI codes or runner scaffolding, every piece of
    ``secret`` replaced by "[hidden]", whitespace folded, at most ``MAX_MESSAGE`` characters."""
    out = " ".join(hide(SCAFFOLD.sub("", ANSI.sub("", message or "")), secret).split())
    return out if len(out) <= MAX_MESSAGE else out[:MAX_MESSAGE] + " …"


#: a message piece this long that occurs in hidden-test text is a quotation of it (:func:`scrub`)
WINDOW = 16
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,99}")


def scrub(message: str, secret: list[str]) -> str:
    """``message`` with every run of ``WINDOW``+ characters that occurs in ``secret`` replaced by
    ``[hidden]`` (whole lines, and the pieces a capped message cuts out of them)."""
    blob = "\n".join(secret)
    hit = [False] * len(message)
    for i in range(len(message) - WINDOW + 1):
        if message[i:i + WINDOW] in blob:
            hit[i:i + WINDOW] = [True] * WINDOW
    out, i = [], 0
    while i < len(message):
        if hit[i]:
            while i < len(message) and hit[i]:
                i += 1
            out.append("[hidden]")
        else:
            out.append(message[i])
            i += 1
    return "".join(out)


def safe_ename(ename, secret: list[str]) -> str:
    """An exception class name as a student may read it: a built-in exception's name as is; any
    other a dotted identifier with no piece of ``secret``, else ``Exception`` (a class name made of
    anything else is a message in disguise)."""
    ename = str(ename)[:100]
    if isinstance(getattr(builtins, ename, None), type) and issubclass(getattr(builtins, ename), BaseException):
        return ename
    if not IDENTIFIER.fullmatch(ename) or scrub(ename, secret) != ename:
        return "Exception"
    return ename


def hidden_text(source_nb, markers: Markers = Markers()) -> list[str]:
    """What must never reach a student from this source notebook, longest first: its test cells'
    hidden regions (lines, string literals, and the names they define that appear nowhere else)
    and mark schemes — not the visible tests, whose messages students read, and nothing the
    release shows (visible test parts, locked prose and code): an exercise's own name in a hidden
    string literal must not redact it from every message."""
    tests = [c.source for c in source_nb.cells if c.cell_type == "code" and meta(c).get("grade")]
    found = secrets_in(tests + [c.source for c in source_nb.cells if c.cell_type == "markdown"], markers)
    parts = [(c, t) for c in source_nb.cells for h, t in hidden_segments(c.source, markers) if not h]
    visible = "\n".join(t for _, t in parts)
    shown = "\n".join(t for c, t in parts if not meta(c).get("solution"))
    found = [piece for piece in found if piece not in shown]
    names = set()
    for src in tests:
        for hidden, part in hidden_segments(src, markers):
            try:
                tree = ast.parse(part) if hidden else None
            except SyntaxError:
                continue
            for node in ast.walk(tree) if tree else ():
                name = (node.id if isinstance(node, ast.Name) else getattr(node, "name", None)
                        if isinstance(node, ast.FunctionDef | ast.ClassDef) else None)
                if isinstance(name, str) and len(name) >= 8 and name not in visible:
                    names.add(name)
    return sorted(set(found) | names, key=len, reverse=True)


def secret_blocks(source_nb, markers: Markers = Markers()) -> tuple[list[tuple[int, object, str, str]], set[str]]:
    """The secret blocks of a source notebook as ``(cell index, cell, what, text)`` — solutions,
    hidden tests, mark schemes, whole markdown model answers — and the stripped lines of it that a
    student may see (everything outside those blocks)."""
    kinds = ((markers.solution, "solution"), (markers.hidden, "hidden test"), (markers.scheme, "mark scheme"))
    found, public = [], []
    for i, cell in enumerate(source_nb.cells):
        src = text(cell)
        if utils.is_solution(cell) and cell.get("cell_type") == "markdown" and markers.solution[0] not in src:
            found.append((i, cell, "model answer", src.strip()))   # nbgrader replaces the whole cell
            continue
        inside = None
        for line in src.splitlines():
            opened = next((what for (begin, _), what in kinds if begin in line), None)
            if inside is None and opened:
                inside, block = opened, []
            elif inside and any(end in line for (_, end), what in kinds if what == inside):
                found.append((i, cell, inside, "\n".join(block).strip()))
                inside = None
            elif inside:
                block.append(line)
            else:
                public.append(line)
        if inside:
            found.append((i, cell, inside, "\n".join(block).strip()))
    return found, {ln.strip() for ln in public}


def label(i: int, cell) -> str:
    """``cell 3 (code, grade_id: 'first line')``: a cell as a problem report names it."""
    gid = grade_id(cell)
    first = text(cell).strip().splitlines()[0][:60] if text(cell).strip() else "<empty>"
    return f"cell {i} ({cell.cell_type}{', ' + gid if gid else ''}: {first!r})"


def delimiters(markers: Markers = Markers()) -> tuple[str, ...]:
    """Every region marker: none may reach a student (nbgrader matches them inside a line)."""
    return (*markers.solution, *markers.hidden, *markers.scheme)


def leak_problems(released: str, source_nb, where: str, markers: Markers = Markers()) -> list[str]:
    """Lines of a secret block of ``source_nb`` (solution, hidden test, mark scheme, model answer)
    of 12+ characters that are not also in its visible part, found among the lines of ``released``."""
    lines = {ln.strip() for ln in released.splitlines()}
    blocks, public = secret_blocks(source_nb, markers)
    problems = []
    for i, cell, what, block in blocks:
        for line in (ln.strip() for ln in block.splitlines()):
            if len(line) >= 12 and line in lines and line not in public:
                problems.append(f"{what} text of source {label(i, cell)} appears in {where}: {line!r}")
    return problems


def release_leak_problems(release_nb, source_nb, markers: Markers = Markers()) -> list[str]:
    """Nothing of the solutions, hidden tests or mark schemes may reach the student release: no
    delimiter, and no line of a secret block that is not also in the source's visible part."""
    problems = [f"release {label(i, cell)} still contains {line.strip()!r}"
                for i, cell in enumerate(release_nb.cells) for line in text(cell).splitlines()
                if any(d in line for d in delimiters(markers))]
    released = "\n".join(text(c) for c in release_nb.cells)
    return problems + leak_problems(released, source_nb, "the release", markers)
