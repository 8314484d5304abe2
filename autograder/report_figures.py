"""The report's figures: PNG files beside ``index.html``, drawn as the course draws (matplotlib,
one ``Axes`` per figure at the course's 6×4 in size, integer ticks where counts are plotted).

Each figure is a ``matplotlib.figure.Figure`` made without pyplot, so drawing holds no global
state and needs no display.
"""
from __future__ import annotations

import os
import re

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

FIGSIZE = (6, 4)   # gradlab.plots' default
DPI = 110


def _name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", key) + ".png"


def score_histogram(scores: list[float], max_score: float, title: str) -> Figure:
    """Histogram of the final scores of one assignment, the mean marked."""
    fig = Figure(figsize=FIGSIZE)
    ax = fig.subplots()
    top = max(max_score, max(scores, default=0.0), 1.0)
    bins = min(20, max(5, int(top)))
    ax.hist(scores, bins=bins, range=(0, top), color="C0", edgecolor="white")
    if scores:
        mean = sum(scores) / len(scores)
        ax.axvline(mean, color="C3", linestyle="--", label=f"mean {mean:.2f}")
        ax.legend(loc="upper left")
    ax.set_xlabel(f"score (out of {max_score:g})")
    ax.set_ylabel("students")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    fig.tight_layout()
    return fig


def pass_rates(labels: list[str], rates: list[float], lost: list[float], title: str) -> Figure:
    """Horizontal bars: the share of submissions with full marks per cell, the points lost written beside."""
    fig = Figure(figsize=(FIGSIZE[0], max(FIGSIZE[1], 0.45 * len(labels) + 1.2)))
    ax = fig.subplots()
    y = list(range(len(labels)))[::-1]
    ax.barh(y, rates, color=["C3" if r < 0.5 else "C0" for r in rates])
    for yi, r, p in zip(y, rates, lost):
        ax.text(min(r, 1.0) + 0.01, yi, f"{p:g} pts lost", va="center", fontsize=8)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlim(0, 1.3)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("submissions with full marks")
    fig.suptitle(title)   # centred on the figure: the long cell names push the axes to the right
    fig.tight_layout()
    return fig


def draw(rep, folder: str) -> dict[str, str]:
    """Every figure of the report ``rep`` into ``folder``; returns key -> file name (relative)."""
    os.makedirs(folder, exist_ok=True)
    out = {}
    for a in rep.assignments:
        figs = {f"hist:{a.name}": score_histogram(a.scores, a.max_score, f"{a.name}: scores")}
        cells = [c for c in rep.cells if c.assignment == a.name]
        if cells:
            labels = [f"{c.grade_id} ({c.kind}" + (f", {c.pending} to grade)" if c.pending else ")") for c in cells]
            figs[f"cells:{a.name}"] = pass_rates(labels,
                                                 [c.pass_rate for c in cells], [c.points_lost for c in cells],
                                                 f"{a.name}: pass rate per cell")
        for key, fig in figs.items():
            name = _name(key.replace(":", "-"))
            fig.savefig(os.path.join(folder, name), dpi=DPI)
            out[key] = name
    return out
