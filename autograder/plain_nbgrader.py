"""nbgrader's own ``autograde`` and ``generate_feedback``, refused for this course.

``nbgrader autograde`` runs student code in an unsandboxed kernel as whoever starts it (the
instructor at the command line, or the course service behind formgrader's Autograde button), and
``generate_feedback`` renders the autograded notebook's outputs, which a student's code can fill
with the hidden tests. Both refuse with this course's config, naming the command that does the
job safely; one preprocessor at the head of each converter stops formgrader's buttons too.
``GRADLAB_PLAIN_NBGRADER=1`` lets them run: for comparison only (a parity test or a benchmark
running plain nbgrader on trusted submissions as its anchor).
"""
from __future__ import annotations

import os

from nbconvert.preprocessors import Preprocessor

FLAG = "GRADLAB_PLAIN_NBGRADER"
INSTEAD = {"autograde": "python -m autograder grade SUBMISSIONS --out OUT",
           "generate_feedback": "python -m autograder feedback OUT"}


def refusal(command: str) -> str:
    return (f"nbgrader {command} is disabled for this course: it would run student code (or show its outputs) "
            f"outside the grading sandbox. Use `{INSTEAD[command]}` instead (README, the instructor loop). "
            f"For comparison only: {FLAG}=1 nbgrader {command} ...")


def allowed() -> bool:
    return os.environ.get(FLAG) == "1"


class RefuseAutograde(Preprocessor):
    """First preprocessor of ``Autograde``: formgrader's Autograde button stops here."""

    def preprocess(self, nb, resources):
        if not allowed():
            raise RuntimeError(refusal("autograde"))
        return nb, resources


class RefuseGenerateFeedback(Preprocessor):
    """First preprocessor of ``GenerateFeedback``: formgrader's Generate Feedback button stops here."""

    def preprocess(self, nb, resources):
        if not allowed():
            raise RuntimeError(refusal("generate_feedback"))
        return nb, resources
