"""plan: nbgrader's rules decided up front, the oracles stripped from the student's run, the
per-cell seeds (no sandbox is started here)."""
from __future__ import annotations

import os

import nbformat
import pytest

from autograder import course, plan
from grading import tiny_course as T

STUB = course.Course.load().stub   # what the release puts in a solution cell


# -- plan: nbgrader's rules, decided up front ---------------------------------------------------
def test_plan_restores_locked_cells_and_skips_experiments():
    src = T.ps1_source()
    src.cells.insert(4, nbformat.v4.new_code_cell("train_for_an_hour()", metadata={"tags": ["experiment"]}))
    sub = T.clone(src)
    sub.cells[T.cell_index(sub, "test_double")].source = "pass"          # edited test: restored
    del sub.cells[T.cell_index(sub, "test_clip")]                         # deleted test: restored
    sub.cells.append(nbformat.v4.new_code_cell("helper = 1"))             # a student's own cell: runs
    p = plan.make(src, sub, student_id="s", assignment="a1", notebook="ps1", stub=STUB)
    kinds = [(c.kind, c.grade_id) for c in p.cells if c.kind != "markdown"]
    assert ("test", "test_clip") in kinds and kinds.index(("test", "test_clip")) == kinds.index(("solution", "clip_impl")) + 1
    assert next(c for c in p.cells if c.grade_id == "test_double").source == T.TEST_DOUBLE
    assert not any("train_for_an_hour" in c.source for c in p.cells)
    assert ("student", None) in kinds
    full = plan.make(src, sub, student_id="s", assignment="a1", notebook="ps1", stub=STUB, skip_experiments=False)
    assert any("train_for_an_hour" in c.source for c in full.cells)
    assert plan.solution_of(src)["test_double"] == "double_impl"
    other = plan.make(src, T.ps2_source(), student_id="s", assignment="a1", notebook="ps1", stub=STUB)
    assert other.problem and not other.cells
    with pytest.raises(ValueError):
        plan.parse(b"{not json")


def test_hidden_regions_lose_their_oracles_in_the_students_run():
    """Every assert goes, with its message: one that holds an expected value (it records, or reads a
    forbidden built-in, torch's reference modules or a name only a checking() block defines) and a
    property of the student's own outputs alike (its verdict reaches the judge through a record);
    the records an assert makes stay."""
    from autograder.notebook import hidden_segments as segments
    from autograder.plan import strip_oracles
    src = ("x = f(1)\nassert x == 2, 'visible'\n### BEGIN HIDDEN TESTS\ny = f(seed(3))\n"
           "assert abs(record('y', y) - torch.sigmoid(t)) < 1e-6, 'hidden message'\n"
           "if checking():\n    want = g(t)\nassert torch.allclose(y, want), 'uses want'\n"
           "assert torch.allclose(y, F.elu(t)), 'torch reference'\n"
           "for k in range(2):\n    assert g(k) == k, 'a property'\n### END HIDDEN TESTS\n")
    parts = segments(src)
    assert [h for h, _ in parts] == [False, True]
    stripped = strip_oracles(parts[1][1], ("torch.sigmoid", "torch.Tensor.sigmoid"))
    for gone in ("sigmoid", "hidden message", "want", "uses want", "F.elu", "torch reference"):
        assert gone not in stripped, (gone, stripped)
    assert "record('y', y)" in stripped and "for k in range(2):" in stripped
    assert "a property" not in stripped and "assert" not in stripped
    compile(stripped, "<hidden>", "exec")
    # an assert that records goes whatever it compares with: the judge compares the record
    assert "sigmoid" not in strip_oracles(parts[1][1])


def test_plan_json_holds_no_secret_and_no_oracle(tmp_path):
    import json
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__)))
    import nbformat

    from autograder import plan
    from grading import tiny_course as T
    nb = nbformat.from_dict(T.ps1_source())
    secret = 123456789123456789
    student = json.loads(plan.plan_json(plan.make(nb, nb, student_id="s", assignment="a1", notebook="ps1", stub=STUB),
                                        seed=secret, cell_timeout_s=1, max_procs=1, results_fd=3))
    reference = json.loads(plan.plan_json(plan.reference(nb, assignment="a1", notebook="ps1", stub=STUB),
                                          seed=secret, cell_timeout_s=1, max_procs=1, results_fd=3))
    text = json.dumps(student)
    assert str(secret) not in text and student["checking"] is False and reference["checking"] is True
    assert "torch.sigmoid(hidden_check_7f3a_r)" not in text and "torch.full((3,), 3.0)" not in text
    assert "torch.sigmoid(hidden_check_7f3a_r)" in json.dumps(reference)
    keys = {c["grade_id"]: c["key"] for c in student["cells"] if c["kind"] == "test"}
    assert keys == {c["grade_id"]: c["key"] for c in reference["cells"] if c["kind"] == "test"}
    assert len(set(keys.values())) == len(keys)


def test_checks_skip_their_oracle_when_not_checking():
    import torch

    from gradlab import observe
    from gradlab.checks import check_elementwise
    calls = []

    def oracle(z):
        calls.append(1)
        return torch.sigmoid(z)

    observe.begin("t", grading_seed=0)
    observe.set_checking(False)
    try:
        check_elementwise(lambda z: z * 0, oracle, name="wrong", record_as="w")  # wrong, yet no oracle, no error
        rec = observe.end()
    finally:
        observe.set_checking(True)
    assert calls == [] and "w/float32/cpu/values" in rec.values
    with pytest.raises(AssertionError):
        check_elementwise(lambda z: z * 0, oracle, name="wrong")
    assert calls


def test_seed_keys_are_one_way_per_cell():
    from gradlab import observe
    k1 = observe.cell_key(b"s" * 32, "a1", "ps1", "t1")
    observe.begin("t1", k1)
    a = [observe.seed(k) for k in range(3)]
    observe.end()
    assert len(set(a)) == 3 and all(0 <= v < 2**31 for v in a)
    observe.begin("t2", observe.cell_key(b"s" * 32, "a1", "ps1", "t2"))
    assert observe.seed(0) != a[0]
    observe.end()
    assert observe.seed(5) == 5


def test_nbcheck_rejects_an_oracle_outside_asserts_and_checking_blocks():
    import sys
    sys.path.insert(0, os.path.dirname(__file__))
    import nbcheck
    forbid = ["torch.sigmoid"]
    good = ("z = torch.ones(3)\n### BEGIN HIDDEN TESTS\nfrom gradlab.observe import checking\n"
            "y = record('y', sigmoid(z))\nassert torch.allclose(y, torch.sigmoid(z))\n"
            "if checking():\n    want = torch.sigmoid(z)\n    assert torch.allclose(y, want)\n"
            "check_elementwise(sigmoid, torch.sigmoid, name='s', record_as='s')\n### END HIDDEN TESTS\n")
    assert nbcheck.convention_problems("cell", good, forbid) == []
    oracle = good.replace("### END HIDDEN TESTS", "want = torch.sigmoid(z)\n### END HIDDEN TESTS")
    assert "torch.sigmoid" in " ".join(nbcheck.convention_problems("cell", oracle, forbid))
    leaked_name = good.replace("### END HIDDEN TESTS", "print(want)\n### END HIDDEN TESTS")
    assert "'want'" in " ".join(nbcheck.convention_problems("cell", leaked_name, forbid))
    recorded_inside = good.replace("    want = torch.sigmoid(z)\n", "    want = record('w', torch.sigmoid(z))\n")
    assert "record(...) inside" in " ".join(nbcheck.convention_problems("cell", recorded_inside, forbid))
