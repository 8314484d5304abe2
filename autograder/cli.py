"""``python -m autograder``: release, grade, feedback, export, report, validate, bench, doctor, worker, serve.

Every subcommand has ``--help``. The Makefile's forms are ``python -m autograder release`` and
``python -m autograder grade --demo --jobs N``.
"""
from __future__ import annotations

import argparse
import html
import os
import re
import shutil
import sys
import tempfile

from .limits import Limits

DEMO_OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "artifacts", "grading-demo")


def cmd_grade(args) -> int:
    from . import pipeline
    from .course import Course
    from .files import redact_db_url
    from .gradebook import GradebookError, format_table
    from .sandbox import SandboxUnavailable

    source, submissions, out = args.source, args.submissions, args.out
    if args.no_progress:
        os.environ["GRADLAB_PROGRESS"] = "0"   # autograder.progress draws no bar
    demo_tmp = None
    if args.demo:
        from . import demo
        out = out or DEMO_OUT
        shutil.rmtree(out, ignore_errors=True)  # a demo run is regenerated as a whole
        demo_tmp = tempfile.mkdtemp(prefix="gradlab-demo-")
        source, submissions = demo.write_demo_class(demo_tmp, source=source)
        print(f"demo class: {len(os.listdir(submissions))} students, assignments from {source}", file=sys.stderr)
    if not submissions or not out:
        print("grade: SUBMISSIONS and --out are required (or use --demo)", file=sys.stderr)
        return 2
    if not os.path.isdir(submissions):
        print(f"grade: no such directory: {submissions}", file=sys.stderr)
        return 2
    course_dir = args.course or (os.path.join(out, "course") if args.demo else None)
    target = Course.load(course_dir, args.db_url)
    if args.course and not source and os.path.isdir(target.path("source")):
        source = target.path("source")   # that course's source notebooks
    try:
        runner = _queue_runner(args, target) if args.queue else None
    except Exception as e:  # noqa: BLE001 — no PostgreSQL gradebook, no procrastinate, the database away
        print(f"grade --queue: {type(e).__name__}: {redact_db_url(str(e))[:500]}", file=sys.stderr)
        return 2
    batch = pipeline.Batch(submissions, out, source=source, jobs=args.jobs or (64 if runner else None),
                           limits=Limits.from_args(args), target=target, force=args.force or args.demo,
                           unsafe=args.unsafe_no_sandbox, runner=runner)
    try:
        results = batch.grade()
    except SandboxUnavailable as e:
        print(f"grade: {e}", file=sys.stderr)
        return 3
    except GradebookError as e:
        print(f"grade: {e}\nnothing else was changed for that submission; run the same command again to "
              "complete the batch", file=sys.stderr)
        return 4
    finally:
        if runner:
            runner.close()
        if demo_tmp:
            shutil.rmtree(demo_tmp, ignore_errors=True)
    print(format_table(results))
    print(f"\ngradebook: {os.path.join(os.path.abspath(out), 'grades.csv')} and {redact_db_url(target.db_url)}",
          file=sys.stderr)
    return 0


def _queue_runner(args, target):
    """``grade --queue``: every notebook through the workers of the course's PostgreSQL (autograder/workqueue.py)."""
    from .workqueue import QueueRunner
    return QueueRunner(target.db_url, unsafe=args.unsafe_no_sandbox, echo=lambda m: print(m, file=sys.stderr))


def cmd_worker(args) -> int:
    import logging

    from . import workqueue
    from .course import Course
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s worker %(levelname)s %(message)s")
    worker = workqueue.Worker(Course.load(args.course, args.db_url).db_url, jobs=args.jobs or 1,
                          unsafe=args.unsafe_no_sandbox)
    problem = worker.check()
    if problem:
        print(f"worker: refusing to take work: the sandbox cannot start on this machine: {problem}. Fix that (see "
              "`python -m autograder doctor`), or pass --unsafe-no-sandbox (such a worker takes only the work of a "
              "batch started with --unsafe-no-sandbox, whose rows are flagged)", file=sys.stderr)
        return 3
    worker.serve()
    return 0


