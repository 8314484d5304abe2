"""Deep MLPs built by name: depth, width, activation and initialization scheme.

>>> net = mlp(depth=10, width=100, activation="elu", init="he")

The initialization schemes are the ones of the course:

========================  ==========================================  ==========================
name                      weights                                     for
========================  ==========================================  ==========================
``"default"``             whatever ``nn.Linear`` does (U(±1/√fan_in))
``"normal"``              N(0, σ²), ``sigma=`` (Glorot & Bengio's     the "bad" baseline
                          and the book's N(0, 1) with σ = 1)
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

import torch
from torch import nn

__all__ = ["mlp", "make_activation", "init_linear_", "ACTIVATIONS", "INITS", "linear_layers",
           "activation_gain"]

# Short names → torch.nn classes. Any other torch.nn class name ("Hardswish", "Mish"…) works too.
ACTIVATIONS = {
    "identity": nn.Identity, "linear": nn.Identity,
    "sigmoid": nn.Sigmoid, "logistic": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "rrelu": nn.RReLU,
    "prelu": nn.PReLU,
    "elu": nn.ELU,
    "selu": nn.SELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU, "swish": nn.SiLU,
    "softplus": nn.Softplus,
    "mish": nn.Mish,
}

INITS = ("default", "normal", "uniform", "xavier", "glorot", "xavier_uniform", "glorot_uniform",
         "xavier_normal", "glorot_normal", "he", "kaiming", "he_normal", "kaiming_normal",
         "he_uniform", "kaiming_uniform", "lecun", "lecun_normal", "lecun_uniform", "orthogonal")


def make_activation(activation, **kwargs) -> nn.Module:
    """An activation module from a name (``"elu"``, ``"LeakyReLU"``…), a class, or a module."""
    if isinstance(activation, nn.Module):
        return activation
    if isinstance(activation, type) and issubclass(activation, nn.Module):
        return activation(**kwargs)
    if callable(activation) and not isinstance(activation, str):
        return _Lambda(activation)
    key = str(activation).lower()
    cls = ACTIVATIONS.get(key) or getattr(nn, str(activation), None)
    if cls is None:
        raise ValueError(f"unknown activation {activation!r}; try one of {sorted(ACTIVATIONS)}"
                         " or a torch.nn class name")
    return cls(**kwargs)


class _Lambda(nn.Module):
    """Wraps a plain function (e.g. a student's ``elu``) as a module."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)

    def extra_repr(self) -> str:
        return getattr(self.fn, "__name__", repr(self.fn))


def _activation_key(act: nn.Module) -> tuple[str, float | None]:
    """(nonlinearity name for torch.nn.init.calculate_gain, negative slope)."""
    if isinstance(act, nn.Sigmoid):
        return "sigmoid", None
    if isinstance(act, nn.Tanh):
        return "tanh", None
    if isinstance(act, nn.ReLU):
        return "relu", None
    if isinstance(act, nn.LeakyReLU):
        return "leaky_relu", act.negative_slope
    if isinstance(act, nn.RReLU):
        return "leaky_relu", (act.lower + act.upper) / 2
    if isinstance(act, nn.PReLU):
        return "leaky_relu", float(act.weight.detach().mean())
    if isinstance(act, nn.SELU):
        return "selu", None
    return "linear", None


def activation_gain(act: nn.Module) -> float:
    """``torch.nn.init.calculate_gain`` for an activation module (1 for unknown ones)."""
    name, slope = _activation_key(act)
    return nn.init.calculate_gain(name, slope) if name == "leaky_relu" else nn.init.calculate_gain(name)


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
    w = layer.weight
    name = init.lower()
    if gain == "auto":
        gain = activation_gain(activation) if activation is not None else 1.0
    kind, slope = _activation_key(activation) if activation is not None else ("relu", None)
    slope = 0.0 if slope is None else slope
    if name == "default":
        layer.reset_parameters()
        return layer
    if name == "normal":
        nn.init.normal_(w, 0.0, sigma)
    elif name == "uniform":
        nn.init.uniform_(w, -sigma, sigma)
    elif name in ("xavier", "glorot", "xavier_uniform", "glorot_uniform"):
        nn.init.xavier_uniform_(w, gain=gain)
    elif name in ("xavier_normal", "glorot_normal"):
        nn.init.xavier_normal_(w, gain=gain)
    elif name in ("he", "kaiming", "he_normal", "kaiming_normal"):
        nn.init.kaiming_normal_(w, a=slope, mode=mode, nonlinearity="leaky_relu")
    elif name in ("he_uniform", "kaiming_uniform"):
        nn.init.kaiming_uniform_(w, a=slope, mode=mode, nonlinearity="leaky_relu")
    elif name in ("lecun", "lecun_normal"):
        nn.init.normal_(w, 0.0, 1.0 / math.sqrt(w.shape[1]))
    elif name == "lecun_uniform":
        bound = math.sqrt(3.0 / w.shape[1])
        nn.init.uniform_(w, -bound, bound)
    elif name == "orthogonal":
        nn.init.orthogonal_(w, gain=gain)
    else:
        raise ValueError(f"unknown init {init!r}; choose one of {INITS}")
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
        activation: name, class or module (a fresh module is made per layer from names/classes).
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
