"""judge: the verdicts, decided in the grader's own process (never one that ran student code).

A graded test cell earns its points iff

1. it ran to its end without an error in the student's sandbox, **and**
2. every observation the reference run (the source notebook, same seed) recorded in that cell
   was recorded by the student's run too, with exactly the same kind (a float is a ``float``, a
   tensor a plain ``Tensor`` of the same dtype and shape, a list as long, a dict with the same
   keys) and values equal within the *reference's* tolerances, **and**
3. no forbidden built-in of its exercise appears in the student's solution cell, nor in a cell
   the student added (a static scan of the source; each hit is also a flag for the instructor).

Each condition is a rule of :data:`RULES` (``ran``/``ran_ok``, ``matches_reference``,
``no_forbidden_use``, after ``not_tampered``); the kinds and their comparisons are
``gradlab.observe``'s codecs.

What the student's process reports is data, not a verdict: patching comparisons, the kernel,
IPython, ``torch.library`` or returning objects that lie changes nothing here, because the
numbers are compared by this process — and that process never held an expected value to steal
(``gradlab.observe.checking``). Its report must be exactly one result per executed cell, in the
plan's order; anything else (a duplicate, an unknown or out-of-order cell) is tampering: the
notebook is flagged ``tampered:<notebook>`` and earns what its blank earns (no autograded point).
Every cell the student wrote is also scanned for dynamic or introspective access
(:mod:`autograder.integrity`): each finding is a ``review:`` flag. A cell whose reference
recorded nothing can only be judged by its in-kernel outcome; it is flagged
``unjudged:<grade_id>``.

Messages for the student: a failure in the visible part of a test cell shows the error's class
and message (scrubbed of hidden-test text); one in a hidden region shows only the class, with
"(in a hidden test)".
"""
from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field

from . import integrity
from .notebook import MAX_MESSAGE, redact, safe_ename, scrub
from .records import CellPlan, CellRun, CellVerdict, NotebookPlan, NotebookResult, Outcome, RunOutput


# -- observations: decoded and compared by their kinds' codecs (gradlab.observe.KINDS) ------------
# gradlab.observe is imported where it is used: it imports torch and gradlab, seconds that the
# commands which never judge (export, feedback, --help) should not pay.
def _foreign(enc) -> bool:
    from gradlab.observe import Mismatch, decode, holds_type_error
    try:
        return holds_type_error(decode(enc))
    except (Mismatch, ValueError, TypeError, RuntimeError):   # not foreign: the comparison fails it
        return False


def unjudgeable(ref: CellRun | None) -> bool:
    """The reference gives nothing to judge by: it failed, recorded nothing, or recorded a value
    no observation kind holds (a numpy array, an object: an authoring error)."""
    return ref is None or ref.outcome is not Outcome.OK or not ref.observations or any(
        _foreign(v) for v in ref.observations.values())


def observations_match(ref_obs: dict, ref_tol: dict, got_obs) -> bool:
    """Whether the student's run recorded exactly the reference's keys, each value decoding to the
    reference's kind and equal to it within the reference's tolerances. Anything the student's
    process wrote that does not decode is a mismatch, never an error."""
    from gradlab.observe import Mismatch, compare, decode
    if not isinstance(got_obs, dict) or set(got_obs) != set(ref_obs):
        return False
    for key, ref in ref_obs.items():
        given = ref_tol.get(key)
        tol = tuple(given) if isinstance(given, list) and len(given) == 2 else (None, None)
        try:
            compare(decode(ref), decode(got_obs[key]), tol)
        except (Mismatch, ValueError, TypeError, RuntimeError):
            return False
    return True


# -- forbidden built-ins: a static scan of the student's solution source -------------------------
#: The names a notebook's setup cells bind, where the scanned source does not bind them itself.
_SETUP_ALIASES = {"torch": "torch", "np": "numpy", "F": "torch.nn.functional", "nn": "torch.nn"}


def _resolved(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """The dotted name a Name/Attribute chain stands for, its root through ``aliases``; else None."""
    if isinstance(node, ast.Name):
        return aliases.get(node.id, node.id)
    if isinstance(node, ast.Attribute):
        base = _resolved(node.value, aliases)
        return f"{base}.{node.attr}" if base else None
    return None


def _member_uses(owner: ast.AST, attr: str, aliases: dict[str, str]) -> set[str]:
    """``owner.attr`` (or ``getattr(owner, "attr")``): its dotted name, and ``.attr`` alone when
    the owner is a value (a method), not a module the source imported."""
    root = owner
    while isinstance(root, ast.Attribute):
        root = root.value
    used = set() if isinstance(root, ast.Name) and root.id in aliases else {"." + attr}
    base = _resolved(owner, aliases)
    return (used | {f"{base}.{attr}"}) if base else used


def _uses(node: ast.AST, aliases: dict[str, str]) -> set[str]:
    """The dotted names one node of the tree uses."""
    if isinstance(node, ast.ImportFrom) and node.module:  # importing the name is using it (from any cell)
        return {f"{node.module}.{a.name}" for a in node.names}
    if isinstance(node, ast.Attribute):
        return _member_uses(node.value, node.attr, aliases)
    if isinstance(node, ast.Name):
        return {aliases[node.id]} if node.id in aliases else set()
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
            and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
        return _member_uses(node.args[0], node.args[1].value, aliases)
    return set()


def _star_uses(tree: ast.AST) -> set[str]:
    """``from torch import *`` then ``sigmoid(z)``: every bare name, as a member of every starred module."""
    starred = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
               and any(a.name == "*" for a in n.names)}
    bare = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    return {f"{m}.{b}" for m in starred for b in bare}


