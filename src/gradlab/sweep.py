r"""Train a grid of MLP configurations, many models at once where their shapes allow.

>>> from gradlab import load
>>> from gradlab.sweep import sweep, grid
>>> runs = sweep(grid(activation=["relu", "tanh"], init=["he", "xavier"], depth=10, width=64),
...              load("mnist1d"), epochs=5, seeds=[0, 1])                      # doctest: +SKIP
>>> runs.where(activation="relu", init="he")[0].history.final_test_acc      # doctest: +SKIP

**What a run means.** Every ``(config, seed)`` pair gives exactly the run that

.. code-block:: python

    torch.manual_seed(seed)
    model = gradlab.mlp(**arch)                       # the config's mlp() keys
    history = gradlab.train(model, data, seed=seed, ...)  # the config's training keys

would give — same initial weights, same batch order — up to float rounding (the batched path
sums in another order; ``tests/test_sweep.py`` holds the two to 1e-4). The global RNG is left as it was.

**How it is fast.** A small MLP trained on its own pays per-op overhead (Python, dispatch,
autograd, some µs an op) on ops of a few µs of arithmetic, far below the core's GEMM peak. Runs whose layers have the
same shapes and that share the training settings are stacked into one network: layer ``l``
holds ``W_l`` as a ``[K, in, out]`` tensor and runs as one ``torch.baddbmm`` for all K members,
so every op does K models' work for one op's overhead, and a step becomes GEMM-bound. Members are
sorted by activation; each group sharing one gets one activation call on its contiguous slice
(``split`` → activation → ``cat``: two copies per layer, not one autograd node per member).
The loss is the sum of the members' mean losses, so each member's gradient is exactly its own.
One fused optimizer runs over the stacked tensors: all of :func:`gradlab.make_optimizer`'s
names are elementwise, so one Adam over ``[K, …]`` tensors *is* K independent Adams (and weight
decay stays per member). Gradient-norm clipping is per member. A member whose loss turns
NaN/inf is recorded and frozen where :func:`gradlab.train` would stop it; the others carry on.
On the CPU, :func:`gradlab.train.tune_cpu_allocator` stops glibc from page-faulting the
stack's 0.5 MiB activations in again every step; a GEMM-bound stack also
gains most from a second *free* core (``gradlab.set_threads``), a small model hardly does.
``make bench`` (``benchmarks/bench.py``) measures all of this on the machine at hand: samples/s and
GFLOP/s of the naive loop, :func:`gradlab.train` and the sweep, side by side, against the GEMM peak.

Runs that cannot be stacked (BatchNorm, dropout, activations with parameters other than
``PReLU``, modules not registered as ``stackable`` in :mod:`gradlab.activations`, optimizer
classes or factories) are trained one by one with
:func:`gradlab.train`: same results, only slower. ``RReLU`` stacks too, with the random slopes
drawn for the whole stack at once: statistically the same, not bitwise the same draws.

**Scale.** :func:`scale` (= :func:`gradlab.device.scale`) reads ``GRADLAB_SCALE``, an integer,
default 1: sizes for a 2-core laptop CPU, every notebook < 60 s. Notebooks multiply epochs,
seeds, sample counts or widths by it through :func:`scaled`; every notebook's locked claims are
checked at ``GRADLAB_SCALE=2`` on a CPU (no larger run has been tested). On a GPU a bigger sweep is
nearly free, since a stack of hundreds of small MLPs is what keeps it busy.
"""
from __future__ import annotations

import inspect
import itertools
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import activations
from .activations import LambdaActivation as _Lambda
from .device import scale  # the course's one size knob, re-exported for notebooks
from .nets import mlp
from .train import History, make_optimizer, progress_enabled, split_data, train, tune_cpu_allocator

__all__ = ["sweep", "grid", "scale", "scaled", "Run", "SweepResults", "StackedMLP",
           "ARCH_KEYS", "TRAIN_KEYS"]

