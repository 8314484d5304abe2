"""Pairs of students whose code for one exercise is unusually alike (copydetect's winnowing).

Per exercise (a code solution cell, by ``grade_id``), every pair of submissions is compared with
`copydetect <https://github.com/blingenf/copydetect>`_: k-gram hashes of the tokenised code,
winnowed as in MOSS (Schleimer, Wilkerson & Aiken, "Winnowing: local algorithms for document
fingerprinting", SIGMOD 2003). What a pair is compared on is only what the students wrote:

* **normalised**: the cell is parsed and unparsed (``ast``), so comments, blank lines, line
  breaks, quotes and parentheses cannot hide a copy; copydetect's tokeniser then replaces every
  name by one symbol, so renaming variables and functions cannot either;
* **without given code**: lines of the released stub are dropped, and every k-gram of the
  stub and of the reference solution is discounted (copydetect's "boilerplate"), so a class
  that converges on the intended solution does not match itself;
* **without common code**: a k-gram found in more than ``max_share`` of the class is discounted
  as well (MOSS's ``-m``: a passage that many students share is how the exercise is solved, not
  a copy between two of them).

Every k-gram is kept as a fingerprint (a winnowing window of 1): copydetect hashes k-grams with
Python's ``hash``, which is salted per process, so a larger window would pick different
fingerprints on each run and the same class could score differently; a class's cells are small
enough to compare in full.

The similarity of submission A to B is the share of A's remaining code that is matched in B
(copydetect's measure); a pair is listed when either share reaches ``threshold`` and the matched
code is at least ``min_tokens`` normalised characters long (a two-line function has too few ways
to be written to tell anything). Each listed pair gets a side-by-side page with copydetect's
highlighting of the matched passages. Written answers (markdown) are not compared.

Examples::

    >>> normalise("def f(x):  # mine\\n    return (x+1)\\n")
    'def f(x):\\n    return x + 1'
"""
from __future__ import annotations

import ast
import collections
import html
import io
import itertools
import os
import shutil
import warnings
from dataclasses import asdict, dataclass, field

LEXER_NAME = "code.py"   # copydetect picks its pygments lexer by file name


@dataclass(frozen=True)
class Settings:
    """How the similarity check decides (the page shows them)."""
    threshold: float = 0.7     # share of one submission's own code matched in the other
    min_tokens: int = 50       # normalised characters of matched code a listed pair needs at least
    max_share: float = 0.25    # a k-gram in more than this share of the class is common code
    k: int = 20                # k-gram length in normalised characters (copydetect's noise threshold)
    window: int = 1            # winnowing window: 1 keeps every k-gram (see the module docstring)


@dataclass(frozen=True)
class Pair:
    """Two submissions whose code for one exercise is unusually alike."""
    assignment: str
    notebook: str
    grade_id: str
    student_a: str
    student_b: str
    similarity_a: float        # share of A's own code matched in B
    similarity_b: float
    matched: int               # normalised characters matched (in A)
    page: str                  # side-by-side page, relative to the report folder


@dataclass
class Checked:
    pairs: list[Pair]
    settings: dict
    exercises: list[str] = field(default_factory=list)
    compared: int = 0          # pairs compared over all exercises


def normalise(code: str) -> str:
    """``code`` as ``ast.unparse`` writes it (comments and layout gone); unchanged if it does not parse."""
    try:
        return ast.unparse(ast.parse(code))
    except (SyntaxError, ValueError, RecursionError):
        return code.strip()


def own_code(code: str, stub: str) -> str:
    """The student's normalised ``code`` without the lines of the released ``stub``."""
    given = {line.strip() for line in normalise(stub).splitlines() if line.strip()}
    return "\n".join(line for line in normalise(code).splitlines() if line.strip() and line.strip() not in given)


def _kgrams(code: str, k: int) -> set[int]:
    """Every k-gram hash of ``code`` after copydetect's tokenising (not winnowed: all of them are given code)."""
    from copydetect.utils import filter_code, hashed_kgrams

    filtered, _ = filter_code(code, LEXER_NAME)
    return set(hashed_kgrams(filtered, k).tolist()) if len(filtered) >= k else set()


def _fingerprint(code: str, s: Settings, discount: set[int]):
    """copydetect's fingerprint of ``code`` with the ``discount`` hashes removed (its boilerplate step)."""
    from copydetect import CodeFingerprint
    from copydetect.utils import get_token_coverage

    fp = CodeFingerprint(LEXER_NAME, s.k, s.window, fp=io.StringIO(code))
    fp.hash_idx = {h: i for h, i in fp.hash_idx.items() if h not in discount}
    fp.hashes = set(fp.hash_idx)
    fp.token_coverage = get_token_coverage(fp.hash_idx, s.k, len(fp.filtered_code))
    return fp


