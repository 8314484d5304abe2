"""The observation protocol (gradlab.observe's codecs) and the judge's rules (autograder.judge.RULES)."""
from __future__ import annotations

import base64
import json
import math

import pytest
import torch

from autograder import judge
from autograder.records import CellPlan, CellRun, NotebookPlan, RunOutput, Status
from gradlab import checks, observe
from gradlab.observe import KINDS, Mismatch, compare, decode, encode, plain, tolerance

#: One or more values of every registered kind: a kind added without a sample here fails
#: test_every_kind_has_samples, so each new kind gets its round trip tested.
SAMPLES = {
    "none": [None],
    "bool": [True, False],
    "int": [0, -3, 2**70],
    "str": ["", "é ∞", "<relayed: recorded outside the hidden tests>"],
    "float": [0.0, -0.0, 1.5, 1e-320, 1e308, float("inf"), float("-inf"), float("nan")],
    "tensor": [torch.randn(3, 2), torch.randn(4, dtype=torch.float64), torch.tensor(2.5), torch.tensor(7),
               torch.empty(0, 3), torch.empty(0, dtype=torch.float64), torch.tensor([True, False]),
               torch.arange(6, dtype=torch.int32).reshape(2, 3), torch.tensor([1.0, float("nan"), float("inf"), -0.0]),
               torch.randn(5).half(), torch.randn(5).bfloat16(), torch.randn(3, dtype=torch.complex64),
               torch.randn(4, 4).t()],                     # not contiguous
    "list": [[], [1, 2.0, "x"], (1, (2, [3.0])), [[torch.ones(2)], None]],
    "dict": [{}, {"a": 1, "b": [torch.zeros(2), {"c": 1.5}]}],
}


def _wire(value):
    """What the judge reads: the value as the student's process keeps and writes it, through JSON."""
    return json.loads(json.dumps(encode(plain(value))))


def _bits(t: torch.Tensor) -> bytes:
    return t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""


def _same(a, b) -> bool:
    """Exactly the same plain value: types, tensors' dtype, shape and bits; floats' bits."""
    if type(a) is not type(b):
        return False
    if type(a) is torch.Tensor:
        return a.dtype == b.dtype and a.shape == b.shape and _bits(a) == _bits(b)
    if type(a) is float:
        return math.copysign(1, a) == math.copysign(1, b) and (a == b or math.isnan(a) and math.isnan(b))
    if type(a) is list:
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if type(a) is dict:
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def test_every_kind_has_samples():
    assert set(SAMPLES) == set(KINDS)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_round_trip_keeps_kind_and_bits(name):
    for value in SAMPLES[name]:
        enc = _wire(value)
        assert enc["kind"] == name and set(enc) == {"kind", *KINDS[name].fields}
        back = decode(enc)
        assert _same(back, plain(value)), (name, value)
        compare(plain(value), back)            # equal to itself (nan included)


def test_every_encoding_decodes_and_every_kind_is_reachable():
    """Registry completeness: whatever encode writes (foreign types included) names a kind with a
    decode, and every kind is what some value encodes to."""
    produced = set()

    def walk(enc):
        produced.add(enc["kind"])
        inner = enc.get("value")
        for e in inner if type(inner) is list else inner.values() if type(inner) is dict else []:
            walk(e)

    foreign = [object(), {1: 2}, torch.nn.Parameter(torch.ones(1)), (x for x in ()), 1 + 2j]
    for value in [v for vs in SAMPLES.values() for v in vs] + foreign:
        enc = _wire(value)
        walk(enc)
        decode(enc)
    assert produced == set(KINDS)
    assert all(callable(f) for k in KINDS.values() for f in (k.plain, k.encode, k.decode, k.compare))


def test_a_foreign_value_is_a_type_error_the_reference_cannot_be_judged_by():
    for value in (object(), {1: 2}, torch.nn.Parameter(torch.ones(1)), [1, object()]):
        assert observe.holds_type_error(decode(_wire(value)))
    assert not observe.holds_type_error(decode(_wire(SAMPLES["dict"][1])))


