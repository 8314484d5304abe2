"""Wrong implementations of assignment 02 that earlier sessions (and students) tried."""
from tests.catalogues import Wrong

ASSIGNMENT = "02_initialization"
NB1 = "01_variance_and_init.ipynb"
NB2 = "02_gains_and_depth.ipynb"
NB3 = "03_orthogonal_and_lsuv.ipynb"

_FAN = '''def fan_in_and_fan_out(tensor):
    if tensor.dim() < 2:
        raise ValueError("need 2 dimensions")
    receptive = 1
    for size in tensor.shape[2:]:
        receptive *= int(size)
    return int(tensor.shape[1]) * receptive, int(tensor.shape[0]) * receptive
'''
_MODE = '''

def _fan_for_mode(tensor, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(mode)
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out
'''


def _kaiming_uniform(body: str) -> str:
    return "def kaiming_uniform_(tensor, a=0.0, mode=\"fan_in\", nonlinearity=\"leaky_relu\"):\n" + body + _MODE


_ORTH = """def orthogonal_(tensor, gain=1.0):
    if tensor.dim() < 2:
        raise ValueError(f"orthogonal_ needs 2 dims")
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    with torch.no_grad():
        a = torch.randn(rows, cols, dtype=tensor.dtype, device=tensor.device)
        if rows < cols:
            a = a.T
        q, r = torch.linalg.qr(a)
        q = q * torch.sign(torch.diagonal(r))
        if rows < cols:
            q = q.T
        tensor.copy_(q.reshape(tensor.shape)).mul_(gain)
    return tensor
"""
_LSUV = """def lsuv_init_(model, x, tol=0.1, max_iter=10):
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for layer in linears:
            orthogonal_(layer.weight)
            if layer.bias is not None:
                layer.bias.zero_()
        for layer in linears:
            seen = []
            handle = layer.register_forward_hook(lambda module, inputs, output: seen.append(output))
            try:
                for _ in range(max_iter):
                    seen.clear()
                    model(x)
                    var = float(seen[0].var())
                    if abs(var - 1) < tol:
                        break
                    layer.weight.div_(math.sqrt(var))
            finally:
                handle.remove()
    return model
"""
# the variance of the module that follows each Linear (its activation) instead of the Linear's own output
_LSUV_POST = """def lsuv_init_(model, x, tol=0.1, max_iter=10):
    mods = list(model.modules())
    linears = [m for m in mods if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for layer in linears:
            orthogonal_(layer.weight)
            if layer.bias is not None:
                layer.bias.zero_()
        for layer in linears:
            seen = []
            nxt = mods[mods.index(layer) + 1] if mods.index(layer) + 1 < len(mods) else layer
            handle = nxt.register_forward_hook(lambda module, inputs, output: seen.append(output))
            try:
                for _ in range(max_iter):
                    seen.clear()
                    model(x)
                    var = float(seen[0].var())
                    if abs(var - 1) < tol:
                        break
                    layer.weight.div_(math.sqrt(var))
            finally:
                handle.remove()
    return model
"""


