"""Checks used by the notebooks' tests: torch is the oracle, and messages say *what* is wrong.

>>> import torch.nn.functional as F
>>> check_elementwise(lambda z: torch.where(z > 0, z, 0.0), F.relu, name="relu")  # passes
>>> with forbid("torch.relu"):
...     torch.relu(torch.ones(1))
Traceback (most recent call last):
...
gradlab.checks.ForbiddenCallError: torch.relu was called: implement this exercise from elementary tensor operations

The checks raise ``AssertionError`` (so nbgrader marks the test cell as failed) with a message
that names the first offending input, the value found and the value expected.
"""
from __future__ import annotations

import contextlib
import importlib
from typing import Callable, Iterable

import torch

__all__ = ["ForbiddenCallError", "forbid", "check_elementwise", "extreme_inputs", "first_mismatch",
           "available_devices"]


class ForbiddenCallError(AssertionError):
    """A built-in that the exercise must re-implement was called."""


def _resolve(path: str):
    """``"torch.nn.functional.elu"`` → (owner object, attribute name)."""
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            owner = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:-1]:
            owner = getattr(owner, attr)
        return owner, parts[-1]
    raise ValueError(f"cannot resolve {path!r}")


@contextlib.contextmanager
def forbid(*paths: str):
    r"""Make the named callables raise :class:`ForbiddenCallError` while the block runs.

    Args:
        *paths: dotted names, e.g. ``"torch.sigmoid"``, ``"torch.Tensor.sigmoid"``,
            ``"torch.nn.functional.elu"``, ``"torch.nn.init.xavier_uniform_"``.

    The originals are restored on exit, even after an error.
    """
    saved = []
    try:
        for path in paths:
            owner, attr = _resolve(path)
            original = getattr(owner, attr)

            def trap(*args, _path=path, **kwargs):
                raise ForbiddenCallError(
                    f"{_path} was called: implement this exercise from elementary tensor operations")

            setattr(owner, attr, trap)
            saved.append((owner, attr, original))
        yield
    finally:
        for owner, attr, original in reversed(saved):
            setattr(owner, attr, original)


def available_devices() -> list[torch.device]:
    """The CPU, plus CUDA when present (hidden tests run on every device they find)."""
    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    return devices


def extreme_inputs(dtype=torch.float32, device="cpu") -> torch.Tensor:
    """A 1-D tensor of awkward finite inputs: 0, ±tiny, the usual range, and ±1e4 (where a
    careless ``exp`` overflows), plus ±80 (float32) / ±700 (float64) around exp's limit."""
    big = [80.0, 88.0, 89.0, 100.0, 1e3, 1e4] + ([700.0, 710.0] if dtype == torch.float64 else [])
    values = [0.0, 1e-7, -1e-7, 1e-3, -1e-3] + big + [-b for b in big]
    values += torch.linspace(-10, 10, 81).tolist()
    return torch.tensor(values, dtype=dtype, device=device)


def first_mismatch(actual: torch.Tensor, expected: torch.Tensor, inputs: torch.Tensor,
                   rtol: float, atol: float) -> str | None:
    """Describe the first element where ``actual`` and ``expected`` differ, or ``None``."""
    a, e = actual.detach(), expected.detach()
    bad = ~torch.isclose(a, e, rtol=rtol, atol=atol, equal_nan=False)
    if not bool(bad.any()):
        return None
    i = int(bad.flatten().nonzero()[0])
    z = inputs.detach().flatten()[i] if inputs.numel() == a.numel() else float("nan")
    n = int(bad.sum())
    return f"at z = {float(z):.6g}: got {float(a.flatten()[i]):.6g}, expected {float(e.flatten()[i]):.6g} " \
           f"({n} of {a.numel()} elements differ)"


def _tolerances(dtype) -> tuple[float, float]:
    return (1e-5, 1e-6) if dtype in (torch.float32, torch.float16, torch.bfloat16) else (1e-10, 1e-12)


