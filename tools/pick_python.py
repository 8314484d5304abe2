"""Print the Python that ``make`` builds ``.venv`` from: one every user can run.

The checkout's ``.venv`` is shared by whoever uses the checkout (an instructor, a TA, the grading
sandbox's unprivileged uid, the members' servers of ``make class``), and a venv runs its base
interpreter in place. So the base must be reachable by others: not a pyenv Python under a 0700
``/root`` or ``$HOME``. This script looks at every ``python3.11`` (then ``python3``) on ``PATH``
and in ``/usr/local/bin`` and ``/usr/bin``, and prints the first whose real path every directory
above is searchable by others and whose version is the lock's (``constraints.txt`` is resolved
for 3.11). With none, it prints the first usable one and says on stderr why the grader and other
users will not be able to run the environment.

Usage: ``python3 tools/pick_python.py`` (any Python 3 runs it; stdlib only).
"""
from __future__ import annotations

import os
import subprocess
import sys

# the grader's own rule (stdlib only, importable before .venv exists)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from autograder.sandbox import world_reachable  # noqa: E402

WANT = (3, 11)  # the version constraints.txt is resolved for


def probe(python: str) -> tuple[tuple[int, int], str] | None:
    """(version, real path of the interpreter it runs), from one run of ``python``; a pyenv shim
    is a script that runs an interpreter elsewhere, and that interpreter is what counts."""
    try:
        out = subprocess.run([python, "-c", "import os, sys; print(*sys.version_info[:2], os.path.realpath(sys.executable))"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    parts = out.stdout.split(maxsplit=2)
    if out.returncode != 0 or len(parts) != 3:
        return None
    return (int(parts[0]), int(parts[1])), parts[2].strip()


def candidates() -> list[str]:
    dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d] + ["/usr/local/bin", "/usr/bin"]
    seen, found = set(), []
    for name in (f"python{WANT[0]}.{WANT[1]}", "python3"):
        for d in dirs:
            path = os.path.join(d, name)
            if os.path.isfile(path) and os.access(path, os.X_OK) and path not in seen:
                seen.add(path)
                found.append(path)
    return found


def pick() -> tuple[str | None, str]:
    """(the interpreter, a warning or '')."""
    probed = [(p, probe(p)) for p in candidates()]
    usable = [(p, found[1]) for p, found in probed if found and found[0] == WANT]
    for _, real in usable:
        if world_reachable(real):
            return real, ""
    if usable:
        first = usable[0][0]
        return first, (f"pick_python: no Python {WANT[0]}.{WANT[1]} here is reachable by other users; "
                       f"using {first}: the grading sandbox (as root) and other users cannot run "
                       ".venv (install your distribution's python3.11 or one outside a private home)")
    return None, f"pick_python: no Python {WANT[0]}.{WANT[1]} found on PATH, /usr/local/bin or /usr/bin"


if __name__ == "__main__":
    python, warning = pick()
    if warning:
        print(warning, file=sys.stderr)
    if python is None:
        sys.exit(1)
    print(python)
