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
    memory_mb: int = 4096        # the whole sandbox (cgroup, where the host gives one) and RLIMIT_AS of each process
    max_procs: int = 64          # RLIMIT_NPROC in the sandbox's user namespace (and the cgroup's pids.max)
    fsize_mb: int = 256          # RLIMIT_FSIZE: largest file the notebook may write
    tmpfs_mb: int = 512          # size of each of HOME, /tmp, /dev/shm and the work dir (/ and /dev: read-only)
    result_mb: int = 64          # bytes the parent reads back from the runner
    nofile: int = 1024

    @classmethod
    def from_args(cls, args) -> Limits:
        """The limits a command line gave (``--timeout``, ``--cell-timeout``, ``--memory``, ``--max-procs``)."""
        return cls(timeout_s=float(args.timeout), cell_timeout_s=int(args.cell_timeout),
                   memory_mb=int(args.memory), max_procs=int(args.max_procs))
