"""Shared pytest setup for gradlab's test suite.

* A quiet, headless, reproducible environment for every kernel the tests start (nbval, nbgrader,
  nbclient): ``MPLBACKEND=Agg``, ``GRADLAB_PROGRESS=0`` (no tqdm bars), and the venv's ``bin`` on
  ``PATH`` (nbgrader runs ``alembic`` by name when it creates a gradebook); ``OMP_NUM_THREADS``
  and ``MKL_NUM_THREADS`` at each xdist worker's share of the cores.
* nbval (``--nbval-lax`` over ``solutions/``, see ``[tool.pytest.ini_options]``): its sanitizer
  file, and the markers ``notebook`` + ``slow`` on every notebook cell item so that
  ``make test-fast`` (``-m "not slow and not browser"``) skips them.
* ``require(component, problem)``: every test that needs a component of the course's machinery
  (the grading sandbox, PostgreSQL, Node / configurable-http-proxy, Chromium, Playwright) asks
  through it. On a developer's machine a missing component skips the test; under ``CI=true`` it
  fails it with the cause, so that a green CI never hides a grading test that did not run.
* What many modules need and only read, made once per session: ``sandbox_problem()`` (the sandbox
  probe starts a sandbox that imports torch) and the ``tiny`` course (released with nbgrader).
  A fixture imported from another test module would be a second fixture of that module, run again.
"""
from __future__ import annotations

import collections
import functools
import json
import os
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:  # so test modules can `import nbcheck` / `import browser_utils`
    sys.path.insert(0, str(TESTS))

from coursekit import ROOT  # noqa: E402  (the checkout's root: one definition for every test module)

# Set at import time, before any kernel is started; an explicit setting in the caller's
# environment wins (e.g. MPLBACKEND=module://matplotlib_inline.backend_inline to see figures).
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("GRADLAB_PROGRESS", "0")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # debugpy's frozen-modules warning
# Torch's CPU kernels busy-wait for their OpenMP threads, so two processes that each take every
# core slow each other down 25x (one notebook's validation: 19 s alone with one thread, 609 s beside
# another with two). Each xdist worker, and every kernel, grader and server it starts, gets its
# share of the cores; one process alone gets them all. A value the caller set wins; the one this
# file set in xdist's controller (GRADLAB_TEST_THREADS says which) is replaced in its workers.
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
if all(os.environ.get(v) in (None, os.environ.get("GRADLAB_TEST_THREADS")) for v in _THREAD_VARS):
    _share = len(os.sched_getaffinity(0)) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    os.environ.update(dict.fromkeys(_THREAD_VARS + ("GRADLAB_TEST_THREADS",), str(max(1, _share))))
_venv_bin = str(Path(sys.executable).parent)
if _venv_bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = os.pathsep.join([_venv_bin, os.environ.get("PATH", "")])


COMPONENTS = ("sandbox", "postgresql", "node", "chromium", "playwright", "shared-environment")


def on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require(component: str, problem: str | None) -> None:
    """Go on when ``problem`` is None; else skip the test, or fail it under ``CI=true``.

    Args:
        component: one of ``COMPONENTS`` (what is missing, named in the message).
        problem: why it is missing (e.g. ``sandbox.check()``), or None when it is there.

    Examples:
        >>> require("sandbox", sandbox.check())          # doctest: +SKIP
        >>> require("chromium", None if os.path.exists("/usr/bin/chromium") else "no /usr/bin/chromium")  # doctest: +SKIP
    """
    if component not in COMPONENTS:
        raise ValueError(f"unknown component {component!r} (one of {COMPONENTS})")
    if problem is None:
        return
    message = f"{component} unavailable: {problem}"
    if on_ci():
        pytest.fail(message + " (CI=true: a missing component fails the test, it never skips)", pytrace=False)
    pytest.skip(message)


def pytest_configure(config):
    opt = config.option
    if getattr(opt, "nbval_lax", False) or getattr(opt, "nbval", False):
        if not getattr(opt, "nbval_sanitize_with", None):
            opt.nbval_sanitize_with = str(TESTS / "nbval_sanitize.cfg")


