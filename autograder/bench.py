"""bench: plain sequential ``nbgrader autograde`` vs ``grade --jobs N`` on the same full submissions.

Both graders get the same submissions (the course's assignments, solved in full, as the demo
class's "solution" students submit them: ``--students`` submissions) on the same machine, one
after the other. nbgrader runs as an instructor would run it: ``nbgrader autograde <assignment>``
once per assignment, in a course folder where ``generate_assignment`` was done beforehand (not
timed). Printed: both times (wall clock, and CPU seconds: a load-independent proxy on a shared machine),
the ratio, whether every score is identical, and where our time went.
"""
from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

from . import course, pipeline
from .limits import Limits


def write_full_class(dest: str, source: str, n: int) -> tuple[str, list[tuple[str, str]]]:
    """``dest/submitted/<student>/<assignment>/`` with ``n`` full submissions (the demo class's
    "solution" recipe), assignments in turn; returns (folder, pairs)."""
    from .demo import write_class

    assignments = course.list_assignments(source)
    pairs = [(f"full{i // len(assignments) + 1:02d}", assignments[i % len(assignments)]) for i in range(n)]
    return write_class(dest, source, {pair: "solution" for pair in pairs}), pairs


def nbgrader_autograde(root: str, source: str, submitted: str, assignments: list[str]) -> tuple[float, dict]:
    """Plain nbgrader in a fresh course folder: (seconds of the autograde commands, scores)."""
    os.makedirs(root)
    shutil.copytree(source, os.path.join(root, "source"), ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copytree(submitted, os.path.join(root, "submitted"))
    with open(os.path.join(root, "nbgrader_config.py"), "w") as f:
        f.write(f"c = get_config()\nc.CourseDirectory.root = {root!r}\nc.CourseDirectory.course_id = 'bench'\n"
                "c.Execute.timeout = 600\n")
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
               OMP_NUM_THREADS="1", MPLBACKEND="Agg", GRADLAB_PROGRESS="0")

    def nbgrader(*args):
        proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, env=env, capture_output=True,
                              text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{proc.stderr[-2000:]}")

    for a in assignments:
        nbgrader("generate_assignment", a, "--force")
    t, cpu0 = time.monotonic(), _cpu_seconds(resource.RUSAGE_CHILDREN)
    for a in assignments:
        nbgrader("autograde", a, "--force")
    seconds = time.monotonic() - t
    print(f"nbgrader autograde CPU: {_cpu_seconds(resource.RUSAGE_CHILDREN) - cpu0:.1f} s (kernels included)", flush=True)
    scores = {}
    with course.Course.load(root).gradebook() as gb:
        for a in assignments:
            for sub in gb.find_assignment(a).submissions:
                scores[(sub.student.id, a)] = round(sub.score, 6)
    return seconds, scores


def _cpu_seconds(who) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def main(args) -> int:
    source = os.path.abspath(args.source or course.default_source())
    tmp = tempfile.mkdtemp(prefix="gradlab-bench-")
    try:
        submitted, pairs = write_full_class(tmp, source, args.students)
        assignments = sorted({a for _, a in pairs})
        print(f"{len(pairs)} full submissions of {', '.join(assignments)}", flush=True)
        t_nb, theirs = nbgrader_autograde(os.path.join(tmp, "nbgrader"), source, submitted, assignments)
        print(f"nbgrader autograde (sequential): {t_nb:.1f} s", flush=True)
        limits = Limits.from_args(args)
        batch = pipeline.Batch(submitted, os.path.join(tmp, "out"), source=source, jobs=args.jobs, limits=limits,
                               target=course.Course.load(os.path.join(tmp, "course")), force=True,
                               echo=lambda m: None)
        t, cpu0 = time.monotonic(), _cpu_seconds(resource.RUSAGE_SELF) + _cpu_seconds(resource.RUSAGE_CHILDREN)
        results = batch.grade()
        t_ours = time.monotonic() - t
        cpu = (_cpu_seconds(resource.RUSAGE_SELF) + _cpu_seconds(resource.RUSAGE_CHILDREN) - cpu0
               + batch.timing.get("reference_cpu_s", 0.0) + batch.timing.get("student_cpu_s", 0.0))
        print(f"autograder grade CPU: {cpu:.1f} s (parent + sandboxes as the runners report them)")
        ours = {(r.student_id, r.assignment): round(r.score, 6) for r in results}
        print(f"autograder grade --jobs {args.jobs}: {t_ours:.1f} s")
        print(f"ratio: {t_nb / t_ours:.2f}x")
        same = ours == theirs
        print("scores: identical" if same else f"scores: DIFFER\n  nbgrader: {theirs}\n  ours:     {ours}")
        print("where our time went (seconds, summed over slots):")
        for k, v in sorted(batch.timing.items()):
            print(f"  {k:28s} {v:8.1f}")
        return 0 if same else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