def cmd_serve(args) -> int:
    from . import service
    return service.main(args)


def cmd_doctor(args) -> int:
    """Can the sandbox start here? (bubblewrap, unprivileged user namespaces, a readable Python)."""
    from . import cgroup, sandbox

    print(f"running as uid {os.geteuid()}" + (" (root: sandboxes run as uids "
                                                f"{sandbox.UID_BASE}+slot)" if os.geteuid() == 0 else ""))
    try:
        python, binds = sandbox.interpreter()
        print(f"sandbox interpreter: {python}" + (f" (binds {', '.join(binds)})" if binds else ""))
    except sandbox.SandboxUnavailable as e:
        print(f"sandbox interpreter: {e}")
    problem = sandbox.check()
    print("sandbox: OK (bubblewrap starts, imports torch, IPython and gradlab)" if problem is None
          else f"sandbox: NOT AVAILABLE: {problem}")
    print(f"filesystems: / and /dev read-only; /tmp, /dev/shm, HOME and the work dir tmpfs of "
          f"{Limits().tmpfs_mb} MB each")
    print(cgroup.describe())
    print("keyring: " + ("keyctl, add_key and request_key denied by a seccomp filter, and a fresh session "
                         "keyring per sandbox" if sandbox.keyring_filter() is not None else
                         f"a fresh session keyring per sandbox (no seccomp filter for {os.uname().machine})"))
    if sandbox.root_mapped():
        print(f"private checkout: {', '.join(sandbox.private_paths())} cannot be reached by other users; bwrap "
              f"starts as root and the sandbox runs as uid {sandbox.UID_BASE}+slot mapped to root outside, with "
              "every capability dropped (--cap-drop ALL): it reaches only its read-only binds and tmpfs")
    return 0 if problem is None else 1


def cmd_validate(args) -> int:
    from nbgrader.validator import Validator

    from .course import Course

    validator = Validator(config=Course.load().config)
    status = 0
    for path in args.notebooks:
        results = validator.validate(path)
        problems = {k: v for k, v in results.items() if k in ("failed", "changed", "type_changed", "mismatch_version")}
        if problems:
            status = 1
            print(f"{path}: FAILED")
            for kind, cells in problems.items():
                for cell in cells if isinstance(cells, list) else [cells]:
                    source = cell.get("source", "") if isinstance(cell, dict) else str(cell)
                    error = cell.get("error", "") if isinstance(cell, dict) else ""
                    print(f"  [{kind}] {source.strip().splitlines()[0][:80] if source.strip() else ''}")
                    if error:  # nbgrader formats the error as HTML
                        text = html.unescape(re.sub(r"<[^>]+>", "", error)).strip()
                        print("    " + (text.splitlines() or [""])[-1][:200])
        else:
            print(f"{path}: passed")
    return status


def cmd_bench(args) -> int:
    from . import bench
    return bench.main(args)


def _add_jobs(p: argparse.ArgumentParser, default: int | None) -> None:
    shown = "number of cores" if default is None else default
    p.add_argument("--jobs", "-j", type=int, default=default,
                   help=f"notebooks graded at once (default: {shown}); one torch thread each")


