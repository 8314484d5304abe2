"""Limits around a student kernel: who it runs as, what it can see, how much it can use.

Choices, and why
----------------
* **A dedicated uid per worker slot** (root only). Every grading run draws a random block of
  unused uids; slot *k* runs its kernels as ``base + k``. Files of the repository, the grader's
  temp course dir (0700) and its gradebook are root's, so student code cannot write (or, for the
  private dirs, read) them, and two concurrently graded students cannot touch each other's
  sandbox (0700, different owners).
* **Process limit**: ``RLIMIT_NPROC`` is per *user*, which is useless for root (root ignores it)
  but exact for a dedicated uid: it bounds a fork bomb at the kernel's first ``fork`` beyond
  the limit. The watchdog below also counts the uid's processes and kills them all when the
  count passes ``max_procs`` (status ``process_limit``).
* **Memory limit**: torch reserves a lot of *virtual* address space, so ``RLIMIT_AS`` is only a
  generous backstop (limit + 4 GiB). The real limit is the watchdog's: it sums the resident
  memory of the uid's processes (PSS when forked children share pages) every 0.2 s and kills
  them all when it passes ``memory_mb`` (status ``memory``).
* **Killing** all processes of a uid is done by a helper that switches to that uid and calls
  ``kill(-1, SIGKILL)``: the kernel signals every process of the uid atomically, so a fork bomb
  cannot outrun a process-by-process kill, and double-forked orphans die too.
* **Per-submission timeout**: the watchdog kills the uid's processes after ``timeout_s``; nbclient
  then sees a dead kernel and the worker reports ``timeout``.
* Without root (a developer laptop) none of the uid/namespace protections exist; the watchdog
  then polls the worker's descendant tree instead. ``grade`` prints a warning in that case.

The namespaces (hidden paths, no network) are set up by ``autograder.sandbox``, the launcher.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import psutil
from jupyter_client.manager import AsyncKernelManager
from traitlets import Unicode

from .limits import MB, Limits  # noqa: F401 — re-exported

UID_BLOCK = 64  # slots per grading run (jobs are capped at this)


@dataclass
class Capabilities:
    root: bool
    namespaces: bool
    notes: list[str] = field(default_factory=list)

    @property
    def private_uid(self) -> bool:
        """Kernels can run as a dedicated uid (root, and the uid can reach Python)."""
        return self.root and (self.namespaces or python_reachable_without_help())


_CAPS: Capabilities | None = None


def capabilities() -> Capabilities:
    """What this machine lets the sandbox do (probed once per process)."""
    global _CAPS
    if _CAPS is None:
        root = os.geteuid() == 0
        ns = False
        notes = []
        if root and os.environ.get("GRADLAB_SANDBOX_NAMESPACES", "1") != "0":
            try:
                ns = subprocess.run([sys.executable, "-m", "autograder.sandbox", "--probe"],
                                    timeout=30, capture_output=True).returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                ns = False
        if not root:
            notes.append("not running as root: student kernels run as this user, without a "
                         "private uid, hidden paths or process limit (watchdog only)")
        elif not ns and not python_reachable_without_help():
            notes.append("mount namespaces unavailable and Python lives where other users cannot reach it "
                         f"({', '.join(exposure_plan())}): student kernels run as root, limited by the "
                         "watchdog only")
        elif not ns:
            notes.append("mount/network namespaces unavailable: solutions/ and the submissions "
                         "are protected by file permissions only; student code has network")
        _CAPS = Capabilities(root, ns, notes)
    return _CAPS


def uid_block() -> int:
    """A random base uid for this run's slots, far above any real account."""
    return 200_000 + secrets.randbelow(1 << 20) * UID_BLOCK


def kill_uid(uid: int) -> None:
    """SIGKILL every process owned by ``uid`` (see module docstring), until none is left.

    A forked child switches to ``uid`` and calls ``kill(-1, SIGKILL)``; it only makes
    async-signal-safe system calls before ``_exit``, so forking from our threaded process is safe.
    """
    for _ in range(20):
        if not uid_processes(uid):
            return
        pid = os.fork()
        if pid == 0:  # child
            try:
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        time.sleep(0.05)


def uid_processes(uid: int) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter(["uids"]):
        try:
            if p.info["uids"] and p.info["uids"].real == uid:
                out.append(p)
        except (psutil.Error, TypeError):
            continue
    return out


def kill_tree(root: psutil.Process) -> None:
    """Non-root fallback: SIGKILL ``root``'s descendants (not root itself)."""
    try:
        procs = root.children(recursive=True)
    except psutil.Error:
        return
    for p in procs:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=5)


