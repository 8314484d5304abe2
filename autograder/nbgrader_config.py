"""nbgrader configuration of the gradlab course (loaded by ../nbgrader_config.py).

Source notebooks (with solutions and hidden tests) live in ``solutions/``; the student release
that ``nbgrader generate_assignment`` makes from them lives in ``course/``.
"""
import os
import sys

c = get_config()  # noqa: F821 — injected by traitlets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

c.CourseDirectory.root = ROOT
c.CourseDirectory.course_id = "gradlab"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "course"
# db_url is left to nbgrader's default, sqlite:///<root>/gradebook.db: the same database for
# `python -m autograder release|grade|feedback|export`, `nbgrader autograde`, formgrader and
# `nbgrader export`, and `--CourseDirectory.root=DIR` moves it along with the course. A class on
# PostgreSQL sets c.CourseDirectory.db_url here (or passes --db-url to python -m autograder).

# What students see in place of a solution.
c.ClearSolutions.code_stub = {"python": '# YOUR CODE HERE\nraise NotImplementedError("replace this line with your solution")'}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Restoring hidden tests during autograde is not a change by the student: no false
# "checksum has changed" warning for every test cell (see autograder/overwritecells.py).
try:
    from nbgrader.converters.autograde import Autograde

    from autograder.overwritecells import OverwriteCells
except ImportError:  # the autograder package is not installed (pip install -e .): nbgrader's default
    pass
else:
    c.Autograde.sanitize_preprocessors = [OverwriteCells if p.__name__ == "OverwriteCells" else p
                                          for p in Autograde.sanitize_preprocessors.make_dynamic_default()]

# formgrader renders equations offline: MathJax from this Jupyter server (jupyter-server-mathjax),
# not from a CDN. jupyter/nbconvert/formgrade/mathjax.html.j2 replaces nbconvert's macro for the
# `formgrade` template; formgrader's own template folder must stay in the list (this file is loaded
# after formgrader sets it).
_NBGRADER = os.path.dirname(__import__("importlib.util").util.find_spec("nbgrader").origin)
c.HTMLExporter.extra_template_basedirs = [os.path.join(ROOT, "jupyter", "nbconvert"),
                                          os.path.join(_NBGRADER, "server_extensions", "formgrader", "templates")]

# nbgrader's own autograde and generate_feedback refuse with this config, from the command line and
# from formgrader's buttons alike (autograder/plain_nbgrader.py says why and what to run instead).
try:
    from nbgrader.converters.autograde import Autograde
    from nbgrader.converters.generate_feedback import GenerateFeedback

    from autograder import plain_nbgrader
except ImportError:  # the autograder package is not installed: nbgrader's defaults
    pass
else:
    c.Autograde.sanitize_preprocessors = [plain_nbgrader.RefuseAutograde] + list(
        c.Autograde["sanitize_preprocessors"] if "sanitize_preprocessors" in c.Autograde
        else Autograde.sanitize_preprocessors.make_dynamic_default())
    c.GenerateFeedback.preprocessors = [plain_nbgrader.RefuseGenerateFeedback] + list(
        c.GenerateFeedback["preprocessors"] if "preprocessors" in c.GenerateFeedback
        else GenerateFeedback.preprocessors.make_dynamic_default())
    # from the command line the refusal comes first and plainly (nbgrader would log it per submission,
    # inside a traceback): `nbgrader autograde|generate_feedback` with this config exits 2
    if ("nbgrader" in os.path.basename(sys.argv[0]) or sys.argv[0].endswith(os.path.join("nbgrader", "__main__.py"))) \
            and len(sys.argv) > 1 and sys.argv[1] in plain_nbgrader.INSTEAD and not plain_nbgrader.allowed():
        print(plain_nbgrader.refusal(sys.argv[1]), file=sys.stderr)
        raise SystemExit(2)

# formgrader renders submissions through nbconvert: its own sanitiser as a second layer behind
# autograder/sanitize.py (scripts, handlers and JavaScript outputs never reach the page).
c.HTMLExporter.sanitize_html = True

# The course's experiment cells train small nets for up to ~30 s on a laptop CPU; nbgrader's
# default of 30 s per cell would cut them off during a student's Validate or a plain
# `nbgrader autograde`. (`python -m autograder grade` sets its own limits.)
c.Execute.timeout = 300
