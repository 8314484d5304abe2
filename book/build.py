"""Build the course as a static book: ``make book`` → ``build/book/{student,instructor}/{en,zh_CN}/``.

    python -m book.build [--root .] [--out build/book] [--edition student|instructor] [--jobs N]
                         [--repo-url URL] [--only GLOB ...]

1. Every solution notebook (``solutions/<assignment>/*.ipynb``, found at build time, course order)
   is executed once, cached under ``OUT/.cache`` (``book/execute.py``).
2. Both editions are derived from that one run (``book/editions.py``): the instructor edition
   shows everything; the student edition has the release's sources (what ``course/`` shows) and
   the outputs of every cell that is neither a solution nor a test. The student pages must pass the
   release leak checks (a warning says when ``course/`` lags behind ``solutions/``: `make release`).
3. Sphinx + myst-nb render each edition in each language (``book/conf.py``); the student HTML is
   leak-checked again. A language differs only in its prose: the Chinese pages are the same pages
   (same run, same outputs) with their markdown translated from ``locale/zh_CN`` (``autograder/i18n.py``),
   and every page links to itself in the other language.
"""
from __future__ import annotations

import argparse
import fnmatch
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # `python book/build.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nbformat

from autograder import i18n, notebook
from autograder.course import Course, list_assignments, notebooks_of
from book import editions, landing
from book.execute import execute_all, with_outputs

BOOK_DIR = Path(__file__).resolve().parent
EDITIONS = ("student", "instructor")
LANGUAGES = ("en", "zh_CN")
LANGUAGE_NAMES = {"en": "English", "zh_CN": "中文"}
#: per edition: the folder students/instructors open, and what the page says about running it
SOURCE_FOLDER = {"student": "course", "instructor": "solutions"}


@dataclass
class Chapter:
    """One solution notebook of the book: its path, its source, and the source with its run's outputs."""
    path: Path
    source: nbformat.NotebookNode
    executed: nbformat.NotebookNode


class BookError(RuntimeError):
    """The book cannot be built as asked (a leak, no notebook, Sphinx failed)."""


def write_if_changed(path: Path, text: str) -> None:
    """Write only when the content changes: Sphinx then re-reads only the pages that changed."""
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def notebook_link(rel: str, page_dir: Path, root: Path, repo_url: str | None) -> str:
    """Where a page links to its notebook: ``repo_url/rel`` or a relative path into the checkout."""
    if repo_url:
        return f"{repo_url.rstrip('/')}/{rel}"
    return Path(os.path.relpath(root / rel, page_dir)).as_posix()


def language_switcher(lang: str, up: str, page: str) -> str:
    """Links to this page in every other language (``up``: from the page's folder to the language folders)."""
    links = [f'<b>{LANGUAGE_NAMES[lang]}</b>'] + [f'<a class="gradlab-lang" hreflang="{other.replace("_", "-")}" '
                                                  f'href="{up}{other}/{page}">{LANGUAGE_NAMES[other]}</a>'
                                                  for other in LANGUAGES if other != lang]
    return '<span class="gradlab-languages">' + " · ".join(links) + "</span>"


def run_banner(edition: str, assignment: str, notebook: str, link: str, lang: str = "en") -> nbformat.NotebookNode:
    """The markdown cell under a page's title: run it with `make lab`, the notebook's source, the languages."""
    folder = SOURCE_FOLDER[edition]
    switch = language_switcher(lang, "../../", f"{assignment}/{notebook[:-6]}.html")
    if lang == "zh_CN":
        cell = nbformat.v4.new_markdown_cell(
            f":::{{note}}\n:class: gradlab-run\n{switch}\n\n"
            f"**运行这个笔记本：** `make lab LANG=zh_CN` 会在 `course.zh_CN/` 上打开 JupyterLab；打开 "
            f"`{assignment}/{notebook}`。笔记本：<a href=\"{link}\">{folder}{'' if edition == 'instructor' else '.zh_CN'}"
            f"/{assignment}/{notebook}</a>"
            + ("（显示答案、隐藏测试和评分标准：教师版）。" if edition == "instructor"
               else "——本页给出了实验的图和打印结果，可以对照。") + "\n:::\n")
        cell.metadata = {}
        return cell
    text = (f":::{{note}}\n:class: gradlab-run\n{switch}\n\n"
            f"**Run this notebook:** `make lab` opens JupyterLab on `course/`; open "
            f"`{assignment}/{notebook}`. "
            f"Notebook: <a href=\"{link}\">{folder}/{assignment}/{notebook}</a>"
            + (" (solutions, hidden tests and mark schemes shown: instructor edition)." if edition == "instructor"
               else " — this page shows its experiments' figures and printed results, so you can compare.")
            + "\n:::\n")
    cell = nbformat.v4.new_markdown_cell(text)
    cell.metadata = {}
    return cell


