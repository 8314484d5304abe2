"""Runs one notebook's plan *inside* the sandbox (this file is the only grader code the sandbox sees).

    python -s -B runner.py SITE_PACKAGES  < plan.json     (results: JSON lines on the plan's results_fd)

The plan (``autograder.plan``) arrives on stdin: the cells to run, in order, and the grading
seed. Cells run in one in-process IPython ``InteractiveShell`` (no Jupyter kernel, no ZMQ: a
notebook starts in the time ``import torch`` takes). Every output path is captured and capped:
``print``/stderr, the display hook, ``display``/``update_display`` and the error (``ename``,
``evalue``, traceback). Around every graded test cell the runner calls
``gradlab.observe.begin(grade_id, cell_key)`` / ``end()`` and writes what the cell recorded as plain
data, each value tagged with its kind (``gradlab.observe.encode``: tensors as dtype + shape + raw
bytes, base64; never pickle).

A test cell arrives in parts: its visible pieces run as cells (they are in ``In`` as in a
notebook), its hidden regions are compiled here and their text dropped. In a student's notebook
the parent has already removed the hidden regions' ``assert`` statements and ``if checking():``
blocks and ``gradlab.observe.checking()`` is False, so no expected value is ever computed in
this process; the batch secret never reaches it (each test cell gets a one-way key of it).

Nothing written here is trusted by the grader: the student's code shares this process and can
rewrite any of it. The parent reads fd 3 with a size cap and the judge only believes numbers
that match the reference run's.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import site
import sys

MAX_CELL_OUTPUT = 200_000          # characters of output kept per cell
MAX_TOTAL_OUTPUT = 2_000_000       # characters of output kept per notebook
MAX_ENAME, MAX_EVALUE, MAX_TRACEBACK = 100, 2_000, 8_000


class CellTimeout(BaseException):
    """Raised by the per-cell timer (a BaseException: ``except Exception`` cannot swallow it)."""


def cap(text, n: int) -> str:
    try:
        text = text if type(text) is str else str(text)
    except BaseException:  # noqa: BLE001 — a student's __str__ may raise anything
        text = "<unprintable>"
    return text if len(text) <= n else text[:n] + f" …[{len(text) - n} characters dropped]"


class Outputs:
    """The capped outputs of the running cell (nbformat output dicts)."""

    def __init__(self):
        self.total = 0
        self.dropped = 0
        self.start_cell()

    def start_cell(self):
        self.items: list[dict] = []
        self.cell_size = 0

    def _room(self, size: int) -> bool:
        if self.cell_size + size > MAX_CELL_OUTPUT or self.total + size > MAX_TOTAL_OUTPUT:
            self.dropped += size
            return False
        self.cell_size += size
        self.total += size
        return True

    def stream(self, name: str, text: str):
        if not self._room(len(text)):
            return
        if self.items and self.items[-1].get("output_type") == "stream" and self.items[-1]["name"] == name:
            self.items[-1]["text"] += text
        else:
            self.items.append({"output_type": "stream", "name": name, "text": text})

    def data(self, output_type: str, data: dict, count=None):
        kept = {}
        for mime, value in (data or {}).items():
            if mime in ("text/plain", "text/html", "text/markdown", "image/png", "text/latex"):
                kept[str(mime)] = cap(value, MAX_CELL_OUTPUT)
        size = sum(len(v) for v in kept.values())
        if not kept or not self._room(size):
            return
        item = {"output_type": output_type, "data": kept, "metadata": {}}
        if output_type == "execute_result":
            item["execution_count"] = count
        self.items.append(item)


class CappedStream:
    def __init__(self, outputs: Outputs, name: str):
        self.outputs, self.name = outputs, name
        self.encoding = "utf-8"

    def write(self, text):
        text = cap(text, MAX_CELL_OUTPUT)
        self.outputs.stream(self.name, text)
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False

    def fileno(self):
        raise OSError("no file descriptor while grading")


def _error(exc) -> dict:
    ename = cap(type(exc).__name__, MAX_ENAME)
    evalue = cap(exc, MAX_EVALUE)
    try:
        import traceback
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=20))
    except BaseException:  # noqa: BLE001
        tb = ""
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": [cap(tb, MAX_TRACEBACK)]}


def _outcome(exc) -> str:
    if isinstance(exc, CellTimeout):
        return "timeout"
    if isinstance(exc, MemoryError):
        return "memory"
    if isinstance(exc, BlockingIOError):  # fork/clone refused: RLIMIT_NPROC
        return "process_limit"
    return "error"


def _cpu() -> float:
    import resource
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _seed_data_cache():
    """Private copy of the grader's generated datasets (mounted read-only at /opt/gradlab-cache)."""
    src = "/opt/gradlab-cache"
    dst = os.path.join(os.environ.get("HOME", "/tmp"), ".cache", "gradlab")
    os.makedirs(dst, exist_ok=True)
    os.environ["GRADLAB_CACHE"] = dst
    if os.path.isdir(src):
        for name in os.listdir(src):
            path = os.path.join(src, name)
            if os.path.isfile(path) and not os.path.islink(path) and os.path.getsize(path) < 100 * 2**20:
                shutil.copy(path, os.path.join(dst, name))


