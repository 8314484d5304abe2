"""The course's notebooks: stored clean, nbgrader metadata valid, release in sync with the
solutions, solutions pass ``nbgrader validate``, and a blank release stops only at exercise stubs.

Each solution notebook is executed once per test run, by ``nbgrader validate`` (the course's own
Validator: every graded cell full marks) with every cell's output checked for errors, experiments
included. Each blank release runs under ``nbgrader validate --invert`` up to its first error as Run
All would, then without its experiments (no test needs one: checked on every solution). nbval (``pytest solutions/<a>/<nb>.ipynb``) is the author's cell-by-cell runner for one
notebook; its configuration is tested below. Assignments are discovered from
``solutions/*/*.ipynb`` and ``course/*/*.ipynb``, so each one is covered as soon as it lands.

The last section runs every checker on small, deliberately broken notebooks: proof that each
check can fail.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from coursekit import cell, notebook
from nbformat.v4 import new_output

import nbcheck
from autograder.notebook import grade_id
from nbcheck import ROOT

SOLUTIONS = nbcheck.notebooks("solutions")
RELEASES = nbcheck.notebooks("course")
# A student presses Validate in `make lab`: inline figures, progress bars on.
STUDENT_ENV = {"MPLBACKEND": "module://matplotlib_inline.backend_inline", "GRADLAB_PROGRESS": None}


def _params(paths, kind):
    if not paths:
        return [pytest.param(None, id="none", marks=pytest.mark.skip(
            reason=f"no {kind}/*/*.ipynb yet: nothing to check until the first assignment lands"))]
    return [pytest.param(p, id=str(p.relative_to(ROOT))) for p in paths]


def _report(problems, what):
    assert not problems, f"{what}:\n  - " + "\n  - ".join(problems)


def _source_of(release: Path) -> Path:
    return ROOT / "solutions" / release.parent.name / release.name


def _copy_assignment(path: Path, tmp_path: Path) -> Path:
    """Run notebooks in a scratch copy of their assignment folder: whatever they write stays out
    of the repository."""
    dest = tmp_path / path.parent.name
    shutil.copytree(path.parent, dest, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return dest / path.name


def _env(monkeypatch, env):
    for k, v in env.items():
        if v is None:
            monkeypatch.delenv(k, raising=False)
        else:
            monkeypatch.setenv(k, v)


# --------------------------------------------------------------------------------------------
# stored notebooks
@pytest.mark.parametrize("path", _params(SOLUTIONS + RELEASES, "solutions or course"))
def test_stored_without_outputs(path):
    """Like nbstripout: outputs [], execution_count null, no run-time metadata, no widget state."""
    _report(nbcheck.output_problems(nbcheck.read(path)), f"{path.relative_to(ROOT)} is not stored clean "
            "(clear outputs and save, or run `nbstripout --keep-id` on it; for course/ run `make release`)")


@pytest.mark.parametrize("path", _params(SOLUTIONS, "solutions"))
def test_setup_pins_one_torch_thread(path):
    """The locked claims are checked with one torch thread (make test gives each worker its share of
    the cores), and a student's notebooks must not spin against each other on a shared machine."""
    setup = [c for c in nbcheck.read(path).cells if grade_id(c) == "setup"]
    assert setup and "gradlab.set_threads(1)" in setup[0].source, \
        f"{path.relative_to(ROOT)}: the setup cell does not call gradlab.set_threads(1)"


@pytest.mark.parametrize("path", _params(SOLUTIONS, "solutions"))
def test_source_metadata(path):
    """nbgrader schema 3, unique grade ids, points on graded cells, locked tests, paired delimiters."""
    _report(nbcheck.metadata_problems(nbcheck.read(path)), f"nbgrader metadata of {path.relative_to(ROOT)}")


@pytest.mark.parametrize("path", _params(SOLUTIONS, "solutions"))
def test_no_test_needs_an_experiment(path):
    """No graded test reads a name only an `experiment` cell defines: the grader skips experiments, and
    so does the blank release's run past its first error (nbcheck.blank_run_all)."""
    _report(nbcheck.experiment_dependency_problems(nbcheck.read(path)), f"tests needing experiments in {path.relative_to(ROOT)}")