def forbidden_uses(source: str, names) -> list[str]:
    """The dotted names of ``names`` that ``source`` uses: ``torch.sigmoid`` as ``torch.sigmoid``,
    an alias of torch, ``from torch import sigmoid``, ``getattr(torch, "sigmoid")``; a method name
    (``torch.Tensor.sigmoid``) as any ``.sigmoid`` attribute or ``getattr(x, "sigmoid")``."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    aliases = {**_SETUP_ALIASES, **integrity.import_aliases(tree)}
    used = set().union(*(_uses(node, aliases) for node in ast.walk(tree))) | _star_uses(tree)

    def method(name: str) -> bool:
        parts = name.split(".")
        return len(parts) >= 3 and parts[-2] in ("Tensor", "Module")

    return [name for name in names if name in used or (method(name) and "." + name.split(".")[-1] in used)]


# -- the verdicts of one notebook ----------------------------------------------------------------
def _message(run_cell, hidden_lines: list[str]) -> tuple[str, str, bool]:
    """(ename, evalue, visible) of a cell's error, capped and redacted: safe for the student's page.
    ``visible``: the runner reported the failure in the visible part of the test cell."""
    errors = [o for o in (run_cell.outputs if run_cell else []) if isinstance(o, dict) and o.get("output_type") == "error"]
    if not errors:
        return "", "", False
    e = errors[-1]
    ename = safe_ename(e.get("ename", ""), hidden_lines)
    evalue = " ".join(str(e.get("evalue", ""))[:2000].split())
    return ename, scrub(redact(evalue, hidden_lines), hidden_lines), e.get("part") == "visible"


def tampering(plan: NotebookPlan, run: RunOutput) -> str:
    """Why the run's report is not exactly one result per executed cell, in order ('' if it is).
    Trailing cells may be missing (the notebook stopped); nothing else may differ."""
    expected = [(c.index, c.grade_id) for c in plan.cells if c.kind in ("setup", "solution", "test", "student")]
    got = [(c.index, c.grade_id) for c in run.cells]
    if len(got) > len(expected):
        return f"{len(got)} results for {len(expected)} cells"
    for i, (e, g) in enumerate(zip(expected, got)):
        if e[0] != g[0] or (e[1] or None) != (g[1] or None):
            return f"result {i + 1} is for cell {g[0]}, expected cell {e[0]}"
    return ""


def student_written(plan: NotebookPlan) -> list[tuple[str, str, bool]]:
    """``(where, source, added)`` of every code cell the student could edit or add. In an added
    cell, the lines copied verbatim from the notebook's locked and test cells (a duplicated or split
    test cell runs as an added one) are the course's, not the student's: they become ``pass``
    (unless that no longer parses: then the whole cell counts)."""
    course_lines = {line.strip() for c in plan.cells if c.kind in ("setup", "test") for line in c.source.splitlines()}
    course_lines.discard("")
    out = []
    for c in plan.cells:
        if c.kind == "solution":
            out.append((c.grade_id or f"cell{c.index + 1}", c.source, False))
        elif c.kind == "student":
            lines = c.source.splitlines()
            own = "\n".join(line[:len(line) - len(line.lstrip())] + "pass" if line.strip() in course_lines else line
                            for line in lines)
            try:
                ast.parse(own)
            except SyntaxError:
                own = c.source
            out.append((f"cell{c.index + 1}", own, True))
    return out


# -- the grading rules: a test cell passes when none of them fails it --------------------------
@dataclass
class Context:
    """What the rules know of the notebook being judged, beyond the cell itself."""
    tampered: str                         # why the run's report is not one result per cell ('' if it is)
    forbidden_hits: dict[str, list[str]]  # solution grade_id -> the forbidden built-ins the student's code uses
    solution_of: dict[str, str]           # test grade_id -> the grade_id of the solution it tests
    hidden_lines: list[str]               # what no message may show
    flags: list[str] = field(default_factory=list)   # what a rule found for the instructor


@dataclass(frozen=True)
class Fail:
    """A rule's objection: the message the student reads (capped and redacted by the rule) and the
    error class recorded with it."""
    message: str
    ename: str = ""


#: ``rule(cell, got, ref, ctx) -> Fail | None``: ``got`` and ``ref`` are the student's and the
#: reference's results for the cell (None: not run).
Rule = Callable[[CellPlan, CellRun | None, CellRun | None, Context], Fail | None]


def not_tampered(cell: CellPlan, got, ref, ctx: Context) -> Fail | None:
    """A run whose report is not one result per executed cell, in order, earns nothing."""
    return Fail("not graded: the notebook's results were tampered with") if ctx.tampered else None


def ran(cell: CellPlan, got, ref, ctx: Context) -> Fail | None:
    """The cell was run (the notebook did not stop before it)."""
    return Fail("not run: the notebook stopped before this cell") if got is None else None


def ran_ok(cell: CellPlan, got: CellRun, ref, ctx: Context) -> Fail | None:
    """It ran to its end without an error. The student sees the error's class and message when it
    was raised in the visible part of the cell, only its class when in a hidden test."""
    if got.outcome is Outcome.OK:
        return None
    ename, evalue, visible = _message(got, ctx.hidden_lines)
    if not ename:
        return Fail(f"failed ({got.outcome.value})")
    if visible:
        return Fail(f"{ename}: {evalue}" if evalue else ename, ename)
    return Fail(f"{ename} (in a hidden test)", ename)


def matches_reference(cell: CellPlan, got: CellRun, ref, ctx: Context) -> Fail | None:
    """Every observation of the reference run is the student's too (:func:`observations_match`);
    a failure reads as what the reference's hidden assert would have raised. A reference that
    gives nothing to judge by leaves the cell to its in-kernel outcome, flagged ``unjudged:``."""
    if unjudgeable(ref):
        ctx.flags.append(f"unjudged:{cell.grade_id}")
        return None
    if observations_match(ref.observations, ref.tolerances or {}, got.observations):
        return None
    return Fail("AssertionError (in a hidden test)", "AssertionError")


def no_forbidden_use(cell: CellPlan, got: CellRun, ref, ctx: Context) -> Fail | None:
    """The solution the cell tests (and every cell the student added) uses none of its exercise's
    forbidden built-ins."""
    used = ctx.forbidden_hits.get(ctx.solution_of.get(cell.grade_id, ""), [])
    if not used:
        return None
    return Fail("uses a built-in this exercise forbids: " + ", ".join(used), _message(got, ctx.hidden_lines)[0])


#: The rules, in order: the first that fails a test cell gives its verdict's message.
RULES: list[Rule] = [not_tampered, ran, ran_ok, matches_reference, no_forbidden_use]


def judge_cell(cell: CellPlan, got: CellRun | None, ref: CellRun | None, ctx: Context) -> CellVerdict:
    """The verdict of one graded test cell: its points unless a rule of :data:`RULES` fails it."""
    for rule in RULES:
        fail = rule(cell, got, ref, ctx)
        if fail is not None:
            return CellVerdict(cell.grade_id, 0.0, cell.points, False, fail.message[:MAX_MESSAGE], ename=fail.ename)
    return CellVerdict(cell.grade_id, cell.points, cell.points, True, "", ename=_message(got, ctx.hidden_lines)[0])


def answer_verdict(cell: CellPlan) -> CellVerdict:
    """A written answer (or a solution cell with points of its own): zero points, for the
    instructor to grade unless the student left it as it was."""
    unchanged = cell.unchanged or not cell.source.strip()
    return CellVerdict(cell.grade_id, 0.0, cell.points, False, kind="answer", needs_manual_grade=not unchanged,
                       message="no answer" if unchanged else "to be graded by your instructor")


def forbidden_hits(plan: NotebookPlan, written: list[tuple[str, str, bool]]) -> dict[str, list[str]]:
    """solution grade_id -> the forbidden built-ins of its exercise that its source or any cell
    the student added uses (each added cell parsed alone: one broken cell hides no other)."""
    student_source = {c.grade_id: c.source for c in plan.cells if c.kind == "solution" and c.grade_id}
    added = [src for _, src, is_added in written if is_added]
    return {gid: sorted(set(forbidden_uses(student_source.get(gid, ""), names)
                            + [n for src in added for n in forbidden_uses(src, names)]))
            for gid, names in plan.forbidden.items()}


def judge(plan: NotebookPlan, run: RunOutput, reference: RunOutput, *, solution_of: dict[str, str],
          hidden_lines: list[str], unsafe: bool = False) -> NotebookResult:
    """The verdict of every graded cell of ``plan`` (see the module docstring)."""
    ref_cells = {c.grade_id: c for c in reference.cells if c.grade_id}
    written = student_written(plan)
    hits = forbidden_hits(plan, written)
    ctx = Context(tampering(plan, run), hits, solution_of, hidden_lines)
    ctx.flags += [f"forbidden:{n}" for names in hits.values() for n in names]
    ctx.flags += [f"review:{plan.notebook}:{where}:{what}" for where, source, _ in written
                  for what in integrity.scan(source)]
    if ctx.tampered:
        ctx.flags.append(f"tampered:{plan.notebook}")
    verdicts = []
    for cell in plan.cells:
        if cell.kind == "answer" or (cell.kind == "solution" and cell.points > 0):
            verdicts.append(answer_verdict(cell))
        elif cell.kind == "test":
            verdicts.append(judge_cell(cell, run.cell(cell.index), ref_cells.get(cell.grade_id), ctx))
    if unsafe:
        ctx.flags.append("unsafe-no-sandbox")
    return NotebookResult(plan.notebook, run.status, verdicts, "; ".join(run.notes), flags=sorted(set(ctx.flags)))
