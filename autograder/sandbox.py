"""One fresh bubblewrap sandbox per notebook: the command line, the unprivileged uid, the limits.

What the sandbox sees (an allow-list, everything read-only unless said otherwise):

* ``/usr`` (system libraries; ``/lib``, ``/bin`` as symlinks), ``/etc/fonts``, ``/etc/ld.so.cache``;
* the Python interpreter's installation and the environment's ``site-packages``;
* the repository's ``src/gradlab`` (the course's helpers) and ``autograder/runner.py`` only —
  never ``solutions/``, ``.git``, OUT, the gradebook or another submission;
* the grader's generated-data cache at ``/opt/gradlab-cache`` (copied into HOME by the runner);
* fresh, size-capped tmpfs ``HOME``, ``/tmp``, ``/dev/shm`` and ``/notebook`` (the notebook's working
  dir: the only writable place; it vanishes with the sandbox).

Namespaces: user, PID, IPC, UTS, network, mount, cgroup. ``--die-with-parent`` and PID
namespace: when the runner ends or is killed, every process it left behind dies with it.
As root the sandbox runs as an unprivileged uid of its own (one per slot, so that RLIMIT_NPROC
of one notebook cannot starve another); unprivileged, as the invoking user. Same code path.
"""
from __future__ import annotations

import importlib.util
import os
import resource
import shutil
import stat
import subprocess
import sys
import sysconfig

from .limits import MB, Limits

RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runner.py")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GRADLAB_SRC = os.path.join(REPO_ROOT, "src", "gradlab")
UID_BASE = 2_000_100_000  # sandbox uids when the grader runs as root: UID_BASE + slot


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot start here; the message names the cause and the fix."""


def world_reachable(path: str) -> bool:
    """Other users can reach ``path``: every directory above its real path is searchable by
    others, and it is readable by others (and searchable or executable, if it is a directory or
    an executable). No interpreter inside a 0700 home. ``tools/pick_python.py`` uses this rule
    when ``make`` builds ``.venv``."""
    path = os.path.realpath(path)
    parts = path.split(os.sep)
    try:
        for i in range(1, len(parts)):
            if not os.stat(os.sep.join(parts[:i]) or os.sep).st_mode & stat.S_IXOTH:
                return False
        mode = os.stat(path).st_mode
    except OSError:
        return False
    needs_x = stat.S_ISDIR(mode) or mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return bool(mode & stat.S_IROTH) and (not needs_x or bool(mode & stat.S_IXOTH))


def interpreter() -> tuple[str, list[str]]:
    """The environment's interpreter, and the folders the sandbox must bind for it.

    As root the sandbox runs as another uid, which must reach the interpreter: ``make`` builds
    ``.venv`` from a Python every user can run (``tools/pick_python.py``). An environment built on
    a Python inside a private home (a pyenv under a 0700 ``/root``) is refused, with the fix.
    Unprivileged, the sandbox runs as the caller, who reaches their own interpreter anyway.
    """
    real = os.path.realpath(sys.executable)
    if os.geteuid() == 0 and not world_reachable(real):
        raise SandboxUnavailable(
            f"the environment's Python {real} lies in a directory other users cannot traverse, so the "
            "sandbox's unprivileged uid cannot run it; rebuild the environment from a Python every user "
            "can run: `make clean setup` (tools/pick_python.py picks one)")
    base = os.path.realpath(sys.base_prefix)
    return real, ([] if base == "/usr" or base.startswith("/usr/") else [base])  # /usr is bound whole


def site_packages() -> str:
    """The environment's site-packages: where torch is installed (also when this process runs on
    a system interpreter that found the environment through ``site.addsitedir``)."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.origin:
        return os.path.realpath(sysconfig.get_paths()["purelib"])
    return os.path.realpath(os.path.dirname(os.path.dirname(spec.origin)))


def data_cache() -> str | None:
    path = os.environ.get("GRADLAB_CACHE")
    if not path:
        try:
            import platformdirs
            path = platformdirs.user_cache_dir("gradlab")
        except ImportError:
            return None
    return path if os.path.isdir(path) else None


def copy_cache(dest: str) -> str | None:
    """A world-readable copy of the generated-data cache in ``dest`` (the grader's own run dir),
    so that no sandbox spends seconds regenerating MNIST-1D; None when there is nothing to copy."""
    src = data_cache()
    if not src:
        return None
    names = [n for n in os.listdir(src) if not n.startswith(".") and os.path.isfile(os.path.join(src, n))
             and not os.path.islink(os.path.join(src, n)) and os.path.getsize(os.path.join(src, n)) < 100 * MB]
    if not names:
        return None
    os.makedirs(dest, mode=0o755)
    os.chmod(dest, 0o755)
    for n in names:
        shutil.copy(os.path.join(src, n), os.path.join(dest, n))
        os.chmod(os.path.join(dest, n), 0o644)
    return dest


