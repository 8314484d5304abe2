"""judge: exact kinds and the reference's tolerances, forbidden built-ins and the integrity scan,
tampering, the messages a student sees (no sandbox is started here)."""
from __future__ import annotations

import os

import torch

from autograder import judge, notebook
from autograder.records import Status
from gradlab import observe


def test_feedback_redacts_hidden_lines():
    hidden = ["torch.testing.assert_close(sigmoid(big), ref)"]
    msg = "\x1b[31mboom\x1b[0m: torch.testing.assert_close(sigmoid(big), ref) failed" + "!" * 500
    out = notebook.redact(msg, hidden)
    assert "assert_close" not in out and "[hidden]" in out and "\x1b" not in out
    assert len(out) <= notebook.MAX_MESSAGE + 2


def test_scrub_removes_pieces_of_hidden_tests():
    hidden = ["torch.testing.assert_close(record('x', sigmoid(hidden_check_7f3a)), ref)"]
    assert "hidden_check" not in notebook.scrub("oops: record('x', sigmoid(hidden_check_7f3", hidden)
    assert notebook.scrub("a plain message", hidden) == "a plain message"


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
