"""The course in a real browser: JupyterLab + headless Chromium (Debian's) driven by Playwright.

For the first notebook of each assignment in ``course/`` (served from a scratch copy, so that
autosave and Run All never write into the repository): open it with ``?reset``, wait for the
kernel to be idle, Run All, and check that

* nbgrader's *Validate* button is in the notebook toolbar (and its server extension answers),
* the ipywidgets explorer renders a figure above the first exercise,
* changing one of its controls redraws the figure (the ``<img>`` changes),
* every code cell above the first exercise ran, and none raised (read from the notebook as
  JupyterLab saves it, where an error is an ``error`` output, not just red text).

A screenshot per notebook goes to ``artifacts/browser/``. The ``_selftest`` notebooks at the end
prove each check can fail: a widget without a figure, a figure that ignores its control, a
cell that raises before the first exercise.
"""
from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import nbformat
import pytest
from conftest import require
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import browser_utils as bu
import nbcheck
from nbcheck import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

FIRST = nbcheck.first_notebooks("course")
SELFTEST = "_selftest"


def _chromium_or_skip():
    require("chromium", None if bu.chromium_path() else
            "no Chromium (/usr/bin/chromium): apt-get install chromium fonts-dejavu-core, as .ci/run does")


# --------------------------------------------------------------------------------------------
# self-test notebooks: small, torch-free explorers that are broken on purpose
_SETUP = "%matplotlib inline\nimport matplotlib.pyplot as plt\nimport ipywidgets as W\nfrom IPython.display import display"
_EXPLORER = textwrap.dedent("""\
    def explorer(redraws=True, draws=True):
        pick = W.Dropdown(options=["a", "b", "c"], value="a", description="pick")
        out = W.Output(layout={"min_height": "200px"})
        def redraw(*_):
            if not draws:
                return
            fig, ax = plt.subplots(figsize=(4, 2))
            ax.plot([0, 1, 2], [0, "abc".index(pick.value) + 1, 0]); ax.set_title(pick.value)
            with out:
                out.clear_output(wait=True); display(fig)
            plt.close(fig)
        if redraws:
            pick.observe(redraw, names="value")
        redraw()
        return W.VBox([pick, out])
    """)


def _selftest_notebook(explorer_call: str, before_exercise: str = "x = 1"):
    meta = lambda gid, **kw: {"nbgrader": {"grade": False, "solution": False, "locked": True, "grade_id": gid,
                                           "schema_version": 3, "task": False, **kw}}
    return new_notebook(cells=[
        new_markdown_cell("# self-test", metadata=meta("title")),
        new_code_cell(_SETUP + "\n" + _EXPLORER, metadata=meta("setup")),
        new_code_cell(explorer_call, metadata=meta("explorer")),
        new_code_cell(before_exercise, metadata=meta("before")),
        new_code_cell("def f():\n    # YOUR CODE HERE\n    raise NotImplementedError(\"replace this line with your solution\")",
                      metadata=meta("f", solution=True, locked=False)),
        new_code_cell("f()", metadata=meta("test_f", grade=True, points=1)),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}})


SELFTESTS = {
    "working": _selftest_notebook("explorer()"),
    "no_figure": _selftest_notebook("explorer(draws=False)"),
    "static_figure": _selftest_notebook("explorer(redraws=False)"),
    "error_first": _selftest_notebook("explorer()", before_exercise="x = 1\nraise RuntimeError('broken setup')"),
}


