"""Start an isolated JupyterLab server and a headless Chromium for the browser tests.

* JupyterLab: ``python -m jupyter lab`` on 127.0.0.1, a free port (``port_retries=0``), a random
  token, ``--allow-root`` when root, and every per-user Jupyter directory (config, data, runtime,
  lab settings and workspaces, IPython) in a scratch folder, so no state leaks in or out. The
  sys-prefix config of the venv still applies, which is where nbgrader's wheel enables its server
  extensions (``validate_assignment`` serves the Validate button) — exactly as for ``make lab``.
* Chromium: Debian's ``/usr/bin/chromium`` driven by Playwright from PyPI (never
  ``playwright install``), a fresh profile per run.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage"]
# what `make lab` sets, so figures render inline exactly as students see them
LAB_ENV = {"MPLBACKEND": "module://matplotlib_inline.backend_inline"}


def chromium_path() -> str | None:
    return next((p for p in CHROMIUM_CANDIDATES if os.access(p, os.X_OK)), shutil.which("chromium"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    log: Path
    proc: subprocess.Popen

    def api(self, path: str, timeout: float = 10):
        req = urllib.request.Request(f"{self.url}{path}", headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read() or b"null")

    def shutdown_kernels(self):
        """Shut down every session's kernel (the notebooks opened so far), so they free memory."""
        for session in self.api("/api/sessions") or []:
            req = urllib.request.Request(f"{self.url}/api/sessions/{session['id']}", method="DELETE",
                                         headers={"Authorization": f"token {self.token}"})
            with contextlib.suppress(urllib.error.URLError, OSError):
                urllib.request.urlopen(req, timeout=30).close()

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""


def _lab_settings(settings_dir: Path):
    """User settings for the test: every cell stays in the DOM (no windowing), no news/update popups."""
    for ext, body in {
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification": {"checkForUpdates": False, "fetchNews": "false"},
    }.items():
        path = settings_dir / f"{ext}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(body))


@contextlib.contextmanager
def jupyter_lab(root: Path, scratch: Path, startup_timeout: float = 90):
    """Run JupyterLab serving ``root``; yield a :class:`Lab` once ``/api/status`` answers."""
    port, token = free_port(), secrets.token_hex(16)
    dirs = {name: scratch / name for name in ("config", "data", "runtime", "settings", "workspaces", "ipython")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    _lab_settings(dirs["settings"])
    env = dict(os.environ, **LAB_ENV,
               JUPYTER_CONFIG_DIR=str(dirs["config"]), JUPYTER_DATA_DIR=str(dirs["data"]),
               JUPYTER_RUNTIME_DIR=str(dirs["runtime"]), JUPYTERLAB_SETTINGS_DIR=str(dirs["settings"]),
               JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]), IPYTHONDIR=str(dirs["ipython"]),
               PYTHONUNBUFFERED="1")
    env.pop("GRADLAB_PROGRESS", None)  # a student's lab shows progress bars
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--ServerApp.port={port}",
           "--ServerApp.port_retries=0", f"--ServerApp.token={token}", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.root_dir={root}",]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = scratch / "jupyterlab.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    lab = Lab(f"http://127.0.0.1:{port}", token, root, log, proc)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {proc.returncode} before answering:\n{lab.log_tail()}")
            try:
                lab.api("/api/status", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not answer on {lab.url} within {startup_timeout} s:\n{lab.log_tail()}") from None
                time.sleep(0.25)
        yield lab
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen, grace: float = 10):
    """SIGTERM the server's process group (server + kernels), then SIGKILL what is left."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(grace)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


@contextlib.contextmanager
def chromium(scratch: Path, viewport=(1400, 1000)):
    """A Playwright browser context on Debian's Chromium with a fresh profile."""
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    if exe is None:
        raise RuntimeError("no Chromium at /usr/bin/chromium: apt-get install chromium (never `playwright install`)")
    profile = scratch / "chromium-profile"
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=exe, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": viewport[0], "height": viewport[1]})
        try:
            yield context
        finally:
            context.close()


# --------------------------------------------------------------------------------------------
# driving a notebook in JupyterLab (selectors verified on JupyterLab 4.6 / ipywidgets 8.1 / nbgrader 0.9)
KERNEL_STATUS = '.jp-StatusBar-TextItem[title^="Change kernel"]'  # "Python 3 (ipykernel) | Idle"
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
VALIDATE_BUTTON = f"{PANEL} .jp-NotebookPanel-toolbar .validate-button"
CELL = f"{PANEL} .jp-Notebook .jp-Cell"
WIDGET = ".jp-OutputArea-output .jupyter-widgets.widget-container"  # a rendered ipywidgets box
FIGURE = ".widget-output .jp-RenderedImage img"  # a figure displayed into an Output widget


