"""nbgrader preprocessors that execute a submission so that tampering cannot earn marks.

Threat model and design
-----------------------
nbgrader runs the student's notebook in one kernel and scores an autograded test cell as
passed when its output has *no error* (and, to our cost, no stderr). Everything in that kernel
is under the student's control once their first cell ran: they can replace ``torch.allclose``
or ``numpy.allclose`` with ``lambda *a, **k: True``, assign ``Tensor.__eq__``, swap
``builtins.isinstance`` / ``builtins.AssertionError``, silence ``showtraceback`` or
``sys.excepthook``, install input transformers that rewrite the next cell, ... Python offers no
in-process isolation, so the design combines three layers, each closing what the previous
cannot:

1. **Nothing to read before grading.** Hidden tests exist only in the worker's private temp
   course dir (mode 0700, root) and, while the kernel runs, the repository's ``solutions/`` is
   covered by an empty mount (``autograder.sandbox``). A test cell's source reaches the kernel
   only at the moment it is executed.

2. **Restore before trusted code.** ``kernel_guard`` runs first in the fresh kernel, snapshots
   every protected reference, and ``restore()`` is executed (as a separate, hidden execution)
   before every *locked* cell: test cells and read-only instructor cells. Patches made by
   earlier student cells are therefore undone before a test runs, including hooks such as input
   transformers that could rewrite the test cell itself.

3. **Positive, unforgeable verdict.** Each test cell is sent with ``__gradlab__.seal(nonce)``
   appended (after the test code, before a trailing expression so nbgrader's partial-credit
   value still displays). ``seal`` first checks that nothing protected changed *during* the
   test (a student function that patches ``torch.allclose`` when called), then prints
   ``HMAC(key, nonce)``. A test counts as passed only if its output has no error *and* carries
   the right MAC for its fresh nonce; otherwise this preprocessor adds a
   ``GradingIntegrityError`` output, so nbgrader's own ``SaveAutoGrades`` scores it 0. The key
   reached the kernel through a file that the guard deleted before any student code ran.

What stays out of scope, documented rather than pretended: code that deliberately introspects
the guard itself (``gc``/closures/``ctypes``) can obtain the MAC oracle, and a patch that
reverts itself before the test ends is not seen by ``seal``. Both require targeting gradlab's
grader on purpose; ``autograder.worker`` flags such code (``flags`` column) for review.

stderr never zeroes a verified pass: nbgrader treats any stderr output (a torch
``UserWarning``) as failure, so stderr streams of verified test cells are re-labelled stdout.
Output floods are capped per cell and per notebook so the grader's memory stays bounded; error
outputs and seal markers are never dropped.
"""
from __future__ import annotations

import ast
import hashlib
import hmac
import os
import re
import secrets
import time

import nbformat

from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import Execute, NbGraderPreprocessor, OverwriteCells
from traitlets import Dict, Integer, List, Unicode

from .hardening import SandboxKernelManager

GUARD_SOURCE = open(os.path.join(os.path.dirname(__file__), "kernel_guard.py")).read()
SEAL_RE = re.compile(r"\n?@@gradlab-seal:([0-9a-zA-Z]*):([0-9a-f]*)@@\n?")
READY_RE = re.compile(r"@@gradlab-ready:(\d+):(\d+)@@")


class GradingSetupError(RuntimeError):
    """The trusted bootstrap could not be installed in the kernel (an infrastructure problem)."""


def is_test_cell(cell) -> bool:
    """An autograded test: a code grade cell that is not also a solution cell."""
    return cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)


