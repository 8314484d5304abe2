import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gradlab
from gradlab.diagnostics import UpdateRatio, hidden_layers, saturation_of


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
