"""A fresh clone in a private (0700) folder, as root (root's home is the usual place): ``make setup``
builds its environment, ``doctor`` says the sandbox starts, and ``grade`` grades, although the
sandbox's private uid could not traverse the folder (bwrap starts as root and maps the sandbox's
uid to root outside with every capability dropped: ``sandbox.root_mapped``)."""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from conftest import require
from test_grading import LIMITS, tiny  # noqa: F401 — tiny is a fixture

from autograder import sandbox
from grading import hostile

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3000)]


@pytest.fixture(scope="module")
def private_clone():
    if os.geteuid() != 0:
        pytest.skip("needs root (the case: root's 0700 home, the grader's uid cannot enter it)")
    require("sandbox", sandbox.check())
    home = "/root" if os.access("/root", os.W_OK) else None
    folder = Path(tempfile.mkdtemp(prefix="gradlab-private-", dir=home))
    os.chmod(folder, 0o700)
    clone = folder / "gradlab"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    proc = subprocess.run(["make", "setup"], cwd=clone, env=env, capture_output=True, text=True, timeout=2400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    yield clone, env
    shutil.rmtree(folder, ignore_errors=True)


def test_private_clone_doctor_and_grade(private_clone, tiny, tmp_path):  # noqa: F811
    clone, env = private_clone
    python = str(clone / ".venv" / "bin" / "python")
    assert not sandbox.world_reachable(str(clone / "src" / "gradlab"))
    proc = subprocess.run([python, "-m", "autograder", "doctor"], cwd=clone, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0 and "sandbox: OK" in proc.stdout, proc.stdout + proc.stderr
    assert "cap-drop ALL" in proc.stdout   # doctor names how the private checkout is reached
    source, _, c = tiny
    subs = tmp_path / "subs"
    hostile.write(str(subs / "full" / "a1"), c.full())
    hostile.write(str(subs / "blank" / "a1"), c.blank())
    out, course_dir = tmp_path / "out", tmp_path / "course"
    proc = subprocess.run([python, "-m", "autograder", "grade", str(subs), "--out", str(out), "--source", source,
                           "--course", str(course_dir), "--jobs", "2", *LIMITS], cwd=clone, env=env,
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out / "grades.csv", newline="") as f:
        scores = {r["student_id"]: (r["status"], float(r["score"])) for r in csv.DictReader(f)}
    assert scores == {"full": ("graded", 5.0), "blank": ("graded", 0.0)}
