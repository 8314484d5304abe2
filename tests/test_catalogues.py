"""Every catalogued mistake is caught, by a visible test with the message it names where possible.

So that anyone can see which wrong implementations pass the visible tests but fail the hidden
ones, each assignment's table is written to ``artifacts/catalogues/<assignment>.md``; an entry that
only hidden tests catch must say why (``why_hidden``).
"""
from __future__ import annotations

import importlib
import os
import pkgutil

import pytest
from coursekit import cell, notebook, tiny_course

from tests import catalogues
from tests.catalogues import Wrong
from tests.catalogues.runner import ROOT, report, run_catalogue, run_notebook

MODULES = sorted(m.name for m in pkgutil.iter_modules(catalogues.__path__) if m.name.startswith("a"))


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.parametrize("name", MODULES)
def test_catalogue(name):
    mod = importlib.import_module(f"tests.catalogues.{name}")
    assert len(mod.WRONG) >= 10, f"{name}: only {len(mod.WRONG)} wrong implementations (at least 10)"
    outcomes = run_catalogue(mod.ASSIGNMENT, mod.WRONG)
    os.makedirs(os.path.join(ROOT, "artifacts", "catalogues"), exist_ok=True)
    with open(os.path.join(ROOT, "artifacts", "catalogues", f"{mod.ASSIGNMENT}.md"), "w") as f:
        f.write(report(mod.ASSIGNMENT, outcomes))
    problems = [p for p in (o.problem() for o in outcomes) if p]
    assert not problems, "\n".join(problems)


def _tiny(tmp_path) -> str:
    nb = notebook([
        cell("import math", "setup"),
        cell("def double(x):\n    return 2 * x", "double", solution=True),
        cell("assert double(2) == 4, 'double(2) should be 4: did you add instead of multiplying?'\n"
             "### BEGIN HIDDEN TESTS\nassert double(-3) == -6, 'hidden: negative input'\n### END HIDDEN TESTS",
             "test_double", grade=True, points=1),
    ])
    tiny_course(tmp_path, {"tiny.ipynb": nb})
    return os.path.join(tmp_path, "tiny.ipynb")


def test_runner_can_fail(tmp_path):
    """The checks of this file fail where they should: a correct 'mistake', a wrong message, a
    hidden-only catch without a reason — and pass a well-described entry."""
    path = _tiny(tmp_path)
    entries = [
        Wrong("tiny.ipynb", "double", "correct code", "def double(x):\n    return x * 2", expect="x"),
        Wrong("tiny.ipynb", "double", "adds", "def double(x):\n    return x + 3", expect="multiplying"),
        Wrong("tiny.ipynb", "double", "adds, wrong expect", "def double(x):\n    return x + 3", expect="sign"),
        Wrong("tiny.ipynb", "double", "abs", "def double(x):\n    return 2 * abs(x)", expect="x"),
        Wrong("tiny.ipynb", "double", "abs, justified", "def double(x):\n    return 2 * abs(x)",
              why_hidden="only negative inputs reveal it"),
    ]
    got = [o.problem() for o in run_notebook(path, entries)]
    assert "passes every test" in got[0]
    assert got[1] is None
    assert "does not mention 'sign'" in got[2]
    assert "passes the visible tests, fails hidden" in got[3]
    assert got[4] is None
