"""gradlab — helpers for the course on training deep nets: data, nets, training, diagnostics, plots.

The public API is small; everything else lives in the submodules
(``gradlab.data``, ``gradlab.nets``, ``gradlab.train``, ``gradlab.diagnostics``, ``gradlab.plots``,
``gradlab.widgets``, ``gradlab.sweep``, ``gradlab.checks``).
"""
import importlib

from . import activations, checks, i18n, sweep  # gradlab.sweep.sweep(configs, data, ...)
from .data import Dataset, load, read_idx
from .device import get_device, scale, seed_everything, set_threads
from .diagnostics import LayerStats, UpdateRatio, format_stats, hidden_activations, layer_stats
from .nets import init_linear_, linear_layers, make_activation, mlp
from .sweep import Run, SweepResults, grid, scaled
from .train import History, evaluate, make_optimizer, train

__all__ = [
    "get_device", "seed_everything", "set_threads", "scale",
    "Dataset", "load", "read_idx",
    "mlp", "make_activation", "init_linear_", "linear_layers",
    "History", "train", "evaluate", "make_optimizer",
    "LayerStats", "layer_stats", "hidden_activations", "UpdateRatio", "format_stats",
    "grid", "scaled", "Run", "SweepResults", "sweep", "activations", "checks", "plots", "widgets",
]
__version__ = "0.1.0"

# The figure modules import matplotlib.pyplot and ipywidgets: a third of a second of CPU that every
# graded notebook would pay at `from gradlab.observe import record`, plotting or not. They are
# imported on first use instead (`gradlab.plots`, `from gradlab import widgets`).
_ON_FIRST_USE = ("plots", "widgets")
i18n.configure_matplotlib()  # Chinese labels render in any figure, drawn with gradlab.plots or not


def __getattr__(name: str):
    if name in _ON_FIRST_USE:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_ON_FIRST_USE))
