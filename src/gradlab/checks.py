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
import functools
import importlib
import math
from collections.abc import Callable, Iterable, Iterator

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from .i18n import _
from .observe import checking, record, tolerance

__all__ = ["ForbiddenCallError", "forbid", "forbid_ops", "forbidding", "check_elementwise",
           "extreme_inputs", "first_mismatch", "available_devices", "each_device_and_dtype",
           "run_init", "check_distribution", "diagnose", "xavier_candidates", "kaiming_candidates",
           "SIGMOID_BUILTINS", "SIGMOID_OPS", "INIT_BUILTINS"]


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
                    _("{name} was called: implement this exercise from elementary tensor operations").format(name=_path))

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
    return f"at z = {float(z):.6g}: " + _("got {got:.6g}, expected {expected:.6g} ({n} of {total} elements differ)").format(
        got=float(a.flatten()[i]), expected=float(e.flatten()[i]), n=n, total=a.numel())


def check_elementwise(fn: Callable, oracle: Callable, *, name: str,
                      dtypes: Iterable[torch.dtype] = (torch.float32, torch.float64),
                      devices: Iterable | None = None, inputs: torch.Tensor | None = None,
                      grad: bool = True, shapes: bool = True, hint_at_zero: str = "",
                      record_as: str | None = None) -> None:
    r"""Assert that ``fn`` agrees with ``oracle`` on values and gradients, elementwise.

    In the student's graded run (:func:`gradlab.observe.checking` is False) the oracle is never
    called: the values and gradients are only recorded, and the grader compares them with the
    reference run's.

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
        record_as: also record (:func:`gradlab.observe.record`) the values and gradients checked,
            under ``"<record_as>/<dtype>/<device>/values"`` and ``…/grad``, with the tolerances
            of the comparison (for the grader; a no-op outside it).
    """
    for device in (devices or available_devices()):
        for dtype in dtypes:
            z = (inputs if inputs is not None else extreme_inputs(dtype, device)).to(dtype=dtype, device=device)
            rtol, atol = tolerance(dtype)
            where = f"{name} ({str(dtype).replace('torch.', '')}, {torch.device(device).type})"

            z1 = z.clone().requires_grad_(grad)
            out = fn(z1)
            assert isinstance(out, torch.Tensor), _("{where}: returned {type}, expected a Tensor").format(
                where=where, type=type(out).__name__)
            assert out.shape == z.shape, _("{where}: output shape {got} != input shape {expected}").format(
                where=where, got=tuple(out.shape), expected=tuple(z.shape))
            assert out.dtype == dtype, _("{where}: output dtype {got} != input dtype {expected}").format(
                where=where, got=out.dtype, expected=dtype)
            assert out.device.type == torch.device(device).type, _("{where}: output moved to {device}").format(
                where=where, device=out.device)
            key = f"{record_as}/{str(dtype).replace('torch.', '')}/{torch.device(device).type}"
            if checking():  # the oracle runs only where its values cannot be stolen (see gradlab.observe)
                _compare_values(out, oracle(z.clone()), z, where, rtol, atol)
            if record_as is not None:
                record(f"{key}/values", out.detach(), rtol=rtol, atol=atol)

            if grad:
                w = torch.ones_like(z)
                assert out.requires_grad, _("{where}: the output does not require grad — did you use .detach(), "
                                            ".item(), numpy or a no_grad block?").format(where=where)
                (g,) = torch.autograd.grad((out * w).sum(), z1)
                grad_rtol = max(rtol, 1e-4 if dtype == torch.float32 else 1e-9)
                if checking():
                    z2 = z.clone().requires_grad_(True)
                    (g_expected,) = torch.autograd.grad((oracle(z2) * w).sum(), z2)
                    _compare_grads(g, g_expected, z, where, grad_rtol, atol, hint_at_zero)
                if record_as is not None:
                    record(f"{key}/grad", g, rtol=grad_rtol, atol=atol)

            if shapes:
                m = torch.randn(3, 4, dtype=dtype, device=device)
                assert fn(m).shape == (3, 4), _("{where}: a [3, 4] input gave shape {got}").format(
                    where=where, got=tuple(fn(m).shape))
                s = torch.tensor(0.5, dtype=dtype, device=device)
                assert fn(s).shape == (), _("{where}: a 0-d input gave shape {got}").format(where=where, got=tuple(fn(s).shape))


