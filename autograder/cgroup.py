"""One memory + process cgroup per notebook: the limit holds for the sandbox as a whole.

RLIMIT_AS bounds each process; a notebook that forks N children, or fills its tmpfs mounts
(tmpfs pages are charged to the cgroup of the process that writes them), would hold N times the
limit. A cgroup counts every page of every process of the sandbox together:

* **root, cgroup v2** (``/sys/fs/cgroup`` or a ``cgroup2`` mount with the ``memory`` and ``pids``
  controllers): ``<mount>/gradlab/<name>`` with ``memory.max``, ``memory.swap.max = 0`` and
  ``pids.max``; the OOM kills are read from ``memory.events``;
* **root, cgroup v1** (hybrid hosts, containers): ``<own memory cgroup>/gradlab-<name>`` with
  ``memory.limit_in_bytes`` (+ ``memsw`` where swap accounting exists) and ``pids.max`` in the
  ``pids`` hierarchy; OOM kills from ``memory.oom_control``;
* **unprivileged**: a transient ``systemd-run --user --scope`` with ``MemoryMax`` and
  ``TasksMax`` where the user's systemd manager has the memory controller delegated; elsewhere
  there is no cgroup the user may create, and only the per-process rlimits hold
  (``doctor`` says which of these applies on this host: ``describe()``).

The grading parent joins the child to the cgroup between ``fork`` and ``exec`` (``join``), so
bwrap and everything the notebook starts are inside it from their first instruction.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import time
import uuid

from .limits import MB, Limits

V2_ROOTS = ("/sys/fs/cgroup", "/sys/fs/cgroup/unified")
V1_ROOT = "/sys/fs/cgroup"


def _read_control(path: str) -> str:
    try:
        with open(path, encoding="ascii") as f:
            return f.read()
    except OSError:
        return ""


def _write_control(path: str, value: str) -> None:
    with open(path, "w", encoding="ascii") as f:
        f.write(value)


def _own(hierarchy: str) -> str | None:
    """This process's cgroup path in a v1 ``hierarchy`` ("memory") or in v2 (``""``)."""
    for line in _read_control("/proc/self/cgroup").splitlines():
        num, controllers, path = line.split(":", 2)
        if (hierarchy == "" and num == "0") or hierarchy in controllers.split(","):
            return path
    return None


def _v2_root() -> str | None:
    """A cgroup2 mount whose root offers memory and pids, or None."""
    for root in V2_ROOTS:
        ctl = _read_control(os.path.join(root, "cgroup.controllers")).split()
        if "memory" in ctl and "pids" in ctl:
            return root
    return None


def _v1_dirs() -> tuple[str, str] | None:
    """(memory cgroup, pids cgroup) of this process in the v1 hierarchies, or None."""
    mem, pids = _own("memory"), _own("pids")
    if mem is None or pids is None:
        return None
    mdir, pdir = os.path.join(V1_ROOT, "memory", mem.lstrip("/")), os.path.join(V1_ROOT, "pids", pids.lstrip("/"))
    if not (os.path.isfile(os.path.join(mdir, "memory.limit_in_bytes")) and os.path.isdir(pdir)):
        return None
    return mdir, pdir


