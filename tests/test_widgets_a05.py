"""Assignment 5's figures and explorer: 2-D surfaces, optimizer paths, optimizer_explorer."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from gradlab import plots, widgets  # noqa: E402


@pytest.mark.parametrize("name", sorted(plots.SURFACES))
def test_surface_minimum_is_a_stationary_point(name):
    surface = plots.SURFACES[name]
    xy = torch.tensor(surface.minimum, dtype=torch.float64, requires_grad=True)
    loss = surface(xy)
    (grad,) = torch.autograd.grad(loss, xy)
    assert float(loss.detach()) == pytest.approx(0.0, abs=1e-12) and float(grad.abs().max()) < 1e-12
    start = torch.tensor(surface.start, dtype=torch.float64)
    assert float(surface(start)) > 1.0  # something to descend


def test_optimizer_path_matches_a_hand_written_gradient_descent():
    path, losses = plots.optimizer_path(lambda p: torch.optim.SGD(p, lr=0.01), "ravine", steps=5)
    assert path.shape == (6, 2) and losses.shape == (6,)
    x, y = plots.SURFACES["ravine"].start
    for k in range(6):  # θ_i ← (1 − η λ_i) θ_i with λ = (1, 25)
        assert np.allclose(path[k], [x * 0.99 ** k, y * 0.75 ** k], rtol=1e-12)
    assert losses[0] == pytest.approx(0.5 * (x ** 2 + 25 * y ** 2))


def test_optimizer_path_stops_at_divergence():
    path, losses = plots.optimizer_path(lambda p: torch.optim.SGD(p, lr=1.0), "rosenbrock", steps=200)
    assert len(path) == len(losses) < 201
    assert not np.isfinite(losses[-1]) and np.isfinite(path[:-1]).all()


def test_plot_paths_draws_one_line_per_path_and_honours_upto():
    paths = {"a": np.array([[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]]), "b": np.array([[-1.0, 1.0], [0.0, 1.0]])}
    ax = plots.plot_paths("rosenbrock", paths, upto=1)
    lines = {line.get_label(): line for line in ax.lines}
    assert len(lines["a"].get_xdata()) == 2 and len(lines["b"].get_xdata()) == 2
    plt.close("all")


def _pngs(out):
    return [o["data"]["image/png"] for o in out.outputs if "image/png" in o.get("data", {})]


def test_optimizer_explorer_redraws_on_every_control():
    box = widgets.optimizer_explorer(steps=40)
    out = box.children[-1]
    seen = [_pngs(out)]
    assert len(seen[0]) == 1
    for name, value in (("optimizer", "adam"), ("surface", "ravine"), ("beta", 0.5), ("step", 10), ("lr", 0.01)):
        box.controls[name].value = value
        now = _pngs(out)
        assert len(now) == 1 and now not in seen, f"changing {name} did not redraw"
        seen.append(now)
    assert "loss after 10 steps" in box.children[-2].value


def test_optimizer_explorer_sets_the_optimizers_learning_rate_and_reports_divergence():
    box = widgets.optimizer_explorer(steps=30, optimizer="sgd")
    box.controls["optimizer"].value = "adagrad"
    assert box.controls["lr"].value == pytest.approx(widgets.OPTIMIZERS_2D["adagrad"][1], rel=1e-6)
    box.controls["optimizer"].value = "sgd"
    box.controls["lr"].value = 1.0
    assert "diverged" in box.children[-2].value


def test_optimizer_explorer_accepts_your_own_optimizers():
    calls = []

    def factory(params, lr, beta):
        calls.append((lr, beta))
        return torch.optim.SGD(params, lr=lr, momentum=beta)

    box = widgets.optimizer_explorer({"mine": (factory, 1e-3)}, optimizer="mine", steps=10)
    assert calls == [(pytest.approx(1e-3), pytest.approx(0.9))]
    assert list(box.controls["optimizer"].options) == ["mine"]