def open_notebook(page, lab: Lab, rel: str, timeout: float = 120):
    """Open ``rel`` with a reset workspace and wait until its kernel is idle in the status bar."""
    page.goto(f"{lab.url}/lab/tree/{rel}?reset&token={lab.token}")
    page.wait_for_selector(PANEL, timeout=timeout * 1000)
    page.wait_for_function(
        """(sel) => { const e = document.querySelector(sel); return e && /\\|\\s*Idle$/.test(e.textContent.trim()); }""",
        arg=KERNEL_STATUS, timeout=timeout * 1000)
    dialog = page.query_selector(".jp-Dialog")
    if dialog:
        raise AssertionError(f"a dialog is open after loading {rel}: {dialog.inner_text()!r}")


def _prompts(page) -> list[str]:
    return page.eval_on_selector_all(f"{CELL} .jp-InputPrompt", "els => els.map(e => e.textContent.trim())")


def run_all(page, timeout: float = 300) -> float:
    """Run > Run All Cells, then wait until the kernel is idle and no cell is queued or running.

    The status bar can say Idle between two queued cells, so the end is: Idle, no ``[*]`` prompt,
    some cell executed, and all of that unchanged for three polls in a row. JupyterLab stops
    a Run All at the first error and un-queues the cells after it."""
    import time

    page.click('.lm-MenuBar-itemLabel:text-is("Run")')
    page.click('.lm-Menu-itemLabel:text-is("Run All Cells")')
    start = time.monotonic()
    stable, last = 0, None
    while stable < 3:
        if time.monotonic() - start > timeout:
            raise AssertionError(f"Run All did not finish within {timeout} s: kernel "
                                 f"{page.inner_text(KERNEL_STATUS)!r}, prompts {_prompts(page)}")
        time.sleep(0.5)
        state = (page.inner_text(KERNEL_STATUS).strip(), tuple(_prompts(page)))
        done = state[0].endswith("Idle") and not any("*" in p for p in state[1]) \
            and any(re.fullmatch(r"\[\d+\]:", p) for p in state[1])
        stable = stable + 1 if done and state == last else 0
        last = state
    return time.monotonic() - start


def save(page, lab: Lab, rel: str, timeout: float = 30):
    """Save the notebook (toolbar button) and wait until the file on disk changed."""
    import time

    path = lab.root / rel
    before = path.stat().st_mtime_ns
    page.click(f'{PANEL} .jp-NotebookPanel-toolbar [data-jp-item-name="save"] jp-button')  # the toolbar's save
    deadline = time.monotonic() + timeout
    while path.stat().st_mtime_ns == before:
        if time.monotonic() > deadline:
            raise AssertionError(f"{rel} was not saved within {timeout} s")
        time.sleep(0.2)
    time.sleep(0.3)  # let the write finish


def cell_index(element) -> int:
    return element.evaluate("e => Number(e.closest('.jp-Cell').getAttribute('data-windowed-list-index'))")


def figure_src(widget) -> str | None:
    img = widget.query_selector(FIGURE)
    return img.get_attribute("src") if img else None


def change_a_control(page, widget) -> str:
    """Change one control of an explorer like a student would; returns what was done."""
    select = widget.query_selector(".widget-dropdown select")
    if select:
        values = select.eval_on_selector_all("option", "os => os.map(o => o.value)")
        current = select.input_value()
        new = next(v for v in values if v != current)
        select.select_option(new)
        return f"dropdown {current!r} -> {new!r}"
    multi = widget.query_selector(".widget-select-multiple select")
    if multi:
        values = multi.eval_on_selector_all("option", "os => os.map(o => o.value)")
        chosen = multi.eval_on_selector_all("option:checked", "os => os.map(o => o.value)")
        new = [v for v in values if v not in chosen][:1] or values[:1]
        multi.select_option(new)
        return f"multi-select {chosen} -> {new}"
    handle = widget.query_selector(".widget-slider .noUi-handle")
    if handle:
        before = handle.get_attribute("aria-valuenow")
        handle.focus()
        page.keyboard.press("ArrowRight")
        return f"slider {before} -> {handle.get_attribute('aria-valuenow')} (keyboard)"
    raise AssertionError("the explorer has no dropdown, multi-select or slider to change")


def wait_for_new_figure(widget, old_src: str, timeout: float = 60) -> str | None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        src = figure_src(widget)
        if src and src != old_src:
            return src
        time.sleep(0.25)
    return None