def _compile_hidden(cells: list) -> dict:
    """Every test cell's parts, hidden regions compiled: ``index -> [("visible", text) | ("hidden", code)]``.
    The regions' text is dropped from the plan, so it is in no ``In``, history, ``linecache`` or
    variable of this process (compiled code keeps names and constants, not the source)."""
    out = {}
    for cell in cells:
        if cell.get("kind") != "test":
            continue
        parts = []
        for p in cell.pop("parts", []):
            text = p.pop("source", "")
            if p.get("hidden"):
                try:
                    parts.append(("hidden", compile(text, "<hidden test>", "exec", dont_inherit=True)))
                except SyntaxError as e:
                    parts.append(("hidden", e.__class__))
            else:
                parts.append(("visible", text))
        out[cell["index"]] = parts
    return out


def _run_part(shell, part: str, code, last_error: list):
    """Run one part of a cell in the shell's namespace; the error it raised, or None."""
    if part == "visible":
        result = shell.run_cell(code, store_history=True, silent=False)
        exc = result.error_before_exec or result.error_in_exec
        return exc if exc is not None else (last_error[-1] if last_error else None)
    if isinstance(code, type):
        return code("a hidden test could not be compiled")
    try:
        exec(code, shell.user_ns)  # noqa: S102 — the grader's own test code, in the notebook's namespace
    except BaseException as e:  # noqa: BLE001 — reported like a cell's error
        if isinstance(e, CellTimeout):
            raise
        return e
    return None


def _prepare(plan: dict) -> None:
    """The sandbox's setup before any of the notebook's code: the process limit, the plotting
    backend, the data cache and the release's data files in the working directory."""
    import resource  # counted in this user namespace only: the sandbox's own tasks
    resource.setrlimit(resource.RLIMIT_NPROC, (plan["max_procs"], plan["max_procs"]))
    os.environ["MPLBACKEND"] = "Agg"
    _seed_data_cache()
    if os.path.isdir("/assignment"):  # the release's data files, next to the notebook
        for name in os.listdir("/assignment"):
            path = os.path.join("/assignment", name)
            if os.path.isfile(path) and not name.endswith(".ipynb"):
                shutil.copy(path, name)


def _shell(outputs: Outputs, last_error: list):
    """The in-process IPython shell the cells run in: every display path goes to ``outputs``
    (capped), every error to ``last_error``; no traceback printing, no GUI, no figures."""
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell

    class Hook(DisplayHook):
        def write_output_prompt(self):
            pass

        def write_format_data(self, format_dict, md_dict=None):
            outputs.data("execute_result", format_dict, self.prompt_count)

    class Publisher(DisplayPublisher):
        def publish(self, data, metadata=None, source=None, *, transient=None, update=False):
            outputs.data("display_data", data)  # updates count against the caps like new outputs

    shell = InteractiveShell.instance(displayhook_class=Hook, display_pub_class=Publisher, colors="NoColor")
    shell.showtraceback = lambda *a, **k: None  # errors are taken from the run result
    shell.enable_gui = lambda gui=None: None
    shell.register_magic_function(lambda line="": None, "line", "matplotlib")  # stays on Agg: no figures kept
    shell.set_custom_exc((BaseException,), lambda sh, etype, value, tb, tb_offset=None: last_error.append(value))
    return shell