def _compare_values(out, expected, z, where, rtol, atol) -> None:
    finite = torch.isfinite(expected)
    bad = finite & ~torch.isfinite(out.detach())
    if bool(bad.any()):
        i = int(bad.nonzero()[0])
        raise AssertionError(_("{where}: returned {got} at z = {z:.6g} where the true value is finite — an "
                               "overflowing exp()? Evaluate exp only where it cannot overflow (e.g. on a "
                               "clamped input).").format(where=where, got=float(out.detach()[i]), z=float(z[i])))
    msg = first_mismatch(out, expected, z, rtol, atol)
    if msg:
        raise AssertionError(_("{where}: wrong value {detail}").format(where=where, detail=msg))


def _compare_grads(g, g_expected, z, where, rtol, atol, hint_at_zero) -> None:
    bad = ~torch.isfinite(g)
    if bool(bad.any()):
        i = int(bad.nonzero()[0])
        raise AssertionError(_(
            "{where}: gradient is {got} at z = {z:.6g}. Autograd differentiates both branches of "
            "torch.where: an exp() that overflows in the branch you do not select still poisons the "
            "gradient. Clamp the input of exp first.").format(where=where, got=float(g[i]), z=float(z[i])))
    msg = first_mismatch(g, g_expected, z, rtol, atol)
    if msg:
        if msg.startswith("at z = 0:") and hint_at_zero:
            msg += ". " + hint_at_zero
        raise AssertionError(_("{where}: wrong gradient {detail}").format(where=where, detail=msg))


# ------------------------------------------------------------------ forbidden built-ins
# The built-ins an exercise re-implements (the same dotted names go in the solution cell's
# metadata, "gradlab": {"forbid": [...]}, for the grader's static scan).
SIGMOID_BUILTINS = ("torch.sigmoid", "torch.sigmoid_", "torch.Tensor.sigmoid", "torch.Tensor.sigmoid_",
                    "torch.special.expit", "torch.nn.functional.sigmoid", "torch.nn.functional.logsigmoid")
SIGMOID_OPS = ("sigmoid", "sigmoid_", "log_sigmoid_forward", "special_expit")
INIT_BUILTINS = ("torch.nn.init.xavier_uniform_", "torch.nn.init.xavier_normal_",
                 "torch.nn.init.kaiming_uniform_", "torch.nn.init.kaiming_normal_",
                 "torch.nn.init.xavier_uniform", "torch.nn.init.xavier_normal",
                 "torch.nn.init.kaiming_uniform", "torch.nn.init.kaiming_normal",
                 "torch.nn.init.calculate_gain", "torch.nn.init._calculate_fan_in_and_fan_out",
                 "torch.nn.init._calculate_correct_fan")


class forbid_ops(TorchDispatchMode):
    r"""Raise :class:`ForbiddenCallError` when one of the named ATen operators runs.

    Catches a built-in however it is reached — an alias (``s = torch.sigmoid``), ``nn.Sigmoid``,
    ``torch.special.expit`` — because every route ends in the same operator. Complements
    :func:`forbid`, which replaces Python attributes.

    Args:
        *ops: operator names in ``torch.ops.aten`` (``"sigmoid"``) or the packets themselves.
        label: how the message names what was called.

    Examples:
        >>> with forbid_ops("sigmoid", label="the built-in sigmoid"):
        ...     torch.nn.Sigmoid()(torch.zeros(1))
        Traceback (most recent call last):
        ...
        gradlab.checks.ForbiddenCallError: the built-in sigmoid (aten.sigmoid.default) was called: implement this exercise from elementary tensor operations
    """

    def __init__(self, *ops, label: str = "a forbidden built-in"):
        super().__init__()
        self.ops = {getattr(torch.ops.aten, op) if isinstance(op, str) else op for op in ops}
        self.label = label

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket in self.ops:
            raise ForbiddenCallError(_("{name} was called: implement this exercise from elementary tensor "
                                       "operations").format(name=f"{self.label} ({func})"))
        return func(*args, **(kwargs or {}))


