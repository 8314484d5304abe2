"""The course's standard figures, drawn with matplotlib. Each function returns its ``Axes``
(or ``Figure``) so a notebook can add to it, and never calls ``plt.show()`` itself."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.ticker import MaxNLocator

from . import i18n
from .diagnostics import ActivationHistory, LayerStats, UpdateToData

i18n.configure_matplotlib()  # a CJK font when the course runs in Chinese

__all__ = ["plot_activations", "plot_sigmoid_saturation", "plot_layer_histograms",
           "plot_layer_profile", "plot_learning_curves", "derivative",
           "Surface", "SURFACES", "optimizer_path", "plot_paths",
           "plot_activation_history", "plot_dead_units", "plot_update_to_data"]


def derivative(fn: Callable, z: torch.Tensor) -> torch.Tensor:
    """``f'(z)`` elementwise, by autograd (``fn`` must be elementwise)."""
    z = z.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(fn(z).sum(), z)
    return g


def _axes(ax, figsize=(6, 4)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_activations(fns: Mapping[str, Callable] | Callable, z_range=(-5.0, 5.0), *,
                     derivatives: bool = True, axes=None, points: int = 1001):
    """Activation functions (left) and their derivatives by autograd (right).

    Args:
        fns: ``{"label": f}`` or a single function; ``f`` maps a tensor elementwise.
        z_range: the z interval drawn.
        derivatives: draw the right panel.
        axes: one or two existing axes.
    """
    if callable(fns):
        fns = {getattr(fns, "__name__", "f"): fns}
    if axes is None:
        _, axes = plt.subplots(1, 2 if derivatives else 1, figsize=(11 if derivatives else 6, 4))
    axes = np.atleast_1d(axes)
    z = torch.linspace(*z_range, points, dtype=torch.float64)
    for label, fn in fns.items():
        axes[0].plot(z, fn(z).detach(), label=label)
        if derivatives:
            axes[1].plot(z, derivative(fn, z), label=label)
    axes[0].set(title=i18n._("activation f(z)"), xlabel="z")
    if derivatives:
        axes[1].set(title=i18n._("derivative f′(z)"), xlabel="z")
    for ax in axes:
        ax.axhline(0, color="k", lw=0.5)
        ax.axvline(0, color="k", lw=0.5)
        ax.grid(alpha=0.3)
        ax.legend()
    return axes


def plot_sigmoid_saturation(ax=None, z_range=(-5.0, 5.0), eps: float = 0.01):
    r"""The logistic function and its saturation (Géron's Figure 11-1, redrawn).

    Shades the saturated zones where :math:`\min(\sigma, 1-\sigma) < \varepsilon`, draws the
    linear approximation :math:`z/4 + 1/2` around 0 and :math:`\sigma'` with its maximum 1/4.
    """
    ax = _axes(ax, (8, 4.5))
    z = torch.linspace(*z_range, 1001, dtype=torch.float64)
    s = torch.sigmoid(z)
    z_sat = float(torch.log(torch.tensor((1 - eps) / eps)))  # σ(z) = 1 − ε
    ax.plot(z, s, "b-", lw=2, label=r"$\sigma(z)$")
    ax.plot(z, s * (1 - s), "g-", lw=2, label=r"$\sigma'(z)=\sigma(1-\sigma)$")
    ax.plot([-2, 2], [0, 1], "r--", lw=1, label=i18n._(r"linear zone $z/4+1/2$"))
    for lo, hi in ((z_range[0], -z_sat), (z_sat, z_range[1])):
        ax.axvspan(lo, hi, color="grey", alpha=0.15)
    ax.annotate(i18n._("saturating"), xy=(z_sat + 0.2, 1.02), fontsize=10)
    ax.annotate(i18n._("saturating"), xy=(z_range[0] + 0.1, 0.06), fontsize=10)
    ax.annotate(r"max $\sigma'=1/4$", xy=(0, 0.25), xytext=(0.6, 0.4),
                arrowprops=dict(arrowstyle="->"), fontsize=10)
    ax.axhline(0, color="k", lw=0.5)
    ax.axhline(1, color="k", lw=0.5, ls=":")
    ax.axvline(0, color="k", lw=0.5)
    ax.set(xlim=z_range, ylim=(-0.2, 1.2), xlabel="z",
           title=i18n._("Sigmoid activation function (grey: within {eps} of 0 or 1)").format(eps=eps))
    ax.legend(loc="center left", bbox_to_anchor=(0.0, 0.62))
    ax.grid(alpha=0.3)
    return ax


def plot_layer_histograms(stats: Sequence[LayerStats], ax=None, *, title: str | None = None,
                          density: bool = True, log: bool = False):
    """Per-layer activation histograms as overlaid lines, as in Glorot & Bengio (2010), Fig. 6
    (activations at initialization; their Fig. 7 shows the back-propagated gradients)."""
    ax = _axes(ax, (7, 4))
    colors = plt.cm.viridis(np.linspace(0, 0.9, max(len(stats), 1)))
    for s, color in zip(stats, colors):
        counts, edges = s.hist
        y = counts / max(counts.sum() * np.diff(edges).mean(), 1e-12) if density else counts
        ax.plot((edges[:-1] + edges[1:]) / 2, y, color=color, label=i18n._("layer {layer}").format(layer=s.layer))
    ax.set(xlabel=i18n._("activation value"), ylabel=i18n._("density") if density else i18n._("count"),
           title=title or i18n._("activation histograms per layer"))
    if log:
        ax.set_yscale("log")
    ax.legend(fontsize=8, ncol=2)
    ax.grid(alpha=0.3)
    return ax


def plot_layer_profile(profiles: Mapping[str, Sequence[LayerStats]] | Sequence[LayerStats],
                       field: str = "grad_norm", ax=None, *, log: bool = True,
                       ylabel: str | None = None, title: str | None = None):
    """A per-layer quantity (``grad_norm``, ``act_std``, ``saturation``…) against depth, one line per run."""
    ax = _axes(ax)
    if not isinstance(profiles, Mapping):
        profiles = {"": profiles}
    for label, stats in profiles.items():
        ax.plot([s.layer for s in stats], [getattr(s, field) for s in stats], "o-", label=label or None)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # layers are whole numbers
    ax.set(xlabel=i18n._("layer (1 = input side)"), ylabel=ylabel or i18n._(field.replace("_", " ")),
           title=title or i18n._("{quantity} per layer").format(quantity=i18n._(field.replace("_", " "))))
    if log:
        ax.set_yscale("log")
    if any(profiles):
        ax.legend()
    ax.grid(alpha=0.3, which="both")
    return ax


def plot_learning_curves(histories: Mapping[str, object], metric: str = "test_acc", ax=None, *,
                         title: str | None = None, band: bool = True):
    """``metric`` per epoch for each run. A value may be a History or a list of Histories
    (seeds): then the mean is drawn with a ±1 std band."""
    ax = _axes(ax)
    for label, h in histories.items():
        runs = h if isinstance(h, (list, tuple)) else [h]
        length = min(len(getattr(r, metric)) for r in runs)
        values = np.array([getattr(r, metric)[:length] for r in runs], dtype=float)
        epochs = runs[0].epoch[:length]
        mean = values.mean(0)
        (line,) = ax.plot(epochs, mean, label=label)
        if band and len(runs) > 1:
            std = values.std(0)
            ax.fill_between(epochs, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    ax.set(xlabel=i18n._("epoch"), ylabel=i18n._(metric.replace("_", " ")), title=title or i18n._(metric.replace("_", " ")))
    ax.legend()
    ax.grid(alpha=0.3)
    return ax


# --------------------------------------------------------------------------------------------
# 2-D loss surfaces and optimizer paths (assignment 5)
from dataclasses import dataclass  # noqa: E402


@dataclass(frozen=True)
class Surface:
    r"""A 2-D loss surface ``f(x, y)`` for optimizer pictures.

    Attributes:
        name: short name (a key of :data:`SURFACES`).
        fn: ``fn(x, y) -> Tensor`` elementwise on tensors of any shape (autograd-friendly).
        start: where paths start.
        minimum: the global minimum ``(x*, y*)``.
        xlim, ylim: the window drawn.
    """
    name: str
    fn: Callable
    start: tuple[float, float]
    minimum: tuple[float, float]
    xlim: tuple[float, float]
    ylim: tuple[float, float]

    def __call__(self, xy: torch.Tensor) -> torch.Tensor:
        """``f`` at ``xy[..., 0], xy[..., 1]``."""
        return self.fn(xy[..., 0], xy[..., 1])


def _ravine(x, y):
    return 0.5 * (x ** 2 + 25.0 * y ** 2)


def _rosenbrock(x, y):
    return (1 - x) ** 2 + 100.0 * (y - x ** 2) ** 2


SURFACES = {
    # an ill-conditioned quadratic: curvatures 1 and 25 (condition number 25)
    "ravine": Surface("ravine", _ravine, (-4.5, 1.0), (0.0, 0.0), (-5.0, 1.5), (-1.5, 1.5)),
    # Rosenbrock (1960): a curved, narrow valley; curvatures ≈ 0.4 and 1000 at the minimum
    "rosenbrock": Surface("rosenbrock", _rosenbrock, (-1.2, 1.0), (1.0, 1.0), (-1.7, 1.5), (-0.4, 1.6)),
}


def optimizer_path(make_optimizer: Callable, surface: Surface | str = "rosenbrock", steps: int = 200,
                   start=None) -> tuple[np.ndarray, np.ndarray]:
    r"""Run an optimizer on a 2-D surface in float64.

    Args:
        make_optimizer: ``params -> torch.optim.Optimizer`` (e.g. ``lambda p: torch.optim.SGD(p, lr=1e-3)``).
        surface: a :class:`Surface` or a name in :data:`SURFACES`.
        steps: optimizer steps.
        start: the start point (default: the surface's).

    Returns:
        ``(path, losses)``: the points ``[steps + 1, 2]`` (start first) and ``f`` at each; a path
        that diverges is cut at its first non-finite point.
    """
    surface = SURFACES[surface] if isinstance(surface, str) else surface
    xy = torch.tensor(start if start is not None else surface.start, dtype=torch.float64, requires_grad=True)
    opt = make_optimizer([xy])
    path, losses = [xy.detach().clone()], []
    for _ in range(steps):
        loss = surface(xy)
        losses.append(float(loss.detach()))
        if not np.isfinite(losses[-1]):
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
        path.append(xy.detach().clone())
    else:
        losses.append(float(surface(xy.detach())))
    path = torch.stack(path[:len(losses)]).numpy()
    return path, np.asarray(losses)


def plot_paths(surface: Surface | str, paths: Mapping[str, np.ndarray], ax=None, *,
               upto: int | None = None, title: str | None = None):
    """Contour lines of ``surface`` (log-spaced levels) with one optimizer path per entry.

    Args:
        paths: ``{"label": array [steps + 1, 2]}`` (e.g. from :func:`optimizer_path`).
        upto: draw only the first ``upto`` steps of each path (a step slider).
    """
    surface = SURFACES[surface] if isinstance(surface, str) else surface
    ax = _axes(ax, (7, 5))
    xs = torch.linspace(*surface.xlim, 200, dtype=torch.float64)
    ys = torch.linspace(*surface.ylim, 200, dtype=torch.float64)
    gx, gy = torch.meshgrid(xs, ys, indexing="xy")
    z = surface.fn(gx, gy).numpy()
    low = max(float(z.min()), 1e-3)
    levels = np.geomspace(low, float(z.max()), 18)
    ax.contour(gx.numpy(), gy.numpy(), z, levels=levels, cmap="Greys", linewidths=0.6,
               norm=plt.matplotlib.colors.LogNorm())
    ax.plot(*surface.minimum, "k*", ms=12, label=i18n._("minimum"))
    for label, path in paths.items():
        p = np.asarray(path)[: (upto + 1) if upto is not None else None]
        (line,) = ax.plot(p[:, 0], p[:, 1], ".-", ms=2.5, lw=1, label=label)
        ax.plot(p[-1, 0], p[-1, 1], "o", color=line.get_color(), ms=5)
    ax.plot(*surface.start, "ks", ms=5)
    ax.set(xlim=surface.xlim, ylim=surface.ylim, xlabel="x", ylabel="y",
           title=title or i18n._("{surface}: optimizer paths").format(surface=surface.name))
    ax.legend(fontsize=8, loc="best")
    return ax



# --------------------------------------------------------------------------------------------
# training diagnostics (recorders of gradlab.diagnostics)
def plot_activation_history(history: ActivationHistory, axes=None, *, max_layers: int = 6):
    """Karpathy's "colorful dimension" plot: for each hidden layer an image of its activation
    histogram over training — step on x, activation value on y, log(1 + count) as colour.

    Returns the array of axes (one per layer shown, input side first)."""
    counts = history.counts
    n = min(len(counts), max_layers)
    if axes is None:
        _, axes = plt.subplots(1, n, figsize=(2.4 * n + 1, 3.2), sharey=True, squeeze=False)
        axes = axes[0]
    lo, hi = history.value_range
    steps = history.steps
    extent = (steps[0], steps[-1] if len(steps) > 1 else steps[0] + 1, lo, hi)
    for layer, ax in enumerate(axes[:n]):
        ax.imshow(np.log1p(counts[layer]).T, origin="lower", aspect="auto", extent=extent, cmap="magma")
        ax.set(title=f"layer {layer + 1} ({history.names[layer]})", xlabel="step")
        ax.title.set_fontsize(9)
    axes[0].set_ylabel("activation value")
    return axes


def plot_dead_units(history: ActivationHistory, ax=None, *, snapshot: int = -1):
    """Dead-unit chart: every hidden unit of every layer as one cell, coloured by the fraction of
    probe inputs it is active on (non-zero) at ``snapshot``; a dead unit (never active) is black,
    and each row is labelled with its layer's dead fraction."""
    ax = _axes(ax, (8, 0.5 * len(history.names) + 1.5))
    rates = [a[snapshot] for a in history.activity]
    width = max(len(r) for r in rates)
    grid = np.full((len(rates), width), np.nan)
    for i, r in enumerate(rates):
        grid[i, :len(r)] = r
    im = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    dead = history.dead_fractions()[:, snapshot]
    ax.set_yticks(range(len(rates)), [f"layer {i + 1}: {d:.0%} dead" for i, d in enumerate(dead)])
    ax.set(xlabel="unit", title=f"fraction of probe inputs each unit is active on (step {history.steps[snapshot]})")
    plt.colorbar(im, ax=ax, fraction=0.03)
    return ax


def plot_update_to_data(tracker: UpdateToData, ax=None, *, guide: float = -3.0, label: str | None = None,
                        smooth: int = 1):
    """``log10`` update-to-data ratio of every ``Linear`` weight against the step (one line per
    layer, input side darkest), with the ≈ −3 guideline dashed. ``smooth``: moving-average window."""
    ax = _axes(ax, (7, 3.5))
    ratios = tracker.as_array().reshape(len(tracker.log), len(tracker.layers))
    colors = plt.cm.viridis(np.linspace(0, 0.9, max(ratios.shape[1], 1)))
    for layer in range(ratios.shape[1]):
        y = ratios[:, layer]
        if smooth > 1 and len(y) >= smooth:
            y = np.convolve(y, np.ones(smooth) / smooth, mode="valid")
        ax.plot(tracker.steps[len(tracker.steps) - len(y):], y, color=colors[layer], lw=1,
                label=f"{label + ' · ' if label else ''}Linear {layer + 1}")
    ax.axhline(guide, color="k", ls="--", lw=1)
    what = "‖lr·∇W‖ / ‖W‖" if tracker.measure == "lr_grad" else "‖ΔW‖ / ‖W‖"
    ax.set(xlabel="step", ylabel=f"log10 {what}", title="update-to-data ratio per layer")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    return ax
