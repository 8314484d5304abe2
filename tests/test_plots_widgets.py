import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from conftest import png_outputs  # noqa: E402

import gradlab  # noqa: E402
from gradlab import plots, widgets  # noqa: E402


def test_derivative_by_autograd():
    z = torch.linspace(-3, 3, 7, dtype=torch.float64)
    s = torch.sigmoid(z)
    torch.testing.assert_close(plots.derivative(torch.sigmoid, z), s * (1 - s))


def test_activation_figure_draws_functions_and_derivatives():
    axes = plots.plot_activations({"relu": torch.relu, "tanh": torch.tanh})
    assert len(axes) == 2 and len(axes[0].lines) >= 2 and len(axes[1].lines) >= 2
    plt.close("all")


def test_sigmoid_saturation_figure_has_maximum_quarter():
    ax = plots.plot_sigmoid_saturation()
    derivative_line = ax.lines[1]
    assert np.max(derivative_line.get_ydata()) == np.float64(0.25)
    plt.close("all")


def test_profile_histogram_and_learning_curves():
    x, y = torch.randn(64, 40), torch.randint(0, 10, (64,))
    stats = gradlab.layer_stats(gradlab.mlp(3, 16, "sigmoid", "normal"), x, y)
    ax = plots.plot_layer_histograms(stats)
    assert len(ax.lines) == 3
    ax = plots.plot_layer_profile({"a": stats, "b": stats}, "grad_norm")
    assert len(ax.lines) == 2 and ax.get_yscale() == "log"
    h1, h2 = gradlab.History(), gradlab.History()
    for h, acc in ((h1, [0.1, 0.5]), (h2, [0.1, 0.7])):
        for e, a in enumerate(acc):
            h.log(epoch=e, test_acc=a)
    ax = plots.plot_learning_curves({"seeds": [h1, h2], "one": h1})
    assert len(ax.lines) == 2 and len(ax.collections) == 1  # the band for the seeds
    plt.close("all")


def test_network_explorer_redraws_when_a_control_changes():
    box = widgets.network_explorer(depth=3, width=16, n=64)
    out = box.children[-1]
    first = png_outputs(out)
    assert len(first) == 1
    box.controls["depth"].value = 12
    second = png_outputs(out)
    assert len(second) == 1 and second != first
    assert "first / last layer gradient norm" in box.children[2].value


def test_activation_explorer_redraws():
    box = widgets.activation_explorer(depth=4, width=16, n=64)
    out = box.children[-1]
    first = png_outputs(out)
    box.controls["activations"].value = ("tanh",)
    assert png_outputs(out) != first and len(png_outputs(out)) == 1


def test_variance_explorer_redraws_and_reports_the_ratios():
    box = widgets.variance_explorer(depth=6, width=16, n=64)
    out = box.children[-1]
    first = png_outputs(out)
    assert len(first) == 1 and "Var(a) last / first layer" in box.children[1].value
    box.controls["init"].value = "He (fan_in)"
    assert png_outputs(out) != first and len(png_outputs(out)) == 1
    assert set(box.controls["init"].options) == set(widgets.INIT_CHOICES)
