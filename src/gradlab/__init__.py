"""gradlab — helpers for the course on training deep nets: data, nets, training, diagnostics, plots.

The public API is small; everything else lives in the submodules
(``gradlab.data``, ``gradlab.nets``, ``gradlab.train``, ``gradlab.diagnostics``, ``gradlab.plots``,
``gradlab.widgets``, ``gradlab.sweep``, ``gradlab.checks``).
"""
from .device import get_device, seed_everything, set_threads, scale
from .data import Dataset, load, read_idx
from .nets import mlp, make_activation, init_linear_, linear_layers
from .train import History, train, evaluate, make_optimizer
from .diagnostics import LayerStats, layer_stats, hidden_activations, UpdateRatio, format_stats
from .sweep import grid, scaled, Run, SweepResults
from . import checks, plots, sweep, widgets  # gradlab.sweep.sweep(configs, data, ...)

__all__ = [
    "get_device", "seed_everything", "set_threads", "scale",
    "Dataset", "load", "read_idx",
    "mlp", "make_activation", "init_linear_", "linear_layers",
    "History", "train", "evaluate", "make_optimizer",
    "LayerStats", "layer_stats", "hidden_activations", "UpdateRatio", "format_stats",
    "grid", "scaled", "Run", "SweepResults", "sweep", "checks", "plots", "widgets",
]
__version__ = "0.1.0"
