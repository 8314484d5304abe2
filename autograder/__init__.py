"""Grading tools of the gradlab course: nbgrader configuration and the ``python -m autograder`` CLI."""

__version__ = "0.1.0"
