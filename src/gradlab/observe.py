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

**Checking.** In the student's graded run the hidden tests only drive the student's functions
on the grader's inputs and record what comes back: :func:`checking` is False there, the grader
removes the ``assert`` statements and ``if checking():`` blocks of hidden regions before the code
reaches that process, and every :mod:`gradlab.checks` helper skips its oracle. Everywhere else
(JupyterLab, Validate, nbval, the grader's reference run) :func:`checking` is True. An expected
value is therefore computed only where it cannot be stolen.

>>> from gradlab.observe import checking
>>> checking()
True

Value kinds (checked by type, exactly, when judged): ``torch.Tensor`` (a plain tensor: a subclass
is recorded as a type error), ``bool``, ``int``, ``float``, ``str``, ``None``, and lists / tuples /
dicts (string keys) of these. Tolerances are the *reference's*: the ``rtol``/``atol`` given where the
solution recorded the value (defaults: 1e-5/1e-6 for float32 and float, 1e-10/1e-12 for float64).
"""
from __future__ import annotations

import hashlib
import hmac

import torch

__all__ = ["record", "seed", "active", "begin", "end", "Recording", "checking", "cell_key"]

SEED_ENV = "GRADLAB_GRADING_SEED"


class Recording:
    """The records of one graded cell: ``key -> (value, rtol, atol)``, in order."""

    def __init__(self, grade_id: str, grading_seed: int | str | None):
        self.grade_id = grade_id
        self.seed = grading_seed          # an int (authors trying seeds) or the grader's hex cell key
        self.values: dict[str, object] = {}
        self.tolerances: dict[str, tuple[float | None, float | None]] = {}


_current: Recording | None = None
_checking = True


def checking() -> bool:
    """True unless this is the student's graded run, where no expected value may be computed.

    Hidden tests compute expected values (the forbidden built-in used as the oracle, a reference
    formula, a hard-coded number) only inside ``assert`` statements, ``if checking():`` blocks or
    :mod:`gradlab.checks` helpers; the student's graded run has none of them.
    """
    return _checking


def set_checking(flag: bool) -> None:
    """Called once by the grader's runner, before the first cell: False for a student's notebook,
    True for the reference. From a ``False`` given while no cell is recorded on, the process is a
    student's graded run for good: :func:`record` then accepts values only from hidden-test code
    (see :func:`record`), whatever the student's code calls afterwards."""
    global _checking
    _checking = bool(flag)
    if not flag and _current is None:
        _latch_student_run()


def cell_key(secret: bytes, assignment: str, notebook: str, grade_id: str) -> str:
    """The per-cell seed key the grader hands a notebook's process: HMAC-SHA256 of the batch's
    secret with the cell's name. One-way: from it, no other cell's key and no other batch's seeds
    can be computed, so nothing a student's process could return is reusable.

    >>> k = cell_key(b"batch secret", "a1", "ps1", "test_sigmoid")
    >>> len(k), k == cell_key(b"batch secret", "a1", "ps1", "test_double")
    (64, False)
    """
    return hmac.new(secret, f"{assignment}/{notebook}/{grade_id}".encode(), hashlib.sha256).hexdigest()


def active() -> bool:
    """True while the grader records a graded cell."""
    return _current is not None


def seed(default: int = 0) -> int:
    """The seed for a hidden test's random inputs: ``default`` outside the grader; inside it,
    ``HMAC-SHA256(cell key, default)`` reduced to ``[0, 2**31)`` (the cell key is the grader's
    one-way function of its batch secret, so a recording made once cannot be replayed). An
    integer ``grading_seed`` given to :func:`begin` (authors checking a test under many seeds)
    gives ``grading_seed + default``.

    >>> rec = begin("test_x", grading_seed=100); seed(3)
    103
    >>> _ = end(); seed(3)
    3
    """
    if _current is None or _current.seed is None:
        return int(default)
    if type(_current.seed) is int:
        return _current.seed + int(default)
    digest = hmac.new(bytes.fromhex(_current.seed), str(int(default)).encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") % 2**31


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


#: What a record made outside hidden-test code holds in a student's graded run: it never equals
#: a reference value, so the cell fails (a relayed or forged record, see :func:`record`).
RELAYED = "<relayed: recorded outside the hidden tests>"
HIDDEN_TEST_FILE = "<hidden test>"   # the name the grader's runner compiles hidden regions under


def _recorder():
    """``begin``, ``end``, ``record`` and the student-run latch over a ledger that only they reach
    (a closure). What the grader reads is the ledger, never ``Recording.values``: a student's code
    that rewrites ``_current``, its ``values`` or the ``record`` name in its namespace changes
    nothing the grader sees, and a record relayed through the student's code (a wrapper of
    ``record``) is stored as :data:`RELAYED`. Reaching the closure takes frames, ``gc`` or
    ``__closure__``, which the grader's integrity scan flags."""
    import os
    import sys

    ledger: dict[str, tuple[object, float | None, float | None]] = {}
    student = [False]
    checks_file = os.path.join(os.path.dirname(os.path.abspath(__file__)), "checks.py")

    def from_hidden_test(frame) -> bool:
        while frame is not None and os.path.abspath(frame.f_code.co_filename) == checks_file:
            frame = frame.f_back       # a gradlab.checks helper records for the hidden test that called it
        return frame is not None and frame.f_code.co_filename == HIDDEN_TEST_FILE

    def latch() -> None:
        student[0] = True

    def begin(grade_id: str, grading_seed: int | str | None = None) -> Recording:
        """Start recording the cell ``grade_id`` (called by the grader's runner, not by notebooks)."""
        global _current
        ledger.clear()
        _current = Recording(grade_id, grading_seed)
        return _current

    def end() -> Recording | None:
        """Stop recording and return what the cell recorded (called by the grader's runner)."""
        global _current
        rec, _current = _current, None
        if rec is None:
            return None
        out = Recording(rec.grade_id, rec.seed)
        out.values = {k: v for k, (v, _, _) in ledger.items()}
        out.tolerances = {k: (rtol, atol) for k, (_, rtol, atol) in ledger.items()}
        ledger.clear()
        return out

    def record(key: str, value, *, rtol: float | None = None, atol: float | None = None):
        """Record ``value`` under ``key`` for the grader and return ``value`` unchanged.

        Args:
            key: unique within the cell, e.g. ``"elu/float64/grad"``.
            value: what the verdict rests on (see the module docstring for the kinds).
            rtol, atol: the tolerance for comparing float values with the reference (only the
                reference's tolerances are used).
        """
        if _current is not None:
            key = str(key)
            if key in ledger:
                raise KeyError(f"observation {key!r} recorded twice in {_current.grade_id}")
            kept = plain(value)
            if student[0] and not from_hidden_test(sys._getframe(1)):
                kept = RELAYED
            ledger[key] = (kept, rtol, atol)
            _current.values[key] = kept        # a view for authors; the grader reads the ledger
            _current.tolerances[key] = (rtol, atol)
        return value

    return begin, end, record, latch


begin, end, record, _latch_student_run = _recorder()
