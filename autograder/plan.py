"""plan: which cells of a submitted notebook run, in which order, with which source.

nbgrader's rules, decided before anything runs and from the *source* notebook (``solutions/``):

* a locked cell (setup, test helpers) and every graded test cell run the source's version (hidden
  tests included), whatever the student made of them (edited, retyped, deleted, duplicated);
* the student's solution cells and unmarked cells run as submitted; a deleted solution cell
  runs as the release's stub (it raises ``NotImplementedError``);
* cells tagged ``experiment`` (training runs, plots, measurements no graded cell needs) are
  skipped — they earn no points, and most of a notebook's time is theirs;
* markdown cells do not run; written answers (markdown grade cells) go to manual grading.

The forbid lists come from the source's solution-cell metadata ``gradlab.forbid``; each graded
test cell is paired with the solution cell above it (whose forbidden built-ins fail it).
"""
from __future__ import annotations

import ast
import json

import nbformat

from .notebook import Role, grade_id, hidden_segments, meta, role, tags, text
from .records import CellPlan, NotebookPlan

EXPERIMENT_TAG = "experiment"


def parse(data: bytes):
    """A submitted notebook from its bytes, or ``ValueError`` saying why it is not one."""
    if not data.strip():
        raise ValueError("empty file")
    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
    except Exception as e:  # noqa: BLE001 — anything unreadable is the student's problem
        raise ValueError(f"not a readable notebook ({type(e).__name__})") from None
    if not isinstance(nb.get("cells"), list) or not all(isinstance(c, dict) for c in nb.cells):
        raise ValueError("not a readable notebook (no cell list)")
    return nb


def forbidden(source_nb) -> dict[str, tuple[str, ...]]:
    out = {}
    for cell in source_nb.cells:
        names = (cell.get("metadata", {}).get("gradlab") or {}).get("forbid")
        if grade_id(cell) and names:
            out[grade_id(cell)] = tuple(str(n) for n in names)
    return out


def solution_of(source_nb) -> dict[str, str]:
    """Graded test cell -> the solution cell above it (the exercise it grades)."""
    out, current = {}, None
    for cell in source_nb.cells:
        kind = role(cell)
        if kind is Role.SOLUTION:
            current = grade_id(cell)
        elif kind is Role.TEST and current:
            out[grade_id(cell)] = current
    return out


def make(source_nb, submitted_nb, *, student_id: str, assignment: str, notebook: str, stub: str,
         skip_experiments: bool = True) -> NotebookPlan:
    """The plan of ``submitted_nb`` graded against ``source_nb`` (the reference run: the source itself).

    ``stub``: what the release puts in a solution cell (``Course.stub``), run for a deleted one.
    ``skip_experiments=False`` runs the cells tagged ``experiment`` too (the check that skipping
    them changes no score)."""
    skip = EXPERIMENT_TAG if skip_experiments else object()
    source = {grade_id(c): c for c in source_nb.cells if grade_id(c)}
    order = [g for g in (grade_id(c) for c in source_nb.cells) if g]
    cells: list[tuple[str, CellPlan]] = []   # (grade id or "", plan) in the order they run
    seen: set[str] = set()
    for cell in submitted_nb.cells:
        gid = grade_id(cell)
        if gid in source and gid not in seen:
            seen.add(gid)
            cells.append((gid, _from_source(source[gid], cell, stub)))
        elif cell.get("cell_type") == "code" and skip not in tags(cell):
            cells.append(("", CellPlan(0, "student", None, text(cell))))
        elif cell.get("cell_type") == "markdown":
            cells.append(("", CellPlan(0, "markdown", None, text(cell))))
    if not seen & {g for g, c in source.items() if role(c) in (Role.TEST, Role.SOLUTION, Role.ANSWER)}:
        return NotebookPlan(student_id, assignment, notebook, (), forbidden(source_nb),
                            problem="none of this notebook's graded cells is in the file")
    for gid in order:  # restore deleted grade/locked cells after their predecessor in the source
        if gid in seen:
            continue
        if role(source[gid]) is Role.SETUP and skip in tags(source[gid]):
            continue
        before = set(order[:order.index(gid)])
        pos = max((i + 1 for i, (g, _) in enumerate(cells) if g in before), default=0)
        cells.insert(pos, (gid, _from_source(source[gid], None, stub)))
        seen.add(gid)
    planned = tuple(CellPlan(i, p.kind, p.grade_id, p.source, p.points, p.unchanged) for i, (_, p) in enumerate(cells)
                    if not (p.kind == "setup" and p.grade_id and skip in tags(source[p.grade_id])))
    return NotebookPlan(student_id, assignment, notebook, planned, forbidden(source_nb))


def _from_source(src, submitted, stub: str) -> CellPlan:
    kind, gid = role(src), grade_id(src)
    points = float(meta(src).get("points", 0) or 0)
    if kind in (Role.TEST, Role.SETUP, Role.MARKDOWN):
        return CellPlan(0, kind.value, gid, text(src), points)
    if kind is Role.SOLUTION:
        return CellPlan(0, kind.value, gid, text(submitted) if submitted is not None else stub, points,
                        submitted is None or _unchanged(submitted))
    return CellPlan(0, kind.value, gid, text(submitted) if submitted is not None else "", points,  # answer, task
                    submitted is None or _unchanged(submitted))


def _unchanged(cell) -> bool:
    """nbgrader's test for an untouched answer: the release's checksum still matches."""
    from nbgrader import utils
    checksum = meta(cell).get("checksum")
    try:
        return bool(checksum) and utils.compute_checksum(cell) == checksum
    except Exception:  # noqa: BLE001 — a damaged cell is not an untouched one
        return False


