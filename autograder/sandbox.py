"""Kernel launcher: ``python -m autograder.sandbox SPEC.json -- KERNEL ARGV...``.

The grading worker (running as root) starts every student kernel through this tiny launcher
instead of the kernelspec's argv directly (see ``hardening.SandboxKernelManager``). While it is
still root, the launcher

1. optionally enters a private mount namespace and covers the paths student code must not see
   (``solutions/``, the submissions and output folders, the course gradebook, ...) with empty,
   read-only mounts, and a private network namespace (the kernel talks to the worker over unix
   sockets, so it needs no network; student code then has none either: nothing can leave the
   machine, nothing can reach another kernel's ports);
2. hands the connection file to the sandbox user and points the kernel's raw stdout/stderr at a
   log file (capped by RLIMIT_FSIZE);
3. sets resource limits (address space, processes, file size, open files, no core dumps);
4. drops privileges to the per-slot sandbox uid/gid (no supplementary groups), so the kernel
   cannot write anything owned by root: the repository, the grader's private temp course dir
   and gradebook, other slots' sandboxes;
5. replaces itself (``execve``) with the kernel, with a clean environment.

Only the standard library is imported: this runs once per submission and must start fast.
``--probe`` checks whether namespaces can be created here (root in a container may lack
CAP_SYS_ADMIN); the worker falls back to permissions only when they cannot.
"""
from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18

_RLIMITS = {
    "as": resource.RLIMIT_AS,
    "nproc": resource.RLIMIT_NPROC,
    "fsize": resource.RLIMIT_FSIZE,
    "nofile": resource.RLIMIT_NOFILE,
    "core": resource.RLIMIT_CORE,
}


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(libc, source, target, fstype, flags, data) -> None:
    enc = lambda s: None if s is None else os.fsencode(s)  # noqa: E731
    _check(libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {target}")


def enter_namespaces(hide: list[str], isolate_net: bool, expose: dict[str, list[str]]) -> None:
    """Private mount (and network) namespace; cover every path in ``hide`` with an empty mount.

    ``expose`` maps a directory the sandbox user cannot traverse (typically ``/root`` when Python
    lives in ``/root/.pyenv``) to the children it needs (the Python installation): the directory
    is covered by an empty tmpfs (so the rest of it stays invisible) and only those children are
    bind-mounted back.
    """
    libc = _libc()
    _check(libc.unshare(CLONE_NEWNS | (CLONE_NEWNET if isolate_net else 0)), "unshare")
    # Our mounts must not propagate back to the host's namespace.
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE, None)
    for cover, children in expose.items():
        fds = [(child, os.open(child, os.O_PATH)) for child in children]
        _mount(libc, "tmpfs", cover, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755")
        for child, fd in fds:
            target = os.path.join(cover, os.path.basename(child))
            if os.path.isdir(f"/proc/self/fd/{fd}"):
                os.mkdir(target)
            else:
                open(target, "w").close()
            _mount(libc, f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC, None)
            os.close(fd)
        _mount(libc, None, cover, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, None)
    for path in hide:
        if os.path.isdir(path) and not os.path.islink(path):
            _mount(libc, "tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                   "size=4k,mode=0500")
        elif os.path.exists(path):
            _mount(libc, os.devnull, path, None, MS_BIND, None)
            _mount(libc, None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY, None)


def launch(spec: dict, argv: list[str]) -> None:
    """Apply ``spec`` (written by hardening.SandboxKernelManager) and exec the kernel ``argv``."""
    os.umask(0o077)
    uid, gid = spec.get("uid"), spec.get("gid")
    if spec.get("namespaces"):
        enter_namespaces(spec.get("hide", []), spec.get("isolate_net", False), spec.get("expose", {}))
    if uid is not None:
        os.chown(spec["connection_file"], uid, gid)
    # Raw fd output of the kernel (not what print() sends to the notebook) goes to a capped log.
    log = os.open(spec["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)
    # Writing past RLIMIT_FSIZE must fail with EFBIG, not kill the kernel with SIGXFSZ.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    for name, value in spec.get("rlimits", {}).items():
        resource.setrlimit(_RLIMITS[name], (value, value))
    if uid is not None:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    os.chdir(spec["cwd"])
    os.execve(argv[0], argv, spec["env"])


def probe() -> int:
    """Exit status 0 when a mount + network namespace with a tmpfs mount can be created here."""
    try:
        libc = _libc()
        _check(libc.unshare(CLONE_NEWNS | CLONE_NEWNET), "unshare")
        _mount(libc, None, "/", None, MS_REC | MS_PRIVATE, None)
        target = os.path.dirname(os.path.abspath(__file__))
        _mount(libc, "tmpfs", target, "tmpfs", MS_RDONLY, "size=4k")
        return 0 if not os.listdir(target) else 1
    except OSError:
        return 1


def main(argv: list[str]) -> int:
    if argv[1:] == ["--probe"]:
        return probe()
    if len(argv) < 4 or argv[2] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        spec = json.load(f)
    launch(spec, argv[3:])
    return 1  # not reached: execve replaced us


if __name__ == "__main__":
    sys.exit(main(sys.argv))
