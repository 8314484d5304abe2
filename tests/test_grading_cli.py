"""Fast checks of the grading CLI and the pipeline's stages (no sandbox is started here)."""
from __future__ import annotations

import filecmp
import os
import subprocess
import sys

import nbformat
import pytest
import torch

from autograder import course, discover, gradebook, judge, notebook, plan
from autograder.cli import build_parser
from autograder.records import Status
from grading import tiny_course as T
from gradlab import observe

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STUB = course.Course.load().stub   # what the release puts in a solution cell
COMMANDS = ["release", "grade", "feedback", "export", "validate", "bench", "doctor"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([command, "--help"])
    assert exc.value.code == 0
    assert "usage: python -m autograder " + command in capsys.readouterr().out


def test_module_entry_point_help():
    proc = subprocess.run([sys.executable, "-m", "autograder", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0
    for command in COMMANDS:
        assert command in proc.stdout


def test_makefile_forms_parse():
    args = build_parser().parse_args(["grade", "--demo", "--jobs", "2"])
    assert args.demo and args.jobs == 2
    assert build_parser().parse_args(["release"]).assignments == []


def _dir_equal(a, b):
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.diff_files or cmp.funny_files:
        return False
    return all(_dir_equal(os.path.join(a, d), os.path.join(b, d)) for d in cmp.common_dirs)


@pytest.mark.slow
def test_release_is_deterministic(tmp_path):
    source = T.write_source(str(tmp_path / "source"))
    first, second = tmp_path / "first", tmp_path / "second"
    assert course.release(source=source, release_dir=str(first)) == ["a1", "a2"]
    (first / "a1" / "stale.txt").write_text("left over from an older release")
    proc = subprocess.run([sys.executable, "-m", "autograder", "release", "--source", source,
                           "--release-dir", str(second)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    course.release(source=source, release_dir=str(first))  # regenerating removes stale files too
    assert _dir_equal(first, second)
    released = nbformat.read(first / "a1" / "ps1.ipynb", as_version=4)
    text = nbformat.writes(released)
    assert T.HIDDEN_MARK not in text and "BEGIN SOLUTION" not in text
    assert 'raise NotImplementedError(\\"replace this line with your solution\\")' in text  # JSON-escaped


def test_feedback_redacts_hidden_lines():
    hidden = ["torch.testing.assert_close(sigmoid(big), ref)"]
    msg = "\x1b[31mboom\x1b[0m: torch.testing.assert_close(sigmoid(big), ref) failed" + "!" * 500
    out = notebook.redact(msg, hidden)
    assert "assert_close" not in out and "[hidden]" in out and "\x1b" not in out
    assert len(out) <= notebook.MAX_MESSAGE + 2


def test_status_order():
    assert Status.worst([Status.GRADED, Status.MISSING_NOTEBOOK]) is Status.MISSING_NOTEBOOK
    assert Status.worst([Status.GRADED, Status.TIMEOUT, Status.KERNEL_DIED]) is Status.KERNEL_DIED
    assert Status.worst([]) is Status.GRADED


# -- judge: exact kinds, the reference's tolerances, forbidden built-ins ------------------------
def _enc(v):
    return observe.encode(observe.plain(v))


def test_judge_compares_exact_kinds_and_values():
    ok = lambda ref, got, tol=(None, None): judge.observations_match({"k": _enc(ref)}, {"k": list(tol)}, {"k": _enc(got)})
    x = torch.linspace(-3, 3, 7)
    assert ok(x, x.clone()) and ok(x, x + 1e-7) and not ok(x, x + 1e-3)
    assert ok(x, x + 1e-3, (1e-2, 1e-2))                       # the reference's tolerance
    assert not ok(x, x.double()) and not ok(x, x[:-1]) and not ok(x, x.reshape(7, 1))
    assert not ok(1.0, 1) and not ok(True, 1) and not ok(1, 1.0) and ok(1.5, 1.5) and ok(float("nan"), float("nan"))
    assert not ok([1.0, 2.0], [1.0]) and ok({"a": [x, "s", None]}, {"a": [x, "s", None]})
    assert not ok({"a": 1}, {"b": 1}) and not ok("Tensor", "list")

    class Liar(torch.Tensor):
        pass

    class Anything(float):
        def __eq__(self, other):
            return True

    assert not ok(x, x.clone().as_subclass(Liar))               # a subclass is recorded as a type error
    assert not ok(2.0, Anything(2.0))
    assert not judge.observations_match({"k": _enc(x)}, {}, {"k": {"kind": "tensor", "dtype": "float32", "shape": [7], "b64": "AA=="}})
    assert not judge.observations_match({"k": _enc(x)}, {}, {})  # a missing observation fails
    assert not judge.observations_match({"k": _enc(x)}, {}, "garbage")


def test_forbidden_uses_static_scan():
    names = ["torch.sigmoid", "torch.Tensor.sigmoid", "torch.nn.functional.sigmoid"]
    assert judge.forbidden_uses("def f(z):\n    return torch.sigmoid(z)", names) == ["torch.sigmoid"]
    assert judge.forbidden_uses("import torch as T\ndef f(z):\n    return T.sigmoid(z)", names) == ["torch.sigmoid"]
    assert judge.forbidden_uses("from torch import sigmoid as s\ns(1)", names) == ["torch.sigmoid"]
    assert judge.forbidden_uses("def f(z):\n    return z.sigmoid()", names) == ["torch.Tensor.sigmoid"]
    assert judge.forbidden_uses("def f(z):\n    return getattr(torch, 'sigmoid')(z)", names) == ["torch.sigmoid"]
    assert judge.forbidden_uses("def f(z):\n    return F.sigmoid(z)", names) == ["torch.nn.functional.sigmoid"]
    assert judge.forbidden_uses("def f(z):\n    return 1 / (1 + torch.exp(-z))", names) == []  # negative control


def test_scrub_removes_pieces_of_hidden_tests():
    hidden = ["torch.testing.assert_close(record('x', sigmoid(hidden_check_7f3a)), ref)"]
    assert "hidden_check" not in notebook.scrub("oops: record('x', sigmoid(hidden_check_7f3", hidden)
    assert notebook.scrub("a plain message", hidden) == "a plain message"


def test_csv_cells_are_neutralised():
    from autograder.files import csv_cell
    assert csv_cell("=SUM(1,2)") == "'=SUM(1,2)" and csv_cell("@x") == "'@x"
    assert csv_cell("+1a") == "'+1a" and csv_cell("-2.5") == "-2.5"
    assert csv_cell("ada") == "ada"


# every character a spreadsheet starts a formula, command or macro with, and a harmless control
DANGEROUS = ["=1+2", "+SUM(A1)", "-cmd|' /C calc'!A0", "@SUM(A1)", "\tx", "\rx", "\nx", "|cmd", "%macro", "\uff1d1+2"]


@pytest.mark.parametrize("which", ["grades.csv", "grades_detail.csv", "grades_final.csv"])
def test_every_csv_neutralises_every_dangerous_first_character(which):
    """One rule for every CSV the grader writes: each dangerous first character is neutralised in
    ``grades.csv``/``grades_detail.csv`` (the run's) and ``grades_final.csv`` (the export)."""
    import csv
    import io

    from autograder import export
    rows = []
    for text in DANGEROUS:
        if which == "grades_final.csv":
            rows.append(export.FinalGrade(text, text, 1.0, 2.0, "graded", False, 1.0, 0.0, 0.0, ""))
        else:
            rows.append({"student_id": text, "assignment": text, "score": 1.0, "max_score": 2.0, "status": "graded",
                         "needs_manual_grade": False, "flags": [text], "notes": [text], "timestamp": None,
                         "notebooks": {text: {"status": "graded", "score": 1.0, "grades": {text: {
                             "score": 1.0, "auto_score": 1.0, "max_score": 2.0, "needs_manual_grade": False,
                             "manual": False}}, "cells": {}}}})
    text = {"grades.csv": lambda: gradebook.grades_csv(rows), "grades_detail.csv": lambda: gradebook.detail_csv(rows),
            "grades_final.csv": lambda: export.to_csv(rows)}[which]()
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert len(parsed) == 1 + len(rows), "a cell started a row of its own"
    cells = [c for row in parsed[1:] for c in row]
    for bad in DANGEROUS:
        assert bad not in cells and "'" + bad.replace("\r", "\n") in cells, (which, bad)
    assert not [c for c in cells if c and c[0] in "=+-@\t\r\n|%\uff1d"], cells
    assert export.to_csv([export.FinalGrade("-2", "b", -2.5, 2.0, "graded", False, 0, 0, 0, "")]).splitlines()[1]         .startswith("-2,b,-2.5,2,"), "a negative number stays a number"


def test_database_passwords_never_reach_a_message():
    from autograder.files import redact_db_url
    for password in ("p@ss", "p:ss", "p/ss", "a@b:c/d@e"):
        url = f"postgresql+psycopg://grader:{password}@db.example:5432/gradebook"
        shown = redact_db_url(f"writing {url} failed: could not connect to {url}")
        assert password not in shown and "ss" not in shown and shown.count(
            "postgresql+psycopg://grader:***@db.example:5432/gradebook") == 2, shown
    assert redact_db_url("sqlite:////srv/c/gradebook.db") == "sqlite:////srv/c/gradebook.db"
    from hub.postgres import redact
    assert redact("postgresql://u:a@b@h/d") == "postgresql://u:***@h/d"


# -- discover: the tree is hostile --------------------------------------------------------------
def test_discover_handles_hostile_trees(tmp_path):
    nb = nbformat.writes(nbformat.v4.new_notebook()).encode()

    def put(path, data=nb):
        p = tmp_path / path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)

    put("ann/a1/ps1.ipynb")
    put("bob/a1/ps1 (1).ipynb")
    (tmp_path / "cat" / "a1").mkdir(parents=True)
    os.mkfifo(tmp_path / "cat" / "a1" / "ps1.ipynb")
    put("dan/a1/ps1.ipynb", b"x" * 10)
    os.chmod(tmp_path / "dan" / "a1" / "ps1.ipynb", 0)
    os.symlink(tmp_path / "ann", tmp_path / "eve")
    os.makedirs(os.path.join(os.fsencode(tmp_path), b"f\xffy", b"a1"))
    put("gus/zz/ps1.ipynb")
    put("README.txt", b"not a student")
    subs = {(s.student_id, s.assignment): s for s in discover.discover(str(tmp_path), {"a1": ["ps1"]})}
    assert set(subs) == {("ann", "a1"), ("bob", "a1"), ("cat", "a1"), ("dan", "a1"), ("eve", "?"),
                         ("f\\xffy", "?"), ("gus", "zz")}
    assert subs[("ann", "a1")].notebooks[0].path and not subs[("ann", "a1")].problem
    assert "renamed" in subs[("bob", "a1")].notes[0]
    assert "FIFO" in subs[("cat", "a1")].notebooks[0].problem
    assert "unreadable" in subs[("dan", "a1")].notebooks[0].problem
    assert "symbolic link" in subs[("eve", "?")].problem
    assert "UTF-8" in subs[("f\\xffy", "?")].problem
    assert subs[("gus", "zz")].problem == "unknown assignment"
    with pytest.raises(ValueError):
        discover.read_notebook(str(tmp_path / "cat" / "a1" / "ps1.ipynb"))  # returns at once, never blocks


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


def test_gradebook_error_names_the_database(tmp_path):
    bad = course.Course.load(str(tmp_path), "sqlite:///" + str(tmp_path / "no" / "such" / "dir" / "\0gradebook.db"))
    with pytest.raises(gradebook.GradebookError) as exc:
        gradebook.record_submission(bad, {"student_id": "s", "assignment": "a1", "notebooks": {}})
    assert "gradebook" in str(exc.value) and "gradebook.db" in str(exc.value)
    secret = course.Course.load(str(tmp_path), "postgresql://grader:p@ss:w/rd@127.0.0.1:1/gradebook")
    with pytest.raises(gradebook.GradebookError) as exc:
        with secret.gradebook():
            pass
    assert "127.0.0.1:1/gradebook" in str(exc.value) and "ss:w" not in str(exc.value) and "rd@" not in str(exc.value)


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


def test_judge_treats_extra_or_reordered_results_as_tampering():
    from autograder.judge import judge, tampering
    from autograder.records import CellPlan, CellRun, NotebookPlan, RunOutput, Status
    p = NotebookPlan("s", "a1", "ps1", (CellPlan(0, "setup", "imports", "import torch"),
                                        CellPlan(1, "solution", "impl", "def f(x): return x"),
                                        CellPlan(2, "test", "test_f", "assert f(1) == 1", 1.0)))
    ok = [CellRun(0, "imports", "ok"), CellRun(1, "impl", "ok"), CellRun(2, "test_f", "ok", observations={"a": observe.encode(1)})]
    assert tampering(p, RunOutput(Status.GRADED, ok)) == ""
    assert tampering(p, RunOutput(Status.GRADED, ok[:2])) == ""       # the notebook stopped: not tampering
    for cells in (ok + [ok[2]], [ok[0], ok[2], ok[1]], [ok[0], CellRun(1, "test_f", "ok"), ok[2]]):
        assert tampering(p, RunOutput(Status.GRADED, cells))
    ref = RunOutput(Status.GRADED, ok)
    r = judge(p, RunOutput(Status.GRADED, ok + [ok[2]]), ref, solution_of={"test_f": "impl"}, hidden_lines=[])
    assert r.score == 0 and "tampered:ps1" in r.flags
    assert judge(p, RunOutput(Status.GRADED, ok), ref, solution_of={"test_f": "impl"}, hidden_lines=[]).score == 1


def test_judge_messages_visible_vs_hidden_and_real_class_names():
    from autograder.judge import judge, safe_ename
    from autograder.records import CellPlan, CellRun, NotebookPlan, RunOutput, Status
    assert safe_ename("NotImplementedError", ["except NotImplementedError as hidden_e"]) == "NotImplementedError"
    assert safe_ename("x = secret_thing_long_enough", ["x = secret_thing_long_enough"]) == "Exception"
    assert safe_ename("hidden_name_is_long", ["y = hidden_name_is_long + 1"]) == "Exception"
    p = NotebookPlan("s", "a1", "ps1", (CellPlan(0, "test", "t", "", 1.0), CellPlan(1, "test", "u", "", 1.0)))
    err = {"output_type": "error", "ename": "AssertionError", "evalue": "f(2) must be 4"}
    run = RunOutput(Status.GRADED, [CellRun(0, "t", "error", [dict(err, part="visible")]),
                                    CellRun(1, "u", "error", [dict(err, part="hidden")])])
    r = judge(p, run, run, solution_of={}, hidden_lines=[])
    assert [c.message for c in r.cells] == ["AssertionError: f(2) must be 4", "AssertionError (in a hidden test)"]


def test_integrity_scan_flags_dynamic_access():
    from autograder.integrity import scan
    attacks = {
        "getattr(torch, 'sig' + 'moid')(z)": "computed-lookup:getattr(torch,…)",
        "vars(torch)['sigmoid'](z)": "computed-lookup:vars()[…]",
        "torch.__dict__['sigmoid'](z)": "namespace",
        "eval('torch.sigmoid')(z)": "eval",
        "import sys\nsys.settrace(None)": "trace",
        "import sys\nsys._getframe(1)": "frames",
        "import gc\ngc.get_objects()": "gc",
        "import ctypes": "ctypes",
        "torch._C._disabled_torch_function_impl": "torch._C",
        "torch.ops.aten.sigmoid(z)": "torch.ops",
        "with torch._C.DisableTorchFunction():\n    pass": "dispatch-mode",
        "from torch.overrides import TorchFunctionMode": "torch.overrides",
        "import importlib\nimportlib.import_module('torch')": "import-machinery",
        "__import__('torch')": "import-machinery",
        "import builtins\nbuiltins.isinstance = None": "builtins",
        "class T(torch.Tensor):\n    @classmethod\n    def __torch_function__(cls, *a): pass": "__torch_function__",
        "import inspect\ninspect.currentframe()": "inspect",
    }
    for source, finding in attacks.items():
        assert finding in scan(source), (source, scan(source))


def test_integrity_scan_spares_honest_solutions_and_catalogues():
    """No honest solution cell of solutions/ and no catalogued wrong implementation is flagged."""
    import glob
    import importlib
    import pkgutil

    import nbformat

    from autograder.course import solution_text
    from autograder.integrity import scan
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    flagged = []
    for path in sorted(glob.glob(os.path.join(root, "solutions", "*", "*.ipynb"))):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
                found = scan(solution_text(cell.source))
                if found:
                    flagged.append((os.path.basename(path), cell.metadata["nbgrader"]["grade_id"], found))
    import tests.catalogues as catalogues
    for m in pkgutil.iter_modules(catalogues.__path__):
        if m.name.startswith("a"):
            for w in importlib.import_module(f"tests.catalogues.{m.name}").WRONG:
                found = scan(w.source)
                if found:
                    flagged.append((w.notebook, w.exercise, w.label, found))
    assert not flagged, flagged


def test_added_cells_are_scanned_but_copied_test_lines_are_not_the_students():
    from autograder.judge import judge
    from autograder.records import CellPlan, CellRun, NotebookPlan, RunOutput, Status
    test_src = "z = torch.ones(3)\nassert torch.allclose(f(z), torch.sigmoid(z))"
    forbid = {"impl": ("torch.sigmoid",)}

    def verdict(*added):
        cells = [CellPlan(0, "solution", "impl", "def f(z):\n    return 1 / (1 + torch.exp(-z))"),
                 CellPlan(1, "test", "test_f", test_src, 1.0)]
        cells += [CellPlan(2 + i, "student", None, src) for i, src in enumerate(added)]
        p = NotebookPlan("s", "a1", "ps1", tuple(cells), forbid)
        run = RunOutput(Status.GRADED, [CellRun(c.index, c.grade_id, "ok", observations={"a": observe.encode(1)} if c.kind == "test"
                                                else None) for c in cells])
        return judge(p, run, run, solution_of={"test_f": "impl"}, hidden_lines=[])
    assert verdict(test_src).score == 1 and verdict(test_src).flags == []      # a duplicated test cell
    assert verdict("s = torch.sigmoid").score == 0                             # the built-in in an added cell
    assert verdict("def (", "s = torch.sigmoid").score == 0                    # a broken cell hides nothing
    assert "forbidden:torch.sigmoid" in verdict("if True:\n    z = torch.ones(3)\n    s = torch.sigmoid").flags


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


# the stages of ``grade`` in the order the data flows; each module belongs to one
STAGES = (("discover",), ("plan",), ("run", "sandbox", "runner", "cgroup"), ("judge", "integrity"),
          ("gradebook", "feedback", "export"))
GROUND = ("notebook", "files", "records", "limits")   # what every stage may import


def _imports(module: str) -> set[str]:
    import ast
    tree = ast.parse(open(os.path.join(ROOT, "autograder", module + ".py"), encoding="utf-8").read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("autograder."):
            found.add(node.module.split(".")[1])
    return found


def test_no_stage_imports_a_later_one():
    later = {}
    for i, stage in enumerate(STAGES):
        for module in stage:
            later[module] = {m for s in STAGES[i + 1:] for m in s}
    wrong = {m: sorted(_imports(m) & later[m]) for m in later if _imports(m) & later[m]}
    assert not wrong, f"a stage imports a later one: {wrong}"
    for module in GROUND:   # the ground floor imports nothing of the grader's
        assert not _imports(module) - set(GROUND), (module, _imports(module))
    assert _imports("judge") & {"feedback", "gradebook"} == set() and "course" not in _imports("plan")
    assert not (_imports("notebook") | _imports("files")), "notebook.py and files.py stand on nothing of ours"


def test_book_does_not_import_the_tests():
    import ast
    for name in os.listdir(os.path.join(ROOT, "book")):
        if name.endswith(".py"):
            tree = ast.parse(open(os.path.join(ROOT, "book", name), encoding="utf-8").read())
            mods = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
            mods |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
            assert not {m for m in mods if m == "tests" or m.startswith("tests.")}, name


# a command's protocol: each subcommand module has them, with one meaning
PROTOCOL = {"main", "add_arguments", "build_subparser"}


def test_no_function_name_means_two_things_in_the_grader():
    import ast
    import glob
    where: dict[str, list[str]] = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "autograder", "**", "*.py"), recursive=True)):
        tree = ast.parse(open(path, encoding="utf-8").read())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name not in PROTOCOL:
                where.setdefault(node.name, []).append(os.path.relpath(path, ROOT))
    twice = {name: paths for name, paths in where.items() if len(paths) > 1}
    assert not twice, f"one name, two definitions: {twice}"