def test_kinds_are_exact():
    """A bool is not an int, an int not a float, a float64 tensor not a float32 one."""
    pairs = [(True, 1), (1, 1.0), (1.0, "1.0"), (None, 0), ([1], {"0": 1}), (torch.ones(2), torch.ones(2).double()),
             (torch.ones(2), torch.ones(1, 2)), (torch.ones(2), [1.0, 1.0]), ([1.0, 2.0], [1.0])]
    for a, b in pairs:
        for ref, got in ((a, b), (b, a)):
            with pytest.raises(Mismatch):
                compare(decode(_wire(ref)), decode(_wire(got)))


def test_register_refuses_a_name_or_type_taken():
    with pytest.raises(ValueError):
        observe.register(observe.Kind("int", (complex,), ("value",), *[lambda *a: None] * 4))
    with pytest.raises(ValueError):
        observe.register(observe.Kind("integer", (int,), ("value",), *[lambda *a: None] * 4))


# -- tolerances: one table, read by the judge and by gradlab.checks --------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.complex64,
                                   torch.complex128, float])
def test_each_kinds_tolerance_comes_from_the_table(dtype):
    rtol, atol = tolerance(dtype)
    assert (rtol, atol) == observe.DEFAULT_TOL.get(dtype, (1e-5, 1e-6))
    if dtype is float:
        ref, near, far = 0.0, 0.5 * atol, 4 * atol
    else:   # at 0 only atol counts; 2**-k steps are exact in every dtype here
        ref = torch.zeros(3, dtype=dtype)
        step = 2.0 ** math.floor(math.log2(atol))          # in (atol/2, atol]
        near, far = ref + step / 2, ref + 4 * step
    ok = lambda got, tol=(None, None): judge.observations_match({"k": _wire(ref)}, {"k": list(tol)}, {"k": _wire(got)})
    assert ok(near)
    assert not ok(far) and ok(far, (None, 8 * atol))        # the reference's own tolerance wins


def test_the_judge_and_the_checks_read_the_same_table(monkeypatch):
    ref, got = torch.zeros(3, dtype=torch.float64), torch.full((3,), 0.01, dtype=torch.float64)

    def off(z):
        return torch.relu(z) + 0.01

    def judged():
        return judge.observations_match({"k": _wire(ref)}, {}, {"k": _wire(got)})

    def checked():
        try:
            checks.check_elementwise(off, torch.relu, name="relu", dtypes=(torch.float64,), devices=["cpu"],
                                     grad=False, shapes=False)
        except AssertionError:
            return False
        return True

    assert not judged() and not checked()
    monkeypatch.setitem(observe.DEFAULT_TOL, torch.float64, (0.0, 0.1))
    assert judged() and checked()


# -- malformed encodings from a student's process: a mismatch, never a crash -----------------------
GOOD = encode(torch.arange(4, dtype=torch.float32))


def _tensor(**fields):
    return {**GOOD, **fields}


