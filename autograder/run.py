"""run: one notebook's plan in one fresh sandbox; the results read back without trusting them.

The parent writes the plan to the runner's stdin and reads its results from a pipe (fd 3),
never from a file the sandbox could have written: nothing of the sandbox's filesystem outlives
it, so there is no student-writable path for the grader (root or not) to open, chown or follow.
The runner's own stdout/stderr (raw writes to fd 1/2 bypass its capture) go to a pipe whose
first bytes are kept for the instructor's log. Reads are capped (``Limits.result_mb``); a run
longer than ``Limits.timeout_s`` is killed with its whole PID namespace.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass

from . import cgroup, sandbox
from .limits import MB, Limits
from .plan import plan_json
from .records import CellRun, NotebookPlan, Outcome, RunOutput, Status

LOG_BYTES = 4000


@dataclass(frozen=True)
class RawRun:
    """What one sandbox run left before anything of it is believed: the bytes of its results pipe
    (capped while read), the start of its log, and what the parent saw (exit status, timeout, OOM
    kills). A worker on another machine sends this, not a ``RunOutput``: the course side reads it
    with ``read``, the same rules as a local run, and treats every field as an adversary's data.

    Examples::

        >>> raw = RawRun.from_json(RawRun(b"", 0, b"bwrap: no", 1, False, 0.1, 0).to_json())
        >>> read(raw, Limits()).status.code
        'error'
    """
    results: bytes
    results_size: int
    log: bytes
    returncode: int | None
    timed_out: bool
    seconds: float
    oom_kills: int

    def box(self, limits: Limits) -> dict:
        """``_read``'s view of the run, the sizes capped as ``_drain`` caps them."""
        return {"results": self.results[:limits.result_mb * MB], "results_size": self.results_size,
                "log": self.log[:LOG_BYTES]}

    def to_json(self) -> dict:
        return {"results": base64.b64encode(self.results).decode(), "results_size": self.results_size,
                "log": base64.b64encode(self.log).decode(), "returncode": self.returncode,
                "timed_out": self.timed_out, "seconds": self.seconds, "oom_kills": self.oom_kills}

    @classmethod
    def from_json(cls, d) -> RawRun:
        """A run as another process stored it; any field of the wrong type reads as absent."""
        d = d if isinstance(d, dict) else {}

        def blob(key: str) -> bytes:
            try:
                return base64.b64decode(d.get(key) or "", validate=True) if isinstance(d.get(key), str) else b""
            except ValueError:
                return b""

        def number(key: str, kind=int, default=0):
            v = d.get(key)
            return kind(v) if isinstance(v, int | float) and not isinstance(v, bool) else default

        results = blob("results")
        return cls(results, max(number("results_size"), len(results)), blob("log"), number("returncode", int, None),
                   d.get("timed_out") is True, max(0.0, number("seconds", float, 0.0)), max(0, number("oom_kills")))


def _drain(stream, limit: int, box: dict, key: str) -> None:
    """Read ``stream`` to its end, keeping at most ``limit`` bytes (the rest is discarded)."""
    kept, size = [], 0
    while True:
        chunk = stream.read(1 << 16)
        if not chunk:
            break
        if size < limit:
            kept.append(chunk[:limit - size])
        size += len(chunk)
    box[key] = b"".join(kept)
    box[key + "_size"] = size


#: Held while the grading parent builds or walks Python syntax trees (a payload's oracle stripping,
#: the judge's scans): CPython before 3.11.5 keeps one recursion counter for every thread's AST
#: conversion, and two threads converting at once fail with "SystemError: AST constructor
#: recursion depth mismatch" (CPython gh-106905), which was an internal-error row.
AST_LOCK = threading.Lock()


def build_payload(plan: NotebookPlan, *, seed: int, limits: Limits) -> bytes:
    """The runner's input for ``plan``, less the one thing local to the process that executes it.

    Built where the batch secret lives (the course side): each test cell carries a one-way key of
    ``seed`` (``plan.plan_json``), never ``seed`` itself, so the payload can cross a queue to a
    worker on another machine. ``execute`` adds the results pipe's descriptor, which only the
    executing process knows.

    Examples::

        >>> data = build_payload(p, seed=batch.seed, limits=Limits())        # doctest: +SKIP
        >>> out = execute(data, limits=Limits(), assignment_dir=assets)      # doctest: +SKIP
    """
    with AST_LOCK:
        return plan_json(plan, seed=seed, cell_timeout_s=limits.cell_timeout_s, max_procs=limits.max_procs,
                         results_fd=-1)


