"""Feedback pages for students: a readable summary, never the hidden tests.

nbgrader's own feedback is the whole autograded notebook, hidden test cells included
(jupyter/nbgrader#917, #1363). Ours is one page per notebook that says, per graded cell, how
many points it earned and, for a failed test, the error type and message. The message is
capped and any line of instructor test code that appears in it verbatim (a student function can
raise an error quoting its caller) is replaced by "[hidden]". No cell source and no output of
a test cell is shown.
"""
from __future__ import annotations

import html
import os
import re

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
SCAFFOLD = re.compile(r"__gradlab__\.seal\('[0-9a-f]*'\)|__gradlab_value__ = \(|__gradlab_value__")
MAX_MESSAGE = 300

STATUS_TEXT = {
    "graded": "Graded automatically.",
    "timeout": "Your code took too long: it was stopped, and cells that had not finished earned no points.",
    "memory": "Your code used too much memory: it was stopped.",
    "process_limit": "Your code started too many processes: it was stopped.",
    "kernel_died": "The Python kernel running your notebook crashed or exited (for example through "
                   "os._exit or a segmentation fault); the notebook could not be graded to the end.",
    "invalid_notebook": "The file is not a readable Jupyter notebook of this assignment.",
    "missing_notebook": "This notebook was not submitted.",
    "wrong_assignment": "The submitted notebook belongs to another assignment.",
    "error": "The grader failed on this submission; your instructor has been told.",
}

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:52rem;margin:2rem auto;
padding:0 1rem;color:#1f2328;line-height:1.5}
h1{font-size:1.5rem;margin-bottom:.2rem} .sub{color:#57606a;margin-top:0}
.score{font-size:2rem;font-weight:600} .status{padding:.6rem 1rem;border-radius:6px;margin:1rem 0}
.ok{background:#dafbe1} .warn{background:#fff8c5} .bad{background:#ffebe9}
table{border-collapse:collapse;width:100%;margin-top:1rem} th,td{text-align:left;padding:.45rem .6rem;
border-bottom:1px solid #d0d7de;vertical-align:top} th{background:#f6f8fa}
td.pts{white-space:nowrap;text-align:right} code{background:#f6f8fa;padding:.1rem .3rem;border-radius:4px;
font-size:.9em;word-break:break-word} .pass{color:#1a7f37;font-weight:600} .fail{color:#cf222e;font-weight:600}
.pending{color:#9a6700;font-weight:600} ul.notes{color:#57606a}
"""


def redact(message: str, hidden_lines: list[str]) -> str:
    """Strip ANSI codes, hide verbatim test code, cap the length."""
    text = SCAFFOLD.sub("", ANSI.sub("", message or ""))
    for line in hidden_lines:
        if line and line in text:
            text = text.replace(line, "[hidden]")
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + " …"


def _fmt(x: float) -> str:
    return f"{x:g}"


def _row(cell: dict, grade: dict | None, summary: dict | None, hidden: list[str]) -> str:
    gid, kind, points = cell["id"], cell["kind"], cell["points"]
    if grade is None:
        result, earned = '<span class="fail">not graded</span>', 0.0
    elif kind == "answer" and grade.get("auto_score") is None:
        result, earned = '<span class="pending">to be graded by your instructor</span>', None
    else:
        earned = grade["score"]
        errors = (summary or {}).get("errors", [])
        if kind == "test" and summary is None:
            result = '<span class="fail">not run</span>'
        elif errors:
            e = errors[-1]
            result = (f'<span class="fail">failed</span> — <code>{html.escape(e["ename"])}</code>'
                      + (f': {html.escape(redact(e["evalue"], hidden))}' if e.get("evalue") else ""))
        elif kind == "answer" and earned == 0:
            result = '<span class="fail">no answer</span>'
        elif earned >= points:
            result = '<span class="pass">passed</span>'
        else:
            result = f'<span class="pending">partial credit</span>'
    shown = "–" if earned is None else _fmt(earned)
    label = {"test": "test", "answer": "written answer", "task": "task"}.get(kind, kind)
    return (f"<tr><td><code>{html.escape(gid)}</code></td><td>{label}</td><td>{result}</td>"
            f'<td class="pts">{shown} / {_fmt(points)}</td></tr>')


def render_page(result: dict, info: dict, stem: str) -> str:
    nb_info = info["notebooks"][stem]
    nb = result.get("notebooks", {}).get(stem)
    status = nb["status"] if nb else result["status"]
    if nb is None and status == "graded":
        status = "missing_notebook"
    score = nb["score"] if nb else 0.0
    cls = "ok" if status == "graded" else ("warn" if status in ("timeout", "memory") else "bad")
    rows = "\n".join(
        _row(c, (nb or {}).get("grades", {}).get(c["id"]), (nb or {}).get("cells", {}).get(c["id"]),
             nb_info.get("hidden_lines", []))
        for c in nb_info["cells"])
    notes = [n for n in result.get("notes", []) if n.startswith(stem + ".ipynb") or ".ipynb" not in n]
    notes_html = ("<h2>Notes</h2><ul class='notes'>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes)
                  + "</ul>") if notes else ""
    manual = any(c["kind"] == "answer" for c in nb_info["cells"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Feedback: {html.escape(result['assignment'])} / {html.escape(stem)}</title><style>{CSS}</style></head>
<body>
<h1>{html.escape(stem)}</h1>
<p class="sub">Assignment <b>{html.escape(result['assignment'])}</b> · student <b>{html.escape(result['student_id'])}</b></p>
<div class="score">{_fmt(score)} / {_fmt(nb_info['max_score'])} points</div>
<div class="status {cls}">{html.escape(STATUS_TEXT.get(status, status))}</div>
<table><thead><tr><th>Graded cell</th><th>Kind</th><th>Result</th><th>Points</th></tr></thead>
<tbody>
{rows}
</tbody></table>
{"<p class='sub'>Written answers are graded by your instructor; their points are not included yet.</p>" if manual else ""}
{notes_html}
<p class="sub">Tests are run on a fresh kernel, top to bottom. Hidden tests are not shown; fix the failing
function and check it against the visible tests before resubmitting.</p>
</body></html>
"""


def write_pages(folder: str, result: dict, info: dict) -> list[str]:
    """One ``<notebook>.html`` per notebook of the assignment in ``folder``."""
    os.makedirs(folder, exist_ok=True)
    paths = []
    for stem in info["notebooks"]:
        path = os.path.join(folder, stem + ".html")
        with open(path, "w", encoding="utf-8") as f:
            f.write(render_page(result, info, stem))
        paths.append(path)
    return paths
