"""judge: the verdicts, decided in the grader's own process (never one that ran student code).

A graded test cell earns its points iff

1. it ran to its end without an error in the student's sandbox, **and**
2. every observation the reference run (the source notebook, same seed) recorded in that cell
   was recorded by the student's run too, with exactly the same kind (a float is a ``float``, a
   tensor a plain ``Tensor`` of the same dtype and shape, a list as long, a dict with the same
   keys) and values equal within the *reference's* tolerances, **and**
3. no forbidden built-in of its exercise appears in the student's solution cell, nor in a cell
   the student added (a static scan of the source; each hit is also a flag for the instructor).

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
import base64
import math

from . import integrity
from .notebook import MAX_MESSAGE, redact, safe_ename, scrub
from .records import CellVerdict, NotebookPlan, NotebookResult, Outcome, RunOutput

DEFAULT_TOL = {"float64": (1e-10, 1e-12), "complex128": (1e-10, 1e-12)}
DEFAULT_TOL_OTHER = (1e-5, 1e-6)


class Mismatch(Exception):
    pass


def _tensor(enc: dict):
    import torch
    dtype = getattr(torch, str(enc.get("tensor")), None)
    shape = enc.get("shape")
    if not isinstance(dtype, torch.dtype) or not isinstance(shape, list) or not all(type(s) is int and s >= 0 for s in shape):
        raise Mismatch("not a tensor")
    raw = base64.b64decode(str(enc.get("b64", "")), validate=True)
    numel = math.prod(shape)
    if len(raw) != numel * dtype.itemsize:
        raise Mismatch("tensor size")
    if numel == 0:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(bytearray(raw), dtype=dtype).reshape(shape)


def _float(enc: dict) -> float:
    try:
        return float(str(enc.get("float")))
    except ValueError:
        raise Mismatch("not a float") from None


def compare_observation(ref, got, tol: tuple) -> None:
    """Raise ``Mismatch`` unless ``got`` is ``ref`` (encoded by the runner) within ``tol``."""
    import torch
    if type(ref) is not type(got):
        raise Mismatch("kind")
    if isinstance(ref, dict):
        if set(ref) != set(got):
            raise Mismatch("kind")
        if set(ref) == {"tensor", "shape", "b64"}:
            a, b = _tensor(ref), _tensor(got)
            if a.dtype != b.dtype or a.shape != b.shape:
                raise Mismatch("dtype/shape")
            if a.is_floating_point() or a.is_complex():
                rtol, atol = (tol[0] if tol[0] is not None else DEFAULT_TOL.get(str(a.dtype)[6:], DEFAULT_TOL_OTHER)[0],
                              tol[1] if tol[1] is not None else DEFAULT_TOL.get(str(a.dtype)[6:], DEFAULT_TOL_OTHER)[1])
                if not torch.allclose(b, a, rtol=rtol, atol=atol, equal_nan=True):
                    raise Mismatch("values")
            elif not torch.equal(a, b):
                raise Mismatch("values")
        elif set(ref) == {"float"}:
            a, b = _float(ref), _float(got)
            rtol = tol[0] if tol[0] is not None else DEFAULT_TOL_OTHER[0]
            atol = tol[1] if tol[1] is not None else DEFAULT_TOL_OTHER[1]
            if not (math.isnan(a) and math.isnan(b) or a == b or math.isclose(a, b, rel_tol=rtol, abs_tol=atol)):
                raise Mismatch("values")
        elif set(ref) == {"dict"}:
            ra, ga = ref["dict"], got["dict"]
            if not isinstance(ga, dict) or set(ra) != set(ga):
                raise Mismatch("keys")
            for k in ra:
                compare_observation(ra[k], ga[k], tol)
        else:
            raise Mismatch("kind")
    elif isinstance(ref, list):
        if len(ref) != len(got):
            raise Mismatch("length")
        for a, b in zip(ref, got):
            compare_observation(a, b, tol)
    elif ref != got:
        raise Mismatch("values")


def _authoring_error(ref) -> bool:
    """The reference recorded something the grader cannot compare (a numpy array, an object)."""
    if isinstance(ref, str):
        return ref.startswith("<type-error")
    if isinstance(ref, list):
        return any(_authoring_error(v) for v in ref)
    if isinstance(ref, dict) and "dict" in ref and isinstance(ref["dict"], dict):
        return any(_authoring_error(v) for v in ref["dict"].values())
    return False


def observations_match(ref_obs: dict, ref_tol: dict, got_obs) -> bool:
    if not isinstance(got_obs, dict) or set(got_obs) != set(ref_obs):
        return False
    for key, ref in ref_obs.items():
        tol = ref_tol.get(key) if isinstance(ref_tol.get(key), list) and len(ref_tol.get(key)) == 2 else (None, None)
        try:
            compare_observation(ref, got_obs[key], tuple(tol))
        except (Mismatch, ValueError, TypeError, RuntimeError):
            return False
    return True


# -- forbidden built-ins: a static scan of the student's solution source -------------------------
def forbidden_uses(source: str, names) -> list[str]:
    """The dotted names of ``names`` that ``source`` uses: ``torch.sigmoid`` as ``torch.sigmoid``,
    an alias of torch, ``from torch import sigmoid``, ``getattr(torch, "sigmoid")``; a method name
    (``torch.Tensor.sigmoid``) as any ``.sigmoid`` attribute or ``getattr(x, "sigmoid")``."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[(a.asname or a.name).split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    for default in ("torch", "np", "F", "nn"):
        aliases.setdefault(default, {"np": "numpy", "F": "torch.nn.functional", "nn": "torch.nn"}.get(default, default))

    def dotted(node) -> str | None:
        if isinstance(node, ast.Name):
            return aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = dotted(node.value)
            return f"{base}.{node.attr}" if base else None
        return None

    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:  # importing the name is using it (from any cell)
            used.update(f"{node.module}.{a.name}" for a in node.names)
        if isinstance(node, ast.Attribute):
            full = dotted(node)
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if not (isinstance(root, ast.Name) and root.id in aliases):
                used.add("." + node.attr)   # an attribute of a value (a method), not of a module
            if full:
                used.add(full)
        elif isinstance(node, ast.Name) and node.id in aliases:
            used.add(aliases[node.id])
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
              and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
            if not (isinstance(node.args[0], ast.Name) and node.args[0].id in aliases):
                used.add("." + node.args[1].value)
            base = dotted(node.args[0])
            if base:
                used.add(f"{base}.{node.args[1].value}")
    starred = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
               and any(a.name == "*" for a in n.names)}
    bare = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    used.update(f"{m}.{b}" for m in starred for b in bare)   # ``from torch import *`` then ``sigmoid(z)``
    hits = []
    for name in names:
        parts = name.split(".")
        method = len(parts) >= 3 and parts[-2] in ("Tensor", "Module")
        if name in used or (method and "." + parts[-1] in used):
            hits.append(name)
    return hits


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


