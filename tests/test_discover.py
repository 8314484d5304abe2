"""discover: finding the submissions in a hostile tree (no sandbox is started here)."""
from __future__ import annotations

import os

import nbformat
import pytest

from autograder import discover
from autograder.records import Status


# -- discover: the tree is hostile --------------------------------------------------------------
def test_discover_handles_hostile_trees(tmp_path):
    nb = nbformat.writes(nbformat.v4.new_notebook()).encode()

    def put(path, data=nb):
        p = tmp_path / path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)

    put("ann/a1/ps1.ipynb")
    put("bob/a1/ps1 (1).ipynb")
    (tmp_path / "cat" / "a1").mkdir(parents=True)
    os.mkfifo(tmp_path / "cat" / "a1" / "ps1.ipynb")
    put("dan/a1/ps1.ipynb", b"x" * 10)
    os.chmod(tmp_path / "dan" / "a1" / "ps1.ipynb", 0)
    os.symlink(tmp_path / "ann", tmp_path / "eve")
    os.makedirs(os.path.join(os.fsencode(tmp_path), b"f\xffy", b"a1"))
    put("gus/zz/ps1.ipynb")
    put("README.txt", b"not a student")
    subs = {(s.student_id, s.assignment): s for s in discover.discover(str(tmp_path), {"a1": ["ps1"]})}
    assert set(subs) == {("ann", "a1"), ("bob", "a1"), ("cat", "a1"), ("dan", "a1"), ("eve", "?"),
                         ("f\\xffy", "?"), ("gus", "zz")}
    assert subs[("ann", "a1")].notebooks[0].path and not subs[("ann", "a1")].problem
    assert "renamed" in subs[("bob", "a1")].notes[0]
    assert "FIFO" in subs[("cat", "a1")].notebooks[0].problem.detail
    assert "unreadable" in subs[("dan", "a1")].notebooks[0].problem.detail
    assert "symbolic link" in subs[("eve", "?")].problem.detail
    assert "UTF-8" in subs[("f\\xffy", "?")].problem.detail
    assert subs[("gus", "zz")].problem.status is Status.UNKNOWN_ASSIGNMENT
    with pytest.raises(ValueError):
        discover.read_notebook(str(tmp_path / "cat" / "a1" / "ps1.ipynb"))  # returns at once, never blocks