def compare(codes: dict[str, str], given: str, s: Settings) -> list[tuple[str, str, float, float, int, tuple]]:
    """Every pair of ``codes`` (student -> own code) above the settings' bars: (a, b, sim_a, sim_b, matched, slices).

    ``given`` (stub + reference solution) is discounted, and so is any k-gram found in more than
    ``max_share`` of the students."""
    from copydetect import compare_files

    discount = _kgrams(given, s.k)
    fps = {sid: _fingerprint(code, s, discount) for sid, code in codes.items() if code.strip()}
    seen = collections.Counter(h for fp in fps.values() for h in fp.hashes)
    limit = max(2, int(s.max_share * len(codes)))
    common = {h for h, n in seen.items() if n > limit}
    if common:
        fps = {sid: _fingerprint(codes[sid], s, discount | common) for sid in fps}
    out = []
    for a, b in itertools.combinations(sorted(fps), 2):
        if not fps[a].hashes or not fps[b].hashes:
            continue
        matched, (sim_a, sim_b), slices = compare_files(fps[a], fps[b])
        if matched >= s.min_tokens and max(sim_a, sim_b) >= s.threshold:
            out.append((a, b, float(sim_a), float(sim_b), int(matched), slices))
    return out


def _solution_cells(gb, assignment) -> list[tuple[str, str, str]]:
    """(notebook, grade_id, released stub) of every code solution cell of ``assignment``."""
    cells = []
    for nb in sorted(assignment.notebooks, key=lambda n: n.name):
        stubs = {c.name: c for c in nb.source_cells}
        for c in nb.solution_cells:
            src = stubs.get(c.name)
            if src is not None and src.cell_type == "code":
                cells.append((nb.name, c.name, src.source or ""))
    return cells


