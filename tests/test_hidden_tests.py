"""What the student's graded run executes of every hidden test holds no expected value.

The grader strips each hidden region of its ``assert`` statements and ``if checking():`` blocks
before the code reaches the student's process (``autograder.plan.strip_oracles``); the
``gradlab.checks`` helpers skip their oracle there. What remains must only drive the student's
functions on the grader's inputs and record what comes back (docs/grader.md, "The student's
process holds nothing worth stealing"). This file reads that remainder, for every hidden region
of every solution notebook, and rejects:

* **an oracle call**: a built-in the exercise forbids, torch's version of something the notebook
  asks the student to write (``nn.RReLU`` where the notebook defines ``RReLU``, ``torch.optim.Adam``
  where it defines ``Adam``), a name under ``plan.ORACLE_ROOTS`` that is not one of the building
  blocks a test may hand the student's function as *input* (a model's layers, a loss to train
  it), or a table of torch's classes a helper cell keeps (``TORCH["Adam"]``);
* **an expected value bound outside the checks**: a name the region binds whose only uses are in
  asserts or ``checking()`` blocks (``_ref = nn.PReLU(3)``, ``want = 2 * l2``, a snapshot of the
  weights the student's copy must equal). In the student's run it is dead code that computes
  exactly what the test compares with;
* **a property the student's run would lose**: an assert outside ``checking()`` that records
  nothing and reads no oracle (a type, a shape, an unchanged input, a keep rate). The student's
  run drops it, so its verdict survives only as a record: ``assert record(key, prop), msg``.

Helpers of ``gradlab.checks`` are called in the student's run, but their oracle arguments are not
(``check_elementwise(fn, F.elu, ...)`` calls ``F.elu`` only when ``checking()`` is True).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import nbcheck
from autograder.judge import forbidden_uses
from autograder.notebook import hidden_segments as segments
from autograder.plan import ORACLE_ROOTS, _bound_names, _dotted, _is_checking, _records, strip_oracles

ROOT = nbcheck.ROOT

#: torch's pieces a hidden test may build in the student's process as the *input* of the student's
#: function (the layers of a model whose gradients, dropout modules or weights are inspected; a loss
#: or an optimizer that trains it). Anywhere the notebook implements the same thing they are its
#: oracle, and the name rule below rejects them.
BUILDING_BLOCKS = frozenset({
    "Module", "Parameter", "Linear", "Sequential", "ModuleList", "ReLU", "Tanh", "Sigmoid", "GELU", "SELU",
    "BatchNorm1d", "LayerNorm", "PReLU", "Dropout", "AlphaDropout", "SGD", "Adam", "cross_entropy",
})
#: (notebook, test cell, call): an implemented name the test must still hand the student as input.
INPUTS = {
    # fuse_linear_bn fuses torch's BatchNorm1d (its argument), whatever the notebook's own is
    ("04_normalization_and_clipping/01_batch_norm", "test_fuse_linear_bn", "nn.BatchNorm1d"),
    # mc_dropout_predict must recognise torch's own dropout modules, not only the course's Dropout
    ("06_regularization/02_dropout_and_friends", "test_mc_dropout_predict", "nn.Dropout"),
    ("06_regularization/02_dropout_and_friends", "test_mc_dropout_predict", "nn.AlphaDropout"),
}


def _norm(name: str) -> str:
    return name.replace("_", "").lower()


def _defined(nb) -> set[str]:
    """The normalised names of the functions and classes the notebook's solution cells define."""
    names = set()
    for cell in nb.cells:
        if cell.cell_type == "code" and nbcheck.is_solution(cell):
            try:
                tree = ast.parse(nbcheck._src(cell))
            except SyntaxError:
                continue
            names |= {_norm(n.name) for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    return names


def _locked_helper_trees(nb) -> list[ast.Module]:
    """The parsed locked code cells of ``nb`` that are neither tests nor solutions (the helpers)."""
    trees = []
    for cell in nb.cells:
        if cell.cell_type != "code" or nbcheck.is_grade(cell) or nbcheck.is_solution(cell):
            continue
        try:
            trees.append(ast.parse(nbcheck._src(cell)))
        except SyntaxError:
            continue
    return trees


def _oracle_tables(nb) -> set[str]:
    """Names that locked helper cells bind to a collection of torch's reference implementations."""
    tables = set()
    for tree in _locked_helper_trees(nb):
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict | ast.Tuple | ast.List | ast.Set):
                refs = [_dotted(n) for n in ast.walk(node.value) if isinstance(n, ast.Attribute)]
                if any(r and any(r.startswith(o + ".") for o in ORACLE_ROOTS) for r in refs):
                    tables |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return tables


