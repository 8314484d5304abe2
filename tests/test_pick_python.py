"""tools/pick_python.py: ``make`` builds .venv from a Python every user can run (the sandbox runs it as another uid)."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from coursekit import ROOT

from autograder import sandbox

spec = importlib.util.spec_from_file_location("pick_python", os.path.join(ROOT, "tools", "pick_python.py"))
pick_python = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pick_python)

SYSTEM = shutil.which("python3.11", path="/usr/bin:/usr/local/bin")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="as root: the copied interpreter must run from a 0700 "
                                "folder, which only its owner (root) can do")


@pytest.fixture
def world_tmp():
    """A folder every user can traverse (pytest's own tmp_path lies under a 0700 folder)."""
    import tempfile
    path = tempfile.mkdtemp(prefix="gradlab-pick-")
    os.chmod(path, 0o755)
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)


def test_world_reachable_needs_every_folder_searchable(world_tmp):
    tmp_path = world_tmp
    public = tmp_path / "public"
    private = tmp_path / "private"
    for d, mode in ((public, 0o755), (private, 0o700)):
        d.mkdir()
        (d / "python").write_text("#!/bin/sh\n")
        os.chmod(d / "python", 0o755)
        os.chmod(d, mode)
    assert pick_python.world_reachable(str(public / "python"))
    assert not pick_python.world_reachable(str(private / "python"))
    os.chmod(public / "python", 0o700)  # the file itself closed to others
    assert not pick_python.world_reachable(str(public / "python"))
    os.chmod(public / "python", 0o744)  # readable, but only its owner may execute it
    assert not pick_python.world_reachable(str(public / "python"))
    assert pick_python.world_reachable(str(public))  # a folder: readable and searchable
    # the grader applies the same rule to the environment's interpreter
    assert pick_python.world_reachable is sandbox.world_reachable
    (tmp_path / "link").symlink_to(private / "python")  # judged by where the link leads
    assert not pick_python.world_reachable(str(tmp_path / "link"))


@needs_root
@pytest.mark.skipif(SYSTEM is None, reason="no system python3.11")
def test_picks_the_python_others_can_run_over_a_private_one(world_tmp, monkeypatch):
    """A pyenv-like interpreter in a 0700 home comes first on PATH; the system's one is picked."""
    home = world_tmp / "home"
    (home / "bin").mkdir(parents=True)
    private = home / "bin" / "python3.11"
    shutil.copy(SYSTEM, private)  # a real interpreter that reports its own path as sys.executable
    os.chmod(home, 0o700)
    assert subprocess.run([str(private), "-c", "pass"]).returncode == 0
    monkeypatch.setenv("PATH", f"{home / 'bin'}:/usr/bin:/bin")
    python, warning = pick_python.pick()
    assert python == os.path.realpath(SYSTEM) and warning == ""
    # with the system's interpreter out of sight, the private one is used and the warning says why
    monkeypatch.setattr(pick_python, "candidates", lambda: [str(private)])
    python, warning = pick_python.pick()
    assert python == str(private)
    assert "reachable by other users" in warning and "sandbox" in warning


def test_no_python_of_the_locked_version_is_an_error(monkeypatch):
    monkeypatch.setattr(pick_python, "candidates", lambda: [sys.executable])
    monkeypatch.setattr(pick_python, "WANT", (2, 7))
    python, warning = pick_python.pick()
    assert python is None and "no Python 2.7" in warning


@pytest.mark.skipif(os.geteuid() != 0, reason="as root, the sandbox's uid is another user")
def test_this_environment_is_runnable_by_others():
    """What `make` built this .venv from: the grading sandbox's uid and other users can run it."""
    assert sandbox.world_reachable(sys.executable), (
        f"{os.path.realpath(sys.executable)} is in a folder others cannot traverse: `make clean setup`")
    python, _ = sandbox.interpreter()
    assert python == os.path.realpath(sys.executable)
