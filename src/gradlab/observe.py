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

**Kinds.** A recorded value is of one :class:`Kind` (checked by type, exactly, when judged):
``torch.Tensor`` (a plain tensor: a subclass is recorded as a type error), ``bool``, ``int``,
``float``, ``str``, ``None``, and lists / tuples / dicts (string keys) of these. Each kind is one
codec in :data:`KINDS`: how the student's process keeps a value (``plain``) and writes it out as
JSON tagged with the kind's name (``encode``), and how the grader reads it back (``decode``: the
student's process's output is an adversary's data) and compares it with the reference's
(``compare``). Tolerances are the *reference's*: the ``rtol``/``atol`` given where the solution
recorded the value, else :func:`tolerance` of its dtype (the one table :data:`DEFAULT_TOL`).

>>> enc = encode(plain([1.5, torch.tensor([1, 2])]))
>>> enc["kind"], [e["kind"] for e in enc["value"]]
('list', ['float', 'tensor'])
>>> compare(decode(enc), [1.5 + 1e-9, torch.tensor([1, 2])])  # None: equal within the tolerances
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = ["record", "seed", "active", "begin", "end", "Recording", "checking", "cell_key",
           "Kind", "KINDS", "Mismatch", "register", "kind_of", "plain", "encode", "decode", "compare",
           "holds_type_error", "tolerance", "DEFAULT_TOL"]

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


# -- observation kinds: one codec each, its four functions side by side --------------------------
class Mismatch(Exception):
    """An observation that is not the reference's: another kind, shape or value, or an encoding
    that does not decode (what a student's process wrote is an adversary's data)."""


_SINGLE, _DOUBLE = (1e-5, 1e-6), (1e-10, 1e-12)

#: The default ``(rtol, atol)`` of a float comparison, by dtype, where the reference gave none:
#: double precision (float64, complex128) to about 1e-10, every other float (float32, the half
#: precisions, complex64, and a Python ``float``, most often a float32's ``.item()``) to about
#: 1e-5. The grader's judge and :mod:`gradlab.checks` both compare with this table.
DEFAULT_TOL: dict[object, tuple[float, float]] = {torch.float64: _DOUBLE, torch.complex128: _DOUBLE}


def tolerance(dtype, given=(None, None)) -> tuple[float, float]:
    """``(rtol, atol)`` for values of ``dtype`` (a ``torch.dtype``, or ``float``): each of
    ``given`` that is not None, else :data:`DEFAULT_TOL`'s.

    >>> tolerance(torch.float64), tolerance(torch.float32), tolerance(float, (1e-3, None))
    ((1e-10, 1e-12), (1e-05, 1e-06), (0.001, 1e-06))
    """
    default = DEFAULT_TOL.get(dtype, _SINGLE)
    return (given[0] if given[0] is not None else default[0], given[1] if given[1] is not None else default[1])


@dataclass(frozen=True)
class Kind:
    """One kind of recorded value: how it is kept, written out, read back and compared.

    Args:
        name: the tag of its encoding, ``{"kind": name, **fields}``.
        types: the exact Python types that are values of this kind (a subclass is not one).
        fields: the encoding's fields besides ``"kind"``: no more, no fewer, or it does not decode.
        plain: value -> what the student's process keeps (detached copies, plain containers).
        encode: plain value -> its fields (JSON data; never pickle).
        decode: encoding -> the value; raises :class:`Mismatch` on anything malformed.
        compare: ``(ref, got, tol)``, both of this kind -> None; raises :class:`Mismatch`.
    """
    name: str
    types: tuple[type, ...]
    fields: tuple[str, ...]
    plain: Callable
    encode: Callable
    decode: Callable
    compare: Callable


KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    """Add ``kind`` to :data:`KINDS`; its name and its types must be new."""
    taken = {t for k in KINDS.values() for t in k.types}
    if kind.name in KINDS or taken & set(kind.types):
        raise ValueError(f"observation kind {kind.name!r} overlaps a registered one")
    KINDS[kind.name] = kind
    return kind


def kind_of(value) -> Kind | None:
    """The kind of ``value``, by its exact type (None: a type no kind holds). Types are matched by
    identity: a metaclass's ``__eq__`` cannot pass one type off as another."""
    for kind in KINDS.values():
        if any(type(value) is t for t in kind.types):
            return kind
    return None


def _type_error(value) -> str:
    return f"<type-error: {type(value).__module__}.{type(value).__qualname__}>"


def holds_type_error(value) -> bool:
    """Whether a decoded ``value`` holds something :func:`plain` could not keep (a numpy array,
    an object): in the reference, an authoring error the grader cannot judge by."""
    if type(value) is str:
        return value.startswith("<type-error")
    if type(value) is list:
        return any(holds_type_error(v) for v in value)
    if type(value) is dict:
        return any(holds_type_error(v) for v in value.values())
    return False


def plain(value):
    """``value`` as plain data: detached CPU tensors, Python scalars; a foreign type becomes a
    ``"<type-error: ...>"`` string that can never equal the reference."""
    kind = kind_of(value)
    return _type_error(value) if kind is None else kind.plain(value)


def encode(value) -> dict:
    """A :func:`plain` value as JSON data tagged with its kind: ``{"kind": name, **fields}``."""
    kind = kind_of(value)
    return encode(_type_error(value)) if kind is None else {"kind": kind.name, **kind.encode(value)}


def decode(enc):
    """The value :func:`encode` wrote; :class:`Mismatch` for anything else (an unknown kind, a
    missing or extra field, a malformed field, a tensor's bytes that do not fit its shape)."""
    name = enc.get("kind") if type(enc) is dict else None
    kind = KINDS.get(name) if type(name) is str else None
    if kind is None or set(enc) != {"kind", *kind.fields}:
        raise Mismatch("not an encoded observation")
    return kind.decode(enc)


