"""Wrong implementations of assignment 06_regularization, each caught by a visible test with a
specific message (see tests/catalogues/__init__.py for the format)."""
from tests.catalogues import Wrong

ASSIGNMENT = "06_regularization"
NB1 = "01_overfitting_and_penalties.ipynb"
NB2 = "02_dropout_and_friends.ipynb"

_ES_HEAD = '''class EarlyStopping:
    def __init__(self, patience=10, min_delta=0.0):
        self.patience = patience
        self.min_delta = min_delta
        self.best = math.inf
        self.best_state = None
        self.bad_epochs = 0
'''
_ES_RESTORE = '''
    def restore_best(self, model):
        model.load_state_dict(self.best_state)
'''
_MN_HEAD = "def max_norm_(weight, max_norm):\n"
_MC_HEAD = "def mc_dropout_predict(model, x, n_samples=100):\n"
_IS_DROP = "isinstance(m, (nn.modules.dropout._DropoutNd, Dropout))"

WRONG = [
    # ------------------------------------------------------------------ notebook 1
    Wrong(NB1, "l1_l2_penalty", "penalty including the biases",
          '''def l1_l2_penalty(model, l1=0.0, l2=0.0):
    return sum(l1 * p.abs().sum() + l2 * (p * p).sum() for p in model.parameters())
''', expect="includes the biases"),
    Wrong(NB1, "l1_l2_penalty", "l2 term as the norm instead of the sum of squares",
          '''def l1_l2_penalty(model, l1=0.0, l2=0.0):
    ws = [p for n, p in model.named_parameters() if n.endswith("weight")]
    return sum(l1 * w.abs().sum() + l2 * w.norm() for w in ws)
''', expect="sum of squares"),
    Wrong(NB1, "l1_l2_penalty", "penalty detached from the graph (float(...))",
          '''def l1_l2_penalty(model, l1=0.0, l2=0.0):
    ws = [p for n, p in model.named_parameters() if n.endswith("weight")]
    return torch.tensor(float(sum(l1 * w.abs().sum() + l2 * (w * w).sum() for w in ws)), dtype=ws[0].dtype)
''', expect="must be differentiable"),
    Wrong(NB1, "l2_to_weight_decay", "weight decay = l2 (the factor 2 of d/dw w² forgotten)",
          '''def l2_to_weight_decay(l2):
    return float(l2)
''', expect="factor 2 is missing"),
    Wrong(NB1, "EarlyStopping", "early stopping off by one (stops after patience + 1 bad epochs)",
          _ES_HEAD + '''
    def step(self, val_loss, model):
        if val_loss < self.best - self.min_delta:
            self.best = float(val_loss)
            self.best_state = {k: v.clone() for k, v in model.state_dict().items()}
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        return self.bad_epochs > self.patience
''' + _ES_RESTORE, expect="off by one"),
    Wrong(NB1, "EarlyStopping", "early stopping keeping a reference to the weights instead of a copy",
          _ES_HEAD + '''
    def step(self, val_loss, model):
        if val_loss < self.best - self.min_delta:
            self.best = float(val_loss)
            self.best_state = model.state_dict()
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience
''' + _ES_RESTORE, expect="kept a reference"),
    Wrong(NB1, "EarlyStopping", "min_delta ignored",
          _ES_HEAD + '''
    def step(self, val_loss, model):
        if val_loss < self.best:
            self.best = float(val_loss)
            self.best_state = {k: v.clone() for k, v in model.state_dict().items()}
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience
''' + _ES_RESTORE, expect="min_delta=0.05"),
    Wrong(NB1, "max_norm_", "max-norm over columns instead of rows",
          _MN_HEAD + '''    with torch.no_grad():
        n = weight.norm(dim=0, keepdim=True)
        weight.mul_(torch.where(n > max_norm, max_norm / n, torch.ones_like(n)))
    return weight
''', expect="rescaled the columns"),
    Wrong(NB1, "max_norm_", "every row normalized to max_norm (also the short ones)",
          _MN_HEAD + '''    with torch.no_grad():
        n = weight.reshape(weight.shape[0], -1).norm(dim=1)
        weight.mul_((max_norm / n).reshape([-1] + [1] * (weight.dim() - 1)))
    return weight
''', expect="EXCEEDS max_norm"),
    Wrong(NB1, "max_norm_", "returns a rescaled copy instead of modifying in place",
          _MN_HEAD + '''    n = weight.reshape(weight.shape[0], -1).norm(dim=1)
    f = torch.where(n > max_norm, max_norm / n, torch.ones_like(n))
    return weight.detach() * f.reshape([-1] + [1] * (weight.dim() - 1))
''', expect="same tensor object"),
    Wrong(NB1, "max_norm_", "in-place update recorded by autograd (no torch.no_grad)",
          _MN_HEAD + '''    n = weight.reshape(weight.shape[0], -1).norm(dim=1)
    f = torch.where(n > max_norm, max_norm / n, torch.ones_like(n))
    weight.mul_(f.reshape([-1] + [1] * (weight.dim() - 1)))
    return weight
''', expect="torch.no_grad"),
    # ------------------------------------------------------------------ notebook 2
    Wrong(NB2, "dropout_moments", "variance of m·x without the 1/(1-p) scaling",
          '''def dropout_moments(x, p):
    return x.clone(), x * x * p * (1 - p)
''', expect="also divided by (1 − p)"),
    Wrong(NB2, "dropout", "dropout without rescaling the survivors",
          '''def dropout(x, p=0.5, training=True):
    if not 0 <= p <= 1:
        raise ValueError(p)
    if not training or p == 0:
        return x
    return x * torch.empty_like(x).bernoulli_(1 - p)
''', expect="not rescaled"),
    Wrong(NB2, "dropout", "dropout active in eval mode (training ignored)",
          '''def dropout(x, p=0.5, training=True):
    if not 0 <= p <= 1:
        raise ValueError(p)
    if p == 0:
        return x
    if p == 1:
        return x * 0.0
    return x * (torch.empty_like(x).bernoulli_(1 - p) / (1 - p))
''', expect="training=False must return x unchanged"),
    Wrong(NB2, "dropout", "the input modified in place",
          '''def dropout(x, p=0.5, training=True):
    if not 0 <= p <= 1:
        raise ValueError(p)
    if not training or p == 0:
        return x
    if p == 1:
        return x.mul_(0.0)
    return x.mul_(torch.empty_like(x).bernoulli_(1 - p) / (1 - p))
''', expect="modified its input x in place"),
    Wrong(NB2, "dropout", "p taken as the keep probability",
          '''def dropout(x, p=0.5, training=True):
    if not 0 <= p <= 1:
        raise ValueError(p)
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0.0
    return x * (torch.empty_like(x).bernoulli_(p) / p)
''', expect="probability of DROPPING"),
    Wrong(NB2, "dropout", "p = 1 divides by zero (NaN instead of zeros)",
          '''def dropout(x, p=0.5, training=True):
    if not 0 <= p <= 1:
        raise ValueError(p)
    if not training or p == 0:
        return x
    return x * (torch.empty_like(x).bernoulli_(1 - p) / (1 - p))
''', expect="p = 1 must give zeros"),
    Wrong(NB2, "dropout", "mask from another random stream (rand_like > p): statistically right, not torch's mask",
          '''def dropout(x, p=0.5, training=True):
    if not 0 <= p <= 1:
        raise ValueError(p)
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0.0
    return x * ((torch.rand_like(x) > p).to(x.dtype) / (1 - p))
''', expect="mask differs from torch's"),
    Wrong(NB2, "Dropout", "Dropout module with its own flag instead of self.training",
          '''class Dropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        self.p = p
        self.active = True

    def forward(self, x):
        return dropout(x, self.p, self.active)

    def extra_repr(self):
        return f"p={self.p}"
''', expect="after model.eval() dropout is still active"),
    Wrong(NB2, "alpha_dropout_constants", "a = 1/sqrt(1-p): the variance of the dropped units at α' ignored",
          '''def alpha_dropout_constants(p):
    a = (1 - p) ** -0.5
    return float(a), float(a * SELU_ALPHA_LAMBDA * p)
''', expect="ignores the variance"),
    Wrong(NB2, "alpha_dropout", "alpha dropout setting the dropped units to 0",
          '''def alpha_dropout(x, p=0.5, training=True):
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0.0
    keep = torch.empty_like(x).bernoulli_(1 - p)
    a, b = alpha_dropout_constants(p)
    return a * (x * keep) + b
''', expect="dropped units to 0 and then applied"),
    Wrong(NB2, "alpha_dropout", "alpha dropout without the affine correction a(.) + b",
          '''def alpha_dropout(x, p=0.5, training=True):
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0.0
    keep = torch.empty_like(x).bernoulli_(1 - p)
    return x * keep - SELU_ALPHA_LAMBDA * (1 - keep)
''', expect="affine correction"),
    Wrong(NB2, "mc_dropout_predict", "MC dropout leaving BatchNorm in train mode (model.train())",
          _MC_HEAD + '''    modes = [(m, m.training) for m in model.modules()]
    model.train()
    with torch.no_grad():
        probs = torch.stack([torch.softmax(model(x), -1) for _ in range(n_samples)])
    for m, mode in modes:
        m.training = mode
    return probs.mean(0), probs.std(0)
''', expect="BatchNorm in EVAL mode"),
    Wrong(NB2, "mc_dropout_predict", "MC dropout not restoring the model's modes",
          _MC_HEAD + f'''    model.eval()
    for m in model.modules():
        if {_IS_DROP}:
            m.train()
    with torch.no_grad():
        probs = torch.stack([torch.softmax(model(x), -1) for _ in range(n_samples)])
    return probs.mean(0), probs.std(0)
''', expect="modes were not restored"),
    Wrong(NB2, "mc_dropout_predict", "MC dropout restoring only the model's top-level mode",
          _MC_HEAD + f'''    was = model.training
    model.eval()
    for m in model.modules():
        if {_IS_DROP}:
            m.train()
    with torch.no_grad():
        probs = torch.stack([torch.softmax(model(x), -1) for _ in range(n_samples)])
    model.train(was)
    return probs.mean(0), probs.std(0)
''', expect="module by module"),
    Wrong(NB2, "mc_dropout_predict", "MC dropout with the population std",
          _MC_HEAD + f'''    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    for m in model.modules():
        if {_IS_DROP}:
            m.train()
    with torch.no_grad():
        probs = torch.stack([torch.softmax(model(x), -1) for _ in range(n_samples)])
    for m, mode in modes:
        m.training = mode
    return probs.mean(0), probs.std(0, correction=0)
''', expect="population std"),
    Wrong(NB2, "mc_dropout_predict", "MC dropout ignoring the course's own Dropout class",
          _MC_HEAD + '''    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    for m in model.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd):
            m.train()
    with torch.no_grad():
        probs = torch.stack([torch.softmax(model(x), -1) for _ in range(n_samples)])
    for m, mode in modes:
        m.training = mode
    return probs.mean(0), probs.std(0)
''', expect="your own Dropout class"),
]


