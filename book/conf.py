"""Sphinx configuration shared by both editions of the book (``book/build.py`` passes ``-c book``).

Everything a page needs is served from the build: the theme's own assets and MathJax 2.7 from the
``jupyter-server-mathjax`` package (copied to ``_static/mathjax``). No analytics, no launch or
repository buttons, no CDN (the notebooks carry no widget state, so myst-nb adds no require.js).
"""
import os
import shutil
from pathlib import Path

project = "gradlab"
author = "the gradlab authors"
copyright = "gradlab authors (MIT)"
html_title = os.environ.get("GRADLAB_BOOK_TITLE", "gradlab")
# book/build.py builds each language separately: Sphinx's own words (search box, navigation) and the
# search index follow it
language = os.environ.get("GRADLAB_BOOK_LANG", "en")

extensions = ["myst_nb"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
suppress_warnings = ["mystnb.unknown_mime_type"]

# MyST: $…$ / $$…$$ math, amsmath environments, ::: admonitions (mark schemes, model answers)
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_dmath_double_inline = True     # $$…$$ inside a paragraph, as Jupyter renders it
myst_update_mathjax = False          # it writes a MathJax 3/4 config; we serve MathJax 2 (below)
myst_heading_anchors = 3

# The notebooks arrive executed (book/execute.py runs each once, cached): myst-nb must not run them.
nb_execution_mode = "off"
nb_execution_raise_on_error = True
nb_merge_streams = True
nb_output_stderr = "show"

# MathJax 2.7 from the jupyter-server-mathjax package, served locally.
mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
mathjax2_config = {
    "tex2jax": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]],
                "processEscapes": True, "processEnvironments": True,
                "ignoreClass": "tex2jax_ignore|mathjax_ignore", "processClass": "math"},
    "HTML-CSS": {"availableFonts": ["STIX-Web"], "preferredFont": "STIX-Web", "webFont": "STIX-Web",
                 "imageFont": None},
    "menuSettings": {"zoom": "None"},
    "showMathMenu": False,
}

html_theme = "sphinx_book_theme"
html_static_path = ["static"]
html_css_files = ["book.css"]
html_copy_source = False
html_show_sourcelink = False
html_last_updated_fmt = None
html_theme_options = {
    "use_download_button": False,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "use_issues_button": False,
    "use_edit_page_button": False,
    "use_source_button": False,
    "launch_buttons": {},
    "show_toc_level": 2,
    "home_page_in_toc": True,
    "analytics": {},
    "icon_links": [],
}


def _mathjax_dir() -> Path:
    import jupyter_server_mathjax
    return Path(jupyter_server_mathjax.__file__).parent / "static"


def _copy_mathjax(app, exception):
    """Put MathJax under the build's _static (once; a rebuild keeps the copy)."""
    if exception is not None or app.builder.format != "html":
        return
    dest = Path(app.outdir) / "_static" / "mathjax"
    if not (dest / "MathJax.js").exists():
        shutil.copytree(_mathjax_dir(), dest, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("localization", "__pycache__"))


def _own_output_folder(app):
    """myst-nb writes each page's notebook and images to OUTDIR/../jupyter_execute, which both editions
    would share: give every edition its own (OUTDIR/../_jupyter_execute/<edition>)."""
    folder = Path(app.outdir).parent / "_jupyter_execute" / Path(app.outdir).name
    app.env.mystnb_config = app.env.mystnb_config.copy(output_folder=str(folder.resolve()))


def _chinese_search():
    """Sphinx's Chinese search with every 2- to 4-character run of Chinese indexed as a term.

    The search page does not segment a query: 梯度消失 is looked up as one term, so the index must
    hold it whether or not a dictionary (jieba, not installed here) would cut it there. A run of n
    Chinese characters adds fewer than 3n terms; Latin words are indexed as Sphinx's zh search does.
    """
    import re

    from sphinx.search.zh import SearchChinese

    class SearchChineseNgrams(SearchChinese):
        cjk_runs = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
        # Sphinx names the page's JS stemmer `<language_name>Stemmer`; the zh search ships the English
        # stemmer (for Latin words), so "Chinese" gives ChineseStemmer, which does not exist, and the
        # search page stops with a ReferenceError
        language_name = "English"

        def split(self, input: str) -> list[str]:
            terms = [run[i:i + n] for run in self.cjk_runs.findall(input)
                     for n in (2, 3, 4) for i in range(len(run) - n + 1)]
            latin1 = [term.strip() for term in self.latin1_letters.findall(input)]
            self.latin_terms.update(latin1)
            return terms + latin1

    return SearchChineseNgrams


def setup(app):
    if language.startswith("zh"):
        app.add_search_language(_chinese_search())
    app.connect("builder-inited", _own_output_folder, priority=900)  # after myst-nb's (500)
    app.connect("build-finished", _copy_mathjax)
