"""End-to-end: the foundation's promise, and the same code on CUDA where there is one."""
import pytest
import torch

import gradlab

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.slow
def test_ten_layer_elu_mlp_learns_mnist1d():
    """README/issue promise: a 10-layer ELU MLP with He init beats 60 % on MNIST-1D
    (measured: ≈ 0.65–0.70 after 30 epochs; a few seconds on a 2-core CPU)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # same bits whatever else runs
    try:
        data = gradlab.load("mnist1d", device="cpu")
        gradlab.seed_everything(0)
        net = gradlab.mlp(10, 100, "elu", "he")
        history = gradlab.train(net, data, epochs=30, batch_size=128, lr=3e-3, progress=False,
                                eval_train=False, seed=0)
    finally:   # the tests after this one run with the thread count they were given
        torch.set_num_threads(threads)
    assert max(history.test_acc) > 0.60, history.test_acc


@pytest.mark.cuda
@cuda
def test_training_on_cuda_matches_cpu_closely():
    data = gradlab.load("digits", device="cpu")
    results = {}
    for device in ("cpu", "cuda"):
        gradlab.seed_everything(0)
        net = gradlab.mlp(3, 32, "elu", "he", in_features=64)
        net.to(device)
        h = gradlab.train(net, data.to(device), epochs=3, progress=False, seed=0)
        results[device] = h
    assert abs(results["cpu"].test_acc[-1] - results["cuda"].test_acc[-1]) < 0.05


@pytest.mark.cuda
@cuda
def test_diagnostics_and_checks_on_cuda():
    import torch.nn.functional as F

    from gradlab.checks import check_elementwise

    net = gradlab.mlp(3, 16, "tanh", "xavier").cuda()
    x, y = torch.randn(64, 40, device="cuda"), torch.randint(0, 10, (64,), device="cuda")
    stats = gradlab.layer_stats(net, x, y)
    assert len(stats) == 3 and all(s.grad_norm > 0 for s in stats)
    check_elementwise(lambda z: torch.where(z > 0, z, torch.expm1(z.clamp_max(0))), F.elu,
                      name="elu", devices=["cuda"])


@pytest.mark.cuda
@cuda
def test_data_loads_onto_cuda():
    data = gradlab.load("digits", device="cuda")
    assert data.x_train.is_cuda and data.y_test.is_cuda
