import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gradlab
from gradlab.diagnostics import (
    ActivationHistory,
    UpdateRatio,
    UpdateToData,
    dead_unit_fractions,
    hidden_layers,
    recorders,
    saturation_of,
)


def _data(n=256, d=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randint(0, 10, (n,), generator=g)


def test_hidden_layers_skip_norms_dropout_and_head():
    net = gradlab.mlp(3, 8, "relu", in_features=4, batchnorm=True, dropout=0.2)
    pairs = hidden_layers(net)
    assert len(pairs) == 3
    assert all(isinstance(lin, nn.Linear) and isinstance(act, nn.ReLU) for lin, act in pairs)


def test_layer_stats_against_manual_computation():
    """Activation statistics and gradient norms equal those computed by hand (torch as oracle)."""
    x, y = _data()
    torch.manual_seed(0)
    net = gradlab.mlp(4, 32, "tanh", "xavier", in_features=20)
    stats = gradlab.layer_stats(net, x, y)
    assert [s.layer for s in stats] == [1, 2, 3, 4]

    h, acts = x, []  # recomputed by hand, without hooks
    for i in range(0, 8, 2):
        h = torch.tanh(net[i](h))
        acts.append(h)
    loss = F.cross_entropy(net[8](h), y)
    grads = torch.autograd.grad(loss, [net[i].weight for i in range(0, 8, 2)])
    for s, a, g in zip(stats, acts, grads):
        a = a.detach()
        assert s.act_mean == pytest.approx(float(a.mean()), abs=1e-6)
        assert s.act_std == pytest.approx(float(a.std()), rel=1e-5)
        assert s.grad_norm == pytest.approx(float(g.norm()), rel=1e-5)
        assert s.saturation == pytest.approx(float((1 - a.abs() < 0.01).float().mean()))
        assert s.hist[0].sum() == a.numel()
    # no gradients are left behind on the model
    assert all(p.grad is None for p in net.parameters())


def test_existing_grads_are_preserved():
    x, y = _data()
    net = gradlab.mlp(2, 8, "relu", in_features=20)
    net(x).sum().backward()
    before = [p.grad.clone() for p in net.parameters()]
    gradlab.layer_stats(net, x, y)
    assert all(torch.equal(p.grad, b) for p, b in zip(net.parameters(), before))


def test_sigmoid_with_normal_init_saturates_and_relu_units_die():
    x, y = _data(512, 40)
    torch.manual_seed(0)
    sat = gradlab.layer_stats(gradlab.mlp(5, 100, "sigmoid", "normal", sigma=1.0), x, y)
    assert min(s.saturation for s in sat) > 0.2
    torch.manual_seed(0)
    relu = gradlab.mlp(3, 64, "relu", "default", in_features=40)
    with torch.no_grad():
        relu[2].bias.fill_(-100.0)  # layer 2 can never fire: all its units are dead
    stats = gradlab.layer_stats(relu, x, y)
    assert stats[1].dead_fraction == 1.0 and stats[0].dead_fraction < 0.2
    assert math.isnan(stats[0].saturation)


def test_saturation_of_named_activations():
    a = torch.tensor([0.001, 0.5, 0.999, 0.3])
    assert saturation_of("sigmoid", a) == 0.5
    assert saturation_of(nn.Tanh(), torch.tensor([-0.995, 0.0])) == 0.5
    assert math.isnan(saturation_of("relu", a))


def test_hidden_activations_with_a_custom_function_module():
    net = gradlab.mlp(2, 6, lambda z: z.clamp_min(0), in_features=3)
    acts = gradlab.hidden_activations(net, torch.randn(10, 3))
    assert len(acts) == 2 and acts[0].shape == (10, 6) and (acts[0] >= 0).all()


def test_update_ratio_tracks_weight_changes():
    net = gradlab.mlp(2, 8, in_features=4)
    tracker = UpdateRatio(net)
    w0 = net[0].weight.detach().clone()
    with torch.no_grad():
        net[0].weight.mul_(1.01)
    tracker()
    ratios = tracker.as_array()
    assert ratios.shape == (1, 3)
    assert ratios[0, 0] == pytest.approx(0.01, rel=1e-4) and ratios[0, 1] == 0
    assert not torch.equal(w0, net[0].weight)


def test_format_stats_table():
    x, y = _data()
    text = gradlab.format_stats(gradlab.layer_stats(gradlab.mlp(2, 8, in_features=20), x, y))
    assert text.count("\n") == 2 and "ReLU" in text


# ------------------------------------------------------------------ recorders of training dynamics


def test_dead_unit_fractions_counts_units_zero_on_every_sample():
    a = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    assert dead_unit_fractions([a, torch.zeros(4, 2), torch.ones(4, 5)]) == [pytest.approx(2 / 3), 1.0, 0.0]


def test_activation_history_histograms_and_dead_units_match_a_manual_pass():
    torch.manual_seed(0)
    net = gradlab.mlp(3, 12, "relu", in_features=5)
    x = torch.randn(40, 5)
    with torch.no_grad():
        net[2].bias.fill_(-100.0)          # layer 2 dead from the start
    history = ActivationHistory(net, x, every=2, bins=8, value_range=(-1.0, 3.0))
    for step in range(5):                  # records at steps 0, 2, 4
        history(step, net, None)
    assert history.steps == [0, 2, 4]
    assert history.counts.shape == (3, 3, 8)
    acts = gradlab.hidden_activations(net, x)
    for layer, a in enumerate(acts):
        expected, _ = np.histogram(a.clamp(-1.0, 3.0).numpy(), bins=8, range=(-1.0, 3.0))
        assert (history.counts[layer, -1] == expected).all()
        assert history.counts[layer, 0].sum() == a.numel()      # nothing falls outside the range
    dead = history.dead_fractions()
    assert dead.shape == (3, 3) and (dead[1] == 1.0).all() and (dead[0] < 1).all()
    assert np.allclose(dead[:, -1], dead_unit_fractions(acts))
    assert np.allclose(history.activity[0][-1], (acts[0] != 0).float().mean(0).numpy())


def test_activation_history_probe_leaves_batchnorm_statistics_and_mode_alone():
    net = gradlab.mlp(2, 8, "tanh", in_features=4, batchnorm=True)
    net.train()
    before = [b.clone() for b in net.buffers()]
    ActivationHistory(net, torch.randn(32, 4) * 5 + 3)(None, net, None)
    assert net.training and all(torch.equal(a, b) for a, b in zip(before, net.buffers()))


def test_activation_history_default_range_follows_the_activation():
    assert ActivationHistory(gradlab.mlp(2, 4, "tanh", in_features=3), torch.randn(4, 3)).value_range == (-1.0, 1.0)
    net = gradlab.mlp(2, 4, "relu", in_features=3)
    history = ActivationHistory(net, torch.randn(64, 3))
    assert history.value_range is None                  # unbounded: fixed from the first snapshot
    history(0, net, None)
    top = max(float(a.quantile(0.995)) for a in gradlab.hidden_activations(net, history.x))
    assert history.value_range[0] == 0.0 and history.value_range[1] == pytest.approx(1.5 * top, rel=0.2)


def test_update_to_data_lr_grad_is_log10_of_lr_grad_over_weight_norms():
    torch.manual_seed(0)
    net = gradlab.mlp(2, 6, "tanh", in_features=3)
    opt = torch.optim.SGD([{"params": net[0].parameters(), "lr": 0.1},
                           {"params": list(net[2].parameters()) + list(net[4].parameters()), "lr": 0.01}])
    tracker = UpdateToData(net, opt)
    x, y = torch.randn(16, 3), torch.randint(0, 10, (16,))
    F.cross_entropy(net(x), y).backward()
    opt.step()
    tracker(0, net, None)
    got = tracker.as_array()[0]
    lrs = [0.1, 0.01, 0.01]
    for value, lin, lr in zip(got, [net[0], net[2], net[4]], lrs):
        assert value == pytest.approx(math.log10(lr * float(lin.weight.grad.norm()) / float(lin.weight.norm())), rel=1e-6)
    assert tracker.steps == [0]


def test_update_to_data_update_measures_the_step_actually_taken():
    net = gradlab.mlp(1, 4, in_features=2)
    tracker = UpdateToData(net, measure="update", every=3)
    with torch.no_grad():
        net[0].weight.mul_(1.001)
    tracker(0, net, None)
    tracker(1, net, None)               # skipped: every=3
    assert tracker.as_array().shape == (1, 2)
    assert tracker.as_array()[0, 0] == pytest.approx(-3.0, abs=1e-4)
    assert tracker.as_array()[0, 1] < -20           # untouched layer: log10 of ~0


def test_update_to_data_rejects_bad_arguments():
    net = gradlab.mlp(1, 4, in_features=2)
    with pytest.raises(ValueError, match="measure"):
        UpdateToData(net, measure="grad")
    with pytest.raises(ValueError, match="optimizer"):
        UpdateToData(net)
    tracker = UpdateToData(net, torch.optim.SGD(net[0].parameters(), lr=0.1))
    net(torch.randn(3, 2)).sum().backward()
    with pytest.raises(ValueError, match="not in the optimizer"):
        tracker()


def test_recorders_registry_drives_every_recorder_from_train():
    torch.manual_seed(0)
    net = gradlab.mlp(3, 16, "relu", "he")
    x, y = _data(256, 40)
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    rec = recorders(("activations", "update_to_data"), net, x=x[:64], optimizer=opt, every=5)
    assert set(rec) == {"activations", "update_to_data"} and set(gradlab.diagnostics.RECORDERS) >= set(rec)
    for step in range(20):
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
        rec(step, net, None)
    assert rec["activations"].steps == [0, 5, 10, 15]
    assert rec["update_to_data"].as_array().shape == (20, 4)
    assert np.isfinite(rec["update_to_data"].as_array()).all()
    with pytest.raises(ValueError, match="unknown recorder"):
        recorders(("gradients",), net)
    with pytest.raises(ValueError, match="probe batch"):
        recorders(("activations",), net)


def test_diagnostic_plots_draw_one_panel_per_layer_and_the_guideline():
    import matplotlib.pyplot as plt

    from gradlab.plots import plot_activation_history, plot_dead_units, plot_update_to_data

    torch.manual_seed(0)
    net = gradlab.mlp(3, 8, "relu", in_features=4)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    rec = recorders(("activations", "update_to_data"), net, x=torch.randn(20, 4), optimizer=opt, every=1)
    for step in range(3):
        opt.zero_grad()
        net(torch.randn(8, 4)).pow(2).mean().backward()
        opt.step()
        rec(step, net, None)
    axes = plot_activation_history(rec["activations"])
    assert len(axes) == 3 and all(len(ax.images) == 1 for ax in axes)
    ax = plot_dead_units(rec["activations"])
    assert len(ax.images) == 1 and len(ax.get_yticklabels()) == 3
    ax = plot_update_to_data(rec["update_to_data"])
    assert len(ax.lines) == 4 + 1 and ax.lines[-1].get_ydata()[0] == -3.0
    plt.close("all")
