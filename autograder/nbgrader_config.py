"""nbgrader configuration of the gradlab course (loaded by ../nbgrader_config.py).

Source notebooks (with solutions and hidden tests) live in ``solutions/``; the student release
that ``nbgrader generate_assignment`` makes from them lives in ``course/``.
"""
import os

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

# nbgrader's own autograde runs student code in an unsandboxed kernel as whoever starts it (the
# instructor, or the course service behind formgrader's Autograde button), and its feedback shows
# the autograded outputs. With this course's config both refuse, from the command line and from
# formgrader's buttons alike, and name the commands that do it safely. GRADLAB_PLAIN_NBGRADER=1
# lets them run anyway: for comparison only (the parity tests and `python -m autograder bench`
# run plain nbgrader on trusted submissions as the anchor).
PLAIN_NBGRADER_FLAG = "GRADLAB_PLAIN_NBGRADER"


def _refuse(command, instead):
    def hook(**kwargs):
        if os.environ.get(PLAIN_NBGRADER_FLAG) != "1":
            raise RuntimeError(
                f"nbgrader {command} is disabled for this course: it would run student code (or show its "
                f"outputs) outside the grading sandbox. Use `{instead}` instead (see README, the "
                f"instructor loop). For comparison only: {PLAIN_NBGRADER_FLAG}=1 nbgrader {command} ...")
    return hook


c.Autograde.pre_convert_hook = _refuse("autograde", "python -m autograder grade SUBMISSIONS --out OUT")
c.GenerateFeedback.pre_convert_hook = _refuse("generate_feedback", "python -m autograder feedback OUT")

# formgrader renders submissions through nbconvert: its own sanitiser as a second layer behind
# autograder/sanitize.py (scripts, handlers and JavaScript outputs never reach the page).
c.HTMLExporter.sanitize_html = True

# The course's experiment cells train small nets for up to ~30 s on a laptop CPU; nbgrader's
# default of 30 s per cell would cut them off during a student's Validate or a plain
# `nbgrader autograde`. (`python -m autograder grade` sets its own limits.)
c.Execute.timeout = 300
