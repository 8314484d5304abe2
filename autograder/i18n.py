"""Translated editions of the course: gettext catalogs of the notebooks' prose, and the releases built from them.

``solutions/`` stays the one English source. The prose of its markdown cells goes into one gettext
catalog per notebook, ``locale/<lang>/LC_MESSAGES/<assignment>/<notebook>.po``; the translated
release ``course.<lang>/`` is the English release ``course/`` with its markdown replaced block by
block from the catalog. Code cells, cell ids, ``grade_id``\\ s, points and metadata are the release's
own, so a translated submission grades exactly as an English one.

The catalog format (shared with the translators):

* a markdown cell's text is split into *blocks* at blank lines, except that a fenced code block
  (````` … `````) and a display-math block (``$$`` … ``$$``) are never split; a block is stripped,
  and a block without any letter is skipped;
* one entry per block: ``msgctxt`` = the cell's id, ``msgid`` = the block; the second occurrence of
  the same (cell id, block) gets ``msgctxt`` = ``<id>#2``, and so on;
* what a student never sees is not extracted: a markdown answer cell (the release replaces it
  whole) and the solution / hidden-test / mark-scheme regions of any cell.

Updating after an English edit works like ``msgmerge``: an unchanged block keeps its translation,
an edited block keeps the old translation marked *fuzzy* (with the old English as ``#| msgid``), a
new block is untranslated, a vanished block becomes obsolete (``#~``).

Commands (also ``make i18n-extract`` / ``make i18n-build`` / ``make i18n-check``)::

    python -m autograder.i18n extract        # solutions/ -> locale/zh_CN/LC_MESSAGES/*/*.po (merge)
    python -m autograder.i18n build          # course/ + catalogs -> course.zh_CN/
    python -m autograder.i18n check          # untranslated, fuzzy, glossary and format problems

``python -m autograder release`` runs ``build`` after the English release.
"""
from __future__ import annotations

import argparse
import copy
import difflib
import os
import re
import shutil
import sys
from dataclasses import dataclass, field

import nbformat

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOCALE_DIR = os.path.join(REPO_ROOT, "locale")
DEFAULT_LANG = "zh_CN"
LANGUAGES = ("en", "zh_CN")  # every language an edition exists in (en is the source)

_FENCE = re.compile(r"^\s*(```|~~~)")
_LETTER = re.compile(r"[^\W\d_]")
# regions students never see (nbgrader's delimiters, as nbgrader_config.py sets them)
_SECRET_REGIONS = (("### BEGIN SOLUTION", "### END SOLUTION"),
                   ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"),
                   ("=== BEGIN MARK SCHEME ===", "=== END MARK SCHEME ==="))


# --------------------------------------------------------------------------------------------
# blocks of a markdown cell
@dataclass(frozen=True)
class Segment:
    """A piece of a markdown cell: a translatable block (``text`` stripped) or what lies between."""

    raw: str
    block: bool

    @property
    def text(self) -> str:
        return self.raw.strip()


def segments(source: str) -> list[Segment]:
    """``source`` cut into blocks and separators; ``"".join(s.raw ...)`` gives ``source`` back.

    A block ends at a blank line, except inside a fenced code block or a ``$$`` display-math block.

    Examples::

        >>> [s.text for s in segments("# T\\n\\nA $$\\nx\\n\\ny\\n$$ b\\n\\n42\\n") if s.block]
        ['# T', 'A $$\\nx\\n\\ny\\n$$ b', '42']
    """
    lines = source.splitlines(keepends=True)
    out: list[Segment] = []
    block: list[str] = []
    gap: list[str] = []
    fence = math = False

    def flush_block():
        if block:
            out.append(Segment("".join(block), True))
            block.clear()

    for line in lines:
        if not line.strip() and not fence and not math:
            flush_block()
            gap.append(line)
            continue
        if gap:
            out.append(Segment("".join(gap), False))
            gap.clear()
        block.append(line)
        if _FENCE.match(line):
            fence = not fence
        elif not fence and line.count("$$") % 2:
            math = not math
    flush_block()
    if gap:
        out.append(Segment("".join(gap), False))
    # a block without a letter (a rule, a lone formula) is not translated: fold it into the layout
    return [s if not s.block or _LETTER.search(s.text) else Segment(s.raw, False) for s in out]