@pytest.mark.parametrize("path", _params(RELEASES, "course"))
def test_release_metadata_and_no_leaks(path):
    """The release keeps valid metadata and gives away no solution, hidden test or mark scheme."""
    source = _source_of(path)
    assert source.exists(), f"{path.relative_to(ROOT)} has no source notebook {source.relative_to(ROOT)}"
    release = nbcheck.read(path)
    _report(nbcheck.metadata_problems(release, release=True) + nbcheck.release_leak_problems(release, nbcheck.read(source)),
            f"release {path.relative_to(ROOT)}")


@pytest.fixture(scope="session")
def regenerated(tmp_path_factory):
    if not SOLUTIONS:
        pytest.skip("no solutions/*/*.ipynb yet: no release to regenerate")
    before = nbcheck.fingerprint(ROOT / "course")
    course, how = nbcheck.regenerate_release(ROOT, tmp_path_factory.mktemp("release"))
    assert nbcheck.fingerprint(ROOT / "course") == before, "regenerating the release touched the repository's course/"
    return course, how


@pytest.mark.slow
def test_release_in_sync(regenerated):
    """course/ is exactly what nbgrader makes from solutions/ now (nbgrader's output is deterministic:
    same source, same bytes — cell ids included)."""
    course, how = regenerated
    _report(nbcheck.tree_diff(course, ROOT / "course"),
            f"course/ is out of sync with solutions/ (regenerated with {how}); run `make release` and commit course/")


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.parametrize("path", _params(SOLUTIONS, "solutions"))
def test_solution_passes_nbgrader_validate(path, tmp_path, monkeypatch):
    """`nbgrader validate` (nbgrader's Validator, the course config) passes on the source: every test
    cell gets full points. Stricter than nbval: nbgrader scores a test cell that writes to stderr 0."""
    _env(monkeypatch, STUDENT_ENV)
    results, executed = nbcheck.validate(_copy_assignment(path, tmp_path))
    failed = [f"{c['source'][:300]}\n    --> {c.get('raw_error', '')[-1500:]}" for c in results.get("failed", [])]
    problems = failed or [f"{k}: {v}" for k, v in results.items()]
    # nbgrader only reports graded cells; an experiment cell that raised or hit nbgrader's cell
    # timeout (Execute.timeout, 30 s unless the course config sets it) would go unnoticed
    if executed is not None:
        problems += [f"under nbgrader's executor: {e}" for e in nbcheck.errors_before(executed, len(executed.cells))]
    _report(problems, f"nbgrader validate fails on {path.relative_to(ROOT)}")


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.parametrize("path", _params(RELEASES, "course"))
def test_blank_release(path, tmp_path, monkeypatch):
    """`nbgrader validate --invert` passes on the blank release (no test passes, no locked cell changed),
    and running it stops first at an exercise stub's NotImplementedError (rule: nbcheck.stub_error_problems).
    Past that first error the run leaves out the experiments (nbcheck.blank_run_all): they would train
    with the course's built-ins for nothing, and no test needs one (test_no_test_needs_an_experiment)."""
    _env(monkeypatch, STUDENT_ENV)
    results, executed = nbcheck.validate(_copy_assignment(path, tmp_path), invert=True)
    problems = [f"nbgrader validate --invert: {k}: " + "; ".join(c["source"][:200] for c in v) for k, v in results.items()]
    if executed is not None:
        problems += nbcheck.stub_error_problems(executed)
    _report(problems, f"blank release {path.relative_to(ROOT)}")


