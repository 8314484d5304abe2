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
           "saturation_of", "format_stats", "ActivationHistory", "UpdateToData", "Recorders", "RECORDERS",
           "recorders", "dead_unit_fractions"]

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
        for i in range(len(self.layers)):
            num, den = self._step(i)
            row.append(float(num / den.clamp_min(1e-12)))
        self.ratios.append(row)

    def _step(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(‖W_t − W_{t−1}‖, ‖W_{t−1}‖) of layer ``i``; W_t becomes the next step's W_{t−1}."""
        w = self.layers[i].weight.detach()
        num, den = (w - self._previous[i]).norm(), self._previous[i].norm()
        self._previous[i] = w.clone()
        return num, den

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



# --------------------------------------------------------------------------------------------
# Recorders of training dynamics: each is a callable ``fn(step, model, loss)`` that can be passed
# as ``train(..., on_step=fn)``; :data:`RECORDERS` names them and :func:`recorders` combines them.
def dead_unit_fractions(activations_: list[torch.Tensor]) -> list[float]:
    """Per layer, the fraction of units whose output is exactly 0 for every sample (``[N, units]``
    tensors, one per hidden layer) — a dead ReLU never recovers, since its gradient is 0 too.

    Examples:
        >>> dead_unit_fractions([torch.tensor([[0.0, 1.0], [0.0, 2.0]]), torch.ones(3, 4)])
        [0.5, 0.0]
    """
    return [float((a == 0).all(0).float().mean()) for a in activations_]


class ActivationHistory:
    r"""Histograms of every hidden layer's activations on a fixed probe batch, every ``every`` steps
    — the data of Karpathy's "colorful dimension" plot (makemore part 3; fast.ai part 2): one
    image per layer, training step on x, activation value on y, colour the count. A healthy layer
    keeps a broad band; collapse to 0 (dead or vanishing), a band glued to ±1 (saturation) or a
    band that keeps widening (explosion) are visible at a glance.

    Also keeps, per layer and snapshot, each unit's *activity rate* (the fraction of probe inputs
    for which its output is not 0), from which the dead units follow.

    Args:
        model: the network; hidden layers as in :func:`hidden_layers`.
        x: the probe batch (kept; a few hundred inputs are plenty).
        every: record at steps 0, every, 2·every … (also when called with ``step=None``).
        bins: histogram bins over ``value_range``.
        value_range: the y range (default: the activation's bounds; for an unbounded activation,
            the 0.5–99.5 % range of the first snapshot's values with a 50 % margin, fixed from then on).

    Examples:
        >>> from gradlab import mlp
        >>> torch.manual_seed(0) and None
        >>> net = mlp(3, 16, "relu", in_features=4)
        >>> history = ActivationHistory(net, torch.randn(64, 4), every=1, bins=10)
        >>> history(0, net, None)
        >>> history.counts.shape, history.activity[0].shape, history.steps
        ((3, 1, 10), (1, 16), [0])
    """

    def __init__(self, model: nn.Module, x: torch.Tensor, every: int = 10, bins: int = 40,
                 value_range: tuple[float, float] | None = None):
        self.x, self.every, self.bins = x, every, bins
        pairs = hidden_layers(model)
        bounds = activations.saturation_bounds(pairs[0][1]) if pairs else None
        self.value_range = value_range or bounds
        self.names = [_name(act) for _, act in pairs]
        self.steps: list[int] = []
        self._counts: list[list[np.ndarray]] = []
        self._activity: list[list[np.ndarray]] = []

    @torch.no_grad()
    def __call__(self, step=None, model=None, loss=None) -> None:
        if step is not None and step % self.every:
            return
        was_training = model.training
        model.eval()                   # the probe must not move BN's running statistics
        try:
            acts = hidden_activations(model, self.x)
        finally:
            model.train(was_training)
        if self.value_range is None:
            flat = torch.cat([a.float().flatten() for a in acts]).cpu()
            lo, hi = (float(q) for q in torch.quantile(flat[:1_000_000], torch.tensor([0.005, 0.995])))
            self.value_range = (min(lo * 1.5, 0.0), max(hi * 1.5, lo + 1e-3))
        self.steps.append(len(self.steps) * self.every if step is None else int(step))
        self._counts.append([np.histogram(a.float().clamp(*self.value_range).flatten().cpu().numpy(),
                                          bins=self.bins, range=self.value_range)[0] for a in acts])
        self._activity.append([(a != 0).float().mean(0).cpu().numpy() for a in acts])

    @property
    def counts(self) -> np.ndarray:
        """``[layers, snapshots, bins]`` histogram counts (values outside the range in the end bins)."""
        return np.asarray(self._counts).transpose(1, 0, 2)

    @property
    def activity(self) -> list[np.ndarray]:
        """Per layer, a ``[snapshots, units]`` array: the fraction of probe inputs each unit is non-zero on."""
        return [np.stack([snap[layer] for snap in self._activity]) for layer in range(len(self.names))]

    def dead_fractions(self) -> np.ndarray:
        """``[layers, snapshots]``: the fraction of units that are 0 on every probe input."""
        return np.asarray([(a == 0).mean(1) for a in self.activity])


class UpdateToData:
    r"""The update-to-data ratio :math:`\log_{10}(\lVert \mathrm{lr}\cdot\nabla W\rVert / \lVert W\rVert)`
    of every ``Linear`` weight, per step (Karpathy, makemore part 3: healthy training sits near
    −3; far above, that layer's steps are too large for its weights; far below, it barely learns).

    With plain SGD ``lr·grad`` *is* the step. An adaptive optimizer (Adam, NAdam …) rescales the
    gradient per element, so ``measure="update"`` logs the step actually taken,
    ``log10(‖W_t − W_{t−1}‖ / ‖W_{t−1}‖)`` (the same quantity as :class:`UpdateRatio`, on a log scale).
    Call after ``optimizer.step()`` (as ``train(..., on_step=...)`` does); the gradient is still
    there and the learning rate read from the optimizer's group is the one just used.

    Args:
        model: its ``Linear`` weights are tracked, input side first.
        optimizer: where the learning rate comes from (``measure="lr_grad"``).
        measure: ``"lr_grad"`` or ``"update"``.
        every: log every ``every`` steps.

    Examples:
        >>> lin = nn.Linear(4, 4, bias=False)
        >>> with torch.no_grad():
        ...     _ = lin.weight.fill_(1.0)
        >>> opt = torch.optim.SGD(lin.parameters(), lr=0.1)
        >>> tracker = UpdateToData(lin, opt)
        >>> lin.weight.grad = torch.full((4, 4), 0.01)
        >>> opt.step(); tracker()
        >>> round(float(tracker.as_array()[0, 0]), 3)        # log10(0.1 · 0.01 / 0.999)
        -3.0
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                 measure: str = "lr_grad", every: int = 1):
        if measure not in ("lr_grad", "update"):
            raise ValueError(f"measure must be 'lr_grad' or 'update', not {measure!r}")
        if measure == "lr_grad" and optimizer is None:
            raise ValueError("measure='lr_grad' needs the optimizer (for its learning rate)")
        self.layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
        self.optimizer, self.measure, self.every = optimizer, measure, every
        self.steps: list[int] = []
        self.log: list[list[float]] = []
        self._previous = [m.weight.detach().clone() for m in self.layers]

    _step = UpdateRatio._step   # the step actually taken, as UpdateRatio measures it

    def _lr(self, weight) -> float:
        for group in self.optimizer.param_groups:
            if any(p is weight for p in group["params"]):
                return float(group["lr"])
        raise ValueError("a tracked weight is not in the optimizer")

    @torch.no_grad()
    def __call__(self, step=None, model=None, loss=None) -> None:
        if step is not None and step % self.every:
            return
        row = []
        for i, m in enumerate(self.layers):
            if self.measure == "update":
                num, den = self._step(i)
            else:
                g = m.weight.grad
                num = torch.zeros(()) if g is None else self._lr(m.weight) * g.norm()
                den = m.weight.detach().norm()
            ratio = float(num) / max(float(den), 1e-30)
            # a layer that did not move logs -inf; a diverged one (NaN weights) logs NaN
            row.append(math.log10(ratio) if ratio > 0 else (-math.inf if ratio == 0 else math.nan))
        self.steps.append(len(self.steps) * self.every if step is None else int(step))
        self.log.append(row)

    def as_array(self) -> np.ndarray:
        """``[steps, layers]`` array of log10 ratios."""
        return np.asarray(self.log)


#: name → recorder class; ``recorders(names, model, ...)`` builds them with the keyword arguments
#: each accepts.
RECORDERS = {"activations": ActivationHistory, "update_to_data": UpdateToData}


class Recorders(dict):
    """Several recorders behind one ``on_step`` callable (``name → recorder``)."""

    def __call__(self, step=None, model=None, loss=None) -> None:
        for rec in self.values():
            rec(step, model, loss)


def recorders(names, model: nn.Module, *, x: torch.Tensor | None = None, optimizer=None,
              every: int = 10, **kwargs) -> Recorders:
    """The recorders ``names`` (keys of :data:`RECORDERS`) for ``model``, combined into one
    ``on_step`` callable.

    Args:
        names: e.g. ``("activations", "update_to_data")``.
        x: the probe batch of ``"activations"``.
        optimizer: the optimizer of ``"update_to_data"``.
        every: record every ``every`` steps (the update-to-data ratio: every step).
        kwargs: ``measure=``, ``bins=``, ``value_range=`` for the recorders that take them.

    Examples:
        >>> from gradlab import mlp
        >>> net = mlp(2, 8, in_features=4)
        >>> rec = recorders(("activations", "update_to_data"), net, x=torch.randn(16, 4),
        ...                 optimizer=torch.optim.SGD(net.parameters(), lr=0.1))
        >>> sorted(rec)
        ['activations', 'update_to_data']
    """
    out = Recorders()
    for name in names:
        if name == "activations":
            if x is None:
                raise ValueError("the 'activations' recorder needs a probe batch x")
            out[name] = ActivationHistory(model, x, every=every, bins=kwargs.get("bins", 40),
                                          value_range=kwargs.get("value_range"))
        elif name == "update_to_data":
            out[name] = UpdateToData(model, optimizer, measure=kwargs.get("measure", "lr_grad"))
        else:
            raise ValueError(f"unknown recorder {name!r}; choose from {sorted(RECORDERS)}")
    return out
