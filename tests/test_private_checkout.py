"""A fresh clone in a private (0700) folder, as root (root's home is the usual place): ``make setup``
builds its environment, ``doctor`` says the sandbox starts, and ``grade`` grades, although the
sandbox's private uid could not traverse the folder (bwrap starts as root and maps the sandbox's
uid to root outside with every capability dropped: ``sandbox.root_mapped``).

``make setup`` runs as written (``pick_python``'s interpreter makes the venv, pip installs the
pinned environment and the clone's own package, editable) into a venv whose site-packages already
holds this run's installed distributions, hard-linked: what the test is about is where the files
lie (inside the 0700 folder) and who can reach them, not unpacking 2 GB of wheels a second time.
pip still checks every pin of ``constraints.txt`` against what is there and installs ``gradlab``
from the clone, so ``doctor`` and ``grade`` run the clone's code from the clone's venv.
"""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from conftest import require, sandbox_problem, seed_venv
from coursekit import ROOT
from test_grading import LIMITS

from autograder import sandbox
from grading import hostile

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3000)]


@pytest.fixture(scope="module")
def private_clone():
    if os.geteuid() != 0:
        pytest.skip("needs root (the case: root's 0700 home, the grader's uid cannot enter it)")
    require("sandbox", sandbox_problem())
    home = "/root" if os.access("/root", os.W_OK) else None
    folder = Path(tempfile.mkdtemp(prefix="gradlab-private-", dir=home))
    os.chmod(folder, 0o700)
    clone = folder / "gradlab"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=300)
    seeded = seed_venv(clone / ".venv")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    proc = subprocess.run(["make", "setup"], cwd=clone, env=env, capture_output=True, text=True, timeout=2400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "-m venv .venv" in proc.stdout and "pip install" in proc.stdout, proc.stdout   # the recipe ran
    if seeded:   # the clone's package is the clone's own: an editable install of its src/
        python = str(clone / ".venv" / "bin" / "python")
        where = subprocess.run([python, "-c", "import gradlab; print(gradlab.__file__)"], cwd="/", env=env,
                               capture_output=True, text=True, timeout=120)
        assert where.stdout.strip().startswith(str(clone / "src" / "gradlab")), where.stdout + where.stderr
    yield clone, env
    shutil.rmtree(folder, ignore_errors=True)


def test_private_clone_doctor_and_grade(private_clone, tiny, tmp_path):
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