def _run_cell(shell, parts: list, last_error: list, timeout_s: float) -> tuple[BaseException | None, str | None]:
    """Run one cell's parts in order under the cell timer: (the error that stopped it, or None;
    the part it stopped in)."""
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    exc, part = None, None
    try:
        for part, code in parts:
            last_error.clear()
            exc = _run_part(shell, part, code, last_error)
            if exc is not None:
                break
    except BaseException as e:  # noqa: BLE001 — a timer firing between statements
        exc = e
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return exc, part


def _result_line(cell: dict, items: list, exc, part, recording, encode) -> dict:
    """The result line of one cell: its outputs, its outcome and error, and, for a test cell, what
    it recorded (``part``: the part it stopped in)."""
    line = {"index": cell["index"], "grade_id": cell.get("grade_id"), "outcome": "ok", "outputs": items}
    if exc is not None:
        line["outcome"] = _outcome(exc)
        error = _error(exc)
        if cell["kind"] == "test":
            error["part"] = part  # where the test failed: a visible failure's message may be shown
        line["outputs"] = items + [error]
    if recording is not None:
        try:
            line["observations"] = {str(k): encode(v) for k, v in recording.values.items()}
            line["tolerances"] = {str(k): list(v) for k, v in recording.tolerances.items()}
        except BaseException as e:  # noqa: BLE001
            # written out by hand: the encoder is what failed (a str's encoding, as observe.encode writes it)
            line["observations"] = {"<error>": {"kind": "str", "value": f"<type-error: {type(e).__name__}>"}}
    return line


def main() -> int:
    import time
    t0 = time.monotonic()
    site.addsitedir(sys.argv[1])
    plan = json.loads(sys.stdin.read(50_000_000))
    hidden_code = _compile_hidden(plan["cells"])  # the hidden regions' text is gone from here on
    results = os.fdopen(int(plan["results_fd"]), "w", buffering=1)
    _prepare(plan)

    from gradlab import observe

    begin, end, encode = observe.begin, observe.end, observe.encode  # the runner's own references
    observe.set_checking(plan.get("checking") is True)
    outputs = Outputs()
    last_error: list = []
    shell = _shell(outputs, last_error)
    sys.stdout, sys.stderr = CappedStream(outputs, "stdout"), CappedStream(outputs, "stderr")

    def on_alarm(signum, frame):
        raise CellTimeout(f"cell timeout ({plan['cell_timeout_s']} s)")

    signal.signal(signal.SIGALRM, on_alarm)
    shell.run_cell("import torch", store_history=False)  # part of start-up, whatever the notebook imports
    t1 = time.monotonic()
    for cell in plan["cells"]:
        outputs.start_cell()
        last_error.clear()
        test = cell["kind"] == "test"
        if test:
            begin(cell["grade_id"], cell["key"])
        exc, part = _run_cell(shell, hidden_code[cell["index"]] if test else [("visible", cell["source"])],
                              last_error, float(plan["cell_timeout_s"]))
        recording = end() if test else None
        line = _result_line(cell, outputs.items, exc, part, recording, encode)
        results.write(json.dumps(line) + "\n")
        if line["outcome"] in ("memory", "process_limit"):
            break  # what the notebook holds may starve every later cell: stop here, as a dead kernel would
    results.write(json.dumps({"done": True, "dropped_output": outputs.dropped,
                              "timing": {"imports_s": round(t1 - t0, 3), "cells_s": round(time.monotonic() - t1, 3),
                                         "cpu_s": round(_cpu(), 3)}})
                  + "\n")
    results.flush()
    return 0


if __name__ == "__main__":
    # Every result is written and flushed by now; what a normal exit would add is the interpreter's
    # teardown (IPython's history and atexit work, torch's destructors), about 0.9 s of CPU per
    # notebook that the grader never reads. Leaving at once also means no handler a student
    # registered with atexit runs after the last result.
    os._exit(main())
