"""Hostile submissions against the grading *host* (tiny course, assignment a1): memory of the whole
sandbox, the kernel keyring, script in what formgrader renders, links and odd files in the
submission tree. Each case is (writer, expected status, expected score); the memory cases depend
on whether this host gives the grader a cgroup (``autograder.cgroup.mode()``).
"""
from __future__ import annotations

import os

from . import tiny_course as T
from .hostile import Course, after_imports, probe_before_tests, write

KEY_MARK = "gradlab-instructor-key"
PLANTED_KEY = "gradlab-planted-key"
XSS = "window.__pwned = 1; document.title = String.fromCharCode(80, 87, 78, 69, 68)"

CHILDREN_MEMORY = """import subprocess, sys
hog = "b = bytearray(300 * 2**20)\\nfor i in range(0, len(b), 4096): b[i] = 1\\nimport time; time.sleep(1)"
# five fresh interpreters: each far under RLIMIT_AS, together over the 1500 MB limit
kids = [subprocess.Popen([sys.executable, '-c', hog]) for _ in range(5)]
for k in kids:
    k.wait()
"""
FILL_EVERYTHING = """import os
n = 0
for d in ('/', '/dev', '/dev/shm', '/tmp', os.path.expanduser('~'), '/notebook'):
    for k in range(8):            # files of 128 MB (under RLIMIT_FSIZE) until the mount is full
        try:
            with open(os.path.join(d, f'fill{k}'), 'wb') as f:
                for _ in range(128):
                    f.write(b'x' * 2**20)
                    n += 1
        except OSError:
            break
print('filled', n, 'MB')
"""
KEYRING_PLANT = f"""import ctypes
libc = ctypes.CDLL(None, use_errno=True)
tried = []
for ring in (-3, -4, -5, -1, -2):     # session, user, user-session, thread, process keyrings
    tried.append(libc.syscall(248, b'user', b'{PLANTED_KEY}', b'x', 1, ring))
tried.append(libc.syscall(250, 1, b'gradlab-shared'))   # KEYCTL_JOIN_SESSION_KEYRING by name
print(tried, ctypes.get_errno())
"""


def keyring_probe(instructor_key: int) -> str:
    """True inside the sandbox when any keyring call works: the planted key, the instructor's key."""
    return (f"(lambda libc: libc.syscall(249, b'user', b'{PLANTED_KEY}', None, 0) >= 0 or "
            f"libc.syscall(250, 11, {instructor_key}, None, 0) >= 0 or "
            f"libc.syscall(250, 0, -3, 0) >= 0)(__import__('ctypes').CDLL(None))")


def rendered_parts(nb_json: dict) -> str:
    """What formgrader renders as markup: markdown cells and rich outputs (code is shown as text)."""
    import json
    parts = []
    for cell in nb_json["cells"]:
        if cell["cell_type"] == "markdown":
            parts.append("".join(cell["source"]))
        for o in cell.get("outputs", []):
            if o.get("output_type") in ("display_data", "execute_result"):
                parts.append(json.dumps(o))
    return "\n".join(parts)


def xss_notebook(c: Course):
    nb = c.full()
    T.set_solution(nb, "explain", f'An answer <img src=x onerror="{XSS}"> <script>{XSS}</script> '
                                  f'[click](javascript:{XSS.split(";")[0]}) $a<b$')
    src = ("from IPython.display import display, HTML, Javascript\n"
           f"display(HTML('<img src=x onerror=\"{XSS}\"><b>html</b>'))\n"
           f"display({{'application/javascript': \"{XSS}\", 'text/plain': 'js'}}, raw=True)\n"
           f"display({{'image/svg+xml': '<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"{XSS}\"/>'}}, raw=True)")
    return after_imports(nb, src)


def build(c: Course, root: str, *, cgroup: bool, secret_file: str, instructor_key: int) -> dict[str, tuple[str, float]]:
    """Write every case under ``root/<student>/a1``; ``secret_file``: a root-only file to link to."""
    cases: dict[str, tuple[str, float]] = {}

    def case(student, nb, status, score, name="ps1.ipynb"):
        write(os.path.join(root, student, "a1"), nb, name)
        cases[student] = (status, score)

    case("full", c.full(), "graded", 5)
    case("blank", c.blank(), "graded", 0)
    # the whole sandbox's memory: children together, and every tmpfs at once (our own attack)
    case("children_memory", after_imports(c.full(), CHILDREN_MEMORY), *(("memory", 0) if cgroup else ("graded", 5)))
    case("fill_everything", after_imports(c.full(), FILL_EVERYTHING), *(("memory", 0) if cgroup else ("graded", 5)))
    # the keyring: plant in every keyring, then a later notebook looks for it and for the instructor's
    case("aa_keyring_plant", after_imports(c.full(), KEYRING_PLANT), "graded", 5)
    case("zz_keyring_probe", probe_before_tests(c.full(), keyring_probe(instructor_key)), "graded", 5)
    # script for formgrader: html, javascript and svg outputs, html and a javascript: link in an answer
    case("xss", xss_notebook(c), "graded", 5)
    # links and odd files where the feedback stage reads: exchange files linked to a root-only file ...
    case("linked_exchange", c.full(), "graded", 5)
    for name in ("timestamp.txt", "submission_secret.txt"):
        os.symlink(secret_file, os.path.join(root, "linked_exchange", "a1", name))
    # ... FIFOs that would block a naive reader (our own attack) ...
    case("fifo_exchange", c.full(), "graded", 5)
    for name in ("timestamp.txt", "submission_secret.txt"):
        os.mkfifo(os.path.join(root, "fifo_exchange", "a1", name))
    # ... dangling links beside the notebook, and the notebook itself a dangling link (our own attack)
    case("dangling_beside", c.full(), "graded", 5)
    os.symlink("/nonexistent/old.ipynb", os.path.join(root, "dangling_beside", "a1", "old.ipynb"))
    os.symlink("/nonexistent/timestamp", os.path.join(root, "dangling_beside", "a1", "timestamp.txt"))
    os.makedirs(os.path.join(root, "dangling_notebook", "a1"))
    os.symlink("/nonexistent/ps1.ipynb", os.path.join(root, "dangling_notebook", "a1", "ps1.ipynb"))
    cases["dangling_notebook"] = ("rejected", 0)
    return cases