# --------------------------------------------------------------------------------------------
# every check can fail: the checkers on small broken notebooks
def _tiny_source():
    """A miniature course notebook: locked setup, an exercise with a stub-able solution, its test
    (with hidden tests), an experiment using it, and a written answer."""
    return notebook([
        cell("# Tiny\n**Points:** 1 + 1 = 2", "title", markdown=True),
        cell("import math\nfrom gradlab.observe import record\nx = 3", "setup"),
        cell("Implement `double`.", "ex_md", markdown=True),
        cell("def double(v):\n    ### BEGIN SOLUTION\n    return 2 * v\n    ### END SOLUTION", "double", solution=True),
        cell("assert double(2) == 4, 'double(2) should be 4'\n### BEGIN HIDDEN TESTS\n"
             "assert double(-21) == -42, 'hidden: the secret negative case'\n"
             "_ = record('double(-21)', double(-21))\n### END HIDDEN TESTS", "test_double", grade=True, points=1),
        cell("y = double(x)", "experiment"),
        cell("Why does doubling commute with negation? Because multiplication by two is linear.", "answer_why",
             markdown=True, grade=True, solution=True, points=1),
    ])


def _blank(nb):
    """What nbgrader's ClearSolutions/ClearHiddenTests make of _tiny_source (cheap imitation)."""
    nb = nbformat.from_dict(nb)
    nb.cells[3].source = "def double(v):\n    # YOUR CODE HERE\n    raise NotImplementedError(\"replace this line with your solution\")"
    nb.cells[4].source = "assert double(2) == 4, 'double(2) should be 4'"
    nb.cells[6].source = "YOUR ANSWER HERE"
    return nb


def _execute(nb, tmp_path):
    import nbclient
    nbclient.NotebookClient(nb, timeout=60, allow_errors=True, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    return nb


def test_checkers_accept_the_tiny_notebook():
    nb = _tiny_source()
    assert nbcheck.output_problems(nb) == []
    assert nbcheck.metadata_problems(nb) == []
    assert nbcheck.release_leak_problems(_blank(nb), nb) == []


def test_output_check_can_fail():
    nb = _tiny_source()
    nb.cells[1].outputs = [new_output("stream", name="stdout", text="3\n")]
    nb.cells[1].execution_count = 7
    nb.cells[5].metadata["execution"] = {"iopub.status.idle": "2024-01-01T00:00:00Z"}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {}}
    problems = nbcheck.output_problems(nb)
    assert len(problems) == 4, problems


@pytest.mark.parametrize("breakage, expected", [
    (lambda nb: nb.cells[4].metadata.nbgrader.update(grade_id="double"), "already used"),
    (lambda nb: nb.cells[4].metadata.nbgrader.pop("points"), "needs points"),
    (lambda nb: nb.cells[4].metadata.nbgrader.update(locked=False), "not locked"),
    (lambda nb: nb.cells[1].metadata.nbgrader.update(schema_version=2), "schema_version"),
    (lambda nb: setattr(nb.cells[3], "source", "def double(v):\n    return 2 * v"), "without ### BEGIN SOLUTION"),
    (lambda nb: setattr(nb.cells[4], "source", nb.cells[4].source.replace("### END HIDDEN TESTS", "")), "unbalanced"),
    (lambda nb: setattr(nb.cells[4], "source", nb.cells[4].source.replace("_ = record('double(-21)', double(-21))\n", "")), "record no observation"),
    (lambda nb: setattr(nb.cells[4], "source", nb.cells[4].source.replace("_ = record(", "record(").replace("\n### END HIDDEN TESTS", "\n### END HIDDEN TESTS\nrecord('x', 1)")), "partial"),
])
def test_metadata_check_can_fail(breakage, expected):
    nb = _tiny_source()
    breakage(nb)
    problems = nbcheck.metadata_problems(nb)
    assert any(expected in p for p in problems), problems


def test_leak_check_can_fail():
    src = _tiny_source()
    leaky = _blank(src)
    leaky.cells[4].source += "\nassert double(-21) == -42, 'hidden: the secret negative case'"
    leaky.cells[3].source += "\n### END SOLUTION"
    problems = nbcheck.release_leak_problems(leaky, src)
    assert any("hidden test text" in p for p in problems) and any("### END SOLUTION" in p for p in problems), problems
    answer = _blank(src)
    answer.cells[2].source += "\nWhy does doubling commute with negation? Because multiplication by two is linear."
    assert any("model answer" in p for p in nbcheck.release_leak_problems(answer, src))