def bound_names(source: str) -> list[str]:
    """Top-level names a cell binds by def/class/import/assignment (best effort)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names += [(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"]
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    return sorted(set(names))


def with_seal(source: str, nonce: str) -> str:
    """``source`` followed by the seal call; a trailing expression stays the displayed value."""
    seal = f"__gradlab__.seal({nonce!r})"
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics: plain append
        return f"{source}\n{seal}\n"
    last = tree.body[-1] if tree.body else None
    if isinstance(last, ast.Expr) and last.col_offset == 0:
        lines = source.splitlines(keepends=True)
        expr = ast.get_source_segment(source, last)
        end_line = lines[last.end_lineno - 1].encode()
        tail = end_line[last.end_col_offset:].decode(errors="ignore") + "".join(lines[last.end_lineno:])
        if expr is not None and ";" not in tail:
            head = "".join(lines[:last.lineno - 1])
            return f"{head}__gradlab_value__ = ({expr})\n{seal}\n__gradlab_value__\n"
    return f"{source}\n{seal}\n"


def expected_seal(key: bytes, nonce: str) -> str:
    return hmac.new(key, nonce.encode() + b":ok", hashlib.sha256).hexdigest()


class HardenedExecute(Execute):
    """nbgrader's Execute with the guard bootstrap, restore/pin/seal around locked cells,
    verdict verification and bounded outputs (see the module docstring)."""

    seal_key = Unicode("", config=True, help="hex HMAC key; the kernel reads it from key_file")
    key_file = Unicode("", config=True, help="where the kernel finds the key (deleted on read)")
    sandbox_uid = Integer(None, allow_none=True, config=True, help="owner of the key file")
    protect_prefixes = List(
        ["builtins", "sys", "torch", "numpy", "math", "cmath", "operator", "traceback",
         "unittest", "IPython", "ipykernel", "gradlab"], config=True)
    preload = List(["torch", "torch.testing", "torch.nn.functional", "numpy", "numpy.testing"], config=True,
                   help="imported before the snapshot, plus whatever the notebook's locked cells import")
    aliases = Dict({"torch": "torch", "np": "numpy", "numpy": "numpy", "nn": "torch.nn",
                    "F": "torch.nn.functional", "math": "math"}, config=True)
    max_cell_output = Integer(2_000_000, config=True, help="bytes of output kept per cell")
    max_total_output = Integer(20_000_000, config=True, help="bytes of output kept per notebook")

    # notebook id -> what happened; the worker points this at a fresh dict per submission and
    # reads it after nbgrader finished (same process).
    reports: dict = {}

    def __init__(self, *args, **kwargs):
        # nbgrader's Execute forces AsyncKernelManager through kwargs, which beats config.
        kwargs["kernel_manager_class"] = SandboxKernelManager
        super().__init__(*args, **kwargs)

    def preprocess(self, nb, resources, retries=None):
        notebook_id = (resources or {}).get("nbgrader", {}).get("notebook", "notebook")
        self.report = HardenedExecute.reports[notebook_id] = {
            "cells": {}, "failure": None, "truncated": 0, "guard": None, "timeouts": 0}
        self._out_cell: dict[int, int] = {}
        self._out_total = 0
        self._truncated: dict[int, int] = {}
        self._write_key()
        try:
            return super().preprocess(nb, resources, retries)
        except Exception as e:
            chain, err = [], e
            while err is not None and len(chain) < 5:
                chain.append(f"{type(err).__name__}: {err}")
                err = err.__cause__ or err.__context__
            self.report["failure"] = " <- ".join(chain)
            raise

    def _write_key(self) -> None:
        """One key file per kernel start; the guard deletes it before student code runs."""
        if os.path.exists(self.key_file):
            os.unlink(self.key_file)
        fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        with os.fdopen(fd, "wb") as f:
            f.write(bytes.fromhex(self.seal_key))
        if self.sandbox_uid is not None:
            os.chown(self.key_file, self.sandbox_uid, self.sandbox_uid)

    # -- hidden executions ------------------------------------------------------------------
    def _hidden(self, source: str, index: int) -> NotebookNode:
        cell = NotebookNode(cell_type="code", source=source, metadata=NotebookNode(), outputs=[],
                            execution_count=None)
        real = self.nb.cells[index]
        try:  # nbclient stores the executed cell at nb.cells[index]: put the real one back
            return self.execute_cell(cell, index, store_history=False)
        finally:
            self.nb.cells[index] = real

    def _instructor_imports(self) -> list[str]:
        """Modules imported by locked (instructor) cells: preloaded and protected like torch."""
        names = []
        for cell in self.nb.cells:
            if cell.cell_type != "code" or not utils.is_locked(cell):
                continue
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names += [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names.append(node.module)
        return sorted(set(names))

    def _bootstrap(self, index: int) -> None:
        extra = self._instructor_imports()
        prefixes = sorted(set(self.protect_prefixes) | {n.split(".")[0] for n in extra})
        args = (self.key_file, prefixes, list(self.preload) + extra, dict(self.aliases))
        source = (
            "_gradlab_g = {'__builtins__': __import__('builtins').__dict__.copy(), "
            "'__name__': '_gradlab_guard'}\n"
            f"exec(compile({GUARD_SOURCE!r}, '<gradlab-guard>', 'exec'), _gradlab_g)\n"
            f"_gradlab_g['_gradlab_install'](*{args!r})\n"
            "del _gradlab_g\n"
        )
        started = time.monotonic()
        cell_timeout, self.timeout = self.timeout, max(self.timeout or 0, 180)  # trusted, imports torch
        try:
            cell = self._hidden(source, index)
        finally:
            self.timeout = cell_timeout
        self.report["bootstrap_s"] = round(time.monotonic() - started, 2)
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        m = READY_RE.search(text)
        if not m:
            errors = [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]
            raise GradingSetupError(f"grading guard failed to start: {errors or text[-500:]}")
        self.report["guard"] = {"modules": int(m.group(1)), "classes": int(m.group(2))}

    # -- cells ------------------------------------------------------------------------------
    def preprocess_cell(self, cell, resources, index):
        if index == 0:
            self._bootstrap(index)
        if cell.cell_type != "code" or not cell.source.strip():
            return super().preprocess_cell(cell, resources, index)
        locked = utils.is_locked(cell)
        if locked:
            self._hidden("__gradlab__.restore()", index)
        if is_test_cell(cell):
            nonce = secrets.token_hex(16)
            original = cell.source
            cell.source = with_seal(original, nonce)
            try:
                cell, resources = super().preprocess_cell(cell, resources, index)
            finally:
                cell.source = original
            self._verify(cell, nonce)
        else:
            cell, resources = super().preprocess_cell(cell, resources, index)
        if locked:
            names = bound_names(cell.source)
            if names:
                self._hidden(f"__gradlab__.pin({names!r})", index)
        if index in self._truncated:
            cell.outputs.append(NotebookNode(
                output_type="stream", name="stdout",
                text=f"\n[gradlab: {self._truncated[index]} bytes of output were dropped]\n"))
        return cell, resources

    def _verify(self, cell, nonce: str) -> None:
        """Require the cell's own valid seal; otherwise make nbgrader see a failure."""
        want = expected_seal(bytes.fromhex(self.seal_key), nonce)
        sealed = False
        kept = []
        for out in cell.outputs:
            if out.output_type == "stream":
                for got_nonce, mac in SEAL_RE.findall(out.text):
                    sealed |= got_nonce == nonce and hmac.compare_digest(mac, want)
                out.text = SEAL_RE.sub("\n", out.text).strip("\n")
                if not out.text:
                    continue
                if out.text and not out.text.endswith("\n"):
                    out.text += "\n"
            kept.append(out)
        cell.outputs = kept
        errors = [o for o in cell.outputs if o.output_type == "error"]
        grade_id = cell.metadata.nbgrader.get("grade_id")
        if sealed and not errors:
            for out in cell.outputs:  # warnings on stderr must not zero a verified pass
                if out.output_type == "stream" and out.name == "stderr":
                    out.name = "stdout"
            verdict = "passed"
        elif errors:
            verdict = "failed"
        else:
            cell.outputs.append(NotebookNode(
                output_type="error", ename="GradingIntegrityError",
                evalue="this test did not run to completion: its output was suppressed or "
                       "the cell was altered while it ran",
                traceback=[]))
            verdict = "unsealed"
        self.report["cells"][grade_id] = verdict

    async def _async_handle_timeout(self, timeout, cell=None):
        self.report["timeouts"] += 1
        return await super()._async_handle_timeout(timeout, cell)

    # -- bounded outputs --------------------------------------------------------------------
    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content", {})
        if msg.get("msg_type") == "error":
            content["traceback"] = content.get("traceback", [])[-40:]
            return super().output(outs, msg, display_id, cell_index)
        size = len(content.get("text", "")) + sum(
            len(v) if isinstance(v, str) else len(str(v)) for v in content.get("data", {}).values())
        used = self._out_cell.get(cell_index, 0)
        if used + size > self.max_cell_output or self._out_total + size > self.max_total_output:
            self._truncated[cell_index] = self._truncated.get(cell_index, 0) + size
            self.report["truncated"] += size
            markers = "".join(m.group(0) for m in SEAL_RE.finditer(content.get("text", "")))
            if not markers:
                return None
            msg = {**msg, "content": {**content, "text": markers}}
            size = len(markers)
        self._out_cell[cell_index] = used + size
        self._out_total += size
        return super().output(outs, msg, display_id, cell_index)