def _add_limits(p: argparse.ArgumentParser) -> None:
    d = Limits()
    p.add_argument("--timeout", type=float, default=d.timeout_s,
                   help=f"seconds per notebook (default {d.timeout_s:g})")
    p.add_argument("--cell-timeout", type=int, default=d.cell_timeout_s,
                   help=f"seconds per cell (default {d.cell_timeout_s})")
    p.add_argument("--memory", type=int, default=d.memory_mb,
                   help=f"MB of memory per notebook: its whole sandbox where a cgroup is available (see doctor), "
                        f"else per process (default {d.memory_mb})")
    p.add_argument("--max-procs", type=int, default=d.max_procs,
                   help=f"processes and threads a notebook's sandbox may run at once (default {d.max_procs})")
    p.add_argument("--source", default=None,
                   help="folder of nbgrader source assignments (default: the course's solutions/)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    from . import course, export, feedback, report

    course.build_subparser(sub)       # release (autograder/course.py)
    p = sub.add_parser("grade", help="autograde submissions in parallel into OUT and the course gradebook",
                       description="Grade SUBMISSIONS/<student_id>/<assignment_id>/*.ipynb: each notebook runs in "
                                   "a fresh bubblewrap sandbox, verdicts are decided outside it against a reference "
                                   "run of the source. Writes OUT/grades.csv, OUT/grades_detail.csv, "
                                   "OUT/feedback/<student>/<assignment>/, the course's gradebook (db_url) and "
                                   "autograded/. Re-running resumes; manual grades are kept.")
    p.add_argument("submissions", nargs="?", metavar="SUBMISSIONS")
    p.add_argument("--out", "-o", default=None, help=f"output folder (--demo default: {DEMO_OUT})")
    p.add_argument("--demo", action="store_true",
                   help="grade the bundled demo class (generated from the current assignments) and print it")
    p.add_argument("--force", action="store_true", help="regrade even submissions already graded")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar on a terminal (as GRADLAB_PROGRESS=0); a log still gets progress lines")
    p.add_argument("--course", default=None, metavar="DIR",
                   help="nbgrader course folder whose gradebook and autograded/ receive the scores "
                        "(default: this repository's course; --demo: OUT/course)")
    p.add_argument("--db-url", default=None, metavar="URL",
                   help="nbgrader gradebook URL, e.g. sqlite:///path/gradebook.db or postgresql://... "
                        "(default: the course's db_url)")
    p.add_argument("--unsafe-no-sandbox", action="store_true",
                   help="run student code without the sandbox (only when it cannot start; every row is flagged)")
    p.add_argument("--queue", action="store_true",
                   help="run the notebooks on the workers of the course's PostgreSQL (python -m autograder worker)")
    _add_jobs(p, None)
    _add_limits(p)
    p.set_defaults(func=cmd_grade)

    for name, func, text in (("worker", cmd_worker, "run queued notebooks in this machine's sandbox"),
                             ("serve", cmd_serve, "on submit: grade each new exchange submission through the "
                                                  "workers and release its feedback page (course config's policy)")):
        p = sub.add_parser(name, help=text, description=text + " (README: 'Grading on several machines').")
        p.add_argument("--course", default=None, metavar="DIR", help="the nbgrader course folder (its config)")
        p.add_argument("--db-url", default=None, metavar="URL", help="the course's PostgreSQL gradebook URL")
        p.add_argument("--jobs", "-j", type=int, default=None, help="notebooks run at once (worker: default 1)")
        p.add_argument("--unsafe-no-sandbox", action="store_true", help=argparse.SUPPRESS if name == "serve" else
                       "run without the sandbox (takes only the work of --unsafe-no-sandbox batches)")
        if name == "serve":
            p.add_argument("--interval", type=float, default=2.0, help="seconds between two looks at the exchange")
        p.set_defaults(func=func)

    p = sub.add_parser("doctor", help="check that the grading sandbox can start here",
                       description="Checks bubblewrap, unprivileged user namespaces and a Python the sandbox "
                                   "can run; exit 1 with the cause when the sandbox cannot start.")
    p.set_defaults(func=cmd_doctor)

    feedback.build_subparser(sub)     # feedback from the course gradebook (autograder/feedback.py)
    export.build_subparser(sub)       # final grades from the course gradebook (autograder/export.py)
    report.build_subparser(sub)       # the instructor's class report (autograder/report.py)

    p = sub.add_parser("validate", help="nbgrader validate: run a notebook and report failing tests",
                       description="Run each NOTEBOOK top to bottom like nbgrader's Validate button; exit 1 on failure.")
    p.add_argument("notebooks", nargs="+", metavar="NOTEBOOK")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("bench", help="plain sequential nbgrader autograde vs grade --jobs N, same submissions",
                       description="Grade the same full submissions (the demo class's, by default the first 9) "
                                   "with plain sequential `nbgrader autograde` and with `grade --jobs N`; print "
                                   "both times, the ratio, whether the scores are identical, and where the time went.")
    p.add_argument("--students", type=int, default=9, help="full submissions to grade (default 9)")
    _add_jobs(p, 2)
    _add_limits(p)
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