def forbidding(fn: Callable, *names: str, ops: Iterable = (), label: str = "a forbidden built-in"):
    r"""``fn``, wrapped so that calling one of the built-ins ``names`` (dotted, as for
    :func:`forbid`) or running one of the ATen ``ops`` (as for :func:`forbid_ops`) inside it
    raises :class:`ForbiddenCallError`.

    Examples:
        >>> safe = forbidding(lambda z: torch.where(z > 0, z, 0.0), "torch.relu")
        >>> safe(torch.tensor([-1.0, 2.0]))
        tensor([0., 2.])
        >>> forbidding(lambda z: torch.relu(z), "torch.relu")(torch.ones(1))
        Traceback (most recent call last):
        ...
        gradlab.checks.ForbiddenCallError: torch.relu was called: implement this exercise from elementary tensor operations
    """
    ops = tuple(ops)

    @functools.wraps(fn)
    def guarded(*args, **kwargs):
        with forbid(*names):
            if ops:
                with forbid_ops(*ops, label=label):
                    return fn(*args, **kwargs)
            return fn(*args, **kwargs)

    return guarded


def each_device_and_dtype(dtypes: Iterable[torch.dtype] = (torch.float32, torch.float64),
                          devices: Iterable | None = None) -> Iterator[tuple[torch.device, torch.dtype]]:
    """``(device, dtype)`` for every device of :func:`available_devices` and every dtype.

    Examples:
        >>> [(d.type, t) for d, t in each_device_and_dtype()][:2]
        [('cpu', torch.float32), ('cpu', torch.float64)]
    """
    for device in (devices if devices is not None else available_devices()):
        for dtype in dtypes:
            yield torch.device(device), dtype


# ------------------------------------------------------------- in-place initializers
def run_init(fn: Callable, shape, *, dtype=torch.float32, device="cpu", requires_grad: bool = False,
             forbidden: Iterable[str] = INIT_BUILTINS, **kwargs):
    r"""Call an in-place initializer ``fn(tensor, **kwargs)`` (a ``torch.nn.init``-style filler)
    on a fresh tensor filled with 123, with the built-ins ``forbidden``, and check its contract:
    returns the same object, same storage, dtype, device and shape, no autograd history (a leaf
    that requires grad stays one), every entry written and finite.

    Returns:
        ``(tensor, description of the call)`` for the messages of :func:`check_distribution`.

    Examples:
        >>> def he_(t):
        ...     with torch.no_grad():
        ...         return t.normal_(0, (2 / t.shape[1]) ** 0.5)
        >>> t, call = run_init(he_, (30, 40), requires_grad=True)
        >>> call
        'he_(tensor[30, 40] float32 on cpu, requires_grad)'
        >>> run_init(lambda t: t.clone().zero_(), (2, 2))
        Traceback (most recent call last):
        ...
        AssertionError: <lambda>(tensor[2, 2] float32 on cpu) returned a different object: fill the tensor in place and return the same tensor object
    """
    t = torch.full(shape, 123.0, dtype=dtype, device=device, requires_grad=requires_grad)
    ptr = t.data_ptr()
    args = "".join(f", {k}={v!r}" for k, v in kwargs.items())
    call = (f"{fn.__name__}(tensor{list(shape)} {str(dtype).replace('torch.', '')} on {torch.device(device).type}"
            f"{', requires_grad' if requires_grad else ''}{args})")
    try:
        with forbid(*forbidden):
            out = fn(t, **kwargs)
    except RuntimeError as e:
        if requires_grad and ("leaf" in str(e) or "requires grad" in str(e)):
            raise AssertionError(_("{call} raised: {error} — fill the tensor inside `with torch.no_grad():`").format(
                call=call, error=e)) from None
        raise
    assert out is t, (_("{call} returned None: fill the tensor in place and return the same tensor object")
                      if out is None else _("{call} returned a different object: fill the tensor in place and "
                                            "return the same tensor object")).format(call=call)
    assert t.data_ptr() == ptr, _("{call}: the tensor's storage changed — fill it in place, do not rebind it").format(call=call)
    assert t.dtype == dtype, _("{call}: dtype became {got}, expected {expected}").format(call=call, got=t.dtype, expected=dtype)
    assert t.device.type == torch.device(device).type, _("{call}: tensor moved to {device}").format(call=call, device=t.device)
    assert t.shape == torch.Size(shape), _("{call}: shape became {got}").format(call=call, got=tuple(t.shape))
    if requires_grad:
        assert t.grad_fn is None and t.is_leaf, \
            _("{call}: the tensor has autograd history (grad_fn={grad_fn}) — use torch.no_grad()").format(
                call=call, grad_fn=t.grad_fn)
        assert t.requires_grad, _("{call}: requires_grad was switched off — keep it (fill under torch.no_grad())").format(call=call)
    assert bool(torch.isfinite(t).all()), _("{call}: produced NaN or inf").format(call=call)
    assert not bool((t == 123.0).any()), _("{call}: some entries kept their old value — fill every entry").format(call=call)
    return t, call


