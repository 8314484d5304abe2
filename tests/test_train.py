import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gradlab
from gradlab.train import History, make_optimizer


@pytest.fixture(scope="module")
def digits():
    return gradlab.load("digits", device="cpu")


def _run(data, seed=0, **kw):
    gradlab.seed_everything(seed)
    net = gradlab.mlp(3, 32, "elu", "he", in_features=64)
    kw.setdefault("progress", False)
    history = gradlab.train(net, data, epochs=3, seed=seed, **kw)
    return net, history


def test_history_records_epoch_zero_and_every_epoch(digits):
    net, h = _run(digits)
    assert h.epoch == [0, 1, 2, 3]
    assert len(h.train_loss) == len(h.test_acc) == len(h.seconds) == 4
    assert h.test_acc[-1] > h.test_acc[0] and h.train_loss[-1] < h.train_loss[0]
    assert h.seconds == sorted(h.seconds)
    assert not net.training


def test_same_seed_gives_bitwise_identical_histories(digits):
    torch.set_num_threads(torch.get_num_threads())
    net_a, a = _run(digits, seed=3)
    net_b, b = _run(digits, seed=3)
    assert a.train_loss == b.train_loss and a.test_acc == b.test_acc
    for p, q in zip(net_a.parameters(), net_b.parameters()):
        assert torch.equal(p, q)
    _, c = _run(digits, seed=4)
    assert c.train_loss != a.train_loss


def test_loop_equals_a_plain_reference_loop(digits):
    """The fast loop does exactly what the textbook loop does (same batches, same updates)."""
    x, y = digits.train
    gradlab.seed_everything(0)
    net = gradlab.mlp(2, 16, "relu", "he", in_features=64)
    ref = gradlab.mlp(2, 16, "relu", "he", in_features=64)
    ref.load_state_dict(net.state_dict())
    gradlab.train(net, (x, y), epochs=2, batch_size=100, lr=0.05, optimizer="sgd", seed=7, progress=False)
    opt = torch.optim.SGD(ref.parameters(), lr=0.05)
    g = torch.Generator().manual_seed(7)
    for _ in range(2):
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 100):
            idx = order[i:i + 100]
            loss = F.cross_entropy(ref(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    for p, q in zip(net.parameters(), ref.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_callbacks_clipping_and_early_stop(digits):
    steps, epochs = [], []
    gradlab.seed_everything(0)
    net = gradlab.mlp(2, 16, in_features=64)
    h = gradlab.train(net, digits, epochs=5, progress=False, clip_grad_norm=0.1,
                      on_step=lambda s, m, loss: steps.append(s),
                      on_epoch_end=lambda e, m, hist: epochs.append(e) or e == 2)
    assert epochs == [1, 2] and h.epoch == [0, 1, 2]
    assert steps[-1] == 2 * math.ceil(1437 / 128)


def test_divergence_stops_training(digits):
    gradlab.seed_everything(0)
    net = gradlab.mlp(2, 16, in_features=64, init="normal", sigma=1e4)
    h = gradlab.train(net, digits, epochs=5, lr=1e6, optimizer="sgd", progress=False)
    assert len(h.epoch) < 6 or not math.isfinite(h.train_loss[-1])


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "nadam", "adagrad"])
def test_optimizers_by_name(name):
    p = nn.Parameter(torch.ones(3))
    opt = make_optimizer([p], name, lr=0.1)
    p.sum().backward()
    opt.step()
    assert (p < 1).all()
    with pytest.raises(ValueError):
        make_optimizer([p], "lion")


def test_history_helpers():
    h = History()
    h.log(epoch=0, test_acc=0.1, custom=5)
    h.log(epoch=1, test_acc=0.7, custom=6)
    assert h.epochs_to(0.5) == 1 and h.epochs_to(0.9) is None
    assert h.extra["custom"] == [5, 6] and h.final_test_acc == 0.7


def test_progress_bar_is_silent_when_asked(digits, capsys, monkeypatch):
    monkeypatch.setenv("GRADLAB_PROGRESS", "0")
    _run(digits, progress=None)
    assert "epoch" not in capsys.readouterr().err
    monkeypatch.setenv("GRADLAB_PROGRESS", "1")
    _run(digits, progress=None)
    assert "epoch" in capsys.readouterr().err