@pytest.mark.slow
def test_sync_check_can_fail(tmp_path):
    """Regenerate a tiny course with the real nbgrader config, then show the comparison spots a
    changed cell, a stale extra notebook and a missing one."""
    root = tmp_path / "repo"
    (root / "solutions" / "00_tiny").mkdir(parents=True)
    shutil.copytree(ROOT / "autograder", root / "autograder", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "nbgrader_config.py", root)
    nbformat.write(_tiny_source(), str(root / "solutions" / "00_tiny" / "tiny.ipynb"))
    course, _ = nbcheck.regenerate_release(root, tmp_path / "regen")
    release = nbcheck.read(course / "00_tiny" / "tiny.ipynb")
    assert nbcheck.release_leak_problems(release, _tiny_source()) == []
    assert "raise NotImplementedError(\"replace this line with your solution\")" in release.cells[3].source

    stale = tmp_path / "course"
    shutil.copytree(course, stale)
    assert nbcheck.tree_diff(course, stale) == []
    edited = nbcheck.read(stale / "00_tiny" / "tiny.ipynb")
    edited.cells[5].source = "y = double(x) + 1"
    nbformat.write(edited, str(stale / "00_tiny" / "tiny.ipynb"))
    shutil.copy2(stale / "00_tiny" / "tiny.ipynb", stale / "00_tiny" / "old.ipynb")
    problems = nbcheck.tree_diff(course, stale)
    assert any("cell 5: source differs" in p and "+y = double(x) + 1" in p for p in problems), problems
    assert any("not generated from solutions/: 00_tiny/old.ipynb" in p for p in problems), problems
    (stale / "00_tiny" / "tiny.ipynb").unlink()
    assert any("missing from course/: 00_tiny/tiny.ipynb" in p for p in nbcheck.tree_diff(course, stale))


@pytest.mark.slow
@pytest.mark.parametrize("case", ["good", "error_before_stub", "nie_outside_solution", "no_error",
                                  "stub_rewrapped", "nie_not_at_stub", "written_answers_only"])
def test_blank_release_rule(case, tmp_path):
    nb = _blank(_tiny_source())
    if case == "error_before_stub":
        nb.cells[1].source += "\nraise ValueError('setup broke')"
    elif case == "nie_outside_solution":
        nb.cells[1].source += "\nraise NotImplementedError(\"replace this line with your solution\")"
    elif case == "no_error":
        nb.cells[3].source = "def double(v):\n    return 2 * v"
    elif case == "stub_rewrapped":
        nb.cells[4].source = ("try:\n    double(2)\nexcept NotImplementedError:\n"
                              "    raise AssertionError('implement double first')")
    elif case == "written_answers_only":  # no code exercise: then nothing may raise at all
        del nb.cells[3:6]
        nb.cells[1].source += "\n1 / 0"
    elif case == "nie_not_at_stub":
        nb.cells[3].source = "def double(v):\n    raise NotImplementedError('later')\n    # YOUR CODE HERE"
    problems = nbcheck.stub_error_problems(_execute(nb, tmp_path))
    if case == "good":
        assert problems == []
    else:
        assert len(problems) == 1, problems
        expected = {"error_before_stub": "ValueError", "nie_outside_solution": "not an exercise",
                    "no_error": "ran to the end", "stub_rewrapped": "AssertionError",
                    "nie_not_at_stub": "not at the stub", "written_answers_only": "ZeroDivisionError"}[case]
        assert expected in problems[0], problems


@pytest.mark.slow
def test_nbgrader_validate_can_fail(tmp_path):
    """A source whose test fails does not validate; a release whose test passes fails --invert."""
    src = _tiny_source()
    src.cells[3].source = "def double(v):\n    ### BEGIN SOLUTION\n    return v + v + 1\n    ### END SOLUTION"
    nbformat.write(src, str(tmp_path / "src.ipynb"))
    results, _ = nbcheck.validate(tmp_path / "src.ipynb")
    assert "double(2) should be 4" in results["failed"][0]["raw_error"]

    solved = _blank(_tiny_source())
    solved.cells[3].source = "def double(v):\n    return 2 * v"
    nbformat.write(solved, str(tmp_path / "rel.ipynb"))
    results, _ = nbcheck.validate(tmp_path / "rel.ipynb", invert=True)
    assert [c["source"] for c in results["passed"]] == ["assert double(2) == 4, 'double(2) should be 4'"]