# Config keys that go to mlp() (everything in its signature but where the tensors live).
ARCH_KEYS = frozenset(p for p in inspect.signature(mlp).parameters if p not in ("device", "dtype"))
# Config keys that go to train(); anything else that torch optimizers take goes to the optimizer.
TRAIN_KEYS = frozenset({"epochs", "batch_size", "lr", "optimizer", "weight_decay",
                        "clip_grad_norm", "eval_train"})
OPTIMIZER_KEYS = frozenset({"momentum", "dampening", "nesterov", "betas", "eps", "amsgrad",
                            "alpha", "centered", "momentum_decay", "lr_decay",
                            "initial_accumulator_value", "maximize", "decoupled_weight_decay"})
# Keys a notebook may attach for its own bookkeeping (plot labels…); training ignores them.
LABEL_KEYS = frozenset({"label", "name", "tag"})

# Optimizer names that make_optimizer() knows; all are elementwise, hence stackable.
_STACKABLE_OPTIMIZERS = frozenset({"sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop",
                                   "nadam", "adagrad"})

# ----------------------------------------------------------------------------------- scale


def scaled(n: float, *, power: float = 1.0, minimum: int = 1) -> int:
    r"""``round(n · scale()^power)``, at least ``minimum``.

    :func:`scale` (``GRADLAB_SCALE``, default 1) is the course's one size knob. Use
    ``power=1`` for epochs, seeds and sample counts (cost grows linearly) and ``power=0.5`` for
    widths (the cost of a width-``w`` layer grows as ``w²``).

    Examples:
        >>> scaled(20)            # GRADLAB_SCALE unset
        20
        >>> import os
        >>> os.environ["GRADLAB_SCALE"] = "4"
        >>> scaled(20), scaled(64, power=0.5)
        (80, 128)
        >>> del os.environ["GRADLAB_SCALE"]
    """
    return max(int(minimum), int(round(n * scale() ** power)))


# ------------------------------------------------------------------------------------ grid
def grid(**axes) -> list[dict]:
    r"""The Cartesian product of the ``list`` (or ``range``) arguments, as config dicts.

    Non-list values are the same in every config (so tuples such as ``betas=(0.9, 0.99)`` and
    dicts such as ``activation_kwargs={...}`` stay whole). The first axis varies slowest.

    Examples:
        >>> grid(activation=["relu", "tanh"], init=["he", "xavier"], depth=10)  # doctest: +NORMALIZE_WHITESPACE
        [{'activation': 'relu', 'init': 'he', 'depth': 10},
         {'activation': 'relu', 'init': 'xavier', 'depth': 10},
         {'activation': 'tanh', 'init': 'he', 'depth': 10},
         {'activation': 'tanh', 'init': 'xavier', 'depth': 10}]
    """
    keys = list(axes)
    values = [list(v) if isinstance(v, (list, range)) else [v] for v in axes.values()]
    return [dict(zip(keys, combo)) for combo in itertools.product(*values)]


# --------------------------------------------------------------------------------- results
@dataclass
class Run:
    """One trained ``(config, seed)``: its :class:`~gradlab.train.History` and trained model.

    ``model`` is a plain ``nn.Sequential`` from :func:`gradlab.mlp` (in eval mode) holding the
    trained weights, ready for :func:`gradlab.layer_stats`. ``stacked`` says how many runs
    trained together with it (1: trained alone by :func:`gradlab.train`).
    """

    config: dict
    seed: int
    history: History
    model: nn.Sequential | None = field(default=None, repr=False)
    stacked: int = 1

    def __getitem__(self, key):
        """``run["activation"]``: the config's value (``run["seed"]`` is the seed)."""
        return self.seed if key == "seed" else self.config[key]

    def get(self, key, default=None):
        return self.seed if key == "seed" else self.config.get(key, default)

    @property
    def final_test_acc(self) -> float:
        return self.history.final_test_acc

    @property
    def diverged(self) -> bool:
        """The last recorded training loss is not finite."""
        return not math.isfinite(self.history.train_loss[-1]) if self.history.train_loss else False


