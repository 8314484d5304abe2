import os

import pytest
import torch

import gradlab


@pytest.mark.parametrize("cuda, mps, expected", [(True, True, "cuda"), (True, False, "cuda"),
                                                (False, True, "mps"), (False, False, "cpu")])
def test_get_device_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    """Each machine the course meets, by what torch reports: a CUDA GPU wins, then Apple's MPS, then the CPU."""
    monkeypatch.delenv("GRADLAB_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert gradlab.get_device() == torch.device(expected)


def test_get_device_override(monkeypatch):
    assert gradlab.get_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("GRADLAB_DEVICE", "cpu")
    assert gradlab.get_device() == torch.device("cpu")


def test_seed_everything_reproduces_every_generator():
    import random

    import numpy as np

    def draw():
        return random.random(), float(np.random.rand()), torch.rand(3).tolist()

    gradlab.seed_everything(123)
    a = draw()
    gradlab.seed_everything(123)
    assert draw() == a
    gradlab.seed_everything(124)
    assert draw() != a


def test_scale_knob(monkeypatch):
    monkeypatch.delenv("GRADLAB_SCALE", raising=False)
    assert gradlab.scale() == 1
    monkeypatch.setenv("GRADLAB_SCALE", "8")
    assert gradlab.scale() == 8
    monkeypatch.setenv("GRADLAB_SCALE", "0")
    with pytest.raises(ValueError):
        gradlab.scale()


def test_set_threads_shares_cores():
    before = torch.get_num_threads()
    try:
        n = gradlab.set_threads(workers=os.cpu_count() or 1)
        assert n == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
