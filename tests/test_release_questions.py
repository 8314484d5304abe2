"""Every written answer's question is visible in the release.

nbgrader replaces a manually graded answer cell (``grade`` and ``solution`` both true) by its stub:
a markdown cell without a ``### BEGIN SOLUTION`` region is replaced whole, so a question written in
the answer cell reaches the student as ``YOUR ANSWER HERE`` and nothing else. The rule
(docs/authoring.md): the question sits in its own **locked markdown cell right before** the answer
cell, and the release's answer cell holds **only the stub**.

The last tests run the rule on small notebooks of the broken shape: proof that it can fail.
"""
from __future__ import annotations

import re

import pytest
from nbformat.v4 import new_markdown_cell, new_notebook

import nbcheck
from nbcheck import ROOT

RELEASES = nbcheck.notebooks("course")
SOLUTIONS = nbcheck.notebooks("solutions")

#: what nbgrader leaves of an answer cell (autograder/nbgrader_config.py: ClearSolutions)
TEXT_STUB = "YOUR ANSWER HERE"
CODE_STUB = "# YOUR CODE HERE\n" + nbcheck.STUB_LINE
#: how a question cell announces itself ("**Written answer (2 points).**", "### Written question A …")
QUESTION = re.compile(r"written (answer|question)", re.IGNORECASE)


def is_written_answer(cell) -> bool:
    """A manually graded answer: graded and a solution (markdown, or a code cell graded by hand)."""
    return nbcheck.is_grade(cell) and nbcheck.is_solution(cell)


def is_question_cell(cell) -> bool:
    """A locked markdown cell that a student can read but not edit, and that states a question."""
    meta = nbcheck.nbg(cell)
    return (cell.cell_type == "markdown" and bool(meta.get("locked")) and not meta.get("solution")
            and not meta.get("grade") and bool(QUESTION.search(nbcheck._src(cell))))


def question_problems(nb, *, release: bool) -> list[str]:
    """Written-answer cells with no locked question cell right before them, and (release) answer
    cells that hold anything besides nbgrader's stub."""
    problems = []
    for i, cell in enumerate(nb.cells):
        if not is_written_answer(cell):
            continue
        label = nbcheck._label(i, cell)
        if i == 0 or not is_question_cell(nb.cells[i - 1]):
            before = nbcheck._label(i - 1, nb.cells[i - 1]) if i else "nothing"
            problems.append(f"{label}: the cell before it ({before}) is not a locked markdown cell stating "
                            "the question ('Written answer …'); write the question there")
        stub = CODE_STUB if cell.cell_type == "code" else TEXT_STUB
        if release and nbcheck._src(cell).strip() != stub:
            problems.append(f"{label}: the release's answer cell must hold only {stub!r}, found "
                            f"{nbcheck._src(cell).strip()[:80]!r}; move the text outside the answer "
                            "cell's solution region into the question cell")
    return problems


def _params(paths):
    return [pytest.param(p, id=str(p.relative_to(ROOT))) for p in paths] or [
        pytest.param(None, id="none", marks=pytest.mark.skip(reason="no notebooks yet"))]


@pytest.mark.parametrize("path", _params(RELEASES))
def test_release_shows_every_question(path):
    problems = question_problems(nbcheck.read(path), release=True)
    assert not problems, f"{path.relative_to(ROOT)}:\n  - " + "\n  - ".join(problems)


@pytest.mark.parametrize("path", _params(SOLUTIONS))
def test_source_puts_every_question_before_its_answer(path):
    problems = question_problems(nbcheck.read(path), release=False)
    assert not problems, f"{path.relative_to(ROOT)}:\n  - " + "\n  - ".join(problems)


@pytest.mark.parametrize("path", _params(RELEASES))
def test_every_source_answer_is_released_with_its_question(path):
    """Same written answers, in the same order, each after the same question text as in the source."""
    release, source = nbcheck.read(path), nbcheck.read(ROOT / "solutions" / path.parent.name / path.name)

    def questions(nb):
        return [(nbcheck.nbg(c)["grade_id"], nbcheck._src(nb.cells[i - 1]) if i else "")
                for i, c in enumerate(nb.cells) if is_written_answer(c)]

    assert questions(release) == questions(source), path.relative_to(ROOT)


# --------------------------------------------------------------------------------------------
# the rule can fail
def _meta(**kw):
    return {"nbgrader": {"schema_version": 3, "task": False, "grade": False, "solution": False,
                         "locked": True, **kw}}


def _answer(text, gid="answer_x"):
    return new_markdown_cell(text, metadata=_meta(grade=True, solution=True, locked=False, points=2,
                                                  grade_id=gid))


QUESTION_TEXT = "**Written answer (2 points).** Why?"


@pytest.mark.parametrize("cells, expected", [
    pytest.param([new_markdown_cell("intro", metadata=_meta(grade_id="i")), _answer(TEXT_STUB)],
                 "is not a locked markdown cell", id="question-inside-the-answer (05/01 before the fix)"),
    pytest.param([new_markdown_cell(QUESTION_TEXT, metadata=_meta(grade_id="q", locked=False)), _answer(TEXT_STUB)],
                 "is not a locked markdown cell", id="question-cell-unlocked"),
    pytest.param([new_markdown_cell(QUESTION_TEXT), _answer(TEXT_STUB)],
                 "is not a locked markdown cell", id="question-cell-without-nbgrader-metadata"),
    pytest.param([_answer(TEXT_STUB)], "the cell before it (nothing)", id="answer-first"),
    pytest.param([new_markdown_cell(QUESTION_TEXT, metadata=_meta(grade_id="q")), _answer(QUESTION_TEXT + "\n" + TEXT_STUB)],
                 "must hold only", id="text-left-outside-the-solution-region"),
])
def test_rule_fails_on_broken_releases(cells, expected):
    problems = question_problems(new_notebook(cells=cells), release=True)
    assert any(expected in p for p in problems), problems


def test_rule_accepts_the_right_shape():
    nb = new_notebook(cells=[new_markdown_cell(QUESTION_TEXT, metadata=_meta(grade_id="q")), _answer(TEXT_STUB)])
    assert question_problems(nb, release=True) == []