class SweepResults(list):
    """A list of :class:`Run`, in config order then seed order, with small helpers."""

    def where(self, **conditions) -> SweepResults:
        """The runs whose config (or ``seed``) matches every ``key=value``."""
        missing = object()
        return SweepResults(r for r in self
                            if all(r.get(k, missing) == v for k, v in conditions.items()))

    def groupby(self, *keys) -> dict:
        """``{value(s) of keys: SweepResults}`` in first-seen order (e.g. seeds of one config)."""
        out: dict = {}
        for r in self:
            value = tuple(r.get(k) for k in keys)
            out.setdefault(value[0] if len(keys) == 1 else value, SweepResults()).append(r)
        return out

    def metric(self, name: str = "final_test_acc") -> np.ndarray:
        """One number per run: a :class:`Run` property or the last entry of a History list."""
        values = []
        for r in self:
            value = getattr(r, name, None)
            if value is None or isinstance(value, (list, History)):
                value = getattr(r.history, name)[-1]
            values.append(float(value))
        return np.asarray(values)


# ------------------------------------------------------------------------- stacked network
def _act_signature(act: nn.Module):
    """Members whose activations share this key can share one activation call; ``None`` for
    activations that cannot be applied to a ``[K, B, W]`` stack."""
    if isinstance(act, nn.PReLU):
        return ("PReLU", act.num_parameters)
    if not activations.is_stackable(act):  # the registry's ``stackable``, and no parameters
        return None
    if isinstance(act, _Lambda):
        return ("fn", id(act.fn))
    return (type(act).__name__, act.extra_repr())


def _split_mlp(model: nn.Module):
    """``(linears, activations)`` when ``model`` is ``Linear, act, …, Linear`` with stackable
    activations; ``None`` otherwise (BatchNorm, Dropout, custom modules…)."""
    if not isinstance(model, nn.Sequential):
        return None
    mods = list(model)
    if len(mods) % 2 != 1:
        return None
    linears, acts = mods[0::2], mods[1::2]
    if not all(type(m) is nn.Linear for m in linears):
        return None
    if any(_act_signature(a) is None for a in acts):
        return None
    return linears, acts


class _PReLUStack(nn.Module):
    """PReLU for K members at once: weight ``[K, P]``; ``max(0, z) + a·min(0, z)``."""

    def __init__(self, weights: torch.Tensor):
        super().__init__()
        self.weight = nn.Parameter(weights)  # [K, P], P = 1 or width

    def forward(self, z):  # z: [K, B, W]
        if self.weight.shape[1] == 1:
            # F.prelu's channel dim is dim 1: a [B, K, W] view makes the members the channels.
            # Exact, and ~10x faster than torch.where on this CPU.
            return F.prelu(z.transpose(0, 1), self.weight.view(-1)).transpose(0, 1)
        a = self.weight.unsqueeze(1)  # [K, 1, W]: one slope per member and unit
        return torch.where(z > 0, z, z * a)  # the branch test torch's prelu backward uses