def page_notebook(edition: str, source, executed, root: Path, nb_path: Path):
    """The page of one notebook in one edition (a notebook with outputs), leak-checked for students."""
    name = f"{nb_path.parent.name}/{nb_path.name}"
    if edition == "instructor":
        return editions.instructor(executed)
    release = editions.release_sources(source, root)
    course_nb = root / "course" / nb_path.parent.name / nb_path.name
    if course_nb.exists():  # the page is made from solutions/ either way; course/ may lag behind an edit
        course = nbformat.read(str(course_nb), as_version=4)
        if [notebook.text(c) for c in release.cells] != [notebook.text(c) for c in course.cells]:
            print(f"book: warning: course/{name} is not the release of solutions/{name} (run `make release`); "
                  "the student page follows solutions/", file=sys.stderr)
    page = editions.student(executed, release)
    problems = editions.student_leak_problems(page, source, name)
    if problems:
        raise BookError("the student page would leak:\n" + "\n".join(problems))
    return page


def translated(page, root: Path, nb_path: Path, lang: str):
    """``page`` with its prose in ``lang`` from the notebook's catalog (English where none)."""
    if lang == "en":
        return page
    path = i18n.catalog_path(nb_path.parent.name, nb_path.stem, lang, str(root / "locale"))
    return i18n.translate_notebook(page, i18n.load_catalog(path) if os.path.exists(path) else None, lang)


def write_sources(edition: str, chapters: list[Chapter], root: Path, src: Path,
                  out: Path, repo_url: str | None, lang: str = "en") -> list[landing.Page]:
    """Write one edition's Sphinx source tree in one language (pages + landing page); remove pages that went away."""
    index, keep = [], {src / "index.md"}
    folder = SOURCE_FOLDER[edition] + ("" if lang == "en" or edition == "instructor" else f".{lang}")
    for ch in chapters:
        a, nb_name, source = ch.path.parent.name, ch.path.name, ch.source
        page = translated(page_notebook(edition, source, ch.executed, root, ch.path), root, ch.path, lang)
        rel = f"{folder}/{a}/{nb_name}"
        link = notebook_link(rel, out / edition / lang / a, root, repo_url)
        page.cells.insert(1, run_banner(edition, a, nb_name, link, lang))
        target = src / a / nb_name
        write_if_changed(target, nbformat.writes(page))
        keep.add(target)
        title, learn = landing.read_title_cell(notebook.text(page.cells[0]) if page.cells else "")
        index.append(landing.Page(a, nb_name, title or nb_name, learn))
    hint = ("Work through the notebooks with `make lab` (JupyterLab on `course/`); each page links to its notebook."
            if edition == "student" else
            "Solutions, hidden tests (collapsed) and mark schemes are shown; students get the student edition.")
    if lang == "zh_CN":
        hint = ("用 `make lab LANG=zh_CN`（在 `course.zh_CN/` 上打开 JupyterLab）完成各个笔记本；每一页都链接到它的笔记本。"
                if edition == "student" else "显示答案、隐藏测试（折叠）和评分标准；学生拿到的是学生版。")
    text = landing.landing_page(index, edition, hint, lang)
    write_if_changed(src / "index.md", language_switcher(lang, "../", "index.html") + "\n\n" + text)
    for old in list(src.rglob("*.ipynb")) + list(src.rglob("*.md")):
        if old not in keep:
            old.unlink()
    return index


def sphinx(edition: str, src: Path, out: Path, lang: str = "en") -> None:
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-j", "1", "-c", str(BOOK_DIR),
           "-d", str(out / "_doctrees" / edition / lang), str(src), str(out / edition / lang)]
    title = f"gradlab · {edition} edition" if lang == "en" else f"gradlab · {'学生版' if edition == 'student' else '教师版'}"
    env = dict(os.environ, GRADLAB_BOOK_TITLE=title, GRADLAB_BOOK_LANG=lang)
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise BookError(f"sphinx-build failed for the {edition} edition (rc {r.returncode}):\n"
                        f"{r.stdout[-3000:]}\n{r.stderr[-6000:]}")
    for line in r.stderr.splitlines():
        if "WARNING" in line or "ERROR" in line:
            print(f"  sphinx: {line}", file=sys.stderr)


