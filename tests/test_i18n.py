"""The Chinese edition: catalogs of the notebooks' prose, the translated release, gradlab's messages.

* every notebook's catalog (``locale/zh_CN/LC_MESSAGES/<assignment>/<notebook>.po``) is complete:
  no untranslated or fuzzy entry, no entry missing after an English edit, the glossary and the
  things a translation keeps verbatim (math, code, numbers, heading levels, table rows) hold;
  notebooks without a catalog yet are listed by :func:`test_every_notebook_has_a_catalog`;
* ``course.zh_CN/`` is exactly what ``python -m autograder.i18n build`` makes from ``course/`` and
  the catalogs, with the release's code cells, ids, grade ids, points and metadata, and gives away
  nothing ``course/`` may not;
* the machinery itself, on a fixture catalog: splitting into blocks, extraction, the msgmerge
  rules after an English edit (exactly the edited entry fuzzy), the build, the checks failing.
"""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import polib
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import nbcheck
from autograder import i18n
from nbcheck import ROOT

LANG = "zh_CN"
SOLUTIONS = nbcheck.notebooks("solutions")
ZH = ROOT / f"course.{LANG}"
ZH_RELEASES = sorted(ZH.glob("*/*.ipynb"))


def _rel(p: Path) -> str:
    return f"{p.parent.name}/{p.stem}"


def _catalog(path: Path) -> Path:
    return Path(i18n.catalog_path(path.parent.name, path.stem, LANG))


WITH_CATALOG = [p for p in SOLUTIONS if _catalog(p).exists()]
WITHOUT_CATALOG = [_rel(p) for p in SOLUTIONS if not _catalog(p).exists()]


# --------------------------------------------------------------------------------------------
# the committed catalogs and release
def test_every_notebook_has_a_catalog():
    """Every notebook of solutions/ has its Chinese catalog (the message names the ones still missing)."""
    assert not WITHOUT_CATALOG, (f"{len(WITHOUT_CATALOG)} of {len(SOLUTIONS)} notebooks have no {LANG} catalog yet "
                                 f"(python -m autograder.i18n extract, then translate): " + ", ".join(WITHOUT_CATALOG))


@pytest.mark.parametrize("path", [pytest.param(p, id=_rel(p)) for p in WITH_CATALOG]
                         or [pytest.param(None, id="none", marks=pytest.mark.skip(reason="no catalog yet"))])
def test_catalog_is_finished(path):
    """No untranslated or fuzzy entry, none missing, glossary and verbatim spans kept."""
    nb = nbcheck.read(path)
    found = i18n.problems(str(_catalog(path)), i18n.glossary(LANG), i18n.notebook_entries(nb))
    assert not found, f"{len(found)} problems in {_catalog(path).relative_to(ROOT)}:\n  " + "\n  ".join(map(str, found[:60]))


def test_glossary_has_the_pinned_terms():
    terms = {e: t.chinese for t in i18n.glossary(LANG) for e in t.english}
    for english, chinese in {"vanishing gradient": "梯度消失", "exploding gradient": "梯度爆炸",
                             "non-saturating activation function": "非饱和激活函数",
                             "batch normalization": "批量归一化", "gradient clipping": "梯度裁剪",
                             "learning rate schedule": "学习率调度", "warmup": "预热", "cosine annealing": "余弦退火",
                             "regularization": "正则化", "overfitting": "过拟合", "weight decay": "权重衰减",
                             "early stopping": "早停", "max-norm regularization": "最大范数正则化",
                             "MC dropout": "蒙特卡洛 dropout", "Glorot initialization": "Glorot（Xavier）初始化",
                             "He initialization": "He（Kaiming）初始化", "fan-in": "扇入"}.items():
        assert chinese in terms.get(english, ()), f"GLOSSARY.md: {english} should be {chinese}"
    assert "批量规范化" in terms["batch normalization"], "d2l's 批量规范化 is an accepted synonym"


def test_zh_release_covers_course():
    """course.zh_CN/ has exactly the notebooks of course/."""
    assert sorted(_rel(p) for p in ZH_RELEASES) == sorted(_rel(p) for p in nbcheck.notebooks("course")), \
        "course.zh_CN/ and course/ hold different notebooks: run `make release` (or python -m autograder.i18n build)"


