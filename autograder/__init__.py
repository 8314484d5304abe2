"""Grading tools of the gradlab course: nbgrader configuration and the ``python -m autograder`` CLI."""
