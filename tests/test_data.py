import gzip
import socket
import struct

import numpy as np
import pytest
import torch

import gradlab
from gradlab.data import read_idx


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a socket fails: proves a code path never downloads."""
    def refuse(*args, **kwargs):
        raise OSError("network access attempted in an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_mnist1d_offline_and_cached(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("GRADLAB_CACHE", str(tmp_path))
    data = gradlab.load("mnist1d", device="cpu")
    assert data.x_train.shape == (4000, 40) and data.x_test.shape == (1000, 40)
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    assert data.n_classes == 10 and set(data.y_train.unique().tolist()) == set(range(10))
    # standardized with training statistics
    assert abs(float(data.x_train.mean())) < 1e-4
    assert torch.allclose(data.x_train.std(0), torch.ones(40), atol=1e-2)
    cached = list(tmp_path.glob("mnist1d-*.npz"))
    assert len(cached) == 1
    again = gradlab.load("mnist1d", device="cpu")  # from the cache: identical
    assert torch.equal(again.x_train, data.x_train) and torch.equal(again.y_test, data.y_test)


def test_mnist1d_matches_the_generator(tmp_path, monkeypatch):
    """The cache stores exactly what mnist1d's make_dataset produces."""
    monkeypatch.setenv("GRADLAB_CACHE", str(tmp_path))
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = 500
    raw = make_dataset(args)
    data = gradlab.load("mnist1d", device="cpu", num_samples=500, standardize=False)
    np.testing.assert_allclose(data.x_train.numpy(), raw["x"].astype(np.float32))
    np.testing.assert_array_equal(data.y_test.numpy(), raw["y_test"])


def test_digits(no_network):
    data = gradlab.load("digits", device="cpu")
    assert data.x_train.shape == (1437, 64) and data.x_test.shape == (360, 64)
    # stratified split: every class in both splits
    assert len(data.y_test.unique()) == 10
    assert torch.isfinite(data.x_train).all()


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset"):
        gradlab.load("imagenet")


def _write_idx(path, array, gz=False):
    codes = {np.uint8: 0x08, np.int32: 0x0C, np.float32: 0x0D}
    header = struct.pack(">BBBB", 0, 0, codes[array.dtype.type], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    (gzip.open if gz else open)(path, "wb").write(payload)


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.float32])
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_roundtrip(tmp_path, dtype, gz):
    array = (np.arange(2 * 3 * 4) % 250).astype(dtype).reshape(2, 3, 4)
    path = tmp_path / ("a.idx.gz" if gz else "a.idx")
    _write_idx(path, array, gz)
    out = read_idx(path)
    assert out.shape == (2, 3, 4) and out.dtype == dtype
    np.testing.assert_array_equal(out, array)


def test_read_idx_rejects_garbage(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04garbage")
    with pytest.raises(ValueError, match="magic"):
        read_idx(tmp_path / "bad")
    array = np.zeros((2, 2), np.uint8)
    _write_idx(tmp_path / "short", array)
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-1])
    with pytest.raises(ValueError, match="header says"):
        read_idx(tmp_path / "short")


def test_fashion_mnist_from_small_idx_files(tmp_path, no_network):
    rng = np.random.default_rng(0)
    files = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": np.arange(20, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": np.arange(6, dtype=np.uint8) % 10,
    }
    for name, array in files.items():
        _write_idx(tmp_path / name, array, gz=name.endswith(".gz"))
    data = gradlab.load("fashion_mnist", device="cpu", path=tmp_path)
    assert data.x_train.shape == (20, 784) and data.x_test.shape == (6, 784)
    assert data.classes[0] == "T-shirt/top" and data.n_classes == 10
    assert data.y_train.tolist() == files["train-labels-idx1-ubyte.gz"].tolist()
    # one global scale: pixel order and relative intensities are kept
    x = files["train-images-idx3-ubyte.gz"].reshape(20, -1).astype(np.float32) / 255
    expected = (x - x.mean()) / x.std()
    np.testing.assert_allclose(data.x_train.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_fashion_mnist_missing_files_do_not_download(tmp_path, no_network):
    with pytest.raises(FileNotFoundError, match="download=True"):
        gradlab.load("fashion_mnist", path=tmp_path)


def test_dataset_subset_and_to():
    data = gradlab.load("digits", device="cpu")
    small = data.subset(100, seed=1)
    assert small.x_train.shape == (100, 64) and torch.equal(small.x_test, data.x_test)
    assert torch.equal(data.subset(100, seed=1).y_train, small.y_train)
    assert data.to("cpu").x_train.device.type == "cpu"