@pytest.mark.parametrize("path", [pytest.param(p, id=_rel(p)) for p in ZH_RELEASES])
def test_zh_release_same_code_ids_and_metadata(path):
    """Only markdown text (and a translated locked cell's checksum) differs from course/."""
    en, zh = nbcheck.read(ROOT / "course" / path.parent.name / path.name), nbcheck.read(path)
    assert _structure_problems(en, zh) == []
    assert zh.metadata.get("gradlab", {}).get("lang") == LANG


@pytest.mark.parametrize("path", [pytest.param(p, id=_rel(p)) for p in ZH_RELEASES])
def test_zh_release_no_leaks(path):
    """The Chinese release passes the same metadata and leak checks as course/."""
    source = ROOT / "solutions" / path.parent.name / path.name
    release = nbcheck.read(path)
    problems = nbcheck.metadata_problems(release, release=True) + nbcheck.release_leak_problems(release, nbcheck.read(source))
    problems += nbcheck.output_problems(release)
    assert not problems, "\n".join(problems)


def test_zh_release_in_sync(tmp_path):
    """course.zh_CN/ is exactly what the build makes now from course/ and the catalogs."""
    i18n.build(str(ROOT / "course"), str(tmp_path / "zh"), LANG)
    problems = nbcheck.tree_diff(tmp_path / "zh", ZH)
    assert not problems, ("course.zh_CN/ is out of sync with course/ + locale/ (run `make release` or "
                          "`python -m autograder.i18n build`):\n" + "\n".join(problems[:40]))


def _structure_problems(en, zh) -> list[str]:
    out = []
    if len(en.cells) != len(zh.cells):
        return [f"{len(zh.cells)} cells, course/ has {len(en.cells)}"]
    for i, (a, b) in enumerate(zip(en.cells, zh.cells)):
        if (a.cell_type, a.get("id")) != (b.cell_type, b.get("id")):
            out.append(f"cell {i}: type/id {b.cell_type}/{b.get('id')} != {a.cell_type}/{a.get('id')}")
            continue
        if a.cell_type == "code" and (a.source != b.source or a.metadata != b.metadata):
            out.append(f"code cell {i} ({a.get('id')}) differs between course/ and course.zh_CN/")
        if a.cell_type != "code":
            ma, mb = copy.deepcopy(dict(a.metadata)), copy.deepcopy(dict(b.metadata))
            for m in (ma, mb):
                m.get("nbgrader", {}).pop("checksum", None)
            if ma != mb:
                out.append(f"markdown cell {i} ({a.get('id')}): metadata differs")
    return out


# --------------------------------------------------------------------------------------------
# the machinery, on small fixture notebooks and catalogs
def test_segments_keep_fences_and_display_math_whole():
    src = ("# Title\n\nSome *prose* with $x$.\n\n```python\na = 1\n\nb = 2\n```\n\n"
           "Math:\n$$\na\n\nb\n$$\nafter.\n\n---\n\n  \n| a | b |\n|---|---|\n| 1 | 2 |\n")
    segs = i18n.segments(src)
    assert "".join(s.raw for s in segs) == src
    assert [s.text for s in segs if s.block] == [
        "# Title", "Some *prose* with $x$.", "```python\na = 1\n\nb = 2\n```", "Math:\n$$\na\n\nb\n$$\nafter.",
        "| a | b |\n|---|---|\n| 1 | 2 |"]


def _fixture_notebook():
    return new_notebook(cells=[
        _md("intro", "# The title\n\nFirst paragraph about vanishing gradients.\n\nRepeat me.\n\nRepeat me.\n\n$$1 + 1 = 2$$"),
        new_code_cell("x = 1  # code is never translated", id="code1"),
        _md("answer", "A model answer.", nbgrader={"solution": True, "grade": True, "grade_id": "q", "points": 1,
                                                   "schema_version": 3, "locked": False, "task": False}),
        _md("task", "Describe it.\n\n=== BEGIN MARK SCHEME ===\nsecret marks\n=== END MARK SCHEME ===",
            nbgrader={"task": True, "grade": False, "solution": False, "grade_id": "t", "points": 2,
                      "schema_version": 3, "locked": True}),
    ])


def _md(cell_id, text, nbgrader=None):
    cell = new_markdown_cell(text, id=cell_id)
    if nbgrader:
        cell.metadata["nbgrader"] = nbgrader
    return cell


