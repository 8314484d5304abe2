"""gradlab's messages in the student's language: Python ``gettext`` over ``locale/<lang>/LC_MESSAGES/gradlab.po``.

The language is, first found: ``GRADLAB_LANG``; the ``"gradlab": {"lang": ...}`` metadata of the
notebook the kernel runs (Jupyter names it in ``JPY_SESSION_NAME``; the Chinese release carries
``zh_CN``); else English (the source text). The system locale (``LANG``) is deliberately not read:
the English course on a Chinese desktop stays English, and tests that read English messages do
not depend on the machine's locale.

The catalog is read from the ``.po`` file with ``polib`` and compiled in memory, so a clean clone
needs no build step; a missing catalog or ``polib`` means English.

Examples::

    >>> from gradlab.i18n import _, use
    >>> use("en"); _("train")
    'train'
    >>> use("zh_CN"); _("train")
    '训练'
    >>> use(None)  # back to the environment's choice
"""
from __future__ import annotations

import functools
import gettext
import io
import json
import os

LOCALE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "locale")
DOMAIN = "gradlab"
_chosen: str | None = None
# messages built at run time (a LayerStats field or a History metric as an axis label): the
# extractor (python -m autograder.i18n messages) cannot see them in a ``_("...")`` call
RUNTIME_MESSAGES = ("act mean", "act std", "act var", "act grad std", "grad norm", "saturation", "dead fraction",
                    "train loss", "train acc", "test loss", "test acc", "seconds")


def _notebook_lang() -> str | None:
    """The ``gradlab.lang`` metadata of the notebook this kernel serves, if Jupyter says which."""
    path = os.environ.get("JPY_SESSION_NAME", "")
    if not path.endswith(".ipynb") or not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return (json.load(f).get("metadata", {}).get("gradlab") or {}).get("lang")
    except (OSError, ValueError, AttributeError):
        return None


def language() -> str:
    """The language messages are given in: ``"en"`` or a catalog's name such as ``"zh_CN"``."""
    if _chosen:
        return _chosen
    for value in (os.environ.get("GRADLAB_LANG"), _notebook_lang()):
        for tag in (value or "").split(":"):
            lang = _normalise(tag)
            if lang == "en" or (lang and _catalog_file(lang)):
                return lang
    return "en"


def _normalise(tag: str) -> str | None:
    """``zh_CN.UTF-8`` / ``zh-CN`` / ``zh`` → ``zh_CN``; ``en_US`` / ``C`` → ``en``."""
    tag = tag.split(".")[0].split("@")[0].replace("-", "_")
    if not tag:
        return None
    if tag in ("C", "POSIX") or tag.lower().startswith("en"):
        return "en"
    if tag.lower() in ("zh", "zh_cn", "zh_hans", "zh_sg"):
        return "zh_CN"
    return tag


def _catalog_file(lang: str) -> str | None:
    path = os.path.join(LOCALE_DIR, lang, "LC_MESSAGES", DOMAIN + ".po")
    return path if os.path.isfile(path) else None


@functools.cache
def translation(lang: str) -> gettext.NullTranslations:
    """``gettext`` translations of ``lang`` (compiled from the ``.po`` in memory), or the identity."""
    path = _catalog_file(lang) if lang != "en" else None
    if path is None:
        return gettext.NullTranslations()
    try:
        import polib
    except ImportError:
        return gettext.NullTranslations()
    po = polib.pofile(path)
    # fuzzy entries are drafts: English is better than a possibly wrong message
    for entry in po:
        if "fuzzy" in entry.flags:
            entry.msgstr = ""
    return gettext.GNUTranslations(io.BytesIO(po.to_binary()))


def _(message: str) -> str:
    """``message`` in the current language (:func:`language`)."""
    return translation(language()).gettext(message)


def use(lang: str | None) -> None:
    """Force a language for this process (``None``: back to the environment's choice)."""
    global _chosen
    _chosen = _normalise(lang) if lang else None


def is_chinese() -> bool:
    return language().startswith("zh")


# --------------------------------------------------------------------------------------------
# figures: matplotlib needs a CJK font for Chinese labels (DejaVu Sans has no Chinese glyphs)
CJK_FONT = "Noto Sans CJK SC"
CJK_FONT_FILES = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",   # Debian's fonts-noto-cjk
                  "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
                  "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc")


def cjk_font_file() -> str | None:
    """The Noto Sans CJK file on this machine (Debian: ``apt-get install fonts-noto-cjk``), or None."""
    found = next((p for p in CJK_FONT_FILES if os.path.isfile(p)), None)
    if found is None:
        import shutil
        import subprocess

        if shutil.which("fc-match"):
            try:
                r = subprocess.run(["fc-match", "-f", "%{file}", f"{CJK_FONT}:lang=zh-cn"],
                                   capture_output=True, text=True, timeout=10)
                if "CJK" in r.stdout and os.path.isfile(r.stdout):
                    found = r.stdout
            except (OSError, subprocess.SubprocessError):
                pass
    return found


def configure_matplotlib() -> bool:
    """In Chinese, draw text with DejaVu Sans and Noto Sans CJK SC as the fallback for Chinese glyphs.

    The font is registered from its file, because matplotlib's font cache predates a font
    installed later. Returns whether Chinese labels will render; warns (they would be boxes)
    when the font is missing.
    """
    if not is_chinese():
        return True
    import matplotlib

    rc = cjk_rc()
    matplotlib.rcParams.update(rc)
    return bool(rc)


def cjk_rc() -> dict:
    """matplotlib settings that draw Chinese: DejaVu Sans, and Noto Sans CJK SC for the glyphs it lacks.

    The font is registered from its file, because matplotlib's font cache predates a font
    installed later. Empty, with a warning, when the font is missing (labels would be boxes).

    Examples::

        >>> import matplotlib
        >>> with matplotlib.rc_context(cjk_rc()):  # doctest: +SKIP
        ...     fig.savefig("zh.png")
    """
    import warnings

    from matplotlib import font_manager

    if CJK_FONT not in {f.name for f in font_manager.fontManager.ttflist}:
        path = cjk_font_file()
        if path is None:
            warnings.warn("no Chinese font for the figures: install Noto Sans CJK (Debian: apt-get install "
                          "fonts-noto-cjk; .ci/run does); Chinese labels would be drawn as empty boxes", stacklevel=2)
            return {}
        font_manager.fontManager.addfont(path)
    # matplotlib falls back glyph by glyph along font.family (a generic family names one font only)
    return {"font.family": ["DejaVu Sans", CJK_FONT]}
