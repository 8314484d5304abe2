"""Graded runs speak the submission's language: a visible ``gradlab.checks`` failure on a Chinese
submission's feedback page is in Chinese, on an English one in English.

The language reaches the sandbox as ``GRADLAB_LANG``, from the submitted notebook's
``"gradlab": {"lang": ...}`` metadata (the Chinese release carries ``zh_CN``); the student wrote
that file, so anything but a course language is English.
"""
from __future__ import annotations

import html
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
from conftest import require, sandbox_problem
from nbformat.v4 import new_markdown_cell, new_notebook

from autograder import course, sandbox
from autograder.limits import Limits
from autograder.records import CellVerdict, NotebookResult, Status, SubmissionResult
from grading import tiny_course as T
from nbcheck import ROOT

ASSIGNMENT, STEM = "a1", "ps1"
# checks a list-returning sigmoid fails before any oracle is evaluated (the student's run has none)
TEST_CHECKS = 'check_elementwise(sigmoid, torch.sigmoid, name="sigmoid", devices=["cpu"])'
WRONG = "def sigmoid(z):\n    return z.tolist()"
SIGMOID = "def sigmoid(z):\n    ### BEGIN SOLUTION\n    return torch.sigmoid(z)\n    ### END SOLUTION"
MESSAGES = {"zh_CN": "sigmoid (float32, cpu)：返回了 list，应返回 Tensor",
            "en": "sigmoid (float32, cpu): returned list, expected a Tensor"}


def _source(root: Path) -> Path:
    nb = new_notebook(cells=[
        new_markdown_cell("# Sigmoid"),
        T.locked("imports", "import torch\nfrom gradlab.checks import check_elementwise"),
        T.solution("sigmoid_impl", SIGMOID),
        T.test("test_sigmoid", TEST_CHECKS, 1),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                 "language_info": {"name": "python"}})
    (root / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(nb, str(root / ASSIGNMENT / f"{STEM}.ipynb"))
    return root


def _submit(release_nb, dest: Path, lang: str | None) -> None:
    nb = T.set_solution(T.clone(release_nb), "sigmoid_impl", WRONG)
    if lang is not None:
        nb.metadata["gradlab"] = {"lang": lang}   # as autograder.i18n.build writes the Chinese release
    dest.mkdir(parents=True)
    nbformat.write(nb, str(dest / f"{STEM}.ipynb"))


def _setenv(argv: list[str]) -> dict[str, str]:
    return {argv[i + 1]: argv[i + 2] for i, a in enumerate(argv) if a == "--setenv"}


@pytest.mark.parametrize("lang, expected", [("zh_CN", "zh_CN"), ("en", "en"), ("zh_CN; rm -rf /", "en"),
                                            ("../../etc", "en"), (None, "en")])
def test_sandbox_gets_only_a_course_language(lang, expected):
    launch = sandbox.command(Limits(), lang=lang)
    try:
        env = _setenv(launch.argv)
    finally:
        launch.close()
    assert env["GRADLAB_LANG"] == expected
    assert "--clearenv" in launch.argv   # nothing else of the grader's environment gets in
    assert sandbox.unsafe_env(lang)["GRADLAB_LANG"] == expected
    catalogs = [launch.argv[i + 1] for i, a in enumerate(launch.argv) if a == "--ro-bind" and "locale" in launch.argv[i + 1]]
    assert catalogs == ([sandbox.messages_catalog("zh_CN")] if expected == "zh_CN" else [])


@pytest.fixture
def world_dir():
    """A scratch folder every user can read: the sandbox may run the notebooks as another user."""
    path = Path(tempfile.mkdtemp(prefix="gradlab-zh2-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_feedback_page_shows_visible_test_message_in_submission_language(world_dir):
    require("sandbox", sandbox_problem())
    source = _source(world_dir / "source")
    release = world_dir / "release"
    course.release(source=str(source), release_dir=str(release))
    release_nb = nbformat.read(str(release / ASSIGNMENT / f"{STEM}.ipynb"), as_version=4)
    subs, out, course_dir = world_dir / "subs", world_dir / "out", world_dir / "course"
    _submit(release_nb, subs / "zh_student" / ASSIGNMENT, "zh_CN")
    _submit(release_nb, subs / "en_student" / ASSIGNMENT, None)
    _submit(release_nb, subs / "forged_student" / ASSIGNMENT, "<b>zh_CN</b>")
    course_dir.mkdir()
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    env.pop("GRADLAB_LANG", None)
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(subs), "--out", str(out), "--jobs", "2",
                           "--source", str(source), "--course", str(course_dir)],
                          cwd=ROOT, capture_output=True, text=True, timeout=550, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    def page(student):
        return (out / "feedback" / student / ASSIGNMENT / f"{STEM}.html").read_text(encoding="utf-8")

    zh, en, forged = page("zh_student"), page("en_student"), page("forged_student")
    assert MESSAGES["zh_CN"] in zh and MESSAGES["en"] not in zh, zh[-3000:]
    assert '<html lang="zh-CN">' in zh
    assert MESSAGES["en"] in en and "返回了" not in en, en[-3000:]
    assert MESSAGES["en"] in forged and "返回了" not in forged, forged[-3000:]
    assert "reference-failed" not in (out / "grades.csv").read_text()

    # the class report: by default in the class's language (two English notebooks, one Chinese), or --lang
    for args, marks, absent in (((), ("<html lang='en'>", "Class report"), "班级报告"),
                                (("--lang", "zh_CN"), ("<html lang='zh-CN'>", "班级报告", "<td>测试</td>"), "Class report")):
        proc = subprocess.run([sys.executable, "-m", "autograder", "report", str(out), "--course", str(course_dir),
                               "--no-similarity", *args], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        index = (out / "report" / "index.html").read_text(encoding="utf-8")
        assert all(m in index for m in marks) and absent not in index, (args, index[-3000:])


@pytest.mark.parametrize("status", [s for s in Status if s is not Status.GRADED], ids=lambda s: s.code)
def test_run_record_page_in_the_submission_language(status):
    """The page of a submission that never reached the gradebook (rendered from the run's result)."""
    from autograder import feedback, i18n

    assignment = course.Assignment(ASSIGNMENT, "", {STEM: course.source_notebook(
        STEM, nbformat.writes(T.ps1_source()).encode())})
    result = SubmissionResult("zh_student", ASSIGNMENT, status, [NotebookResult(STEM, status, [
        CellVerdict("test_sigmoid", 0.0, 2.0, False, MESSAGES["zh_CN"], "AssertionError")])],
        notes=["ps1.ipynb: a note"])
    [page] = feedback.result_feedback(result, assignment)
    en = feedback.render_feedback(page)
    zh = i18n.localize_page(en, "zh_CN")
    english = [html.escape(status.text), "Graded cell", "Tests are run", "Assignment <b>", " points</div>",
               "written answer", ">failed<", ">not run<"]
    assert not [s for s in english if s in zh], [s for s in english if s in zh]
    assert all(s in en for s in english)
    assert '<html lang="zh-CN">' in zh and MESSAGES["zh_CN"] in zh and "ps1.ipynb: a note" in zh
