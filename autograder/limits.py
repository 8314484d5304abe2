"""Resource limits of one notebook's sandbox (kept free of heavy imports: the CLI's --help uses them)."""
from __future__ import annotations

from dataclasses import dataclass

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """What one notebook may use. Every limit is enforced by the OS or by the parent, never by
    code running next to the student's."""

    timeout_s: float = 600.0     # one notebook, wall clock (the parent kills the sandbox)
    cell_timeout_s: int = 120    # one cell (a timer in the runner; the parent's timeout backs it)
    memory_mb: int = 4096        # RLIMIT_AS of the sandbox's processes
    max_procs: int = 64          # RLIMIT_NPROC, counted in the sandbox's own user namespace
    fsize_mb: int = 256          # RLIMIT_FSIZE: largest file the notebook may write
    tmpfs_mb: int = 512          # size of each of HOME, /tmp, /dev/shm and the work dir
    result_mb: int = 64          # bytes the parent reads back from the runner
    nofile: int = 1024
