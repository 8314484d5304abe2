"""Docstring examples are tests: every gradlab module's examples run (doctest, the pytest flags)."""
import doctest
import importlib
import pkgutil

import pytest

import gradlab

MODULES = sorted(m.name for m in pkgutil.iter_modules(gradlab.__path__, "gradlab."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, monkeypatch):
    monkeypatch.setenv("GRADLAB_PROGRESS", "0")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             raise_on_error=False, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples of {name} failed"


def test_the_examples_are_found():
    """A negative self-test: the runner does see examples (a silent 0-of-0 would pass anything)."""
    finder = doctest.DocTestFinder()
    examples = sum(len(t.examples) for t in finder.find(importlib.import_module("gradlab.activations")))
    assert examples >= 5