class StackedMLP(nn.Module):
    r"""K MLPs of identical layer shapes as one module: weights ``[K, in, out]``, ``baddbmm``.

    Built from ``models`` (each ``Linear, act, …, Linear``), it computes for every member ``k``
    exactly ``models[k](x_k)`` (up to float summation order)::

        h_0 = x                                   [K, B, in]  (or [B, in], shared by all)
        h_l = act_l(h_{l-1} @ W_l + b_l)          [K, B, width]   W_l: [K, in, out], b_l: [K, 1, out]
        out = h_{L-1} @ W_L + b_L                 [K, B, classes]

    Members must be sorted so that those sharing an activation are contiguous; each such group
    gets one activation call per layer.

    Args:
        models: the K member networks (their parameters are copied, not shared).

    Examples:
        >>> nets = [mlp(2, 8, a, in_features=4) for a in ("relu", "relu", "tanh")]
        >>> stack = StackedMLP(nets)
        >>> x = torch.randn(5, 4)
        >>> torch.allclose(stack(x)[2], nets[2](x), atol=1e-6)
        True
    """

    def __init__(self, models: list[nn.Module]):
        super().__init__()
        parts = [_split_mlp(m) for m in models]
        if any(p is None for p in parts):
            raise ValueError("every member must be Linear, activation, …, Linear")
        self.k = len(models)
        depth = len(parts[0][0])
        with torch.no_grad():
            # nn.Linear keeps weight as [out, in]; stacking its transpose makes the forward a
            # plain baddbmm and the weight gradient a plain x^T·g, with no transposed copies.
            self.weights = nn.ParameterList(
                nn.Parameter(torch.stack([p[0][l].weight.detach().t() for p in parts]).contiguous())
                for l in range(depth))
            has_bias = parts[0][0][0].bias is not None
            self.biases = nn.ParameterList(
                nn.Parameter(torch.stack([p[0][l].bias.detach() for p in parts]).unsqueeze(1).clone())
                for l in range(depth)) if has_bias else None
        # Per hidden layer: the groups (slice sizes) and one activation module per group.
        self.sizes: list[list[int]] = []
        self.acts = nn.ModuleList()
        for l in range(depth - 1):
            layer_acts = [p[1][l] for p in parts]
            sizes, group_mods = [], nn.ModuleList()
            start = 0
            while start < self.k:
                sig = _act_signature(layer_acts[start])
                end = start + 1
                while end < self.k and _act_signature(layer_acts[end]) == sig:
                    end += 1
                first = layer_acts[start]
                if isinstance(first, nn.PReLU):
                    w = torch.stack([layer_acts[i].weight.detach() for i in range(start, end)])
                    group_mods.append(_PReLUStack(w.clone()))
                else:
                    group_mods.append(first)  # stateless: one instance serves the group
                sizes.append(end - start)
                start = end
            self.sizes.append(sizes)
            self.acts.append(group_mods)

    @property
    def depth(self) -> int:
        """Number of hidden layers."""
        return len(self.sizes)

    def _activate(self, l: int, z: torch.Tensor) -> torch.Tensor:
        mods = self.acts[l]
        if len(mods) == 1:
            return mods[0](z)
        # split → one call per group → cat: autograd sees one Split and one Cat node, whose
        # backwards are a cat and free views (slicing one group at a time would make autograd
        # add K full-size zero-padded gradients).
        return torch.cat([m(part) for m, part in zip(mods, z.split(self.sizes[l]))])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for l, w in enumerate(self.weights):
            if h.dim() == 2:  # one input for every member: a stride-0 view, no copy
                h = h.unsqueeze(0).expand(self.k, *h.shape)
            if self.biases is not None:
                h = torch.baddbmm(self.biases[l], h, w)  # [K, B, out]
            else:
                h = torch.bmm(h, w)
            if l < self.depth:
                h = self._activate(l, h)
        return h

    @torch.no_grad()
    def write_back(self, k: int, model: nn.Module) -> nn.Module:
        """Copy member ``k``'s parameters into ``model`` (a network of the member's layout)."""
        linears, acts = _split_mlp(model)
        for l, linear in enumerate(linears):
            linear.weight.copy_(self.weights[l][k].t())
            if self.biases is not None:
                linear.bias.copy_(self.biases[l][k, 0])
        for l, act in enumerate(acts):
            if isinstance(act, nn.PReLU):
                group, offset = self._group_of(l, k)
                act.weight.copy_(self.acts[l][group].weight[k - offset].to(act.weight.device))
        return model

    def _group_of(self, l: int, k: int) -> tuple[int, int]:
        start = 0
        for g, size in enumerate(self.sizes[l]):
            if k < start + size:
                return g, start
            start += size
        raise IndexError(k)

    def member_rows(self, k: int):
        """``(stacked parameter, row)`` pairs that hold member ``k``'s parameters."""
        for w in self.weights:
            yield w, k
        for b in self.biases if self.biases is not None else ():
            yield b, k
        for l, mods in enumerate(self.acts):
            group, offset = self._group_of(l, k)
            if isinstance(mods[group], _PReLUStack):
                yield mods[group].weight, k - offset


