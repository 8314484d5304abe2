"""Offline datasets as tensors on the chosen device.

* ``load("mnist1d")`` — the default: MNIST-1D (Greydanus 2020), 4 000 train / 1 000 test
  signals of length 40, 10 classes. Generated on this machine by the ``mnist1d`` package's
  ``make_dataset`` (never its download) and cached as ``.npz`` under the user cache directory,
  since generating it takes several seconds.
* ``load("digits")`` — scikit-learn's 8×8 handwritten digits (1 797 images, shipped with
  scikit-learn), split 80/20 stratified.
* ``load("fashion_mnist", path=...)`` — Fashion-MNIST read from the original IDX files
  (``.gz`` or not). Downloads only when called with ``download=True``.

Inputs are standardized with statistics of the training split only (zero mean, unit variance,
the assumption behind the Glorot and He derivations); labels are ``int64``.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import struct
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .device import get_device

__all__ = ["Dataset", "load", "read_idx", "cache_dir", "DATASETS"]

DATASETS = ("mnist1d", "digits", "fashion_mnist")

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
FASHION_FILES = {
    "x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte",
}
FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"


@dataclass
class Dataset:
    """A train/test split held as tensors. ``x_*``: ``[N, features]`` float32, ``y_*``: ``[N]`` int64."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: list[str] = field(default_factory=list)

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def device(self) -> torch.device:
        return self.x_train.device

    @property
    def train(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x_train, self.y_train

    @property
    def test(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x_test, self.y_test

    def to(self, device) -> Dataset:
        return Dataset(self.name, self.x_train.to(device), self.y_train.to(device),
                       self.x_test.to(device), self.y_test.to(device), list(self.classes))

    def subset(self, n_train: int, seed: int = 0) -> Dataset:
        """The first ``n_train`` training samples of a fixed permutation (test split unchanged)."""
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(self.y_train), generator=g)[:n_train].to(self.device)
        return Dataset(f"{self.name}[:{n_train}]", self.x_train[idx], self.y_train[idx],
                       self.x_test, self.y_test, list(self.classes))

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train={tuple(self.x_train.shape)}, "
                f"test={tuple(self.x_test.shape)}, classes={self.n_classes}, device={self.device})")


def cache_dir() -> Path:
    """Where generated data are cached: ``$GRADLAB_CACHE`` or the user cache dir (``~/.cache/gradlab``)."""
    env = os.environ.get("GRADLAB_CACHE")
    if env:
        path = Path(env)
    else:
        import platformdirs
        path = Path(platformdirs.user_cache_dir("gradlab"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def load(name: str = "mnist1d", device=None, *, path=None, download: bool = False,
         standardize: bool = True, **kwargs) -> Dataset:
    r"""Load a dataset as tensors on ``device`` (default: :func:`gradlab.get_device`).

    Args:
        name: ``"mnist1d"`` (default), ``"digits"`` or ``"fashion_mnist"``.
        device: where the tensors go.
        path: folder with the four Fashion-MNIST IDX files.
        download: Fashion-MNIST only — fetch the files into the cache if they are missing.
        standardize: scale inputs to zero mean and unit variance using training statistics.
        **kwargs: for ``mnist1d``, overrides of its generator arguments (``num_samples``, ``seed``…).

    Examples:
        >>> data = load("digits", device="cpu")
        >>> data.x_train.shape, data.n_classes
        (torch.Size([1437, 64]), 10)
    """
    key = name.lower().replace("-", "_")
    if key in ("mnist1d", "mnist_1d"):
        arrays, classes = _mnist1d(**kwargs)
    elif key == "digits":
        arrays, classes = _digits()
    elif key in ("fashion_mnist", "fashion"):
        arrays, classes = _fashion_mnist(path, download)
    else:
        raise ValueError(f"unknown dataset {name!r}; choose one of {DATASETS}")
    x_train, y_train, x_test, y_test = arrays
    x_train, x_test = x_train.astype(np.float32), x_test.astype(np.float32)
    if standardize:
        mean, std = _train_statistics(key, x_train)
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    device = get_device(device)
    t = lambda a, dtype: torch.as_tensor(np.ascontiguousarray(a), dtype=dtype).to(device)
    return Dataset(key if key != "fashion" else "fashion_mnist",
                   t(x_train, torch.float32), t(y_train, torch.int64),
                   t(x_test, torch.float32), t(y_test, torch.int64), classes)


def _train_statistics(key, x_train):
    if key in ("fashion_mnist", "fashion"):
        # Pixels share one scale: a single mean/std keeps images images.
        return x_train.mean(), x_train.std()
    mean, std = x_train.mean(0), x_train.std(0)
    return mean, np.where(std > 1e-8, std, 1.0)  # constant pixels (digits' borders) stay 0


def _mnist1d(**overrides):
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args(as_dict=True)
    args.update(overrides)
    args.pop("url", None)
    digest = hashlib.sha1(json.dumps(args, sort_keys=True).encode()).hexdigest()[:10]
    file = cache_dir() / f"mnist1d-{digest}.npz"
    if file.exists():
        with np.load(file) as z:
            arrays = (z["x"], z["y"], z["x_test"], z["y_test"])
    else:
        from mnist1d.utils import ObjectView

        d = make_dataset(ObjectView(dict(args)))  # generated here: no network involved
        arrays = (d["x"], d["y"], d["x_test"], d["y_test"])
        tmp = file.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, x=arrays[0], y=arrays[1], x_test=arrays[2], y_test=arrays[3])
        os.replace(tmp, file)  # atomic: parallel workers never read half a file
    return arrays, [str(i) for i in range(10)]


def _digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        d.data, d.target, test_size=0.2, random_state=0, stratify=d.target)
    return (x_train, y_train, x_test, y_test), [str(i) for i in range(10)]


_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    r"""Read an IDX file (LeCun's MNIST format, optionally gzip-compressed) into a NumPy array.

    The header is two zero bytes, a type code (``0x08`` = uint8 … ``0x0E`` = float64), the
    number of dimensions, then one big-endian ``uint32`` per dimension.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    ndim = raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - offset != expected:
        raise ValueError(f"{path}: header says {shape} ({expected} bytes), file has {len(raw) - offset}")
    return np.frombuffer(raw, dtype=dtype, offset=offset).reshape(shape).astype(dtype.newbyteorder("="))


def _find_idx(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz", folder / stem.replace("-idx", ".idx")):
        if candidate.exists():
            return candidate
    return None


def _fashion_mnist(path, download):
    folder = Path(path) if path is not None else cache_dir() / "fashion_mnist"
    missing = [s for s in FASHION_FILES.values() if _find_idx(folder, s) is None]
    if missing and download:
        folder.mkdir(parents=True, exist_ok=True)
        for stem in missing:
            urllib.request.urlretrieve(FASHION_URL + stem + ".gz", folder / f"{stem}.gz")
        missing = []
    if missing:
        raise FileNotFoundError(
            f"Fashion-MNIST IDX files not found in {folder}: {missing}. Put the four files there, "
            "pass path=..., or call load('fashion_mnist', download=True) on a machine with internet.")
    arrays = {k: read_idx(_find_idx(folder, s)) for k, s in FASHION_FILES.items()}
    flat = lambda a: a.reshape(len(a), -1).astype(np.float32) / 255.0
    return (flat(arrays["x_train"]), arrays["y_train"].astype(np.int64),
            flat(arrays["x_test"]), arrays["y_test"].astype(np.int64)), list(FASHION_CLASSES)
