"""Typed records that flow one way through the grading pipeline.

    discover  ->  plan  ->  run (sandbox)  ->  judge  ->  record (gradebook, autograded/, feedback/)
    Submission    NotebookPlan  RunOutput       NotebookResult   SubmissionResult
                                (CellRun)       (CellVerdict)

Every record is a dataclass of plain values (they cross a process boundary as JSON); every
grading status is one member of :class:`Status`, which carries its order (the worst status of a
submission's notebooks is the submission's) and the sentence a student reads.
"""
from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field


class Status(enum.Enum):
    """One grading outcome. ``value`` is the CSV code; members are listed from best to worst."""

    # the sentence is the status box of a student's page (autograder/i18n.py translates each one)
    GRADED = ("graded", "Graded automatically.")
    MISSING_NOTEBOOK = ("missing_notebook", "This notebook was not submitted.")
    INVALID_NOTEBOOK = ("invalid_notebook", "The file is not a readable Jupyter notebook of this assignment.")
    UNKNOWN_ASSIGNMENT = ("unknown_assignment", "The folder of this submission does not name an assignment of the course.")
    TIMEOUT = ("timeout", "Your code took too long: it was stopped, and cells that had not finished earned no points.")
    MEMORY = ("memory", "Your code used too much memory: it was stopped, and cells that had not finished earned "
                        "no points.")
    PROCESS_LIMIT = ("process_limit", "Your code started too many processes: it was stopped, and cells that had "
                                      "not finished earned no points.")
    KERNEL_DIED = ("kernel_died", "The Python kernel running your notebook crashed or exited (for example through "
                                  "os._exit or a segmentation fault); the notebook could not be graded to the end.")
    REJECTED = ("rejected", "The file was not accepted: it is not a regular, readable notebook file of a "
                            "reasonable size (a link, a pipe or an unreadable file is never opened).")
    ERROR = ("error", "The grader failed on this submission for a reason unrelated to your answers; "
                      "your instructor has been told.")

    def __init__(self, code: str, text: str):
        self.code = code
        self.text = text

    @property
    def rank(self) -> int:
        return list(Status).index(self)

    @classmethod
    def from_code(cls, code: str) -> Status:
        for s in cls:
            if s.code == code:
                return s
        raise ValueError(f"unknown status {code!r}")

    @classmethod
    def worst(cls, statuses) -> Status:
        return max(statuses, key=lambda s: s.rank, default=cls.GRADED)


class Outcome(enum.Enum):
    """How the run of one cell ended, as the runner reports it; a stop by a limit is also its
    notebook's :class:`Status` (``stop``)."""

    OK = "ok"
    ERROR = "error"                # the cell raised (a failed test, a broken answer)
    TIMEOUT = "timeout"
    MEMORY = "memory"
    PROCESS_LIMIT = "process_limit"

    @property
    def stop(self) -> Status | None:
        """The notebook's status when a cell ended this way (None: the notebook goes on)."""
        return None if self in (Outcome.OK, Outcome.ERROR) else Status.from_code(self.value)


@dataclass(frozen=True)
class Problem:
    """Why a submission or one of its notebooks cannot be graded, typed where it is found: the
    ``status`` of its error row and a ``detail`` for the teacher and the student (no secret)."""
    status: Status
    detail: str


@dataclass(frozen=True)
class NotebookFile:
    """One notebook of a submission, as found on disk (the parent never follows a link) and read
    once: ``data`` is what is hashed and graded."""
    name: str                      # e.g. "01_sigmoid_saturation.ipynb" (the release's name)
    path: str | None               # None when missing or rejected
    problem: Problem | None = None  # why it cannot be graded (missing, too large, not a regular file ...)
    data: bytes | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Submission:
    """``SUBMISSIONS/<student_id>/<assignment>/`` (nbgrader's submitted layout)."""
    student_id: str
    assignment: str
    path: str
    notebooks: tuple[NotebookFile, ...] = ()
    problem: Problem | None = None  # a reason the whole submission cannot be graded
    timestamp: str | None = None   # nbgrader's timestamp.txt when present
    notes: tuple[str, ...] = ()    # e.g. a renamed notebook graded under its proper name


@dataclass(frozen=True)
class CellPlan:
    """One cell the sandbox runs: a student's cell, a locked cell, or a graded test cell."""
    index: int
    kind: str                      # "setup" | "solution" | "test" | "student" (unmarked cell) | "answer"
    grade_id: str | None
    source: str                    # for tests: the *source* notebook's cell (hidden tests included)
    points: float = 0.0
    unchanged: bool = False        # a written answer left as released (nbgrader's checksum): 0, not manual