def judge(plan: NotebookPlan, run: RunOutput, reference: RunOutput, *, solution_of: dict[str, str],
          hidden_lines: list[str], unsafe: bool = False) -> NotebookResult:
    """The verdict of every graded cell of ``plan`` (see the module docstring)."""
    ref_cells = {c.grade_id: c for c in reference.cells if c.grade_id}
    student_source = {c.grade_id: c.source for c in plan.cells if c.kind == "solution" and c.grade_id}
    written = student_written(plan)
    added = [src for _, src, is_added in written if is_added]   # each parsed alone: one broken cell hides no other
    hits = {gid: sorted(set(forbidden_uses(student_source.get(gid, ""), names)
                            + [n for src in added for n in forbidden_uses(src, names)]))
            for gid, names in plan.forbidden.items()}
    verdicts, flags = [], []
    for names in hits.values():
        flags += [f"forbidden:{n}" for n in names]
    for where, source, _ in written:
        flags += [f"review:{plan.notebook}:{where}:{what}" for what in integrity.scan(source)]
    tampered = tampering(plan, run)
    if tampered:
        flags.append(f"tampered:{plan.notebook}")
    for cell in plan.cells:
        if cell.kind == "answer" or (cell.kind == "solution" and cell.points > 0):
            unchanged = cell.unchanged or not cell.source.strip()
            verdicts.append(CellVerdict(cell.grade_id, 0.0, cell.points, False, kind="answer",
                                        needs_manual_grade=not unchanged,
                                        message="no answer" if unchanged else "to be graded by your instructor"))
            continue
        if cell.kind != "test":
            continue
        if tampered:
            verdicts.append(CellVerdict(cell.grade_id, 0.0, cell.points, False,
                                        "not graded: the notebook's results were tampered with"))
            continue
        got = run.cell(cell.index)
        ref = ref_cells.get(cell.grade_id)
        ename, evalue, visible = _message(got, hidden_lines)
        passed, message = False, ""
        if got is None:
            message = "not run: the notebook stopped before this cell"
        elif got.outcome is not Outcome.OK:
            if not ename:
                message = f"failed ({got.outcome.value})"
            elif visible:
                message = f"{ename}: {evalue}" if evalue else ename
            else:
                message = f"{ename} (in a hidden test)"
        elif ref is None or ref.outcome is not Outcome.OK or not ref.observations or any(
                _authoring_error(v) for v in ref.observations.values()):
            passed = True
            flags.append(f"unjudged:{cell.grade_id}")
        elif observations_match(ref.observations, ref.tolerances or {}, got.observations):
            passed = True
        else:  # what the reference's hidden assert would have raised
            ename, message = "AssertionError", "AssertionError (in a hidden test)"
        used = hits.get(solution_of.get(cell.grade_id, ""), [])
        if passed and used:
            passed, message = False, "uses a built-in this exercise forbids: " + ", ".join(used)
        verdicts.append(CellVerdict(cell.grade_id, cell.points if passed else 0.0, cell.points, passed,
                                    message[:MAX_MESSAGE], ename=ename))
    status = run.status
    if unsafe:
        flags.append("unsafe-no-sandbox")
    return NotebookResult(plan.notebook, status, verdicts, "; ".join(run.notes), flags=sorted(set(flags)))