def diagnose(found: float, candidates: dict, tol: float = 0.02) -> str:
    """``" — <label>"`` for the first wrong formula (label → the std it gives) that matches ``found``
    within ``tol`` (relative), or ``""``."""
    for label, value in candidates.items():
        if value > 0 and abs(found / value - 1) < tol:
            return f" — {label}"
    return ""


def check_distribution(t: torch.Tensor, call: str, *, std: float | None, kind: str,
                       candidates: dict | None = None, record_as: str | None = None) -> dict:
    r"""Assert that ``t`` looks like i.i.d. draws of zero mean, standard deviation ``std``, from a
    ``kind`` = ``"uniform"`` (U(±√3·std)) or ``"normal"`` distribution; tolerances from the sample
    size. A wrong std is named by :func:`diagnose` over ``candidates``. With ``record_as``, the
    sample's own statistics are recorded for the grader (:func:`gradlab.observe.record`), none of
    which needs ``std``: its std (relative tolerance twice the assertion's: two honest samples may
    sit on either side of it), its mean in units of its std, and the fraction of draws beyond twice
    its std (0 for a uniform, 4.55 % for a normal distribution). In the student's graded run
    (:func:`gradlab.observe.checking` False) ``std`` may be ``None`` and nothing is asserted.

    Returns:
        ``{"mean", "std", "max_abs"}`` of the sample (for :func:`gradlab.observe.record`).
    """
    w = t.detach().double().flatten().cpu()
    n = w.numel()
    tol = min(0.5, 0.01 + 6 / math.sqrt(2 * n))
    mean, found = float(w.mean()), float(w.std())
    biggest = float(w.abs().max())
    if record_as is not None:
        record(f"{record_as}/std", found, rtol=2 * tol, atol=0.0)
        record(f"{record_as}/mean_in_std", mean / found if found > 0 else 0.0, rtol=0.0, atol=12 / math.sqrt(n))
        record(f"{record_as}/beyond_2std", float((w.abs() > 2 * found).double().mean()), rtol=0.0,
               atol=max(0.015, 5 * math.sqrt(2 * 0.0455 * 0.9545 / n)))  # 5 sigma of two samples' difference
    if not checking():  # the student's graded run: recorded, judged outside this process
        return {"mean": mean, "std": found, "max_abs": biggest}
    assert abs(mean) < 6 * std / math.sqrt(n), _("{call}: mean {mean:.3g}, expected ≈ 0 — the weights must be centred on 0").format(
        call=call, mean=mean)
    assert abs(found / std - 1) < tol, _("{call}: std {found:.4g}, expected ≈ {std:.4g}{diagnosis}").format(
        call=call, found=found, std=std, diagnosis=diagnose(found, candidates or {}))
    if kind == "uniform":
        bound = math.sqrt(3) * std
        assert biggest <= bound * (1 + 1e-5), _("{call}: max |w| = {biggest:.4g} exceeds the bound r = √3·std = {bound:.4g} — did you draw "
                                                "from a normal distribution instead of U(-r, r)?").format(
                                                    call=call, biggest=biggest, bound=bound)
        if n >= 10_000:
            assert biggest >= 0.99 * bound, _("{call}: max |w| = {biggest:.4g}, but U(-r, r) should reach r = {bound:.4g}").format(
                call=call, biggest=biggest, bound=bound)
    else:
        beyond = float((w.abs() > 2 * std).double().mean())
        assert 0.03 < beyond < 0.062, _("{call}: {beyond:.2%} of the weights lie beyond 2 std; a normal distribution has 4.55 % "
                                       "(a uniform one 0 %) — draw with normal_(0, std)").format(call=call, beyond=beyond)
    return {"mean": mean, "std": found, "max_abs": biggest}


