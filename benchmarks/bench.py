r"""How fast does gradlab train, against the loop a user would write and the machine's limit?

``make bench`` (= ``python benchmarks/bench.py``) trains, side by side and interleaved so that
all paths see the same machine noise, two sweeps — K = 8 configurations of a
10-layer, width-128 MLP (Adam, lr 1e-3, seed 0):

* ``init``: ReLU with 8 initialization schemes (one activation: one activation call per layer);
* ``act``:  8 activations (the course's: sigmoid, tanh, relu, leaky_relu, rrelu, prelu, elu,
  selu), one group each;

on MNIST-1D (4 000 × 40, whole epochs) and on a synthetic 60 000 × 784 set (Gaussian inputs,
labels from a random linear teacher; a partial epoch of ``--synthetic-samples`` samples, the
same samples for every path), by three paths:

(a) ``naive``:  ``DataLoader(TensorDataset(x, y), batch_size=128, shuffle=True)`` +
    ``gradlab.mlp`` + ``torch.optim.Adam`` (defaults), the 8 models one after the other;
(b) ``single``: :func:`gradlab.train` (in-memory ``randperm`` batches, fused Adam), one by one;
(c) ``sweep``:  :func:`gradlab.sweep.sweep`, the 8 models as one stacked network.

Every path is timed on its training steps only (no evaluation): (a) around its loop, (b) and
(c) by ``History.seconds``. Samples/s counts model-samples (8 models × samples per model ÷
seconds). Achieved GFLOP/s ≈ 6 · parameters · samples/s (forward 2, backward 4 FLOPs per
weight per sample). The peak is the best float32 ``torch.mm`` (2048²) throughput measured at the
start and again before every round, with the same thread count: on a shared machine a single
measurement can land in a busy moment, and the best one is the machine's limit. (b) and (c) also run at batch 512 (labelled "b512"): the
ratios in the ``× naive`` column always divide by the naive loop at batch 128.

Threads: one torch thread per free core (``--threads``; default: cores minus the 1-minute load
average, at least 1), the same for every path and for the peak: a torch thread on a busy core slows
the whole process 5–10× (measured on a 2-core machine).

``--clock cpu`` times every path by this process's CPU time around the whole call instead (setup
and, for (b) and (c), one evaluation pass counted: conservative for them), for a machine shared
with busy processes, where the wall clock measures the neighbours. ``--json`` prints one JSON
object instead of the table; ``--course`` also executes every
solution notebook (``solutions/*/*.ipynb``, nbclient, in a temporary copy) and reports
``course_seconds``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GRADLAB_PROGRESS", "0")

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # run from a checkout even when gradlab is not installed

import gradlab  # noqa: E402
from gradlab.sweep import sweep  # noqa: E402

DEPTH, WIDTH, K = 10, 128, 8
INITS = ["default", "xavier", "xavier_normal", "he", "he_uniform", "lecun", "lecun_uniform",
         "orthogonal"]
ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky_relu", "rrelu", "prelu", "elu", "selu"]
SWEEPS = {
    "init": [{"depth": DEPTH, "width": WIDTH, "activation": "relu", "init": i} for i in INITS],
    "act": [{"depth": DEPTH, "width": WIDTH, "activation": a, "init": "default"}
            for a in ACTIVATIONS],
}


# ------------------------------------------------------------------------------- machine
# Wall clock by default. ``--clock cpu``: this process's CPU time around each whole call instead
# (setup and, for (b) and (c), one evaluation pass included, so conservative for them): on a
# machine shared with other busy processes, wall time measures the neighbours.
CLOCK = {"cpu": False}


def _now() -> float:
    return time.process_time() if CLOCK["cpu"] else time.perf_counter()


def free_cores() -> int:
    """Cores not busy with other processes (1-minute load average), at least 1."""
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    return max(1, min(cores, int(cores - load + 0.5)))


def gemm_peak(repeats: int = 5, n: int = 2048) -> float:
    """Best float32 ``torch.mm`` throughput in GFLOP/s, at the current thread count."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    out = torch.empty(n, n)
    torch.mm(a, b, out=out)  # warm-up: thread pool, page faults
    best = math.inf
    for _ in range(repeats):
        start = _now()  # the same clock as the paths
        torch.mm(a, b, out=out)
        best = min(best, _now() - start)
    return 2 * n**3 / best / 1e9


