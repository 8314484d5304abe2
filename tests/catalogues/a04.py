"""Wrong implementations for assignment 04 (Batch Normalization, clipping, reusing layers).

Each variant is the reference solution with one plausible mistake, made by a checked text substitution
(``_variant`` raises if the text it replaces is missing, so a catalogue entry cannot silently become
the correct solution).
"""
from tests.catalogues import Wrong

ASSIGNMENT = "04_normalization_and_clipping"
NB1, NB2 = "01_batch_norm.ipynb", "02_clipping_and_reuse.ipynb"


def _variant(source: str, old: str, new: str) -> str:
    if old not in source:
        raise ValueError(f"catalogue variant: {old!r} is not in the reference source")
    return source.replace(old, new)


BATCH_NORM = '''\
def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    dims = [0] + list(range(2, x.dim()))
    shape = [1, -1] + [1] * (x.dim() - 2)
    if training:
        mean = x.mean(dim=dims)
        var = ((x - mean.view(shape)) ** 2).mean(dim=dims)
        if running_mean is not None and running_var is not None:
            n = x.numel() // x.shape[1]
            with torch.no_grad():
                running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
                running_var.mul_(1 - momentum).add_(momentum * var.detach() * n / (n - 1))
    else:
        mean, var = running_mean, running_var
    out = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + eps)
    if weight is not None:
        out = out * weight.view(shape)
    if bias is not None:
        out = out + bias.view(shape)
    return out
'''

BACKWARD = '''\
def batch_norm_backward(grad_out, x, weight, eps=1e-5):
    mean = x.mean(0)
    sigma = torch.sqrt(((x - mean) ** 2).mean(0) + eps)
    x_hat = (x - mean) / sigma
    g = grad_out
    return weight / sigma * (g - g.mean(0) - x_hat * (g * x_hat).mean(0))
'''

MODULE = '''\
class BatchNorm1d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features))
            self.register_buffer("running_var", torch.ones(num_features))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def forward(self, x):
        use_batch = self.training or self.running_mean is None
        if self.training and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
        keep = self.training or not use_batch
        return batch_norm(x, self.running_mean if keep else None, self.running_var if keep else None,
                          self.weight, self.bias, training=use_batch, momentum=self.momentum, eps=self.eps)
'''

FUSE = '''\
def fuse_linear_bn(linear, bn):
    w, b = linear.weight.detach(), linear.bias
    b = b.detach() if b is not None else torch.zeros(linear.out_features, dtype=w.dtype, device=w.device)
    gamma = bn.weight.detach() if bn.weight is not None else torch.ones_like(b)
    beta = bn.bias.detach() if bn.bias is not None else torch.zeros_like(b)
    s = gamma / torch.sqrt(bn.running_var + bn.eps)
    fused = nn.Linear(linear.in_features, linear.out_features, bias=True, device=w.device, dtype=w.dtype)
    with torch.no_grad():
        fused.weight.copy_(w * s[:, None])
        fused.bias.copy_(s * (b - bn.running_mean) + beta)
    return fused
'''

CLIP_VALUE = '''\
def clip_grad_value_(parameters, clip_value):
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    with torch.no_grad():
        for p in parameters:
            if p.grad is not None:
                p.grad.clamp_(-clip_value, clip_value)
'''

ANGLE = '''\
def gradient_angle(a, b):
    flat = lambda t: torch.cat([x.detach().reshape(-1).double() for x in ([t] if isinstance(t, torch.Tensor) else t)])
    u, v = flat(a), flat(b)
    cos = (u @ v) / (u.norm() * v.norm())
    return math.degrees(math.acos(float(cos.clamp(-1.0, 1.0))))
'''

REUSE = '''\
def reuse_layers(pretrained, n_layers, out_features, freeze=True):
    modules, reused, linears = list(pretrained), [], 0
    for m in modules:
        if isinstance(m, nn.Linear):
            linears += 1
            if linears > n_layers:
                break
        reused.append(copy.deepcopy(m))
    last = [m for m in reused if isinstance(m, nn.Linear)][-1]
    for m in reused:
        for p in m.parameters():
            p.requires_grad_(not freeze)
    head = nn.Linear(last.out_features, out_features, device=last.weight.device, dtype=last.weight.dtype)
    return nn.Sequential(*reused, head)
'''