# --------------------------------------------------------- catalogues of wrong formulas
def xavier_candidates(fan_in: int, fan_out: int, gain: float, receptive: int = 1) -> dict:
    """Plausible wrong Xavier/Glorot formulas: ``{diagnosis: the std it produces}``."""
    return {
        "that is what fan_in = shape[1], fan_out = shape[0] give: multiply both by the receptive field (product of the kernel sizes)":
            gain * math.sqrt(2 / ((fan_in + fan_out) / receptive)) if receptive > 1 else -1,
        "that is gain·√(2/fan_in): did you use fan_in alone instead of fan_in + fan_out?": gain * math.sqrt(2 / fan_in),
        "that is gain·√(2/fan_out): did you use fan_out alone instead of fan_in + fan_out?": gain * math.sqrt(2 / fan_out),
        "that is gain·√(1/fan_in) (LeCun): did you use fan_in instead of fan_in + fan_out?": gain * math.sqrt(1 / fan_in),
        "that is gain·√(1/(fan_in+fan_out)): did you forget the factor 2?": gain * math.sqrt(1 / (fan_in + fan_out)),
        "that is √(2/(fan_in+fan_out)) without the gain: multiply by gain": math.sqrt(2 / (fan_in + fan_out)),
        "that is gain²·√(2/(fan_in+fan_out)): the gain multiplies the std, not the variance twice":
            gain ** 2 * math.sqrt(2 / (fan_in + fan_out)),
        "that is the variance gain²·2/(fan_in+fan_out), not the std: take the square root": gain ** 2 * 2 / (fan_in + fan_out),
        "that is gain·√(6/(fan_in+fan_out)), the uniform BOUND used as a std": gain * math.sqrt(6 / (fan_in + fan_out)),
        "that is std/√3: you used the std as the bound r of the uniform; r = √3·std":
            gain * math.sqrt(2 / (fan_in + fan_out)) / math.sqrt(3),
    }


def kaiming_candidates(fan_in: int, fan_out: int, a, mode: str, nonlinearity: str, receptive: int = 1) -> dict:
    """Plausible wrong Kaiming/He formulas: ``{diagnosis: the std it produces}``."""
    slope = 0.01 if a is None else a
    gains = {"leaky_relu": math.sqrt(2 / (1 + slope ** 2)), "relu": math.sqrt(2), "linear": 1.0, "tanh": 5 / 3,
             "sigmoid": 1.0, "selu": 0.75}
    g = gains[nonlinearity]
    fan, other = (fan_in, fan_out) if mode == "fan_in" else (fan_out, fan_in)
    return {
        "that is what fan = shape[1] or shape[0] gives: multiply by the receptive field (product of the kernel sizes)":
            g / math.sqrt(fan / receptive) if receptive > 1 else -1,
        f"that is gain/√{other}: mode={mode!r} means fan = {fan}; you used the other fan": g / math.sqrt(other),
        "that is √2/√fan: you ignored the negative slope a (gain = √(2/(1+a²)))": math.sqrt(2) / math.sqrt(fan),
        "that is gain/√3/√fan: you used the std as the uniform bound; r = √3·std": g / math.sqrt(3 * fan),
        "that is gain/fan: take the square root of fan": g / fan,
        "that is 1/√fan: you forgot the gain": 1 / math.sqrt(fan),
        "that is gain²/fan, the variance: take the square root": g ** 2 / fan,
        "that is gain·√(2/(fan_in+fan_out)): that is Xavier, not Kaiming": g * math.sqrt(2 / (fan_in + fan_out)),
    }