def visible_text(cell) -> str | None:
    """The part of a source markdown cell that a student sees, or None for a model answer."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    if meta.get("solution") and not meta.get("task"):
        return None  # nbgrader replaces a markdown answer cell whole
    text = cell.source
    for begin, end in _SECRET_REGIONS:
        text = re.sub(r"[ \t]*" + re.escape(begin) + r".*?" + re.escape(end) + r"[ \t]*\n?", "", text, flags=re.S)
    return text


def keyed_blocks(cell_id: str, text: str) -> list[tuple[str, str]]:
    """(msgctxt, msgid) of every translatable block of one cell, in order (repeats get ``#2``, ``#3`` …)."""
    seen: dict[str, int] = {}
    out = []
    for s in segments(text):
        if not s.block:
            continue
        seen[s.text] = seen.get(s.text, 0) + 1
        n = seen[s.text]
        out.append((cell_id if n == 1 else f"{cell_id}#{n}", s.text))
    return out


def notebook_entries(nb) -> list[tuple[str, str]]:
    """(msgctxt, msgid) of every translatable block of a source notebook, in order."""
    out = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        text = visible_text(cell)
        if text is not None:
            out += keyed_blocks(cell.id, text)
    return out


# --------------------------------------------------------------------------------------------
# catalogs
def translated_languages(locale_dir: str = LOCALE_DIR) -> list[str]:
    """The languages with an edition: a folder of ``locale/`` with a glossary or catalogs."""
    if not os.path.isdir(locale_dir):
        return []
    return sorted(d for d in os.listdir(locale_dir) if os.path.isdir(os.path.join(locale_dir, d, "LC_MESSAGES")))


def catalog_path(assignment: str, notebook: str, lang: str = DEFAULT_LANG, locale_dir: str = LOCALE_DIR) -> str:
    return os.path.join(locale_dir, lang, "LC_MESSAGES", assignment, notebook + ".po")


def new_catalog(lang: str, name: str):
    import polib

    po = polib.POFile(wrapwidth=0)
    po.metadata = {
        "Project-Id-Version": f"gradlab {name}",
        "Language": lang,
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=UTF-8",
        "Content-Transfer-Encoding": "8bit",
    }
    return po


def load_catalog(path: str):
    import polib

    po = polib.pofile(path, wrapwidth=0)
    po.wrapwidth = 0
    return po


@dataclass
class MergeReport:
    """What a merge did to one catalog."""

    path: str
    kept: int = 0
    fuzzy: list[str] = field(default_factory=list)      # msgctxt of entries marked fuzzy
    new: list[str] = field(default_factory=list)        # msgctxt of new, untranslated entries
    obsolete: list[str] = field(default_factory=list)   # msgctxt of vanished entries


def _similar(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def merge(po, entries: list[tuple[str, str]], report: MergeReport, threshold: float = 0.6):
    """``po`` updated to exactly ``entries`` (msgmerge's rules), in their order.

    An entry whose (msgctxt, msgid) is in ``po`` keeps its translation and flags. Otherwise the most
    similar live entry of the same cell (the context without ``#n``), then of any cell, that no
    other entry claimed, with similarity at least ``threshold``, lends its translation, marked
    fuzzy with the old English as ``previous_msgid``; else the entry is new and empty. Entries of
    ``po`` nobody claimed become obsolete (their translation kept for a later revival).
    """
    import polib

    old = {(e.msgctxt, e.msgid): e for e in po if not e.obsolete}
    old_obsolete = {(e.msgctxt, e.msgid): e for e in po if e.obsolete}
    claimed: set[tuple[str, str]] = {k for k in entries if k in old}
    out = []
    for ctxt, msgid in entries:
        if (ctxt, msgid) in old:
            out.append(old[(ctxt, msgid)])
            report.kept += 1
            continue
        entry = polib.POEntry(msgctxt=ctxt, msgid=msgid, msgstr="")
        donor = _donor(ctxt, msgid, old, claimed, threshold) or old_obsolete.get((ctxt, msgid))
        if donor is not None and donor.msgstr:
            claimed.add((donor.msgctxt, donor.msgid))
            entry.msgstr = donor.msgstr
            entry.flags = ["fuzzy"]
            entry.previous_msgid = donor.msgid
            if donor.msgctxt != ctxt:
                entry.previous_msgctxt = donor.msgctxt
            report.fuzzy.append(ctxt or msgid)
        else:
            report.new.append(ctxt or msgid)
        out.append(entry)
    gone = [e for k, e in old.items() if k not in claimed]
    for e in gone:
        e.obsolete = True
        report.obsolete.append(e.msgctxt or e.msgid)
    kept_obsolete = [e for k, e in old_obsolete.items() if k not in set(entries)]
    po[:] = out + gone + kept_obsolete
    return po


def _donor(ctxt: str, msgid: str, old: dict, claimed: set, threshold: float):
    cell = (ctxt or "").split("#")[0]
    free = [e for k, e in old.items() if k not in claimed]
    for pool in ([e for e in free if (e.msgctxt or "").split("#")[0] == cell], free):
        best = max(pool, key=lambda e: _similar(e.msgid, msgid), default=None)
        if best is not None and _similar(best.msgid, msgid) >= threshold:
            return best
    return None


def extract(source: str | None = None, locale_dir: str = LOCALE_DIR, lang: str = DEFAULT_LANG,
            assignments: list[str] | None = None) -> list[MergeReport]:
    """Write or merge the catalog of every notebook of ``source`` (default ``solutions/``)."""
    from .course import default_source, list_assignments, notebooks_of

    source = source or default_source()
    reports = []
    for a in assignments or list_assignments(source):
        for stem in notebooks_of(os.path.join(source, a)):
            nb = nbformat.read(os.path.join(source, a, stem + ".ipynb"), as_version=4)
            path = catalog_path(a, stem, lang, locale_dir)
            po = load_catalog(path) if os.path.exists(path) else new_catalog(lang, f"{a}/{stem}")
            report = MergeReport(path)
            merge(po, notebook_entries(nb), report)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            po.save(path)
            reports.append(report)
    return reports


# --------------------------------------------------------------------------------------------
# the translated release
def translations(po) -> dict[tuple[str, str], str]:
    """(msgctxt, msgid) -> msgstr of every finished entry (translated, not fuzzy, not obsolete)."""
    return {(e.msgctxt, e.msgid): e.msgstr for e in po
            if e.msgstr and not e.obsolete and "fuzzy" not in e.flags}


def translate_cell_text(cell_id: str, text: str, table: dict[tuple[str, str], str]) -> str:
    """``text`` with every block that has a finished translation replaced (layout kept)."""
    seen: dict[str, int] = {}
    out = []
    for s in segments(text):
        if not s.block:
            out.append(s.raw)
            continue
        seen[s.text] = seen.get(s.text, 0) + 1
        ctxt = cell_id if seen[s.text] == 1 else f"{cell_id}#{seen[s.text]}"
        new = table.get((ctxt, s.text))
        if new is None:
            out.append(s.raw)
            continue
        lead = s.raw[:len(s.raw) - len(s.raw.lstrip())]
        tail = s.raw[len(s.raw.rstrip()):]
        out.append(lead + new.strip() + tail)
    return "".join(out)


def translate_notebook(nb, po, lang: str):
    """A copy of the release notebook ``nb`` in ``lang``: markdown translated from ``po``, all else as is.

    A locked markdown cell's nbgrader checksum is recomputed, so that nbgrader's Validate in the
    student's lab does not report the translated text as a changed locked cell.
    """
    from nbgrader import utils

    table = translations(po) if po is not None else {}
    out = copy.deepcopy(nb)
    for cell in out.cells:
        if cell.cell_type != "markdown":
            continue
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and not meta.get("task"):
            continue  # the student's answer cell: its release text and checksum mark it unanswered
        new = translate_cell_text(cell.id, cell.source, table)
        if new != cell.source:
            cell.source = new
            if "checksum" in meta:
                meta["checksum"] = utils.compute_checksum(cell)
    out.metadata["gradlab"] = {**out.metadata.get("gradlab", {}), "lang": lang}
    return out


def build(release: str | None = None, out: str | None = None, lang: str = DEFAULT_LANG,
          locale_dir: str = LOCALE_DIR, assignments: list[str] | None = None) -> list[str]:
    """Write ``out/<assignment>/<notebook>.ipynb`` (default ``course.<lang>/``) from ``release``.

    Every notebook of the release gets a translated copy; blocks without a finished translation
    (and notebooks without a catalog) stay English, which :func:`problems` reports. Assignment
    folders are replaced whole, so a notebook that left the release leaves the translation too.
    Returns the notebooks written, relative to ``out``.
    """
    from .course import default_release, list_assignments, notebooks_of

    release = release or default_release()
    out = out or os.path.join(os.path.dirname(os.path.abspath(release)), f"{os.path.basename(os.path.normpath(release))}.{lang}")
    written = []
    for a in assignments or list_assignments(release):
        staged = os.path.join(out, f".{a}.new")
        shutil.rmtree(staged, ignore_errors=True)
        shutil.copytree(os.path.join(release, a), staged,
                        ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints", "__pycache__"))
        for stem in notebooks_of(os.path.join(release, a)):
            nb = nbformat.read(os.path.join(release, a, stem + ".ipynb"), as_version=4)
            path = catalog_path(a, stem, lang, locale_dir)
            po = load_catalog(path) if os.path.exists(path) else None
            nbformat.write(translate_notebook(nb, po, lang), os.path.join(staged, stem + ".ipynb"))
            written.append(f"{a}/{stem}.ipynb")
        target = os.path.join(out, a)
        shutil.rmtree(target, ignore_errors=True)
        os.rename(staged, target)
    return written


# --------------------------------------------------------------------------------------------
# checks: completeness, glossary, what must be kept verbatim
@dataclass(frozen=True)
class Term:
    """One glossary row: English forms (``/``-separated) and the accepted Chinese forms."""

    english: tuple[str, ...]
    chinese: tuple[str, ...]

    def pattern(self) -> re.Pattern:
        forms = "|".join(re.escape(e).replace(r"\ ", r"[\s-]+") for e in self.english)
        return re.compile(rf"(?<![\w-])(?:{forms})(?:s|es)?(?![\w-])", re.I)


def glossary(lang: str = DEFAULT_LANG, locale_dir: str = LOCALE_DIR) -> list[Term]:
    """The rows of ``locale/<lang>/GLOSSARY.md``: ``| English | 中文 | note |``.

    English forms and Chinese forms are separated by `` / ``; a note "also: A, B" adds accepted
    Chinese synonyms (another book's term)."""
    path = os.path.join(locale_dir, lang, "GLOSSARY.md")
    terms = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            cols = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cols) < 2 or not line.lstrip().startswith("|") or set(cols[0]) <= set("-: ") or cols[0] == "English":
                continue
            english = tuple(e.strip() for e in cols[0].split(" / ") if e.strip())
            chinese = [c.strip() for c in cols[1].split(" / ") if c.strip()]
            note = cols[2] if len(cols) > 2 else ""
            also = re.search(r"also:\s*([^;]+)", note)
            if also:
                chinese += [re.sub(r"\s*[(（].*?[)）]", "", c).strip() for c in re.split(r"[,，]", also.group(1)) if c.strip()]
            terms.append(Term(english, tuple(chinese)))
    return terms


_CODE_SPAN = re.compile(r"`[^`\n]+`")
_MATH = re.compile(r"\$\$.*?\$\$|\$[^$]+\$", re.S)  # inline math may wrap across lines, as Jupyter renders it
_URL = re.compile(r"https?://[^\s)>\]]+")
_FENCED = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
# ASCII boundaries: in Chinese a number sits between characters that are \w too (第 11 章 or 第11章)
_NUMBER = re.compile(r"(?<![A-Za-z0-9_.])\d+(?:\.\d+)?(?![A-Za-z0-9_])")


def _prose(msgid: str) -> str:
    """``msgid`` without code, math and URLs (which keep English names on purpose)."""
    for rx in (_FENCED, _MATH, _CODE_SPAN, _URL):
        msgid = rx.sub(" ", msgid)
    return msgid


def glossary_problems(msgid: str, msgstr: str, terms: list[Term]) -> list[str]:
    """Glossary terms used in the English prose whose Chinese term is missing from the translation."""
    prose = _prose(msgid)
    return [f"{t.english[0]!r} should be {' / '.join(t.chinese)!r}" for t in terms
            if t.pattern().search(prose) and not any(c in msgstr for c in t.chinese)]


def format_problems(msgid: str, msgstr: str) -> list[str]:
    """What a translation must keep exactly: math, inline code, code fences, URLs, numbers, the
    heading level and the number of table rows."""
    out = []
    for rx, what in ((_FENCED, "code block"), (_MATH, "math"), (_CODE_SPAN, "code"), (_URL, "URL")):
        for span in rx.findall(msgid) if rx is not _FENCED else [m.group(0) for m in rx.finditer(msgid)]:
            if span not in msgstr:
                out.append(f"{what} {span!r} missing")
    for n in sorted(set(_NUMBER.findall(_prose(msgid))) - set(_NUMBER.findall(_prose(msgstr)))):
        out.append(f"number {n} missing")
    heading = re.match(r"#+ ", msgid)
    if heading and not msgstr.startswith(heading.group(0)):
        out.append(f"heading level {heading.group(0).strip()!r} not kept")
    rows = sum(1 for ln in msgid.splitlines() if ln.lstrip().startswith("|"))
    if rows != sum(1 for ln in msgstr.splitlines() if ln.lstrip().startswith("|")):
        out.append(f"table rows: {rows} in the English")
    return out


@dataclass(frozen=True)
class CatalogProblem:
    """One thing wrong with a catalog entry."""

    catalog: str
    msgctxt: str
    what: str

    def __str__(self) -> str:
        return f"{self.catalog} [{self.msgctxt}]: {self.what}"


def problems(path: str, terms: list[Term] | None = None, source_entries: list[tuple[str, str]] | None = None) -> list[CatalogProblem]:
    """Everything that keeps a catalog from being finished: untranslated and fuzzy entries,
    glossary and format violations, and (given ``source_entries``) entries the English source has
    but the catalog lacks (run ``extract``)."""
    po = load_catalog(path)
    rel = os.path.relpath(path, REPO_ROOT)
    out = []
    live = {(e.msgctxt, e.msgid) for e in po if not e.obsolete}
    for ctxt, msgid in source_entries or []:
        if (ctxt, msgid) not in live:
            out.append(CatalogProblem(rel, ctxt, "not in the catalog (English changed: run extract)"))
    for e in po:
        if e.obsolete:
            continue
        if not e.msgstr:
            out.append(CatalogProblem(rel, e.msgctxt, "untranslated"))
            continue
        if "fuzzy" in e.flags:
            out.append(CatalogProblem(rel, e.msgctxt, "fuzzy (the English changed: check the translation, then remove the flag)"))
        out += [CatalogProblem(rel, e.msgctxt, "glossary: " + p) for p in glossary_problems(e.msgid, e.msgstr, terms or [])]
        out += [CatalogProblem(rel, e.msgctxt, "format: " + p) for p in format_problems(e.msgid, e.msgstr)]
    return out


# --------------------------------------------------------------------------------------------
# gradlab's own messages: one catalog, locale/<lang>/LC_MESSAGES/gradlab.po
GRADLAB_SRC = os.path.join(REPO_ROOT, "src", "gradlab")
# the instructor's class report speaks the same catalog (one translation of "test", "students", …)
REPORT_SOURCES = tuple(os.path.join(REPO_ROOT, "autograder", n) for n in ("report.py", "report_figures.py"))


def message_ids(package_dir: str = GRADLAB_SRC, extra: tuple[str, ...] = REPORT_SOURCES) -> list[str]:
    """Every ``_("...")`` / ``i18n._("...")`` literal of the package (and of ``extra`` files), and its
    run-time messages, in order."""
    import ast

    found: list[str] = []
    files = [os.path.join(package_dir, n) for n in sorted(os.listdir(package_dir)) if n.endswith(".py")]
    for path in files + [p for p in extra if os.path.isfile(p)]:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)
                    and ((isinstance(node.func, ast.Name) and node.func.id == "_")
                         or (isinstance(node.func, ast.Attribute) and node.func.attr == "_"))):
                found.append(node.args[0].value)
    from gradlab.i18n import RUNTIME_MESSAGES

    return list(dict.fromkeys(found + list(RUNTIME_MESSAGES)))


