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


# --------------------------------------------------------------------------------------------
# assignment 5: optimizers on a 2-D surface
#: name -> (factory(params, lr, beta) -> Optimizer, a learning rate that works on Rosenbrock)
OPTIMIZERS_2D = {
    "sgd": (lambda p, lr, b: torch.optim.SGD(p, lr=lr), 1e-3),
    "momentum": (lambda p, lr, b: torch.optim.SGD(p, lr=lr, momentum=b), 1e-3),
    "nesterov": (lambda p, lr, b: torch.optim.SGD(p, lr=lr, momentum=b, nesterov=True), 1e-3),
    "adagrad": (lambda p, lr, b: torch.optim.Adagrad(p, lr=lr), 0.3),
    "rmsprop": (lambda p, lr, b: torch.optim.RMSprop(p, lr=lr, alpha=b), 1e-2),
    "adam": (lambda p, lr, b: torch.optim.Adam(p, lr=lr, betas=(b, 0.999)), 3e-2),
    "adamw": (lambda p, lr, b: torch.optim.AdamW(p, lr=lr, betas=(b, 0.999), weight_decay=1e-2), 3e-2),
}
__all__ += ["optimizer_explorer", "OPTIMIZERS_2D"]


def optimizer_explorer(optimizers: dict | None = None, *, surface: str = "rosenbrock",
                       optimizer: str = "momentum", lr: float | None = None, beta: float = 0.9,
                       steps: int = 500):
    r"""Optimizer, learning rate and β as controls; the path on a 2-D surface (contours) and the
    loss against the step as the picture, with a slider over the steps.

    β is the momentum of SGD with momentum / Nesterov, RMSProp's ``alpha`` and Adam's
    :math:`\beta_1`; plain SGD and AdaGrad ignore it. Choosing an optimizer sets the learning
    rate to one that works for it on Rosenbrock (then change it).

    Args:
        optimizers: ``{"name": (factory(params, lr, beta) -> Optimizer, default lr)}``
            (default :data:`OPTIMIZERS_2D`, torch's optimizers; pass your own classes).
        surface: a name in :data:`gradlab.plots.SURFACES`.
        optimizer, lr, beta, steps: initial values of the controls; ``steps`` is also the
            length of every path.
    """
    import ipywidgets as W
    import numpy as np
    from .plots import SURFACES, optimizer_path, plot_paths

    optimizers = dict(optimizers or OPTIMIZERS_2D)
    controls = {
        "optimizer": W.Dropdown(options=list(optimizers), value=optimizer, description="optimizer"),
        "surface": W.Dropdown(options=list(SURFACES), value=surface, description="surface"),
        "lr": W.FloatLogSlider(value=lr or optimizers[optimizer][1], base=10, min=-4, max=0, step=0.1,
                               description="learning rate", readout_format=".1e", continuous_update=False),
        "beta": W.FloatSlider(value=beta, min=0.0, max=0.99, step=0.01, description="β / momentum",
                              continuous_update=False),
        "step": W.IntSlider(value=steps, min=1, max=steps, description="show steps", continuous_update=False),
    }
    for control in controls.values():
        control.style = {"description_width": "initial"}
    out = W.Output(layout={"min_height": "360px"})
    summary = W.HTML()
    state = {"busy": False}

    def redraw(*_):
        if state["busy"]:
            return
        v = {k: c.value for k, c in controls.items()}
        factory = optimizers[v["optimizer"]][0]
        path, losses = optimizer_path(lambda p: factory(p, v["lr"], v["beta"]), v["surface"], steps)
        upto = min(v["step"], len(path) - 1)
        fig, axes = plt.subplots(1, 2, figsize=(11.5, 4), gridspec_kw={"width_ratios": [1.3, 1]})
        plot_paths(v["surface"], {v["optimizer"]: path}, axes[0], upto=upto,
                   title=f"{v['optimizer']} · lr {v['lr']:.1e} · β {v['beta']:.2f}")
        axes[1].semilogy(range(upto + 1), np.maximum(losses[:upto + 1], 1e-16))
        axes[1].set(xlabel="step", ylabel="loss", title="loss vs step", xlim=(0, steps))
        axes[1].grid(alpha=0.3, which="both")
        fig.tight_layout()
        diverged = len(path) < steps + 1
        summary.value = (f"<b>loss after {upto} steps:</b> {losses[upto]:.3g} &nbsp; "
                         f"<b>distance to the minimum:</b> "
                         f"{float(np.hypot(*(path[upto] - SURFACES[v['surface']].minimum))):.3g}"
                         + (f" &nbsp; <b style='color:#c00'>diverged at step {len(path) - 1}</b>" if diverged else ""))
        show_figure(out, fig)

    def new_optimizer(change):
        state["busy"] = True
        controls["lr"].value = optimizers[change["new"]][1]
        state["busy"] = False
        redraw()

    controls["optimizer"].observe(new_optimizer, names="value")
    for name in ("surface", "lr", "beta", "step"):
        controls[name].observe(redraw, names="value")
    redraw()
    box = W.VBox([W.HBox([controls["optimizer"], controls["surface"]]),
                  W.HBox([controls["lr"], controls["beta"]]), controls["step"], summary, out])
    box.controls = controls
    box.redraw = redraw
    return box
