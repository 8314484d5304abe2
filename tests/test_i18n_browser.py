"""The Chinese edition in a real browser: a Chinese notebook in a Chinese JupyterLab (headless Chromium).

The notebook is the first one of ``course.zh_CN/`` rebuilt from a *fixture* catalog (a few
translated blocks; the real catalogs come from the translators), with the first exercise solved
and ``sigmoid`` solved wrongly on purpose (it calls the forbidden ``torch.sigmoid``). JupyterLab
gets the Chinese interface (``@jupyterlab/translation-extension`` locale ``zh_CN``, as ``make lab
LANG=zh_CN`` sets it) and no ``GRADLAB_LANG``: gradlab learns the language from the notebook's own
metadata. Run All stops at the sigmoid test, whose message must be gradlab's Chinese one.
Screenshots: ``artifacts/browser/zh_CN__*.png``.
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import nbformat
import pytest

import browser_utils as bu
import nbcheck
from autograder import course, i18n
from nbcheck import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

LANG = "zh_CN"
ASSIGNMENT, NOTEBOOK = "01_vanishing_gradients", "01_sigmoid_saturation"
REL = f"{ASSIGNMENT}/{NOTEBOOK}.ipynb"
FIXTURE = {  # (cell id, first words of the English block) -> Chinese
    ("title", "# Assignment 1"): "# 作业 1 · 笔记本 1 —— logistic 函数、饱和与不断缩小的梯度",
    ("helpers-intro", "## 4. Exercises"): "## 4. 练习",
}


def _chromium_or_skip():
    if bu.chromium_path():
        return
    msg = "no Chromium (/usr/bin/chromium): apt-get install chromium fonts-dejavu-core, as .ci/run does"
    if os.environ.get("CI"):
        pytest.fail(msg + " — required on CI")
    pytest.skip(msg)


def _zh_lab_messages() -> dict[str, str]:
    """JupyterLab's own Chinese strings (the pinned language pack), to find menus by their label."""
    import jupyterlab_language_pack_zh_CN as pack

    path = Path(pack.__file__).parent / "locale" / LANG / "LC_MESSAGES" / "jupyterlab.json"
    return {k: v[0] for k, v in json.loads(path.read_text(encoding="utf-8")).items() if isinstance(v, list) and v}


def _chinese_notebook(tmp: Path) -> Path:
    """course.zh_CN's first notebook from a fixture catalog, with exercise 1 solved and sigmoid wrong."""
    locale = tmp / "locale"
    i18n.extract(str(ROOT / "solutions"), str(locale), LANG, [ASSIGNMENT])
    path = Path(i18n.catalog_path(ASSIGNMENT, NOTEBOOK, LANG, str(locale)))
    po = i18n.load_catalog(str(path))
    for e in po:
        for (ctxt, start), zh in FIXTURE.items():
            if e.msgctxt == ctxt and e.msgid.startswith(start):
                e.msgstr = zh
    po.save(str(path))
    i18n.build(str(ROOT / "course"), str(tmp / "lab"), LANG, str(locale), [ASSIGNMENT])
    target = tmp / "lab" / REL
    nb = course.fill_solutions(nbcheck.read(target), nbcheck.read(ROOT / "solutions" / REL), which={"saturation_threshold"})
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "sigmoid":
            cell.source = "def sigmoid(z):\n    return torch.sigmoid(z)  # wrong on purpose: the forbidden built-in"
    nbformat.write(nb, str(target))
    return target


@pytest.fixture(scope="module")
def zh_lab(tmp_path_factory):
    _chromium_or_skip()
    scratch = tmp_path_factory.mktemp("zh-lab")
    _chinese_notebook(scratch)
    settings = scratch / "settings" / "@jupyterlab" / "translation-extension"
    settings.mkdir(parents=True)
    (settings / "plugin.jupyterlab-settings").write_text(json.dumps({"locale": LANG}))
    saved = {k: os.environ.pop(k, None) for k in ("GRADLAB_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES")}
    os.environ["LANG"], old_lang = "C.UTF-8", os.environ.get("LANG")
    try:
        with bu.jupyter_lab(scratch / "lab", scratch) as server:
            yield server
    finally:
        for k, v in {**saved, "LANG": old_lang}.items():
            if v is not None:
                os.environ[k] = v
            else:
                os.environ.pop(k, None)


def _run_all_zh(page, zh: dict[str, str], status: str, timeout: float = 300):
    """Run All from the Chinese menu, then wait until the kernel is idle and nothing is queued."""
    page.click(f'.lm-MenuBar-itemLabel:text-is("{zh["Run"]}")')
    page.click(f'.lm-Menu-itemLabel:text-is("{zh["Run All Cells"]}")')
    start, stable, last = time.monotonic(), 0, None
    while stable < 3:
        assert time.monotonic() - start < timeout, f"Run All did not finish within {timeout} s"
        time.sleep(0.5)
        prompts = tuple(page.eval_on_selector_all(f"{bu.CELL} .jp-InputPrompt", "els => els.map(e => e.textContent.trim())"))
        state = (page.inner_text(status).strip(), prompts)
        done = state[0].endswith(zh["Idle"]) and not any("*" in p for p in prompts) \
            and any(re.fullmatch(r"\[\d+\]:", p) for p in prompts)
        stable = stable + 1 if done and state == last else 0
        last = state


def test_chinese_notebook_in_chinese_jupyterlab(zh_lab, tmp_path, artifacts_dir):
    shots = artifacts_dir / "browser"
    shots.mkdir(parents=True, exist_ok=True)
    zh = _zh_lab_messages()
    status = '.jp-StatusBar-TextItem[title^="' + zh["Change kernel for %1"].split("%1")[0].strip() + '"]'
    with bu.chromium(tmp_path / "chromium") as context:
        page = context.new_page()
        try:
            page.goto(f"{zh_lab.url}/lab/tree/{REL}?reset&token={zh_lab.token}")
            page.wait_for_selector(bu.PANEL, timeout=120_000)
            page.wait_for_function("""([sel, idle]) => { const e = document.querySelector(sel);
                                       return e && e.textContent.trim().endsWith(idle); }""",
                                   arg=[status, zh["Idle"]], timeout=120_000)
            menus = page.eval_on_selector_all(".lm-MenuBar-itemLabel", "els => els.map(e => e.textContent.trim())")
            assert zh["Run"] in menus and "Run" not in menus, f"JupyterLab's menus are not in Chinese: {menus}"
            title = page.wait_for_selector(f'{bu.PANEL} h1:has-text("作业 1")', timeout=30_000)
            title.scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "zh_CN__notebook.png"))

            _run_all_zh(page, zh, status)
            error = page.wait_for_selector(f'{bu.CELL} .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]',
                                           timeout=30_000)
            error.scroll_into_view_if_needed()
            page.wait_for_timeout(300)
            page.screenshot(path=str(shots / "zh_CN__failed_exercise.png"))
            text = error.inner_text()
            assert "ForbiddenCallError" in text and "本练习要求只用基本的张量运算自己实现" in text, text[-2000:]
            figure = page.query_selector(f"{bu.CELL} {bu.FIGURE}")
            assert figure is not None, "the explorer drew no figure above the first exercise"
            figure.scroll_into_view_if_needed()
            page.wait_for_timeout(300)
            page.screenshot(path=str(shots / "zh_CN__figure.png"))
        finally:
            page.close()
            zh_lab.shutdown_kernels()