@pytest.mark.slow
def test_validate_run_catches_a_raising_experiment(tmp_path):
    """The one execution of a solution in `make test` (nbgrader validate + the executed notebook's
    errors) fails an ungraded experiment cell that raises, which nbgrader's score alone ignores."""
    src = _tiny_source()
    src.cells[5].source = "y = double(x)\nraise RuntimeError('this experiment is broken')"
    nbformat.write(src, str(tmp_path / "src.ipynb"))
    results, executed = nbcheck.validate(tmp_path / "src.ipynb")
    assert results == {}, results  # every graded cell still gets its points
    errors = nbcheck.errors_before(executed, len(executed.cells))
    assert len(errors) == 1 and "this experiment is broken" in errors[0], errors


def test_experiment_dependency_check_can_fail():
    nb = _tiny_source()
    nb.cells[5].metadata["tags"] = ["experiment"]   # y = double(x)
    assert nbcheck.experiment_dependency_problems(nb) == []
    nb.cells.append(cell("assert y == 6", "test_y", grade=True, points=1))
    problems = nbcheck.experiment_dependency_problems(nb)
    assert len(problems) == 1 and "'y'" in problems[0] and "experiment" in problems[0], problems
    nb.cells.insert(2, cell("y = 6", "setup_y"))       # defined outside the experiments too: no problem
    assert nbcheck.experiment_dependency_problems(nb) == []


@pytest.mark.slow
def test_blank_run_skips_experiments_only_past_the_first_error(tmp_path):
    """The blank release's run executes every cell up to the first error, experiments included (what
    the student's Run All reaches); past it, every cell but the experiments, tests included."""
    nb = _blank(_tiny_source())
    nb.cells.insert(2, cell("early = 'ran'", "early"))
    nb.cells[2].metadata["tags"] = ["experiment"]
    late = next(i for i, c in enumerate(nb.cells) if c.source == "y = double(x)")
    nb.cells[late].metadata["tags"] = ["experiment"]
    nb.cells.insert(late + 1, cell("assert double(1) == 2", "test_after", grade=True, points=1))
    nbformat.write(nb, str(tmp_path / "rel.ipynb"))
    results, executed = nbcheck.validate(tmp_path / "rel.ipynb", invert=True)
    assert results == {}, results
    ran = {c.metadata.nbgrader.grade_id: c.execution_count is not None for c in executed.cells if c.cell_type == "code"}
    assert ran == {"setup": True, "early": True, "double": True, "test_double": True, "experiment": False,
                   "test_after": True}, ran
    assert "NotImplementedError" in str(executed.cells[late + 1].outputs)
    assert nbcheck.stub_error_problems(executed) == []


@pytest.mark.slow
def test_nbval_fails_on_a_raising_notebook(tmp_path):
    """The nbval configuration (an author's `pytest solutions/<a>/<nb>.ipynb`) fails a notebook that raises, and passes one that does not."""
    def run(nb, name):
        nbformat.write(nb, str(tmp_path / name))
        return subprocess.run([sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"),
                               "--rootdir", str(tmp_path), "-p", "no:cacheprovider", "-q", "--durations=0",
                               str(tmp_path / name)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    good = nbformat.from_dict(_tiny_source())
    ok = run(good, "good.ipynb")
    assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-2000:]
    assert "4 passed" in ok.stdout, ok.stdout[-2000:]  # the four code cells ran as nbval items
    bad = nbformat.from_dict(_tiny_source())
    bad.cells[5].source = "y = double(x)\nraise RuntimeError('this notebook is broken')"
    ko = run(bad, "bad.ipynb")
    assert ko.returncode == 1 and "this notebook is broken" in ko.stdout, ko.stdout[-3000:] + ko.stderr[-2000:]