def reference(source_nb, *, assignment: str, notebook: str, stub: str, skip_experiments: bool = True) -> NotebookPlan:
    """The trusted run: the source notebook itself (solutions and hidden tests)."""
    return make(source_nb, source_nb, student_id="<reference>", assignment=assignment, notebook=notebook,
                stub=stub, skip_experiments=skip_experiments)


def _is_checking(test) -> bool:
    """``checking()`` / ``gradlab.observe.checking()`` / ``observe.checking()``, called bare."""
    if not (isinstance(test, ast.Call) and not test.args and not test.keywords):
        return False
    f = test.func
    return isinstance(f, ast.Name) and f.id == "checking" or isinstance(f, ast.Attribute) and f.attr == "checking"


def _records(node) -> list:
    """The outermost ``record(...)`` calls inside ``node``, in evaluation order."""
    if isinstance(node, ast.Call) and (isinstance(node.func, ast.Name) and node.func.id == "record"
                                       or isinstance(node.func, ast.Attribute) and node.func.attr == "record"):
        return [node]
    return [r for child in ast.iter_child_nodes(node) for r in _records(child)]


#: Where the oracles of this course live: torch's reference implementations. An assert that reads
#: one of these computes an expected value, so the student's run never executes it.
ORACLE_ROOTS = ("F", "nn", "init", "torch.nn", "torch.optim", "torch.special", "torch.func",
                "torch.autograd.gradcheck")


def _dotted(node) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id] + parts[::-1])
    return None


def _bound_names(nodes) -> set[str]:
    """Every name a list of statements binds (assignments, loops, with, defs, imports)."""
    names = set()
    for n in nodes:
        for sub in ast.walk(n):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                names.add(sub.id)
            elif isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(sub.name)
            elif isinstance(sub, ast.alias):
                names.add((sub.asname or sub.name).split(".")[0])
    return names


class _StripOracles(ast.NodeTransformer):
    """What a hidden region is in the student's process: no ``if checking():`` body and no
    ``assert``. An assert either compares with an expected value (torch's reference
    implementations, ``ORACLE_ROOTS``; a built-in the exercise forbids; a name only a
    ``checking()`` block defines; a written constant) or checks a property of the student's
    outputs that a ``record`` next to it also holds: in both cases the comparison is the judge's,
    against the reference run, and the student's process needs neither the expected value nor
    the message that would print it. The ``record(...)`` calls inside an assert stay as
    statements: they hold the student's values."""

    def visit_Assert(self, node):
        return [ast.Expr(call) for call in _records(node.test)] or None

    def visit_If(self, node):
        if _is_checking(node.test):
            kept = []
            for n in node.orelse:
                n = self.visit(n)
                kept += n if isinstance(n, list) else [n] if n is not None else []
            return kept or None
        return self.generic_visit(node)

    def generic_visit(self, node):
        super().generic_visit(node)
        if isinstance(getattr(node, "body", None), list) and not node.body:
            node.body = [ast.Pass()]  # a block emptied by the stripping still parses
        return node


def strip_oracles(code: str, forbidden: tuple[str, ...] = ()) -> str:
    r"""A hidden region as the student's graded run executes it (``SyntaxError`` if it is not a
    module on its own). ``forbidden`` (the exercise's built-ins) no longer changes the result: every
    assert goes, whatever it reads.

    >>> print(strip_oracles("y = f(x)\nassert y == 2, 'f(1) must be 2'\nif checking():\n    w = g(x)\n"
    ...                     "assert record('y', y) == w\nassert torch.allclose(y, F.elu(x))"))
    y = f(x)
    record('y', y)
    """
    tree = _StripOracles().visit(ast.parse(code))
    ast.fix_missing_locations(tree)
    return ast.unparse(tree)


def runnable(plan: NotebookPlan) -> list[dict]:
    """The cells the runner executes (code only), as plain dicts. A test cell comes as its
    ``parts``: visible pieces run as cells, hidden regions as code the runner compiles and does
    not keep as text; for a student's notebook the hidden regions have their oracles stripped."""
    student = plan.student_id != "<reference>"
    forbidden = tuple(sorted({n for names in plan.forbidden.values() for n in names}))
    cells = []
    for c in plan.cells:
        if c.kind not in ("setup", "solution", "test", "student"):
            continue
        cell = {"index": c.index, "kind": c.kind, "grade_id": c.grade_id}
        if c.kind != "test":
            cell["source"] = c.source
        else:
            try:
                cell["parts"] = [{"hidden": h, "source": strip_oracles(t, forbidden) if h and student else t}
                                 for h, t in hidden_segments(c.source)]
            except SyntaxError:  # a region that is not a module on its own: the cell is one hidden part
                cell["parts"] = [{"hidden": True, "source": strip_oracles(c.source, forbidden) if student else c.source}]
        cells.append(cell)
    return cells


def plan_json(plan: NotebookPlan, *, seed: int, cell_timeout_s: int, max_procs: int, results_fd: int) -> bytes:
    """What the runner reads on stdin. The batch secret ``seed`` never leaves this process: each
    test cell gets ``gradlab.observe.cell_key`` of it (one-way), and a student's notebook runs
    with ``checking()`` False."""
    from gradlab.observe import cell_key

    secret = int(seed).to_bytes(32, "big", signed=False)
    cells = runnable(plan)
    for c in cells:
        if c["kind"] == "test":
            c["key"] = cell_key(secret, plan.assignment, plan.notebook, c["grade_id"] or "")
    return json.dumps({"cells": cells, "checking": plan.student_id == "<reference>", "cell_timeout_s": cell_timeout_s,
                       "max_procs": max_procs, "results_fd": results_fd}).encode()