# ------------------------------------------------------------------------------- the sweep
@dataclass
class _Spec:
    """One (config, seed) resolved into mlp() arguments and train() arguments."""

    index: int
    config: dict
    seed: int
    arch: dict
    fit: dict  # train() keyword arguments (epochs, batch_size, lr, optimizer, … optimizer kwargs)


def _resolve(configs, seeds, data, defaults: dict) -> list[_Spec]:
    if isinstance(configs, dict):
        configs = [configs]
    x, y, _ = split_data(data)
    n_classes = len(getattr(data, "classes", []) or []) or int(y.max()) + 1
    specs = []
    for config in configs:
        unknown = set(config) - ARCH_KEYS - TRAIN_KEYS - OPTIMIZER_KEYS - LABEL_KEYS - {"seed"}
        if unknown:
            raise ValueError(f"unknown config keys {sorted(unknown)}: use mlp() or train() "
                             f"arguments (or {sorted(LABEL_KEYS)} for labels)")
        arch = {"in_features": x.shape[1], "out_features": n_classes}
        arch.update({k: v for k, v in config.items() if k in ARCH_KEYS})
        for key in ("depth", "width"):
            if key not in arch:
                raise ValueError(f"config {config} needs {key!r}")
        fit = dict(defaults)
        fit.update({k: v for k, v in config.items() if k in TRAIN_KEYS | OPTIMIZER_KEYS})
        for seed in ([config["seed"]] if "seed" in config else seeds):
            specs.append(_Spec(len(specs), config, int(seed), arch, fit))
    return specs


def _fork_rng(device: torch.device):
    devices = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else []
    return torch.random.fork_rng(devices=devices)


def _build(spec: _Spec) -> nn.Sequential:
    """The reference model: ``torch.manual_seed(seed); mlp(**arch)`` (built on the CPU, like
    ``mlp()`` itself, so the initial weights do not depend on the device)."""
    torch.manual_seed(spec.seed)
    return mlp(**spec.arch)


def _stack_key(spec: _Spec, model: nn.Module):
    """Runs with equal keys can train as one stack; ``None``: train alone."""
    fit = spec.fit
    optimizer = fit.get("optimizer", "adam")
    if not (isinstance(optimizer, str) and optimizer.lower() in _STACKABLE_OPTIMIZERS):
        return None
    parts = _split_mlp(model)
    if parts is None:
        return None
    shapes = tuple((m.in_features, m.out_features, m.bias is not None) for m in parts[0])
    hyper = tuple(sorted((k, repr(v)) for k, v in fit.items()))
    return shapes, hyper