def messages_path(lang: str = DEFAULT_LANG, locale_dir: str = LOCALE_DIR) -> str:
    return os.path.join(locale_dir, lang, "LC_MESSAGES", "gradlab.po")


def extract_messages(lang: str = DEFAULT_LANG, locale_dir: str = LOCALE_DIR) -> MergeReport:
    """Write or merge gradlab's message catalog (no context: a message means the same everywhere)."""
    path = messages_path(lang, locale_dir)
    po = load_catalog(path) if os.path.exists(path) else new_catalog(lang, "gradlab messages")
    report = MergeReport(path)
    # the merge keys on (msgctxt, msgid): gradlab's messages have no context
    merge(po, [(None, m) for m in message_ids()], report)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    po.save(path)
    return report


_FIELD = re.compile(r"\{[^{}]*\}")


def message_problems(lang: str = DEFAULT_LANG, locale_dir: str = LOCALE_DIR) -> list[str]:
    """gradlab's catalog: every message present and translated, not fuzzy, with the same ``{fields}``."""
    path = messages_path(lang, locale_dir)
    if not os.path.exists(path):
        return [f"no {os.path.relpath(path, REPO_ROOT)} (python -m autograder.i18n messages)"]
    po = load_catalog(path)
    have = {e.msgid: e for e in po if not e.obsolete}
    out = [f"not in the catalog: {m!r}" for m in message_ids() if m not in have]
    for e in have.values():
        if not e.msgstr:
            out.append(f"untranslated: {e.msgid!r}")
        elif "fuzzy" in e.flags:
            out.append(f"fuzzy: {e.msgid!r}")
        elif sorted(_FIELD.findall(e.msgid)) != sorted(_FIELD.findall(e.msgstr)):
            out.append(f"fields differ: {e.msgid!r} -> {e.msgstr!r}")
    return out


