"""The bundled demo class that ``make grade`` (``python -m autograder grade --demo``) grades.

The submissions are generated at grade time from the current assignments, so they never go
stale: every student's notebooks are the *release* version of each assignment (made by
nbgrader from ``solutions/`` in a temp dir), with the solution cells filled in from the source
according to the student's recipe in ``class.json``. When ``solutions/`` holds no assignment
yet, the tiny bundled assignment ``demo/source/00_demo`` is used instead.
"""
from __future__ import annotations

import json
import os

import nbformat
from nbformat.v4 import new_code_cell

from .. import course

HERE = os.path.dirname(os.path.abspath(__file__))
BUNDLED_SOURCE = os.path.join(HERE, "source")

CHEAT = """# a student who tries to pass by patching the comparison tools
import numpy, torch
torch.allclose = lambda *a, **k: True
torch.testing.assert_close = lambda *a, **k: None
numpy.allclose = lambda *a, **k: True
get_ipython().showtraceback = lambda *a, **k: None
"""
NOISE = "import sys, warnings\nwarnings.warn('a harmless warning on stderr')\nprint('noise', file=sys.stderr)\n"


def load_class() -> list[dict]:
    with open(os.path.join(HERE, "class.json")) as f:
        return json.load(f)


def _notebook_for(recipe: str, release_nb, source_nb):
    solution_ids = [c.metadata.nbgrader["grade_id"] for c in source_nb.cells
                    if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"]
    if recipe.startswith("solution"):
        nb = course.fill_solutions(release_nb, source_nb)
    elif recipe.startswith("partial"):
        nb = course.fill_solutions(release_nb, source_nb, which=set(solution_ids[: max(1, len(solution_ids) // 2)]))
    else:
        nb = course.fill_solutions(release_nb, source_nb, which=set())
    if recipe.endswith("+noise"):
        nb.cells.insert(1, new_code_cell(NOISE))
    if recipe.endswith("+cheat"):
        nb.cells.insert(1, new_code_cell(CHEAT))
    return nb


def write_class(dest: str, source: str, work: dict[tuple[str, str], str]) -> str:
    """``dest/submitted/<student>/<assignment>/``: for each (student, assignment) of ``work``, the
    release's notebooks with the solution cells filled in by its recipe (``"solution"``,
    ``"partial"``, ``"blank"``, each with an optional ``+noise``/``+cheat``; ``"missing"``: an empty
    folder). The release is made by nbgrader from ``source`` once, in ``dest/release-course``.
    Returns the submissions folder."""
    assignments = sorted({a for _, a in work})
    tmp_course = os.path.join(dest, "release-course")
    course.generate(source, assignments, tmp_course)
    notebooks = {}
    for a in assignments:
        for stem in course.notebooks_of(os.path.join(source, a)):
            notebooks[a, stem] = (nbformat.read(os.path.join(tmp_course, "release", a, stem + ".ipynb"), as_version=4),
                                  nbformat.read(os.path.join(source, a, stem + ".ipynb"), as_version=4))
    submitted = os.path.join(dest, "submitted")
    for (student, a), recipe in work.items():
        folder = os.path.join(submitted, student, a)
        os.makedirs(folder, exist_ok=True)
        if recipe == "missing":
            continue  # submitted an empty folder
        for (assignment, stem), (release_nb, source_nb) in notebooks.items():
            if assignment == a:
                nbformat.write(_notebook_for(recipe, release_nb, source_nb), os.path.join(folder, stem + ".ipynb"))
    return submitted


def write_demo_class(dest: str, source: str | None = None) -> tuple[str, str]:
    """Write the demo submissions under ``dest/submitted``; returns (source, submissions)."""
    source = source or course.default_source()
    assignments = course.list_assignments(source)
    if not assignments:
        source, assignments = BUNDLED_SOURCE, course.list_assignments(BUNDLED_SOURCE)
    work = {(student["id"], a): student["work"] for student in load_class() for a in assignments}
    return source, write_class(dest, source, work)
