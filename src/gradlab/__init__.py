"""gradlab — helpers for the course on training deep nets: data, nets, training, diagnostics, plots.

The public API is small; everything else lives in the submodules
(``gradlab.data``, ``gradlab.nets``, ``gradlab.train``, ``gradlab.diagnostics``, ``gradlab.plots``,
``gradlab.widgets``, ``gradlab.sweep``, ``gradlab.checks``).
"""
from . import activations, checks, plots, sweep, widgets  # gradlab.sweep.sweep(configs, data, ...)
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
