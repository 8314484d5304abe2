"""ipywidgets explorers: change a control, the figure redraws.

Each explorer returns a widget (display it as the last expression of a cell). Figures are
rendered to PNG and placed in an ``Output`` widget's outputs directly, so they work with any
matplotlib backend and even outside a kernel (which is how the tests drive them). The explorers
sample a fresh network for every change: they show what initialization and activation do
*before* training, which is what decides whether training can start at all.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from .diagnostics import layer_stats
from .nets import ACTIVATIONS, mlp
from .plots import plot_activations, plot_layer_profile

__all__ = ["network_explorer", "activation_explorer", "show_figure"]

DEFAULT_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu")
DEFAULT_INITS = ("normal", "default", "xavier", "he", "lecun")


def show_figure(out, fig, dpi: int = 80) -> None:
    """Replace what ``Output`` widget ``out`` shows by ``fig`` (as PNG) and close ``fig``."""
    import base64
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    png = base64.b64encode(buffer.getvalue()).decode("ascii")
    out.outputs = ({"output_type": "display_data", "metadata": {},
                    "data": {"image/png": png, "text/plain": repr(fig)}},)


def _inputs(data, n, in_features):
    if data is not None:
        x, y = data.x_train[:n], data.y_train[:n]
        return x.cpu(), y.cpu()
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, in_features, generator=g), torch.randint(0, 10, (n,), generator=g)


def network_explorer(data=None, *, activations=DEFAULT_ACTIVATIONS, inits=DEFAULT_INITS,
                     depth: int = 10, max_depth: int = 50, width: int = 100, n: int = 512,
                     activation: str = "sigmoid", init: str = "normal", sigma: float = 1.0,
                     seed: int = 0):
    """Depth, initialization and activation as controls; per-layer activation std and
    weight-gradient norm of a freshly initialized MLP as the picture.

    Args:
        data: a :class:`gradlab.Dataset` whose first ``n`` training samples feed the net
            (default: standard normal inputs, 40 features).
        activations, inits: the choices offered.
        depth, activation, init, sigma: the initial values of the controls.
        width: hidden units per layer.
    """
    import ipywidgets as W
    in_features = data.n_features if data is not None else 40
    x, y = _inputs(data, n, in_features)
    controls = {
        "activation": W.Dropdown(options=list(activations), value=activation, description="activation"),
        "init": W.Dropdown(options=list(inits), value=init, description="init"),
        "depth": W.IntSlider(value=depth, min=1, max=max_depth, description="depth", continuous_update=False),
        "sigma": W.FloatLogSlider(value=sigma, base=10, min=-2, max=1, step=0.1,
                                  description="σ (normal)", continuous_update=False),
    }
    out = W.Output(layout={"min_height": "330px"})
    summary = W.HTML()

    def redraw(*_):
        v = {k: c.value for k, c in controls.items()}
        torch.manual_seed(seed)
        net = mlp(v["depth"], width, v["activation"], v["init"], sigma=v["sigma"],
                  in_features=in_features, out_features=10)
        stats = layer_stats(net, x, y)
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
        plot_layer_profile(stats, "act_std", axes[0], log=True, ylabel="std of activations",
                           title="forward: activation std per layer")
        plot_layer_profile(stats, "grad_norm", axes[1], log=True, ylabel="‖∂L/∂W‖",
                           title="backward: weight-gradient norm per layer")
        fig.suptitle(f"{v['activation']} · init {v['init']} · depth {v['depth']}", fontsize=11)
        fig.tight_layout()
        ratio = stats[0].grad_norm / max(stats[-1].grad_norm, 1e-30)
        summary.value = (f"<b>first / last layer gradient norm:</b> {ratio:.3g} &nbsp; "
                         f"<b>last layer activation std:</b> {stats[-1].act_std:.3g}")
        show_figure(out, fig)

    for c in controls.values():
        c.observe(redraw, names="value")
    redraw()
    box = W.VBox([W.HBox([controls["activation"], controls["init"]]),
                  W.HBox([controls["depth"], controls["sigma"]]), summary, out])
    box.controls = controls  # handy for tests and for notebooks that drive it
    box.redraw = redraw
    return box


def activation_explorer(functions: dict | None = None, *, depth: int = 20, width: int = 100,
                        n: int = 512, selected=("sigmoid", "relu", "elu"), seed: int = 0):
    """Pick activations; see f, f′ and the per-layer activation mean/std of a deep MLP built
    with each (with the initialization that suits it: Xavier for sigmoid/tanh, LeCun for SELU,
    He otherwise).

    Args:
        functions: ``{"name": f}`` of elementwise functions to offer (e.g. your own
            implementations); default: torch's modules for the course's activations.
    """
    import ipywidgets as W
    if functions is None:
        functions = {name: ACTIVATIONS[name]() for name in DEFAULT_ACTIVATIONS}
    names = list(functions)
    select = W.SelectMultiple(options=names, value=tuple(s for s in selected if s in names) or tuple(names[:1]),
                              description="activations", rows=min(len(names), 8))
    depth_slider = W.IntSlider(value=depth, min=2, max=100, description="depth", continuous_update=False)
    out = W.Output(layout={"min_height": "600px"})
    x, y = _inputs(None, n, 40)

    def suited_init(name):
        if name in ("sigmoid", "logistic", "tanh"):
            return "xavier"
        return "lecun" if name == "selu" else "he"

    def redraw(*_):
        chosen = {k: functions[k] for k in select.value}
        fig, axes = plt.subplots(2, 2, figsize=(11, 7))
        plot_activations(chosen, axes=axes[0])
        profiles = {}
        for name, fn in chosen.items():
            torch.manual_seed(seed)
            net = mlp(depth_slider.value, width, fn, suited_init(name), in_features=40)
            profiles[name] = layer_stats(net, x, y)
        plot_layer_profile(profiles, "act_mean", axes[1, 0], log=False, ylabel="mean",
                           title="activation mean per layer")
        plot_layer_profile(profiles, "act_std", axes[1, 1], log=True, ylabel="std",
                           title="activation std per layer")
        fig.tight_layout()
        show_figure(out, fig)

    select.observe(redraw, names="value")
    depth_slider.observe(redraw, names="value")
    redraw()
    box = W.VBox([W.HBox([select, depth_slider]), out])
    box.controls = {"activations": select, "depth": depth_slider}
    box.redraw = redraw
    return box


def regularization_explorer(data=None, *, sizes=(100, 250, 500, 1000, 2000), n_train: int = 250,
                            dropout: float = 0.0, l2: float = 0.0,
                            l2_values=(0.0, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2), epochs: int = 30,
                            depth: int = 3, width: int = 128, batch_size: int = 50, lr: float = 1e-3,
                            seed: int = 0):
    r"""Training-set size, dropout rate and ℓ2 strength as controls; the training and validation
    curves (loss and accuracy) of a short run as the picture.

    Every change trains a fresh ``depth`` × ``width`` ReLU MLP (He initialization, Adam) for
    ``epochs`` epochs on the first ``n`` examples of a fixed shuffle of ``data``'s training split,
    with ``nn.Dropout(p)`` after every hidden activation and the penalty ``λ2 · Σ w²`` over the
    weights (not the biases) added to the training loss; ``data``'s test split is the validation
    set. The notebook's random state is left untouched (``torch.random.fork_rng``).

    Args:
        data: a :class:`gradlab.Dataset` (default: MNIST-1D on the CPU).
        sizes: the training-set sizes offered.
        n_train, dropout, l2: the initial values of the controls (``l2`` one of ``l2_values``).
        epochs, depth, width, batch_size, lr, seed: the run that is drawn.
    """
    import ipywidgets as W
    import numpy as np
    import torch.nn.functional as F

    from .data import load
    from .train import train

    if data is None:
        data = load("mnist1d", "cpu")
    sizes = [n for n in sizes if n <= len(data.y_train)] or [len(data.y_train)]
    n_train = n_train if n_train in sizes else sizes[0]
    l2_values = sorted(set(l2_values) | {l2})
    controls = {
        "n_train": W.Dropdown(options=sizes, value=n_train, description="train size"),
        "dropout": W.FloatSlider(value=dropout, min=0.0, max=0.8, step=0.1, description="dropout p",
                                 continuous_update=False),
        "l2": W.SelectionSlider(options=[(f"{v:g}", v) for v in l2_values], value=l2, description="ℓ2 λ2",
                                continuous_update=False),
    }
    out = W.Output(layout={"min_height": "330px"})
    summary = W.HTML()

    def redraw(*_):
        v = {k: c.value for k, c in controls.items()}
        subset = data.subset(v["n_train"], seed=0)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = mlp(depth, width, "relu", "he", dropout=v["dropout"], in_features=data.n_features,
                      out_features=max(data.n_classes, int(data.y_train.max()) + 1), device=data.device)
            weights = [p for name, p in net.named_parameters() if name.endswith("weight")]

            def loss_fn(logits, y, reduction="mean"):
                loss = F.cross_entropy(logits, y, reduction=reduction)
                if reduction == "mean" and v["l2"]:
                    loss = loss + v["l2"] * sum((w * w).sum() for w in weights)
                return loss

            history = train(net, subset, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                            loss_fn=loss_fn, progress=False)
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
        for ax, metric, ylabel in ((axes[0], "loss", "cross-entropy (data term)"), (axes[1], "acc", "accuracy")):
            ax.plot(history.epoch, getattr(history, f"train_{metric}"), label="training")
            ax.plot(history.epoch, getattr(history, f"test_{metric}"), label="validation")
            ax.set(xlabel="epoch", ylabel=ylabel)
            ax.legend()
            ax.grid(alpha=0.3)
        axes[0].set_yscale("log")
        fig.suptitle(f"{v['n_train']} training examples · dropout {v['dropout']:.1f} · ℓ2 {v['l2']:g}",
                     fontsize=11)
        fig.tight_layout()
        gap = history.train_acc[-1] - history.test_acc[-1]
        summary.value = (f"<b>final accuracy:</b> training {history.train_acc[-1]:.3f}, validation "
                         f"{history.test_acc[-1]:.3f} &nbsp; <b>gap:</b> {gap:.3f} &nbsp; "
                         f"<b>best validation loss</b> at epoch {int(np.argmin(history.test_loss))}")
        box.history = history
        show_figure(out, fig)

    box = W.VBox([W.HBox([controls["n_train"], controls["dropout"], controls["l2"]]), summary, out])
    box.controls = controls  # handy for tests and for notebooks that drive it
    box.redraw = redraw
    for c in controls.values():
        c.observe(redraw, names="value")
    redraw()
    return box
