"""Wrong implementations of assignment 01 that earlier sessions (and students) tried."""
from tests.catalogues import Wrong

ASSIGNMENT = "01_vanishing_gradients"
NB1 = "01_sigmoid_saturation.ipynb"
NB2 = "02_vanishing_and_exploding.ipynb"

WRONG = [
    # ---------------------------------------------------------------- saturation_threshold
    Wrong(NB1, "saturation_threshold", "ln(eps / (1 - eps)): the sign flipped",
          "def saturation_threshold(eps):\n    return math.log(eps / (1.0 - eps))\n",
          expect="expected ln(0.99/0.01)"),
    Wrong(NB1, "saturation_threshold", "returns a tensor, not a float",
          "def saturation_threshold(eps):\n    return torch.log(torch.tensor((1.0 - eps) / eps))\n",
          expect="return a Python float"),
    # ---------------------------------------------------------------------------- sigmoid
    Wrong(NB1, "sigmoid", "the naive formula 1 / (1 + exp(-z))",
          "def sigmoid(z):\n    return 1 / (1 + torch.exp(-z))\n",
          expect="clamp the input of every exp()"),
    Wrong(NB1, "sigmoid", "torch.where over unclamped exponentials",
          "def sigmoid(z):\n    return torch.where(z >= 0, 1 / (1 + torch.exp(-z)), torch.exp(z) / (1 + torch.exp(z)))\n",
          expect="both branches are differentiated"),
    Wrong(NB1, "sigmoid", "the exp(-|z|) trick: gradient 0 at z = 0",
          "def sigmoid(z):\n    e = torch.exp(-z.abs())\n    return torch.where(z >= 0, 1 / (1 + e), e / (1 + e))\n",
          expect="d|z|/dz = 0"),
    Wrong(NB1, "sigmoid", "calls torch.sigmoid",
          "def sigmoid(z):\n    return torch.sigmoid(z)\n",
          expect="torch.sigmoid was called"),
    Wrong(NB1, "sigmoid", "the built-in through an alias taken before the guard",
          "_sig = torch.sigmoid\n\n\ndef sigmoid(z):\n    return _sig(z)\n",
          expect="the built-in sigmoid"),
    Wrong(NB1, "sigmoid", "computes in float32 whatever the input",
          "def sigmoid(z):\n    z = z.float()\n    e = torch.exp(-z.abs())\n"
          "    return torch.where(z >= 0, 1 / (1 + torch.exp(-z.clamp(min=0))), torch.exp(z.clamp(max=0)) / (1 + torch.exp(z.clamp(max=0))))\n",
          expect="keep the input's dtype"),
    Wrong(NB1, "sigmoid", "through NumPy: no autograd",
          "def sigmoid(z):\n    x = z.detach().cpu().numpy()\n"
          "    out = np.where(x >= 0, 1 / (1 + np.exp(-np.clip(x, 0, None))), np.exp(np.clip(x, None, 0)) / (1 + np.exp(np.clip(x, None, 0))))\n"
          "    return torch.from_numpy(out).to(z.dtype)\n",
          expect="does not require grad"),
    # ----------------------------------------------------------------- sigmoid_derivative
    Wrong(NB1, "sigmoid_derivative", "sigma(z) * (1 - z)",
          "def sigmoid_derivative(z):\n    return sigmoid(z) * (1 - z)\n",
          expect="(sigma(z) * (1 - sigma(z)))"),
    Wrong(NB1, "sigmoid_derivative", "uses torch.sigmoid",
          "def sigmoid_derivative(z):\n    return torch.sigmoid(z) * torch.sigmoid(-z)\n",
          expect="was called"),
    # ---------------------------------------------------------------- saturation_fraction
    Wrong(NB1, "saturation_fraction", "counts only the lower end",
          "def saturation_fraction(a, eps=0.01):\n    return float((a < eps).float().mean())\n",
          expect="both ends count"),
    Wrong(NB1, "saturation_fraction", "<= instead of <",
          "def saturation_fraction(a, eps=0.01):\n    return float((torch.minimum(a, 1 - a) <= eps).float().mean())\n",
          expect="the inequality is strict"),
    Wrong(NB1, "saturation_fraction", "returns a tensor",
          "def saturation_fraction(a, eps=0.01):\n    return (torch.minimum(a, 1 - a) < eps).float().mean()\n",
          expect="return a Python float"),
    Wrong(NB1, "saturation_fraction", "ignores eps",
          "def saturation_fraction(a, eps=0.01):\n    return float((torch.minimum(a, 1 - a) < 0.01).float().mean())\n",
          expect="use the eps argument"),
    # ---------------------------------------------------------------------- gradient_norms
    Wrong(NB2, "gradient_norms", "does not clear stale gradients",
          "def gradient_norms(model, x, y, loss_fn):\n    loss_fn(model(x), y).backward()\n"
          "    return [float(m.weight.grad.norm()) for m in model.modules() if isinstance(m, nn.Linear)]\n",
          expect="clear the gradients"),
    Wrong(NB2, "gradient_norms", "output side first",
          "def gradient_norms(model, x, y, loss_fn):\n    model.zero_grad(set_to_none=True)\n    loss_fn(model(x), y).backward()\n"
          "    return [float(m.weight.grad.norm()) for m in model.modules() if isinstance(m, nn.Linear)][::-1]\n",
          expect="wrong order"),
    Wrong(NB2, "gradient_norms", "squared norms",
          "def gradient_norms(model, x, y, loss_fn):\n    model.zero_grad(set_to_none=True)\n    loss_fn(model(x), y).backward()\n"
          "    return [float(m.weight.grad.pow(2).sum()) for m in model.modules() if isinstance(m, nn.Linear)]\n",
          expect="squared norms"),
    Wrong(NB2, "gradient_norms", "weight and bias gradients together",
          "def gradient_norms(model, x, y, loss_fn):\n    model.zero_grad(set_to_none=True)\n    loss_fn(model(x), y).backward()\n"
          "    return [math.sqrt(sum(float(p.grad.pow(2).sum()) for p in m.parameters())) for m in model.modules() if isinstance(m, nn.Linear)]\n",
          expect="bias gradients"),
    Wrong(NB2, "gradient_norms", "the matrix 2-norm",
          "def gradient_norms(model, x, y, loss_fn):\n    model.zero_grad(set_to_none=True)\n    loss_fn(model(x), y).backward()\n"
          "    return [float(torch.linalg.matrix_norm(m.weight.grad, ord=2)) for m in model.modules() if isinstance(m, nn.Linear)]\n",
          expect="matrix 2-norm"),
    Wrong(NB2, "gradient_norms", "tensors instead of floats",
          "def gradient_norms(model, x, y, loss_fn):\n    model.zero_grad(set_to_none=True)\n    loss_fn(model(x), y).backward()\n"
          "    return [m.weight.grad.norm() for m in model.modules() if isinstance(m, nn.Linear)]\n",
          expect="convert each norm with float"),
    Wrong(NB2, "gradient_norms", "top-level children only",
          "def gradient_norms(model, x, y, loss_fn):\n    model.zero_grad(set_to_none=True)\n    loss_fn(model(x), y).backward()\n"
          "    return [float(m.weight.grad.norm()) for m in model.children() if isinstance(m, nn.Linear)]\n",
          expect="use model.modules()"),
    # --------------------------------------------------------------------- clip_grad_norm_
    Wrong(NB2, "clip_grad_norm_", "returns the norm after clipping",
          "def clip_grad_norm_(parameters, max_norm, eps=1e-6):\n    if isinstance(parameters, torch.Tensor):\n        parameters = [parameters]\n"
          "    grads = [p.grad for p in parameters if p.grad is not None]\n"
          "    total = torch.stack([g.pow(2).sum() for g in grads]).sum().sqrt()\n"
          "    factor = min(1.0, max_norm / (float(total) + eps))\n    for g in grads:\n        g.mul_(factor)\n"
          "    return torch.stack([g.pow(2).sum() for g in grads]).sum().sqrt()\n",
          expect="BEFORE clipping"),
    Wrong(NB2, "clip_grad_norm_", "assigns new .grad tensors",
          "def clip_grad_norm_(parameters, max_norm, eps=1e-6):\n    if isinstance(parameters, torch.Tensor):\n        parameters = [parameters]\n"
          "    params = [p for p in parameters if p.grad is not None]\n"
          "    total = torch.stack([p.grad.pow(2).sum() for p in params]).sum().sqrt()\n"
          "    factor = min(1.0, max_norm / (float(total) + eps))\n    for p in params:\n        p.grad = p.grad * factor\n    return total\n",
          expect="in place"),
    Wrong(NB2, "clip_grad_norm_", "iterates model.parameters() twice",
          "def clip_grad_norm_(parameters, max_norm, eps=1e-6):\n    if isinstance(parameters, torch.Tensor):\n        parameters = [parameters]\n"
          "    total = math.sqrt(sum(float(p.grad.pow(2).sum()) for p in parameters if p.grad is not None))\n"
          "    factor = min(1.0, max_norm / (total + eps))\n"
          "    for p in parameters:\n        if p.grad is not None:\n            p.grad.mul_(factor)\n    return torch.tensor(total)\n",
          expect="iterated only once"),
    Wrong(NB2, "clip_grad_norm_", "always rescales to max_norm",
          "def clip_grad_norm_(parameters, max_norm, eps=1e-6):\n    if isinstance(parameters, torch.Tensor):\n        parameters = [parameters]\n"
          "    grads = [p.grad for p in parameters if p.grad is not None]\n"
          "    total = torch.stack([g.pow(2).sum() for g in grads]).sum().sqrt()\n"
          "    for g in grads:\n        g.mul_(max_norm / (float(total) + eps))\n    return total\n",
          expect="left unchanged"),
    Wrong(NB2, "clip_grad_norm_", "calls torch's clip_grad_norm_",
          "def clip_grad_norm_(parameters, max_norm, eps=1e-6):\n    return torch.nn.utils.clip_grad_norm_(parameters, max_norm)\n",
          expect="was called"),
]
