"""The course as a static book (``make book``, ``book/``).

The browser, rebuild and instructor tests build a tiny fixture course (two assignments, one small
notebook each: an equation, a figure, an exercise with hidden tests, a written answer with a mark
scheme) into a scratch folder (marked ``slow``: ≈ 25 s of CPU in all); ``make book`` builds the real course. The
real notebooks are checked without running them: the student edition's sources are exactly
``course/``'s and pass the leak checks.
"""
from __future__ import annotations

import re
import resource
import sys
import time
from pathlib import Path

import nbformat
import pytest
from coursekit import ROOT, cell, notebook, tiny_course

if str(ROOT) not in sys.path:  # `book` and `tests` are imported from the checkout (plain `pytest` too)
    sys.path.insert(0, str(ROOT))

from conftest import require  # noqa: E402

from book import browse, editions  # noqa: E402
from book.build import BookError, build, page_notebook  # noqa: E402
from tests import nbcheck  # noqa: E402

pytestmark = [pytest.mark.book, pytest.mark.timeout(300)]

SOLUTION_LINE = "return 2 * x  # the doubling solution"
HIDDEN_LINE = "assert double(21) == 42, 'hidden: twenty-one'"
MARK_LINE = "Full marks for naming the doubling."


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children (Sphinx, kernels)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def fixture_notebook(n: int, title: str) -> nbformat.NotebookNode:
    """A small course notebook with every kind of cell the book treats differently."""
    return notebook([
        cell(f"# Assignment {n} · {title}\n\nIntro.\n\n**You will learn**\n"
             f"- why Xavier initialization keeps $\\mathrm{{Var}}(y)$ stable;\n- to double a number.\n\n"
             "**Points:** 2 autograded + 1 manually graded = 3", "title", markdown=True),
        cell("%matplotlib inline\nimport matplotlib.pyplot as plt", "setup"),
        cell("## The Xavier variance\n\n$$\\mathrm{Var}(w) = \\frac{2}{n_\\text{in} + n_\\text{out}}$$\n\n"
             "and inline $\\sigma(z) = 1/(1+e^{-z})$. Display math inside a paragraph,\n"
             "$$\ne^{-z} = \\frac{\\varepsilon}{1-\\varepsilon}\n$$\nwhich is $\\ln 99$ here.",
             "derivation", markdown=True),
        cell("fig, ax = plt.subplots(figsize=(4, 3))\nax.plot([0, 1, 2], [0, 1, 4])\nplt.show()", "figure"),
        cell(f"def double(x):\n    ### BEGIN SOLUTION\n    {SOLUTION_LINE}\n    ### END SOLUTION", "double",
             solution=True),
        cell(f"assert double(2) == 4, 'double(2) should be 4'\n### BEGIN HIDDEN TESTS\n{HIDDEN_LINE}\n"
             "print('hidden tests passed')\n### END HIDDEN TESTS", "test_double", grade=True, points=2),
        cell("print('experiment: double(5) =', double(5))", "experiment"),
        cell("Explain doubling.", "question", markdown=True),
        cell(f"=== BEGIN MARK SCHEME ===\n{MARK_LINE}\n=== END MARK SCHEME ===\n\n"
             "It multiplies by two, as the model answer says.", "answer", markdown=True, grade=True, solution=True,
             points=1),
    ])


def make_course(root: Path, notebooks=None) -> Path:
    """A checkout-like folder: the course's nbgrader config and ``solutions/`` with fixture notebooks."""
    notebooks = notebooks or {"01_alpha/01_first.ipynb": fixture_notebook(1, "First"),
                              "02_beta/01_second.ipynb": fixture_notebook(2, "Second")}
    tiny_course(root, {f"solutions/{rel}": nb for rel, nb in notebooks.items()}, config=True)
    return root


ZH_TITLE = "# 作业 1 · 第一个笔记本"
ZH_PROSE = "梯度消失（vanishing gradients）让深层网络很难训练：Xavier 初始化让方差保持稳定。"


