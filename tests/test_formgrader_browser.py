"""formgrader after grading, in a real browser: the submissions and their scores are there, and
equations render offline (MathJax from the Jupyter server, no CDN).

A temporary course (the loop test's: tiny course + a task with an equation) is released, three
students submit, the loop's grading step grades them; then JupyterLab is started at the course
root (formgrader needs the course inside the server root) and Chromium opens formgrader's
gradebook and one submission. Screenshots: artifacts/browser/formgrader_*.png.
"""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import pytest
from conftest import require
from coursekit import ROOT

import browser_utils as bu
from grading import tiny_course as T
from tests.test_instructor_loop import _source_with_task, _submission, autograder, grade_step

STUDENTS = {"full": "5", "partial": "1", "blank": "0"}  # autograded points out of 8 (5 tests, 1 answer, 2 task)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    require("chromium", None if bu.chromium_path() else "no Chromium at /usr/bin/chromium")
    course = tmp_path_factory.mktemp("fg") / "course"
    _source_with_task(course)
    autograder("release", "--course", str(course))
    for student in STUDENTS:
        dest = course / "submitted" / student / "a1"
        dest.mkdir(parents=True)
        nbformat.write(_submission(course, student), dest / "ps1.ipynb")
    grade_step(course, "a1")
    # what an instructor has at the repository root: a config naming this course
    (course / "nbgrader_config.py").write_text(
        f"load_subconfig({str(ROOT / 'autograder' / 'nbgrader_config.py')!r})  # noqa: F821\n"
        f"get_config().CourseDirectory.root = {str(course)!r}  # noqa: F821\n")
    return course


@pytest.fixture(scope="module")
def shots(artifacts_dir):
    path = artifacts_dir / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_formgrader_shows_graded_submissions(graded_course, tmp_path_factory, shots):
    scratch = tmp_path_factory.mktemp("fg-lab")
    with bu.jupyter_lab(graded_course, scratch) as lab, bu.chromium(scratch) as browser:
        page = browser.new_page()
        outside = []  # every request that leaves the machine (a CDN would be one)
        page.on("request", lambda r: outside.append(r.url)
                if urlparse(r.url).hostname not in ("127.0.0.1", "localhost", None) and r.url.startswith("http")
                else None)

        # log in as an instructor does (the token in the form sets the cookie formgrader's API calls need)
        page.goto(f"{lab.url}/login?next=%2Fformgrader%2Fgradebook%2Fa1%2Fps1")
        page.fill("input[name=password]", lab.token)
        page.click("button[type=submit], input[type=submit]")
        page.wait_for_url("**/formgrader/**")
        page.wait_for_selector(f"text=Submission #{len(STUDENTS)}", timeout=60_000)
        page.click("text=Show All Names")
        page.wait_for_selector("text=partial", timeout=10_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(shots / "formgrader_gradebook.png"), full_page=True)
        text = page.inner_text("body")
        assert "course directory root is not a subdirectory" not in text
        for student, points in STUDENTS.items():
            row = next((line for line in text.splitlines() if f"\t{student}\t" in line), None)
            assert row is not None, f"{student} missing from formgrader:\n{text}"
            assert re.search(rf"\b{points}(\.0+)? / 8(\.0+)?\b", row), f"{student}: {row!r}"

        # one submission: the notebook with its equation typeset by a local MathJax
        subs = lab.api("/formgrader/api/submitted_notebooks/a1/ps1")
        sub_id = next(s["id"] for s in subs if s["student"] == "partial")
        page.goto(f"{lab.url}/formgrader/submissions/{sub_id}/")
        page.wait_for_selector(".MathJax", timeout=60_000)  # the task's equation, typeset
        page.wait_for_timeout(500)
        page.screenshot(path=str(shots / "formgrader_submission.png"), full_page=True)
        assert page.evaluate("() => !!(window.MathJax && window.MathJax.Hub)"), "MathJax 2 not loaded"
        assert not outside, f"formgrader fetched from outside the machine: {outside[:5]}"

        # the buttons that would grade outside the sandbox are not offered; the page says what to run
        page.goto(f"{lab.url}/formgrader/manage_submissions/a1")
        page.wait_for_selector("td.student-id:has-text('partial')", timeout=60_000)
        page.wait_for_timeout(300)
        page.screenshot(path=str(shots / "formgrader_manage_submissions.png"), full_page=True)
        _offers_only_sandboxed_grading(page, hidden=(".autograde", ".generate-feedback"))
        assert page.locator(".release-feedback a").first.is_visible(), "Release Feedback must stay"
        page.goto(f"{lab.url}/formgrader/manage_assignments")
        page.wait_for_selector("td.name:has-text('a1')", timeout=60_000)
        page.wait_for_timeout(300)
        page.screenshot(path=str(shots / "formgrader_manage_assignments.png"), full_page=True)
        _offers_only_sandboxed_grading(page, hidden=(".generate-feedback",))
        page.close()