WRONG = [
    # ------------------------------------------------------------- derivation checkpoints
    Wrong(NB1, "linear_variance_after", "n·sigma per layer instead of n·sigma²",
          "def linear_variance_after(k, sigma, n, var_x=1.0):\n    return float(var_x * (n * sigma) ** k)\n",
          expect="each layer multiplies the variance by n·sigma²"),
    Wrong(NB1, "relu_variance_after", "the linear-net answer: no halving",
          "def relu_variance_after(k, sigma, n, var_x=1.0):\n    return float(var_x * (n * sigma ** 2) ** k)\n",
          expect="LINEAR-net answer"),
    Wrong(NB1, "relu_variance_after", "halves at the first layer too",
          "def relu_variance_after(k, sigma, n, var_x=1.0):\n    return float(var_x * (n * sigma ** 2 / 2) ** k)\n",
          expect="halved at the first layer too"),
    # -------------------------------------------------------------------- fans and gains
    Wrong(NB1, "fan_in_and_fan_out", "fan_in and fan_out swapped",
          _FAN.replace("return int(tensor.shape[1]) * receptive, int(tensor.shape[0]) * receptive",
                       "return int(tensor.shape[0]) * receptive, int(tensor.shape[1]) * receptive"),
          expect="fan_in = shape[1]"),
    Wrong(NB1, "fan_in_and_fan_out", "ignores the receptive field of conv kernels",
          "def fan_in_and_fan_out(tensor):\n    if tensor.dim() < 2:\n        raise ValueError('2 dims')\n"
          "    return int(tensor.shape[1]), int(tensor.shape[0])\n",
          expect="receptive field = product of shape[2:]"),
    Wrong(NB1, "fan_in_and_fan_out", "no ValueError for a 1-d tensor",
          "def fan_in_and_fan_out(tensor):\n    if tensor.dim() < 2:\n        return 1, int(tensor.numel())\n"
          "    receptive = 1\n    for size in tensor.shape[2:]:\n        receptive *= int(size)\n"
          "    return int(tensor.shape[1]) * receptive, int(tensor.shape[0]) * receptive\n",
          expect="should raise ValueError"),
    Wrong(NB1, "calculate_gain", "tanh's gain taken as 1 (its slope at 0)",
          "def calculate_gain(nonlinearity, param=None):\n"
          "    table = {'linear': 1.0, 'conv1d': 1.0, 'conv2d': 1.0, 'conv3d': 1.0, 'sigmoid': 1.0, 'tanh': 1.0,\n"
          "             'relu': math.sqrt(2), 'selu': 0.75}\n"
          "    if nonlinearity == 'leaky_relu':\n        a = 0.01 if param is None else param\n        return math.sqrt(2 / (1 + a ** 2))\n"
          "    if nonlinearity not in table:\n        raise ValueError(nonlinearity)\n    return table[nonlinearity]\n",
          expect="calculate_gain('tanh',)"),
    Wrong(NB1, "calculate_gain", "leaky_relu's default slope taken as 0",
          "def calculate_gain(nonlinearity, param=None):\n"
          "    table = {'linear': 1.0, 'conv1d': 1.0, 'conv2d': 1.0, 'conv3d': 1.0, 'sigmoid': 1.0, 'tanh': 5 / 3,\n"
          "             'relu': math.sqrt(2), 'selu': 0.75}\n"
          "    if nonlinearity == 'leaky_relu':\n        a = 0.0 if param is None else param\n        return math.sqrt(2 / (1 + a ** 2))\n"
          "    if nonlinearity not in table:\n        raise ValueError(nonlinearity)\n    return table[nonlinearity]\n",
          expect="default slope 0.01"),
    Wrong(NB1, "calculate_gain", "unknown names get gain 1 instead of ValueError",
          "def calculate_gain(nonlinearity, param=None):\n"
          "    table = {'tanh': 5 / 3, 'relu': math.sqrt(2), 'selu': 0.75}\n"
          "    if nonlinearity == 'leaky_relu':\n        a = 0.01 if param is None else param\n        return math.sqrt(2 / (1 + a ** 2))\n"
          "    return table.get(nonlinearity, 1.0)\n",
          expect="should raise ValueError (unsupported nonlinearity)"),
    Wrong(NB1, "calculate_gain", "a string param for leaky_relu accepted",
          "def calculate_gain(nonlinearity, param=None):\n"
          "    table = {'linear': 1.0, 'conv1d': 1.0, 'conv2d': 1.0, 'conv3d': 1.0, 'sigmoid': 1.0, 'tanh': 5 / 3,\n"
          "             'relu': math.sqrt(2), 'selu': 0.75}\n"
          "    if nonlinearity == 'leaky_relu':\n        a = 0.01 if param is None else float(param)\n        return math.sqrt(2 / (1 + a ** 2))\n"
          "    if nonlinearity not in table:\n        raise ValueError(nonlinearity)\n    return table[nonlinearity]\n",
          why_hidden="input validation of `param` (a string such as '0.2' must raise, as torch does): the visible "
                     "test keeps to the documented calls so that it reads as the table of values; torch's own "
                     "validation is the hidden oracle"),
    # ------------------------------------------------------------------ Xavier / Glorot
    Wrong(NB1, "xavier_uniform_", "fan_in alone instead of fan_in + fan_out",
          "def xavier_uniform_(tensor, gain=1.0):\n    fan_in, fan_out = fan_in_and_fan_out(tensor)\n"
          "    bound = gain * math.sqrt(6.0 / fan_in)\n    with torch.no_grad():\n        tensor.uniform_(-bound, bound)\n    return tensor\n",
          expect="fan_in alone"),
    Wrong(NB1, "xavier_uniform_", "the std used as the uniform bound",
          "def xavier_uniform_(tensor, gain=1.0):\n    fan_in, fan_out = fan_in_and_fan_out(tensor)\n"
          "    bound = gain * math.sqrt(2.0 / (fan_in + fan_out))\n    with torch.no_grad():\n        tensor.uniform_(-bound, bound)\n    return tensor\n",
          expect="r = √3·std"),
    Wrong(NB1, "xavier_uniform_", "fills a leaf that requires grad outside no_grad",
          "def xavier_uniform_(tensor, gain=1.0):\n    fan_in, fan_out = fan_in_and_fan_out(tensor)\n"
          "    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))\n    tensor.uniform_(-bound, bound)\n    return tensor\n",
          expect="torch.no_grad()"),
    Wrong(NB1, "xavier_uniform_", "returns a new tensor instead of filling in place",
          "def xavier_uniform_(tensor, gain=1.0):\n    fan_in, fan_out = fan_in_and_fan_out(tensor)\n"
          "    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))\n    return torch.empty_like(tensor).uniform_(-bound, bound)\n",
          expect="same tensor object"),
    Wrong(NB1, "xavier_uniform_", "a normal distribution with the right std",
          "def xavier_uniform_(tensor, gain=1.0):\n    fan_in, fan_out = fan_in_and_fan_out(tensor)\n"
          "    with torch.no_grad():\n        tensor.normal_(0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))\n    return tensor\n",
          expect="normal distribution instead of"),
    Wrong(NB1, "xavier_normal_", "a uniform distribution with the right std",
          "def xavier_normal_(tensor, gain=1.0):\n    fan_in, fan_out = fan_in_and_fan_out(tensor)\n"
          "    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))\n    with torch.no_grad():\n        tensor.uniform_(-bound, bound)\n    return tensor\n",
          expect="draw with normal_(0, std)"),
    Wrong(NB1, "xavier_normal_", "the variance passed as the std",
          "def xavier_normal_(tensor, gain=1.0):\n    fan_in, fan_out = fan_in_and_fan_out(tensor)\n"
          "    with torch.no_grad():\n        tensor.normal_(0.0, gain ** 2 * 2.0 / (fan_in + fan_out))\n    return tensor\n",
          expect="take the square root"),
    Wrong(NB1, "xavier_normal_", "forgets the gain",
          "def xavier_normal_(tensor, gain=1.0):\n    fan_in, fan_out = fan_in_and_fan_out(tensor)\n"
          "    with torch.no_grad():\n        tensor.normal_(0.0, math.sqrt(2.0 / (fan_in + fan_out)))\n    return tensor\n",
          expect="multiply by gain"),
    # ------------------------------------------------------------------- Kaiming / He
    Wrong(NB1, "kaiming_uniform_", "mode ignored: always fan_in",
          _kaiming_uniform("    fan, _ = fan_in_and_fan_out(tensor)\n    if mode not in ('fan_in', 'fan_out'):\n        raise ValueError(mode)\n"
                           "    bound = math.sqrt(3.0) * calculate_gain(nonlinearity, a) / math.sqrt(fan)\n"
                           "    with torch.no_grad():\n        tensor.uniform_(-bound, bound)\n    return tensor\n"),
          expect="you used the other fan"),
    Wrong(NB1, "kaiming_uniform_", "the negative slope a ignored (ReLU's gain always)",
          _kaiming_uniform("    fan = _fan_for_mode(tensor, mode)\n    gain = math.sqrt(2.0) if nonlinearity == 'leaky_relu' else calculate_gain(nonlinearity)\n"
                           "    bound = math.sqrt(3.0) * gain / math.sqrt(fan)\n"
                           "    with torch.no_grad():\n        tensor.uniform_(-bound, bound)\n    return tensor\n"),
          expect="ignored the negative slope"),
    Wrong(NB1, "kaiming_uniform_", "any mode but fan_in treated as fan_out",
          _kaiming_uniform("    fan_in, fan_out = fan_in_and_fan_out(tensor)\n    fan = fan_in if mode == 'fan_in' else fan_out\n"
                           "    bound = math.sqrt(3.0) * calculate_gain(nonlinearity, a) / math.sqrt(fan)\n"
                           "    with torch.no_grad():\n        tensor.uniform_(-bound, bound)\n    return tensor\n"),
          expect="should raise ValueError"),
    Wrong(NB1, "kaiming_normal_", "Xavier's fan_in + fan_out",
          "def kaiming_normal_(tensor, a=0.0, mode=\"fan_in\", nonlinearity=\"leaky_relu\"):\n"
          "    _fan_for_mode(tensor, mode)\n    fan_in, fan_out = fan_in_and_fan_out(tensor)\n"
          "    with torch.no_grad():\n        tensor.normal_(0.0, calculate_gain(nonlinearity, a) * math.sqrt(2.0 / (fan_in + fan_out)))\n    return tensor\n",
          expect="that is Xavier, not Kaiming"),
    # ----------------------------------------------------------------------- stable_gain
    Wrong(NB2, "stable_gain", "bisection in the wrong direction",
          "def stable_gain(activation, depth=50, width=128, n=128, seed=0, lo=0.25, hi=16.0, steps=24):\n"
          "    gen = torch.Generator().manual_seed(seed)\n    x = torch.randn(n, width, generator=gen)\n"
          "    Ws = [torch.randn(width, width, generator=gen) / math.sqrt(width) for _ in range(depth)]\n"
          "    with torch.no_grad():\n        for _ in range(steps):\n            mid = math.sqrt(lo * hi)\n"
          "            z = mid * (x @ Ws[0].T)\n            for W in Ws[1:]:\n                z = mid * (activation(z) @ W.T)\n"
          "            if float(z.var()) > float(x.var()):\n                lo = mid\n            else:\n                hi = mid\n"
          "    return float(math.sqrt(lo * hi))\n",
          expect="bisection direction"),
    Wrong(NB2, "stable_gain", "the activation applied to the raw input too",
          "def stable_gain(activation, depth=50, width=128, n=128, seed=0, lo=0.25, hi=16.0, steps=24):\n"
          "    gen = torch.Generator().manual_seed(seed)\n    x = torch.randn(n, width, generator=gen)\n"
          "    Ws = [torch.randn(width, width, generator=gen) / math.sqrt(width) for _ in range(depth)]\n"
          "    with torch.no_grad():\n        for _ in range(steps):\n            mid = math.sqrt(lo * hi)\n"
          "            z = x\n            for W in Ws:\n                z = mid * (activation(z) @ W.T)\n"
          "            v = float(z.var())\n            if v > float(x.var()) or not math.isfinite(v):\n                hi = mid\n            else:\n                lo = mid\n"
          "    return float(math.sqrt(lo * hi))\n",
          expect="raw input x as well"),
    # ------------------------------------------------------------------------ orthogonal_
    Wrong(NB3, "orthogonal_", "the raw Q of torch.linalg.qr: no sign fix",
          _ORTH.replace("        q = q * torch.sign(torch.diagonal(r))\n", ""),
          expect="fix the signs"),
    Wrong(NB3, "orthogonal_", "gain applied twice (gain²)",
          _ORTH.replace(".mul_(gain)", ".mul_(gain * gain)"),
          expect="multiply the matrix by gain, not gain²"),
    Wrong(NB3, "orthogonal_", "forgets the gain",
          _ORTH.replace(".mul_(gain)", ""),
          expect="multiply by gain"),
    Wrong(NB3, "orthogonal_", "Gaussian rows normalized to unit length, not orthogonalized",
          "def orthogonal_(tensor, gain=1.0):\n    if tensor.dim() < 2:\n        raise ValueError('2 dims')\n"
          "    rows = tensor.shape[0]\n    with torch.no_grad():\n"
          "        a = torch.randn(rows, tensor.numel() // rows, dtype=tensor.dtype, device=tensor.device)\n"
          "        a = a / a.norm(dim=1, keepdim=True)\n        tensor.copy_(a.reshape(tensor.shape)).mul_(gain)\n    return tensor\n",
          expect="normalizing a Gaussian's rows is not enough"),
    Wrong(NB3, "orthogonal_", "wide weights: QR of the wide matrix itself",
          _ORTH.replace("        if rows < cols:\n            a = a.T", "        pass").replace(
              "        if rows < cols:\n            q = q.T\n", ""),
          expect="transposed cols × rows Gaussian"),
    Wrong(NB3, "orthogonal_", "returns a new tensor instead of filling in place",
          _ORTH.replace("        tensor.copy_(q.reshape(tensor.shape)).mul_(gain)\n    return tensor",
                        "        return (q.reshape(tensor.shape) * gain).to(tensor.dtype)"),
          expect="same tensor object"),
    Wrong(NB3, "orthogonal_", "fills outside torch.no_grad()",
          _ORTH.replace("    with torch.no_grad():\n        a = torch.randn", "    if True:\n        a = torch.randn"),
          expect="torch.no_grad()"),
    Wrong(NB3, "orthogonal_", "no ValueError for a 1-d tensor",
          _ORTH.replace("    if tensor.dim() < 2:\n        raise ValueError(f\"orthogonal_ needs 2 dims\")\n", ""),
          expect="must raise ValueError"),
    Wrong(NB3, "orthogonal_", "calls torch.nn.init.orthogonal_",
          "def orthogonal_(tensor, gain=1.0):\n    return torch.nn.init.orthogonal_(tensor, gain=gain)\n",
          why_hidden="the built-in has exactly the right contract, so only the guard catches it; the visible test runs "
                     "unguarded so that its messages are about the mathematics (the guard, and the judge's static scan "
                     "of the solution cell, are the hidden part)"),
    # ------------------------------------------------------------------------- lsuv_init_
    Wrong(NB3, "lsuv_init_", "rescales by 1/var instead of 1/std",
          _LSUV.replace("layer.weight.div_(math.sqrt(var))", "layer.weight.div_(var)"),
          expect="divide its weight by the std"),
    Wrong(NB3, "lsuv_init_", "measures after the activation, not the Linear's own output",
          _LSUV_POST, expect="ITS OWN output"),
    Wrong(NB3, "lsuv_init_", "output side first",
          _LSUV.replace("        for layer in linears:\n            seen = []", "        for layer in reversed(linears):\n            seen = []"),
          expect="layer by layer from the input side"),
    Wrong(NB3, "lsuv_init_", "keeps the default init and only rescales",
          _LSUV.replace("            orthogonal_(layer.weight)\n", ""),
          expect="orthogonal-initialize every Linear first"),
    Wrong(NB3, "lsuv_init_", "biases left as they were",
          _LSUV.replace("            if layer.bias is not None:\n                layer.bias.zero_()\n", ""),
          expect="non-zero bias"),
    Wrong(NB3, "lsuv_init_", "forward hooks never removed",
          _LSUV.replace("                handle.remove()", "                pass"),
          expect="hook is still registered"),
    Wrong(NB3, "lsuv_init_", "returns None",
          _LSUV.replace("    return model", "    return None"),
          expect="return the model itself"),
    Wrong(NB3, "lsuv_init_", "max_iter ignored: rescales at least once",
          _LSUV.replace("for _ in range(max_iter):", "for _ in range(max(1, max_iter)):"),
          expect="no rescaling may happen"),
]