def _helpers() -> set[str]:
    import gradlab.checks
    return set(gradlab.checks.__all__)


def _without_helper_arguments(tree):
    """``tree`` with the arguments of every gradlab.checks helper call removed (their oracles run
    only where checking() is True)."""
    helpers = _helpers()
    for call in [n for n in ast.walk(tree) if isinstance(n, ast.Call)]:
        if (_dotted(call.func) or "").split(".")[-1] in helpers:
            call.args, call.keywords = [], []
    return tree


def _loaded(tree) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _targets(stmt) -> set[str]:
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def _dead_names(tree) -> set[str]:
    """Names ``tree`` binds by assignment or loop that feed no effect: a call made for its own sake
    (``record``, the student's function, a helper), a ``with`` context, a mutated object, a raise.
    A fixpoint over statements: one is live when it has an effect or binds a live name; then every
    name it reads, and the tests of the ``if``/``for``/``while`` around it, are live."""
    stmts: list[tuple[ast.stmt, list]] = []   # (statement, enclosing compound statements)

    def collect(body, around):
        for st in body:
            stmts.append((st, around))
            for field in ("body", "orelse", "finalbody"):
                inner = getattr(st, field, None)
                if isinstance(inner, list) and not isinstance(st, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    collect(inner, around + [st])
            for h in getattr(st, "handlers", []) or []:
                collect(h.body, around + [st])
    collect(tree.body, [])
    bound, live, changed = set(), set(), True
    for st, _ in stmts:
        if isinstance(st, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.For):
            bound |= _targets(st)
        if isinstance(st, ast.Assign) and _records(st.value) == [st.value]:
            live |= _targets(st)   # `got = record(key, f(x))`: the recorded value, which the checks may read
    alive: set[int] = set()
    while changed:
        changed = False
        for st, around in stmts:
            if id(st) in alive:
                continue
            if isinstance(st, ast.Assign | ast.AugAssign | ast.AnnAssign):
                effect = any(not isinstance(t, ast.Name | ast.Tuple | ast.List | ast.Starred)
                             for t in (st.targets if isinstance(st, ast.Assign) else [st.target]))
                is_live = effect or bool(_targets(st) & (live | {"_"})) or bool(st.value is not None and _records(st.value))  # records: effects
            elif isinstance(st, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                is_live = st.name in live
            elif isinstance(st, ast.If | ast.For | ast.While | ast.Try | ast.With | ast.Import | ast.ImportFrom | ast.Pass):
                is_live = isinstance(st, ast.With)   # a context (forbid(...)) acts by being entered
            else:   # an expression statement, raise, return, del, ...
                is_live = True
            if not is_live:
                continue
            alive.add(id(st))
            changed = True
            reads = st if not isinstance(st, ast.If | ast.For | ast.While | ast.Try | ast.With) else \
                [getattr(st, f) for f in ("test", "iter", "items") if getattr(st, f, None) is not None]
            for node in reads if isinstance(reads, list) else [reads]:
                for sub in ast.walk(node) if not isinstance(node, list) else [x for y in node for x in ast.walk(y)]:
                    if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
                        live.add(sub.id)
            for outer in around:
                if id(outer) not in alive:
                    alive.add(id(outer))
                for f in ("test", "iter", "items"):
                    val = getattr(outer, f, None)
                    for node in val if isinstance(val, list) else [val] if val is not None else []:
                        live |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
                if isinstance(outer, ast.For):
                    live |= _targets(outer)
    # a name is flagged when no live statement binds it (a by-product of a live call, such as the
    # label run_init returns beside the tensor, is not), unless it is a label for messages
    bound_live = set()
    for st, _ in stmts:
        if isinstance(st, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.For):
            if id(st) in alive:
                bound_live |= _targets(st)
            elif isinstance(st, ast.Assign) and (isinstance(st.value, ast.JoinedStr) or
                                                 isinstance(st.value, ast.Constant) and isinstance(st.value.value, str)):
                bound_live |= _targets(st)
    return bound - live - bound_live


def region_problems(text: str, *, forbid=(), defined=frozenset(), tables=frozenset(), inputs=frozenset()) -> list[str]:
    """What is wrong with one hidden region (empty: nothing worth stealing in the student's run)."""
    problems = []
    tree = ast.parse(text)
    stripped = ast.parse(strip_oracles(text, tuple(forbid)))
    bare = _without_helper_arguments(ast.parse(ast.unparse(stripped)))
    # 1. oracle calls
    for used in forbidden_uses(ast.unparse(bare), list(forbid)) if forbid else []:
        problems.append(f"calls {used}, the exercise's forbidden built-in")
    for call in [n for n in ast.walk(bare) if isinstance(n, ast.Call)]:
        name = _dotted(call.func) or ""
        if not any(name == r or name.startswith(r + ".") for r in ORACLE_ROOTS) or name in inputs:
            continue
        last = name.split(".")[-1]
        if _norm(last) in defined:
            problems.append(f"line {call.lineno}: calls {name}, torch's version of what the notebook implements")
        elif last not in BUILDING_BLOCKS:
            problems.append(f"line {call.lineno}: calls {name} (a reference implementation, plan.ORACLE_ROOTS)")
    for name in sorted(_loaded(bare) & set(tables)):
        problems.append(f"reads {name}, a table of torch's reference implementations")
    # 2. expected values bound outside the checks: what the student's run computes and nothing uses
    checked = [n for n in ast.walk(tree) if isinstance(n, ast.If) and _is_checking(n.test)]
    only_checked = _bound_names([s for b in checked for s in b.body])
    for name in sorted(_dead_names(stripped) - {"_"}):
        problems.append(f"binds {name!r} but the student's run uses it for nothing (only asserts or checking() "
                        "blocks read it): an expected value computed outside the check (move it in), or a "
                        "student's value whose property nothing records (record it)")
    # 3. properties only an assert holds
    class _Asserts(ast.NodeVisitor):
        def visit_If(self, node):
            if not _is_checking(node.test):
                self.generic_visit(node)
            else:
                for n in node.orelse:
                    self.visit(n)

        def visit_Assert(self, node):
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            reads_oracle = names & only_checked or any(
                (d := _dotted(n)) and any(d == r or d.startswith(r + ".") for r in ORACLE_ROOTS)
                for n in ast.walk(node) if isinstance(n, ast.Attribute | ast.Name))
            if not _records(node.test) and not reads_oracle and not (forbid and forbidden_uses(ast.unparse(node), list(forbid))):
                problems.append(f"line {node.lineno}: `assert {ast.unparse(node.test)[:70]}` records nothing: the "
                                "student's run drops it (write `assert record(key, ...)`)")
    _Asserts().visit(tree)
    return problems


def notebook_problems(path: Path) -> list[str]:
    nb = nbcheck.read(path)
    rel = f"{path.parent.name}/{path.stem}"
    defined, tables = _defined(nb), _oracle_tables(nb)
    problems, forbid = [], ()
    for cell in nb.cells:
        if cell.cell_type == "code" and nbcheck.is_solution(cell):
            forbid = tuple((cell.metadata.get("gradlab") or {}).get("forbid") or ())
        if not nbcheck.is_test_cell(cell):
            continue
        gid = nbcheck.nbg(cell).get("grade_id")
        inputs = {call for n, g, call in INPUTS if (n, g) == (rel, gid)}
        for hidden, text in segments(nbcheck._src(cell)):
            if hidden:
                problems += [f"{rel} {gid}: {p}" for p in region_problems(
                    text, forbid=forbid, defined=defined, tables=tables, inputs=inputs)]
    return problems


@pytest.mark.parametrize("path", nbcheck.notebooks("solutions"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_hidden_tests_hold_no_expected_value_in_the_students_run(path):
    problems = notebook_problems(path)
    assert not problems, "\n".join(problems)


# The old forms of cells this rule rewrote: each must be caught (proof that the checks can fail).
OLD_FORMS = {
    "a torch module built as the oracle, outside the check": (
        "_m.eval()\n_ref = nn.RReLU(_lo, _up).eval()\n"
        "check_elementwise(forbidding(_m), _ref, name='RReLU', record_as='r')\n"
        "_img_ref = _ref(_img)\n_img_out = _m(_img)\n"
        "assert torch.allclose(record('r/4d', _img_out), _img_ref), 'eval mode wrong'\n",
        dict(defined={"rrelu"}), ["calls nn.RReLU", "binds '_img_ref'"]),
    "torch's optimizer run beside the student's": (
        "_mine, _ref = Adam([_a], lr=0.1), TORCH['Adam']([_a2], lr=0.1)\n_mine.step()\n_ref.step()\n"
        "assert torch.allclose(_a, _a2)\n_ = record('adam/late', _a.detach())\n",
        dict(defined={"adam"}, tables={"TORCH"}), ["reads TORCH"]),
    "a reference formula computed outside the assert": (
        "_best = 0.0\nfor _v in _losses:\n    if _v < _best:\n        _best = _v\n    _es.step(_v)\n"
        "    assert abs(_es.best - _best) < 1e-15\n",
        {}, ["binds '_best'", "records nothing"]),
    "an expected snapshot kept outside the check": (
        "_snap = copy.deepcopy(_net.state_dict())\n_es.restore_best(_net)\n"
        "for _k, _t in _net.state_dict().items():\n    assert torch.equal(_t, _snap[_k])\n"
        "_ = record('restored', list(_net.state_dict().values()))\n",
        {}, ["binds '_snap'"]),
    "a property that only an assert holds": (
        "_y = f(_x)\n_ = record('y', _y)\nassert _y.dtype == _x.dtype, 'dtype not kept'\n", {}, ["records nothing"]),
    "the exercise's forbidden built-in": (
        "a = torch.sigmoid(z)\n_ = record('s', saturation_fraction(z))\nassert a.sum() > 0\n",
        dict(forbid=("torch.sigmoid",)), ["calls torch.sigmoid"]),
}


@pytest.mark.parametrize("what", sorted(OLD_FORMS))
def test_the_rule_rejects_the_old_forms(what):
    text, kw, expected = OLD_FORMS[what]
    problems = region_problems(text, **kw)
    for piece in expected:
        assert any(piece in p for p in problems), f"{what}: no problem mentions {piece!r}: {problems}"


def test_the_rule_accepts_the_new_forms():
    """The same checks written as the convention asks: records outside, oracles inside."""
    text = (
        "from gradlab.observe import checking\n"
        "check_elementwise(forbidding(_m), nn.RReLU(_lo, _up).eval(), name='RReLU', record_as='r')\n"
        "_img_out = _m(_img)\n_ = record('r/4d', _img_out)\n"
        "if checking():\n    assert torch.allclose(_img_out, nn.RReLU(_lo, _up).eval()(_img))\n"
        "_y = f(_x)\nassert record('y/dtype', str(_y.dtype)) == str(_x.dtype), 'dtype not kept'\n"
        "assert abs(record('wd', float(_wd)) - 2 * _l2) < 1e-15\n"
    )
    assert region_problems(text, defined={"rrelu"}, tables={"TORCH"}) == []


def helper_problems(path: Path) -> list[str]:
    """Locked helper cells run in the student's process too: a helper that runs torch's reference
    implementation (``TORCH[name](...)`` in a trajectory comparison) does so only under ``checking()``."""
    nb = nbcheck.read(path)
    tables, problems = _oracle_tables(nb), []
    for tree in _locked_helper_trees(nb):
        for fn in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
            guarded = {id(sub) for n in ast.walk(fn) if isinstance(n, ast.If | ast.IfExp) and _is_checking(n.test)
                       for part in (n.body if isinstance(n.body, list) else [n.body]) for sub in ast.walk(part)}
            for n in ast.walk(fn):
                if isinstance(n, ast.Name) and n.id in tables and isinstance(n.ctx, ast.Load) and id(n) not in guarded:
                    problems.append(f"{path.parent.name}/{path.stem}: {fn.name}() reads {n.id} outside `checking()`")
    return problems


@pytest.mark.parametrize("path", nbcheck.notebooks("solutions"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_helpers_run_torchs_reference_only_when_checking(path):
    problems = helper_problems(path)
    assert not problems, "\n".join(problems)


def test_helper_rule_rejects_the_old_compare(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook
    old = ("TORCH = {'SGD': torch.optim.SGD}\n"
           "def compare(name, cls, kw):\n    expected = trajectory(lambda p: TORCH[name](p, **kw))\n"
           "    got = trajectory(lambda p: cls(p, **kw))\n    return got\n")
    new = old.replace("**kw))\n    got", "**kw)) if checking() else {}\n    got")
    for source, bad in ((old, True), (new, False)):
        cell = new_code_cell(source)
        cell.metadata["nbgrader"] = {"grade": False, "solution": False, "locked": True, "grade_id": "helpers",
                                     "schema_version": 3}
        (tmp_path / "a").mkdir(exist_ok=True)
        nbformat.write(new_notebook(cells=[cell]), tmp_path / "a" / "nb.ipynb")
        assert bool(helper_problems(tmp_path / "a" / "nb.ipynb")) is bad, source


# --------------------------------------------------------------------------------------------
# The results channel is written by the student's process: every line that is not a well-formed
# result is tampering (autograder/run.py `_read`), which the judge grades as the blank notebook.
def _plan(n):
    from autograder.records import CellPlan, NotebookPlan
    return NotebookPlan("s", "a1", "ps1", tuple(CellPlan(i, "setup", None, "pass") for i in range(n)), {})


def _channel(*lines: bytes, cut: bytes = b""):
    from autograder import run
    from autograder.limits import Limits
    data = b"".join(line + b"\n" for line in lines) + cut
    box = {"results": data, "results_size": len(data), "log": b""}
    return run._read(box, 0, False, 1.0, Limits())


def _ok(i):
    import json
    return json.dumps({"index": i, "grade_id": None, "outcome": "ok", "outputs": []}).encode()


DONE = b'{"done": true, "dropped_output": 0, "timing": {"imports_s": 1.0}}'


@pytest.mark.parametrize("bad", [b"not json", b"[1, 2]", b"", b'{"index": 1}', b'{"index": true, "outcome": "ok"}',
                                 b'{"index": 1, "grade_id": null, "outcome": "passed", "outputs": []}',
                                 b'{"index": 1, "grade_id": null, "outcome": "ok", "outputs": [], "score": 1}',
                                 b'{"index": -1, "grade_id": null, "outcome": "ok", "outputs": []}',
                                 b'{"index": 1, "grade_id": 3, "outcome": "ok", "outputs": []}',
                                 b'{"done": true, "secret": 1}', b"[" * 100_000 + b"]" * 100_000],
                         ids=["text", "list", "empty", "no-outcome", "bool-index", "unknown-outcome", "extra-key",
                              "negative-index", "int-grade-id", "done-extra-key", "nested-past-the-parser"])
def test_a_malformed_line_is_tampering(bad):
    from autograder.judge import tampering
    out = _channel(_ok(0), bad, _ok(1), _ok(2), DONE)
    assert tampering(_plan(3), out), f"{bad!r} was accepted: {out.cells}"
    assert any("not well-formed" in n for n in out.notes)


def test_lines_after_done_or_a_second_done_are_tampering():
    from autograder.judge import tampering
    assert tampering(_plan(3), _channel(_ok(0), _ok(1), DONE, _ok(2)))
    assert tampering(_plan(3), _channel(_ok(0), DONE, _ok(1), _ok(2), DONE))


def test_well_formed_results_and_a_cut_last_line_are_not_tampering():
    from autograder.judge import tampering
    assert not tampering(_plan(3), _channel(_ok(0), _ok(1), _ok(2), DONE))
    out = _channel(_ok(0), _ok(1), cut=_ok(2)[:10])       # the process died while writing the last one
    assert not tampering(_plan(3), out) and [c.index for c in out.cells] == [0, 1]
    assert any("cut off" in n for n in out.notes)


# --------------------------------------------------------------------------------------------
# Records in a student's graded run come only from hidden-test code (gradlab.observe.record): a
# wrapper of record in the student's namespace, or a write to Recording.values, changes nothing the
# grader reads. The latch is one-way for the process: each scenario runs in a fresh interpreter.
_SCENARIO = r'''
import json, sys, torch
from gradlab import observe
from gradlab.checks import check_elementwise
if sys.argv[1] == "student":
    observe.set_checking(False)            # what the runner does before the first cell
ns = {"record": observe.record, "observe": observe, "torch": torch, "check_elementwise": check_elementwise}
student = compile("""
_real = record
def wrapped(key, value, **kw):            # a student's record: forge what the test would record
    return _real(key, "Tensor" if key == "kind" else value, **kw)
import gradlab.observe as _obs
def make_zeros(n):
    _obs._current.values["later"] = "forged"
    return [0.0] * n
""", "<student cell>", "exec")
hidden = compile("""
_ = observe.record("direct", 2.5)
_ = record("honest", 1.5)
_ = record("kind", type(make_zeros(0)).__name__)
check_elementwise(lambda z: z * 2, lambda z: z * 2, name="double", record_as="helper", devices=["cpu"], dtypes=(torch.float64,), shapes=False)
""", "<hidden test>", "exec")
observe.begin("t", grading_seed=0)
exec(student, ns)
ns["record"] = ns["wrapped"]                # the student rebinds the name the hidden test calls
exec(hidden, ns)
rec = observe.end()
print(json.dumps({k: v if isinstance(v, (str, float)) else "tensor" for k, v in rec.values.items()}))
'''


def _scenario(mode: str) -> dict:
    import json
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-c", _SCENARIO, mode], capture_output=True, text=True, timeout=120,
                       cwd=ROOT, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src")})
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_a_relayed_or_written_record_never_reaches_the_grader_in_a_students_run():
    from gradlab.observe import RELAYED
    got = _scenario("student")
    assert got["kind"] == RELAYED and got["honest"] == RELAYED     # these went through the wrapper
    assert got["direct"] == 2.5                                     # the hidden test's own call
    assert "later" not in got                                       # writes to Recording.values are not read
    assert got["helper/float64/cpu/values"] == "tensor"             # a helper called by the hidden test records


def test_records_are_kept_outside_a_students_run():
    got = _scenario("reference")
    assert got["kind"] == "Tensor" and got["honest"] == 1.5 and got["helper/float64/cpu/grad"] == "tensor"
