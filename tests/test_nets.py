import math

import pytest
import torch
from torch import nn

import gradlab
from gradlab.nets import init_linear_, make_activation


def test_mlp_layout():
    net = gradlab.mlp(depth=3, width=16, activation="tanh", in_features=8, out_features=4)
    kinds = [type(m).__name__ for m in net]
    assert kinds == ["Linear", "Tanh"] * 3 + ["Linear"]
    assert net(torch.randn(5, 8)).shape == (5, 4)
    assert len(gradlab.linear_layers(net)) == 4


def test_mlp_options():
    net = gradlab.mlp(2, 8, "selu", "lecun", in_features=4, batchnorm=True, dropout=0.1)
    kinds = [type(m).__name__ for m in net]
    assert kinds == ["Linear", "BatchNorm1d", "SELU", "AlphaDropout"] * 2 + ["Linear"]
    net = gradlab.mlp(2, 8, "relu", in_features=4, dropout=0.1)
    assert isinstance(net[2], nn.Dropout)


@pytest.mark.parametrize("name", ["sigmoid", "logistic", "tanh", "relu", "leaky_relu", "rrelu",
                                  "prelu", "elu", "selu", "gelu", "Hardswish", "Mish", "identity"])
def test_any_activation_by_name(name):
    net = gradlab.mlp(2, 8, name, in_features=4)
    assert torch.isfinite(net(torch.randn(3, 4))).all()


def test_activation_instances_are_not_shared_between_layers():
    net = gradlab.mlp(3, 8, nn.PReLU(), in_features=4)
    prelus = [m for m in net if isinstance(m, nn.PReLU)]
    assert len(prelus) == 3 and len({id(p.weight) for p in prelus}) == 3


def test_unknown_names():
    with pytest.raises(ValueError, match="unknown activation"):
        make_activation("swoosh")
    with pytest.raises(ValueError, match="unknown init"):
        gradlab.mlp(1, 4, init="magic")


def _std(init, activation="relu", fan_in=400, fan_out=300, **kw):
    torch.manual_seed(0)
    layer = nn.Linear(fan_in, fan_out)
    init_linear_(layer, init, make_activation(activation), **kw)
    return float(layer.weight.detach().std()), layer


@pytest.mark.parametrize("init, activation, expected", [
    ("normal", "relu", 1.0),
    ("xavier", "tanh", math.sqrt(2 / 700)),
    ("xavier_normal", "sigmoid", math.sqrt(2 / 700)),
    ("he", "relu", math.sqrt(2 / 400)),
    ("he_uniform", "relu", math.sqrt(2 / 400)),
    ("he", "leaky_relu", math.sqrt(2 / ((1 + 0.01 ** 2) * 400))),
    ("lecun", "selu", math.sqrt(1 / 400)),
    ("lecun_uniform", "selu", math.sqrt(1 / 400)),
    ("default", "relu", math.sqrt(1 / (3 * 400))),
])
def test_init_std_matches_formula(init, activation, expected):
    std, layer = _std(init, activation)
    assert std == pytest.approx(expected, rel=0.03)
    if init != "default":
        assert torch.count_nonzero(layer.bias) == 0


def test_he_fan_out_mode_and_sigma_and_auto_gain():
    assert _std("he", mode="fan_out")[0] == pytest.approx(math.sqrt(2 / 300), rel=0.03)
    assert _std("normal", sigma=0.1)[0] == pytest.approx(0.1, rel=0.03)
    assert _std("xavier", "tanh", gain="auto")[0] == pytest.approx(5 / 3 * math.sqrt(2 / 700), rel=0.03)


def test_init_matches_torch_init_bitwise():
    """Same generator state → the same numbers as torch.nn.init itself (torch is the oracle)."""
    torch.manual_seed(1)
    a = nn.Linear(50, 20)
    torch.manual_seed(2)
    init_linear_(a, "xavier_normal", nn.Tanh(), gain=1.0)
    w = torch.empty(20, 50)
    torch.manual_seed(2)
    nn.init.xavier_normal_(w)
    assert torch.equal(a.weight, w)


def test_mlp_dtype_and_device():
    net = gradlab.mlp(1, 4, in_features=3, dtype=torch.float64, device="cpu")
    assert all(p.dtype == torch.float64 for p in net.parameters())


def test_every_init_name_reaches_init_linear_and_mlp():
    """INITS is read from the one registry: every name and alias initializes a layer, and a scheme
    registered at run time reaches ``mlp`` with no other change."""
    for name in gradlab.nets.INITS:
        torch.manual_seed(0)
        gradlab.mlp(2, 8, init=name, in_features=8)
    gradlab.nets.register_init(gradlab.nets.Init("half", lambda w, **_: nn.init.constant_(w, 0.5), ("halves",)))
    try:
        net = gradlab.mlp(1, 4, init="halves", in_features=3)
        assert torch.all(net[0].weight == 0.5) and torch.count_nonzero(net[0].bias) == 0
    finally:
        del gradlab.nets.INIT_REGISTRY["half"], gradlab.nets._INIT_NAMES["half"], gradlab.nets._INIT_NAMES["halves"]