# ============================================================== notebook 3: label smoothing
NB3 = "03_label_smoothing.ipynb"

WRONG += [
    Wrong(NB3, "label_smoothing_cross_entropy", "ε spread over the C − 1 other classes",
          '''def label_smoothing_cross_entropy(logits, target, smoothing=0.1):
    log_p = logits - logits.logsumexp(dim=1, keepdim=True)
    nll = -log_p.gather(1, target[:, None]).squeeze(1)
    others = -(log_p.sum(1) + nll * 0 - log_p.gather(1, target[:, None]).squeeze(1))
    return ((1 - smoothing) * nll + smoothing / (logits.shape[1] - 1) * others).mean()
''', expect="over the c − 1 other classes"),
    Wrong(NB3, "label_smoothing_cross_entropy", "the cross-entropy term not weighted by 1 − ε",
          '''def label_smoothing_cross_entropy(logits, target, smoothing=0.1):
    log_p = logits - logits.logsumexp(dim=1, keepdim=True)
    nll = -log_p.gather(1, target[:, None]).squeeze(1)
    return (nll + smoothing * (-log_p.mean(dim=1))).mean()
''', expect="weighted by (1 − ε)"),
    Wrong(NB3, "label_smoothing_cross_entropy", "log(softmax(z)): −inf at large logits",
          '''def label_smoothing_cross_entropy(logits, target, smoothing=0.1):
    log_p = torch.log(torch.softmax(logits, dim=1))
    nll = -log_p.gather(1, target[:, None]).squeeze(1)
    return ((1 - smoothing) * nll + smoothing * (-log_p.mean(dim=1))).mean()
''', expect="not log(softmax(z))"),
    Wrong(NB3, "label_smoothing_cross_entropy", "log-sum-exp without the max shift (overflow)",
          '''def label_smoothing_cross_entropy(logits, target, smoothing=0.1):
    log_p = logits - torch.log(torch.exp(logits).sum(dim=1, keepdim=True))
    nll = -log_p.gather(1, target[:, None]).squeeze(1)
    return ((1 - smoothing) * nll + smoothing * (-log_p.mean(dim=1))).mean()
''', expect="logits ±1e4"),
    Wrong(NB3, "label_smoothing_cross_entropy", "summed over the batch instead of averaged",
          '''def label_smoothing_cross_entropy(logits, target, smoothing=0.1):
    log_p = logits - logits.logsumexp(dim=1, keepdim=True)
    nll = -log_p.gather(1, target[:, None]).squeeze(1)
    return ((1 - smoothing) * nll + smoothing * (-log_p.mean(dim=1))).sum()
''', expect="plain cross-entropy"),
    Wrong(NB3, "label_smoothing_cross_entropy", "per-example losses returned (no reduction)",
          '''def label_smoothing_cross_entropy(logits, target, smoothing=0.1):
    log_p = logits - logits.logsumexp(dim=1, keepdim=True)
    nll = -log_p.gather(1, target[:, None]).squeeze(1)
    return (1 - smoothing) * nll + smoothing * (-log_p.mean(dim=1))
''', expect="return the mean loss"),
    Wrong(NB3, "label_smoothing_cross_entropy", "uniform term summed over classes instead of averaged",
          '''def label_smoothing_cross_entropy(logits, target, smoothing=0.1):
    log_p = logits - logits.logsumexp(dim=1, keepdim=True)
    nll = -log_p.gather(1, target[:, None]).squeeze(1)
    return ((1 - smoothing) * nll + smoothing * (-log_p.sum(dim=1))).mean()
''', expect="label_smoothing=0.1) gives"),
    Wrong(NB3, "label_smoothing_cross_entropy", "calls F.cross_entropy with label_smoothing",
          '''def label_smoothing_cross_entropy(logits, target, smoothing=0.1):
    return torch.nn.functional.cross_entropy(logits, target, label_smoothing=smoothing)
''', why_hidden="the built-in gives exactly the right values; only the hidden tests forbid it (and the judge's static scan)"),
]