def test_entries_follow_the_format():
    entries = i18n.notebook_entries(_fixture_notebook())
    assert entries == [("intro", "# The title"), ("intro", "First paragraph about vanishing gradients."),
                       ("intro", "Repeat me."), ("intro#2", "Repeat me."), ("task", "Describe it.")]


def _extract(tmp_path, nb, name="nb"):
    src = tmp_path / "solutions" / "a1"
    src.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(src / f"{name}.ipynb"))
    reports = i18n.extract(str(tmp_path / "solutions"), str(tmp_path / "locale"), LANG)
    return reports[0], Path(i18n.catalog_path("a1", name, LANG, str(tmp_path / "locale")))


def _translate_all(path: Path):
    po = i18n.load_catalog(str(path))
    for e in po:
        e.msgstr = {"# The title": "# 标题", "First paragraph about vanishing gradients.": "第一段，关于梯度消失（vanishing gradients）。",
                    "Repeat me.": "重复我。", "Describe it.": "请描述。"}.get(e.msgid, "")
    po.save(str(path))


def test_extract_writes_the_catalog_format(tmp_path):
    report, path = _extract(tmp_path, _fixture_notebook())
    po = polib.pofile(str(path))
    assert po.metadata["Language"] == LANG and "UTF-8" in po.metadata["Content-Type"]
    assert [(e.msgctxt, e.msgid) for e in po] == i18n.notebook_entries(_fixture_notebook())
    assert "secret marks" not in path.read_text() and "model answer" not in path.read_text()
    assert len(report.new) == 5 and not report.fuzzy


def test_english_edit_marks_exactly_that_entry_fuzzy(tmp_path):
    """extract → translate → edit one English block → extract: that entry fuzzy, the rest kept;
    a new block is untranslated, a removed one obsolete; the check fails until the translator acts."""
    nb = _fixture_notebook()
    _, path = _extract(tmp_path, nb)
    _translate_all(path)
    assert i18n.problems(str(path), i18n.glossary(LANG), i18n.notebook_entries(nb)) == []

    nb.cells[0].source = nb.cells[0].source.replace("First paragraph about", "The first paragraph is about")
    nb.cells[3].source = "Describe it.\n\nA brand new sentence."
    nb.cells[0].source = nb.cells[0].source.replace("\n\nRepeat me.\n\nRepeat me.", "\n\nRepeat me.")
    report, path = _extract(tmp_path, nb)
    po = polib.pofile(str(path))
    fuzzy = [e for e in po if "fuzzy" in e.flags]
    assert [(e.msgctxt, e.msgid) for e in fuzzy] == [("intro", "The first paragraph is about vanishing gradients.")]
    assert fuzzy[0].msgstr.startswith("第一段") and fuzzy[0].previous_msgid == "First paragraph about vanishing gradients."
    assert report.fuzzy == ["intro"] and report.new == ["task"] and report.obsolete == ["intro#2"]
    assert report.kept == 3
    found = [str(p) for p in i18n.problems(str(path), i18n.glossary(LANG), i18n.notebook_entries(nb))]
    assert any("fuzzy" in p for p in found) and any("untranslated" in p for p in found)


def test_build_translates_markdown_only(tmp_path):
    nb = _fixture_notebook()
    _, path = _extract(tmp_path, nb)
    _translate_all(path)
    release = tmp_path / "course" / "a1"
    release.mkdir(parents=True)
    nbformat.write(nb, str(release / "nb.ipynb"))
    i18n.build(str(tmp_path / "course"), str(tmp_path / "zh"), LANG, str(tmp_path / "locale"))
    zh = nbformat.read(str(tmp_path / "zh" / "a1" / "nb.ipynb"), as_version=4)
    assert zh.cells[0].source == "# 标题\n\n第一段，关于梯度消失（vanishing gradients）。\n\n重复我。\n\n重复我。\n\n$$1 + 1 = 2$$"
    assert zh.cells[1].source == nb.cells[1].source and zh.cells[2].source == "A model answer."
    assert zh.metadata["gradlab"] == {"lang": LANG}
    assert _structure_problems(nb, zh) == []


