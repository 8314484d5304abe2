"""Where experiments run, and how to make them repeatable.

``get_device()`` picks CUDA, then Apple's MPS, then the CPU. ``seed_everything(seed)`` seeds
every generator the course touches so that a CPU run with the same seed and the same thread
count is bitwise identical (changing the thread count changes the bits, not the science).
"""
from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["get_device", "seed_everything", "set_threads", "scale"]


def get_device(prefer: str | torch.device | None = None) -> torch.device:
    r"""Return the best available device: ``cuda`` → ``mps`` → ``cpu``.

    Args:
        prefer: a device to use instead (``"cpu"``, ``"cuda:1"``, …). The environment variable
            ``GRADLAB_DEVICE`` overrides the automatic choice too, e.g. to force the CPU on a GPU box.

    Examples:
        >>> get_device("cpu")
        device(type='cpu')
    """
    choice = prefer if prefer is not None else os.environ.get("GRADLAB_DEVICE")
    if choice is not None:
        return torch.device(choice)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0, deterministic: bool = True) -> torch.Generator:
    r"""Seed Python, NumPy and torch (CPU and every GPU) with ``seed``.

    With ``deterministic=True`` torch is also asked for deterministic kernels (cuDNN benchmark
    off, ``torch.use_deterministic_algorithms(True, warn_only=True)``), so that on the CPU the
    same seed and the same number of threads reproduce a run bit for bit. Changing the thread
    count, the device or the batch layout changes the bits, not the science.

    Args:
        seed: the seed.
        deterministic: request deterministic algorithms as well.

    Returns:
        the seeded default ``torch.Generator``.

    Examples:
        >>> _ = seed_everything(0); a = torch.rand(3)
        >>> _ = seed_everything(0); b = torch.rand(3)
        >>> bool(torch.equal(a, b))
        True
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    generator = torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        # cuBLAS needs a fixed workspace for deterministic GEMMs; harmless on the CPU.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True, warn_only=True)
    return generator


def set_threads(n: int | None = None, workers: int = 1) -> int:
    r"""Set torch's intra-op thread count and return it.

    On a small CPU, two torch processes that each use every core slow each other down 5–25×
    (measured on 2-core machines: training loops 5–10×, two notebooks of the course 25×). Give each
    of ``workers`` concurrent processes an equal share of the cores, at least one.

    Args:
        n: threads to use; default ``max(1, cpu_count // workers)``.
        workers: how many torch processes will run at the same time.
    """
    if n is None:
        n = max(1, (os.cpu_count() or 1) // max(1, workers))
    torch.set_num_threads(n)
    return n


def scale(default: int | None = None) -> int:
    r"""The course's one knob for experiment size: ``GRADLAB_SCALE`` (an integer ≥ 1).

    Notebooks multiply their epochs, seeds, widths or sample counts by it. The default, 1, keeps
    every notebook under a minute on a 2-core CPU; every notebook's locked claims are checked at
    ``GRADLAB_SCALE=2`` (on a CPU; no larger run has been tested).

    Args:
        default: used when the variable is unset (default 1).
    """
    value = os.environ.get("GRADLAB_SCALE")
    if value is None:
        return default if default is not None else 1
    n = int(value)
    if n < 1:
        raise ValueError(f"GRADLAB_SCALE must be a positive integer, got {value!r}")
    return n
