"""Checks on the course's notebooks, as plain functions (no pytest in here).

Each ``*_problems`` function returns a list of human-readable problems (empty = fine), so that a
test can report every problem at once and so that ``tests/test_notebooks.py`` can also prove,
on deliberately broken notebooks, that each check *can* fail.

Used by ``tests/test_notebooks.py`` (stored notebooks, release sync, blank-release runs) and
``tests/test_browser.py`` (where the first exercise starts).
"""
from __future__ import annotations

import ast
import builtins
import difflib
import filecmp
import functools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import coursekit
import nbformat

from autograder import notebook
from autograder.notebook import is_grade as is_grade  # re-exported: the tests read cell roles here
from autograder.notebook import is_solution
from autograder.notebook import label as _label
from autograder.notebook import meta as nbg
from autograder.notebook import release_leak_problems as release_leak_problems
from autograder.notebook import text as _src
from autograder.plan import EXPERIMENT_TAG

# the checkout under test; GRADLAB_TEST_ROOT points the notebook checks at another one
ROOT = Path(os.environ.get("GRADLAB_TEST_ROOT") or coursekit.ROOT).resolve()

#: what nbgrader puts in place of a solution (autograder/nbgrader_config.py: ClearSolutions.code_stub)
STUB_LINE = 'raise NotImplementedError("replace this line with your solution")'
#: cell-metadata keys that only running or viewing a notebook adds (nbstripout removes them too)
VOLATILE_CELL_METADATA = ("execution", "ExecuteTime", "collapsed", "scrolled", "jupyter")
#: nbval comment markers that would silently weaken the CI run
NBVAL_SKIPPING = ("# NBVAL_SKIP", "nbval-skip")

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# --------------------------------------------------------------------------------------------
# discovery
def assignments(kind: str, root: Path = ROOT) -> list[str]:
    """Assignment folders (``01_...``) under ``solutions`` or ``course`` that hold a notebook
    (names starting with ``.`` or ``_`` are not assignments, as for ``python -m autograder``)."""
    base = root / kind
    return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
                  and any(p.glob("*.ipynb"))) if base.is_dir() else []


def notebooks(kind: str, root: Path = ROOT) -> list[Path]:
    """``<kind>/<assignment>/*.ipynb`` (kind = ``solutions`` or ``course``), sorted."""
    return [nb for a in assignments(kind, root) for nb in sorted((root / kind / a).glob("*.ipynb"))]


def first_notebooks(kind: str = "course", root: Path = ROOT) -> list[Path]:
    """The first notebook (by name) of each assignment."""
    return [sorted((root / kind / a).glob("*.ipynb"))[0] for a in assignments(kind, root)]


