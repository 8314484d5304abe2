"""The report's figures: PNG files beside ``index.html``, drawn as the course draws (matplotlib,
one ``Axes`` per figure at the course's 6×4 in size, integer ticks where counts are plotted), their
labels in the report's language (gradlab's catalog; Chinese drawn with the CJK font of
:mod:`gradlab.i18n`, so no glyph is an empty box).

Each figure is a ``matplotlib.figure.Figure`` made without pyplot, so drawing holds no global
state and needs no display.
"""
from __future__ import annotations

import contextlib
import os
import re

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

FIGSIZE = (6, 4)   # gradlab.plots' default
DPI = 110


def _name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", key) + ".png"


def score_histogram(scores: list[float], max_score: float, title: str, _=str) -> Figure:
    """Histogram of the final scores of one assignment, the mean marked."""
    fig = Figure(figsize=FIGSIZE)
    ax = fig.subplots()
    top = max(max_score, max(scores, default=0.0), 1.0)
    bins = min(20, max(5, int(top)))
    ax.hist(scores, bins=bins, range=(0, top), color="C0", edgecolor="white")
    if scores:
        mean = sum(scores) / len(scores)
        ax.axvline(mean, color="C3", linestyle="--", label=_("mean {mean}").format(mean=f"{mean:.2f}"))
        ax.legend(loc="upper left")
    ax.set_xlabel(_("score (out of {max})").format(max=f"{max_score:g}"))
    ax.set_ylabel(_("students"))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    fig.tight_layout()
    return fig


def pass_rates(labels: list[str], rates: list[float], lost: list[float], title: str, _=str) -> Figure:
    """Horizontal bars: the share of submissions with full marks per cell, the points lost written beside."""
    fig = Figure(figsize=(FIGSIZE[0], max(FIGSIZE[1], 0.45 * len(labels) + 1.2)))
    ax = fig.subplots()
    y = list(range(len(labels)))[::-1]
    ax.barh(y, rates, color=["C3" if r < 0.5 else "C0" for r in rates])
    for yi, r, p in zip(y, rates, lost):
        ax.text(min(r, 1.0) + 0.01, yi, _("{points} pts lost").format(points=f"{p:g}"), va="center", fontsize=8)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlim(0, 1.3)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel(_("submissions with full marks"))
    fig.suptitle(title)   # centred on the figure: the long cell names push the axes to the right
    fig.tight_layout()
    return fig


def fonts(lang: str):
    """matplotlib settings for text in ``lang``: a CJK fallback font for Chinese, nothing otherwise."""
    from gradlab.i18n import cjk_rc

    return cjk_rc() if lang.startswith("zh") else {}


def draw(rep, folder: str, lang: str = "en") -> dict[str, str]:
    """Every figure of the report ``rep`` into ``folder``, labelled in ``lang``; returns key -> file name (relative)."""
    import matplotlib

    from .report import gettext_of

    _ = gettext_of(lang)
    kinds = {"test": _("test"), "answer": _("answer"), "task": _("task")}
    os.makedirs(folder, exist_ok=True)
    out = {}
    # the font is chosen when text is laid out, at savefig: the context spans drawing and saving
    with matplotlib.rc_context(fonts(lang)) if lang != "en" else contextlib.nullcontext():
        for a in rep.assignments:
            figs = {f"hist:{a.name}": score_histogram(a.scores, a.max_score, _("{name}: scores").format(name=a.name), _)}
            cells = [c for c in rep.cells if c.assignment == a.name]
            if cells:
                labels = [f"{c.grade_id} ({kinds.get(c.kind, c.kind)}"
                          + (", " + _("{n} to grade").format(n=c.pending) + ")" if c.pending else ")") for c in cells]
                figs[f"cells:{a.name}"] = pass_rates(labels,
                                                     [c.pass_rate for c in cells], [c.points_lost for c in cells],
                                                     _("{name}: pass rate per cell").format(name=a.name), _)
            for key, fig in figs.items():
                name = _name(key.replace(":", "-"))
                fig.savefig(os.path.join(folder, name), dpi=DPI)
                out[key] = name
    return out