def run_notebook(plan: NotebookPlan, *, seed: int, limits: Limits, slot: int = 0,
                 assignment_dir: str | None = None, cache_dir: str | None = None, unsafe: bool = False,
                 lang: str = "en") -> RunOutput:
    """Run ``plan`` in a sandbox (or, with ``unsafe``, in a bare subprocess) and read its results.

    ``lang``: the submission's language, which the visible tests' messages are given in."""
    return execute(build_payload(plan, seed=seed, limits=limits), limits=limits, slot=slot,
                   assignment_dir=assignment_dir, cache_dir=cache_dir, unsafe=unsafe, lang=lang)


def execute(payload: bytes, *, limits: Limits, slot: int = 0, assignment_dir: str | None = None,
            cache_dir: str | None = None, unsafe: bool = False, lang: str = "en") -> RunOutput:
    """Run a ``build_payload`` payload in a fresh sandbox of this machine and read its results
    (``execute_raw`` then ``read``; the arguments are ``execute_raw``'s)."""
    return read(execute_raw(payload, limits=limits, slot=slot, assignment_dir=assignment_dir, cache_dir=cache_dir,
                            unsafe=unsafe, lang=lang), limits)


def execute_raw(payload: bytes, *, limits: Limits, slot: int = 0, assignment_dir: str | None = None,
            cache_dir: str | None = None, unsafe: bool = False, lang: str = "en") -> RawRun:
    """Run a ``build_payload`` payload in a fresh sandbox of this machine; what it left, unread.

    Args:
        payload: the runner's input (JSON) as ``build_payload`` made it; its ``results_fd`` is set here.
        limits: time, memory, processes and result size of the run.
        slot: the grading thread's slot (the sandbox's uid when the grader runs as root).
        assignment_dir: a world-readable folder of the release's data files, or None.
        cache_dir: a world-readable copy of the generated-data cache, or None.
        unsafe: run in a bare subprocess (only when the sandbox cannot start; the caller flags it).
        lang: the visible tests' language.
    """
    request = json.loads(payload)   # before any descriptor is opened: a malformed payload leaks nothing
    if not isinstance(request, dict):
        raise ValueError("a payload is a JSON object (run.build_payload)")
    started = time.monotonic()
    r, w = os.pipe()
    data = json.dumps({**request, "results_fd": w}).encode()
    cwd = None
    if unsafe:
        cwd = tempfile.mkdtemp(prefix="gradlab-unsafe-")
        launch = sandbox.Launch(sandbox.unsafe_command())
    else:
        launch = sandbox.command(limits, assignment_dir, cache_dir=cache_dir, slot=slot, lang=lang)
    scope = cgroup.Scope.create(limits)   # memory and processes of the whole sandbox, where the host allows
    preexec = sandbox.preexec(None if unsafe else sandbox.sandbox_uid(slot), limits, scope)
    try:
        proc = subprocess.Popen(list(scope.prefix) + launch.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, pass_fds=(w, *launch.fds), preexec_fn=preexec,
                                close_fds=True, start_new_session=True, cwd=cwd,
                                env=sandbox.unsafe_env(lang) if unsafe else None)
    except BaseException:
        scope.close()
        raise
    finally:
        os.close(w)
        launch.close()
    box: dict = {}
    results = os.fdopen(r, "rb")
    readers = [threading.Thread(target=_drain, args=(results, limits.result_mb * MB, box, "results"), daemon=True),
               threading.Thread(target=_drain, args=(proc.stdout, LOG_BYTES, box, "log"), daemon=True)]
    for t in readers:
        t.start()
    timed_out = False
    try:
        try:
            proc.stdin.write(data)
            proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        deadline = time.monotonic() + limits.timeout_s
        while proc.poll() is None:   # the OOM count is read while the cgroup (or systemd scope) exists
            if scope.read_oom():
                break   # a process of the sandbox was killed for memory: the notebook is stopped
            try:
                proc.wait(timeout=min(0.5, max(0.0, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                if time.monotonic() >= deadline:
                    timed_out = True
                    break
    finally:
        if proc.poll() is None:
            proc.kill()  # bwrap's PID 1 dies with it (--die-with-parent): the whole namespace goes
            proc.wait()
        if unsafe:
            try:
                os.killpg(proc.pid, 9)  # no PID namespace: kill what the notebook left in its session
            except OSError:
                pass
            shutil.rmtree(cwd, ignore_errors=True)
        scope.close()
        for t in readers:
            t.join(10)
        results.close()
    return RawRun(box.get("results", b""), box.get("results_size", 0), box.get("log", b""), proc.returncode,
                  timed_out, round(time.monotonic() - started, 2), scope.oom_kills)


def read(raw: RawRun, limits: Limits) -> RunOutput:
    """The run's results as the grader believes them: one result per cell, in order, capped."""
    out = _read(raw.box(limits), raw.returncode, raw.timed_out, raw.seconds, limits)
    if raw.oom_kills and out.status is not Status.TIMEOUT:
        # the kernel killed a process of the sandbox (its processes and tmpfs together passed the
        # limit) and the parent stopped the rest: that is a memory stop, not a crash of the kernel
        out.status = Status.MEMORY
        out.notes = [n for n in out.notes if not n.startswith("the notebook's process ended early")]
        out.notes.append(f"stopped: the notebook's processes together used more than {limits.memory_mb} MB")
    return out


#: What the runner writes, and nothing else: a result per executed cell, then one ``done`` line.
RESULT_KEYS = frozenset({"index", "grade_id", "outcome", "outputs", "observations", "tolerances"})
DONE_KEYS = frozenset({"done", "dropped_output", "timing"})
OUTCOMES = frozenset(o.value for o in Outcome)
#: Stands in the results for a line that is not one: an index no plan has, so the judge's
#: one-result-per-cell check (``judge.tampering``) flags the notebook and grades it as its blank.
MALFORMED = -1


def _result(line: bytes) -> CellRun | dict | None:
    """A well-formed line of the results channel: a ``CellRun``, or the ``done`` dict; else None."""
    try:
        d = json.loads(line)
    except (ValueError, RecursionError):   # a line nested past the parser's depth is malformed too
        return None
    if not isinstance(d, dict):
        return None
    if d.get("done") is True:
        return d if set(d) <= DONE_KEYS else None
    index, gid = d.get("index"), d.get("grade_id")
    if not (set(d) <= RESULT_KEYS and type(index) is int and index >= 0 and (gid is None or isinstance(gid, str))
            and d.get("outcome") in OUTCOMES and isinstance(d.get("outputs", []), list)
            and isinstance(d.get("observations") or {}, dict) and isinstance(d.get("tolerances") or {}, dict)):
        return None
    return CellRun(index=index, grade_id=gid, outcome=d["outcome"], outputs=d.get("outputs", []),
                   observations=d.get("observations"), tolerances=d.get("tolerances"))


def _read(box: dict, returncode: int, timed_out: bool, seconds: float, limits: Limits) -> RunOutput:
    """The run's results. Every line of the channel is an adversary's: one that is not a
    well-formed result (not JSON, unknown keys or outcome, a second ``done``, a result after
    ``done``, an empty line) becomes a ``MALFORMED`` result, which the judge treats as tampering.
    Only an unterminated last line (the size cap, or a process stopped mid-write) is dropped, with
    a note."""
    cells, notes, done = [], [], None
    data = box.get("results", b"")
    if box.get("results_size", 0) > limits.result_mb * MB:
        notes.append(f"the notebook's results exceeded {limits.result_mb} MB; the rest was dropped")
    lines = data.split(b"\n")
    if lines.pop():   # a last line without its newline: the process stopped while writing it
        notes.append("the notebook's last result was cut off; it was dropped")
    malformed = 0
    for line in lines:
        r = _result(line) if done is None else None   # nothing may follow ``done``
        if isinstance(r, dict):
            done = r
        elif isinstance(r, CellRun):
            cells.append(r)
        else:
            malformed += 1
            cells.append(CellRun(index=MALFORMED, grade_id=None, outcome=Outcome.ERROR))
    if malformed:
        notes.append(f"{malformed} line(s) on the results channel were not well-formed results (tampering)")
    outcomes = [c.outcome.stop for c in cells if c.outcome.stop]
    if timed_out:
        status = Status.TIMEOUT
        notes.append(f"stopped after {limits.timeout_s:g} s")
    elif done is None:
        status = Status.ERROR if not cells and _bwrap_failed(box) else Status.KERNEL_DIED
        if status is Status.ERROR:
            notes.append("the sandbox did not start: " + box.get("log", b"").decode("utf-8", "replace")[-300:].strip())
        else:
            notes.append(f"the notebook's process ended early (exit status {returncode})")
    else:
        status = Status.worst(outcomes) if outcomes else Status.GRADED
        dropped = done.get("dropped_output", 0)
        if isinstance(dropped, int) and dropped > 0:
            notes.append(f"{dropped} characters of output were dropped (output limit)")
    if outcomes and status is Status.GRADED:
        status = Status.worst(outcomes)
    timing = {}
    if done is not None and isinstance(done.get("timing"), dict):
        timing = {k: float(v) for k, v in done["timing"].items() if k in ("imports_s", "cells_s", "cpu_s")
                  and isinstance(v, (int, float))}
    return RunOutput(status, cells, notes, round(seconds, 2), timing)


def _bwrap_failed(box: dict) -> bool:
    return box.get("log", b"").startswith(b"bwrap:")