# LayerNorm: every fused normalization (a LayerNorm is a GroupNorm with one group, and BN/instance
# norm of the transposed input give the same numbers).
LAYER_NORM_BUILTINS = ("torch.nn.functional.layer_norm", "torch.layer_norm", "torch.native_layer_norm",
                       "torch.nn.functional.group_norm", "torch.group_norm", "torch.native_group_norm",
                       "torch.nn.functional.batch_norm", "torch.batch_norm",
                       "torch.nn.functional.instance_norm", "torch.instance_norm",
                       "torch.nn.functional.rms_norm")
# Gradient checking compares finite differences with autograd: finite differences computed by
# autograd (or by torch's own gradcheck) would compare autograd with itself.
GRADCHECK_BUILTINS = ("torch.autograd.grad", "torch.autograd.backward", "torch.Tensor.backward",
                      "torch.autograd.functional.jacobian", "torch.autograd.functional.vjp",
                      "torch.func.grad", "torch.func.jacrev", "torch.func.jacfwd", "torch.func.vjp",
                      "torch.autograd.gradcheck.get_numerical_jacobian",
                      "torch.autograd.gradcheck.get_numerical_jacobian_wrt_specific_input")
NADAM_BUILTINS = ("torch.optim.NAdam", "torch.optim.nadam.nadam", "torch.optim.nadam.NAdam",
                  "torch.optim.Adam", "torch.optim.adam.adam", "torch._fused_adam_")
SCHEDULE_BUILTINS = ("torch.optim.lr_scheduler.CosineAnnealingLR", "torch.optim.lr_scheduler.LinearLR",
                     "torch.optim.lr_scheduler.SequentialLR", "torch.optim.lr_scheduler.OneCycleLR",
                     "torch.optim.lr_scheduler.CosineAnnealingWarmRestarts")
# Label smoothing: the loss itself and its negative-log-likelihood half (log-softmax and
# logsumexp stay allowed: they are the elementary, stable steps).
CROSS_ENTROPY_BUILTINS = ("torch.nn.functional.cross_entropy", "torch.nn.functional.nll_loss",
                          "torch.nn.CrossEntropyLoss", "torch.nn.NLLLoss", "torch.nn.functional.kl_div",
                          "torch.nn.KLDivLoss")


# -------------------------------------------- forbidden built-ins of the 2026-12 additions
# orthogonal_ may use torch.linalg.qr: the exercise is the sign fix and the semi-orthogonal cases,
# not a QR decomposition; what hands over a finished (semi-)orthogonal matrix is forbidden.
ORTHOGONAL_BUILTINS = ("torch.nn.init.orthogonal_", "torch.nn.init.orthogonal",
                       "torch.nn.utils.parametrizations.orthogonal")
GELU_BUILTINS = ("torch.nn.functional.gelu", "torch._C._nn.gelu", "torch._C._nn.gelu_")
GELU_OPS = ("gelu", "gelu_")
# SiLU is z·σ(z): the sigmoid built-ins would make it one line, so they stay forbidden (01's rule)
SILU_BUILTINS = ("torch.nn.functional.silu", "torch._C._nn.silu", "torch._C._nn.silu_") + SIGMOID_BUILTINS
SILU_OPS = ("silu", "silu_") + SIGMOID_OPS
# Mish is z·tanh(softplus(z)): the stable softplus is the exercise, so softplus and logaddexp(z, 0) go too
MISH_BUILTINS = ("torch.nn.functional.mish", "torch._C._nn.mish", "torch._C._nn.mish_",
                 "torch.nn.functional.softplus", "torch._C._nn.softplus", "torch.logaddexp",
                 "torch.Tensor.logaddexp")
MISH_OPS = ("mish", "mish_", "softplus", "logaddexp")
__all__ += ["ORTHOGONAL_BUILTINS", "GELU_BUILTINS", "GELU_OPS", "SILU_BUILTINS", "SILU_OPS", "MISH_BUILTINS",
            "MISH_OPS"]