def _offers_only_sandboxed_grading(page, hidden: tuple[str, ...]) -> None:
    """None of ``hidden`` (formgrader's unsandboxed Autograde / Generate Feedback) is visible, and
    the note naming ``python -m autograder grade`` is."""
    for selector in hidden:
        shown = [i for i in range(page.locator(selector).count()) if page.locator(selector).nth(i).is_visible()]
        assert not shown, f"{selector}: {len(shown)} visible on {page.url}"
    note = page.locator(".gradlab-grade-here")
    assert note.is_visible() and "python -m autograder grade" in note.inner_text(), page.url


# --------------------------------------------------------------------------------------------
# a hostile submission's payloads never run in the instructor's formgrader
PWN = "window.__pwned = (window.__pwned || 0) + 1; document.title = String.fromCharCode(80, 87, 78, 69, 68)"


def _xss_submission(course: Path) -> nbformat.NotebookNode:
    """A full submission carrying script three ways: an ``text/html`` output with ``<img onerror>``, a
    forged ``application/javascript`` output, and HTML (plus a ``javascript:`` link) in the written answer."""
    from nbformat.v4 import new_code_cell, new_output

    nb = _submission(course, "full")
    nb.cells[T.cell_index(nb, "explain")].source = (
        f'Overflow. <img src="x" onerror="{PWN}"> <script>{PWN}</script> '
        f'<svg><script>{PWN}</script></svg> [more](javascript:{PWN.split(";")[0]}) $e^{{-z}} > 1$')
    cell = new_code_cell(f"from IPython.display import display, HTML\ndisplay(HTML('<img src=x onerror=\"{PWN}\">'))")
    # a forged output, as if the kernel had produced it (autograde re-runs the cell; the grader keeps
    # only what the sandbox's run produced, but the submitted notebook carries it too)
    cell.outputs = [new_output("display_data", data={"application/javascript": PWN, "text/plain": "js"}),
                    new_output("display_data", data={"text/html": f'<img src="y" onerror="{PWN}">'})]
    nb.cells.insert(T.cell_index(nb, "imports") + 1, cell)
    js = new_code_cell(f"display({{'application/javascript': \"{PWN}\", 'text/plain': 'js'}}, raw=True)")
    nb.cells.insert(T.cell_index(nb, "imports") + 2, js)
    return nb


@pytest.fixture(scope="module")
def xss_course(tmp_path_factory):
    require("chromium", None if bu.chromium_path() else "no Chromium at /usr/bin/chromium")
    course = tmp_path_factory.mktemp("fg-xss") / "course"
    _source_with_task(course)
    autograder("release", "--course", str(course))
    dest = course / "submitted" / "mallory" / "a1"
    dest.mkdir(parents=True)
    nbformat.write(_xss_submission(course), dest / "ps1.ipynb")
    grade_step(course, "a1")
    (course / "nbgrader_config.py").write_text(
        f"load_subconfig({str(ROOT / 'autograder' / 'nbgrader_config.py')!r})  # noqa: F821\n"
        f"get_config().CourseDirectory.root = {str(course)!r}  # noqa: F821\n")
    return course


def test_student_script_never_runs_in_formgrader(xss_course, tmp_path_factory, shots):
    scratch = tmp_path_factory.mktemp("fg-xss-lab")
    import json

    from grading.hostile_host import rendered_parts
    shown = rendered_parts(json.loads((xss_course / "autograded" / "mallory" / "a1" / "ps1.ipynb").read_text()))
    assert "onerror" not in shown and "application/javascript" not in shown
    with bu.jupyter_lab(xss_course, scratch) as lab, bu.chromium(scratch) as browser:
        page = browser.new_page()
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(f"{lab.url}/login?next=%2Fformgrader%2Fgradebook%2Fa1%2Fps1")
        page.fill("input[name=password]", lab.token)
        page.click("button[type=submit], input[type=submit]")
        page.wait_for_url("**/formgrader/**")
        subs = lab.api("/formgrader/api/submitted_notebooks/a1/ps1")
        sub_id = next(s["id"] for s in subs if s["student"] == "mallory")
        page.goto(f"{lab.url}/formgrader/submissions/{sub_id}/")
        page.wait_for_selector("text=Overflow", timeout=60_000)   # the written answer is shown, as text
        page.wait_for_timeout(2000)                                # time for any onerror/onload to fire
        page.screenshot(path=str(shots / "formgrader_xss.png"), full_page=True)
        frames = [page] + [f for f in page.frames if f != page.main_frame]
        pwned = [f.evaluate("() => window.__pwned || 0") for f in frames]
        assert pwned == [0] * len(frames) and page.title() != "PWNED" and not dialogs, (pwned, page.title(), dialogs)
        page.close()