WRONG = [
    # ------------------------------------------------------------------ batch_norm
    Wrong(NB1, "batch_norm", "unbiased variance in the normalization",
          _variant(BATCH_NORM, "var = ((x - mean.view(shape)) ** 2).mean(dim=dims)",
                   "var = ((x - mean.view(shape)) ** 2).sum(dim=dims) / (x.numel() // x.shape[1] - 1)"),
          expect="normalized with the unbiased variance"),
    Wrong(NB1, "batch_norm", "running statistics never updated",
          _variant(BATCH_NORM, "        if running_mean is not None and running_var is not None:",
                   "        if False:"),
          expect="running_mean was not changed"),
    Wrong(NB1, "batch_norm", "running statistics rebound to new tensors instead of updated in place",
          _variant(BATCH_NORM, """            with torch.no_grad():
                running_mean.mul_(1 - momentum).add_(momentum * mean.detach())""",
                   """            with torch.no_grad():
                running_mean = (1 - momentum) * running_mean + momentum * mean.detach()"""),
          expect="in place"),
    Wrong(NB1, "batch_norm", "momentum the wrong way round (weight on the old running value)",
          _variant(_variant(BATCH_NORM, "running_mean.mul_(1 - momentum).add_(momentum * mean.detach())",
                            "running_mean.mul_(momentum).add_((1 - momentum) * mean.detach())"),
                   "running_var.mul_(1 - momentum).add_(momentum * var.detach() * n / (n - 1))",
                   "running_var.mul_(momentum).add_((1 - momentum) * var.detach() * n / (n - 1))"),
          expect="momentum is the weight of the new batch statistic"),
    Wrong(NB1, "batch_norm", "running variance updated with the biased batch variance",
          _variant(BATCH_NORM, "var.detach() * n / (n - 1)", "var.detach()"),
          expect="running_var was updated with the biased batch variance"),
    Wrong(NB1, "batch_norm", "eval mode normalizes with the batch statistics",
          _variant(BATCH_NORM, "    if training:\n        mean = x.mean(dim=dims)",
                   "    if True:\n        mean = x.mean(dim=dims)"),
          expect="eval mode (training=false) gave the training-mode output"),
    Wrong(NB1, "batch_norm", "eps added to the standard deviation, outside the square root",
          _variant(BATCH_NORM, "torch.sqrt(var.view(shape) + eps)", "(torch.sqrt(var.view(shape)) + eps)"),
          expect="eps goes inside the square root"),
    Wrong(NB1, "batch_norm", "[N, C, L] input: statistics per position (over dimension 0 only)",
          '''def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    shape = [1, -1] + [1] * (x.dim() - 2)
    if training:
        mean = x.mean(dim=0, keepdim=True)                   # [1, C, L]: one mean per channel AND position
        var = ((x - mean) ** 2).mean(dim=0, keepdim=True)
        if running_mean is not None and running_var is not None:
            n = x.shape[0]
            with torch.no_grad():
                running_mean.mul_(1 - momentum).add_(momentum * mean.reshape(x.shape[1], -1).mean(1))
                running_var.mul_(1 - momentum).add_(momentum * var.reshape(x.shape[1], -1).mean(1) * n / (n - 1))
    else:
        mean, var = running_mean.view(shape), running_var.view(shape)
    out = (x - mean) / torch.sqrt(var + eps)
    if weight is not None:
        out = out * weight.view(shape)
    if bias is not None:
        out = out + bias.view(shape)
    return out
''', expect="statistics are per channel over dimensions 0 and 2"),
    Wrong(NB1, "batch_norm", "one-pass variance mean(x²) − mean(x)² (catastrophic cancellation)",
          _variant(BATCH_NORM, "var = ((x - mean.view(shape)) ** 2).mean(dim=dims)",
                   "var = (x ** 2).mean(dim=dims) - mean ** 2"),
          expect="cancels catastrophically"),
    Wrong(NB1, "batch_norm", "running buffers updated inside the autograd graph",
          _variant(_variant(BATCH_NORM, "            with torch.no_grad():\n", "            if True:\n"),
                   "momentum * mean.detach()", "momentum * mean").replace("var.detach() * n", "var * n"),
          expect="record autograd history"),
    Wrong(NB1, "batch_norm", "weight and bias ignored",
          _variant(BATCH_NORM, "    if weight is not None:\n        out = out * weight.view(shape)\n"
                   "    if bias is not None:\n        out = out + bias.view(shape)\n", ""),
          expect="output differs from f.batch_norm"),
    Wrong(NB1, "batch_norm", "calls torch's F.batch_norm",
          '''def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    return torch.nn.functional.batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps)
''', why_hidden="the built-in gives exactly the right values; only the hidden tests forbid it (and the judge's static scan)"),
    # ------------------------------------------------------------------ batch_norm_backward
    Wrong(NB1, "batch_norm_backward", "batch statistics treated as constants",
          _variant(BACKWARD, "(g - g.mean(0) - x_hat * (g * x_hat).mean(0))", "g"),
          expect="treats the batch mean and variance as constants"),
    Wrong(NB1, "batch_norm_backward", "term through the batch mean missing",
          _variant(BACKWARD, "(g - g.mean(0) - x_hat", "(g - x_hat"),
          expect="term through the mean is missing"),
    Wrong(NB1, "batch_norm_backward", "term through the batch variance missing",
          _variant(BACKWARD, " - x_hat * (g * x_hat).mean(0))", ")"),
          expect="term through the variance is missing"),
    # ------------------------------------------------------------------ BatchNorm1d
    Wrong(NB1, "BatchNorm1d", "running statistics registered as parameters",
          _variant(_variant(MODULE, 'self.register_buffer("running_mean", torch.zeros(num_features))',
                            "self.running_mean = nn.Parameter(torch.zeros(num_features), requires_grad=False)"),
                   'self.register_buffer("running_var", torch.ones(num_features))',
                   "self.running_var = nn.Parameter(torch.ones(num_features), requires_grad=False)"),
          expect="running statistics are buffers"),
    Wrong(NB1, "BatchNorm1d", "the module never updates its running statistics",
          _variant(MODULE, "self.running_mean if keep else None, self.running_var if keep else None",
                   "self.running_mean if not self.training else None, self.running_var if not self.training else None"),
          expect="it was never updated"),
    Wrong(NB1, "BatchNorm1d", "eval mode uses the batch statistics",
          _variant(MODULE, "use_batch = self.training or self.running_mean is None", "use_batch = True"),
          expect="eval mode normalizes with the running statistics"),
    Wrong(NB1, "BatchNorm1d", "num_batches_tracked never incremented",
          _variant(MODULE, "            self.num_batches_tracked.add_(1)\n", "            pass\n"),
          expect="after 3 training batches"),
    # ------------------------------------------------------------------ fuse_linear_bn
    Wrong(NB1, "fuse_linear_bn", "fused Linear missing the shift s·(b − μ)",
          _variant(FUSE, "fused.bias.copy_(s * (b - bn.running_mean) + beta)", "fused.bias.copy_(beta)"),
          expect="the fused bias is just beta"),
    Wrong(NB1, "fuse_linear_bn", "input Linear modified in place and returned",
          _variant(FUSE, "    fused = nn.Linear(linear.in_features, linear.out_features, bias=True, device=w.device, dtype=w.dtype)\n",
                   "    fused = linear\n"),
          expect="return a new linear"),
    Wrong(NB1, "fuse_linear_bn", "divides by the variance instead of the standard deviation",
          _variant(FUSE, "torch.sqrt(bn.running_var + bn.eps)", "(bn.running_var + bn.eps)"),
          expect="fused(x) differs from bn(linear(x))"),
    # ------------------------------------------------------------------ clip_grad_value_
    Wrong(NB2, "clip_grad_value_", "clips by norm instead of by value",
          '''def clip_grad_value_(parameters, clip_value):
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    total = torch.cat([g.flatten() for g in grads]).norm()
    with torch.no_grad():
        for g in grads:
            g.mul_(min(1.0, clip_value / (float(total) + 1e-6)))
''', expect="you clipped by norm"),
    Wrong(NB2, "clip_grad_value_", "only the positive side clamped",
          _variant(CLIP_VALUE, "p.grad.clamp_(-clip_value, clip_value)", "p.grad.clamp_(max=clip_value)"),
          expect="clamp both sides"),
    Wrong(NB2, "clip_grad_value_", "new gradient tensors assigned instead of clamping in place",
          _variant(CLIP_VALUE, "p.grad.clamp_(-clip_value, clip_value)", "p.grad = p.grad.clamp(-clip_value, clip_value)"),
          expect="in place"),
    Wrong(NB2, "clip_grad_value_", "a generator of parameters iterated twice",
          _variant(CLIP_VALUE, "    with torch.no_grad():\n",
                   "    if not any(p.grad is not None for p in parameters):\n        return None\n    with torch.no_grad():\n"),
          expect="generator"),
    Wrong(NB2, "clip_grad_value_", "calls torch's clip_grad_value_",
          '''def clip_grad_value_(parameters, clip_value):
    torch.nn.utils.clip_grad_value_(parameters, clip_value)
''', why_hidden="the built-in gives exactly the right values; only the hidden tests forbid it (and the judge's static scan)"),
    # ------------------------------------------------------------------ gradient_angle
    Wrong(NB2, "gradient_angle", "angle in radians",
          _variant(ANGLE, "math.degrees(math.acos(float(cos.clamp(-1.0, 1.0))))", "math.acos(float(cos.clamp(-1.0, 1.0)))"),
          expect="degrees, not radians"),
    Wrong(NB2, "gradient_angle", "cosine not clamped before acos (NaN for parallel vectors)",
          _variant(ANGLE, "math.degrees(math.acos(float(cos.clamp(-1.0, 1.0))))",
                   "math.degrees(float(torch.acos(cos)))"),
          expect="clamp the cosine"),
    Wrong(NB2, "gradient_angle", "float32 throughout (the natural version: dot / (norm * norm), clamp, acos)",
          _variant(ANGLE, "x.detach().reshape(-1).double()", "x.detach().reshape(-1).float()"),
          expect="compute in float64"),
    Wrong(NB2, "gradient_angle", "mean of per-tensor angles instead of one global vector",
          '''def gradient_angle(a, b):
    a = [a] if isinstance(a, torch.Tensor) else a
    b = [b] if isinstance(b, torch.Tensor) else b
    angles = []
    for x, y in zip(a, b):
        u, v = x.detach().reshape(-1).double(), y.detach().reshape(-1).double()
        cos = float((u @ v) / (u.norm() * v.norm() + 1e-30))
        angles.append(math.degrees(math.acos(max(-1.0, min(1.0, cos)))))
    return sum(angles) / len(angles)
''', expect="lists of tensors are one vector"),
    # ------------------------------------------------------------------ reuse_layers
    Wrong(NB2, "reuse_layers", "reused layers shared with the pretrained net (no copy)",
          _variant(REUSE, "reused.append(copy.deepcopy(m))", "reused.append(m)"),
          expect="share their tensors"),
    Wrong(NB2, "reuse_layers", "the pretrained output layer kept under the new head",
          _variant(REUSE, "            if linears > n_layers:\n                break\n", ""),
          expect="2 reused hidden layers + a new head"),
    Wrong(NB2, "reuse_layers", "freeze ignored",
          _variant(REUSE, "p.requires_grad_(not freeze)", "p.requires_grad_(True)"),
          expect="freeze=true: reused parameters must not require grad"),
]


