"""Catalogues of wrong implementations, one module per assignment (``a01.py`` ... ``a06.py``).

Each module defines ``ASSIGNMENT`` and ``WRONG: list[Wrong]``; ``tests/catalogues/runner.py`` grades
each entry by substituting its source for the exercise's solution cell, and ``tests/test_catalogues.py``
checks that every entry is caught, with the message it names, by a *visible* test where possible.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Wrong:
    """One plausible mistake in one exercise."""
    notebook: str              # e.g. "01_batch_norm.ipynb" (solutions/<ASSIGNMENT>/<notebook>)
    exercise: str              # grade_id of the solution cell replaced by ``source``
    label: str                 # the misconception, in a few words
    source: str                # the whole replacement cell (defines the same names as the solution)
    expect: str | None = None  # case-insensitive substring of the first visible failure message
    why_hidden: str = ""       # when only a hidden test can catch it: why no visible check can