@dataclass(frozen=True)
class NotebookPlan:
    """What to execute for one notebook and what its verdict needs."""
    student_id: str
    assignment: str
    notebook: str
    cells: tuple[CellPlan, ...]
    forbidden: dict[str, tuple[str, ...]] = field(default_factory=dict)  # solution grade_id -> names
    problem: str | None = None     # the submitted notebook cannot be graded (why)
    notes: tuple[str, ...] = ()    # e.g. "edited read-only cells were restored: ..."


@dataclass
class CellRun:
    """What the runner reported for one executed cell (untrusted: the student's process wrote it)."""
    index: int
    grade_id: str | None
    outcome: Outcome               # a code ("ok", "timeout" ...) is taken too: the runner's JSON speaks codes
    outputs: list = field(default_factory=list)          # nbformat outputs, capped by the runner
    observations: dict | None = None                     # gradlab.observe.encode()d values (test cells)
    tolerances: dict | None = None

    def __post_init__(self):
        self.outcome = Outcome(self.outcome)


@dataclass
class RunOutput:
    """One notebook's run in its sandbox, as read back by the parent."""
    status: Status
    cells: list[CellRun] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    timing: dict = field(default_factory=dict)    # runner-reported: imports_s, cells_s (untrusted, for bench)

    def cell(self, index: int) -> CellRun | None:
        found = [c for c in self.cells if c.index == index]
        return found[-1] if found else None

    def to_json(self) -> dict:
        d = asdict(self)
        d["status"] = self.status.code
        for c in d["cells"]:
            c["outcome"] = c["outcome"].value
        return d

    @classmethod
    def from_json(cls, d: dict) -> RunOutput:
        return cls(Status.from_code(d["status"]), [CellRun(**c) for c in d["cells"]], d["notes"], d["seconds"],
                   d.get("timing", {}))


@dataclass(frozen=True)
class StudentRun:
    """One submitted notebook after plan and run: its plan and the sandbox's output, or the
    problem that stopped it first (then ``output`` is None)."""
    notebook: str                  # the stem
    plan: NotebookPlan | None = None
    output: RunOutput | None = None
    problem: Problem | None = None
    lang: str = "en"               # the language the student worked in (the page is written in it)


@dataclass
class CellVerdict:
    grade_id: str
    points: float
    max_points: float
    passed: bool
    message: str = ""              # capped and redacted: safe to show the student
    ename: str = ""                # capped and redacted error class name ("" when none)
    kind: str = "test"             # "test" (autograded) | "answer" (graded by hand) | "task"
    needs_manual_grade: bool = False

    @property
    def auto_points(self) -> float | None:
        """What the autograder gives the cell in the gradebook (None: left to manual grading)."""
        return None if self.needs_manual_grade else self.points


@dataclass
class NotebookResult:
    notebook: str
    status: Status
    cells: list[CellVerdict] = field(default_factory=list)
    message: str = ""
    flags: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum((c.points for c in self.cells), 0.0)


@dataclass
class SubmissionResult:
    student_id: str
    assignment: str
    status: Status
    notebooks: list[NotebookResult] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)   # e.g. "forbidden:torch.sigmoid", "unsafe-no-sandbox"
    timestamp: str | None = None
    max_score: float = 0.0
    notes: list[str] = field(default_factory=list)
    input_hash: str = ""

    @property
    def score(self) -> float:
        return sum((n.score for n in self.notebooks), 0.0)

    @property
    def needs_manual_grade(self) -> bool:
        return any(c.needs_manual_grade for n in self.notebooks for c in n.cells)

    def to_json(self) -> dict:
        """Plain JSON (``OUT/results/<student>/<assignment>.json``); statuses as their codes."""
        d = asdict(self)
        d["status"] = self.status.code
        for n, nd in zip(self.notebooks, d["notebooks"]):
            nd["status"] = n.status.code
        return d

    @classmethod
    def from_json(cls, d: dict) -> SubmissionResult:
        """The result :meth:`to_json` wrote (``ValueError``/``KeyError``/``TypeError`` if it is not one)."""
        notebooks = [NotebookResult(**{**n, "status": Status.from_code(n["status"]),
                                       "cells": [CellVerdict(**c) for c in n["cells"]]}) for n in d["notebooks"]]
        return cls(**{**d, "status": Status.from_code(d["status"]), "notebooks": notebooks})
