"""The grading host under attack (tests/grading/hostile_host.py), graded by the real CLI as the
user running the tests and, when that is root, once more as an unprivileged user: every case earns
what a blank earns or what its honest part earns, nothing leaks (a root-only file linked from a
submission, the instructor's key), nothing is left behind (keys, cgroups), the batch finishes and
a re-run works."""
from __future__ import annotations

import csv
import ctypes
import glob
import json
import os
import shutil
import time

import pytest
from conftest import require, sandbox_problem
from test_grading import LIMITS, _test_user, _world_dir, run_cli

from autograder import cgroup
from grading import hostile_host

SECRET = "ROOT-ONLY-c0ffee-never-in-feedback"
NR_ADD_KEY, NR_REQUEST_KEY, NR_KEYCTL = 248, 249, 250

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.uname().machine != "x86_64",
                                                   reason="the keyring cases use x86_64 syscall numbers")]


@pytest.fixture(autouse=True, scope="module")
def _sandbox():
    require("sandbox", sandbox_problem())


@pytest.fixture(scope="module")
def instructor_key():
    """A key in the session keyring the grader inherits (as a login or a systemd service would)."""
    libc = ctypes.CDLL(None, use_errno=True)
    key = libc.syscall(NR_ADD_KEY, b"user", hostile_host.KEY_MARK.encode(), SECRET.encode(), len(SECRET), -3)
    yield key
    if key >= 0:
        libc.syscall(NR_KEYCTL, 3, key)


def _grade(tiny, instructor_key, user=None):
    source, _, c = tiny
    root = _world_dir("gradlab-host-")
    subs, out, course_dir = (os.path.join(root, n) for n in ("submitted", "out", "course"))
    os.makedirs(out)
    os.makedirs(course_dir)
    if user is not None:
        for d in (out, course_dir):
            os.chown(d, user.pw_uid, user.pw_gid)
    secret_file = os.path.join(root, "secret.txt")
    with open(secret_file, "w") as f:
        f.write(SECRET)
    os.chmod(secret_file, 0o600)
    has_cgroup = cgroup.mode()[0] != "none" if user is None else False
    expected = hostile_host.build(c, subs, cgroup=has_cgroup, secret_file=secret_file, instructor_key=instructor_key)
    args = ["grade", subs, "--out", out, "--jobs", "2", "--source", source, "--course", course_dir, *LIMITS]
    before = _our_cgroups()   # a grader another test killed may have left one (swept after cgroup.STALE_S)
    proc = run_cli(*args, user=user)
    rows = {}
    if os.path.exists(os.path.join(out, "grades.csv")):
        with open(os.path.join(out, "grades.csv"), newline="") as f:
            rows = {r["student_id"]: r for r in csv.DictReader(f)}
    return {"proc": proc, "rows": rows, "expected": expected, "out": out, "course": course_dir, "root": root,
            "args": args, "user": user, "cgroups_before": before}


def _our_cgroups() -> set[str]:
    """The grader's per-notebook cgroups under this process's cgroup."""
    kind, _ = cgroup.mode()
    if kind == "v1":
        mdir, pdir = cgroup._v1_dirs()
        return set(glob.glob(os.path.join(mdir, "gradlab-nb-*")) + glob.glob(os.path.join(pdir, "gradlab-nb-*")))
    if kind == "v2":
        return set(glob.glob(os.path.join(cgroup._v2_root(), "gradlab", "nb-*")))
    return set()


def _left_behind(before: set[str], wait_s: float = 120) -> set[str]:
    """The grader's cgroups made since ``before`` that outlive ``wait_s``: a grader that another
    test worker runs at the same time has live ones of its own, gone when its notebooks end (in
    seconds); one this batch left behind stays."""
    left = _our_cgroups() - before
    deadline = time.monotonic() + wait_s
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left &= _our_cgroups()
    return left


@pytest.fixture(scope="module")
def host_batch(tiny, instructor_key):
    b = _grade(tiny, instructor_key)
    yield b
    shutil.rmtree(b["root"], ignore_errors=True)


@pytest.fixture(scope="module")
def host_batch_unprivileged(tiny, instructor_key):
    if os.geteuid() != 0:
        pytest.skip("the tests already run unprivileged: the main batch is the unprivileged run")
    b = _grade(tiny, instructor_key, user=_test_user())
    yield b
    shutil.rmtree(b["root"], ignore_errors=True)


def _check(b):
    proc = b["proc"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    got = {s: (r["status"], float(r["score"])) for s, r in b["rows"].items()}
    assert got == {s: (st, float(sc)) for s, (st, sc) in b["expected"].items()}, {
        s: (got.get(s), b["rows"].get(s, {}).get("notes")) for s in b["expected"] if got.get(s) != b["expected"][s]}
    # instructor pages inert: no script of the student's reaches autograded/
    with open(os.path.join(b["course"], "autograded", "xss", "a1", "ps1.ipynb"), encoding="utf-8") as f:
        text = hostile_host.rendered_parts(json.load(f))
    assert "<b>html</b>" in text                         # the payloads' outputs are there, made inert
    for bad in ("onerror=", "application/javascript", "<script", "image/svg+xml", "javascript:"):
        assert bad not in text, bad
    # nothing of the linked root-only file, anywhere the grader wrote
    for folder in (b["out"], b["course"]):
        for path in glob.glob(os.path.join(folder, "**", "*"), recursive=True):
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as f:
                    assert SECRET.encode() not in f.read(), path
    # every student with a recorded result has a feedback page: one bad file stopped nobody's
    for s, (status, _) in b["expected"].items():
        if status != "rejected":
            assert os.path.exists(os.path.join(b["out"], "feedback", s, "a1", "ps1.html")), s
    # nothing left behind: no key planted by a notebook, no cgroup of ours
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.syscall(NR_REQUEST_KEY, b"user", hostile_host.PLANTED_KEY.encode(), None, 0) < 0
    left = _left_behind(b["cgroups_before"])
    assert not left, left
    # a re-run works (and resumes)
    again = run_cli(*b["args"], user=b["user"])
    assert again.returncode == 0 and "already graded" in again.stderr, again.stderr[-2000:]


def test_host_attacks_as_the_test_user(host_batch):
    _check(host_batch)


def test_host_attacks_unprivileged(host_batch_unprivileged):
    _check(host_batch_unprivileged)
