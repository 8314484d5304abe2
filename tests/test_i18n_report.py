"""The class report in Chinese: its fixed text and its figures' labels through gradlab's catalog,
the figures drawn with the CJK font (no missing glyph), the language the class's by default."""
from __future__ import annotations

import os
import re
import warnings

import nbformat
import pytest

from autograder import i18n, report, report_figures
from autograder.report import AssignmentStat, CellStat, ClassReport, Incident, PendingAnswer


def _report() -> ClassReport:
    return ClassReport(
        generated="2026-12-06 15:00", gradebook="sqlite:///gradebook.db",
        assignments=[AssignmentStat("01_vanishing_gradients", 10.0, 4, 3, [4.0, 7.5, 10.0], 7.17, 7.5)],
        cells=[CellStat("01_vanishing_gradients", "01_sigmoid", "test_sigmoid", "test", 2.0, 3, 1, 1 / 3, 2.0, 0,
                        [("sigmoid (float32, cpu)：返回了 list，应返回 Tensor", 2)]),
               CellStat("01_vanishing_gradients", "01_sigmoid", "explain_overflow", "answer", 1.0, 3, 2, 2 / 3, 1.0, 1)],
        pending=[PendingAnswer("ann", "01_vanishing_gradients", "01_sigmoid", "explain_overflow", 1.0)],
        incidents=[Incident("bob", "01_vanishing_gradients", "late", "2 h")])


ENGLISH_FIXED = ("Class report", "Written answers still to grade", "cell (grade_id)", "commonest failures",
                 "students submitted", "Late and error rows", "Pass rate: the share")


def test_report_page_in_chinese():
    rep, figures = _report(), {"hist:01_vanishing_gradients": "h.png", "cells:01_vanishing_gradients": "c.png"}
    zh = report.render(rep, figures, "zh_CN")
    en = report.render(rep, figures, "en")
    assert "<html lang='zh-CN'>" in zh and "<title>班级报告</title>" in zh
    for text in ("班级报告", "4 名学生中 3 人已提交", "平均分 7.17", "待评分的书面回答（1）", "迟交与出错的记录（1）",
                 "<th>单元格（grade_id）</th>", "<td>测试</td>", "<td>书面回答</td>", "1 份待评分",
                 'alt="01_vanishing_gradients 的分数分布"'):
        assert text in zh, text
    leftover = [s for s in ENGLISH_FIXED if s in zh]
    assert not leftover, leftover
    for s in ENGLISH_FIXED:
        assert s in en, s
    assert "<html lang='en'>" in en and "班级报告" not in en
    # the data is the class's, never translated: grade ids, names, the students' own messages
    assert "sigmoid (float32, cpu)：返回了 list，应返回 Tensor" in zh and "test_sigmoid" in zh and "ann" in zh


def test_report_figures_draw_chinese_without_missing_glyphs(tmp_path):
    from gradlab.i18n import cjk_font_file

    if cjk_font_file() is None:
        if os.environ.get("CI"):
            pytest.fail("no CJK font on CI: the Chinese figures would show empty boxes")
        pytest.skip("no CJK font installed (apt-get install fonts-noto-cjk)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        files = report_figures.draw(_report(), str(tmp_path / "zh"), "zh_CN")
        report_figures.draw(_report(), str(tmp_path / "en"), "en")
    missing = [str(w.message) for w in caught if "missing from" in str(w.message) or "Glyph" in str(w.message)]
    assert not missing, missing
    assert set(files) == {"hist:01_vanishing_gradients", "cells:01_vanishing_gradients"}
    for name in files.values():   # the labels differ: the Chinese figure is not the English one
        zh, en = (tmp_path / "zh" / name).read_bytes(), (tmp_path / "en" / name).read_bytes()
        assert zh[:8] == b"\x89PNG\r\n\x1a\n" and zh != en
    # the English figures were drawn without the CJK settings leaking out of the Chinese ones
    import matplotlib
    assert "Noto Sans CJK SC" not in matplotlib.rcParams["font.family"]
    shots = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "artifacts", "report")
    os.makedirs(shots, exist_ok=True)
    for name in files.values():
        (tmp_path / "zh" / name).replace(os.path.join(shots, "zh_CN__" + name))


def test_every_report_string_is_in_the_catalog():
    """What the report asks the catalog for is extracted (and translated: ``autograder.i18n check``)."""
    ids = set(i18n.message_ids())
    used = set()
    for path in i18n.REPORT_SOURCES:
        with open(path, encoding="utf-8") as f:
            used |= set(re.findall(r'\b_\("((?:[^"\\]|\\.)*)"\)', f.read()))
    assert used and used <= ids
    assert not [p for p in i18n.message_problems() if any(u in p for u in used)]


def _autograded(root, student, lang):
    folder = root / student / "a1"
    folder.mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    if lang:
        nb.metadata["gradlab"] = {"lang": lang}
    nbformat.write(nb, str(folder / "ps1.ipynb"))


@pytest.mark.parametrize("langs, expected", [(["zh_CN", "zh_CN", None], "zh_CN"), (["zh_CN", None, None], "en"),
                                             (["zh_CN", None], "en"), (["<i>zh</i>", "<i>zh</i>"], "en"), ([], "en")])
def test_class_language_is_the_majority_of_the_submissions(tmp_path, langs, expected):
    for k, lang in enumerate(langs):
        _autograded(tmp_path, f"s{k}", lang)
    assert report.class_language(str(tmp_path)) == expected
