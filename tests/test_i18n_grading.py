"""A Chinese submission grades exactly as the English one: one batch, one gradebook, same scores.

Assignment 01 of the real course, twice with the same code: once from ``course/``, once from
``course.zh_CN/`` rebuilt from a fixture catalog (every markdown block "translated", so that every
prose cell differs, locked ones included). Both go through ``python -m autograder grade`` in one
batch into one gradebook. Then the instructor gives manual points and a comment to the Chinese
student's written answer, and ``python -m autograder feedback`` rewrites the pages: the Chinese
page is in Chinese, shows the manual points and the comment, and no hidden-test text.
"""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
from conftest import require, sandbox_problem

import nbcheck
from autograder import course, i18n
from autograder.files import number_text
from autograder.notebook import secrets_in
from nbcheck import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

LANG = "zh_CN"
ASSIGNMENT = "01_vanishing_gradients"


def _needs_sandbox():
    require("sandbox", sandbox_problem())


def _fixture_release(tmp: Path) -> Path:
    """course.zh_CN/01_* from a catalog whose every entry is "translated" (a marked copy of the English)."""
    locale = tmp / "locale"
    i18n.extract(str(ROOT / "solutions"), str(locale), LANG, [ASSIGNMENT])
    for path in (locale / LANG / "LC_MESSAGES" / ASSIGNMENT).glob("*.po"):
        po = i18n.load_catalog(str(path))
        for e in po:
            e.msgstr = e.msgid + "\n\n（中文译文）"
        po.save(str(path))
    i18n.build(str(ROOT / "course"), str(tmp / "zh"), LANG, str(locale), [ASSIGNMENT])
    return tmp / "zh" / ASSIGNMENT


def _submit(release: Path, dest: Path) -> None:
    """Every notebook of ``release`` with every solution cell filled from solutions/ (a full submission)."""
    dest.mkdir(parents=True)
    for nb_path in sorted(release.glob("*.ipynb")):
        source = nbcheck.read(ROOT / "solutions" / ASSIGNMENT / nb_path.name)
        nbformat.write(course.fill_solutions(nbcheck.read(nb_path), source), str(dest / nb_path.name))


def _rows(out: Path) -> dict[str, dict]:
    with open(out / "grades.csv", newline="") as f:
        return {r["student_id"].removeprefix("'"): r for r in csv.DictReader(f)}


def _cli(*args):
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=1400, env=env)


