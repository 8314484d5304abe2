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

from . import activations, i18n
from .diagnostics import layer_stats
from .nets import ACTIVATIONS, make_activation, mlp
from .plots import plot_activations, plot_layer_profile

__all__ = ["network_explorer", "activation_explorer", "variance_explorer", "batchnorm_explorer",
           "optimizer_explorer", "OPTIMIZERS_2D", "regularization_explorer", "show_figure", "INIT_CHOICES",
           "diagnostics_explorer"]

DEFAULT_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu")
DEFAULT_INITS = ("normal", "default", "xavier", "he", "lecun")
# The initializations variance_explorer offers: label → mlp() keyword arguments.
INIT_CHOICES = {
    "normal σ=1": dict(init="normal", sigma=1.0),
    "nn.Linear default": dict(init="default"),
    "Xavier (gain 1)": dict(init="xavier", gain=1.0),
    "Xavier (gain = calculate_gain)": dict(init="xavier", gain="auto"),
    "He (fan_in)": dict(init="he", mode="fan_in"),
    "He (fan_out)": dict(init="he", mode="fan_out"),
    "LeCun": dict(init="lecun"),
}


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


def _live(box, controls: dict, redraw):
    """``box`` redrawn on every change of ``controls`` and drawn once; ``box.controls`` and
    ``box.redraw`` are handy for tests and for notebooks that drive it."""
    box.controls = controls
    box.redraw = redraw
    for c in controls.values():
        c.observe(redraw, names="value")
    redraw()
    return box


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
        "activation": W.Dropdown(options=list(activations), value=activation, description=i18n._("activation")),
        "init": W.Dropdown(options=list(inits), value=init, description=i18n._("init")),
        "depth": W.IntSlider(value=depth, min=1, max=max_depth, description=i18n._("depth"), continuous_update=False),
        "sigma": W.FloatLogSlider(value=sigma, base=10, min=-2, max=1, step=0.1,
                                  description=i18n._("σ (normal)"), continuous_update=False),
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
        plot_layer_profile(stats, "act_std", axes[0], log=True, ylabel=i18n._("std of activations"),
                           title=i18n._("forward: activation std per layer"))
        plot_layer_profile(stats, "grad_norm", axes[1], log=True, ylabel="‖∂L/∂W‖",
                           title=i18n._("backward: weight-gradient norm per layer"))
        fig.suptitle(i18n._("{activation} · init {init} · depth {depth}").format(**v), fontsize=11)
        fig.tight_layout()
        ratio = stats[0].grad_norm / max(stats[-1].grad_norm, 1e-30)
        summary.value = i18n._("<b>first / last layer gradient norm:</b> {ratio:.3g} &nbsp; "
                               "<b>last layer activation std:</b> {std:.3g}").format(ratio=ratio, std=stats[-1].act_std)
        show_figure(out, fig)

    box = W.VBox([W.HBox([controls["activation"], controls["init"]]),
                  W.HBox([controls["depth"], controls["sigma"]]), summary, out])
    return _live(box, controls, redraw)