def sandbox_uid(slot: int) -> int | None:
    """The uid a slot's sandboxes run as: a private one as root, the caller's own otherwise."""
    return UID_BASE + slot if os.geteuid() == 0 else None


def command(limits: Limits, assignment_dir: str | None = None, inner: list[str] | None = None,
            cache_dir: str | None = None) -> list[str]:
    """The bwrap command line that runs ``runner.py`` (or ``python *inner``) in a fresh sandbox.

    ``cache_dir``: a world-readable copy of the grader's generated datasets (see ``copy_cache``)."""
    python, extra = interpreter()
    site = site_packages()
    size = str(limits.tmpfs_mb * MB)
    argv = ["bwrap", "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session",
            "--disable-userns", "--hostname", "grader",
            "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
            "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
            "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache", "--ro-bind-try", "/etc/fonts", "/etc/fonts",
            "--proc", "/proc", "--dev", "/dev",
            "--size", size, "--tmpfs", "/tmp", "--size", size, "--tmpfs", "/dev/shm",
            "--size", size, "--tmpfs", "/home/student", "--size", size, "--tmpfs", "/notebook"]
    for path in extra:
        argv += ["--ro-bind", path, path]
    argv += ["--ro-bind", site, site, "--ro-bind", GRADLAB_SRC, GRADLAB_SRC,
             "--ro-bind", RUNNER, "/opt/gradlab/runner.py"]
    if cache_dir:
        argv += ["--ro-bind", cache_dir, "/opt/gradlab-cache"]
    if assignment_dir:
        argv += ["--ro-bind", assignment_dir, "/assignment"]
    argv += ["--chdir", "/notebook", "--clearenv",
             "--setenv", "HOME", "/home/student", "--setenv", "PATH", "/usr/bin:/bin",
             "--setenv", "OMP_NUM_THREADS", "1", "--setenv", "MKL_NUM_THREADS", "1",
             "--setenv", "MPLBACKEND", "Agg", "--setenv", "GRADLAB_PROGRESS", "0",
             "--setenv", "PYTHONDONTWRITEBYTECODE", "1", "--setenv", "LANG", "C.UTF-8",
             python] + (inner if inner is not None else ["-s", "-B", "/opt/gradlab/runner.py", site])
    return argv


def unsafe_command() -> list[str]:
    """``--unsafe-no-sandbox``: the runner in a plain subprocess (no isolation at all)."""
    return [sys.executable, "-s", "-B", RUNNER, site_packages()]


def preexec(uid: int | None, limits: Limits):
    """What the forked child does before exec'ing bwrap: drop to ``uid`` (as root) and set rlimits.

    RLIMIT_NPROC is set by the runner once inside the sandbox's user namespace, where it counts
    the sandbox's own tasks only (set here, it would count every process of the uid)."""
    def apply():
        if uid is not None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        for res, value in ((resource.RLIMIT_AS, limits.memory_mb * MB),
                           (resource.RLIMIT_FSIZE, limits.fsize_mb * MB),
                           (resource.RLIMIT_NOFILE, limits.nofile),
                           (resource.RLIMIT_CORE, 0),
                           (resource.RLIMIT_CPU, int(limits.timeout_s) + 5)):
            resource.setrlimit(res, (value, value))
    return apply


def check(limits: Limits | None = None) -> str | None:
    """None when a sandbox starts here and imports torch; otherwise the cause, in words."""
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    try:
        interpreter()
    except SandboxUnavailable as e:
        return str(e)
    limits = limits or Limits()
    probe = command(limits, inner=["-s", "-c", f"import site; site.addsitedir({site_packages()!r}); "
                                                "import torch, IPython, gradlab.observe"])
    try:
        proc = subprocess.run(probe, preexec_fn=preexec(sandbox_uid(0), limits), capture_output=True,
                              text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bubblewrap could not start: {e}"
    if proc.returncode != 0:
        err = proc.stderr.strip().splitlines()[-1:] or ["(no message)"]
        hint = ""
        if "namespace" in proc.stderr or "Operation not permitted" in proc.stderr:
            hint = (" — unprivileged user namespaces look disabled (check sysctl kernel.unprivileged_userns_clone=1, "
                    "user.max_user_namespaces > 0, and AppArmor's kernel.apparmor_restrict_unprivileged_userns=0)")
        return f"the sandbox did not start: {err[0]}{hint}"
    return None