@pytest.fixture
def world_dir():
    """A scratch folder every user can read: the sandbox may run the notebooks as another user."""
    path = Path(tempfile.mkdtemp(prefix="gradlab-zh-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_chinese_and_english_submissions_grade_the_same(world_dir):
    _needs_sandbox()
    tmp_path = world_dir
    zh_release = _fixture_release(tmp_path)
    en_release = ROOT / "course" / ASSIGNMENT
    for nb in zh_release.glob("*.ipynb"):   # the fixture really is another language: prose differs, code does not
        en, zh = nbcheck.read(en_release / nb.name), nbcheck.read(nb)
        assert zh.metadata["gradlab"]["lang"] == LANG
        assert [c.source for c in en.cells if c.cell_type == "code"] == [c.source for c in zh.cells if c.cell_type == "code"]
        assert sum(a.source != b.source for a, b in zip(en.cells, zh.cells) if a.cell_type == "markdown") > 5

    subs, out, course_dir = tmp_path / "submitted", tmp_path / "out", tmp_path / "course"
    _submit(en_release, subs / "en_student" / ASSIGNMENT)
    _submit(zh_release, subs / "zh_student" / ASSIGNMENT)
    course_dir.mkdir()
    proc = _cli("grade", str(subs), "--out", str(out), "--jobs", "2", "--course", str(course_dir))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    rows = _rows(out)
    assert set(rows) == {"en_student", "zh_student"}
    en, zh = rows["en_student"], rows["zh_student"]
    assert en["status"] == zh["status"] == "graded", (en, zh)
    assert (en["score"], en["max_score"]) == (zh["score"], zh["max_score"]), (en, zh)
    assert float(en["score"]) > 0
    assert en.get("flags", "") == zh.get("flags", ""), (en, zh)

    from nbgrader.api import Gradebook
    db = "sqlite:///" + str(course_dir / "gradebook.db")
    with Gradebook(db) as gb:
        subs_zh = {nb.name: nb for nb in gb.find_submission(ASSIGNMENT, "zh_student").notebooks}
        subs_en = {nb.name: nb for nb in gb.find_submission(ASSIGNMENT, "en_student").notebooks}
        assert subs_zh.keys() == subs_en.keys()
        for name in subs_zh:   # cell by cell, the same auto scores under the same grade ids
            zh_scores = {g.name: g.auto_score for g in subs_zh[name].grades}
            en_scores = {g.name: g.auto_score for g in subs_en[name].grades}
            assert zh_scores == en_scores, name
        # the instructor grades the Chinese student's first written answer
        answer = next(g for nb in subs_zh.values() for g in nb.grades if g.needs_manual_grade)
        notebook = answer.notebook.name
        answer.manual_score = answer.max_score / 2
        answer.needs_manual_grade = False   # as formgrader does when it saves a manual score
        comment = gb.find_comment(answer.name, notebook, ASSIGNMENT, "zh_student")
        comment.manual_comment = "思路正确，但缺少数值依据。"
        gb.db.commit()
        max_points = answer.max_score

    proc = _cli("feedback", str(out), "--course", str(course_dir))
    assert proc.returncode == 0, proc.stderr
    page_zh = (out / "feedback" / "zh_student" / ASSIGNMENT / f"{notebook}.html").read_text(encoding="utf-8")
    page_en = (out / "feedback" / "en_student" / ASSIGNMENT / f"{notebook}.html").read_text(encoding="utf-8")
    shots = ROOT / "artifacts" / "feedback"
    shots.mkdir(parents=True, exist_ok=True)
    shutil.copy(out / "feedback" / "zh_student" / ASSIGNMENT / f"{notebook}.html", shots / f"zh_CN__{notebook}.html")

    assert '<html lang="zh-CN">' in page_zh and "评分单元格" in page_zh and "评语：" in page_zh, page_zh[:3000]
    assert "思路正确，但缺少数值依据。" in page_zh
    assert f"{number_text(max_points / 2)} / {number_text(max_points)}" in page_zh
    assert "Graded cell" not in page_zh and "Kind" not in page_zh
    assert '<html lang="en">' in page_en and "Graded cell" in page_en and "评分单元格" not in page_en
    source = nbcheck.read(ROOT / "solutions" / ASSIGNMENT / f"{notebook}.ipynb")
    secrets = secrets_in([c.source for c in source.cells])
    public = "\n".join(c.source for c in nbcheck.read(ROOT / "course" / ASSIGNMENT / f"{notebook}.ipynb").cells)
    leaked = [s for s in secrets if s in page_zh and s not in public]
    assert not leaked, f"hidden-test text on the Chinese feedback page: {leaked[:5]}"
    assert "BEGIN HIDDEN TESTS" not in page_zh


def test_feedback_page_localization_keeps_student_text():
    """Only the page's own markup is translated: a student's message that quotes it stays as written."""
    page = ('<html lang="en"><td><span class="pass">passed</span> — <code>passed</code></td>'
            '<th>Graded cell</th><th>Kind</th><th>Result</th><th>Points</th>')
    out = i18n.localize_page(page, LANG)
    assert '<span class="pass">通过</span> — <code>passed</code>' in out and "<th>评分单元格</th>" in out
    assert i18n.localize_page(page, "en") == page


def test_submission_language_is_validated(tmp_path):
    """The language comes from the student's file: anything but a course language reads as English."""
    for lang, expected in ((LANG, LANG), ("<script>", "en"), (None, "en")):
        nb = nbformat.v4.new_notebook(metadata={"gradlab": {"lang": lang}})
        nbformat.write(nb, str(tmp_path / "n.ipynb"))
        assert i18n.submission_language(str(tmp_path / "n.ipynb")) == expected
    (tmp_path / "bad.ipynb").write_text("not json")
    assert i18n.submission_language(str(tmp_path / "bad.ipynb")) == "en"