def synthetic(n: int = 60_000, features: int = 784, classes: int = 10, seed: int = 0):
    """Gaussian inputs, labels of a random linear teacher: learnable, MNIST-sized."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)
    teacher = torch.randn(features, classes, generator=g)
    return x, (x @ teacher).argmax(1)


def n_params(config: dict, in_features: int, out_features: int) -> int:
    return sum(p.numel() for p in gradlab.mlp(**config, in_features=in_features,
                                              out_features=out_features).parameters())


# --------------------------------------------------------------------------------- paths
def run_naive(configs, x, y, epochs: int, batch_size: int = 128) -> float:
    """(a) The loop from a tutorial: DataLoader over a TensorDataset, torch's Adam. Samples/s."""
    samples, seconds = 0, 0.0
    for config in configs:
        start = _now()
        torch.manual_seed(0)
        model = gradlab.mlp(**config, in_features=x.shape[1], out_features=int(y.max()) + 1)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
        for _ in range(epochs):
            for xb, yb in loader:
                loss = F.cross_entropy(model(xb), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
                samples += len(xb)
        seconds += _now() - start
    return samples / seconds


def run_single(configs, x, y, epochs: int, batch_size: int = 128) -> float:
    """(b) gradlab.train, one model after the other. Samples/s of the training steps."""
    seconds = 0.0
    for config in configs:
        start = _now()
        torch.manual_seed(0)
        model = gradlab.mlp(**config, in_features=x.shape[1], out_features=int(y.max()) + 1)
        history = gradlab.train(model, (x, y), epochs=epochs, batch_size=batch_size, lr=1e-3,
                                seed=0, eval_train=False, progress=False)
        seconds += _now() - start if CLOCK["cpu"] else history.seconds[-1]
    return len(configs) * epochs * len(x) / seconds


def run_sweep(configs, x, y, epochs: int, batch_size: int = 128) -> float:
    """(c) gradlab.sweep: the K configurations as one stacked network. Samples/s."""
    start = _now()
    runs = sweep(configs, (x, y), epochs=epochs, batch_size=batch_size, lr=1e-3, seeds=[0],
                 eval_train=False, keep_models=False, progress=False)
    seconds = _now() - start if CLOCK["cpu"] else runs[0].history.seconds[-1]
    assert all(r.stacked == len(configs) for r in runs), "the sweep did not stack"
    return len(configs) * epochs * len(x) / seconds


PATHS = {  # name: (function, batch size)
    "naive": (run_naive, 128),
    "single": (run_single, 128),
    "sweep": (run_sweep, 128),
    "single_b512": (run_single, 512),
    "sweep_b512": (run_sweep, 512),
}


# ------------------------------------------------------------------------------- course
def run_course() -> tuple[float, int]:
    """Execute every solution notebook in a temporary copy: (total seconds, notebooks)."""
    import shutil

    import nbformat
    from nbclient import NotebookClient

    notebooks = sorted((ROOT / "solutions").glob("*/*.ipynb"))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for path in notebooks:
            folder = Path(tmp) / path.parent.name
            if not folder.exists():
                shutil.copytree(path.parent, folder)
            nb = nbformat.read(path, as_version=4)
            NotebookClient(nb, timeout=600, kernel_name="python3",
                           resources={"metadata": {"path": str(folder)}}).execute()
    return time.perf_counter() - start, len(notebooks)


# --------------------------------------------------------------------------------- main
def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--course", action="store_true", help="also time every solution notebook")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: free cores)")
    parser.add_argument("--epochs", type=int, default=2, help="MNIST-1D epochs per repeat")
    parser.add_argument("--synthetic-samples", type=int, default=4096,
                        help="samples per model per repeat on the synthetic set")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats (median kept)")
    parser.add_argument("--sweeps", default="mnist1d:init,mnist1d:act,synthetic:init,synthetic:act")
    parser.add_argument("--paths", default=",".join(PATHS))
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall: training steps by the wall clock (default); cpu: process "
                             "CPU time of each whole call, for a machine shared with busy processes")
    args = parser.parse_args(argv)
    CLOCK["cpu"] = args.clock == "cpu"

    threads = gradlab.set_threads(args.threads or free_cores())
    peaks = [gemm_peak()]  # measured again in every round: the best is the machine's limit
    mnist = gradlab.load("mnist1d", device="cpu")
    xs, ys = synthetic()
    sub = torch.randperm(len(xs), generator=torch.Generator().manual_seed(1))[:args.synthetic_samples]
    datasets = {"mnist1d": (mnist.x_train, mnist.y_train, args.epochs),
                "synthetic": (xs[sub], ys[sub], 1)}
    paths = args.paths.split(",")

    results: dict = {"threads": threads, "clock": args.clock, "torch": torch.__version__,
                     "sweeps": {}}
    raw = {}
    for item in args.sweeps.split(","):
        dataset, name = item.split(":")
        x, y, epochs = datasets[dataset]
        configs = SWEEPS[name]
        for path in paths:  # warm-up: first calls pay for imports, thread pools, page faults
            fn, bs = PATHS[path]
            fn(configs[:2], x[:1024], y[:1024], 1, bs)
        samples = {p: [] for p in paths}
        for _ in range(args.repeats):  # interleaved: every path sees the same noise
            peaks.append(gemm_peak(repeats=3))
            for path in paths:
                fn, bs = PATHS[path]
                samples[path].append(fn(configs, x, y, epochs, bs))
        raw[item] = (dataset, name, n_params(configs[0], x.shape[1], int(y.max()) + 1), samples)
        print(f"bench: {item} done", file=sys.stderr)

    peak = max(peaks)
    results["peak_gflops"] = round(peak, 1)
    results["peak_gflops_all"] = [round(p, 1) for p in peaks]
    for dataset, name, params, samples in raw.values():
        entry = {"dataset": dataset, "sweep": name, "models": K, "params_per_model": params,
                 "peak_gflops": round(peak, 1)}
        naive = statistics.median(samples["naive"]) if "naive" in samples else math.nan
        for path in paths:
            sps = statistics.median(samples[path])
            gflops = 6 * params * sps / 1e9
            entry[f"{path}_sps"] = round(sps)
            entry[f"{path}_gflops"] = round(gflops, 2)
            entry[f"{path}_peak_fraction"] = round(gflops / peak, 4)
            entry[f"ratio_{path}_vs_naive"] = round(sps / naive, 3)
            entry[f"{path}_all_sps"] = [round(v) for v in samples[path]]
        results["sweeps"][f"{dataset}_{name}"] = entry
    if not args.json:
        print_table(results, paths)
    if args.course:
        seconds, count = run_course()
        results["course_seconds"], results["course_notebooks"] = round(seconds, 1), count
        if not args.json:
            print(f"\ncourse: {count} solution notebooks executed in {seconds:.1f} s")
    if args.json:
        print(json.dumps(results, indent=1))
    return results


def print_table(results: dict, paths) -> None:
    print(f"torch {results['torch']}, {results['threads']} thread(s), float32 GEMM peak "
          f"{results['peak_gflops']} GFLOP/s (best of {len(results['peak_gflops_all'])}); "
          f"K = {K} models, depth {DEPTH}, width {WIDTH}, Adam; "
          + ("training steps only, wall clock" if results["clock"] == "wall" else
             "CPU time of whole calls (setup + 1 eval pass in single/sweep)")
          + "; median of repeats")
    print(f"{'sweep':<18}{'path':<13}{'batch':>6}{'samples/s':>12}{'GFLOP/s':>10}"
          f"{'% peak':>9}{'× naive':>9}")
    for entry in results["sweeps"].values():
        label = f"{entry['dataset']}:{entry['sweep']}"
        for path in paths:
            print(f"{label:<18}{path:<13}{PATHS[path][1]:>6}{entry[f'{path}_sps']:>12,}"
                  f"{entry[f'{path}_gflops']:>10.1f}{100 * entry[f'{path}_peak_fraction']:>8.1f}%"
                  f"{entry[f'ratio_{path}_vs_naive']:>9.2f}")
            label = ""


if __name__ == "__main__":
    main()