def _cells_of(path: str) -> dict[str, str]:
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 — an unreadable notebook just has no code to compare
        return {}
    return {c.metadata.nbgrader["grade_id"]: c.source for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade_id")}


def _reference(source: str | None, assignment: str, notebook: str) -> dict[str, str]:
    from .course import solution_text

    if not source:
        return {}
    return {gid: solution_text(code) for gid, code in
            _cells_of(os.path.join(source, assignment, notebook + ".ipynb")).items()}


def check_similarity(db_url: str, autograded: str, source: str | None, folder: str, *, threshold: float | None = None,
          min_tokens: int | None = None, max_share: float | None = None) -> Checked:
    """Compare the code solution cells of every assignment in the gradebook; write a page per listed pair.

    Args:
        db_url: the course gradebook (assignments, their stubs and who submitted).
        autograded: the course's ``autograded/`` folder (``<student>/<assignment>/<notebook>.ipynb``).
        source: the source assignments (reference solutions), or None to discount only the stubs.
        folder: the report folder; pages go to ``folder/similarity/``.
    """
    from nbgrader.api import Gradebook

    d = Settings()
    s = Settings(threshold if threshold is not None else d.threshold, min_tokens if min_tokens is not None else d.min_tokens,
                 max_share if max_share is not None else d.max_share)
    result = Checked([], asdict(s))
    shutil.rmtree(os.path.join(folder, "similarity"), ignore_errors=True)   # no page of a pair no longer listed
    with warnings.catch_warnings(), Gradebook(db_url) as gb:
        warnings.simplefilter("ignore")
        plan = []
        for a in sorted(gb.assignments, key=lambda a: a.name):
            students = sorted(sub.student.id for sub in a.submissions)
            plan.append((a.name, students, _solution_cells(gb, a)))
    for assignment, students, cells in plan:
        notebooks = {}
        for nb_name in sorted({nb for nb, _, _ in cells}):
            notebooks[nb_name] = {sid: _cells_of(os.path.join(autograded, sid, assignment, nb_name + ".ipynb"))
                                  for sid in students}
        for nb_name, gid, stub in cells:
            reference = _reference(source, assignment, nb_name).get(gid, "")
            codes = {sid: own_code(nb.get(gid, ""), stub) for sid, nb in notebooks[nb_name].items()}
            given = normalise(stub) + "\n" + normalise(reference)
            result.exercises.append(f"{assignment}/{nb_name}/{gid}")
            result.compared += len(codes) * (len(codes) - 1) // 2
            for a, b, sim_a, sim_b, matched, slices in compare(codes, given, s):
                page = f"similarity/pair-{len(result.pairs) + 1:03d}.html"
                pair = Pair(assignment, nb_name, gid, a, b, round(sim_a, 4), round(sim_b, 4), matched, page)
                _write_pair_page(os.path.join(folder, page), pair, codes[a], codes[b], slices)
                result.pairs.append(pair)
    result.pairs.sort(key=lambda p: (-max(p.similarity_a, p.similarity_b), p.assignment, p.grade_id))
    return result


# -- pages ----------------------------------------------------------------------------------------
MEANING = (
    "<p><b>What a high score means.</b> After comments, layout and every name are normalised away, and after "
    "the released stub, the reference solution and any passage that more than {share:.0%} of the class shares "
    "are discounted, a large part of one student's code for this exercise is the same token sequence as the "
    "other's (at least {tokens} characters of normalised code, and at least {threshold:.0%} of one of the two "
    "submissions).</p><p><b>What it does not mean.</b> It is not evidence that either student copied, nor of who "
    "copied from whom: short exercises admit few solutions, students may have worked together where the course "
    "allows it, or used the same book or web page. It says where to look. Read the two submissions side by side, "
    "and talk to the students before concluding anything. A copy that was rewritten by hand, or shared by a large "
    "group, is not found; written answers are not compared.</p>")


def render_section(pairs: list[Pair], settings: dict) -> str:
    """The report's similarity section (``pairs`` from :func:`check`)."""
    s = Settings(**settings) if settings else Settings()
    head = f'<h2 id="similarity">Similar code ({len(pairs)} pair{"s" if len(pairs) != 1 else ""})</h2>'
    note = '<div class="note">' + MEANING.format(share=s.max_share, tokens=s.min_tokens, threshold=s.threshold) + "</div>"
    if not settings:
        return head + note + "<p>The similarity check was not run.</p>"
    if not pairs:
        return head + note + "<p>No pair of submissions is above the threshold.</p>"
    rows = "".join(
        f"<tr><td>{html.escape(p.assignment)}<br><code>{html.escape(p.grade_id)}</code></td>"
        f"<td>{html.escape(p.student_a)}</td><td>{html.escape(p.student_b)}</td>"
        f"<td class='n'>{p.similarity_a:.0%} / {p.similarity_b:.0%}</td><td class='n'>{p.matched}</td>"
        f"<td><a class='pair' href='{html.escape(p.page)}'>side by side</a></td></tr>" for p in pairs)
    return (head + note + "<table><tr><th>exercise</th><th>student A</th><th>student B</th>"
            "<th>A matched / B matched</th><th>matched characters</th><th></th></tr>" + rows + "</table>")


PAIR_CSS = """body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1f2328} .cols{display:flex;gap:1rem}
.cols>div{flex:1;min-width:0} pre{background:#f6f8fa;padding:.8rem;border-radius:6px;overflow-x:auto;font-size:.85em}
mark{background:#ffd8b5} .note{background:#fff8c5;padding:.5rem .8rem;border-radius:6px}"""


def _write_pair_page(path: str, p: Pair, code_a: str, code_b: str, slices) -> None:
    from copydetect.utils import highlight_overlap

    from .files import write_atomic

    cols = []
    for sid, code, sl, sim in ((p.student_a, code_a, slices[0], p.similarity_a), (p.student_b, code_b, slices[1], p.similarity_b)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # "empty slices": nothing to highlight on one side
            marked, _ = highlight_overlap(code, sl, "<mark>", "</mark>", escape_html=True)
        cols.append(f"<div><h2>{html.escape(sid)}</h2><p>{sim:.0%} of this code is matched in the other</p>"
                    f"<pre><code>{marked}</code></pre></div>")
    write_atomic(path, f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(p.grade_id)}: "
                     f"{html.escape(p.student_a)} / {html.escape(p.student_b)}</title><style>{PAIR_CSS}</style></head><body>"
                     f"<p><a href='../index.html#similarity'>← class report</a></p><h1>{html.escape(p.assignment)} · "
                     f"<code>{html.escape(p.grade_id)}</code></h1><p class='note'>The students' own code only, normalised "
                     "(comments and layout removed; the released stub's lines dropped). Highlighted: the passages "
                     "copydetect matched, apart from the stub, the reference solution and code common in the class. "
                     "A match is where to look, not a verdict.</p>"
                     f"<div class='cols'>{''.join(cols)}</div></body></html>\n")