def _systemd_user() -> str | None:
    """None when ``systemd-run --user --scope`` can put a memory limit on a scope; else why not."""
    if shutil.which("systemd-run") is None:
        return "systemd-run is not installed"
    if not os.environ.get("XDG_RUNTIME_DIR") and not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return "no systemd user session (no XDG_RUNTIME_DIR: log in through PAM, or `loginctl enable-linger`)"
    uid = os.getuid()
    manager = f"/sys/fs/cgroup/user.slice/user-{uid}.slice/user@{uid}.service/cgroup.controllers"
    if "memory" not in _read_control(manager).split():
        return f"the memory controller is not delegated to user {uid}'s systemd manager ({manager})"
    try:
        proc = subprocess.run(["systemd-run", "--user", "--scope", "--quiet", "-p", "MemoryMax=64M", "true"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"systemd-run --user --scope failed: {e}"
    return None if proc.returncode == 0 else f"systemd-run --user --scope failed: {proc.stderr.strip()[-200:]}"


def mode() -> tuple[str, str]:
    """(kind, reason): kind is "v2", "v1", "systemd-user" or "none" (reason says why not)."""
    if os.geteuid() == 0:
        root = _v2_root()
        if root and os.access(root, os.W_OK):
            return "v2", f"cgroup v2 at {root}"
        dirs = _v1_dirs()
        if dirs and os.access(dirs[0], os.W_OK) and os.access(dirs[1], os.W_OK):
            return "v1", f"cgroup v1 memory and pids hierarchies ({dirs[0]})"
        return "none", "no writable cgroup v2 with memory+pids, nor cgroup v1 memory and pids hierarchies"
    why = _systemd_user()
    if why is None:
        return "systemd-user", "systemd-run --user --scope (delegated memory controller)"
    return "none", f"running unprivileged and {why}"


def describe() -> str:
    """One line for ``doctor``: does the memory limit hold for the whole sandbox here, and why."""
    kind, reason = mode()
    if kind == "none":
        return (f"cgroup memory limit: NO ({reason}); each process of a notebook is limited to --memory by "
                "RLIMIT_AS, so a notebook's processes together, and the tmpfs it fills, can exceed it (grade as "
                "root, or as a user with a systemd session whose memory controller is delegated)")
    return f"cgroup memory limit: yes, per notebook ({reason}): memory, tmpfs and processes of the whole sandbox"


@dataclasses.dataclass
class Scope:
    """One notebook's cgroup (or systemd scope): joined by the child before exec, read and removed after."""
    kind: str
    dirs: tuple[str, ...] = ()          # the cgroup folders we created (v1: memory, pids; v2: one)
    prefix: tuple[str, ...] = ()        # systemd-run argv put before bwrap's
    oom_kills: int = 0

    @classmethod
    def create(cls, limits: Limits) -> Scope:
        """A fresh scope for one sandbox (kind "none" joins nothing)."""
        kind, _ = mode()
        name = "nb-" + uuid.uuid4().hex[:12]
        mem, procs = str(limits.memory_mb * MB), str(limits.max_procs)
        try:
            if kind == "v2":
                parent = os.path.join(_v2_root(), "gradlab")
                os.makedirs(parent, exist_ok=True)
                _sweep(parent, "nb-")
                _enable(os.path.dirname(parent))
                _enable(parent)
                d = os.path.join(parent, name)
                os.mkdir(d)
                _write_control(os.path.join(d, "memory.max"), mem)
                _try_write(os.path.join(d, "memory.swap.max"), "0")
                _write_control(os.path.join(d, "pids.max"), procs)
                return cls(kind, (d,))
            if kind == "v1":
                mdir, pdir = _v1_dirs()
                _sweep(mdir, "gradlab-nb-")
                _sweep(pdir, "gradlab-nb-")
                m, p = os.path.join(mdir, "gradlab-" + name), os.path.join(pdir, "gradlab-" + name)
                os.mkdir(m)
                os.mkdir(p)
                _write_control(os.path.join(m, "memory.limit_in_bytes"), mem)
                _try_write(os.path.join(m, "memory.memsw.limit_in_bytes"), mem)
                _write_control(os.path.join(p, "pids.max"), procs)
                return cls(kind, (m, p))
            if kind == "systemd-user":
                return cls(kind, prefix=("systemd-run", "--user", "--scope", "--quiet", "--collect",
                                         "-p", f"MemoryMax={mem}", "-p", "MemorySwapMax=0", "-p", f"TasksMax={procs}"))
        except OSError:
            pass
        return cls("none")

    def join(self) -> None:
        """In the forked child, before exec: move this process (and so all it starts) into the cgroup."""
        for d in self.dirs:
            _write_control(os.path.join(d, "cgroup.procs"), "0")

    def read_oom(self) -> int:
        """OOM kills in the cgroup so far (kept in ``oom_kills``)."""
        if self.kind == "v2":
            text = _read_control(os.path.join(self.dirs[0], "memory.events"))
        elif self.kind == "v1":
            text = _read_control(os.path.join(self.dirs[0], "memory.oom_control"))
        else:
            return self.oom_kills
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                self.oom_kills = max(self.oom_kills, int(value))
        return self.oom_kills

    def close(self) -> None:
        """Kill what is left in the cgroup and remove it (the sandbox's PID namespace is gone by now;
        a process that held gigabytes can take seconds to finish exiting on a busy host)."""
        self.read_oom()
        for d in self.dirs:
            for _ in range(500):
                pids = _read_control(os.path.join(d, "cgroup.procs")).split()
                for pid in pids:
                    try:
                        os.kill(int(pid), 9)
                    except (OSError, ValueError):
                        pass
                try:
                    os.rmdir(d)
                    break
                except OSError:
                    time.sleep(0.02)


STALE_S = 600   # an empty cgroup of ours this old was left behind (a new one is empty for milliseconds)


def _sweep(folder: str, prefix: str) -> None:
    """Remove empty cgroups a killed grader left behind. rmdir fails on one in use; a fresh one,
    still empty while its notebook starts (another slot, another batch), is too young to touch."""
    try:
        names = [n for n in os.listdir(folder) if n.startswith(prefix)]
    except OSError:
        return
    for n in names:
        path = os.path.join(folder, n)
        try:
            if time.time() - os.stat(path).st_ctime > STALE_S:
                os.rmdir(path)
        except OSError:
            pass


def _enable(folder: str) -> None:
    """``+memory +pids`` in ``folder``'s subtree_control (already there on systemd hosts)."""
    have = _read_control(os.path.join(folder, "cgroup.subtree_control")).split()
    if "memory" not in have or "pids" not in have:
        _write_control(os.path.join(folder, "cgroup.subtree_control"), "+memory +pids")


def _try_write(path: str, value: str) -> None:
    try:
        _write_control(path, value)
    except OSError:
        pass  # no swap accounting on this kernel: memory alone is limited
