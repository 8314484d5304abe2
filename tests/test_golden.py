"""Golden output of one small graded class: a refactoring of the grader changes no byte a person reads.

A fixed class (the tiny course's two assignments: a full, a blank and a partial submission, a
few hostile ones, a notebook under the wrong assignment, an unknown assignment, a missing and a
corrupt notebook, formula-looking ids and file names) is graded in-process with a fixed batch
seed. What a teacher or student reads afterwards is compared with ``tests/golden/tiny_class.json``:
the rows of ``grades.csv`` and ``grades_detail.csv``, every feedback page and exchange file under
``OUT/feedback``, every notebook under ``autograded/``, and ``grades_final.csv`` from ``export``.
Only what depends on the clock or the temporary folder is masked (:func:`_mask`).

To re-record after an intended change of output: ``GRADLAB_GOLDEN_UPDATE=1 pytest tests/test_golden.py``
(the diff of the JSON file is then the change to review).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys

import pytest
from conftest import require

from autograder import course, sandbox
from grading import hostile
from grading import tiny_course as T

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "tiny_class.json")
SEED = 20261206
# students of the hostile suite that stay in the golden class: ordinary work, a cheat, a leak,
# damaged trees and names a spreadsheet would run
STUDENTS = ("full", "blank", "partial", "patch_allclose", "leak_hidden_tests", "visible_message_smuggle",
            "deleted_test_cell", "renamed", "missing", "corrupt_json", "other_assignment", "fifo_notebook",
            "=SUM(1,2)", "csv_note", "stderr_noise", "sys_exit")
TIME = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:?\d\d|Z| UTC)?")
# nbformat's random cell ids of the freshly written source notebooks (the grader's own are "cell-N")
CELL_ID = re.compile(r'"id": "[0-9a-f]{8}"')


def _mask(text: str, roots: list[str]) -> str:
    """``text`` without what changes from run to run or clone to clone: clock times, the temporary
    folders and where the environment lies (a traceback through IPython names its file)."""
    for root in roots:
        text = text.replace(root, "<TMP>")
    for venv in {os.path.realpath(sys.prefix), sys.prefix}:
        text = text.replace(venv, "<VENV>")
    return CELL_ID.sub('"id": "<ID>"', TIME.sub("<TIME>", text))


def _class(root: str, c: hostile.Course) -> str:
    """The golden class under ``root/submitted`` (a subset of the hostile suite plus one unknown assignment)."""
    every = os.path.join(root, "every")
    hostile.build(c, every, attack_targets=[], peek_targets=[])
    subs = os.path.join(root, "submitted")
    os.makedirs(subs)
    for student in STUDENTS:
        os.rename(os.path.join(every, student), os.path.join(subs, student))
    hostile.write(os.path.join(subs, "full", "a2"), course.fill_solutions(c.ps2_release, c.ps2_source), "ps2.ipynb")
    hostile.write(os.path.join(subs, "blank", "a2"), T.clone(c.ps2_release), "ps2.ipynb")
    hostile.write(os.path.join(subs, "lost", "a9"), c.full())
    with open(os.path.join(subs, "full", "a1", "timestamp.txt"), "w") as f:
        f.write("2026-12-01 10:00:00.000000 UTC")
    with open(os.path.join(subs, "full", "a1", "submission_secret.txt"), "w") as f:
        f.write("abc123secret\n")
    shutil.rmtree(every)
    return subs


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def _outputs(out: str, course_dir: str, roots: list[str]) -> dict[str, str]:
    """{relative path: masked text} of everything the golden output holds."""
    from autograder import export

    found = {}
    for name in ("grades.csv", "grades_detail.csv"):
        found[name] = _read(os.path.join(out, name))
    for base, prefix in ((os.path.join(out, "feedback"), "feedback"),
                         (os.path.join(course_dir, "autograded"), "autograded")):
        for dirpath, _, files in os.walk(base):
            for n in files:
                path = os.path.join(dirpath, n)
                found[os.path.join(prefix, os.path.relpath(path, base))] = _read(path)
    found["grades_final.csv"] = export.to_csv(export.final_grades(course.Course.load(course_dir)))
    return {k: _mask(v, roots) for k, v in sorted(found.items())}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    require("sandbox", sandbox.check())
    from autograder import pipeline, run
    from autograder.limits import Limits

    root = str(tmp_path_factory.mktemp("golden"))
    os.chmod(root, 0o755)
    source = T.write_source(os.path.join(root, "source"))
    release = os.path.join(root, "release")
    course.release(source=source, release_dir=release)
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            os.chmod(os.path.join(dirpath, n), 0o755 if n in dirs else 0o644)
    subs = _class(root, hostile.Course(source, release))
    out, course_dir = os.path.join(root, "out"), os.path.join(root, "course")
    ran = []

    def runner(nb_plan, **kwargs):   # the seam a queue plugs into: every notebook goes through it
        ran.append((nb_plan.student_id, nb_plan.assignment, nb_plan.notebook))
        return run.run_notebook(nb_plan, **kwargs)

    batch = pipeline.Batch(subs, out, source=source, jobs=2,
                           limits=Limits(timeout_s=60, cell_timeout_s=20, memory_mb=2000),
                           target=course.Course.load(course_dir), echo=lambda m: None,
                           runner=runner)
    batch.seed = SEED   # the batch secret, fixed: the hidden tests draw the same inputs every time
    rows = batch.grade()
    scores = {f"{r.student_id}/{r.assignment}": [r.status.code, r.score, r.max_score, sorted(r.flags)] for r in rows}
    return scores, _outputs(out, course_dir, [root, os.path.realpath(root)]), sorted(ran)


@pytest.mark.slow
def test_every_notebook_runs_through_the_batch_runner(graded):
    ran = graded[2]
    assert ("<reference>", "a1", "ps1") in ran and ("<reference>", "a2", "ps2") in ran
    assert ("full", "a1", "ps1") in ran and ("full", "a2", "ps2") in ran
    assert not [r for r in ran if r[0] in ("missing", "corrupt_json", "lost", "fifo_notebook")], ran


@pytest.mark.slow
def test_golden_class_output_is_unchanged(graded):
    scores, outputs, _ = graded
    now = {"scores": scores, "files": {k: _digest(v) for k, v in outputs.items()}}
    if os.environ.get("GRADLAB_GOLDEN_UPDATE"):
        os.makedirs(os.path.dirname(GOLDEN), exist_ok=True)
        with open(GOLDEN, "w", encoding="utf-8") as f:
            json.dump(now, f, indent=1, sort_keys=True)
            f.write("\n")
    with open(GOLDEN, encoding="utf-8") as f:
        golden = json.load(f)
    assert now["scores"] == golden["scores"]
    assert sorted(now["files"]) == sorted(golden["files"])
    changed = [k for k in golden["files"] if now["files"][k] != golden["files"][k]]
    dump = os.environ.get("GRADLAB_GOLDEN_DUMP")   # a folder: write the masked texts to diff by hand
    if dump:
        for k, v in outputs.items():
            os.makedirs(os.path.dirname(os.path.join(dump, k)), exist_ok=True)
            with open(os.path.join(dump, k), "w", encoding="utf-8") as f:
                f.write(v)
    assert not changed, changed
