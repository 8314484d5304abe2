"""A fast in-memory training loop.

The course's data fit in memory, so batches are cut from tensors already on the device with one
``randperm`` per epoch — no ``DataLoader``, whose per-batch Python overhead dominates small MLPs
on a CPU (per-op cost, not matmul, limits a width-100 net: ~10 µs of overhead per op). Optimizers use torch's
fused kernels where they exist.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .i18n import _

__all__ = ["History", "train", "evaluate", "make_optimizer", "progress_enabled",
           "tune_cpu_allocator", "split_data"]

_ALLOCATOR_TUNED: bool | None = None


def tune_cpu_allocator() -> bool:
    r"""Stop glibc from handing every step's tensor memory back to the OS (once per process).

    glibc's ``malloc`` serves blocks of 128 KiB and more (one ``[8, 128, 128]`` float32
    activation is 512 KiB) with ``mmap``, and trims the top of its heap whenever 128 KiB–1 MiB
    are free, so a training loop that frees its activations after every step page-faults them
    back in on the next one: measured here, a stacked K = 8 step spent 40 % of its time in
    page faults (ReLU on 512 KiB: 117 µs in the loop, 13 µs warm). Raising both thresholds
    (``mallopt``) keeps that memory in the process for reuse — what PyTorch's CPU tuning guide
    gets by preloading jemalloc or tcmalloc. The cost: up to the trim threshold (1 GiB) of freed
    memory stays mapped until the process exits.

    A no-op off glibc (macOS, Windows, musl) or with ``GRADLAB_MALLOC=0``.

    Returns:
        whether the thresholds are set.
    """
    global _ALLOCATOR_TUNED
    if _ALLOCATOR_TUNED is None:
        _ALLOCATOR_TUNED = False
        if os.environ.get("GRADLAB_MALLOC", "1") not in ("0", "false", "no"):
            try:
                import ctypes
                libc = ctypes.CDLL("libc.so.6")
                m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
                _ALLOCATOR_TUNED = bool(libc.mallopt(m_mmap_threshold, 64 << 20)) and \
                    bool(libc.mallopt(m_trim_threshold, 1 << 30))
            except (OSError, AttributeError):
                pass
    return _ALLOCATOR_TUNED


@dataclass
class History:
    """Per-epoch record of a training run (epoch 0 is the untrained net)."""

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    extra: dict[str, list] = field(default_factory=dict)

    def log(self, **values) -> None:
        for key, value in values.items():
            target = getattr(self, key, None) if key != "extra" else None
            if isinstance(target, list):
                target.append(value)
            else:
                self.extra.setdefault(key, []).append(value)

    def epochs_to(self, accuracy: float, split: str = "test") -> int | None:
        """First epoch whose accuracy reaches ``accuracy`` (``None`` if never)."""
        for epoch, acc in zip(self.epoch, getattr(self, f"{split}_acc")):
            if acc >= accuracy:
                return epoch
        return None

    @property
    def final_test_acc(self) -> float:
        return self.test_acc[-1] if self.test_acc else float("nan")

    def as_dict(self) -> dict:
        return asdict(self)


def progress_enabled(progress: bool | None) -> bool:
    """``progress=None`` means: on, unless ``GRADLAB_PROGRESS=0`` (CI and the grader set it)."""
    if progress is not None:
        return progress
    return os.environ.get("GRADLAB_PROGRESS", "1") not in ("0", "false", "no", "")


def make_optimizer(params, optimizer="adam", lr: float = 1e-3, **kwargs) -> torch.optim.Optimizer:
    """An optimizer from a name (``sgd``, ``momentum``, ``nesterov``, ``adam``, ``adamw``,
    ``rmsprop``, ``nadam``, ``adagrad``), a class, or a factory ``params -> Optimizer``."""
    params = [p for p in params if p.requires_grad]
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if isinstance(optimizer, type):
        return optimizer(params, lr=lr, **kwargs)
    if callable(optimizer):
        return optimizer(params)
    name = optimizer.lower()
    table = {
        "sgd": (torch.optim.SGD, {}),
        "momentum": (torch.optim.SGD, {"momentum": 0.9}),
        "nesterov": (torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
        "adam": (torch.optim.Adam, {}),
        "adamw": (torch.optim.AdamW, {}),
        "rmsprop": (torch.optim.RMSprop, {}),
        "nadam": (torch.optim.NAdam, {}),
        "adagrad": (torch.optim.Adagrad, {}),
    }
    if name not in table:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {sorted(table)}")
    cls, defaults = table[name]
    options = {**defaults, **kwargs}
    if cls in (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW) and "fused" not in options:
        try:  # one fused kernel per step instead of several per parameter
            return cls(params, lr=lr, fused=True, **options)
        except (RuntimeError, ValueError, TypeError):
            pass
    return cls(params, lr=lr, **options)


def split_data(data, test=None):
    """``(x, y, test)`` from a :class:`gradlab.data.Dataset` (whose test split is used unless
    ``test`` is given) or from an ``(x, y)`` tuple (``test`` as given)."""
    if hasattr(data, "x_train"):
        return data.x_train, data.y_train, test if test is not None else (data.x_test, data.y_test)
    x, y = data
    return x, y, test


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
             loss_fn: Callable = F.cross_entropy, batch_size: int = 8192) -> tuple[float, float]:
    """(mean loss, accuracy) of ``model`` on ``(x, y)`` in eval mode; the mode is restored."""
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    for start in range(0, len(x), batch_size):
        logits = model(x[start:start + batch_size])
        target = y[start:start + batch_size]
        total_loss += float(loss_fn(logits, target, reduction="sum"))
        correct += int((logits.argmax(1) == target).sum())
    model.train(was_training)
    return total_loss / len(x), correct / len(x)


def train(model: nn.Module, data, *, epochs: int = 10, batch_size: int = 128, lr: float = 1e-3,
          optimizer="adam", loss_fn: Callable = F.cross_entropy, test=None,
          clip_grad_norm: float | None = None, weight_decay: float = 0.0, seed: int | None = None,
          progress: bool | None = None, desc: str | None = None,
          on_epoch_end: Callable | None = None, on_step: Callable | None = None,
          eval_train: bool = True, **optimizer_kwargs) -> History:
    r"""Train ``model`` on in-memory tensors and return its :class:`History`.

    Args:
        model: the network (already on the data's device).
        data: a :class:`gradlab.data.Dataset` (its test split is used unless ``test`` is given)
            or a tuple ``(x, y)``.
        epochs, batch_size, lr: the usual.
        optimizer: name, class, factory or instance (see :func:`make_optimizer`).
        loss_fn: ``loss_fn(logits, y, reduction=...)``; cross-entropy by default.
        test: ``(x, y)`` evaluated after every epoch.
        clip_grad_norm: clip the global gradient norm to this value (Pascanu et al. 2013).
        seed: seeds the shuffling generator (and nothing else) for reproducible batches.
        progress: ``tqdm.auto`` bar (a widget in Jupyter, text in a terminal); ``None`` = on
            unless ``GRADLAB_PROGRESS=0``.
        on_epoch_end: ``fn(epoch, model, history)`` after each epoch's evaluation; return
            ``True`` to stop early.
        on_step: ``fn(step, model, loss)`` after each optimizer step.
        eval_train: also evaluate the full training set each epoch (else the running mean is logged).

    Returns:
        History with epoch 0 = before training.

    Examples:
        >>> from gradlab import load, mlp
        >>> data = load("digits", device="cpu")
        >>> h = train(mlp(2, 32, in_features=64), data, epochs=2, progress=False)
        >>> len(h.test_acc)
        3
    """
    x, y, test = split_data(data, test)
    if x.device.type == "cpu":
        tune_cpu_allocator()
    opt = make_optimizer(model.parameters(), optimizer, lr=lr, weight_decay=weight_decay,
                         **optimizer_kwargs)
    generator = torch.Generator(device="cpu")
    generator.manual_seed(seed if seed is not None else int(torch.initial_seed()) % 2**63)
    history = History()
    n = len(x)

    def record(epoch: int, seconds: float, running: float | None) -> None:
        if eval_train or running is None:
            train_loss, train_acc = evaluate(model, x, y, loss_fn)
        else:
            train_loss, train_acc = running, float("nan")
        test_loss, test_acc = evaluate(model, *test, loss_fn) if test is not None else (float("nan"),) * 2
        history.log(epoch=epoch, train_loss=train_loss, train_acc=train_acc,
                    test_loss=test_loss, test_acc=test_acc, seconds=seconds)

    record(0, 0.0, None)
    from tqdm.auto import tqdm

    bar = tqdm(range(1, epochs + 1), desc=desc or _("train"), unit=_("epoch"),
               disable=not progress_enabled(progress), leave=False)
    step = 0
    elapsed = 0.0
    model.train()
    for epoch in bar:
        start = time.perf_counter()
        order = torch.randperm(n, generator=generator).to(x.device)
        running, batches = 0.0, 0
        for i in range(0, n, batch_size):
            idx = order[i:i + batch_size]
            loss = loss_fn(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if clip_grad_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
            opt.step()
            step += 1
            running += loss.detach()
            batches += 1
            if on_step is not None:
                on_step(step, model, loss)
        running = float(running) / max(batches, 1)
        elapsed += time.perf_counter() - start
        record(epoch, elapsed, running)
        bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}", test_acc=f"{history.test_acc[-1]:.3f}")
        if on_epoch_end is not None and on_epoch_end(epoch, model, history):
            break
        if not torch.isfinite(torch.tensor(running)):
            break  # diverged: further epochs only print NaN
    bar.close()
    model.eval()
    return history