# `make test` runs the suite in worker processes (pytest-xdist, ``--dist loadscope``, with the scopes
# below). A module's tests stay together on one worker: most modules share an expensive module or
# session fixture (a graded class, a running hub, a browser) that a split would build twice. Each
# test of a module in EACH_TEST_ALONE is scheduled alone (the notebooks: two dozen independent
# executions of half a minute each). The workers take these units longest first, by
# tests/durations.json (a previous run's times: `python benchmarks/suite_times.py --durations
# tests/durations.json build/test-times.xml`), so that no long module starts last while the other
# worker sits idle.
EACH_TEST_ALONE = ("tests/test_notebooks.py",)
DURATIONS = TESTS / "durations.json"
UNKNOWN_TEST_S = 1.0   # a test the durations file does not know yet (new since it was written)


def junit_key(nodeid: str) -> str:
    """A test as JUnit XML names it, ``classname::name``: the key of tests/durations.json.

    Examples:
        >>> junit_key("tests/test_x.py::test_y[a/b.ipynb]")
        'tests.test_x::test_y[a/b.ipynb]'
        >>> junit_key("tests/test_x.py::TestZ::test_y")
        'tests.test_x.TestZ::test_y'
    """
    path, _, rest = nodeid.partition("::")
    parts = [path.removesuffix(".py").replace("/", "."), *rest.split("::")]
    return ".".join(parts[:-1]) + "::" + parts[-1]


def schedule_unit(nodeid: str) -> str:
    """What the test ``nodeid`` is scheduled with: its module, or itself alone (EACH_TEST_ALONE).

    Examples:
        >>> schedule_unit("tests/test_grading.py::test_case_outcome[full]")
        'tests/test_grading.py'
        >>> schedule_unit("tests/test_notebooks.py::test_blank_release[course/a/b.ipynb]")
        'tests/test_notebooks.py::test_blank_release[course/a/b.ipynb]'
    """
    module = nodeid.split("::")[0]
    return nodeid if module in EACH_TEST_ALONE else module


def pytest_xdist_make_scheduler(config, log):
    """``--dist loadscope`` with :func:`schedule_unit`'s scopes, in the workers' order (longest first)."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByUnit(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return schedule_unit(nodeid)

    return ByUnit(config, log)


def _longest_first(items) -> None:
    try:
        seconds = json.loads(DURATIONS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        seconds = {}
    cost: dict[str, float] = collections.defaultdict(float)
    for item in items:
        cost[schedule_unit(item.nodeid)] += seconds.get(junit_key(item.nodeid), UNKNOWN_TEST_S)
    items.sort(key=lambda item: -cost[schedule_unit(item.nodeid)])   # stable: a module's tests keep their order


def pytest_collection_modifyitems(config, items):
    try:
        from nbval.plugin import IPyNbCell
    except ImportError:  # nbval not installed: nothing of ours to mark
        IPyNbCell = ()
    for item in items:
        if isinstance(item, IPyNbCell):
            item.add_marker(pytest.mark.notebook)
            item.add_marker(pytest.mark.slow)
    if os.environ.get("PYTEST_XDIST_WORKER"):   # a worker: its collection is the order the units are handed out
        _longest_first(items)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """``artifacts/`` at the repository root (gitignored): screenshots and other test outputs."""
    path = ROOT / "artifacts"
    path.mkdir(exist_ok=True)
    return path


@functools.cache
def shared_environment_problem() -> str | None:
    """Why another user (the unprivileged grader, the class's members) cannot run this checkout's
    environment, or None. A checkout in a 0700 folder (root's home) is graded by root alone."""
    import sysconfig

    from autograder.sandbox import world_reachable
    for what, path in (("Python", os.path.realpath(sys.executable)), ("packages", sysconfig.get_paths()["purelib"]),
                       ("checkout", str(Path(__file__).resolve().parents[1]))):
        if not world_reachable(path):
            return (f"the environment's {what} ({path}) lies in a folder other users cannot traverse, so no "
                    "other user can run it: the unprivileged and class tests need a checkout every user can "
                    "reach (clone it under /srv, /opt or /tmp, then `make setup`)")
    return None


def seed_venv(venv: Path) -> bool:
    """Lay this run's environment into ``venv`` before ``make setup`` makes it there: site-packages
    hard-linked (copied across filesystems) without this checkout's editable ``gradlab``, and the
    console scripts (``alembic``, ``nbgrader``, ...) with their ``#!`` line pointing at ``venv``.
    No ``bin/python``: ``make setup`` creates the venv itself. False when the tests do not run
    from a venv (then ``make setup`` installs everything)."""
    if sys.prefix == sys.base_prefix:
        return False
    here = Path(sys.prefix)
    site = Path(sysconfig.get_paths()["purelib"])
    dest = venv / site.relative_to(here)
    dest.parent.mkdir(parents=True)
    own = ("__editable__.gradlab-", "__editable___gradlab_", "gradlab-")
    try:
        shutil.copytree(site, dest, copy_function=os.link, symlinks=True,
                        ignore=lambda d, names: [n for n in names if d == str(site) and n.startswith(own)])
    except OSError:   # another filesystem: a copy
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(site, dest, symlinks=True,
                        ignore=lambda d, names: [n for n in names if d == str(site) and n.startswith(own)])
    (venv / "bin").mkdir()
    old, new = str(here / "bin").encode(), str(venv / "bin").encode()
    for script in (here / "bin").iterdir():
        if script.is_symlink() or script.name.startswith(("python", "activate", "Activate")):
            continue
        data = script.read_bytes()
        target = venv / "bin" / script.name
        target.write_bytes(data.replace(old, new) if data.startswith(b"#!") else data)
        target.chmod(script.stat().st_mode & 0o7777)
    return True


_SHARED: list[str] = []


def shared_python() -> str:
    """An interpreter of this checkout's environment that every user can run, for the tests that
    grade as an unprivileged user: this one, or, for a checkout in a 0700 folder (root's home, where
    no other user can run anything), a world-reachable copy of the working tree whose ``.venv`` is
    seeded from this one (:func:`seed_venv`, hard links) plus the copy's own editable install;
    made once per session and removed at its end."""
    if shared_environment_problem() is None:
        return sys.executable
    if _SHARED:
        return _SHARED[0]
    import atexit
    import subprocess

    root = Path(__file__).resolve().parents[1]
    # not under /tmp: the sandbox mounts the environment at its own path, and a student's probe
    # for the grader's folders (/tmp/gradlab-*) must find nothing
    folder = Path(tempfile.mkdtemp(prefix="shared-env-", dir="/var/tmp" if os.path.isdir("/var/tmp") else None))
    atexit.register(shutil.rmtree, folder, True)
    folder.chmod(0o755)
    copy = folder / "gradlab"
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=root, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        src, dest = root / name, copy / name
        if src.is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
    venv = copy / ".venv"
    seed_venv(venv)
    subprocess.run([os.path.realpath(sys.executable), "-m", "venv", str(venv)], check=True, timeout=300)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "--no-deps", "--no-build-isolation", "-e", str(copy)], check=True, timeout=600)
    for path in [folder, *folder.rglob("*")]:   # every user reads it; nothing in it is secret
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | (0o755 if path.is_dir() else 0o444))
    _SHARED.append(str(venv / "bin" / "python"))
    return _SHARED[0]


