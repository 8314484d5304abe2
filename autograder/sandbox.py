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

import dataclasses
import importlib.util
import os
import resource
import shutil
import stat
import struct
import subprocess
import sys
import sysconfig

from .files import world_readable_copy
from .limits import MB, Limits

RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runner.py")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GRADLAB_SRC = os.path.join(REPO_ROOT, "src", "gradlab")
LOCALE_DIR = os.path.join(REPO_ROOT, "locale")   # where gradlab.i18n looks, beside src/
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
    return world_readable_copy([os.path.join(src, n) for n in sorted(os.listdir(src)) if not n.startswith(".")
                                and os.path.isfile(os.path.join(src, n)) and not os.path.islink(os.path.join(src, n))
                                and os.path.getsize(os.path.join(src, n)) < 100 * MB], dest)


def sandbox_uid(slot: int) -> int | None:
    """The uid a slot's sandboxes run as: a private one as root, the caller's own otherwise."""
    return UID_BASE + slot if os.geteuid() == 0 and not root_mapped() else None


@dataclasses.dataclass
class Launch:
    """A bwrap command line and the descriptors it names (``--seccomp``): the
    parent passes ``fds`` to the child (``pass_fds``) and closes them once bwrap has started."""
    argv: list[str]
    fds: list[int] = dataclasses.field(default_factory=list)

    def close(self) -> None:
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = []


def _bind(launch: Launch, path: str, dest: str) -> None:
    launch.argv += ["--ro-bind", path, dest]


def private_paths() -> list[str]:
    """What the sandbox binds that other users cannot reach (a checkout in root's 0700 home)."""
    return [p for p in (site_packages(), GRADLAB_SRC, RUNNER, *messages_catalogs()) if not world_reachable(p)]


def messages_catalog(lang: str) -> str | None:
    """gradlab's own messages in ``lang`` (``locale/<lang>/LC_MESSAGES/gradlab.po``), if it has them."""
    path = os.path.join(LOCALE_DIR, sandbox_language(lang), "LC_MESSAGES", "gradlab.po")
    return path if sandbox_language(lang) != "en" and os.path.isfile(path) else None


def messages_catalogs() -> list[str]:
    from .i18n import LANGUAGES

    return [p for p in map(messages_catalog, LANGUAGES) if p]


def root_mapped() -> bool:
    """As root with a private checkout, bwrap itself runs as root (it can open the private paths) and
    the sandbox's uid is mapped to root outside, with every capability dropped (``--cap-drop ALL``,
    no_new_privs, ``--disable-userns``): it reaches only the read-only binds and its tmpfs, as the
    private uid would. Elsewhere bwrap starts as the private uid (``sandbox_uid``)."""
    return os.geteuid() == 0 and bool(private_paths())


def command(limits: Limits, assignment_dir: str | None = None, inner: list[str] | None = None,
            cache_dir: str | None = None, slot: int = 0, lang: str = "en") -> Launch:
    """The bwrap command line that runs ``runner.py`` (or ``python *inner``) in a fresh sandbox.

    ``cache_dir``: a world-readable copy of the grader's generated datasets (see ``copy_cache``).
    Every writable place is a tmpfs of ``limits.tmpfs_mb``; ``/`` and ``/dev`` are read-only (an
    unsized tmpfs there could take half of the host's RAM); the keyring system calls are denied
    (``keyring_filter``). ``lang``: the language of the submission (``GRADLAB_LANG``, so that the
    visible tests' messages are the student's); it comes from the student's file, so anything but a
    course language is English."""
    python, extra = interpreter()
    site = site_packages()
    size = str(limits.tmpfs_mb * MB)
    launch = Launch(["bwrap", "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session",
                     "--disable-userns", "--hostname", "grader",
                     "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
                     "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
                     "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
                     "--ro-bind-try", "/etc/fonts", "/etc/fonts",
                     "--proc", "/proc", "--dev", "/dev",
                     "--size", size, "--tmpfs", "/tmp", "--size", size, "--tmpfs", "/dev/shm",
                     "--size", size, "--tmpfs", "/home/student", "--size", size, "--tmpfs", "/notebook"])
    if root_mapped():
        uid = str(UID_BASE + slot)
        launch.argv += ["--uid", uid, "--gid", uid, "--cap-drop", "ALL"]
    for path in extra:
        _bind(launch, path, path)
    for path, dest in ((site, site), (GRADLAB_SRC, GRADLAB_SRC), (RUNNER, "/opt/gradlab/runner.py")):
        _bind(launch, path, dest)
    catalog = messages_catalog(lang)
    if catalog:   # only the catalog of the run's language: gradlab.i18n finds it beside src/ as on the host
        _bind(launch, catalog, catalog)
    if cache_dir:
        _bind(launch, cache_dir, "/opt/gradlab-cache")
    if assignment_dir:
        _bind(launch, assignment_dir, "/assignment")
    filt = keyring_filter_fd()
    if filt is not None:
        launch.fds.append(filt)
        launch.argv += ["--seccomp", str(filt)]
    launch.argv += ["--remount-ro", "/dev", "--remount-ro", "/",
                    "--chdir", "/notebook", "--clearenv",
                    "--setenv", "HOME", "/home/student", "--setenv", "PATH", "/usr/bin:/bin",
                    "--setenv", "OMP_NUM_THREADS", "1", "--setenv", "MKL_NUM_THREADS", "1",
                    "--setenv", "MPLBACKEND", "Agg", "--setenv", "GRADLAB_PROGRESS", "0",
                    "--setenv", "PYTHONDONTWRITEBYTECODE", "1", "--setenv", "LANG", "C.UTF-8",
                    "--setenv", "GRADLAB_LANG", sandbox_language(lang),
                    python] + (inner if inner is not None else ["-s", "-B", "/opt/gradlab/runner.py", site])
    return launch