# --------------------------------------------------------------------------------------------
# fixtures: one JupyterLab and one Chromium for the module
@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    _chromium_or_skip()
    scratch = tmp_path_factory.mktemp("lab")
    root = scratch / "course"
    if (ROOT / "course").is_dir():
        shutil.copytree(ROOT / "course", root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    (root / SELFTEST).mkdir(parents=True)
    for name, nb in SELFTESTS.items():
        nbformat.write(nb, str(root / SELFTEST / f"{name}.ipynb"))
    with bu.jupyter_lab(root, scratch) as server:
        yield server


@pytest.fixture(scope="module")
def browser(lab, tmp_path_factory):
    with bu.chromium(tmp_path_factory.mktemp("chromium")) as context:
        yield context


@pytest.fixture
def page(browser, lab):
    p = browser.new_page()
    yield p
    p.close()
    lab.shutdown_kernels()


@pytest.fixture(scope="module")
def shots(artifacts_dir):
    path = artifacts_dir / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_notebook(page, lab, rel: str, shot: Path | None, redraw_timeout: float = 60) -> list[str]:
    """Everything the issue asks of a first notebook, as a list of problems (empty = fine)."""
    problems = []
    stop = nbcheck.first_exercise_index(nbcheck.read(lab.root / rel))
    if stop is None:
        return [f"{rel} has no exercise (no solution cell)"]
    try:
        bu.open_notebook(page, lab, rel)
        if not page.query_selector(bu.VALIDATE_BUTTON):
            problems.append("nbgrader's Validate button is not in the notebook toolbar")
        bu.run_all(page)

        widgets = [w for w in page.query_selector_all(f"{bu.CELL} {bu.WIDGET}") if bu.cell_index(w) < stop]
        explorer = next((w for w in widgets if w.query_selector(bu.FIGURE)), None)
        if explorer is None:
            problems.append(f"no ipywidgets explorer with a figure above the first exercise (cell {stop}); "
                            f"{len(widgets)} widget(s) rendered there without an <img>")
        else:
            explorer.scroll_into_view_if_needed()
            old = bu.figure_src(explorer)
            action = bu.change_a_control(page, explorer)
            if bu.wait_for_new_figure(explorer, old, redraw_timeout) is None:
                problems.append(f"the explorer's figure did not change after {action}")
        if shot:
            page.wait_for_timeout(300)
            page.screenshot(path=str(shot))

        bu.save(page, lab, rel)
        saved = nbcheck.read(lab.root / rel)
        problems += [f"error above the first exercise: {e}" for e in nbcheck.errors_before(saved, stop)]
        not_run = [i for i, c in enumerate(saved.cells[:stop]) if c.cell_type == "code" and c.execution_count is None]
        if not_run:
            problems.append(f"Run All did not execute code cells {not_run} above the first exercise (cell {stop})")
    except Exception as e:  # a timeout or a missing element: report it with a picture
        problems.append(f"{type(e).__name__}: {e}")
        if shot:
            page.screenshot(path=str(shot.with_name(shot.stem + "-FAILED.png")))
    return problems


# --------------------------------------------------------------------------------------------
def test_lab_serves_nbgrader_validate(lab):
    """The Validate button first asks the validate_assignment server extension for its version."""
    import nbgrader

    reply = lab.api(f"/nbgrader_version?version={nbgrader.__version__}")
    assert reply.get("success") is True, f"nbgrader's validate_assignment server extension: {reply}\n{lab.log_tail()}"


def test_validate_button_validates(lab, page, shots):
    """Pressing Validate runs nbgrader's validation through the server extension and reports the
    stub's failing test, as a student would see it."""
    bu.open_notebook(page, lab, f"{SELFTEST}/working.ipynb")
    page.click(bu.VALIDATE_BUTTON)
    dialog = page.wait_for_selector(".jp-Dialog", timeout=120_000)
    text = dialog.inner_text()
    page.screenshot(path=str(shots / f"{SELFTEST}__validate.png"))
    assert "Validation Results" in text and "NotImplementedError" in text, text


@pytest.mark.parametrize("path", [pytest.param(p, id=str(p.relative_to(ROOT))) for p in FIRST] or [
    pytest.param(None, id="none", marks=pytest.mark.skip(reason="no course/*/*.ipynb yet: nothing to open"))])
def test_first_notebook_in_jupyterlab(path, lab, page, shots):
    rel = str(path.relative_to(ROOT / "course"))
    shot = shots / (rel.replace("/", "__").removesuffix(".ipynb") + ".png")
    problems = check_notebook(page, lab, rel, shot)
    assert not problems, f"{rel} in JupyterLab (screenshot: {shot}):\n  - " + "\n  - ".join(problems) \
        + f"\n--- JupyterLab log tail ---\n{lab.log_tail(1500)}"


@pytest.mark.parametrize("name, expected", [
    ("working", None),
    ("no_figure", "no ipywidgets explorer with a figure"),
    ("static_figure", "figure did not change"),
    ("error_first", "RuntimeError: broken setup"),
])
def test_browser_checks_can_fail(name, expected, lab, page, shots):
    problems = check_notebook(page, lab, f"{SELFTEST}/{name}.ipynb", shots / f"{SELFTEST}__{name}.png",
                              redraw_timeout=10)
    if expected is None:
        assert problems == []
    else:
        assert len(problems) == 1 and expected in problems[0], problems
