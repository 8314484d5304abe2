r"""The activation registry: one entry per activation, read by ``nets``, ``sweep``, ``diagnostics``
and ``widgets``.

An :class:`Activation` says everything the package needs to know about one activation:

=====================  ==============================================================================
field                  used by
=====================  ==============================================================================
``factory``            :func:`gradlab.mlp` (a fresh module per layer: ``factory(**kwargs)``)
``nonlinearity``       Xavier's ``gain="auto"``: ``torch.nn.init.calculate_gain(nonlinearity, slope)``
``negative_slope``     He init's ``a`` (a number, or a function of the module: PReLU's current weight)
``stackable``          :mod:`gradlab.sweep`: an elementwise, parameter-free module applies to a
                       ``[K, B, W]`` stack of K models at once
``bounds``             :mod:`gradlab.diagnostics`: the saturating bounds (outputs within ``eps`` of
                       one are *saturated*), and the histogram range
``init``               the initialization that suits it (the explorers use it): ``"xavier"`` for the
                       logistic and tanh (Glorot & Bengio 2010), ``"lecun"`` for SELU (Klambauer et al.
                       2017), ``"he"`` for the ReLU family (He et al. 2015)
=====================  ==============================================================================

Adding an activation — a torch module or your own — is one :func:`register` call:

>>> import torch
>>> from torch import nn
>>> class Square(nn.Module):                     # a (silly) custom activation
...     def forward(self, z):
...         return z * z.abs()
>>> entry = register(Activation("square", Square, negative_slope=-1.0, init="he"))
>>> lookup(Square()).name, negative_slope(Square())
('square', -1.0)
>>> from gradlab import mlp
>>> type(mlp(2, 8, "square", "he", in_features=4)[1]).__name__
'Square'
>>> unregister("square")
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

__all__ = ["Activation", "REGISTRY", "register", "unregister", "lookup", "names", "gain",
           "negative_slope", "suited_init", "saturation_bounds", "is_stackable", "LambdaActivation"]


class LambdaActivation(nn.Module):
    """Wraps a plain elementwise function (e.g. a student's ``elu``) as a module."""

    def __init__(self, fn: Callable):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)

    def extra_repr(self) -> str:
        return getattr(self.fn, "__name__", repr(self.fn))


@dataclass(frozen=True)
class Activation:
    """One activation: how to build it and what the rest of the package should know about it.

    Args:
        name: the registry key (lower case), e.g. ``"elu"``.
        factory: a module class or a function ``(**kwargs) -> nn.Module``.
        nonlinearity: the name ``torch.nn.init.calculate_gain`` knows it by (``"linear"`` when it
            has none: gain 1).
        negative_slope: He's ``a`` — the slope for z < 0 (0 for ReLU); a number, or a function of
            the module (``RReLU``: the mean of its slope range).
        stackable: elementwise and without parameters, so one call serves a stack of models
            (``PReLU`` is handled by the sweep engine itself).
        bounds: ``(low, high)`` the outputs saturate at, or ``None``.
        init: the initialization that suits it (a :func:`gradlab.nets.init_linear_` name).
        aliases: other names for it (``"logistic"`` for ``"sigmoid"``).
        module_type: the module class :func:`lookup` recognizes (default: ``factory`` if it is
            a class).
    """

    name: str
    factory: Callable[..., nn.Module]
    nonlinearity: str = "linear"
    negative_slope: float | Callable[[nn.Module], float] = 0.0
    stackable: bool = True
    bounds: tuple[float, float] | None = None
    init: str = "he"
    aliases: tuple[str, ...] = ()
    module_type: type | None = None

    def __post_init__(self):
        if self.module_type is None and isinstance(self.factory, type):
            object.__setattr__(self, "module_type", self.factory)

    def slope(self, module: nn.Module | None = None) -> float:
        """He's negative slope ``a`` for this activation (for ``module`` if it depends on it)."""
        if callable(self.negative_slope):
            return float(self.negative_slope(module if module is not None else self.factory()))
        return float(self.negative_slope)

    def gain(self, module: nn.Module | None = None) -> float:
        """``torch.nn.init.calculate_gain`` for it (Xavier's ``gain="auto"``)."""
        if self.nonlinearity == "leaky_relu":
            return nn.init.calculate_gain("leaky_relu", self.slope(module))
        return nn.init.calculate_gain(self.nonlinearity)


REGISTRY: dict[str, Activation] = {}
_ALIASES: dict[str, str] = {}


def register(entry: Activation) -> Activation:
    """Add (or replace) ``entry``; afterwards ``mlp(..., entry.name)``, the sweep, the diagnostics
    and the explorers know it."""
    key = entry.name.lower()
    REGISTRY[key] = entry
    for alias in entry.aliases:
        _ALIASES[alias.lower()] = key
    return entry