class Watchdog(threading.Thread):
    """Polls the sandbox's processes; kills them all on timeout, memory or process overuse.

    ``reason`` is set (once) to ``timeout``, ``memory`` or ``process_limit`` before killing, so
    the worker can tell a limit from a crash when nbclient reports a dead kernel.
    """

    def __init__(self, uid: int | None, limits: Limits, interval: float = 0.2):
        super().__init__(daemon=True, name="gradlab-watchdog")
        self.uid = uid
        self.limits = limits
        self.interval = interval
        self.reason: str | None = None
        self.detail = ""
        self.peak_rss_mb = 0.0
        self.peak_procs = 0
        self._stop_event = threading.Event()
        self._started_at = time.monotonic()

    def _processes(self) -> list[psutil.Process]:
        if self.uid is not None:
            return uid_processes(self.uid)
        try:
            return psutil.Process().children(recursive=True)
        except psutil.Error:
            return []

    @staticmethod
    def _memory(procs: list[psutil.Process], proportional: bool) -> int:
        total = 0
        for p in procs:
            try:
                total += p.memory_full_info().pss if proportional else p.memory_info().rss
            except (psutil.Error, AttributeError):
                continue
        return total

    def fire(self, reason: str, detail: str) -> None:
        if self.reason is None:
            self.reason, self.detail = reason, detail
        self.kill()

    def kill(self) -> None:
        if self.uid is not None:
            kill_uid(self.uid)
        else:
            kill_tree(psutil.Process())

    def run(self) -> None:
        lim = self.limits
        while not self._stop_event.wait(self.interval):
            procs = self._processes()
            self.peak_procs = max(self.peak_procs, len(procs))
            if len(procs) > lim.max_procs:
                self.fire("process_limit", f"{len(procs)} processes (limit {lim.max_procs})")
                continue
            rss = self._memory(procs, proportional=False)
            if rss > lim.memory_mb * MB:
                # Forked children share pages: recount proportionally before deciding.
                rss = self._memory(procs, proportional=True)
            self.peak_rss_mb = max(self.peak_rss_mb, rss / MB)
            if rss > lim.memory_mb * MB:
                self.fire("memory", f"{rss / MB:.0f} MB resident (limit {lim.memory_mb} MB)")
                continue
            elapsed = time.monotonic() - self._started_at
            if elapsed > lim.timeout_s:
                self.fire("timeout", f"still running after {elapsed:.0f} s (limit {lim.timeout_s:.0f} s)")

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)


def kernel_env(sandbox: str) -> dict[str, str]:
    """The whole environment of a student kernel: nothing inherited from the grader."""
    bindir = os.path.dirname(sys.executable)
    return {
        "PATH": f"{bindir}:/usr/local/bin:/usr/bin:/bin",
        "HOME": sandbox,
        "USER": "student",
        "LOGNAME": "student",
        "LANG": "C.UTF-8",
        "TMPDIR": os.path.join(sandbox, "tmp"),
        "IPYTHONDIR": os.path.join(sandbox, ".ipython"),
        "MPLCONFIGDIR": os.path.join(sandbox, ".config", "matplotlib"),
        "JUPYTER_CONFIG_DIR": os.path.join(sandbox, ".jupyter"),
        "JUPYTER_DATA_DIR": os.path.join(sandbox, ".local", "share", "jupyter"),
        "JUPYTER_RUNTIME_DIR": os.path.join(sandbox, ".local", "share", "jupyter", "runtime"),
        "XDG_CACHE_HOME": os.path.join(sandbox, ".cache"),
        "GRADLAB_CACHE": os.path.join(sandbox, ".cache", "gradlab"),
        # One torch/BLAS thread per worker (DESIGN §6): N one-thread kernels on N cores.
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "GRADLAB_PROGRESS": "0",
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "NBGRADER_EXECUTION": "autograde",
        "JPY_PARENT_PID": str(os.getpid()),
    }


def exposure_plan() -> dict[str, list[str]]:
    """Directories on the way to the Python installation that other users cannot traverse.

    Returns ``{blocking_dir: [child_to_expose, ...]}`` for ``sandbox.enter_namespaces``. Empty
    when the interpreter, the venv and ``sys.path`` are reachable by any user (the usual case
    for a system or /opt Python; not for pyenv under /root).
    """
    needed = {sys.base_prefix, sys.prefix, sys.exec_prefix, os.path.realpath(sys.executable)}
    needed.update(p for p in sys.path if p and os.path.isdir(p))
    plan: dict[str, set[str]] = {}
    for path in sorted(os.path.realpath(p) for p in needed):
        parts = path.strip("/").split("/")
        cur = "/"
        for part in parts:
            try:
                mode = os.stat(cur).st_mode
            except OSError:
                break
            nxt = os.path.join(cur, part)
            if not mode & 0o001:
                plan.setdefault(cur, set()).add(nxt)
                break
            cur = nxt
    return {k: sorted(v) for k, v in plan.items()}


def python_reachable_without_help() -> bool:
    return not exposure_plan()


def write_spec(path: str, *, sandbox: str, uid: int | None, limits: Limits, hide: list[str],
               namespaces: bool, log: str) -> None:
    """The launcher's instructions for one kernel (read by ``autograder.sandbox``)."""
    spec = {
        "uid": uid,
        "gid": uid,
        "cwd": sandbox,
        "env": kernel_env(sandbox),
        "namespaces": namespaces,
        "isolate_net": namespaces,
        "hide": hide,
        "expose": exposure_plan() if namespaces else {},
        "connection_file": os.path.join(sandbox, ".kernel.json"),
        "log": log,
        "rlimits": {
            "as": (limits.memory_mb + 4096) * MB,
            "fsize": limits.fsize_mb * MB,
            "nofile": limits.nofile,
            "core": 0,
            **({"nproc": limits.nproc_rlimit} if uid is not None else {}),
        },
    }
    with open(path, "w") as f:
        json.dump(spec, f)


class SandboxKernelManager(AsyncKernelManager):
    """Starts the kernel through ``python -m autograder.sandbox`` with the spec in ``spec_file``.

    The kernel talks to us over unix sockets in its sandbox (``transport = ipc``) so that it can
    live in a network namespace without network; the connection file sits in the sandbox too and
    is handed to the sandbox uid by the launcher.
    """

    spec_file = Unicode("", config=True, help="JSON spec written by hardening.write_spec")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with open(self.spec_file) as f:
            spec = json.load(f)
        self.transport = "ipc"
        self.connection_file = spec["connection_file"]
        self.ip = os.path.join(spec["cwd"], ".k")

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        if os.path.realpath(cmd[0]) == os.path.realpath(sys.executable):
            cmd = [sys.executable, "-s"] + cmd[1:]
        return [sys.executable, "-m", "autograder.sandbox", self.spec_file, "--"] + cmd