def compare(ref, got, tol=(None, None)) -> None:
    """Raise :class:`Mismatch` unless the decoded ``got`` is ``ref``: the same kind, and equal by
    that kind's rule within ``tol`` (the reference's ``(rtol, atol)``; None: :func:`tolerance`)."""
    kind = kind_of(ref)
    if kind is None or kind_of(got) is not kind:
        raise Mismatch("kind")
    kind.compare(ref, got, tol)


def _exact(name: str, typ: type) -> Kind:
    """A kind JSON holds exactly (None, bool, int, str): kept as it is, equal only when equal."""
    def decode_value(enc):
        if type(enc["value"]) is not typ:
            raise Mismatch(f"not {name}")
        return enc["value"]

    def compare_values(ref, got, tol):
        if ref != got:
            raise Mismatch("values")

    return Kind(name, (typ,), ("value",), lambda v: v, lambda v: {"value": v}, decode_value, compare_values)


for _name, _type in (("none", type(None)), ("bool", bool), ("int", int), ("str", str)):
    register(_exact(_name, _type))


# float: its repr (exact, and JSON has no nan/inf)
def _decode_float(enc) -> float:
    try:
        return float(str(enc["value"]))
    except ValueError:
        raise Mismatch("not a float") from None


def _compare_float(ref: float, got: float, tol) -> None:
    rtol, atol = tolerance(float, tol)
    if not (math.isnan(ref) and math.isnan(got) or ref == got or math.isclose(ref, got, rel_tol=rtol, abs_tol=atol)):
        raise Mismatch("values")


register(Kind("float", (float,), ("value",), lambda v: v, lambda v: {"value": repr(v)}, _decode_float, _compare_float))


# tensor: dtype, shape and raw bytes (base64)
#: The dtypes a tensor's encoding may name: torch's own, by their names in ``torch`` (a name the
#: student's process wrote is looked up here, never with ``getattr`` on the module).
_DTYPES = {name: d for name, d in vars(torch).items() if isinstance(d, torch.dtype)}


def _plain_tensor(t: torch.Tensor) -> torch.Tensor:
    with torch._C.DisableTorchFunction():
        return torch.Tensor.clone(torch.Tensor.cpu(torch.Tensor.detach(t)))


def _encode_tensor(t: torch.Tensor) -> dict:
    with torch._C.DisableTorchFunction():
        flat = torch.Tensor.contiguous(torch.Tensor.reshape(t, (-1,)))
        raw = torch.Tensor.numpy(torch.Tensor.view(flat, torch.uint8)).tobytes() if t.numel() else b""
    return {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape), "b64": base64.b64encode(raw).decode()}


def _decode_tensor(enc) -> torch.Tensor:
    dtype = _DTYPES.get(enc["dtype"]) if type(enc["dtype"]) is str else None
    shape = enc["shape"]
    if dtype is None or type(shape) is not list or not all(type(s) is int and s >= 0 for s in shape):
        raise Mismatch("not a tensor")
    try:
        raw = base64.b64decode(str(enc["b64"]), validate=True)
    except ValueError:
        raise Mismatch("not base64") from None
    numel = math.prod(shape)
    if len(raw) != numel * dtype.itemsize:   # also caps the tensor at the bytes actually sent
        raise Mismatch("tensor size")
    try:
        if numel == 0:
            return torch.empty(shape, dtype=dtype)
        return torch.frombuffer(bytearray(raw), dtype=dtype).reshape(shape)
    except (TypeError, ValueError, RuntimeError):   # a shape or dtype torch cannot make
        raise Mismatch("not a tensor") from None


def _compare_tensor(ref: torch.Tensor, got: torch.Tensor, tol) -> None:
    if ref.dtype != got.dtype or ref.shape != got.shape:
        raise Mismatch("dtype/shape")
    if ref.is_floating_point() or ref.is_complex():
        rtol, atol = tolerance(ref.dtype, tol)
        if not torch.allclose(got, ref, rtol=rtol, atol=atol, equal_nan=True):
            raise Mismatch("values")
    elif not torch.equal(ref, got):
        raise Mismatch("values")


register(Kind("tensor", (torch.Tensor,), ("dtype", "shape", "b64"),
              _plain_tensor, _encode_tensor, _decode_tensor, _compare_tensor))


# list (a tuple is kept as a list): as long, and equal item by item
def _decode_list(enc) -> list:
    if type(enc["value"]) is not list:
        raise Mismatch("not a list")
    return [decode(e) for e in enc["value"]]


def _compare_list(ref: list, got: list, tol) -> None:
    if len(ref) != len(got):
        raise Mismatch("length")
    for a, b in zip(ref, got):
        compare(a, b, tol)


register(Kind("list", (list, tuple), ("value",), lambda v: [plain(x) for x in v],
              lambda v: {"value": [encode(x) for x in v]}, _decode_list, _compare_list))


# dict (string keys only): the same keys, equal value by value
def _plain_dict(d: dict):
    return {k: plain(v) for k, v in d.items()} if all(type(k) is str for k in d) else _type_error(d)


def _decode_dict(enc) -> dict:
    if type(enc["value"]) is not dict:
        raise Mismatch("not a dict")
    return {k: decode(v) for k, v in enc["value"].items()}


def _compare_dict(ref: dict, got: dict, tol) -> None:
    if set(ref) != set(got):
        raise Mismatch("keys")
    for k in ref:
        compare(ref[k], got[k], tol)


register(Kind("dict", (dict,), ("value",), _plain_dict, lambda v: {"value": {str(k): encode(x) for k, x in v.items()}},
              _decode_dict, _compare_dict))


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
