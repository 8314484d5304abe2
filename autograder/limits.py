"""Resource limits of a submission (kept free of heavy imports: the CLI's --help uses them)."""
from __future__ import annotations

from dataclasses import dataclass

MB = 1024 * 1024


@dataclass
class Limits:
    """Resource limits for one submission's kernel."""

    timeout_s: float = 600.0  # whole submission (all notebooks)
    cell_timeout_s: int = 120
    memory_mb: int = 4096
    max_procs: int = 64  # processes of the sandbox uid (threads do not count)
    nproc_rlimit: int = 512  # tasks (threads included) of the sandbox uid, enforced by the OS
    fsize_mb: int = 512
    nofile: int = 1024