# ============================================================== notebook 3: LayerNorm, gradient checking
NB3 = "03_layer_norm_and_gradient_checking.ipynb"


def _solution(notebook: str, grade_id: str) -> str:
    """The reference solution cell ``grade_id`` of ``notebook``, without nbgrader's solution markers."""
    import os

    import nbformat

    from tests.catalogues.runner import ROOT
    nb = nbformat.read(os.path.join(ROOT, "solutions", ASSIGNMENT, notebook), as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    return "\n".join(line for line in cell.source.splitlines()
                     if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")) + "\n"


LAYER_NORM = _solution(NB3, "layer_norm")
LAYER_NORM_MODULE = _solution(NB3, "LayerNorm")
NUMGRAD = _solution(NB3, "numerical_gradient")
RELERR = _solution(NB3, "relative_error")

WRONG += [
    # ------------------------------------------------------------------ layer_norm
    Wrong(NB3, "layer_norm", "statistics over the batch (dimension 0): BatchNorm",
          _variant(LAYER_NORM, "dims = tuple(range(x.dim() - len(normalized_shape), x.dim()))", "dims = (0,)"),
          expect="that is batchnorm"),
    Wrong(NB3, "layer_norm", "unbiased variance",
          _variant(LAYER_NORM, "var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)",
                   "var = x.var(dim=dims, keepdim=True, unbiased=True)"),
          expect="biased variance"),
    Wrong(NB3, "layer_norm", "eps added to the standard deviation",
          _variant(LAYER_NORM, "torch.sqrt(var + eps)", "(torch.sqrt(var) + eps)"),
          expect="eps goes inside the square root"),
    Wrong(NB3, "layer_norm", "a tuple normalized_shape: only the last dimension normalized",
          _variant(LAYER_NORM, "dims = tuple(range(x.dim() - len(normalized_shape), x.dim()))", "dims = (-1,)"),
          expect="last two dimensions"),
    Wrong(NB3, "layer_norm", "an int normalized_shape not accepted",
          _variant(LAYER_NORM, "    if isinstance(normalized_shape, int):\n        normalized_shape = (normalized_shape,)\n", ""),
          expect="has no len()"),
    Wrong(NB3, "layer_norm", "one-pass variance mean(x²) − mean(x)²",
          _variant(LAYER_NORM, "var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)",
                   "var = (x ** 2).mean(dim=dims, keepdim=True) - mean ** 2"),
          expect="cancels catastrophically"),
    Wrong(NB3, "layer_norm", "weight and bias ignored",
          _variant(LAYER_NORM, "    if weight is not None:\n        out = out * weight\n"
                   "    if bias is not None:\n        out = out + bias\n", ""),
          expect="differs from f.layer_norm"),
    Wrong(NB3, "layer_norm", "statistics detached from the graph (treated as constants)",
          _variant(LAYER_NORM, "    out = (x - mean) / torch.sqrt(var + eps)",
                   "    out = (x - mean.detach()) / torch.sqrt(var.detach() + eps)"),
          expect="gradient w.r.t. x differs"),
    Wrong(NB3, "layer_norm", "calls torch's F.layer_norm",
          '''def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    return torch.nn.functional.layer_norm(x, shape, weight, bias, eps)
''', why_hidden="the built-in gives exactly the right values; only the hidden tests forbid it (and the judge's static scan)"),
    # ------------------------------------------------------------------ LayerNorm
    Wrong(NB3, "LayerNorm", "weight and bias as plain tensors, not parameters",
          _variant(_variant(LAYER_NORM_MODULE, "self.weight = nn.Parameter(torch.ones(self.normalized_shape))",
                            "self.weight = torch.ones(self.normalized_shape)"),
                   "self.bias = nn.Parameter(torch.zeros(self.normalized_shape))",
                   "self.bias = torch.zeros(self.normalized_shape)"),
          expect="weight: an nn.parameter"),
    Wrong(NB3, "LayerNorm", "elementwise_affine=False still creates parameters",
          _variant(LAYER_NORM_MODULE, "        if elementwise_affine:\n", "        if True:\n"),
          expect="weight and bias must be none"),
    Wrong(NB3, "LayerNorm", "an int normalized_shape stored as an int",
          _variant(LAYER_NORM_MODULE, "        self.normalized_shape = tuple(normalized_shape)\n",
                   "        self.normalized_shape = normalized_shape\n").replace(
              "        if isinstance(normalized_shape, int):\n            normalized_shape = (normalized_shape,)\n", ""),
          expect="normalized_shape of layernorm(6)"),
    # ------------------------------------------------------------------ numerical_gradient
    Wrong(NB3, "numerical_gradient", "forward difference",
          _variant(_variant(NUMGRAD, "            x[index] = old - eps\n            f_minus = f(x).item()\n",
                            "            x[index] = old\n            f_minus = f(x).item()\n"),
                   "(f_plus - f_minus) / (2 * eps)", "(f_plus - f_minus) / eps"),
          expect="forward difference"),
    Wrong(NB3, "numerical_gradient", "divided by eps instead of 2·eps",
          _variant(NUMGRAD, "(f_plus - f_minus) / (2 * eps)", "(f_plus - f_minus) / eps"),
          expect="divide by 2·eps"),
    Wrong(NB3, "numerical_gradient", "x not restored after the perturbation",
          _variant(NUMGRAD, "            x[index] = old\n", ""),
          expect="x was not restored"),
    Wrong(NB3, "numerical_gradient", "perturbs x outside torch.no_grad()",
          _variant(NUMGRAD, "    with torch.no_grad():\n", "    if True:\n"),
          expect="in-place operation"),
    Wrong(NB3, "numerical_gradient", "autograd instead of finite differences",
          '''def numerical_gradient(f, x, eps=1e-6):
    x0 = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x0), x0)
    return g
''', why_hidden="autograd's exact gradient agrees with central differences within every tolerance a "
                "visible check can use; only the hidden tests forbid autograd (and the judge's static scan)"),
    # ------------------------------------------------------------------ relative_error
    Wrong(NB3, "relative_error", "mean over elements instead of max",
          _variant(RELERR, ".clamp_min(1e-12)).max())", ".clamp_min(1e-12)).mean())"),
          expect="not the mean"),
    Wrong(NB3, "relative_error", "divided by |a| alone",
          _variant(RELERR, "(a.abs() + b.abs()).clamp_min(1e-12)", "a.abs().clamp_min(1e-12)"),
          expect="divide by |a| + |b|"),
    Wrong(NB3, "relative_error", "no floor on the denominator (0/0 = NaN)",
          _variant(RELERR, "(a.abs() + b.abs()).clamp_min(1e-12)", "(a.abs() + b.abs())"),
          expect="two zero tensors"),
]