def test_fuzzy_and_untranslated_entries_stay_english_in_the_build(tmp_path):
    nb = _fixture_notebook()
    _, path = _extract(tmp_path, nb)
    _translate_all(path)
    po = i18n.load_catalog(str(path))
    po[0].flags.append("fuzzy")
    po[1].msgstr = ""
    po.save(str(path))
    out = i18n.translate_notebook(nb, i18n.load_catalog(str(path)), LANG)
    assert out.cells[0].source.startswith("# The title\n\nFirst paragraph about vanishing gradients.\n\n重复我。")


@pytest.mark.parametrize("msgid, msgstr, expected", [
    ("Vanishing gradients slow training.", "梯度消失（vanishing gradients）让训练变慢。", []),
    ("Vanishing gradients slow training.", "梯度变小让训练变慢。", ["vanishing gradient"]),
    ("Use batch normalization.", "使用批量规范化。", []),  # d2l's synonym is accepted
    ("Call `early_stopping(model)`.", "调用 `early_stopping(model)`。", []),  # code keeps its English name
])
def test_glossary_check(msgid, msgstr, expected):
    found = i18n.glossary_problems(msgid, msgstr, i18n.glossary(LANG))
    assert [p.split("'")[1] for p in found] == expected


@pytest.mark.parametrize("msgid, msgstr, expected", [
    ("## 2. The ratio $a/b$ is `0.25` at 512 units", "## 2. 在 512 个单元时比值 $a/b$ 为 `0.25`", []),
    ("## 2. The ratio $a/b$", "### 2. 比值 $a / b$", ["math", "heading"]),
    ("About 512 units", "大约五百个单元", ["number"]),
    ("Chapter 11 of the book", "本书第11章", []),  # a number between Chinese characters is still found
    ("| a | b |\n|---|---|\n| 1 | 2 |", "| 甲 | 乙 |\n| 1 | 2 |", ["table"]),
])
def test_format_check(msgid, msgstr, expected):
    found = i18n.format_problems(msgid, msgstr)
    assert [p.split()[0] for p in found] == expected


def test_cli_extract_build_check(tmp_path):
    """The three documented commands run from a shell, on a scratch copy."""
    nb = _fixture_notebook()
    (tmp_path / "solutions" / "a1").mkdir(parents=True)
    nbformat.write(nb, str(tmp_path / "solutions" / "a1" / "nb.ipynb"))
    shutil_copy = tmp_path / "course"
    (shutil_copy / "a1").mkdir(parents=True)
    nbformat.write(nb, str(shutil_copy / "a1" / "nb.ipynb"))
    (tmp_path / "locale" / LANG).mkdir(parents=True)
    (tmp_path / "locale" / LANG / "GLOSSARY.md").write_text((ROOT / "locale" / LANG / "GLOSSARY.md").read_text())
    (tmp_path / "locale" / LANG / "LC_MESSAGES").mkdir()
    messages = ROOT / "locale" / LANG / "LC_MESSAGES" / "gradlab.po"
    (tmp_path / "locale" / LANG / "LC_MESSAGES" / "gradlab.po").write_text(messages.read_text(encoding="utf-8"), encoding="utf-8")

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "autograder.i18n", *args, "--locale-dir", str(tmp_path / "locale"),
                               "--source", str(tmp_path / "solutions"), "--release", str(tmp_path / "course"),
                               "--out", str(tmp_path / "zh")], capture_output=True, text=True, cwd=ROOT, timeout=120)

    r = cli("extract")
    assert r.returncode == 0 and "5 new" in r.stdout, r.stdout + r.stderr
    r = cli("check")
    assert r.returncode == 1 and "untranslated" in r.stdout
    _translate_all(Path(i18n.catalog_path("a1", "nb", LANG, str(tmp_path / "locale"))))
    r = cli("check")
    assert r.returncode == 0, r.stdout + r.stderr
    r = cli("build")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "zh" / "a1" / "nb.ipynb").read_text())["metadata"]["gradlab"]["lang"] == LANG



# --------------------------------------------------------------------------------------------
# gradlab's messages (gettext over locale/zh_CN/LC_MESSAGES/gradlab.po) and Chinese figures
@pytest.fixture
def chinese():
    from gradlab import i18n as gi
    gi.use(LANG)
    yield gi
    gi.use(None)