def sweep(configs: Iterable[dict] | dict, data, *, seeds: Iterable[int] = (0,), epochs: int = 10,
          batch_size: int = 128, lr: float = 1e-3, optimizer: str = "adam",
          weight_decay: float = 0.0, clip_grad_norm: float | None = None,
          eval_train: bool = True, loss_fn: Callable = F.cross_entropy, test=None,
          batched: bool = True, max_stack: int | None = None, keep_models: bool = True,
          progress: bool | None = None, desc: str | None = None,
          **optimizer_kwargs) -> SweepResults:
    r"""Train every ``(config, seed)`` pair; stack the ones that can train together.

    Each run equals ``torch.manual_seed(seed); train(mlp(**arch), data, seed=seed, …)`` (see the
    module docstring): same initialization, same batch order, same optimizer, results equal to
    float tolerance. Runs with the same layer shapes and the same training settings form one
    :class:`StackedMLP` (any mix of activations and inits; ``PReLU`` and ``RReLU`` included);
    the rest train one by one.

    Args:
        configs: a list of dicts (e.g. from :func:`grid`), or one dict. Keys: any argument of
            :func:`gradlab.mlp` (``depth`` and ``width`` required; ``in_features`` and
            ``out_features`` default to the data's), any training argument below (``lr``,
            ``epochs``, ``batch_size``, ``optimizer``, ``weight_decay``, ``clip_grad_norm``,
            ``eval_train``) or optimizer keyword (``momentum``, ``betas``…) to override the
            sweep-wide value, ``seed`` to replace ``seeds``, and ``label``/``name``/``tag``
            for the notebook's own use.
        data: a :class:`gradlab.data.Dataset` (train split trained on, test split evaluated)
            or a tuple ``(x, y)``; its device is where everything runs.
        seeds: every config is trained once per seed.
        epochs, batch_size, lr, optimizer, weight_decay, clip_grad_norm, eval_train, loss_fn,
            test, optimizer_kwargs: as in :func:`gradlab.train` (``optimizer`` by name only;
            a class or factory makes runs train alone). ``loss_fn`` must take ``reduction=``.
        batched: ``False`` trains every run alone with :func:`gradlab.train` (the reference).
        max_stack: at most this many runs per stack (memory); default: no limit.
        keep_models: return the trained models (``Run.model``).
        progress: ``tqdm.auto`` bar over run-epochs; ``None`` = on unless ``GRADLAB_PROGRESS=0``.
        desc: the bar's label.

    Returns:
        :class:`SweepResults`: one :class:`Run` per (config, seed), configs outer, seeds inner.

    Examples:
        >>> from gradlab import load
        >>> data = load("digits", device="cpu")
        >>> runs = sweep(grid(activation=["relu", "tanh"], depth=2, width=32), data,
        ...              epochs=2, seeds=[0, 1], progress=False)
        >>> [(r["activation"], r.seed, r.stacked) for r in runs]
        [('relu', 0, 4), ('relu', 1, 4), ('tanh', 0, 4), ('tanh', 1, 4)]
    """
    defaults = {"epochs": int(epochs), "batch_size": int(batch_size), "lr": lr,
                "optimizer": optimizer, "weight_decay": weight_decay,
                "clip_grad_norm": clip_grad_norm, "eval_train": eval_train, **optimizer_kwargs}
    specs = _resolve(configs, list(seeds), data, defaults)
    device = split_data(data)[0].device
    if device.type == "cpu":
        tune_cpu_allocator()

    # Plan: build every reference model (cheap) to read its layout, then bucket.
    alone: list[_Spec] = []
    stacks: dict = {}
    with _fork_rng(device):
        for spec in specs:
            key = _stack_key(spec, _build(spec)) if batched else None
            if key is None:
                alone.append(spec)
            else:
                stacks.setdefault(key, []).append(spec)
    groups: list[list[_Spec]] = []
    for members in stacks.values():
        size = max_stack or len(members)
        for start in range(0, len(members), size):
            chunk = members[start:start + size]
            if len(chunk) > 1:
                groups.append(chunk)
            else:
                alone.extend(chunk)

    from tqdm.auto import tqdm
    total = sum(s.fit["epochs"] for s in specs)
    bar = tqdm(total=total, desc=desc or "sweep", unit="run-epoch",
               disable=not progress_enabled(progress), leave=False)
    runs: dict[int, Run] = {}
    try:
        for members in groups:
            runs.update(_train_stack(members, data, test, loss_fn, device, keep_models, bar))
        for spec in sorted(alone, key=lambda s: s.index):
            runs[spec.index] = _train_alone(spec, data, test, loss_fn, device, keep_models)
            bar.update(spec.fit["epochs"])
    finally:
        bar.close()
    return SweepResults(runs[i] for i in range(len(specs)))


