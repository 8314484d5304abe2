"""Look inside a deep net: per-layer activation and gradient statistics.

Forward hooks capture each hidden layer's output (the activation that follows each ``Linear``);
one backward pass then gives the weight gradients and the gradients that flow back into each
layer. These are the quantities of Glorot & Bengio (2010): activation histograms and saturation
per layer, back-propagated gradient magnitude per layer — and, for the ReLU family, dead units.

>>> from gradlab import mlp
>>> net = mlp(depth=5, width=64, activation="sigmoid", init="normal")
>>> stats = layer_stats(net, torch.randn(256, 40), torch.randint(0, 10, (256,)))
>>> [round(s.saturation, 2) for s in stats]  # doctest: +SKIP
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import activations

__all__ = ["LayerStats", "layer_stats", "hidden_activations", "hidden_layers", "UpdateRatio",
           "saturation_of", "format_stats"]

_NOT_ACTIVATIONS = (nn.Linear, nn.Dropout, nn.AlphaDropout, nn.LayerNorm,
                    nn.modules.batchnorm._BatchNorm, nn.Flatten)


@dataclass
class LayerStats:
    """Statistics of one hidden layer ``l`` (1 = closest to the input)."""

    layer: int
    activation: str
    act_mean: float
    act_std: float
    saturation: float          # fraction of outputs in a flat zone (NaN if the activation has none)
    dead_fraction: float       # fraction of units that output 0 for every sample
    grad_norm: float = math.nan      # ‖∂L/∂W‖₂ of the Linear feeding this layer
    act_grad_std: float = math.nan   # std of ∂L/∂a, the gradient flowing back into the layer
    hist: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)


def hidden_layers(model: nn.Module) -> list[tuple[nn.Linear, nn.Module]]:
    """``(linear, activation)`` pairs: each ``Linear`` with the first following leaf module that
    is not a norm or dropout. The head (a ``Linear`` with nothing after it) is left out."""
    leaves = [m for m in model.modules() if len(list(m.children())) == 0]
    pairs = []
    for i, module in enumerate(leaves):
        if isinstance(module, nn.Linear):
            for nxt in leaves[i + 1:]:
                if isinstance(nxt, nn.Linear):
                    break
                if not isinstance(nxt, _NOT_ACTIVATIONS):
                    pairs.append((module, nxt))
                    break
    return pairs


def _name(act: nn.Module) -> str:
    fn = getattr(act, "fn", None)
    return getattr(fn, "__name__", None) or type(act).__name__


def saturation_of(act: nn.Module | str, a: torch.Tensor, eps: float = 0.01) -> float:
    """Fraction of outputs ``a`` within ``eps`` of a saturating bound of the activation (its
    registry entry's ``bounds``: sigmoid (0, 1), tanh (−1, 1) …). NaN for activations without.

    Examples:
        >>> saturation_of("sigmoid", torch.tensor([0.005, 0.5, 0.999, 0.3]))
        0.5
    """
    bounds = activations.saturation_bounds(act)
    if bounds is None:
        return math.nan
    low, high = bounds
    return float((torch.minimum(a - low, high - a) < eps).float().mean())


@torch.no_grad()
def hidden_activations(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The output of every hidden layer's activation for input ``x``, each ``[N, units]``."""
    return [a for a, _ in _forward_capture(model, x, need_grad=False)[1]]


def _forward_capture(model, x, need_grad):
    captured: list[tuple[torch.Tensor, nn.Module]] = []
    handles = []
    for _, act in hidden_layers(model):
        def hook(module, inputs, output, _act=act):
            if need_grad and output.requires_grad:
                output.retain_grad()
            captured.append((output, _act))
        handles.append(act.register_forward_hook(hook))
    try:
        out = model(x)
    finally:
        for h in handles:
            h.remove()
    return out, captured


def layer_stats(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None,
                loss_fn=F.cross_entropy, *, bins: int = 50, eps: float = 0.01,
                hist_range: tuple[float, float] | None = None) -> list[LayerStats]:
    r"""Per-hidden-layer statistics for one batch.

    With labels ``y`` a backward pass of ``loss_fn(model(x), y)`` is made (the model's existing
    ``.grad`` are left untouched), giving each layer's weight-gradient norm and the std of the
    gradient reaching its output.

    Args:
        model: the network (any module whose hidden layers are ``Linear`` + activation).
        x: a batch of inputs; y: its labels (optional).
        bins, hist_range: activation histograms (range default: the activation's bounds if it
            has them, else the data's).
        eps: saturation tolerance (see :func:`saturation_of`).
    """
    pairs = hidden_layers(model)
    saved = [p.grad for p in model.parameters()]
    try:
        with torch.enable_grad():
            for p in model.parameters():
                p.grad = None
            out, captured = _forward_capture(model, x, need_grad=y is not None)
            if y is not None:
                loss_fn(out, y).backward()
        stats = []
        for layer, ((linear, act), (a, _)) in enumerate(zip(pairs, captured), start=1):
            a_det = a.detach().float()
            rng = hist_range or _default_range(act, a_det)
            counts, edges = np.histogram(a_det.flatten().cpu().numpy(), bins=bins, range=rng)
            stats.append(LayerStats(
                layer=layer, activation=_name(act),
                act_mean=float(a_det.mean()), act_std=float(a_det.std()),
                saturation=saturation_of(act, a_det, eps),
                dead_fraction=float((a_det == 0).all(0).float().mean()) if a_det.dim() > 1 else math.nan,
                grad_norm=float(linear.weight.grad.norm()) if linear.weight.grad is not None else math.nan,
                act_grad_std=float(a.grad.std()) if a.grad is not None else math.nan,
                hist=(counts, edges)))
        return stats
    finally:
        for p, g in zip(model.parameters(), saved):
            p.grad = g


def _default_range(act, a):
    bounds = activations.saturation_bounds(act)
    if bounds is not None:
        return bounds
    lo, hi = float(a.min()), float(a.max())
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


class UpdateRatio:
    r"""Update-to-data ratio ‖W_{t} − W_{t−1}‖ / ‖W_{t−1}‖ of every ``Linear`` weight, per step.

    A healthy run sits around 1e-3 (Karpathy's rule of thumb); much larger means the learning
    rate is too high for that layer, much smaller that it barely learns. Pass an instance as
    ``train(..., on_step=tracker)`` or call it after each optimizer step.
    """

    def __init__(self, model: nn.Module, every: int = 1):
        self.layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
        self.every = every
        self.ratios: list[list[float]] = []
        self._previous = [m.weight.detach().clone() for m in self.layers]

    @torch.no_grad()
    def __call__(self, step=None, model=None, loss=None) -> None:
        if step is not None and step % self.every:
            return
        row = []
        for i, m in enumerate(self.layers):
            w = m.weight.detach()
            row.append(float((w - self._previous[i]).norm() / self._previous[i].norm().clamp_min(1e-12)))
            self._previous[i] = w.clone()
        self.ratios.append(row)

    def as_array(self) -> np.ndarray:
        """``[steps, layers]`` array of ratios."""
        return np.asarray(self.ratios)


def format_stats(stats: list[LayerStats]) -> str:
    """A fixed-width table of :func:`layer_stats` output, one row per layer."""
    lines = [f"{'layer':>5} {'act':>10} {'mean':>8} {'std':>8} {'satur.':>7} {'dead':>6} {'|grad W|':>10}"]
    for s in stats:
        lines.append(f"{s.layer:>5} {s.activation[:10]:>10} {s.act_mean:>8.3f} {s.act_std:>8.3f} "
                     f"{s.saturation:>7.2%} {s.dead_fraction:>6.1%} {s.grad_norm:>10.2e}")
    return "\n".join(lines)