def sandbox_language(lang: str | None) -> str:
    """``lang`` if the course has an edition in it, else ``"en"`` (the value reaches an environment variable)."""
    from .i18n import LANGUAGES

    return lang if lang in LANGUAGES else "en"


# -- the keyring ---------------------------------------------------------------------------------
# The kernel keyring is not namespaced by bwrap: a sandbox started from a login session (pam_keyinit)
# or a systemd service shares that session keyring with the grader. The sandbox gets a fresh anonymous
# session keyring (``preexec``) and a seccomp filter that fails add_key, request_key and keyctl with
# EPERM, so a notebook can neither read the instructor's keys nor leave one for the next notebook.
_KEYRING_SYSCALLS = {  # audit arch -> (add_key, request_key, keyctl), syscall-number mask
    "x86_64": [(0xC000003E, (248, 249, 250), 0xBFFFFFFF),   # x32 calls carry bit 30: masked off
               (0x40000003, (286, 287, 288), None)],       # i386 compat
    "aarch64": [(0xC00000B7, (217, 218, 219), None), (0x40000028, (309, 310, 311), None)],
}
_BPF_LD_W_ABS, _BPF_JEQ_K, _BPF_AND_K, _BPF_RET_K = 0x20, 0x15, 0x54, 0x06
_RET_ALLOW, _RET_EPERM, _RET_ENOSYS = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38
KEYCTL_JOIN_SESSION_KEYRING = 1


def keyring_filter() -> bytes | None:
    """A classic-BPF seccomp program (``struct sock_filter[]``, as ``bwrap --seccomp`` reads it):
    the keyring calls of every ABI of this machine fail with EPERM, any other ABI gets ENOSYS for
    everything, the rest is allowed. None on an architecture not listed here."""
    arches = _KEYRING_SYSCALLS.get(os.uname().machine)
    if arches is None:
        return None

    def op(code, k, jt=0, jf=0):
        return struct.pack("=HBBI", code, jt, jf, k)

    prog = [op(_BPF_LD_W_ABS, 4)]                       # seccomp_data.arch
    for arch, numbers, mask in arches:
        block = [op(_BPF_LD_W_ABS, 0)] + ([op(_BPF_AND_K, mask)] if mask else [])   # seccomp_data.nr
        block += [op(_BPF_JEQ_K, n, jt=len(numbers) - i) for i, n in enumerate(numbers)]
        block += [op(_BPF_RET_K, _RET_ALLOW), op(_BPF_RET_K, _RET_EPERM)]
        prog += [op(_BPF_JEQ_K, arch, jf=len(block))] + block
    prog.append(op(_BPF_RET_K, _RET_ENOSYS))
    return b"".join(prog)


def keyring_filter_fd() -> int | None:
    """A memfd holding ``keyring_filter()`` at offset 0 (bwrap reads it to the end), or None."""
    prog = keyring_filter()
    if prog is None:
        return None
    fd = os.memfd_create("gradlab-seccomp", 0)
    os.write(fd, prog)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _fresh_session_keyring() -> None:
    """keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL): this process leaves the grader's session keyring."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        nr = {"x86_64": 250, "aarch64": 219}.get(os.uname().machine)
        if nr is not None:
            libc.syscall(nr, KEYCTL_JOIN_SESSION_KEYRING, None)
    except OSError:
        pass  # no keyring support in this kernel: nothing to share either


def unsafe_env(lang: str = "en") -> dict:
    """The environment of ``--unsafe-no-sandbox``'s runner: the grader's own, in the submission's language."""
    return {**os.environ, "GRADLAB_LANG": sandbox_language(lang)}


def unsafe_command() -> list[str]:
    """``--unsafe-no-sandbox``: the runner in a plain subprocess (no isolation at all)."""
    return [sys.executable, "-s", "-B", RUNNER, site_packages()]


def preexec(uid: int | None, limits: Limits, scope=None):
    """What the forked child does before exec'ing bwrap: join the notebook's cgroup (``scope``, an
    ``autograder.cgroup.Scope``, while still root), drop to ``uid`` (as root), leave the grader's
    session keyring, and set rlimits.

    RLIMIT_NPROC is set by the runner once inside the sandbox's user namespace, where it counts
    the sandbox's own tasks only (set here, it would count every process of the uid)."""
    def apply():
        if scope is not None:
            scope.join()
        if uid is not None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        _fresh_session_keyring()
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
        proc = subprocess.run(probe.argv, preexec_fn=preexec(sandbox_uid(0), limits), capture_output=True,
                              text=True, timeout=300, pass_fds=probe.fds)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bubblewrap could not start: {e}"
    finally:
        probe.close()
    if proc.returncode != 0:
        err = proc.stderr.strip().splitlines()[-1:] or ["(no message)"]
        hint = ""
        if "namespace" in proc.stderr or "Operation not permitted" in proc.stderr:
            hint = (" — unprivileged user namespaces look disabled (check sysctl kernel.unprivileged_userns_clone=1, "
                    "user.max_user_namespaces > 0, and AppArmor's kernel.apparmor_restrict_unprivileged_userns=0)")
        return f"the sandbox did not start: {err[0]}{hint}"
    return None