def test_message_catalog_is_complete():
    """Every ``_("...")`` of gradlab is in the catalog, translated, not fuzzy, with the same {fields}."""
    problems = i18n.message_problems(LANG)
    assert not problems, "locale/zh_CN/LC_MESSAGES/gradlab.po (python -m autograder.i18n messages, then translate):\n" \
        + "\n".join(problems)


def test_message_check_can_fail(tmp_path):
    (tmp_path / LANG / "LC_MESSAGES").mkdir(parents=True)
    po = i18n.new_catalog(LANG, "test")
    po.append(polib.POEntry(msgid="{where}: wrong value {detail}", msgstr="{where}：数值错误"))
    po.save(str(tmp_path / LANG / "LC_MESSAGES" / "gradlab.po"))
    found = i18n.message_problems(LANG, str(tmp_path))
    assert any(p.startswith("fields differ") for p in found) and any(p.startswith("not in the catalog") for p in found)


def test_visible_check_message_in_chinese(chinese):
    import torch

    from gradlab.checks import check_elementwise, forbid
    with pytest.raises(AssertionError) as wrong:
        check_elementwise(lambda z: 2 * torch.sigmoid(z), torch.sigmoid, name="sigmoid", grad=False)
    assert "数值错误" in str(wrong.value) and "得到" in str(wrong.value)
    with pytest.raises(AssertionError, match="调用了 torch.sigmoid：本练习要求只用基本的张量运算自己实现"):
        with forbid("torch.sigmoid"):
            torch.sigmoid(torch.ones(1))
    chinese.use("en")
    with pytest.raises(AssertionError, match="wrong value at z"):
        check_elementwise(lambda z: 2 * torch.sigmoid(z), torch.sigmoid, name="sigmoid", grad=False)


@pytest.mark.parametrize("env, expected", [
    ({"GRADLAB_LANG": "zh_CN"}, "zh_CN"),
    ({"LANG": "zh_CN.UTF-8"}, "en"),   # the desktop's locale does not translate the English course
    ({"GRADLAB_LANG": "zh_CN.UTF-8"}, "zh_CN"),
    ({"LANG": "en_US.UTF-8"}, "en"),
    ({"LANG": "C.UTF-8", "NOTEBOOK": "zh"}, "zh_CN"),   # the notebook's own metadata (JPY_SESSION_NAME)
    ({"GRADLAB_LANG": "en", "NOTEBOOK": "zh"}, "en"),
])
def test_language_choice(env, expected, monkeypatch, tmp_path):
    from gradlab import i18n as gi
    for var in ("GRADLAB_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG", "JPY_SESSION_NAME"):
        monkeypatch.delenv(var, raising=False)
    for k, v in env.items():
        if k == "NOTEBOOK":
            nb = new_notebook(metadata={"gradlab": {"lang": LANG}})
            nbformat.write(nb, str(tmp_path / "n.ipynb"))
            monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / "n.ipynb"))
        else:
            monkeypatch.setenv(k, v)
    assert gi.language() == expected


def test_chinese_figure_has_no_missing_glyphs(tmp_path):
    """A gradlab figure in Chinese renders every glyph (Noto Sans CJK, installed by .ci/run) and is saved
    for a look (artifacts/figures/zh_sigmoid.png)."""
    from gradlab import i18n as gi
    if gi.cjk_font_file() is None:
        msg = "no Noto Sans CJK: apt-get install fonts-noto-cjk (as .ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(msg + " — required on CI")
        pytest.skip(msg)
    out = ROOT / "artifacts" / "figures"
    out.mkdir(parents=True, exist_ok=True)
    code = ("import warnings, matplotlib.pyplot as plt, torch\n"
            "warnings.simplefilter('error')\n"
            "import gradlab.plots as P\n"
            f"P.plot_sigmoid_saturation(); plt.savefig(r'{out / 'zh_sigmoid.png'}', dpi=70)\n"
            f"P.plot_activations({{'relu': torch.relu}}); plt.savefig(r'{out / 'zh_activations.png'}', dpi=70)\n")
    env = dict(os.environ, GRADLAB_LANG=LANG, MPLBACKEND="Agg", MPLCONFIGDIR=str(tmp_path))  # a fresh font cache
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (out / "zh_sigmoid.png").stat().st_size > 10_000