def _train_alone(spec: _Spec, data, test, loss_fn, device, keep_models) -> Run:
    """The reference: one model, :func:`gradlab.train`."""
    fit = dict(spec.fit)
    with _fork_rng(device):
        model = _build(spec).to(device)
        history = train(model, data, seed=spec.seed, loss_fn=loss_fn, test=test,
                        progress=False, **fit)
    return Run(spec.config, spec.seed, history, model if keep_models else None, 1)


def _orders(seeds: list[int], n: int, generators: dict, device) -> torch.Tensor:
    """This epoch's shuffles ``[S, n]``, one per distinct seed, drawn exactly as
    :func:`gradlab.train` draws them (one CPU ``randperm`` per epoch)."""
    return torch.stack([torch.randperm(n, generator=generators[s]) for s in seeds]).to(device)


def _train_stack(specs: list[_Spec], data, test, loss_fn, device, keep_models, bar) -> dict[int, Run]:
    """Train ``specs`` (same layer shapes, same training settings) as one :class:`StackedMLP`."""
    x, y, test = split_data(data, test)
    with _fork_rng(device):
        models = [_build(s) for s in specs]
        # Members sharing an activation must be contiguous: stable sort by activation signature.
        order = sorted(range(len(specs)), key=lambda i: repr([_act_signature(a) for a in
                                                              _split_mlp(models[i])[1]]))
        specs = [specs[i] for i in order]
        models = [models[i] for i in order]
        stack = StackedMLP(models).to(device)
        # RReLU draws its slopes from the global RNG: seed it so a sweep is reproducible.
        torch.manual_seed(specs[0].seed)
        histories, active = _fit_stack(stack, specs, models, x, y, test, loss_fn, bar)
    runs = {}
    for j, spec in enumerate(specs):
        if active[j]:  # diverged members were written back when they diverged
            stack.write_back(j, models[j])
        models[j].to(device).eval()
        runs[spec.index] = Run(spec.config, spec.seed, histories[j],
                               models[j] if keep_models else None, stack.k)
    return runs


