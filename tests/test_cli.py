"""The grading CLI itself (its subcommands, the release it writes) and the grader's layout rules
(the stages import forwards only, one name one meaning); no sandbox is started here."""
from __future__ import annotations

import filecmp
import os
import re
import subprocess
import sys

import nbformat
import pytest
from coursekit import ROOT

from autograder import course
from autograder.cli import build_parser
from grading import tiny_course as T

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
    """Each `python -m autograder ...` line of the Makefile parses, into the values make passes."""
    lines = re.findall(r"^\t\$\(PY\) -m autograder (.+)$", (ROOT / "Makefile").read_text(), re.M)
    parsed = {line.split()[0]: build_parser().parse_args(line.replace("$(JOBS)", "3").split()) for line in lines}
    assert sorted(parsed) == ["grade", "release"], lines
    assert parsed["grade"].demo is True and parsed["grade"].jobs == 3
    assert parsed["release"].assignments == []


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


# the stages of ``grade`` in the order the data flows; each module belongs to one
STAGES = (("discover",), ("plan",), ("run", "sandbox", "runner", "cgroup"), ("judge", "integrity"),
          ("record", "gradebook", "feedback", "export"))
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