MALFORMED = {
    "unknown dtype": _tensor(dtype="float33"),
    "a module attribute, not a dtype": _tensor(dtype="_dynamo"),
    "dtype not a string": _tensor(dtype=["float32"]),
    "negative dim": _tensor(shape=[-4]),
    "bool dim": _tensor(shape=[True, 4]),
    "float dim": _tensor(shape=[4.0]),
    "shape not a list": _tensor(shape=4),
    "bytes for fewer elements": _tensor(shape=[3]),
    "oversized shape": _tensor(shape=[10**12]),
    "huge empty shape": _tensor(shape=[2**70, 0], b64=""),
    "oversized data": _tensor(b64=base64.b64encode(bytes(17)).decode()),
    "truncated b64": _tensor(b64=GOOD["b64"][:-3]),
    "not b64": _tensor(b64="!!!!" + GOOD["b64"][4:]),
    "wrong kind tag": {**GOOD, "kind": "tensr"},
    "kind not a string": {**GOOD, "kind": ["tensor"]},
    "no kind": {k: v for k, v in GOOD.items() if k != "kind"},
    "extra field": {**GOOD, "grad": None},
    "missing field": {k: v for k, v in GOOD.items() if k != "shape"},
    "old untagged tensor": {"tensor": "float32", "shape": [4], "b64": GOOD["b64"]},
    "bare number": 1,
    "bare list": [GOOD],
    "null": None,
    "float not a number": {"kind": "float", "value": "one"},
    "int as float": {"kind": "int", "value": 1.0},
    "bool as int": {"kind": "bool", "value": 1},
    "list value not a list": {"kind": "list", "value": {"0": GOOD}},
    "dict value not a dict": {"kind": "dict", "value": [GOOD]},
    "malformed inside a list": {"kind": "list", "value": [GOOD, {"kind": "tensor"}]},
    "deep nesting": encode(1),   # wrapped below in lists deeper than the judge's stack
}
for _ in range(5000):
    MALFORMED["deep nesting"] = {"kind": "list", "value": [MALFORMED["deep nesting"]]}


@pytest.mark.parametrize("what", sorted(MALFORMED))
def test_a_malformed_encoding_is_a_mismatch(what):
    enc = MALFORMED[what]
    with pytest.raises(RecursionError if what == "deep nesting" else Mismatch):
        decode(enc)
    ref = {"k": GOOD if what != "deep nesting" else encode([])}
    assert judge.observations_match(ref, {}, {"k": enc}) is False


# -- the judge's rules ----------------------------------------------------------------------------
def _notebook(points=1.0):
    plan = NotebookPlan("s", "a1", "ps1", (CellPlan(0, "solution", "impl", "def f(x): return x"),
                                           CellPlan(1, "test", "test_f", "assert f(1) == 1", points)))
    run = RunOutput(Status.GRADED, [CellRun(0, "impl", "ok"),
                                    CellRun(1, "test_f", "ok", observations={"f": _wire(torch.ones(2))})])
    return plan, run


def _verdict(plan, run, ref=None):
    return judge.judge(plan, run, ref or run, solution_of={"test_f": "impl"}, hidden_lines=[]).cells[0]


def test_a_rule_added_to_RULES_can_fail_a_cell(monkeypatch):
    plan, run = _notebook()
    assert _verdict(plan, run).passed
    seen = []

    def odd_points(cell, got, ref, ctx):
        seen.append(cell.grade_id)
        return judge.Fail("odd points", "PointsError") if cell.points % 2 else None

    monkeypatch.setattr(judge, "RULES", [*judge.RULES, odd_points])
    v = _verdict(plan, run)
    assert seen == ["test_f"] and not v.passed and v.points == 0 and (v.message, v.ename) == ("odd points", "PointsError")
    assert _verdict(*_notebook(points=2.0)).passed


def test_the_first_failing_rule_gives_the_message(monkeypatch):
    plan, run = _notebook()
    other = RunOutput(Status.GRADED, [run.cells[0], CellRun(1, "test_f", "ok", observations={"f": _wire(torch.zeros(2))})])
    assert _verdict(plan, other, run).message == "AssertionError (in a hidden test)"
    monkeypatch.setattr(judge, "RULES", [lambda *a: judge.Fail("first"), *judge.RULES])
    assert _verdict(plan, other, run).message == "first"
    monkeypatch.setattr(judge, "RULES", [])
    assert _verdict(plan, other, run).passed      # no rule, no objection


def test_a_type_that_claims_to_be_another_is_foreign():
    class Meta(type):
        def __eq__(cls, other):
            return True

        __hash__ = type.__hash__

    class Liar(float, metaclass=Meta):
        pass

    assert Liar in (torch.Tensor, int)               # what ``in`` would believe
    assert observe.kind_of(Liar(1.0)) is None and observe.holds_type_error(decode(_wire(Liar(1.0))))