def read(path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


# --------------------------------------------------------------------------------------------
# nbgrader cell roles: autograder.notebook's (nbgrader.utils on checked metadata)
is_test_cell = notebook.is_test


def first_exercise_index(nb) -> int | None:
    """Index of the first solution cell (code or written answer), or None."""
    return next((i for i, c in enumerate(nb.cells) if is_solution(c)), None)


# --------------------------------------------------------------------------------------------
# 1. stored without outputs
def output_problems(nb) -> list[str]:
    """Like nbstripout: no outputs, no execution counts, no run-time metadata, no widget state."""
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            if cell.get("outputs"):
                problems.append(f"{_label(i, cell)} has {len(cell.outputs)} stored output(s)")
            if cell.get("execution_count") is not None:
                problems.append(f"{_label(i, cell)} has execution_count {cell.execution_count} (must be null)")
        volatile = sorted(set(cell.get("metadata", {})) & set(VOLATILE_CELL_METADATA))
        if volatile:
            problems.append(f"{_label(i, cell)} has run-time metadata {volatile}")
        if any(m in _src(cell) for m in NBVAL_SKIPPING) or "nbval-skip" in cell.get("metadata", {}).get("tags", []):
            problems.append(f"{_label(i, cell)} is marked NBVAL_SKIP: CI would not run it")
    if "widgets" in nb.metadata:
        problems.append("notebook metadata holds saved widget state ('widgets'): save without widget state")
    return problems


# --------------------------------------------------------------------------------------------
# 2. nbgrader metadata
def metadata_problems(nb, *, release: bool = False) -> list[str]:
    """nbgrader's own validator plus the course's rules (docs/authoring.md)."""
    from nbgrader.nbgraderformat import MetadataValidator

    problems = []
    try:
        MetadataValidator().validate_nb(nbformat.from_dict(json.loads(json.dumps(nb))))
    except Exception as e:  # ValidationError, SchemaTooOld/NewError
        problems.append(f"nbgrader's metadata validator: {type(e).__name__}: {e}")
    kernel = nb.metadata.get("kernelspec", {}).get("name")
    if kernel not in (None, "python3"):
        problems.append(f"kernelspec is {kernel!r}: use the standard 'python3' kernel")
    seen: dict[str, int] = {}
    forbid: list[str] = []   # the forbidden built-ins of the exercise above (its solution cell's metadata)
    for i, cell in enumerate(nb.cells):
        m = nbg(cell)
        if not m:
            continue
        where = _label(i, cell)
        if is_solution(cell) and cell.cell_type == "code":
            forbid = list((cell.metadata.get("gradlab") or {}).get("forbid") or [])
        if m.get("schema_version") != 3:
            problems.append(f"{where}: schema_version {m.get('schema_version')!r}, expected 3")
        gid = m.get("grade_id")
        if not gid:
            if m.get("grade") or m.get("solution") or m.get("locked") or m.get("task"):
                problems.append(f"{where}: no grade_id")
        elif gid in seen:
            problems.append(f"{where}: grade_id {gid!r} already used by cell {seen[gid]}")
        else:
            seen[gid] = i
        if m.get("grade") or m.get("task"):
            pts = m.get("points")
            if not isinstance(pts, (int, float)) or isinstance(pts, bool) or pts <= 0:
                problems.append(f"{where}: graded cell needs points > 0, has {pts!r}")
        if is_test_cell(cell) and not m.get("locked"):
            problems.append(f"{where}: test cell is not locked")
        if is_solution(cell) and m.get("locked"):
            problems.append(f"{where}: solution cell is locked: students could not answer")
        src = _src(cell)
        if not release:
            if is_solution(cell) and cell.cell_type == "code" and "### BEGIN SOLUTION" not in src:
                problems.append(f"{where}: code solution cell without ### BEGIN SOLUTION / ### END SOLUTION")
            for begin, end in (("### BEGIN SOLUTION", "### END SOLUTION"),
                               ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"),
                               ("=== BEGIN MARK SCHEME ===", "=== END MARK SCHEME ===")):
                if src.count(begin) != src.count(end):
                    problems.append(f"{where}: unbalanced {begin!r} / {end!r}")
            if "### BEGIN HIDDEN TESTS" in src and not is_test_cell(cell):
                problems.append(f"{where}: hidden tests in a cell that is not an autograded test cell")
            if is_test_cell(cell) and cell.cell_type == "code":
                problems += _observation_problems(where, src)
                problems += convention_problems(where, src, forbid)
    return problems


def _bound_and_read(source: str) -> tuple[set[str], set[str]]:
    """(names a cell binds, names it reads), anywhere in it; IPython's magic and shell lines left out."""
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set(), set()
    bound, read = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return bound, read


def experiment_dependency_problems(nb) -> list[str]:
    """Graded test cells that read a name only an ``experiment`` cell above them defines.

    The grader skips experiments (``autograder.plan``), and so does a blank release's run past its
    first error (``blank_run_all``): a test that needs one would be graded, and validated, against a
    notebook the student never ran.
    """
    problems, ordinary, experiments = [], set(), {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        bound, read = _bound_and_read(_src(cell))
        if EXPERIMENT_TAG in cell.metadata.get("tags", []):
            experiments.update({name: _label(i, cell) for name in bound})
            continue
        if is_grade(cell):
            needs = sorted((read - bound - ordinary - set(dir(builtins))) & set(experiments))
            problems += [f"{_label(i, cell)} reads {name!r}, which only the experiment {experiments[name]} defines "
                         "(the grader skips experiments: move it to a cell without the tag)" for name in needs]
        ordinary |= bound
    return problems


def convention_problems(where: str, src: str, forbid) -> list[str]:
    """The hidden-test convention (docs/grader.md): what the student's graded run executes of a
    hidden region — no ``assert``, no ``if checking():`` block, no argument of a ``gradlab.checks``
    helper — computes no expected value: it names none of the exercise's forbidden built-ins (the
    oracle), uses no name that only the removed parts define, and records nothing the removed
    parts would not record too."""
    import ast

    import gradlab.checks
    from autograder.judge import forbidden_uses
    from autograder.notebook import hidden_segments
    from autograder.plan import _bound_names, _is_checking, strip_oracles

    helpers = set(gradlab.checks.__all__)
    problems = []
    for hidden, text in hidden_segments(src):
        if not hidden:
            continue
        try:
            tree, stripped = ast.parse(text), ast.parse(strip_oracles(text, tuple(forbid or ())))
        except SyntaxError as e:
            problems.append(f"{where}: a hidden region that is not valid Python on its own: {e}")
            continue
        checked = [n for n in ast.walk(tree) if isinstance(n, ast.If) and _is_checking(n.test)]
        for block in checked:
            if any(isinstance(n, ast.Call) and getattr(n.func, "id", getattr(n.func, "attr", "")) == "record"
                   for b in block.body for n in ast.walk(b)):
                problems.append(f"{where}: record(...) inside `if checking():` — the student's run would not record it")
        only_checked = _bound_names([s for b in checked for s in b.body])
        stored = {n.id for n in ast.walk(stripped) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        stored |= {n.name for n in ast.walk(stripped) if isinstance(n, ast.FunctionDef | ast.ClassDef)}
        loaded = {n.id for n in ast.walk(stripped) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        for name in sorted((only_checked & loaded) - stored):
            problems.append(f"{where}: {name!r} is defined only inside `if checking():` or an assert but used "
                            "outside: the student's graded run (where those are removed) would fail on it")
        for call in [n for n in ast.walk(stripped) if isinstance(n, ast.Call)]:
            if getattr(call.func, "id", getattr(call.func, "attr", "")) in helpers:
                call.args, call.keywords = [], []   # a checks helper skips its oracle when not checking()
        used = forbidden_uses(ast.unparse(stripped), forbid) if forbid else []
        if used:
            problems.append(f"{where}: the hidden tests compute {', '.join(used)} (the exercise's oracle) outside "
                            "`assert`, `if checking():` and gradlab.checks helpers: the student's process would "
                            "hold the expected value")
    return problems


def _observation_problems(where: str, src: str) -> list[str]:
    """The grader judges a test cell by the observations its hidden tests record (docs/grader.md):
    one that records nothing cannot be judged outside the student's kernel. And a test cell must not
    end in ``record(...)``: nbgrader reads a cell's displayed value as partial credit."""
    import ast

    problems = []
    hidden = "\n".join(line for block in notebook.regions(src, *notebook.Markers().hidden) for line in block)
    if "record(" not in hidden and "record_as=" not in hidden:
        problems.append(f"{where}: its hidden tests record no observation (gradlab.observe.record): "
                        "the grader cannot judge it outside the student's kernel")
    try:
        body = ast.parse(src).body
    except SyntaxError as e:
        return problems + [f"{where}: not valid Python: {e}"]
    last = body[-1] if body else None
    if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call) and \
            getattr(last.value.func, "id", getattr(last.value.func, "attr", "")) == "record":
        problems.append(f"{where}: ends in record(...), whose value nbgrader would read as partial "
                        "credit: write `_ = record(...)`")
    return problems


# --------------------------------------------------------------------------------------------
# 3. release in sync
def regenerate_release(root: Path, dest: Path, timeout: float = 600) -> tuple[Path, str]:
    """Regenerate the release of ``root/solutions`` into ``dest/course``; return it and how it was made.

    Runs what ``make release`` runs, ``python -m autograder release``, pointed at the scratch folder
    (``--release-dir``), so the repository's own ``course/`` is never written. Before that CLI
    existed: ``nbgrader generate_assignment A --force`` per assignment with the course's config, in
    a scratch copy of ``solutions/``, ``autograder/`` and ``nbgrader_config.py``.
    """
    dest.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(root))
    # nbgrader shells out to `alembic` when it creates a gradebook: the venv's bin must be on PATH
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    if (root / "autograder" / "__main__.py").exists():
        cwd = root
        cmds = [[sys.executable, "-m", "autograder", "release", "--release-dir", str(dest / "course")]]
        how = "python -m autograder release"
    else:
        cwd = dest
        for name in ("solutions", "autograder"):
            shutil.copytree(root / name, dest / name, ignore=shutil.ignore_patterns(
                ".ipynb_checkpoints", "__pycache__", "*.pyc"))
        shutil.copy2(root / "nbgrader_config.py", dest / "nbgrader_config.py")
        env["PYTHONPATH"] = str(dest)
        cmds = [[sys.executable, "-m", "nbgrader", "generate_assignment", a, "--force",
                 f"--CourseDirectory.root={dest}", f"--CourseDirectory.db_url=sqlite:///{dest}/gradebook.db"]
                for a in assignments("solutions", dest)]
        how = "nbgrader generate_assignment (no autograder CLI)"
    for cmd in cmds:
        r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0 or "| ERROR]" in r.stderr:
            raise RuntimeError(f"{' '.join(cmd[1:])} failed (rc {r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}")
    (dest / "course").mkdir(exist_ok=True)
    return dest / "course", how


def _files(base: Path) -> set[str]:
    skip = {".ipynb_checkpoints", "__pycache__"}
    return {str(p.relative_to(base)) for p in base.rglob("*")
            if p.is_file() and not (skip & set(p.relative_to(base).parts))}


def notebook_diff(expected, actual, name: str = "") -> list[str]:
    """Cell-by-cell differences (type, id, source, metadata, outputs) between two notebooks."""
    out = []
    if (expected.nbformat, expected.nbformat_minor) != (actual.nbformat, actual.nbformat_minor):
        out.append(f"{name}: nbformat {actual.nbformat}.{actual.nbformat_minor}, "
                   f"regenerated {expected.nbformat}.{expected.nbformat_minor}")
    if expected.metadata != actual.metadata:
        out.append(f"{name}: notebook metadata differs: {dict(actual.metadata)} != regenerated {dict(expected.metadata)}")
    if len(expected.cells) != len(actual.cells):
        out.append(f"{name}: {len(actual.cells)} cells, regenerated release has {len(expected.cells)}")
    for i, (e, a) in enumerate(zip(expected.cells, actual.cells)):
        for key in ("cell_type", "id", "metadata", "outputs", "execution_count", "attachments"):
            if e.get(key) != a.get(key):
                out.append(f"{name} cell {i}: {key} differs: {a.get(key)!r} != regenerated {e.get(key)!r}")
        if _src(e) != _src(a):
            diff = "\n".join(difflib.unified_diff(_src(e).splitlines(), _src(a).splitlines(),
                                                  "regenerated", "course/", lineterm="", n=1))
            out.append(f"{name} cell {i}: source differs:\n{diff}")
    return out


def tree_diff(expected: Path, actual: Path) -> list[str]:
    """Differences between a regenerated release and ``course/``: files, then notebook cells."""
    e, a = _files(expected), _files(actual)
    out = [f"missing from course/: {p}" for p in sorted(e - a)]
    out += [f"in course/ but not generated from solutions/: {p}" for p in sorted(a - e)]
    for rel in sorted(e & a):
        if rel.endswith(".ipynb"):
            out += notebook_diff(read(expected / rel), read(actual / rel), rel)
        elif not filecmp.cmp(expected / rel, actual / rel, shallow=False):
            out.append(f"{rel}: contents differ")
    return out


def fingerprint(base: Path) -> dict[str, tuple[int, int]]:
    return {p: ((base / p).stat().st_size, (base / p).stat().st_mtime_ns) for p in _files(base)} if base.exists() else {}


# --------------------------------------------------------------------------------------------
# 4. nbgrader validate, and what a blank release does when run
def validator(invert: bool = False, root: Path = ROOT):
    """nbgrader's ``Validator`` with the course's config (what ``nbgrader validate`` and the Validate
    button use), remembering the executed notebook in ``.executed``."""
    from nbgrader.validator import Validator
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    class RecordingValidator(Validator):
        executed = None

        def _preprocess(self, nb):
            self.executed = super()._preprocess(nb)
            return self.executed

    cfg = Config()
    if (root / "nbgrader_config.py").exists():
        cfg.merge(PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config())
    cfg.Validator.invert = invert
    v = RecordingValidator(config=cfg)
    if invert:
        from nbgrader.preprocessors import Execute
        v.preprocessors = [blank_run_all() if p is Execute else p for p in v.preprocessors]
    return v


@functools.cache
def blank_run_all():
    from nbgrader.preprocessors import Execute

    class BlankRunAll(Execute):
        """nbgrader's executor for a blank release: every cell up to the first error, as Run All runs
        them (the student stops there); after it, every cell but the experiments.

        Past the first error only the test cells' verdicts are read (each must fail), and no test cell
        needs an experiment: the grader skips experiments too, and ``experiment_dependency_problems``
        holds every solution notebook to it. An experiment of a blank release trains with the
        course's built-ins (the student's functions raise), nine tenths of the run's time.
        """

        def preprocess(self, nb, resources=None, km=None):
            self.errored = False
            return super().preprocess(nb, resources, km)

        def preprocess_cell(self, cell, resources, index):
            if self.errored and EXPERIMENT_TAG in cell.metadata.get("tags", []):
                return cell, resources
            cell, resources = super().preprocess_cell(cell, resources, index)
            self.errored = self.errored or any(o.get("output_type") == "error" for o in cell.get("outputs", []))
            return cell, resources
    return BlankRunAll


def validate(path: Path, invert: bool = False, root: Path = ROOT):
    """Run nbgrader's validation on ``path`` (executes it in its folder). Returns (results, executed nb);
    ``results`` is nbgrader's dict: empty when validation passes."""
    v = validator(invert, root)
    results = v.validate(str(path))
    return results, v.executed


def _tb_frames(output) -> list[str]:
    """The frames of an error output's traceback, ANSI colours removed, innermost last."""
    lines = [_ANSI.sub("", t) for t in output.get("traceback", [])]
    return [t for t in lines if t.startswith("Cell In[") or t.startswith("File ")]


def describe_error(output) -> str:
    tb = "\n".join(_ANSI.sub("", t) for t in output.get("traceback", []))
    return f"{output.get('ename')}: {output.get('evalue')}\n{tb[-2500:]}"


def first_error(nb):
    """(index, cell, error output) of the first executed code cell with an error, or None."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return i, cell, out
    return None


def stub_error_problems(nb) -> list[str]:
    """Where an *executed* blank release stopped, judged by one rule:

    Run All on a blank release must stop at an exercise stub and nowhere else. So the first
    error of the run must be a ``NotImplementedError`` whose innermost traceback frame is the
    stub line (``STUB_LINE``) of a solution cell. That cell may be the
    erroring cell itself or an earlier one whose function a later cell (typically the test
    cell) calls. Frames are mapped to cells by execution count (``Cell In[N], line L``).
    A NotImplementedError raised by anything else (library code, a locked cell, a stub
    re-raised under another name) does not count: it would not be the student's job to fix.
    """
    if not any(c.cell_type == "code" and is_solution(c) for c in nb.cells):
        return errors_before(nb, len(nb.cells))  # no code exercise: nothing may raise at all
    hit = first_error(nb)
    if hit is None:
        return ["the blank release ran to the end without error: no exercise stub was reached"]
    i, cell, out = hit
    where = f"the first error is in {_label(i, cell)}"
    if out.get("ename") != "NotImplementedError":
        return [f"{where}, and it is not an exercise stub's NotImplementedError:\n{describe_error(out)}"]
    frames = _tb_frames(out)
    m = re.match(r"Cell In\[(\d+)\], line (\d+)", frames[-1] if frames else "")
    if not m:
        return [f"{where}: NotImplementedError raised outside any notebook cell (innermost frame "
                f"{frames[-1].splitlines()[0] if frames else '?'}), not by a stub:\n{describe_error(out)}"]
    count, line = int(m.group(1)), int(m.group(2))
    origin = next(((j, c) for j, c in enumerate(nb.cells)
                   if c.cell_type == "code" and c.get("execution_count") == count), None)
    if origin is None:
        return [f"{where}: cannot find the cell with execution count {count} named by the traceback"]
    j, ocell = origin
    if not is_solution(ocell):
        return [f"{where}: NotImplementedError raised by {_label(j, ocell)}, which is not an exercise "
                f"(solution) cell:\n{describe_error(out)}"]
    lines = _src(ocell).splitlines()
    raised = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    if raised != STUB_LINE:
        return [f"{where}: NotImplementedError raised at line {line} of {_label(j, ocell)} ({raised!r}), "
                f"not at the stub {STUB_LINE!r}"]
    return []


def errors_before(nb, index: int) -> list[str]:
    """Error outputs of code cells above ``index``."""
    return [f"{_label(i, c)} raised {describe_error(o)}" for i, c in enumerate(nb.cells[:index])
            if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
