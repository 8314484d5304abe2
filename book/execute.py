"""Run each solution notebook once, and keep the executed copy until its inputs change.

The cache key is a hash of what decides a notebook's outputs: its code cells (sources and
metadata), the ``gradlab`` package's source, and ``GRADLAB_SCALE``. Markdown is not in the key: a
prose edit reuses the cached outputs (``with_outputs`` puts them on the current source), so the
rebuild takes seconds. A cell error fails the build.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat

#: bump when what execute() does changes, so that old cache entries are not reused
CACHE_VERSION = "1"
#: the kernels' environment: one torch thread per worker, no progress bars, headless plots
KERNEL_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "GRADLAB_PROGRESS": "0",
              "MPLBACKEND": "module://matplotlib_inline.backend_inline", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}


@dataclass(frozen=True)
class Job:
    """One notebook to run: where it is, and where its executed copy goes."""
    notebook: Path
    executed: Path
    timeout: int


def package_hash(root: Path) -> str:
    """A hash of the helper package's source (src/gradlab): the figures and numbers depend on it."""
    h = hashlib.sha256()
    for p in sorted((root / "src" / "gradlab").rglob("*.py")) if (root / "src" / "gradlab").is_dir() else []:
        h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def notebook_key(nb, package: str) -> str:
    """The cache key of one notebook: its code cells (outputs and run-time metadata ignored)."""
    cells = [{"s": c.source, "m": {k: v for k, v in c.metadata.items()
                                   if k not in ("execution", "ExecuteTime", "collapsed", "scrolled")}}
             for c in nb.cells if c.cell_type == "code"]
    blob = json.dumps({"v": CACHE_VERSION, "cells": cells, "kernel": nb.metadata.get("kernelspec", {}).get("name"),
                       "package": package, "scale": os.environ.get("GRADLAB_SCALE", "1")}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def with_outputs(source, executed):
    """``source`` with the outputs of ``executed`` (a run of a notebook with the same code cells)."""
    nb = nbformat.from_dict(json.loads(json.dumps(source)))
    code = [c for c in nb.cells if c.cell_type == "code"]
    ran = [c for c in executed.cells if c.cell_type == "code"]
    if [c.source for c in code] != [c.source for c in ran]:
        raise ValueError("the cached run does not have the notebook's code cells")
    for cell, run in zip(code, ran):
        cell.outputs, cell.execution_count = run.outputs, run.execution_count
    if "widgets" in executed.metadata:
        nb.metadata["widgets"] = executed.metadata["widgets"]
    return nb


def _run(job: Job) -> Path:
    """Execute one notebook in its own folder (as nbval and Validate do); write the executed copy."""
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    os.environ.update(KERNEL_ENV)
    nb = nbformat.read(str(job.notebook), as_version=4)
    with tempfile.TemporaryDirectory(prefix="gradlab-book-") as sockets:
        # IPC sockets at an absolute path (the kernel runs in the notebook's folder): no TCP port
        km = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(sockets) / "kernel"))
        client = NotebookClient(nb, km=km, timeout=job.timeout, kernel_name="python3", allow_errors=False,
                                resources={"metadata": {"path": str(job.notebook.parent)}})
        try:
            client.execute()
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as e:
            raise RuntimeError(f"{job.notebook}: a cell failed while building the book:\n{e}") from None
        finally:  # nbclient shuts down only kernels it created itself
            if km.has_kernel:
                km.shutdown_kernel(now=False)
    job.executed.parent.mkdir(parents=True, exist_ok=True)
    tmp = job.executed.with_suffix(".tmp")
    nbformat.write(nb, str(tmp))
    tmp.replace(job.executed)
    return job.executed


def execute_all(notebooks: list[Path], root: Path, cache: Path, *, jobs: int = 1, timeout: int = 600,
                log=print) -> dict[Path, Path]:
    """Executed copies of ``notebooks`` (from the cache where the key matches), in the same order."""
    package = package_hash(root)
    cache.mkdir(parents=True, exist_ok=True)
    done, todo = {}, []
    for nb_path in notebooks:
        key = notebook_key(nbformat.read(str(nb_path), as_version=4), package)
        stem = f"{nb_path.parent.name}__{nb_path.stem}"
        target = cache / f"{stem}.{key}.ipynb"
        done[nb_path] = target
        if target.exists():
            log(f"  cached   {nb_path.parent.name}/{nb_path.name}")
            continue
        for stale in cache.glob(f"{stem}.*.ipynb"):
            stale.unlink()
        todo.append(Job(nb_path, target, timeout))
    if todo:
        with ProcessPoolExecutor(max_workers=max(1, min(jobs, len(todo)))) as pool:
            for job, _ in zip(todo, pool.map(_run, todo)):
                log(f"  executed {job.notebook.parent.name}/{job.notebook.name}")
    return done