def check_elementwise(fn: Callable, oracle: Callable, *, name: str,
                      dtypes: Iterable[torch.dtype] = (torch.float32, torch.float64),
                      devices: Iterable | None = None, inputs: torch.Tensor | None = None,
                      grad: bool = True, shapes: bool = True, hint_at_zero: str = "") -> None:
    r"""Assert that ``fn`` agrees with ``oracle`` on values and gradients, elementwise.

    Checks, in order, for each dtype and device: returns a tensor of the input's shape and
    dtype; no NaN/inf where the oracle is finite; same values; finite gradients; same
    gradients (``d/dz sum(f(z))``). Inputs default to
    :func:`extreme_inputs`.

    Args:
        fn: the implementation under test, ``fn(z) -> Tensor``.
        oracle: torch's function with the same semantics.
        name: used in messages.
        dtypes, devices: where to check (devices default to :func:`available_devices`).
        inputs: a 1-D float tensor of inputs instead of the default set.
        grad: also check gradients.
        shapes: also check a 2-D and a 0-D input keep their shape.
        hint_at_zero: extra advice appended when the first mismatch is at ``z = 0``.
    """
    for device in (devices or available_devices()):
        for dtype in dtypes:
            z = (inputs if inputs is not None else extreme_inputs(dtype, device)).to(dtype=dtype, device=device)
            rtol, atol = _tolerances(dtype)
            where = f"{name} ({str(dtype).replace('torch.', '')}, {torch.device(device).type})"

            z1 = z.clone().requires_grad_(grad)
            out = fn(z1)
            assert isinstance(out, torch.Tensor), f"{where}: returned {type(out).__name__}, expected a Tensor"
            assert out.shape == z.shape, f"{where}: output shape {tuple(out.shape)} != input shape {tuple(z.shape)}"
            assert out.dtype == dtype, f"{where}: output dtype {out.dtype} != input dtype {dtype}"
            assert out.device.type == torch.device(device).type, f"{where}: output moved to {out.device}"
            expected = oracle(z.clone())
            finite = torch.isfinite(expected)
            bad = finite & ~torch.isfinite(out.detach())
            if bool(bad.any()):
                i = int(bad.nonzero()[0])
                raise AssertionError(f"{where}: returned {float(out.detach()[i])} at z = {float(z[i]):.6g} "
                                     "where the true value is finite — an overflowing exp()? "
                                     "Evaluate exp only where it cannot overflow (e.g. on a clamped input).")
            msg = first_mismatch(out, expected, z, rtol, atol)
            if msg:
                raise AssertionError(f"{where}: wrong value {msg}")

            if grad:
                w = torch.ones_like(z)
                assert out.requires_grad, f"{where}: the output does not require grad — " \
                                          "did you use .detach(), .item(), numpy or a no_grad block?"
                (g,) = torch.autograd.grad((out * w).sum(), z1)
                z2 = z.clone().requires_grad_(True)
                (g_expected,) = torch.autograd.grad((oracle(z2) * w).sum(), z2)
                bad = ~torch.isfinite(g)
                if bool(bad.any()):
                    i = int(bad.nonzero()[0])
                    raise AssertionError(
                        f"{where}: gradient is {float(g[i])} at z = {float(z[i]):.6g}. Autograd differentiates "
                        "both branches of torch.where: an exp() that overflows in the branch you do not "
                        "select still poisons the gradient. Clamp the input of exp first.")
                msg = first_mismatch(g, g_expected, z, max(rtol, 1e-4 if dtype == torch.float32 else 1e-9), atol)
                if msg:
                    if msg.startswith("at z = 0:") and hint_at_zero:
                        msg += ". " + hint_at_zero
                    raise AssertionError(f"{where}: wrong gradient {msg}")

            if shapes:
                m = torch.randn(3, 4, dtype=dtype, device=device)
                assert fn(m).shape == (3, 4), f"{where}: a [3, 4] input gave shape {tuple(fn(m).shape)}"
                s = torch.tensor(0.5, dtype=dtype, device=device)
                assert fn(s).shape == (), f"{where}: a 0-d input gave shape {tuple(fn(s).shape)}"