# --------------------------------------------------------------------------------------------
# grading: a submission's language, and the feedback page in it
def submission_language(path: str | None) -> str:
    """The ``gradlab.lang`` metadata of a submitted notebook (hostile input: read bounded, and only a
    language the course has is believed), ``"en"`` otherwise."""
    import json

    from .discover import read_notebook

    if not path:
        return "en"
    try:
        return language_of(json.loads(read_notebook(path)))
    except (ValueError, OSError):
        return "en"


def language_of(nb) -> str:
    """The language a parsed notebook ``nb`` says it is in (``gradlab.lang``), if the course has
    it; ``"en"`` otherwise (the notebook is hostile input: any shape)."""
    try:
        lang = (nb.get("metadata", {}).get("gradlab") or {}).get("lang")
    except (AttributeError, TypeError):
        return "en"
    return lang if isinstance(lang, str) and lang in LANGUAGES else "en"


def autograded_metadata(source_metadata: dict, lang: str) -> dict:
    """The autograded notebook's metadata: the source's, plus the language ``lang`` the student
    worked in (the feedback page is written in it)."""
    if lang == "en":
        return source_metadata
    return {**source_metadata, "gradlab": {**source_metadata.get("gradlab", {}), "lang": lang}}


# The feedback page's fixed text (autograder/feedback.py), by language. Keys are the page's own
# English markup, so a student's message (escaped inside <code>) is never rewritten.
PAGE_TEXT = {"zh_CN": {
    '<html lang="en">': '<html lang="zh-CN">',
    "<title>Feedback: ": "<title>反馈：",
    '<p class="sub">Assignment <b>': '<p class="sub">作业 <b>',
    "</b> · student <b>": "</b> · 学生 <b>",
    " points</div>": " 分</div>",
    "This notebook has not been graded automatically yet.": "这个笔记本还没有被自动评分。",
    "Some written answers are still to be graded by your instructor: the total above does not include them yet.":
        "部分书面回答还在等待老师评分：上面的总分尚未包含它们。",
    "Graded. The total includes your instructor&#x27;s manual grading.": "已评分。总分包含老师的人工评分。",
    "Graded. The total includes your instructor's manual grading.": "已评分。总分包含老师的人工评分。",
    "<p class='sub'>Late submission penalty: −": "<p class='sub'>迟交扣分：−",
    " points.</p>": " 分。</p>",
    "<th>Graded cell</th><th>Kind</th><th>Result</th><th>Points</th>": "<th>评分单元格</th><th>类型</th><th>结果</th><th>得分</th>",
    "</code></td><td>test</td>": "</code></td><td>测试</td>",
    "</code></td><td>written answer</td>": "</code></td><td>书面回答</td>",
    "</code></td><td>task</td>": "</code></td><td>任务</td>",
    '<span class="pass">passed</span>': '<span class="pass">通过</span>',
    '<span class="fail">failed</span>': '<span class="fail">未通过</span>',
    '<span class="pending">partial credit</span>': '<span class="pending">部分得分</span>',
    '<span class="pending">to be graded by your instructor</span>': '<span class="pending">等待老师评分</span>',
    '<span class="pass">graded by your instructor</span>': '<span class="pass">已由老师评分</span>',
    '<span class="fail">not run</span>': '<span class="fail">未运行</span>',
    '<div class="comment"><b>Comment:</b> ': '<div class="comment"><b>评语：</b> ',
    '<span class="sub">set by your instructor (autograder: ': '<span class="sub">由老师设定（自动评分：',
    '<span class="sub">includes ': '<span class="sub">含 ',
    " extra credit</span>": " 分额外加分</span>",
    # the status box of a notebook that was not graded to the end (records.Status.text)
    "Graded automatically.": "已自动评分。",
    "Your code took too long: it was stopped, and cells that had not finished earned no points.":
        "你的代码运行时间过长，已被终止；没有运行完的单元格不得分。",
    "Your code used too much memory: it was stopped, and cells that had not finished earned no points.":
        "你的代码占用内存过多，已被终止；没有运行完的单元格不得分。",
    "Your code started too many processes: it was stopped, and cells that had not finished earned no points.":
        "你的代码启动了过多进程，已被终止；没有运行完的单元格不得分。",
    "The Python kernel running your notebook crashed or exited (for example through os._exit or a segmentation "
    "fault); the notebook could not be graded to the end.":
        "运行你的笔记本的 Python 内核崩溃或退出了（例如调用了 os._exit，或发生段错误）；这个笔记本没能评分到最后。",
    "The file is not a readable Jupyter notebook of this assignment.": "这个文件不是本次作业可读取的 Jupyter 笔记本。",
    "This notebook was not submitted.": "这个笔记本没有提交。",
    "The folder of this submission does not name an assignment of the course.": "这份提交所在的文件夹不是本课程的作业名。",
    "The file was not accepted: it is not a regular, readable notebook file of a reasonable size (a link, a pipe "
    "or an unreadable file is never opened).":
        "这个文件未被接受：它不是一个常规、可读且大小合理的笔记本文件（符号链接、管道或不可读的文件一律不会被打开）。",
    "The grader failed on this submission for a reason unrelated to your answers; your instructor has been told.":
        "评分程序在这份提交上出错了，原因与你的答案无关；已通知老师。",
    "Tests are run on a fresh kernel, top to bottom. Hidden tests are not shown; fix the failing\nfunction and check "
    "it against the visible tests before resubmitting.":
        "测试在一个全新的内核中从上到下运行。隐藏测试不会显示；请先修正未通过的函数，并用可见测试检查之后再重新提交。",
}}