def add_fixture_catalog(root: Path) -> None:
    """A Chinese catalog for the first fixture notebook: its title and one prose block translated."""
    from autograder import i18n
    i18n.extract(str(root / "solutions"), str(root / "locale"), "zh_CN", ["01_alpha"])
    path = Path(i18n.catalog_path("01_alpha", "01_first", "zh_CN", str(root / "locale")))
    po = i18n.load_catalog(str(path))
    for e in po:
        if e.msgid.startswith("# Assignment 1"):
            e.msgstr = ZH_TITLE
        elif e.msgid == "Intro.":
            e.msgstr = ZH_PROSE
    po.save(str(path))


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("course"))
    add_fixture_catalog(root)
    t = time.perf_counter()
    times = build(root, root / "build" / "book")
    return root, root / "build" / "book", time.perf_counter() - t, times


# --------------------------------------------------------------------------------------------
# the real course, without running it
@pytest.mark.parametrize("path", [pytest.param(p, id=f"{p.parent.name}/{p.name}")
                                  for p in nbcheck.notebooks("solutions", ROOT)])
def test_student_page_of_real_notebook_is_the_release_and_leaks_nothing(path):
    source = nbcheck.read(path)
    page = page_notebook("student", source, source, ROOT, path)
    course = ROOT / "course" / path.parent.name / path.name
    if course.exists():
        assert [nbcheck._src(c) for c in page.cells] == [nbcheck._src(c) for c in nbcheck.read(course).cells]
    assert editions.student_leak_problems(page, source, path.name) == []
    assert not any(c.get("outputs") for c in page.cells if c.cell_type == "code" and nbcheck.is_grade(c))


# --------------------------------------------------------------------------------------------
# the leak checks can fail (negative self-tests)
@pytest.mark.slow
def test_leak_checks_catch_a_planted_solution_line_or_hidden_test(book):
    root, out, *_ = book
    source = nbcheck.read(root / "solutions/01_alpha/01_first.ipynb")
    clean = page_notebook("student", source, source, root, root / "solutions/01_alpha/01_first.ipynb")
    assert editions.student_leak_problems(clean, source, "clean") == []
    for where, plant in {
        "a markdown cell": lambda nb: nb.cells[2].__setitem__("source", nb.cells[2].source + "\n\n" + SOLUTION_LINE),
        "a code cell": lambda nb: nb.cells[6].__setitem__("source", HIDDEN_LINE),
        "an output": lambda nb: nb.cells[6].__setitem__("outputs", [nbformat.v4.new_output(
            "stream", name="stdout", text=MARK_LINE + "\n")]),
        "a delimiter": lambda nb: nb.cells[5].__setitem__("source", "### BEGIN HIDDEN TESTS\n"),
    }.items():
        planted = nbformat.from_dict(nbformat.reads(nbformat.writes(clean), 4))
        plant(planted)
        assert editions.student_leak_problems(planted, source, where), f"a leak in {where} went unnoticed"
    html = (out / "student/en/01_alpha/01_first.html").read_text()
    assert editions.html_leak_problems(html, source, "built page") == []
    for secret in (SOLUTION_LINE, HIDDEN_LINE, MARK_LINE):
        assert editions.html_leak_problems(html.replace("</article>", f"<pre>{secret}</pre></article>"),
                                           source, "planted"), secret


@pytest.mark.slow
def test_build_fails_when_the_student_edition_would_leak(tmp_path, monkeypatch):
    """End to end: a student page that kept the solutions (release step sabotaged) stops the build."""
    root = make_course(tmp_path, {"01_alpha/01_first.ipynb": fixture_notebook(1, "First")})
    monkeypatch.setattr(editions, "release_sources", lambda source, root: source)
    with pytest.raises(BookError, match="leak"):
        build(root, tmp_path / "out", edition_names=("student",))


@pytest.mark.slow
def test_build_fails_on_a_notebook_error(tmp_path):
    nb = fixture_notebook(1, "Broken")
    nb.cells.insert(2, cell("raise ValueError('broken on purpose')", "broken"))
    root = make_course(tmp_path, {"01_alpha/01_broken.ipynb": nb})
    with pytest.raises(RuntimeError, match="broken on purpose"):
        build(root, tmp_path / "out")


