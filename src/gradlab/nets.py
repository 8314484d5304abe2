"""Deep MLPs built by name: depth, width, activation and initialization scheme.

>>> net = mlp(depth=10, width=100, activation="elu", init="he")

The initialization schemes are the ones of the course:

========================  ==========================================  ==========================
name                      weights                                     for
========================  ==========================================  ==========================
``"default"``             whatever ``nn.Linear`` does (U(±1/√fan_in))
``"normal"``              N(0, σ²), ``sigma=`` (the book's N(0, 1)    the "bad" baseline
                          with σ = 1)
``"uniform"``             U(±σ), ``sigma=`` (σ = 1/√fan_in: Glorot &  the "standard" init of 2010
                          Bengio's "standard" U(±1/√n))
``"xavier"``/``"glorot"``  U(±gain·√(6/(fan_in+fan_out)))             logistic, tanh, softmax
``"xavier_normal"``       N(0, gain²·2/(fan_in+fan_out))
``"he"``/``"kaiming"``     N(0, 2/((1+a²)·fan))  (``mode=`` fan_in)     ReLU and variants
``"he_uniform"``          U(±√(6/((1+a²)·fan)))
``"lecun"``               N(0, 1/fan_in)                              SELU
``"lecun_uniform"``       U(±√(3/fan_in))
``"orthogonal"``          a random orthogonal matrix · gain
========================  ==========================================  ==========================

Biases start at zero for every scheme but ``"default"``.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from . import activations

__all__ = ["mlp", "make_activation", "init_linear_", "ACTIVATIONS", "INITS", "INIT_REGISTRY", "Init", "register_init",
           "linear_layers"]

class _Factories(Mapping):
    """``{name: module factory}``, read live from :mod:`gradlab.activations` (aliases included)."""

    def __getitem__(self, name):
        entry = activations.lookup(name)
        if entry is None:
            raise KeyError(name)
        return entry.factory

    def __iter__(self):
        for name, entry in activations.REGISTRY.items():
            yield name
            yield from entry.aliases

    def __len__(self):
        return sum(1 for _ in self)


# Short names → module factories (the registry's). Any other torch.nn class name works too.
ACTIVATIONS = _Factories()


@dataclass(frozen=True)
class Init:
    """One initialization scheme: its names and what it does to a weight matrix ``w`` ([out, in]).

    ``apply(w, gain=, slope=, sigma=, mode=)`` fills ``w`` in place; ``slope`` is the negative slope
    of the activation that follows (He), ``gain`` Xavier's/orthogonal's gain.
    """
    name: str
    apply: Callable[..., object]
    aliases: tuple[str, ...] = ()


def _lecun_uniform(w, **_):
    bound = math.sqrt(3.0 / w.shape[1])
    return nn.init.uniform_(w, -bound, bound)


# One entry per scheme (the module docstring's table); "default" is nn.Linear's own reset.
INIT_REGISTRY: dict[str, Init] = {i.name: i for i in (
    Init("default", lambda w, **_: None),
    Init("normal", lambda w, sigma, **_: nn.init.normal_(w, 0.0, sigma)),
    Init("uniform", lambda w, sigma, **_: nn.init.uniform_(w, -sigma, sigma)),
    Init("xavier", lambda w, gain, **_: nn.init.xavier_uniform_(w, gain=gain),
         ("glorot", "xavier_uniform", "glorot_uniform")),
    Init("xavier_normal", lambda w, gain, **_: nn.init.xavier_normal_(w, gain=gain), ("glorot_normal",)),
    Init("he", lambda w, slope, mode, **_: nn.init.kaiming_normal_(w, a=slope, mode=mode, nonlinearity="leaky_relu"),
         ("kaiming", "he_normal", "kaiming_normal")),
    Init("he_uniform", lambda w, slope, mode, **_: nn.init.kaiming_uniform_(w, a=slope, mode=mode,
                                                                           nonlinearity="leaky_relu"),
         ("kaiming_uniform",)),
    Init("lecun", lambda w, **_: nn.init.normal_(w, 0.0, 1.0 / math.sqrt(w.shape[1])), ("lecun_normal",)),
    Init("lecun_uniform", _lecun_uniform),
    Init("orthogonal", lambda w, gain, **_: nn.init.orthogonal_(w, gain=gain)),
)}
_INIT_NAMES = {alias: i for i in INIT_REGISTRY.values() for alias in (i.name, *i.aliases)}
INITS = tuple(_INIT_NAMES)   # every accepted name, aliases included (the registry's at import)


def register_init(scheme: Init) -> Init:
    """Add (or replace) an initialization scheme: ``mlp(init=name)`` and the sweeps then take it.

    Examples:
        >>> _ = register_init(Init("zeros", lambda w, **_: nn.init.zeros_(w)))
        >>> float(mlp(1, 4, init="zeros", in_features=3)[0].weight.abs().sum())
        0.0
    """
    INIT_REGISTRY[scheme.name] = scheme
    _INIT_NAMES.update({alias: scheme for alias in (scheme.name, *scheme.aliases)})
    return scheme


def make_activation(activation, **kwargs) -> nn.Module:
    """An activation module from a name (``"elu"``, ``"LeakyReLU"``…), a class, or a module."""
    if isinstance(activation, nn.Module):
        return activation
    if isinstance(activation, type) and issubclass(activation, nn.Module):
        return activation(**kwargs)
    if callable(activation) and not isinstance(activation, str):
        return activations.LambdaActivation(activation)
    entry = activations.lookup(str(activation))
    cls = entry.factory if entry is not None else getattr(nn, str(activation), None)
    if cls is None:
        raise ValueError(f"unknown activation {activation!r}; try one of {activations.names()}, "
                         "a torch.nn class name, or register it (gradlab.activations.register)")
    return cls(**kwargs)


@torch.no_grad()
def init_linear_(layer: nn.Linear, init: str = "default", activation: nn.Module | None = None, *,
                 sigma: float = 1.0, gain: float | str = 1.0, mode: str = "fan_in") -> nn.Linear:
    r"""Initialize one ``nn.Linear`` in place by scheme name; see the module docstring.

    Args:
        layer: the layer.
        init: scheme name.
        activation: the activation that follows the layer; gives He's negative slope ``a`` and,
            with ``gain="auto"``, Xavier's gain.
        sigma: standard deviation for ``"normal"`` (half-width for ``"uniform"``).
        gain: Xavier/orthogonal gain, or ``"auto"`` for ``calculate_gain`` of ``activation``.
        mode: ``"fan_in"`` (preserve forward variance) or ``"fan_out"`` (backward) for He.
    """
    scheme = _INIT_NAMES.get(init.lower())
    if scheme is None:
        raise ValueError(f"unknown init {init!r}; choose one of {tuple(_INIT_NAMES)} (or register_init)")
    if scheme.name == "default":
        layer.reset_parameters()
        return layer
    if gain == "auto":
        gain = activations.gain(activation) if activation is not None else 1.0
    slope = activations.negative_slope(activation) if activation is not None else 0.0
    scheme.apply(layer.weight, gain=gain, slope=slope, sigma=sigma, mode=mode)
    if layer.bias is not None:
        layer.bias.zero_()
    return layer


def mlp(depth: int, width: int, activation="relu", init: str = "default", *,
        in_features: int = 40, out_features: int = 10, bias: bool = True,
        batchnorm: bool = False, dropout: float = 0.0, sigma: float = 1.0,
        gain: float | str = 1.0, mode: str = "fan_in", activation_kwargs: dict | None = None,
        device=None, dtype=None) -> nn.Sequential:
    r"""A deep multilayer perceptron: ``depth`` hidden layers of ``width`` units, then a linear head.

    Layout (``[N, in] → [N, width] × depth → [N, out]``)::

        Linear(in, width) [BatchNorm1d] act [Dropout]  ×depth  → Linear(width, out)

    Args:
        depth: number of hidden layers (≥ 0).
        width: units per hidden layer.
        activation: name, class or module (a fresh module is made per layer from names/classes;
            a module is copied per layer). Names, and the gain and negative slope the init uses,
            come from :mod:`gradlab.activations`: register a custom module there to give He
            init its negative slope.
        init: initialization scheme for every ``Linear`` (see module docstring).
        in_features, out_features: input and output sizes (MNIST-1D: 40 → 10).
        batchnorm: insert ``BatchNorm1d`` before each activation (Ioffe & Szegedy 2015).
        dropout: dropout probability after each activation.
        sigma, gain, mode: passed to :func:`init_linear_`.
        activation_kwargs: keyword arguments for the activation class (e.g. ``negative_slope``).

    Examples:
        >>> net = mlp(depth=3, width=16, activation="tanh", init="xavier", in_features=8)
        >>> net(torch.randn(5, 8)).shape
        torch.Size([5, 10])
    """
    activation_kwargs = activation_kwargs or {}
    layers: list[nn.Module] = []
    fan_in = in_features
    for _ in range(depth):
        linear = nn.Linear(fan_in, width, bias=bias)
        # A module passed in is copied per layer so layers never share (PReLU's) parameters.
        act = (copy.deepcopy(activation) if isinstance(activation, nn.Module) and depth > 1
               else make_activation(activation, **activation_kwargs))
        init_linear_(linear, init, act, sigma=sigma, gain=gain, mode=mode)
        layers.append(linear)
        if batchnorm:
            layers.append(nn.BatchNorm1d(width))
        layers.append(act)
        if dropout:
            layers.append(nn.AlphaDropout(dropout) if isinstance(act, nn.SELU) else nn.Dropout(dropout))
        fan_in = width
    head = nn.Linear(fan_in, out_features, bias=bias)
    init_linear_(head, init, nn.Identity(), sigma=sigma, gain=1.0 if gain == "auto" else gain, mode=mode)
    layers.append(head)
    return nn.Sequential(*layers).to(device=device, dtype=dtype)


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    """Every ``nn.Linear`` of ``model`` in registration order (input side first)."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)]
