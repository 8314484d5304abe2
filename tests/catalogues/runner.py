"""Grade a catalogue of wrong implementations against a source notebook's visible and hidden tests.

One subprocess per notebook (an in-process IPython shell, 1 torch thread, Agg backend) runs the
notebook's cells in order — skipping cells tagged ``experiment`` and graded test cells — with the
reference solutions; then, for each wrong implementation of that notebook, it executes the wrong
source in place of the exercise's solution cell and runs every graded test cell that comes after
that cell twice: its visible part alone, then visible + hidden. The reference solution is executed
again afterwards, so each entry is judged against an otherwise correct notebook.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

import nbformat
from coursekit import ROOT

from autograder.notebook import grade_id, hidden_segments, is_grade, is_solution

from . import Wrong


@dataclass
class Outcome:
    """How the tests treated one wrong implementation."""
    wrong: Wrong
    visible_failure: str | None   # first failing visible test: "grade_id: Error: message"
    hidden_failure: str | None    # first failing test cell with its hidden part
    setup_error: str | None = None

    @property
    def caught(self) -> bool:
        return self.visible_failure is not None or self.hidden_failure is not None

    def problem(self) -> str | None:
        """What is wrong with this catalogue entry's treatment, or None."""
        w = self.wrong
        where = f"{w.notebook}:{w.exercise} [{w.label}]"
        if self.setup_error:
            return f"{where}: could not run: {self.setup_error}"
        if not self.caught:
            return f"{where}: passes every test (visible and hidden)"
        if self.visible_failure is None:
            if not w.why_hidden:
                return f"{where}: passes the visible tests, fails hidden ({self.hidden_failure}); " \
                       "add a visible check or say why_hidden"
            return None
        if w.expect is None:
            return f"{where}: a visible test catches it ({self.visible_failure}): name the message in expect"
        if w.expect.lower() not in self.visible_failure.lower():
            return f"{where}: visible message does not mention {w.expect!r}: {self.visible_failure}"
        return None


def split_test(source: str) -> tuple[str, str]:
    """(the visible part above the hidden tests, the whole cell without the markers)."""
    parts = hidden_segments(source)
    first = next((i for i, (hidden, _) in enumerate(parts) if hidden), len(parts))
    return "".join(t for _, t in parts[:first]), "".join(t for _, t in parts)


def _cells(nb) -> list[dict]:
    out = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kind = "test" if is_grade(cell) else ("solution" if is_solution(cell) else "locked")
        if "experiment" in cell.metadata.get("tags", []) and kind == "locked":
            kind = "skip"
        visible, full = split_test(cell.source)
        out.append({"kind": kind, "grade_id": grade_id(cell), "source": cell.source,
                    "visible": visible, "full": full})
    return out


CHILD = r'''
import json, sys, os, traceback
import torch
torch.set_num_threads(1)
from IPython.core.interactiveshell import InteractiveShell
job = json.load(sys.stdin)
shell = InteractiveShell.instance(colors="NoColor")
shell.enable_gui = lambda gui=None: None   # `%matplotlib inline` outside a kernel: Agg is enough

def run(src):
    r = shell.run_cell(src, store_history=False, silent=True)
    e = r.error_before_exec or r.error_in_exec
    return None if e is None else f"{type(e).__name__}: {e}"[:2000]

cells = job["cells"]
setup_error = None
for c in cells:
    if c["kind"] in ("locked", "solution"):
        err = run(c["source"])
        if err and c["kind"] == "solution":
            setup_error = f"reference solution cell {c['grade_id']} failed: {err}"
        elif err:
            setup_error = f"locked cell {c['grade_id']} failed: {err}"
        if setup_error:
            break
results = []
for e in job["entries"]:
    if setup_error:
        results.append({"setup_error": setup_error}); continue
    idx = [i for i, c in enumerate(cells) if c["kind"] == "solution" and c["grade_id"] == e["exercise"]]
    if not idx:
        results.append({"setup_error": f"no solution cell with grade_id {e['exercise']!r}"}); continue
    i = idx[0]
    vis = hid = None
    err = run(e["source"])
    if err:
        vis = hid = f"{e['exercise']} (the wrong source itself): {err}"
    else:
        for c in cells[i + 1:]:
            if c["kind"] != "test":
                continue
            if vis is None:
                err = run(c["visible"])
                if err:
                    vis = f"{c['grade_id']}: {err}"
            if hid is None:
                err = run(c["full"])
                if err:
                    hid = f"{c['grade_id']}: {err}"
            if vis is not None and hid is not None:
                break
    restore = run(cells[i]["source"])
    results.append({"visible": vis, "hidden": hid,
                    "setup_error": f"restoring the reference failed: {restore}" if restore else None})
print("\n@@RESULTS@@" + json.dumps(results))
'''


def run_notebook(path: str, wrongs: list[Wrong], timeout: float = 900) -> list[Outcome]:
    """Judge every entry of ``wrongs`` (all of notebook ``path``) in one subprocess."""
    nb = nbformat.read(path, as_version=4)
    job = {"cells": _cells(nb), "entries": [{"exercise": w.exercise, "source": w.source} for w in wrongs]}
    env = dict(os.environ, MPLBACKEND="Agg", GRADLAB_PROGRESS="0", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps(job), capture_output=True,
                          text=True, timeout=timeout, cwd=os.path.dirname(os.path.abspath(path)), env=env)
    if "@@RESULTS@@" not in proc.stdout:
        err = (proc.stderr or proc.stdout)[-2000:]
        return [Outcome(w, None, None, setup_error=f"runner crashed: {err}") for w in wrongs]
    results = json.loads(proc.stdout.rsplit("@@RESULTS@@", 1)[1])
    return [Outcome(w, r.get("visible"), r.get("hidden"), r.get("setup_error")) for w, r in zip(wrongs, results)]


def run_catalogue(assignment: str, wrongs: list[Wrong], source_dir: str | None = None) -> list[Outcome]:
    """Judge a whole catalogue, one subprocess per notebook."""
    source_dir = source_dir or os.path.join(ROOT, "solutions")
    outcomes = []
    for notebook in sorted({w.notebook for w in wrongs}):
        entries = [w for w in wrongs if w.notebook == notebook]
        outcomes += run_notebook(os.path.join(source_dir, assignment, notebook), entries)
    return outcomes


def report(assignment: str, outcomes: list[Outcome]) -> str:
    """A Markdown table: each mistake, whether visible tests catch it, and the message."""
    lines = [f"# {assignment}: catalogue of wrong implementations", "",
             "| notebook | exercise | mistake | visible | hidden | message |", "|---|---|---|---|---|---|"]
    for o in outcomes:
        msg = (o.visible_failure or o.hidden_failure or o.setup_error or "").replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {o.wrong.notebook} | {o.wrong.exercise} | {o.wrong.label} | "
                     f"{'fails' if o.visible_failure else 'passes'} | {'fails' if o.hidden_failure else 'passes'} | "
                     f"{msg[:200]} |")
    return "\n".join(lines) + "\n"