def variance_explorer(data=None, *, activation: str = "relu", init: str = "Xavier (gain 1)",
                      depth: int = 30, max_depth: int = 60, width: int = 100, n: int = 512,
                      activations=DEFAULT_ACTIVATIONS, inits: dict | None = None, seed: int = 0):
    """Initialization, activation and depth as controls; per-layer **variance** of the
    activations (forward) and of the gradient ∂L/∂a reaching each layer (backward) of a freshly
    initialized MLP as the picture.

    Args:
        data: a :class:`gradlab.Dataset` whose first ``n`` training samples feed the net
            (default: standard normal inputs, 40 features).
        activation, init, depth: the initial values of the controls (``init`` is a label of
            ``inits``).
        inits: ``{label: mlp() keyword arguments}`` (default :data:`INIT_CHOICES`).
        width: hidden units per layer.
    """
    import ipywidgets as W
    inits = dict(INIT_CHOICES if inits is None else inits)
    in_features = data.n_features if data is not None else 40
    x, y = _inputs(data, n, in_features)
    controls = {
        "activation": W.Dropdown(options=list(activations), value=activation, description=i18n._("activation")),
        "init": W.Dropdown(options=list(inits), value=init, description=i18n._("init"),
                           layout={"width": "330px"}),
        "depth": W.IntSlider(value=depth, min=2, max=max_depth, description=i18n._("depth"), continuous_update=False),
    }
    out = W.Output(layout={"min_height": "340px"})
    summary = W.HTML()

    def redraw(*_):
        v = {k: c.value for k, c in controls.items()}
        torch.manual_seed(seed)
        net = mlp(v["depth"], width, v["activation"], in_features=in_features, out_features=10,
                  **inits[v["init"]])
        stats = layer_stats(net, x, y)
        for s in stats:  # variances, floored so that a vanished signal still shows on a log scale
            s.act_var = max(s.act_std ** 2, 1e-300)
            s.act_grad_var = max(s.act_grad_std ** 2, 1e-300)
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
        plot_layer_profile(stats, "act_var", axes[0], log=True, ylabel="variance",
                           title=i18n._("forward: Var(activations) per layer"))
        plot_layer_profile(stats, "act_grad_var", axes[1], log=True, ylabel="variance",
                           title=i18n._("backward: Var(∂L/∂a) per layer"))
        fig.suptitle(f"{v['activation']} · {v['init']} · depth {v['depth']} · width {width}", fontsize=11)
        fig.tight_layout()
        fwd, bwd = [s.act_var for s in stats], [s.act_grad_var for s in stats]
        summary.value = i18n._("<b>Var(a) last / first layer:</b> {fwd:.3g} &nbsp;&nbsp; "
                               "<b>Var(∂L/∂a) first / last layer:</b> {bwd:.3g}").format(fwd=fwd[-1] / fwd[0],
                                                                                       bwd=bwd[0] / bwd[-1])
        show_figure(out, fig)

    box = W.VBox([W.HBox([controls["activation"], controls["init"], controls["depth"]]), summary, out])
    return _live(box, controls, redraw)


def _suited_init(name: str, fn) -> str:
    """The registry's init for a label (``"relu"``) or, failing that, for the function itself."""
    if activations.lookup(name) is not None:
        return activations.suited_init(name)
    return activations.suited_init(fn if isinstance(fn, torch.nn.Module) else make_activation(fn))


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
                              description=i18n._("activations"), rows=min(len(names), 8))
    depth_slider = W.IntSlider(value=depth, min=2, max=100, description=i18n._("depth"), continuous_update=False)
    out = W.Output(layout={"min_height": "600px"})
    x, y = _inputs(None, n, 40)

    def redraw(*_):
        chosen = {k: functions[k] for k in select.value}
        fig, axes = plt.subplots(2, 2, figsize=(11, 7))
        plot_activations(chosen, axes=axes[0])
        profiles = {}
        for name, fn in chosen.items():
            torch.manual_seed(seed)
            net = mlp(depth_slider.value, width, fn, _suited_init(name, fn), in_features=40)
            profiles[name] = layer_stats(net, x, y)
        plot_layer_profile(profiles, "act_mean", axes[1, 0], log=False, ylabel="mean",
                           title=i18n._("activation mean per layer"))
        plot_layer_profile(profiles, "act_std", axes[1, 1], log=True, ylabel="std",
                           title=i18n._("activation std per layer"))
        fig.tight_layout()
        show_figure(out, fig)

    box = W.VBox([W.HBox([select, depth_slider]), out])
    return _live(box, {"activations": select, "depth": depth_slider}, redraw)