def test_chinese_figure_check_can_fail(tmp_path):
    """Without the CJK font configured, the same figure warns about missing glyphs (the check above bites)."""
    code = ("import warnings, matplotlib.pyplot as plt\n"
            "warnings.simplefilter('error')\n"
            f"plt.title('激活函数'); plt.savefig(r'{tmp_path / 'x.png'}')\n")
    r = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, MPLBACKEND="Agg"),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "missing from font" in r.stderr


# --------------------------------------------------------------------------------------------
# make lab LANG=zh_CN
@pytest.mark.parametrize("lang, release, workspace, gradlab_lang", [
    ("zh_CN", "course.zh_CN", "workspace.zh_CN", "zh_CN"),
    ("zh_CN.UTF-8", "course.zh_CN", "workspace.zh_CN", "zh_CN"),
    ("en_US.UTF-8", "course", "workspace", "en"),
])
def test_make_lab_language(lang, release, workspace, gradlab_lang):
    """One variable picks the edition: the release copied, the workspace, gradlab's and JupyterLab's language."""
    r = subprocess.run(["make", "-n", "lab", f"LANG={lang}", "PYTHON=python3"], cwd=ROOT, capture_output=True,
                       text=True, timeout=60, env=dict(os.environ, LANG=lang))
    assert r.returncode == 0, r.stderr
    assert f"autograder.course workspace {release} {workspace}" in r.stdout, r.stdout
    assert f"lab-settings --lang {gradlab_lang} " in r.stdout and f"GRADLAB_LANG={gradlab_lang}" in r.stdout
    assert ("--LabApp.app_settings_dir=" in r.stdout) == (gradlab_lang != "en")


def test_lab_settings_set_the_interface_language(tmp_path):
    src = ROOT / "jupyter" / "lab" / "settings" / "overrides.json"
    out = i18n.lab_settings(str(src), str(tmp_path / "o.json"), LANG)
    assert out["@jupyterlab/translation-extension:plugin"] == {"locale": LANG}
    assert json.loads((tmp_path / "o.json").read_text())["@jupyterlab/apputils-extension:notification"]


# --------------------------------------------------------------------------------------------
# make class: the course language is one setting
def test_class_takes_the_course_language(tmp_path):
    from hub.classroom import ClassSettings, Ports, Roster
    r = subprocess.run(["make", "-n", "class", "COURSE_LANG=zh_CN", "PYTHON=python3"], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert "hub.classroom --lang zh_CN" in r.stdout, r.stdout + r.stderr
    settings = ClassSettings(str(tmp_path), "/bin", Roster.demo(), Ports(*range(1, len(Ports.__dataclass_fields__) + 1)),
                             "a", "b", lang=LANG)
    settings.save(tmp_path / "s.json")
    assert ClassSettings.load(tmp_path / "s.json").lang == LANG
    assert "GRADLAB_LANG" in (ROOT / "hub" / "jupyterhub_config.py").read_text()


@pytest.mark.slow
def test_translated_locked_markdown_passes_nbgrader_validate(tmp_path):
    """nbgrader's Validate (the student's button) checks locked cells' checksums: the build recomputes
    them for translated locked markdown, without which every such cell reads as tampered with."""
    from nbgrader import utils
    from nbgrader.validator import Validator

    meta = {"grade": False, "solution": False, "locked": True, "grade_id": "intro", "schema_version": 3, "task": False}
    nb = new_notebook(cells=[_md("intro", "# The title\n\nRepeat me.", nbgrader=dict(meta)),
                             new_code_cell("x = 1", id="code1")],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells[0].metadata.nbgrader["checksum"] = utils.compute_checksum(nb.cells[0])
    _, path = _extract(tmp_path, nb)
    _translate_all(path)
    zh = i18n.translate_notebook(nb, i18n.load_catalog(str(path)), LANG)
    assert zh.cells[0].source == "# 标题\n\n重复我。"
    nbformat.write(zh, str(tmp_path / "zh.ipynb"))
    stale = copy.deepcopy(zh)
    stale.cells[0].metadata.nbgrader["checksum"] = nb.cells[0].metadata.nbgrader["checksum"]
    nbformat.write(stale, str(tmp_path / "stale.ipynb"))
    assert Validator().validate(str(tmp_path / "zh.ipynb")) == {}
    assert Validator().validate(str(tmp_path / "stale.ipynb")).get("changed"), "the stale checksum should be reported"