def check_student_html(out: Path, chapters: list[Chapter], lang: str = "en") -> None:
    """The leak check once more, on what a browser shows of each built student page."""
    problems = []
    for ch in chapters:
        html_file = out / "student" / lang / ch.path.parent.name / (ch.path.stem + ".html")
        if not html_file.exists():
            problems.append(f"{html_file} was not built")
            continue
        problems += editions.html_leak_problems(html_file.read_text(encoding="utf-8"), ch.source, str(html_file))
    if problems:
        raise BookError("the built student edition leaks:\n" + "\n".join(problems))


def build(root: Path, out: Path, *, edition_names=EDITIONS, jobs: int = 1, repo_url: str | None = None,
          only: list[str] | None = None, timeout: int = 600, languages=LANGUAGES) -> dict[str, float]:
    """Build the asked editions; return the seconds each stage took."""
    root, out = root.resolve(), out.resolve()
    t0 = time.perf_counter()
    base = Path(Course.load(str(root)).path("source"))
    notebooks = [base / a / f"{stem}.ipynb" for a in list_assignments(str(base)) for stem in notebooks_of(str(base / a))]
    if only:
        notebooks = [p for p in notebooks
                     if any(fnmatch.fnmatch(f"{p.parent.name}/{p.name}", g) for g in only)]
    if not notebooks:
        raise BookError(f"no notebook in {base}" + (f" matches {only}" if only else ""))
    print(f"book: {len(notebooks)} notebook(s) from {base}")
    executed = execute_all(notebooks, root, out / ".cache", jobs=jobs, timeout=timeout)
    chapters = []
    for p in notebooks:
        source = nbformat.read(str(p), as_version=4)
        chapters.append(Chapter(p, source, with_outputs(source, nbformat.read(str(executed[p]), as_version=4))))
    times = {"execute": time.perf_counter() - t0}
    for edition in edition_names:
        for lang in languages:
            t = time.perf_counter()
            write_sources(edition, chapters, root, out / "_src" / edition / lang, out, repo_url, lang)
            sphinx(edition, out / "_src" / edition / lang, out, lang)
            if edition == "student":
                check_student_html(out, chapters, lang)
            times[f"{edition}/{lang}"] = time.perf_counter() - t
            print(f"book: {edition} edition, {lang} → {out / edition / lang / 'index.html'} ({times[f'{edition}/{lang}']:.1f} s)")
    return times


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m book.build", description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1],
                    help="the course checkout (holds solutions/, course/, nbgrader_config.py)")
    ap.add_argument("--out", type=Path, default=None, help="output folder (default ROOT/build/book)")
    ap.add_argument("--edition", choices=EDITIONS, action="append",
                    help="build only this edition (repeatable; default both)")
    ap.add_argument("--jobs", type=int, default=1, help="notebooks executed at once (one torch thread each)")
    ap.add_argument("--repo-url", default=os.environ.get("GRADLAB_REPO_URL"),
                    help="link pages to REPO_URL/course/... (e.g. https://host/org/gradlab/blob/main); "
                         "default: a relative link into this checkout")
    ap.add_argument("--only", action="append", metavar="GLOB",
                    help="only notebooks matching ASSIGNMENT/NOTEBOOK.ipynb globs (a quick partial book)")
    ap.add_argument("--timeout", type=int, default=600, help="seconds one cell may run")
    ap.add_argument("--lang", choices=LANGUAGES, action="append",
                    help="build only this language (repeatable; default all)")
    args = ap.parse_args(argv)
    try:
        build(args.root, args.out or args.root / "build" / "book", edition_names=args.edition or EDITIONS,
              jobs=args.jobs, repo_url=args.repo_url, only=args.only, timeout=args.timeout,
              languages=args.lang or LANGUAGES)
    except BookError as e:
        print(f"book: error: {e}", file=sys.stderr)
        return 1
    except RuntimeError as e:  # a notebook failed
        print(f"book: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