def batchnorm_explorer(data=None, *, depth: int = 10, max_depth: int = 30, width: int = 64,
                       activation: str = "sigmoid", batchnorm: bool = False, lr: float = 0.1,
                       activations=("sigmoid", "tanh", "relu", "elu"), init: str = "xavier",
                       steps: int = 60, batch_size: int = 128, n: int = 512, seed: int = 0):
    """Depth, activation, Batch Normalization on/off and learning rate as controls; the per-layer
    activation statistics before and after a short run, and that run's loss curve, as the picture.

    Every change builds ``mlp(depth, width, activation, init, batchnorm=...)`` (Xavier's gain
    for the activation), records the mean and std of every hidden layer's output on ``n``
    training inputs, trains ``steps`` SGD steps (momentum 0.9, batches of ``batch_size``) and
    measures again (in eval mode, i.e. with BN's running statistics).

    Args:
        data: a :class:`gradlab.Dataset` to train on (default: standard normal inputs with
            labels from a fixed random linear map, 40 features, 10 classes).
        depth, activation, batchnorm, lr: the initial values of the controls.
        activations: the choices offered.
        steps: SGD steps of the short run (keep it short: it runs on every change).
    """
    import math

    import ipywidgets as W
    import torch.nn.functional as F

    if data is not None:
        x_all, y_all = data.x_train.cpu(), data.y_train.cpu()
    else:
        g = torch.Generator().manual_seed(0)
        x_all = torch.randn(4096, 40, generator=g)
        y_all = (x_all @ torch.randn(40, 10, generator=g)).argmax(1)
    in_features, classes = x_all.shape[1], int(y_all.max()) + 1
    probe, probe_y = x_all[:n], y_all[:n]
    controls = {
        "depth": W.IntSlider(value=depth, min=1, max=max_depth, description=i18n._("depth"), continuous_update=False),
        "activation": W.Dropdown(options=list(activations), value=activation, description=i18n._("activation")),
        "batchnorm": W.Checkbox(value=batchnorm, description="BatchNorm", style={"description_width": "initial"}),
        "lr": W.FloatLogSlider(value=lr, base=10, min=-3, max=1, step=0.25, description=i18n._("learning rate"),
                               continuous_update=False, style={"description_width": "initial"}),
    }
    out = W.Output(layout={"min_height": "330px"})
    summary = W.HTML()

    def short_run(net, rate):
        opt = torch.optim.SGD(net.parameters(), lr=rate, momentum=0.9)
        g = torch.Generator().manual_seed(seed)
        losses = []
        net.train()
        for _ in range(steps):
            idx = torch.randint(0, len(x_all), (batch_size,), generator=g)
            loss = F.cross_entropy(net(x_all[idx]), y_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            if not math.isfinite(losses[-1]):
                break
        net.eval()
        return losses

    def redraw(*_):
        v = {k: c.value for k, c in controls.items()}
        torch.manual_seed(seed)
        net = mlp(v["depth"], width, v["activation"], init, batchnorm=v["batchnorm"], gain="auto",
                  in_features=in_features, out_features=classes)
        net.eval()
        before = layer_stats(net, probe, probe_y)
        losses = short_run(net, v["lr"])
        finite = all(math.isfinite(p) for p in losses)
        after = layer_stats(net, probe, probe_y) if finite else before
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
        for field, ax, label in (("act_mean", axes[0], "mean"), ("act_std", axes[1], "std")):
            profiles = {"at initialization": before}
            if finite:
                profiles[f"after {len(losses)} steps"] = after
            plot_layer_profile(profiles, field, ax, log=False, ylabel=f"{label} of activations",
                               title=f"activation {label} per layer")
        axes[2].plot(range(1, len(losses) + 1), losses)
        axes[2].set(xlabel=i18n._("SGD step"), ylabel=i18n._("training loss (batch)"), title=i18n._("loss, lr = {lr:.3g}").format(lr=v["lr"]))
        axes[2].grid(alpha=0.3)
        bn = "with BN" if v["batchnorm"] else "without BN"
        fig.suptitle(f"{v['activation']} · depth {v['depth']} · {bn}", fontsize=11)
        fig.tight_layout()
        box.losses = losses  # the last run's per-step losses, for notebooks that assert on them
        last = sum(losses[-10:]) / len(losses[-10:])
        summary.value = (i18n._("<b>loss:</b> {first:.3g} → {last:.3g} (mean of the last 10 steps)").format(
                             first=losses[0], last=last)
                         + ("" if finite else " &nbsp; " + i18n._("<b>diverged</b> (non-finite loss)")))
        show_figure(out, fig)

    box = W.VBox([W.HBox([controls["depth"], controls["activation"]]),
                  W.HBox([controls["batchnorm"], controls["lr"]]), summary, out])
    return _live(box, controls, redraw)


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
        "optimizer": W.Dropdown(options=list(optimizers), value=optimizer, description=i18n._("optimizer")),
        "surface": W.Dropdown(options=list(SURFACES), value=surface, description=i18n._("surface")),
        "lr": W.FloatLogSlider(value=lr or optimizers[optimizer][1], base=10, min=-4, max=0, step=0.1,
                               description=i18n._("learning rate"), readout_format=".1e", continuous_update=False),
        "beta": W.FloatSlider(value=beta, min=0.0, max=0.99, step=0.01, description="β / momentum",
                              continuous_update=False),
        "step": W.IntSlider(value=steps, min=1, max=steps, description=i18n._("show steps"), continuous_update=False),
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
        axes[1].set(xlabel=i18n._("step"), ylabel=i18n._("loss"), title=i18n._("loss vs step"), xlim=(0, steps))
        axes[1].grid(alpha=0.3, which="both")
        fig.tight_layout()
        diverged = len(path) < steps + 1
        summary.value = (i18n._("<b>loss after {steps} steps:</b> {loss:.3g} &nbsp; <b>distance to the minimum:</b> "
                                "{distance:.3g}").format(
                             steps=upto, loss=losses[upto],
                             distance=float(np.hypot(*(path[upto] - SURFACES[v['surface']].minimum))))
                         + (" &nbsp; <b style='color:#c00'>" + i18n._("diverged at step {step}").format(step=len(path) - 1)
                            + "</b>" if diverged else ""))
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
        "n_train": W.Dropdown(options=sizes, value=n_train, description=i18n._("train size")),
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
        summary.value = i18n._("<b>final accuracy:</b> training {train:.3f}, validation {validation:.3f} &nbsp; "
                               "<b>gap:</b> {gap:.3f} &nbsp; <b>best validation loss</b> at epoch {epoch}").format(
                                   train=history.train_acc[-1], validation=history.test_acc[-1], gap=gap,
                                   epoch=int(np.argmin(history.test_loss)))
        box.history = history
        show_figure(out, fig)

    box = W.VBox([W.HBox([controls["n_train"], controls["dropout"], controls["l2"]]), summary, out])
    return _live(box, controls, redraw)



# --------------------------------------------------------------------------------------------
# training diagnostics: what the layers do *during* a run
def diagnostics_explorer(data=None, *, depth: int = 5, width: int = 64, activation: str = "tanh",
                         init: str = "xavier", lr: float = 0.1, activations=("tanh", "relu", "sigmoid", "elu"),
                         inits=("xavier", "he", "default", "normal"), steps: int = 150, every: int = 5,
                         batch_size: int = 128, n: int = 256, seed: int = 0):
    """Activation, initialization, learning rate and depth as controls; the training diagnostics of
    a short SGD run as the picture: every hidden layer's activation histogram over the run
    ("colorful dimension", top), the update-to-data ratio ``log10 ‖lr·∇W‖/‖W‖`` per layer with the
    ≈ −3 guideline (bottom left), and the dead-unit chart at the end (bottom right).

    Args:
        data: a :class:`gradlab.Dataset` (default: standard normal inputs, 40 features, labels from
            a fixed random linear map).
        depth, activation, init, lr: the initial values of the controls.
        steps, every: SGD steps of the run (it reruns on every change) and the histogram interval.
        n: size of the probe batch the histograms are taken on.

    The returned box has ``controls``, ``redraw`` and, after each run, ``recorders`` (the
    :func:`gradlab.diagnostics.recorders` of that run) and ``losses``.
    """
    import math

    import ipywidgets as W
    import torch.nn.functional as F

    from .diagnostics import recorders
    from .plots import plot_activation_history, plot_dead_units, plot_update_to_data

    if data is not None:
        x_all, y_all = data.x_train.cpu(), data.y_train.cpu()
    else:
        g = torch.Generator().manual_seed(0)
        x_all = torch.randn(4096, 40, generator=g)
        y_all = (x_all @ torch.randn(40, 10, generator=g)).argmax(1)
    in_features, classes = x_all.shape[1], int(y_all.max()) + 1
    probe = x_all[:n]
    controls = {
        "activation": W.Dropdown(options=list(activations), value=activation, description="activation"),
        "init": W.Dropdown(options=list(inits), value=init, description="init"),
        "depth": W.IntSlider(value=depth, min=1, max=10, description="depth", continuous_update=False),
        "lr": W.FloatLogSlider(value=lr, base=10, min=-4, max=1, step=0.25, description="learning rate",
                               continuous_update=False, style={"description_width": "initial"}),
    }
    out = W.Output(layout={"min_height": "480px"})
    summary = W.HTML()

    def redraw(*_):
        v = {k: c.value for k, c in controls.items()}
        torch.manual_seed(seed)
        net = mlp(v["depth"], width, v["activation"], v["init"], gain="auto",
                  in_features=in_features, out_features=classes)
        opt = torch.optim.SGD(net.parameters(), lr=v["lr"])
        rec = recorders(("activations", "update_to_data"), net, x=probe, optimizer=opt, every=every)
        g = torch.Generator().manual_seed(seed)
        losses = []
        rec["activations"](0, net, None)
        for step in range(1, steps + 1):
            idx = torch.randint(0, len(x_all), (batch_size,), generator=g)
            loss = F.cross_entropy(net(x_all[idx]), y_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            if not math.isfinite(losses[-1]):
                break
            rec(step, net, loss)
        fig = plt.figure(figsize=(13, 6.4))
        grid = fig.add_gridspec(2, max(v["depth"], 2) if v["depth"] <= 6 else 6)
        top = [fig.add_subplot(grid[0, i]) for i in range(min(v["depth"], 6))]
        plot_activation_history(rec["activations"], axes=top)
        half = grid.ncols // 2
        plot_update_to_data(rec["update_to_data"], fig.add_subplot(grid[1, :half]), smooth=5)
        plot_dead_units(rec["activations"], fig.add_subplot(grid[1, half:]))
        fig.suptitle(f"{v['activation']} · {v['init']} init · depth {v['depth']} · SGD lr {v['lr']:.3g}", fontsize=11)
        fig.tight_layout()
        box.recorders, box.losses = rec, losses
        ratios = rec["update_to_data"].as_array()
        last = ratios[-20:].mean(0) if len(ratios) else []
        dead = rec["activations"].dead_fractions()[:, -1]
        finite = all(math.isfinite(p) for p in losses)
        summary.value = (f"<b>loss:</b> {losses[0]:.3g} → {losses[-1]:.3g}"
                         + ("" if finite else " &nbsp; " + i18n._("<b>diverged</b> (non-finite loss)"))
                         + " &nbsp; <b>log10 update/data</b> (last 20 steps): "
                         + ", ".join(f"{r:.1f}" for r in last)
                         + f" &nbsp; <b>dead units:</b> {', '.join(f'{d:.0%}' for d in dead)}")
        show_figure(out, fig)

    box = W.VBox([W.HBox([controls["activation"], controls["init"]]),
                  W.HBox([controls["depth"], controls["lr"]]), summary, out])
    return _live(box, controls, redraw)
