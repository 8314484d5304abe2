"""Wrong implementations of assignment 03 that earlier sessions (and students) tried."""
from tests.catalogues import Wrong

ASSIGNMENT = "03_activations"
NB1 = "01_relu_family.ipynb"
NB2 = "02_elu_selu_and_choosing.ipynb"
NB3 = "03_gelu_silu_mish.ipynb"


def _rrelu(forward: str, extra_repr: bool = True) -> str:
    src = ("class RReLU(nn.Module):\n    def __init__(self, lower=1 / 8, upper=1 / 3):\n        super().__init__()\n"
           "        self.lower, self.upper = float(lower), float(upper)\n\n    def forward(self, x):\n" + forward)
    if extra_repr:
        src += "\n    def extra_repr(self):\n        return f'lower={self.lower}, upper={self.upper}'\n"
    return src


def _prelu(forward: str, parameter: bool = True) -> str:
    weight = ("nn.Parameter(torch.full((num_parameters,), float(init)))" if parameter
              else "torch.full((num_parameters,), float(init), requires_grad=True)")
    return ("class PReLU(nn.Module):\n    def __init__(self, num_parameters=1, init=0.25):\n        super().__init__()\n"
            f"        self.num_parameters = num_parameters\n        self.weight = {weight}\n\n    def forward(self, x):\n" + forward)


_SELU_CONSTANTS = "SELU_LAMBDA = 1.0507009873554804934193349852946\nSELU_ALPHA = 1.6732632423543772848170429916717\n\n\n"
_MOMENTS = '''def selu_moments(lam, alpha):
    phi = lambda t: math.exp(-t * t / 2) / math.sqrt(2 * math.pi)
    q = lambda f, a, b: scipy.integrate.quad(f, a, b, epsabs=1e-13, epsrel=1e-12)[0]
    mean = lam * (q(lambda t: t * phi(t), 0, np.inf) + alpha * q(lambda t: math.expm1(t) * phi(t), -np.inf, 0))
    second = lam ** 2 * (q(lambda t: t * t * phi(t), 0, np.inf) + alpha ** 2 * q(lambda t: math.expm1(t) ** 2 * phi(t), -np.inf, 0))
    return float(mean), float(second - mean ** 2)
'''

_GELU = """def gelu(z, approximate="none"):
    if approximate == "none":
        return 0.5 * z * (1 + torch.erf(z * (1 / math.sqrt(2))))
    if approximate == "tanh":
        inner = math.sqrt(2 / math.pi) * (z + 0.044715 * z * z * z)
        return 0.5 * z * (1 + torch.tanh(inner))
    raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
"""

