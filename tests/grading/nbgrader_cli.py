"""Running the real nbgrader command line in a temporary course (for the comparison tests)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys


def nbgrader(*args, cwd, check=True):
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep
                                                + os.environ.get("PATH", "")))
    if check:
        assert proc.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def make_course(path, source, exchange=None):
    os.makedirs(path, exist_ok=True)
    shutil.copytree(os.path.join(source, "a1"), os.path.join(path, "source", "a1"))
    lines = ["c = get_config()", f"c.CourseDirectory.root = {str(path)!r}", "c.CourseDirectory.course_id = 'gradlab-test'"]
    if exchange:
        lines.append(f"c.Exchange.root = {str(exchange)!r}")
    with open(os.path.join(path, "nbgrader_config.py"), "w") as f:
        f.write("\n".join(lines) + "\n")
