"""The two editions of a page, both derived from ONE executed solution notebook.

- ``instructor(executed)``: everything — solutions, hidden tests (each in a collapsed toggle under
  its test cell, with the test cell's outputs), mark schemes and model answers (admonitions).
- ``student(executed, release)``: the release notebook's sources (``release_sources`` makes them
  in-process with the course's own nbgrader ClearSolutions / ClearHiddenTests / ClearMarkScheme
  config, exactly what ``make release`` writes to ``course/``), with the outputs of the executed
  solution notebook merged on cell by cell (grade_id and position must agree), except the outputs
  of solution and test cells.
- ``student_leak_problems``: the release leak checks of ``autograder.notebook`` applied to a student
  page's sources, its outputs and its rendered HTML text.
"""
from __future__ import annotations

import copy
import html
import re
from html.parser import HTMLParser
from pathlib import Path

import nbformat

from autograder import notebook
from autograder.course import Course

MARKERS = notebook.Markers()
#: what a widget output becomes in the book (a static page has no kernel to drive it)
WIDGET_NOTE = "*(Interactive explorer: run this notebook in JupyterLab — `make lab` — to use it.)*"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def _src(cell) -> str:
    return notebook.text(cell)


def _block_re(begin: str, end: str) -> re.Pattern:
    """A region as nbgrader finds it: the line holding ``begin`` through the line holding ``end``
    (group 1: the lines between)."""
    return re.compile(r"^[^\n]*" + re.escape(begin) + r"[^\n]*\n(.*?)^[^\n]*" + re.escape(end) + r"[^\n]*(?:\n|\Z)",
                      re.S | re.M)


# --------------------------------------------------------------------------------------------
# outputs every page gets
def static_outputs(nb):
    """Drop what a static page cannot show: widget views (replaced by a note), saved widget state."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outs = []
        for out in cell.get("outputs", []):
            if WIDGET_MIME in out.get("data", {}):
                out = nbformat.v4.new_output("display_data", data={"text/markdown": WIDGET_NOTE})
            outs.append(out)
        cell.outputs = outs
    return nb


# --------------------------------------------------------------------------------------------
# instructor edition
def _admonition(title: str, body: str, cls: str) -> str:
    """A MyST admonition around ``body``; its fence is one colon longer than any fence inside."""
    fence = ":" * max([3] + [len(f) + 1 for f in re.findall(r"^(:{3,})", body, re.M)])
    return f"{fence}{{admonition}} {title}\n:class: {cls}\n{body.strip()}\n{fence}\n"


def instructor(executed):
    """Everything shown; hidden tests collapsed under their test cell; mark schemes as admonitions."""
    nb = static_outputs(executed)
    cells = []
    for cell in nb.cells:
        src = _src(cell)
        if notebook.is_test(cell) and MARKERS.hidden[0] in src:
            hidden = "\n".join(m.group(0).strip() for m in _block_re(*MARKERS.hidden).finditer(src))
            visible = copy.deepcopy(cell)
            visible.source = _block_re(*MARKERS.hidden).sub("", src).rstrip()
            visible.outputs, visible.execution_count = [], None
            tests = nbformat.v4.new_code_cell(hidden)
            tests.outputs, tests.execution_count = cell.outputs, cell.execution_count
            tests.metadata = {"tags": ["hide-input"],
                              "mystnb": {"code_prompt_show": "Show hidden tests",
                                         "code_prompt_hide": "Hide hidden tests"}}
            cells += [visible, tests]
            continue
        if cell.cell_type == "markdown":
            src = _block_re(*MARKERS.scheme).sub(lambda m: _admonition("Mark scheme", m.group(1), "tip"), src)
            if notebook.is_solution(cell):
                if MARKERS.solution[0] in src:
                    src = _block_re(*MARKERS.solution).sub(lambda m: _admonition("Model answer", m.group(1), "tip"), src)
                else:  # nbgrader replaces the whole cell: all of it is the model answer
                    src = _admonition("Model answer", src, "tip")
            cell.source = src
        cells.append(cell)
    nb.cells = cells
    return nb


# --------------------------------------------------------------------------------------------
# student edition
def release_sources(source, root: Path):
    """The release notebook nbgrader makes of ``source``: its ClearSolutions (the course's stubs),
    ClearHiddenTests and ClearMarkScheme, with the course's config (what ``make release`` runs)."""
    from nbgrader.preprocessors import ClearHiddenTests, ClearMarkScheme, ClearSolutions

    cfg = Course.load(str(root)).config
    nb = copy.deepcopy(source)
    for pre in (ClearSolutions, ClearHiddenTests, ClearMarkScheme):
        nb, _ = pre(config=cfg).preprocess(nb, {})
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def _hides_output(cell) -> bool:
    return notebook.is_solution(cell) or notebook.is_grade(cell)


def student(executed, release):
    """Release sources + the executed solution notebook's outputs, except solution and test cells'."""
    executed = static_outputs(executed)
    if len(executed.cells) != len(release.cells):
        raise ValueError(f"the release has {len(release.cells)} cells, the solution notebook "
                         f"{len(executed.cells)}: they must match one to one")
    nb = copy.deepcopy(release)
    nb.metadata.pop("widgets", None)
    for i, (run, cell) in enumerate(zip(executed.cells, nb.cells)):
        if (run.cell_type, notebook.grade_id(run)) != (cell.cell_type, notebook.grade_id(cell)):
            raise ValueError(f"cell {i}: the release has {cell.cell_type} {notebook.grade_id(cell)!r}, "
                             f"the solution notebook {run.cell_type} {notebook.grade_id(run)!r}")
        if cell.cell_type == "code" and not _hides_output(run):
            cell.outputs, cell.execution_count = copy.deepcopy(run.outputs), run.execution_count
    return nb


# --------------------------------------------------------------------------------------------
# leak checks
def _output_text(out) -> str:
    parts = [out.get("text", "")] + [v if isinstance(v, str) else "\n".join(v) if isinstance(v, list) else ""
                                     for k, v in out.get("data", {}).items() if not k.startswith("image/")]
    parts += out.get("traceback", [])
    return "\n".join(p if isinstance(p, str) else "".join(p) for p in parts)


def text_leak_problems(text: str, source, where: str) -> list[str]:
    """Delimiters, or lines of a secret block (solution, hidden test, mark scheme, model answer) of
    ``source`` that are not also in its visible part, found in ``text`` (rule of release_leak_problems)."""
    problems = [f"{where} contains {d!r}" for d in notebook.delimiters(MARKERS) if d in text]
    return problems + notebook.leak_problems(text, source, where, MARKERS)


def student_leak_problems(page, source, name: str = "") -> list[str]:
    """The release leak checks on a student page's sources, then on its outputs."""
    problems = [f"{name}: {p}" for p in notebook.release_leak_problems(page, source, MARKERS)]
    outputs = "\n".join(_output_text(o) for c in page.cells if c.cell_type == "code" for o in c.get("outputs", []))
    problems += text_leak_problems(outputs, source, f"{name} outputs")
    return problems


class _Text(HTMLParser):
    """The text of an HTML page, line by line as a reader would copy it (scripts and styles left out)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("p", "div", "br", "li", "tr", "pre", "h1", "h2", "h3", "h4", "details", "summary"):
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def html_text(page: str) -> str:
    parser = _Text()
    parser.feed(page)
    return html.unescape("".join(parser.parts))


def html_leak_problems(page_html: str, source, where: str) -> list[str]:
    """The leak check on what a browser shows of a built page (its text, code blocks included)."""
    return text_leak_problems(html_text(page_html), source, where)