# --------------------------------------------------------------------------------------------
# the two editions
@pytest.mark.slow
def test_student_edition_shows_stubs_and_experiment_outputs_only(book):
    root, out, *_ = book
    html = (out / "student/en/01_alpha/01_first.html").read_text()
    text = editions.html_text(html)
    assert "replace this line with your solution" in text and "YOUR ANSWER HERE" in text
    assert "experiment: double(5) = 10" in text               # the experiment's printed result stays
    assert "hidden tests passed" not in text                  # no output of a test cell
    assert "double(2) should be 4" in text                    # the visible test's source is shown
    assert "make lab" in text and "course/01_alpha/01_first.ipynb" in text
    shipped = [p for p in (out / "student" / "en").rglob("*") if p.is_file() and (p.suffix == ".ipynb" or "_sources" in p.parts)]
    assert not shipped, f"the build ships page sources: {shipped}"


@pytest.mark.slow
def test_instructor_edition_shows_everything_with_hidden_tests_collapsed(book):
    root, out, *_ = book
    html = (out / "instructor/en/01_alpha/01_first.html").read_text()
    text = editions.html_text(html)
    for secret in (SOLUTION_LINE, HIDDEN_LINE, MARK_LINE, "hidden tests passed"):
        assert secret in text, secret
    details = re.search(r"<details[^>]*>(.*?)</details>", html, re.S)
    assert details and "Show hidden tests" in details.group(1) and "twenty-one" in details.group(1)
    assert "Mark scheme" in text and "solutions/01_alpha/01_first.ipynb" in text
    # the mark scheme's admonition sits inside the model answer's (nested fences), none left as text
    assert ":::" not in text and re.search(r"Model answer.*Mark scheme.*multiplies by two", text, re.S)


@pytest.mark.slow
def test_landing_page_has_the_learning_path(book):
    root, out, *_ = book
    text = editions.html_text((out / "student/en/index.html").read_text())
    assert "Problem 1: Vanishing and exploding gradients" in text
    assert "Problem 2: Training is slow with a large network" in text and "Problem 3: Overfitting" in text
    assert "Assignments 04, 05: not in this build yet." in text
    assert "01 · Alpha" in text and "02 · Beta" in text
    assert "Assignment 1 · First" in text and "to double a number." in text
    assert text.index("Assignment 1 · First") < text.index("Assignment 2 · Second")


@pytest.mark.slow
def test_prose_edit_rebuilds_without_executing(book, capsys):
    root, out, cold, _ = book
    path = root / "solutions/02_beta/01_second.ipynb"
    nb = nbcheck.read(path)
    nb.cells[2].source += "\n\nA sentence added after the build."
    nbformat.write(nb, str(path))
    capsys.readouterr()
    t, cpu = time.perf_counter(), _cpu_seconds()
    build(root, out)
    warm, warm_cpu = time.perf_counter() - t, _cpu_seconds() - cpu
    log = capsys.readouterr().out
    assert "executed" not in log and log.count("cached") == 2, log
    assert "A sentence added after the build." in (out / "student/en/02_beta/01_second.html").read_text()
    print(f"fixture book: cold {cold:.1f} s wall, warm after a prose edit {warm:.1f} s wall, {warm_cpu:.1f} s cpu")
    assert warm_cpu < 30  # CPU seconds: the wall clock of a shared machine says little


