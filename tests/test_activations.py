"""The activation registry: adding an activation is one entry, seen by mlp, sweep, diagnostics and widgets."""
import math

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import gradlab  # noqa: E402
from gradlab import activations, diagnostics, widgets  # noqa: E402
from gradlab.sweep import _act_signature, sweep  # noqa: E402


class HardClip(nn.Module):
    """A student's custom activation: saturates at ±0.5, slope 0.1 below 0 (for He init)."""

    def forward(self, z):
        return torch.where(z > 0, z, 0.1 * z).clamp(-0.5, 0.5)


@pytest.fixture
def hardclip():
    entry = activations.register(activations.Activation(
        "hardclip", HardClip, nonlinearity="leaky_relu", negative_slope=0.1, bounds=(-0.5, 0.5),
        init="he", aliases=("clip",)))
    yield entry
    activations.unregister("hardclip")
    assert activations.lookup("hardclip") is None and activations.lookup("clip") is None


def test_one_entry_reaches_mlp_and_its_init(hardclip):
    torch.manual_seed(0)
    net = gradlab.mlp(2, 400, "hardclip", "he", in_features=400)
    assert [type(m).__name__ for m in net] == ["Linear", "HardClip"] * 2 + ["Linear"]
    expected = math.sqrt(2 / ((1 + 0.1 ** 2) * 400))          # He with the entry's negative slope
    assert float(net[2].weight.detach().std()) == pytest.approx(expected, rel=0.03)
    # a module instance (not only the name) is recognized by its class; the alias works too
    assert activations.negative_slope(HardClip()) == 0.1
    assert type(gradlab.mlp(1, 4, "clip", in_features=3)[1]) is HardClip
    assert activations.gain(HardClip()) == pytest.approx(nn.init.calculate_gain("leaky_relu", 0.1))


def test_one_entry_reaches_the_sweep(hardclip):
    assert _act_signature(HardClip()) is not None          # stackable: one call serves the stack
    data = gradlab.load("digits", device="cpu")
    runs = sweep(gradlab.grid(activation=["hardclip", "relu"], depth=2, width=16), data, epochs=1,
                 progress=False)
    assert [r.stacked for r in runs] == [2, 2]
    assert type(runs[0].model[1]) is HardClip


def test_one_entry_reaches_the_diagnostics(hardclip):
    torch.manual_seed(0)
    net = gradlab.mlp(3, 32, "hardclip", "normal", in_features=8)   # N(0, 1): mostly saturated
    stats = gradlab.layer_stats(net, torch.randn(64, 8), torch.randint(0, 10, (64,)))
    assert all(0.3 < s.saturation <= 1 for s in stats)
    assert diagnostics.saturation_of(HardClip(), torch.tensor([0.5, 0.0, -0.495, 0.2])) == 0.5
    assert stats[0].hist[1][0] == -0.5 and stats[0].hist[1][-1] == 0.5   # histogram over the bounds


def test_one_entry_reaches_the_explorers(hardclip):
    box = widgets.activation_explorer({"hardclip": HardClip(), "relu": nn.ReLU()}, depth=3, n=32,
                                      selected=("hardclip",))
    assert box.controls["activations"].value == ("hardclip",)
    assert widgets._suited_init("hardclip", HardClip()) == "he"
    box = widgets.network_explorer(activations=("hardclip", "relu"), activation="hardclip", depth=3, n=32)
    assert "hardclip" in box.controls["activation"].options
    assert box.children[-1].outputs[0]["data"]["image/png"]


def test_unregistered_custom_modules_still_work():
    """Not registered: He's ReLU slope 0, gain 1, not stacked (the sweep cannot know it is elementwise)."""
    assert activations.lookup(HardClip()) is None
    assert activations.negative_slope(HardClip()) == 0.0 and activations.gain(HardClip()) == 1.0
    assert _act_signature(HardClip()) is None
    assert math.isnan(diagnostics.saturation_of(HardClip(), torch.zeros(3)))


@pytest.mark.parametrize("name, gain", [("sigmoid", 1.0), ("tanh", 5 / 3), ("relu", math.sqrt(2)),
                                        ("selu", 0.75), ("elu", 1.0),
                                        ("leaky_relu", math.sqrt(2 / (1 + 0.01 ** 2)))])
def test_builtin_entries_agree_with_torch(name, gain):
    assert activations.gain(gradlab.make_activation(name)) == pytest.approx(gain)


def test_builtin_suited_inits_and_bounds():
    assert [activations.suited_init(n) for n in ("sigmoid", "tanh", "selu", "relu", "elu")] == \
        ["xavier", "xavier", "lecun", "he", "he"]
    assert activations.saturation_bounds("logistic") == (0.0, 1.0)
    assert activations.saturation_bounds(nn.Tanh()) == (-1.0, 1.0)
    assert activations.negative_slope(nn.RReLU(0.1, 0.3)) == pytest.approx(0.2)
    assert activations.negative_slope(nn.PReLU(init=0.3)) == pytest.approx(0.3)
    assert not activations.is_stackable(nn.PReLU())            # parameters: the sweep handles PReLU itself
    assert activations.is_stackable(gradlab.activations.LambdaActivation(torch.relu))


@pytest.mark.parametrize("name, module", [("gelu", nn.GELU), ("silu", nn.SiLU), ("mish", nn.Mish)])
def test_smooth_relus_have_one_entry_each(name, module):
    """GELU, SiLU and Mish (assignment 03, notebook 3) are one registry entry each: He's ReLU slope 0
    (identity for z ≫ 0, zero for z ≪ 0), gain 1, no saturation bounds, and a student's function of the
    same name is recognized as the same activation."""
    entry = activations.lookup(name)
    assert entry is not None and entry.module_type is module and entry.stackable
    assert [n for n in activations.names() if activations.lookup(n) is entry] == [name]
    assert activations.suited_init(name) == "he" and activations.negative_slope(module()) == 0.0
    assert activations.saturation_bounds(name) is None and activations.gain(module()) == 1.0

    def student(z):
        return z
    student.__name__ = name
    assert activations.lookup(activations.LambdaActivation(student)) is entry
    assert activations.is_stackable(activations.LambdaActivation(student))
    assert type(gradlab.mlp(1, 4, name, in_features=3)[1]) is module


def test_smooth_relus_reach_the_sweep_stacked():
    data = gradlab.load("digits", device="cpu")
    runs = sweep(gradlab.grid(activation=["gelu", "silu", "mish", "relu"], depth=2, width=16), data, epochs=1,
                 progress=False)
    assert [r.stacked for r in runs] == [4] * 4
    assert [type(r.model[1]).__name__ for r in runs] == ["GELU", "SiLU", "Mish", "ReLU"]
    assert activations.lookup("swish") is activations.lookup("silu")