class DropOrphanMetadata(NbGraderPreprocessor):
    """Turn cells whose nbgrader metadata lost its ``grade_id`` into plain student cells.

    That is what nbgrader's DeduplicateIds leaves of a duplicated or split grade cell, and
    CheckCellMetadata would then reject the whole notebook as "old metadata format". The first
    copy keeps the grade id (and gets the instructor's source back); the others are just code.
    """

    def preprocess_cell(self, cell, resources, index):
        meta = cell.metadata.get("nbgrader")
        if meta is not None and not meta.get("grade_id"):
            del cell.metadata["nbgrader"]
        return cell, resources


class RobustOverwriteCells(OverwriteCells):
    """nbgrader's OverwriteCells, robust to the damage students do to grade cells.

    nbgrader 0.9.6 crashes (KeyError) when re-adding a deleted grade cell whose preceding
    source cell was deleted too, and when a duplicated grade cell kept nbgrader metadata
    without a ``grade_id`` (what DeduplicateIds leaves behind). Both are student mistakes that
    must cost at most the points of the damaged cells, not the whole notebook.
    """

    @staticmethod
    def _gid(cell):
        return (cell.get("metadata", {}).get("nbgrader") or {}).get("grade_id")

    def add_missing_grade_cells(self, nb, resources):
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        order = [c.name for c in source_nb.source_cells]
        source = {c.name: c for c in source_nb.source_cells}
        grade_cells = {c.name: c for c in source_nb.grade_cells}
        solution_ids = {c.name for c in source_nb.solution_cells}
        for grade_id in sorted(grade_cells, key=lambda g: order.index(g) if g in order else -1):
            present = {self._gid(c): i for i, c in enumerate(nb.cells) if self._gid(c)}
            if grade_id in present or grade_id not in source:
                continue
            self.log.warning("Missing grade cell %s encountered, adding to notebook", grade_id)
            cell = self.missing_cell_transform(source[grade_id], grade_cells[grade_id].max_score,
                                               is_solution=grade_id in solution_ids)
            cell = nbformat.from_dict(cell)
            position = 0
            for prev in reversed(order[:order.index(grade_id)]):
                if prev in present:
                    position = present[prev] + 1
                    break
            nb.cells.insert(position, cell)
        return nb, resources

    def add_missing_task_cells(self, nb, resources):
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        order = [c.name for c in source_nb.source_cells]
        submitted = {self._gid(c) for c in nb.cells}
        for task_cell in source_nb.task_cells:
            if task_cell.name not in submitted:
                source_cell = source_nb.source_cells[order.index(task_cell.name)]
                nb.cells.append(nbformat.from_dict(
                    self.missing_cell_transform(source_cell, task_cell.max_score, is_task=True)))
        return nb, resources