# --------------------------------------------------------------------------------------------
# in a browser, offline
@pytest.mark.browser
@pytest.mark.slow
def test_student_edition_in_an_offline_browser(book, tmp_path):
    require("chromium", None if Path(browse.CHROMIUM).exists() else f"no {browse.CHROMIUM}")
    root, out, *_ = book
    site = out / "student" / "en"
    pages = sorted(p.relative_to(site).as_posix() for p in site.glob("[0-9]*/*.html"))
    assert pages == ["01_alpha/01_first.html", "02_beta/01_second.html"]
    with browse.serve(site) as base, browse.offline_page() as (page, blocked):
        browse.open_page(page, f"{base}/index.html")
        links = page.locator("article a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
        assert all(any(l and l.startswith(p) for l in links) for p in pages), links
        for rel in pages:
            browse.open_page(page, f"{base}/{rel}")
            math = page.evaluate(browse.MATH_STATE)
            assert math["mathjax"] and math["rendered"] >= 3 and not math["raw_tex"], (rel, math)
            figures = page.evaluate(browse.FIGURES)
            assert figures and all(f["w"] > 0 and f["h"] > 0 for f in figures), (rel, figures)
            assert browse.page_problems(page, rel) == []
        # the page check can fail: raw TeX and a broken figure planted in the open page are reported
        page.evaluate("""() => { const a = document.querySelector('article');
            a.insertAdjacentHTML('beforeend', '<p>$$\\\\frac{1}{2}$$</p><img src="missing.png">'); }""")
        page.wait_for_timeout(200)
        planted = browse.page_problems(page, "planted")
        assert any("raw TeX" in p for p in planted) and any("did not load" in p for p in planted), planted
        results = browse.search(page, base, "Xavier")
        assert any("First" in r for r in results) and any("Second" in r for r in results), results
        # the test's own network guard works: a request to another host is blocked and recorded
        page.evaluate("() => fetch('https://example.org/x').catch(() => null)")
        assert blocked == ["https://example.org/x"], blocked


# --------------------------------------------------------------------------------------------
# the Chinese book: the same run, the prose from the catalogs, a language switcher, Chinese search
def _switch_links(html_file: Path) -> list[Path]:
    hrefs = re.findall(r'<a class="gradlab-lang"[^>]*href="([^"]+)"', html_file.read_text(encoding="utf-8"))
    return [(html_file.parent / h).resolve() for h in hrefs]


def test_both_languages_from_one_run(book):
    root, out, *_ = book
    for edition in ("student", "instructor"):
        en = out / edition / "en" / "01_alpha" / "01_first.html"
        zh = out / edition / "zh_CN" / "01_alpha" / "01_first.html"
        text_en, text_zh = (editions.html_text(p.read_text(encoding="utf-8")) for p in (en, zh))
        assert ZH_PROSE in text_zh and ZH_TITLE.lstrip("# ") in text_zh and ZH_PROSE not in text_en
        assert "experiment: double(5) = 10" in text_en and "experiment: double(5) = 10" in text_zh  # one run's outputs
        assert _switch_links(en) == [zh.resolve()] and _switch_links(zh) == [en.resolve()]
        index_zh = out / edition / "zh_CN" / "index.html"
        assert _switch_links(index_zh) == [(out / edition / "en" / "index.html").resolve()]
        assert "Intro." in (out / edition / "zh_CN" / "02_beta" / "01_second.html").read_text()  # no catalog: English
    landing_zh = (out / "student/zh_CN/index.html").read_text(encoding="utf-8")
    assert '<html lang="zh-CN"' in landing_zh
    assert "问题 1：梯度消失与梯度爆炸" in editions.html_text(landing_zh) and "作业 1 · 第一个笔记本" in landing_zh


def _search_terms(path: Path) -> set[str]:
    import json
    text = path.read_text(encoding="utf-8")
    return set(json.loads(text[text.index("(") + 1:text.rindex(")")])["terms"])


def test_chinese_search_index_holds_chinese_terms(book):
    _, out, *_ = book
    terms = _search_terms(out / "student/zh_CN/searchindex.js")
    assert {"梯度消失", "方差", "梯度"} <= terms
    assert "梯度消失" not in _search_terms(out / "student/en/searchindex.js")


@pytest.mark.browser
@pytest.mark.slow
def test_chinese_book_search_in_an_offline_browser(book):
    require("chromium", None if Path(browse.CHROMIUM).exists() else f"no {browse.CHROMIUM}")
    _, out, *_ = book
    site = out / "student"
    with browse.serve(site) as base, browse.offline_page() as (page, blocked):
        results = browse.search(page, f"{base}/zh_CN", "梯度消失")
        assert any("作业 1" in r for r in results), results
        browse.open_page(page, f"{base}/zh_CN/01_alpha/01_first.html")
        assert browse.page_problems(page, "zh_CN/01_alpha/01_first.html") == []
        shots = ROOT / "artifacts" / "browser"
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "zh_CN__book.png"), full_page=False)
        page.click('a.gradlab-lang[hreflang="en"]')
        page.wait_for_load_state("networkidle")
        assert page.url.endswith("/en/01_alpha/01_first.html"), page.url
        assert not blocked, blocked