@torch.no_grad()
def _evaluate_stack(stack: StackedMLP, x, y, loss_fn) -> tuple[list[float], list[float]]:
    """Per member (mean loss, accuracy) on ``(x, y)`` in eval mode, like :func:`evaluate`."""
    was_training = stack.training
    stack.eval()
    k = stack.k
    width = max(w.shape[-1] for w in stack.weights)
    chunk = max(256, (1 << 22) // (k * width))  # bound the [K, chunk, width] activations
    loss_sum = torch.zeros(k, dtype=torch.float64, device=x.device)
    correct = torch.zeros(k, dtype=torch.int64, device=x.device)
    for start in range(0, len(x), chunk):
        xb, yb = x[start:start + chunk], y[start:start + chunk]
        logits = stack(xb)  # [K, b, C]
        b = len(xb)
        losses = loss_fn(logits.reshape(k * b, -1), yb.repeat(k), reduction="none").view(k, b)
        loss_sum += losses.sum(1, dtype=torch.float64)
        correct += (logits.argmax(-1) == yb).sum(1)
    stack.train(was_training)
    return (loss_sum / len(x)).tolist(), (correct.double() / len(x)).tolist()


def _clip_per_member_(params: list[torch.Tensor], max_norm: float, k: int) -> None:
    """``clip_grad_norm_`` for each member separately (its norm over all its parameters)."""
    grads = [p.grad for p in params if p.grad is not None]
    sq = torch.stack([g.reshape(k, -1).pow(2).sum(1) for g in grads]).sum(0)  # [K]
    coef = (max_norm / (sq.sqrt() + 1e-6)).clamp(max=1.0)                     # as torch does
    for g in grads:
        g.mul_(coef.view(k, *[1] * (g.dim() - 1)))


def _fit_stack(stack: StackedMLP, specs: list[_Spec], models, x, y, test, loss_fn, bar):
    """The loop of :func:`gradlab.train`, for K members at once. Returns (histories, active)."""
    fit = dict(specs[0].fit)  # the same for every member of a stack
    epochs, batch_size = fit.pop("epochs"), fit.pop("batch_size")
    clip, eval_train = fit.pop("clip_grad_norm"), fit.pop("eval_train")
    k, n, device = stack.k, len(x), x.device
    params = list(stack.parameters())
    opt = make_optimizer(params, fit.pop("optimizer"), lr=fit.pop("lr"),
                         weight_decay=fit.pop("weight_decay"), **fit)
    # One shuffling generator per distinct seed, seeded as train() seeds its own.
    seeds = sorted({s.seed for s in specs})
    generators = {s: torch.Generator(device="cpu") for s in seeds}
    for s, generator in generators.items():
        generator.manual_seed(s)
    shared = len(seeds) == 1
    which = torch.tensor([seeds.index(s.seed) for s in specs], device=device)  # member → seed row
    histories = [History() for _ in specs]
    active = [True] * k

    def record(epoch, seconds, running):
        if eval_train or running is None:
            train_loss, train_acc = _evaluate_stack(stack, x, y, loss_fn)
        else:
            train_loss, train_acc = running, [float("nan")] * k
        if test is not None:
            test_loss, test_acc = _evaluate_stack(stack, *test, loss_fn)
        else:
            test_loss = test_acc = [float("nan")] * k
        for j in range(k):
            if active[j]:
                histories[j].log(epoch=epoch, train_loss=train_loss[j], train_acc=train_acc[j],
                                 test_loss=test_loss[j], test_acc=test_acc[j], seconds=seconds)

    record(0, 0.0, None)
    stack.train()
    elapsed = 0.0
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        orders = _orders(seeds, n, generators, device)  # [S, n]
        running = torch.zeros(k, device=device)  # summed on the device: no sync per step
        batches = 0
        for i in range(0, n, batch_size):
            if shared:  # one batch for all: a [B, in] input the stack broadcasts
                idx = orders[0, i:i + batch_size]
                xb, yb = x[idx], y[idx].repeat(k)
            else:       # [K, B] indices: each member its own seed's batch
                idx = orders[:, i:i + batch_size].index_select(0, which)
                xb, yb = x[idx], y[idx].reshape(-1)
            b = idx.shape[-1]
            logits = stack(xb)                                                       # [K, B, C]
            losses = loss_fn(logits.reshape(k * b, -1), yb, reduction="none").view(k, b).mean(1)
            opt.zero_grad(set_to_none=True)
            losses.sum().backward()  # Σ_k mean-loss_k: member k's gradient is its own
            if clip is not None:
                _clip_per_member_(params, clip, k)
            opt.step()
            running += losses.detach()
            batches += 1
        running_mean = (running / max(batches, 1)).tolist()
        elapsed += time.perf_counter() - start
        record(epoch, elapsed, running_mean)
        bar.update(sum(active))
        for j in range(k):  # diverged: train() records this epoch, then stops
            if active[j] and not math.isfinite(running_mean[j]):
                active[j] = False
                stack.write_back(j, models[j])
                _freeze_member_(stack, opt, j)
        if not any(active):
            break
    bar.update(sum(epochs + 1 - len(h.epoch) for h in histories))  # epochs diverged runs skip
    return histories, active


@torch.no_grad()
def _freeze_member_(stack: StackedMLP, opt: torch.optim.Optimizer, k: int) -> None:
    """Zero a diverged member's parameters and optimizer state: NaN stops flowing through it."""
    for p, row in stack.member_rows(k):
        p[row].zero_()
        for value in opt.state.get(p, {}).values():
            if torch.is_tensor(value) and value.shape == p.shape:  # not the shared step count
                value[row].zero_()


# ``gradlab.sweep`` may name this function (``from .sweep import sweep`` in the package) or this
# module; either way ``gradlab.sweep.grid(...)`` and ``gradlab.sweep.scale()`` work.
sweep.grid, sweep.scale, sweep.scaled = grid, scale, scaled
