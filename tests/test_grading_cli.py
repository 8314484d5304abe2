"""Fast checks of the grading CLI and its pieces (no student kernel is started here)."""
from __future__ import annotations

import filecmp
import os
import subprocess
import sys

import nbformat
import pytest

from autograder import course, feedback
from autograder.cli import build_parser
from autograder.execute import bound_names, with_seal
from autograder.worker import inspect_submission, worst
from grading import tiny_course as T

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMANDS = ["release", "grade", "feedback", "export", "validate", "bench"]


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


def test_with_seal_keeps_the_displayed_value():
    src = with_seal("x = 1\nassert x\nx + 1  # partial credit\n", "n0")
    assert src.rstrip().endswith("__gradlab_value__")
    assert "__gradlab_value__ = (x + 1)" in src and "__gradlab__.seal('n0')" in src
    assert with_seal("x = 1\nx;", "n1").rstrip().endswith("__gradlab__.seal('n1')")
    assert with_seal("%time y = 2", "n2").rstrip().endswith("__gradlab__.seal('n2')")


def test_bound_names():
    assert bound_names("import torch.nn as nn, numpy\nfrom a import b as c\ndef f(): pass\nx = 3") == \
        ["c", "f", "nn", "numpy", "x"]


def test_feedback_redacts_hidden_lines():
    hidden = ["torch.testing.assert_close(sigmoid(big), ref)"]
    msg = "\x1b[31mboom\x1b[0m: torch.testing.assert_close(sigmoid(big), ref) failed" + "!" * 500
    out = feedback.redact(msg, hidden)
    assert "assert_close" not in out and "[hidden]" in out and "\x1b" not in out
    assert len(out) <= feedback.MAX_MESSAGE + 2


def test_status_order():
    assert worst(["graded", "missing_notebook"]) == "missing_notebook"
    assert worst(["graded", "timeout", "kernel_died"]) == "timeout"
    assert worst([]) == "graded"


def test_inspect_submission_classifies_files(tmp_path):
    info = {"notebooks": {"ps1": {"grade_ids": ["a", "t"], "locked_checksums": {}}}}
    others = {"a2": ["z"]}

    def nb_with(*ids):
        cells = [nbformat.v4.new_code_cell("x", metadata={"nbgrader": {"grade_id": i}}) for i in ids]
        return nbformat.v4.new_notebook(cells=cells)

    def check(files, expect_status, expect_file=None):
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        folder.mkdir()
        for name, content in files.items():
            if isinstance(content, bytes):
                (folder / name).write_bytes(content)
            else:
                nbformat.write(content, folder / name)
        plan = inspect_submission(str(folder), info, others)
        assert plan["status"]["ps1"] == expect_status, plan
        if expect_file:
            assert os.path.basename(plan["files"]["ps1"]) == expect_file
        return plan

    check({"ps1.ipynb": nb_with("a", "t")}, "graded", "ps1.ipynb")
    plan = check({"Copy of ps1.ipynb": nb_with("a", "t")}, "graded", "Copy of ps1.ipynb")
    assert any("renamed" in n for n in plan["notes"])
    check({}, "missing_notebook")
    check({"ps1.ipynb": b""}, "invalid_notebook")
    check({"ps1.ipynb": b"{not json"}, "invalid_notebook")
    check({"ps1.ipynb": nb_with("z")}, "wrong_assignment")
    check({"ps2.ipynb": nb_with("z")}, "wrong_assignment")
    check({"ps1.ipynb": nb_with()}, "invalid_notebook")
