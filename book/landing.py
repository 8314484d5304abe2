"""The landing page: the chapter's three problems, the assignments that answer each, and what every
notebook teaches (its title cell's title and "You will learn" list), in course order."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

#: Géron ch. 11's three problems, and the assignment numbers (folder prefixes) that address each.
#: An assignment whose number is not listed goes under "More".
PROBLEMS = [
    ("Vanishing and exploding gradients", ("01", "02", "03"),
     "Deep nets stop learning when the gradient shrinks or grows layer after layer: the sigmoid's "
     "saturation, the variance argument behind Xavier/Glorot and He initialization, and "
     "nonsaturating activations."),
    ("Training is slow with a large network", ("04", "05"),
     "Batch normalization and gradient clipping, then faster optimizers and learning-rate schedules."),
    ("Overfitting", ("06",),
     "Regularization: dropout, max-norm, ℓ1/ℓ2 penalties, Monte-Carlo dropout and early stopping."),
]


@dataclass
class Page:
    """One notebook of the book: where it lives and what its title cell says."""
    assignment: str           # folder name, e.g. 01_vanishing_gradients
    notebook: str             # file name, e.g. 01_sigmoid_saturation.ipynb
    title: str
    learn: list[str] = field(default_factory=list)

    @property
    def docname(self) -> str:
        return f"{self.assignment}/{self.notebook[:-len('.ipynb')]}"


def read_title_cell(source: str) -> tuple[str, list[str]]:
    """(title, "you will learn" bullets) of a notebook's first markdown cell."""
    lines = source.splitlines()
    title = next((ln[2:].strip() for ln in lines if ln.startswith("# ")), "")
    learn, inside = [], False
    for ln in lines:
        if re.match(r"\s*\*\*(what )?you will learn\*\*", ln, re.I):
            inside = True
            continue
        if inside:
            if re.match(r"\s*[-*] ", ln):
                learn.append(re.sub(r"^\s*[-*] ", "", ln).strip())
            elif ln.startswith("  ") and learn and ln.strip():
                learn[-1] += " " + ln.strip()
            elif ln.strip() or learn:
                break
    return title, learn


def assignment_title(name: str) -> str:
    """``04_normalization_and_clipping`` → ``04 · Normalization and clipping``."""
    num, _, rest = name.partition("_")
    return f"{num} · {rest.replace('_', ' ').capitalize()}"


def landing_page(pages: list[Page], edition: str, lab_hint: str) -> str:
    """The MyST source of index.md: the learning path, then the hidden toctrees (sidebar, order)."""
    by_assignment: dict[str, list[Page]] = {}
    for p in pages:
        by_assignment.setdefault(p.assignment, []).append(p)
    other = ("More", tuple(a[:2] for a in by_assignment if not any(a[:2] in nums for _, nums, _ in PROBLEMS)), "")
    out = ["# gradlab — why deep nets are hard to train, and how to fix it", "",
           f"*{edition.capitalize()} edition.* An open course in PyTorch that follows chapter 11 of Géron's "
           "*Hands-On Machine Learning*: each of the chapter's three problems, the assignments that "
           "answer it, and what every notebook teaches. " + lab_hint, ""]
    for n, (problem, nums, blurb) in enumerate(PROBLEMS + ([other] if other[1] else []), 1):
        assignments = [a for a in by_assignment if a[:2] in nums]
        out += [f"## {'Problem ' + str(n) + ': ' if problem != 'More' else ''}{problem}", ""]
        if blurb:
            out += [blurb, ""]
        if not assignments:
            out += [f"*Assignments {', '.join(nums)}: not in this build yet.*", ""]
        for a in assignments:
            out += [f"### {assignment_title(a)}", ""]
            for p in by_assignment[a]:
                out.append(f"- **[{p.title}]({p.docname}.ipynb)**")
                out += [f"  - {item}" for item in p.learn]
            out.append("")
    for a, ps in by_assignment.items():
        out += ["```{toctree}", ":hidden:", ":maxdepth: 1", f":caption: {assignment_title(a)}", ""]
        out += [p.docname for p in ps] + ["```", ""]
    return "\n".join(out)