WRONG = [
    # ------------------------------------------------------------------------------- relu
    Wrong(NB1, "relu", "clamp(min=0): gradient 1 at 0",
          "def relu(z):\n    return z.clamp(min=0)\n", expect="relu'(0) = 0"),
    Wrong(NB1, "relu", "torch.maximum(z, 0): gradient 1/2 at 0",
          "def relu(z):\n    return torch.maximum(z, torch.zeros_like(z))\n", expect="maximum(z, 0) has 0.5"),
    Wrong(NB1, "relu", "zeroes the input in place",
          "def relu(z):\n    z[z < 0] = 0\n    return z\n", expect="modified its input"),
    Wrong(NB1, "relu", "calls torch.relu",
          "def relu(z):\n    return torch.relu(z)\n",
          why_hidden="the built-in has exactly the right values and gradients, so only the guard catches it; the "
                     "visible test runs unguarded so that its messages are about the mathematics (the guard, and the "
                     "judge's static scan of the solution cell, are the hidden part)"),
    # ------------------------------------------------------------------ dead_unit_fraction
    Wrong(NB1, "dead_unit_fraction", "mean of the per-layer fractions",
          "def dead_unit_fraction(activations):\n"
          "    return float(sum(float((a == 0).all(0).double().mean()) for a in activations) / len(activations))\n",
          expect="averaged the per-layer fractions"),
    Wrong(NB1, "dead_unit_fraction", "counts zero entries, not units",
          "def dead_unit_fraction(activations):\n"
          "    return float(sum(int((a == 0).sum()) for a in activations) / sum(a.numel() for a in activations))\n",
          expect="expected 2/6"),
    Wrong(NB1, "dead_unit_fraction", "non-positive counted as dead",
          "def dead_unit_fraction(activations):\n"
          "    return float(sum(int((a <= 0).all(0).sum()) for a in activations) / sum(a.shape[1] for a in activations))\n",
          expect="is not 0"),
    Wrong(NB1, "dead_unit_fraction", "returns a tensor",
          "def dead_unit_fraction(activations):\n"
          "    return torch.cat([(a == 0).all(0) for a in activations]).double().mean()\n",
          expect="expected a Python float"),
    # ------------------------------------------------------------------------- leaky_relu
    Wrong(NB1, "leaky_relu", "the book's torch.maximum(a·z, z): gradient (1 + a)/2 at 0",
          "def leaky_relu(z, negative_slope=0.01):\n    return torch.maximum(negative_slope * z, z)\n",
          expect="strict z > 0"),
    Wrong(NB1, "leaky_relu", "negative_slope ignored",
          "def leaky_relu(z, negative_slope=0.01):\n    return torch.where(z > 0, z, 0.01 * z)\n",
          expect="expected [-0.2, 0, 3]"),
    Wrong(NB1, "leaky_relu", "z >= 0 selects the linear branch at 0",
          "def leaky_relu(z, negative_slope=0.01):\n    return torch.where(z >= 0, z, negative_slope * z)\n",
          expect="strict z > 0"),
    # ------------------------------------------------------------------------------ RReLU
    Wrong(NB1, "RReLU", "one slope per call instead of per element",
          _rrelu("        if self.training:\n            a = float(torch.empty(1).uniform_(self.lower, self.upper))\n"
                 "        else:\n            a = (self.lower + self.upper) / 2\n        return torch.where(x > 0, x, a * x)\n"),
          expect="draw one slope per element"),
    Wrong(NB1, "RReLU", "random slopes in eval mode too",
          _rrelu("        a = torch.empty_like(x).uniform_(self.lower, self.upper)\n        return torch.where(x > 0, x, a * x)\n"),
          expect="(lower + upper) / 2 like nn.RReLU().eval()"),
    Wrong(NB1, "RReLU", "eval mode with x >= 0: gradient 1 at 0",
          _rrelu("        if self.training:\n            a = torch.empty_like(x).uniform_(self.lower, self.upper)\n"
                 "        else:\n            a = (self.lower + self.upper) / 2\n        return torch.where(x >= 0, x, a * x)\n"),
          expect="the gradient at x = 0"),
    Wrong(NB1, "RReLU", "Gaussian slopes around the mean (the paper's slopes are uniform)",
          _rrelu("        mid = (self.lower + self.upper) / 2\n        if self.training:\n"
                 "            a = mid + torch.randn_like(x) * (self.upper - self.lower) / 2\n"
                 "        else:\n            a = mid\n        return torch.where(x > 0, x, a * x)\n"),
          expect="must lie in [1/8, 1/3]"),
    Wrong(NB1, "RReLU", "no extra_repr",
          _rrelu("        if self.training:\n            a = torch.empty_like(x).uniform_(self.lower, self.upper)\n"
                 "        else:\n            a = (self.lower + self.upper) / 2\n        return torch.where(x > 0, x, a * x)\n",
                 extra_repr=False),
          expect="extra_repr"),
    # ------------------------------------------------------------------------------ PReLU
    Wrong(NB1, "PReLU", "the slope is a plain tensor, not an nn.Parameter",
          _prelu("        return torch.where(x > 0, x, self.weight * x)\n", parameter=False),
          expect="must be an nn.Parameter"),
    Wrong(NB1, "PReLU", "slopes broadcast along the last dimension",
          _prelu("        return torch.where(x > 0, x, self.weight * x)\n"),
          expect="dimension 1"),
    Wrong(NB1, "PReLU", "x >= 0: input gradient 1 at 0 instead of the weight",
          _prelu("        w = self.weight\n        if self.num_parameters > 1:\n            shape = [1] * x.dim()\n"
                 "            shape[1] = self.num_parameters\n            w = w.reshape(shape)\n        return torch.where(x >= 0, x, w * x)\n"),
          expect="gradient w.r.t. the input"),
    # -------------------------------------------------------------------------------- elu
    Wrong(NB2, "elu", "exp of the unclamped input inside torch.where",
          "def elu(z, alpha=1.0):\n    return torch.where(z > 0, z, alpha * (torch.exp(z) - 1))\n",
          expect="clamp the input of exp"),
    Wrong(NB2, "elu", "z >= 0: derivative 1 at 0 instead of alpha",
          "def elu(z, alpha=1.0):\n    return torch.where(z >= 0, z, alpha * torch.expm1(z.clamp(max=0)))\n",
          expect="the left one"),
    # ------------------------------------------------------------------------------- selu
    Wrong(NB2, "selu", "rounded constants",
          "SELU_LAMBDA, SELU_ALPHA = 1.0507, 1.6733\n\n\ndef selu(z):\n"
          "    return torch.where(z > 0, SELU_LAMBDA * z, SELU_LAMBDA * SELU_ALPHA * torch.expm1(z.clamp(max=0)))\n",
          expect="every digit"),
    # ---------------------------------------------------------------- selu_moments / constants
    Wrong(NB2, "selu_moments", "Monte-Carlo moments",
          "def selu_moments(lam, alpha):\n    z = torch.randn(1_000_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)\n"
          "    f = lam * F.elu(z, alpha)\n    return float(f.mean()), float(f.var())\n\n\n"
          "def selu_constants():\n    return 1.0507009873554805, 1.6732632423543772\n",
          expect="mean of ELU_1(z)"),
    Wrong(NB2, "selu_moments", "the second moment returned as the variance",
          _MOMENTS.replace("return float(mean), float(second - mean ** 2)", "return float(mean), float(second)")
          + "\n\ndef selu_constants():\n    return 1.0507009873554805, 1.6732632423543772\n",
          expect="E[f²] − E[f]²"),
    Wrong(NB2, "selu_moments", "constants typed in, rounded",
          _MOMENTS + "\n\ndef selu_constants():\n    return 1.0507, 1.6733\n",
          why_hidden="the visible check accepts 1e-3 so that a correct but loosely converged solver gets its values "
                     "printed and a pass; full precision (1e-7, only reachable by solving) is the hidden requirement"),
    # ----------------------------------------------------------------------- kfold_indices
    Wrong(NB2, "kfold_indices", "consecutive blocks, not shuffled",
          "def kfold_indices(n, k, seed=0):\n    if not 2 <= k <= n:\n        raise ValueError(k)\n"
          "    folds = torch.tensor_split(torch.arange(n), k)\n"
          "    return [(torch.cat([folds[j] for j in range(k) if j != i]), folds[i]) for i in range(k)]\n",
          expect="not shuffled"),
    Wrong(NB2, "kfold_indices", "no ValueError for k < 2",
          "def kfold_indices(n, k, seed=0):\n    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))\n"
          "    folds = torch.tensor_split(perm, max(k, 1))\n"
          "    return [(torch.cat([folds[j] for j in range(len(folds)) if j != i] or [torch.empty(0, dtype=torch.int64)]), folds[i]) for i in range(len(folds))]\n",
          expect="must raise ValueError"),
    Wrong(NB2, "kfold_indices", "the last fold takes the remainder",
          "def kfold_indices(n, k, seed=0):\n    if not 2 <= k <= n:\n        raise ValueError(k)\n"
          "    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))\n    size = n // k\n"
          "    folds = [perm[i * size:(i + 1) * size] for i in range(k - 1)] + [perm[(k - 1) * size:]]\n"
          "    return [(torch.cat([folds[j] for j in range(k) if j != i]), folds[i]) for i in range(k)]\n",
          expect="fold sizes"),
    # --------------------------------------------------------------------- gelu, silu, mish
    Wrong(NB3, "gelu", "erf(z) instead of erf(z/√2)",
          _GELU.replace("torch.erf(z * (1 / math.sqrt(2)))", "torch.erf(z)"),
          expect="gelu([-1, 0, 2]) gave"),
    Wrong(NB3, "gelu", "ignores approximate: always the erf form",
          "def gelu(z, approximate='none'):\n    if approximate not in ('none', 'tanh'):\n        raise ValueError(approximate)\n"
          "    return 0.5 * z * (1 + torch.erf(z * (1 / math.sqrt(2))))\n",
          expect="equals the erf form exactly"),
    Wrong(NB3, "gelu", "tanh form without the cubic term",
          _GELU.replace("(z + 0.044715 * z * z * z)", "z"),
          expect="wrong value"),
    Wrong(NB3, "gelu", "an unknown approximate falls back to erf",
          _GELU.replace("    raise ValueError(f\"approximate must be 'none' or 'tanh', got {approximate!r}\")",
                        "    return 0.5 * z * (1 + torch.erf(z * (1 / math.sqrt(2))))"),
          expect="must raise ValueError"),
    Wrong(NB3, "gelu", "σ(1.702 z) gate instead of Φ(z)",
          "def gelu(z, approximate='none'):\n    if approximate not in ('none', 'tanh'):\n        raise ValueError(approximate)\n"
          "    e = torch.exp(-(1.702 * z).abs())\n    return z * torch.where(z >= 0, 1 / (1 + e), e / (1 + e))\n",
          expect="gelu([-1, 0, 2]) gave"),
    Wrong(NB3, "gelu", "calls F.gelu",
          "def gelu(z, approximate='none'):\n    if approximate not in ('none', 'tanh'):\n        raise ValueError(approximate)\n"
          "    return F.gelu(z, approximate=approximate)\n",
          why_hidden="the built-in has exactly the right values and gradients, so only the guard catches it; the "
                     "visible test runs unguarded so that its messages are about the mathematics (the guard, and the "
                     "judge's static scan of the solution cell, are the hidden part)"),
    Wrong(NB3, "silu", "naive sigmoid 1/(1 + exp(-z)): NaN gradient for z ≪ 0",
          "def silu(z):\n    return z / (1 + torch.exp(-z))\n",
          expect="gradient is nan"),
    Wrong(NB3, "silu", "σ(z)·(1 − σ(z)) instead of z·σ(z)",
          "def silu(z):\n    e = torch.exp(-z.abs())\n    s = torch.where(z >= 0, 1 / (1 + e), e / (1 + e))\n    return s * (1 - s)\n",
          expect="silu([-1, 0, 2]) gave"),
    Wrong(NB3, "silu", "calls torch.sigmoid",
          "def silu(z):\n    return z * torch.sigmoid(z)\n",
          why_hidden="z·torch.sigmoid(z) has exactly the right values and gradients (torch's sigmoid is stable), so only "
                     "the guard catches it; the visible test runs unguarded, as for every exercise"),
    Wrong(NB3, "mish", "softplus = log1p(exp(z)): overflows above 88 (float32)",
          "def mish(z):\n    return z * torch.tanh(torch.log1p(torch.exp(z)))\n",
          expect="gradient is nan"),
    Wrong(NB3, "mish", "softplus taken as the identity above 5 (threshold too low)",
          "def mish(z):\n    sp = torch.where(z > 5, z, torch.log1p(torch.exp(torch.clamp(z, max=5))))\n    return z * torch.tanh(sp)\n",
          expect="wrong value"),
    Wrong(NB3, "mish", "torch.where without clamping the unused branch",
          "def mish(z):\n    sp = torch.where(z > 20, z, torch.log1p(torch.exp(z)))\n    return z * torch.tanh(sp)\n",
          expect="gradient is nan"),
    Wrong(NB3, "mish", "z·tanh(z) (softplus forgotten)",
          "def mish(z):\n    return z * torch.tanh(z)\n",
          expect="mish([-1, 0, 2]) gave"),
    Wrong(NB3, "mish", "calls F.softplus",
          "def mish(z):\n    return z * torch.tanh(F.softplus(z))\n",
          why_hidden="F.softplus is stable, so the values and gradients are right and only the guard catches it; the "
                     "visible test runs unguarded, as for every exercise"),
]
