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
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(ROOT, "gradebook.db")

# What students see in place of a solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# The course's experiment cells train small nets for up to ~30 s on a laptop CPU; nbgrader's
# default of 30 s per cell would cut them off during a student's Validate or a plain
# `nbgrader autograde`. (`python -m autograder grade` sets its own limits.)
c.Execute.timeout = 300