@functools.cache
def sandbox_problem() -> str | None:
    """``sandbox.check()`` once per test session: each probe starts a sandbox that imports torch
    (seconds on a loaded machine), and whether bubblewrap works here does not change during a run.

    Examples:
        >>> require("sandbox", sandbox_problem())          # doctest: +SKIP
    """
    from autograder import sandbox
    return sandbox.check()


def png_outputs(output_widget) -> list[str]:
    """The base64 PNGs an ``ipywidgets.Output`` holds, in order: what a widget test compares to see a redraw."""
    return [o["data"]["image/png"] for o in output_widget.outputs if "image/png" in o.get("data", {})]


def world_dir(prefix: str) -> str:
    """A fresh scratch folder every user can read: the sandbox may run notebooks as another uid."""
    path = tempfile.mkdtemp(prefix=prefix)
    os.chmod(path, 0o755)
    return path


@pytest.fixture(scope="session")
def tiny():
    """The tiny course (``tests/grading/tiny_course.py``), released with nbgrader, in a world-readable
    folder: ``(source, release, hostile.Course)``. Every grading module grades against this one copy
    and none writes into it (the hostile batch checks that its source stays unchanged)."""
    from autograder import course
    from grading import hostile
    from grading import tiny_course as T

    root = world_dir("gradlab-tiny-")
    source = T.write_source(os.path.join(root, "source"))
    release = os.path.join(root, "release")
    course.release(source=source, release_dir=release)
    for dirpath, dirs, files in os.walk(root):
        for n in dirs:
            os.chmod(os.path.join(dirpath, n), 0o755)
        for n in files:
            os.chmod(os.path.join(dirpath, n), 0o644)
    yield source, release, hostile.Course(source, release)
    shutil.rmtree(root, ignore_errors=True)