def notebook_language(path: str) -> str:
    """``gradlab.lang`` of a notebook the grader wrote (``autograded/``), ``"en"`` if none or unknown."""
    return submission_language(path) if os.path.isfile(path) else "en"


def localize_page(page: str, lang: str) -> str:
    """A feedback page with its fixed English text in ``lang`` (unchanged for English)."""
    for english, translated in PAGE_TEXT.get(lang, {}).items():
        page = page.replace(english, translated)
    return page.replace(")</span>", "）</span>") if lang == "zh_CN" else page  # closes "（自动评分："


# --------------------------------------------------------------------------------------------
# python -m autograder.i18n
def _cmd_extract(args) -> int:
    for r in extract(args.source, args.locale_dir, args.lang, args.assignments or None):
        rel = os.path.relpath(r.path, os.getcwd())
        print(f"{rel}: {r.kept} kept, {len(r.fuzzy)} fuzzy, {len(r.new)} new, {len(r.obsolete)} obsolete")
    return 0


def _cmd_build(args) -> int:
    written = build(args.release, args.out, args.lang, args.locale_dir, args.assignments or None)
    print(f"wrote {len(written)} {args.lang} notebooks from {args.release or 'course/'}")
    return 0


def _cmd_messages(args) -> int:
    r = extract_messages(args.lang, args.locale_dir)
    print(f"{os.path.relpath(r.path, os.getcwd())}: {r.kept} kept, {len(r.fuzzy)} fuzzy, {len(r.new)} new, "
          f"{len(r.obsolete)} obsolete")
    return 0


