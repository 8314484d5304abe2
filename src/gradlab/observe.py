"""Observations: what a hidden test *records* so that the grader decides outside the student's kernel.

A hidden test asserts (for nbgrader, Validate and the student) **and** records the numbers its
verdict rests on. When the course's grader runs a notebook, every recorded value is written out
as plain data (tensors, numbers, strings; never pickle) and compared, in a process that never ran
student code, with the same records made by the reference solution on the same inputs. A student's
kernel can therefore only earn a point by producing the right numbers.

Outside the grader (JupyterLab, Validate, ``nbgrader autograde``, nbval) :func:`record` returns its
value and keeps nothing, and :func:`seed` returns its default, so the notebooks behave as before.

>>> import torch
>>> from gradlab.observe import record, seed
>>> g = torch.Generator().manual_seed(seed(1))       # the grader substitutes its own seed
>>> z = torch.randn(5, generator=g)
>>> out = record("sigmoid/random", torch.sigmoid(z))  # returns its value unchanged
>>> torch.equal(out, torch.sigmoid(z))
True

Value kinds (checked by type, exactly, when judged): ``torch.Tensor`` (a plain tensor: a subclass
is recorded as a type error), ``bool``, ``int``, ``float``, ``str``, ``None``, and lists / tuples /
dicts (string keys) of these. Tolerances are the *reference's*: the ``rtol``/``atol`` given where the
solution recorded the value (defaults: 1e-5/1e-6 for float32 and float, 1e-10/1e-12 for float64).
"""
from __future__ import annotations

import torch

__all__ = ["record", "seed", "checking", "active", "begin", "end", "Recording"]

SEED_ENV = "GRADLAB_GRADING_SEED"


class Recording:
    """The records of one graded cell: ``key -> (value, rtol, atol)``, in order."""

    def __init__(self, grade_id: str, grading_seed: int | None):
        self.grade_id = grade_id
        self.seed = grading_seed
        self.values: dict[str, object] = {}
        self.tolerances: dict[str, tuple[float | None, float | None]] = {}


_current: Recording | None = None
_checking = True     # switched off by the grader's runner for a student's graded run


def checking() -> bool:
    """True where a hidden test may compute expected values (torch's oracle, a reference formula):
    outside the grader and in its reference run; False in a student's graded run, where hidden
    tests only drive the student's functions and record what they return."""
    return _checking


def active() -> bool:
    """True while the grader records a graded cell."""
    return _current is not None


def begin(grade_id: str, grading_seed: int | None = None) -> Recording:
    """Start recording the cell ``grade_id`` (called by the grader's runner, not by notebooks)."""
    global _current
    _current = Recording(grade_id, grading_seed)
    return _current


def end() -> Recording | None:
    """Stop recording and return what the cell recorded (called by the grader's runner)."""
    global _current
    rec, _current = _current, None
    return rec


def seed(default: int = 0) -> int:
    """The seed for a hidden test's random inputs: ``default`` outside the grader, the grader's
    per-run seed inside it (so that a recording made once cannot be replayed)."""
    if _current is not None and _current.seed is not None:
        return int(_current.seed) + int(default)
    return int(default)


def plain(value):
    """``value`` as plain data: detached CPU tensors, Python scalars; a foreign type becomes a
    ``"<type-error: ...>"`` string that can never equal the reference."""
    if type(value) is torch.Tensor:
        with torch._C.DisableTorchFunction():
            return torch.Tensor.clone(torch.Tensor.cpu(torch.Tensor.detach(value)))
    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value) in (list, tuple):
        return [plain(v) for v in value]
    if type(value) is dict and all(type(k) is str for k in value):
        return {k: plain(v) for k, v in value.items()}
    return f"<type-error: {type(value).__module__}.{type(value).__qualname__}>"


def record(key: str, value, *, rtol: float | None = None, atol: float | None = None):
    """Record ``value`` under ``key`` for the grader and return ``value`` unchanged.

    Args:
        key: unique within the cell, e.g. ``"elu/float64/grad"``.
        value: what the verdict rests on (see the module docstring for the kinds).
        rtol, atol: the tolerance for comparing float values with the reference (only the
            reference's tolerances are used).
    """
    if _current is not None:
        if key in _current.values:
            raise KeyError(f"observation {key!r} recorded twice in {_current.grade_id}")
        _current.values[key] = plain(value)
        _current.tolerances[key] = (rtol, atol)
    return value
