"""What many test modules build or look up: the checkout's root, and small nbgrader courses.

Every fixture notebook of the tests is made of cells from :func:`cell` (the one place that writes
nbgrader's cell metadata) and written by :func:`tiny_course` (a folder of notebooks, optionally
with the course's nbgrader config, like a checkout). Each module keeps the *shape* of its own
notebook (which cells, which sources): that shape is what its test is about.

Examples:
    >>> nb = notebook([cell("def double(x):\\n    return 2 * x", "double", solution=True),
    ...                cell("assert double(2) == 4", "test_double", grade=True, points=1)])
    >>> nb.cells[1].metadata["nbgrader"]["locked"], nb.cells[1].metadata["nbgrader"]["points"]
    (True, 1)
    >>> tiny_course(tmp, {"a1/ps1.ipynb": nb})            # doctest: +SKIP
"""
from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def nbgrader_meta(grade_id: str, *, grade: bool = False, solution: bool = False, locked: bool | None = None,
                  task: bool = False, points: float | None = None) -> dict:
    """nbgrader's metadata (schema 3) of one cell, as ``{"nbgrader": {...}}``.

    Args:
        grade_id: the cell's id, unique in its notebook.
        grade: an autograded test (code) or a manually graded answer (markdown with ``solution``).
        solution: the student writes in it (an exercise, or a written answer).
        locked: the release restores it; by default every cell the student does not write in.
        task: a manually graded task cell.
        points: the cell's points (graded and task cells); the key is left out when None.
    """
    meta = {"grade": grade, "grade_id": grade_id, "locked": (not solution) if locked is None else locked,
            "schema_version": 3, "solution": solution, "task": task}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def cell(source: str, grade_id: str | None = None, *, markdown: bool = False, **nbgrader) -> nbformat.NotebookNode:
    """A code cell (a markdown cell with ``markdown=True``); with nbgrader metadata when ``grade_id`` is
    given (``nbgrader`` are :func:`nbgrader_meta`'s flags), a plain cell otherwise."""
    make = new_markdown_cell if markdown else new_code_cell
    return make(source, metadata=nbgrader_meta(grade_id, **nbgrader) if grade_id is not None else {})


def notebook(cells, *, language_info: bool = False) -> nbformat.NotebookNode:
    """A notebook of ``cells`` for the ``python3`` kernel (with ``language_info`` when asked: nbgrader's
    release keeps it)."""
    metadata = {"kernelspec": dict(KERNELSPEC)}
    if language_info:
        metadata["language_info"] = {"name": "python"}
    return new_notebook(cells=list(cells), metadata=metadata)


def tiny_course(dest, notebooks: dict[str, nbformat.NotebookNode], *, config: bool = False) -> Path:
    """Write ``notebooks`` ({path relative to ``dest``: notebook}) under ``dest``; with ``config``, also the
    course's two nbgrader config files, so that ``dest`` resolves the course like a checkout does.

    Returns:
        ``dest`` as a :class:`~pathlib.Path`.
    """
    dest = Path(dest)
    if config:
        (dest / "autograder").mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / "nbgrader_config.py", dest / "nbgrader_config.py")
        shutil.copy2(ROOT / "autograder" / "nbgrader_config.py", dest / "autograder" / "nbgrader_config.py")
    for rel, nb in notebooks.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(dest / rel))
    return dest