def _cmd_check(args) -> int:
    from .course import default_source, list_assignments, notebooks_of

    source = args.source or default_source()
    terms = glossary(args.lang, args.locale_dir)
    found, missing = [], []
    for a in list_assignments(source):
        for stem in notebooks_of(os.path.join(source, a)):
            path = catalog_path(a, stem, args.lang, args.locale_dir)
            if not os.path.exists(path):
                missing.append(f"{a}/{stem}")
                continue
            nb = nbformat.read(os.path.join(source, a, stem + ".ipynb"), as_version=4)
            found += problems(path, terms, notebook_entries(nb))
    found += message_problems(args.lang, args.locale_dir)
    for p in found:
        print(p)
    for m in missing:
        print(f"{m}: no {args.lang} catalog yet")
    print(f"{len(found)} problems, {len(missing)} notebooks without a catalog")
    return 1 if found or missing else 0


def lab_settings(src: str, dst: str, lang: str) -> dict:
    """The project's JupyterLab overrides (``src``) with JupyterLab's own language set to ``lang``
    (its language pack for zh_CN is pinned in pyproject.toml), written to ``dst``."""
    import json

    with open(src, encoding="utf-8") as f:
        settings = json.load(f)
    settings["@jupyterlab/translation-extension:plugin"] = {"locale": "en" if lang == "en" else lang}
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(settings, f, indent=2, ensure_ascii=False)
        f.write("\n")
    return settings


def _cmd_lab_settings(args) -> int:
    lab_settings(args.src, args.dst, args.lang)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m autograder.i18n", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, func, help_ in (("extract", _cmd_extract, "write or merge the catalogs from the English source"),
                              ("build", _cmd_build, "write the translated release from the English release"),
                              ("check", _cmd_check, "list untranslated, fuzzy, glossary and format problems"),
                              ("messages", _cmd_messages, "write or merge the catalog of gradlab's own messages")):
        s = sub.add_parser(name, help=help_)
        s.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="default: every assignment")
        s.add_argument("--lang", default=DEFAULT_LANG)
        s.add_argument("--locale-dir", default=LOCALE_DIR)
        s.add_argument("--source", default=None, help="English source (default: solutions/)")
        s.add_argument("--release", default=None, help="English release (default: course/)")
        s.add_argument("--out", default=None, help="translated release (default: course.<lang>/)")
        s.set_defaults(func=func)
    s = sub.add_parser("lab-settings", help="JupyterLab overrides.json with the interface language (make lab)")
    s.add_argument("src")
    s.add_argument("dst")
    s.add_argument("--lang", default="en")
    s.set_defaults(func=_cmd_lab_settings)
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
