"""The discover end of ``grade``: the course's assignments read once into typed values."""
from __future__ import annotations

import collections
import os

import nbformat
import pytest

from autograder import course, discover, pipeline, plan
from autograder.limits import Limits
from autograder.records import CellRun, RunOutput, Status
from grading import tiny_course as T


def test_assignment_snapshot_is_typed_and_frozen(tmp_path):
    source = T.write_source(str(tmp_path / "source"))
    (tmp_path / "source" / "a1" / "data.csv").write_text("x\n1\n")
    found = course.read_assignments(source)
    assert list(found) == ["a1", "a2"]
    a1 = found["a1"]
    ps1 = a1.notebooks["ps1"]
    assert {c.grade_id: c.points for c in ps1.cells if c.kind == "test"} == T.PS1_TESTS
    assert {c.grade_id: c.kind for c in ps1.cells if c.kind != "test"} == {"explain": "answer"}
    assert a1.max_score == ps1.max_score == T.PS1_MAX
    assert ps1.solution_of["test_double"] == "double_impl"
    assert plan.forbidden(ps1.nb)["sigmoid_impl"] == tuple(T.SIGMOID_BUILTINS)
    assert ps1.hidden and all(isinstance(h, str) for h in ps1.hidden)
    with pytest.raises(AttributeError):
        ps1.name = "other"   # frozen: every stage sees the one snapshot
    with pytest.raises(TypeError):
        a1.notebooks["ps9"] = ps1
    # the source hash covers every file of the folder, data files included
    before = a1.source_hash
    (tmp_path / "source" / "a1" / "data.csv").write_text("x\n2\n")
    assert course.read_assignment(os.path.join(source, "a1")).source_hash != before
    assert course.read_assignment(os.path.join(source, "a2")).source_hash == found["a2"].source_hash


def _ok_runner(nb_plan, **_):
    """A stand-in sandbox: every cell ran and recorded nothing (the judge passes it unjudged)."""
    return RunOutput(Status.GRADED, [CellRun(c.index, c.grade_id, "ok") for c in nb_plan.cells])


def test_grade_reads_each_source_and_submitted_notebook_once(tmp_path, monkeypatch):
    source = T.write_source(str(tmp_path / "source"))
    subs = tmp_path / "submitted"
    for student in ("ann", "bob", "cat"):
        os.makedirs(subs / student / "a1")
        nbformat.write(T.clone(T.ps1_source()), str(subs / student / "a1" / "ps1.ipynb"))
    os.makedirs(subs / "ann" / "a2")
    nbformat.write(T.clone(T.ps2_source()), str(subs / "ann" / "a2" / "ps2.ipynb"))

    reads = collections.Counter()
    read_source, read_submitted = course._read_source, discover.read_notebook

    def counting_source(path):
        reads[os.path.relpath(path, str(tmp_path))] += 1
        return read_source(path)

    def counting_submitted(path):
        reads[os.path.relpath(path, str(tmp_path))] += 1
        return read_submitted(path)

    monkeypatch.setattr(course, "_read_source", counting_source)
    monkeypatch.setattr(discover, "read_notebook", counting_submitted)
    rows = pipeline.Batch(str(subs), str(tmp_path / "out"), source=source, jobs=1, limits=Limits(),
                          target=course.Course.load(str(tmp_path / "course")), echo=lambda m: None,
                          runner=_ok_runner).grade()
    assert sorted((r.student_id, r.assignment, r.status.code) for r in rows) == [
        ("ann", "a1", "graded"), ("ann", "a2", "graded"), ("bob", "a1", "graded"), ("cat", "a1", "graded")]
    notebooks = {k: n for k, n in reads.items() if k.endswith(".ipynb") and k.startswith(("source/", "submitted/"))}
    assert notebooks == {"source/a1/ps1.ipynb": 1, "source/a2/ps2.ipynb": 1, "submitted/ann/a1/ps1.ipynb": 1,
                         "submitted/bob/a1/ps1.ipynb": 1, "submitted/cat/a1/ps1.ipynb": 1,
                         "submitted/ann/a2/ps2.ipynb": 1}, reads


def test_register_is_idempotent_and_names_the_database(tmp_path):
    source = T.write_source(str(tmp_path / "source"))
    made = course.generate(source, ["a1"], str(tmp_path / "template"))
    target = course.Course.load(str(tmp_path / "course"))
    for _ in range(2):
        course.register(made.db_url, target.db_url, ["a1"])
    with target.gradebook() as gb:
        [nb] = gb.find_assignment("a1").notebooks
        assert nb.name == "ps1" and {c.name for c in nb.grade_cells} == set(T.PS1_TESTS) | set(T.PS1_MANUAL)
    with pytest.raises(course.GradebookError) as e:
        course.register(made.db_url, "postgresql://grader:p@ss:w/rd@127.0.0.1:1/gradebook", ["a1"])
    assert "127.0.0.1" in str(e.value) and "p@ss" not in str(e.value) and "w/rd" not in str(e.value)
