"""gradlab.sweep: a stacked sweep equals training every run alone (torch is the oracle)."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import gradlab
from gradlab.sweep import Run, StackedMLP, SweepResults, grid, scaled, sweep

RTOL = 1e-4  # float summation order differs between a [K, B, W] bmm and K [B, W] matmuls
KEYS = ("train_loss", "train_acc", "test_loss", "test_acc")


@pytest.fixture(scope="module")
def data():
    """MNIST-1D, 1 000 training samples: 8 batches of 128 per epoch."""
    return gradlab.load("mnist1d", device="cpu").subset(1000)


@pytest.fixture(autouse=True)
def one_thread():
    # Fewer bits change with one thread, and a 2-core CI box is not oversubscribed.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def assert_same_runs(batched: SweepResults, alone: SweepResults, rtol=RTOL, atol=1e-5):
    assert len(batched) == len(alone)
    for a, b in zip(batched, alone):
        assert (a.config, a.seed) == (b.config, b.seed)
        assert a.history.epoch == b.history.epoch, (a.config, a.seed)
        for key in KEYS:
            got, want = getattr(a.history, key), getattr(b.history, key)
            assert got == pytest.approx(want, rel=rtol, abs=atol, nan_ok=True), (a.config, key)
        for (name, p), q in zip(a.model.named_parameters(), b.model.parameters()):
            torch.testing.assert_close(p, q, rtol=rtol, atol=atol, msg=lambda m, name=name: f"{name}: {m}")


def test_stacked_mlp_forward_equals_members():
    torch.manual_seed(0)
    nets = [gradlab.mlp(3, 16, act, in_features=8)
            for act in ("relu", "relu", "tanh", "prelu", "selu")]
    stack = StackedMLP(nets)
    x = torch.randn(7, 8)
    out = stack(x)                                        # one input for all: [K, B, C]
    assert out.shape == (5, 7, 10)
    xs = torch.randn(5, 7, 8)
    outs = stack(xs)                                      # each member its own input
    for k, net in enumerate(nets):
        torch.testing.assert_close(out[k], net(x), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(outs[k], net(xs[k]), rtol=1e-5, atol=1e-6)


def test_batched_equals_one_by_one(data):
    configs = grid(activation=["relu", "tanh"], init=["he", "xavier"], depth=3, width=32)
    batched = sweep(configs, data, epochs=3, seeds=[0], progress=False)
    alone = sweep(configs, data, epochs=3, seeds=[0], progress=False, batched=False)
    assert [r.stacked for r in batched] == [4] * 4
    assert [r.stacked for r in alone] == [1] * 4
    assert_same_runs(batched, alone)
    assert batched[0].history.train_loss[-1] < 0.9 * batched[0].history.train_loss[0]  # it learns


def test_reference_is_manual_seed_mlp_train(data):
    """The documented meaning of a run: manual_seed(seed); train(mlp(**arch), seed=seed)."""
    config = {"depth": 2, "width": 16, "activation": "elu", "init": "he"}
    run = sweep([config], data, epochs=2, seeds=[3], progress=False)[0]
    torch.manual_seed(3)
    model = gradlab.mlp(**config)
    history = gradlab.train(model, data, epochs=2, seed=3, progress=False)
    assert run.history.test_loss == history.test_loss  # alone: the very same computation
    for p, q in zip(run.model.parameters(), model.parameters()):
        assert torch.equal(p, q)


def test_mixed_activations_and_seeds_share_one_stack(data):
    """Eight activations (PReLU's learnable slopes included), two seeds: one stack of 16."""
    acts = ["sigmoid", "tanh", "relu", "leaky_relu", "prelu", "elu", "selu", "gelu"]
    configs = [{"depth": 3, "width": 24, "activation": a, "init": "xavier", "gain": "auto"}
               for a in acts]
    configs.append({"depth": 3, "width": 24, "activation": "prelu",  # one slope per unit
                    "activation_kwargs": {"num_parameters": 24}})
    acts.append("prelu")
    batched = sweep(configs, data, epochs=2, seeds=[0, 1], progress=False)
    alone = sweep(configs, data, epochs=2, seeds=[0, 1], progress=False, batched=False)
    assert {r.stacked for r in batched} == {18}
    assert [(r["activation"], r.seed) for r in batched] == [(a, s) for a in acts for s in (0, 1)]
    assert_same_runs(batched, alone)
    prelu = batched.where(activation="prelu", seed=0)[0].model
    assert not torch.equal(prelu[1].weight, torch.full((1,), 0.25))  # its slope was trained


def test_rrelu_stacks_with_random_slopes(data):
    configs = [{"depth": 2, "width": 16, "activation": a} for a in ("rrelu", "relu")]
    batched = sweep(configs, data, epochs=2, progress=False)
    alone = sweep(configs, data, epochs=2, progress=False, batched=False)
    assert batched[0].stacked == 2
    # Same initial net (eval mode: slope (lower + upper) / 2) …
    assert batched[0].history.test_loss[0] == pytest.approx(alone[0].history.test_loss[0], rel=1e-5)
    # … then other random slopes: the same science, not the same bits.
    assert abs(batched[0].history.test_acc[-1] - alone[0].history.test_acc[-1]) < 0.1
    assert_same_runs(batched[1:], alone[1:])  # the ReLU member is unaffected


def test_optimizer_settings_per_member(data):
    """SGD with momentum + weight decay + per-member gradient clipping stay per member."""
    configs = grid(init=["he", "normal"], depth=3, width=16, sigma=0.5)
    kwargs = dict(epochs=2, lr=0.05, optimizer="momentum", weight_decay=1e-3,
                  clip_grad_norm=0.5, progress=False)
    batched = sweep(configs, data, **kwargs)
    alone = sweep(configs, data, batched=False, **kwargs)
    assert batched[0].stacked == 2
    assert_same_runs(batched, alone)


def test_fallback_for_differing_shapes(data):
    configs = [
        {"depth": 2, "width": 16},
        {"depth": 2, "width": 16, "init": "he"},           # stacks with the first
        {"depth": 2, "width": 32},                         # alone: other shape
        {"depth": 3, "width": 16},                         # alone: other depth
        {"depth": 2, "width": 16, "batchnorm": True},      # alone: not a plain MLP
        {"depth": 2, "width": 16, "lr": 3e-3},             # alone: other optimizer settings
        {"depth": 2, "width": 16, "activation": "Softmax", "activation_kwargs": {"dim": 1}},
    ]
    batched = sweep(configs, data, epochs=2, progress=False)
    alone = sweep(configs, data, epochs=2, progress=False, batched=False)
    assert [r.stacked for r in batched] == [2, 2, 1, 1, 1, 1, 1]
    assert_same_runs(batched, alone)
    assert isinstance(batched[4].model[1], nn.BatchNorm1d)


def test_diverging_member_does_not_stop_the_others(data):
    configs = [{"depth": 3, "width": 16, "init": "he"},
               {"depth": 3, "width": 16, "init": "normal", "sigma": 1e12},  # overflows → NaN
               {"depth": 3, "width": 16, "init": "xavier"}]
    batched = sweep(configs, data, epochs=3, progress=False)
    alone = sweep(configs, data, epochs=3, progress=False, batched=False)
    assert batched[1].stacked == 3
    assert batched[1].diverged and alone[1].diverged
    assert len(batched[1].history.epoch) == len(alone[1].history.epoch) < 4  # stopped like train()
    assert not batched[0].diverged and not batched[2].diverged
    assert_same_runs(batched[0::2], alone[0::2])  # the healthy members: as if trained alone


def test_same_seed_is_bitwise_reproducible(data):
    configs = grid(activation=["relu", "selu", "prelu"], depth=2, width=16)
    a = sweep(configs, data, epochs=2, seeds=[0, 1], progress=False)
    b = sweep(configs, data, epochs=2, seeds=[0, 1], progress=False)
    for ra, rb in zip(a, b):
        assert ra.history.train_loss == rb.history.train_loss
        assert ra.history.test_acc == rb.history.test_acc
        assert all(torch.equal(p, q) for p, q in zip(ra.model.parameters(), rb.model.parameters()))


def test_global_rng_untouched(data):
    torch.manual_seed(42)
    expected = torch.rand(3)
    torch.manual_seed(42)
    sweep([{"depth": 1, "width": 8}] * 2, data, epochs=1, progress=False)
    assert torch.equal(torch.rand(3), expected)


def test_results_helpers_and_models(data):
    configs = grid(activation=["relu", "tanh"], depth=2, width=16, label="demo")
    runs = sweep(configs, data.train, epochs=1, seeds=[0, 1], eval_train=False, progress=False)
    assert isinstance(runs, SweepResults) and all(isinstance(r, Run) for r in runs)
    assert len(runs.where(activation="tanh")) == 2 and len(runs.where(seed=1)) == 2
    assert set(runs.groupby("activation")) == {"relu", "tanh"}
    assert runs.metric("train_loss").shape == (4,)
    h = runs[0].history
    assert h.epoch == [0, 1] and math.isnan(h.test_acc[-1]) and math.isnan(h.train_acc[-1])
    model = runs[0].model
    assert isinstance(model, nn.Sequential) and not model.training
    stats = gradlab.layer_stats(model, data.x_test[:64], data.y_test[:64])
    assert len(stats) == 2


def test_config_errors(data):
    with pytest.raises(ValueError, match="unknown config keys"):
        sweep([{"depth": 2, "width": 8, "widht": 9}], data, progress=False)
    with pytest.raises(ValueError, match="width"):
        sweep([{"depth": 2}], data, progress=False)


def test_grid_and_scale(monkeypatch):
    g = grid(activation=["relu", "tanh"], init=["he", "xavier"], depth=10, betas=(0.9, 0.99))
    assert len(g) == 4 and g[1] == {"activation": "relu", "init": "xavier", "depth": 10,
                                    "betas": (0.9, 0.99)}
    assert grid(depth=range(1, 4)) == [{"depth": 1}, {"depth": 2}, {"depth": 3}]
    monkeypatch.delenv("GRADLAB_SCALE", raising=False)
    assert gradlab.sweep.scale() == 1 and sweep.scale is gradlab.sweep.scale  # function or module
    assert scaled(20) == 20
    monkeypatch.setenv("GRADLAB_SCALE", "4")
    assert scaled(20) == 80 and scaled(64, power=0.5) == 128 and scaled(0.1) == 1


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu(data):
    configs = grid(activation=["relu", "tanh", "prelu"], init=["he", "xavier"], depth=3, width=32)
    cpu = sweep(configs, data, epochs=2, seeds=[0, 1], progress=False, batched=False)
    gpu = sweep(configs, data.to("cuda"), epochs=2, seeds=[0, 1], progress=False)
    assert {r.stacked for r in gpu} == {12}
    assert next(gpu[0].model.parameters()).device.type == "cuda"
    for r in gpu:
        r.model.cpu()
    # TF32 or other GEMM kernels: looser than CPU-vs-CPU, still the same run.
    assert_same_runs(gpu, cpu, rtol=2e-3, atol=2e-4)


def test_max_stack_splits_a_bucket(data):
    runs = sweep(grid(activation=["relu", "tanh", "elu"], depth=2, width=16), data, epochs=1,
                 seeds=[0], max_stack=2, progress=False)
    assert sorted(r.stacked for r in runs) == [1, 2, 2]      # a bucket of 3: a stack of 2 and one alone