def unregister(name: str) -> None:
    """Remove the entry ``name`` (and its aliases)."""
    entry = REGISTRY.pop(name.lower())
    for alias in entry.aliases:
        _ALIASES.pop(alias.lower(), None)


def names() -> list[str]:
    """The registered names, in registration order."""
    return list(REGISTRY)


def lookup(activation) -> Activation | None:
    """The entry for a name (or alias), a module class, a module or a wrapped function; ``None``
    if it is not registered. Modules match their exact class first, then a registered base class;
    a wrapped function (:class:`LambdaActivation`) matches by its ``__name__``."""
    if isinstance(activation, str):
        key = activation.lower()
        return REGISTRY.get(_ALIASES.get(key, key))
    if isinstance(activation, LambdaActivation):
        return lookup(getattr(activation.fn, "__name__", ""))
    cls = activation if isinstance(activation, type) else type(activation)
    for entry in REGISTRY.values():
        if entry.module_type is cls:
            return entry
    for entry in REGISTRY.values():
        if entry.module_type is not None and issubclass(cls, entry.module_type):
            return entry
    return None


def gain(activation) -> float:
    """Xavier's recommended gain for ``activation`` (1 if it is not registered)."""
    entry = lookup(activation)
    if entry is None:
        return 1.0
    return entry.gain(activation if isinstance(activation, nn.Module) else None)


def negative_slope(activation) -> float:
    """He's ``a`` for ``activation`` (0, i.e. ReLU's, if it is not registered)."""
    entry = lookup(activation)
    if entry is None:
        return 0.0
    return entry.slope(activation if isinstance(activation, nn.Module) else None)


def suited_init(activation) -> str:
    """The initialization that suits ``activation`` (``"he"`` if it is not registered)."""
    entry = lookup(activation)
    return entry.init if entry is not None else "he"


def saturation_bounds(activation) -> tuple[float, float] | None:
    """The bounds ``activation``'s outputs saturate at, or ``None``."""
    entry = lookup(activation)
    return entry.bounds if entry is not None else None


def is_stackable(module: nn.Module) -> bool:
    """Whether one call of ``module`` on a ``[K, B, W]`` stack is K models' activations: registered
    as stackable (or a wrapped function), and without parameters or buffers."""
    entry = lookup(module)
    if isinstance(module, LambdaActivation):
        stackable = entry.stackable if entry is not None else True
    else:
        stackable = entry is not None and entry.stackable and type(module) is entry.module_type
    return stackable and not any(True for _ in module.parameters()) \
        and not any(True for _ in module.buffers())


def _rrelu_slope(m: nn.Module) -> float:
    return (m.lower + m.upper) / 2


def _prelu_slope(m: nn.Module) -> float:
    return float(m.weight.detach().mean())


for _entry in (
    # (He's slope stays ReLU's 0 for the identity: the head of an He-initialized mlp() keeps that scale)
    Activation("identity", nn.Identity, aliases=("linear",), init="lecun"),
    Activation("sigmoid", nn.Sigmoid, "sigmoid", bounds=(0.0, 1.0), init="xavier",
               aliases=("logistic",)),
    Activation("tanh", nn.Tanh, "tanh", bounds=(-1.0, 1.0), init="xavier"),
    Activation("relu", nn.ReLU, "relu"),
    Activation("leaky_relu", nn.LeakyReLU, "leaky_relu", lambda m: m.negative_slope),
    Activation("rrelu", nn.RReLU, "leaky_relu", _rrelu_slope),
    Activation("prelu", nn.PReLU, "leaky_relu", _prelu_slope, stackable=False),
    Activation("elu", nn.ELU),
    Activation("selu", nn.SELU, "selu", init="lecun"),
    # the smooth ReLUs: the identity for z >> 0 and 0 for z << 0, so He's ReLU slope 0 and gain 1; a student's
    # function named gelu/silu/mish, wrapped by LambdaActivation, finds these entries by its __name__
    Activation("gelu", nn.GELU),
    Activation("silu", nn.SiLU, aliases=("swish",)),
    Activation("softplus", nn.Softplus),
    Activation("mish", nn.Mish),
    # torch modules offered by class name ("Hardswish"…): elementwise, so they stack
    Activation("relu6", nn.ReLU6, "relu"),
    Activation("celu", nn.CELU),
    Activation("hardtanh", nn.Hardtanh, bounds=(-1.0, 1.0), init="xavier"),
    Activation("hardswish", nn.Hardswish),
    Activation("hardsigmoid", nn.Hardsigmoid, bounds=(0.0, 1.0), init="xavier"),
    Activation("logsigmoid", nn.LogSigmoid),
    Activation("softsign", nn.Softsign, bounds=(-1.0, 1.0), init="xavier"),
    Activation("tanhshrink", nn.Tanhshrink),
    Activation("threshold", nn.Threshold),
    Activation("softshrink", nn.Softshrink),
    Activation("hardshrink", nn.Hardshrink),
):
    register(_entry)
del _entry
