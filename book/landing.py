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

#: the landing page's own words in Chinese (the book's zh_CN edition); the glossary's terms
PROBLEMS_ZH = [
    ("梯度消失与梯度爆炸",
     "当梯度逐层缩小或放大时，深层网络就学不动了：sigmoid 的饱和、Xavier/Glorot 初始化与 He 初始化背后的方差论证，"
     "以及非饱和激活函数。"),
    ("大型网络训练缓慢", "批量归一化与梯度裁剪，然后是更快的优化器与学习率调度。"),
    ("过拟合", "正则化：dropout、最大范数正则化、ℓ1/ℓ2 惩罚、蒙特卡洛 dropout 与早停。"),
]
WORDS_ZH = {"title": "# gradlab —— 深层网络为什么难训练，以及如何解决",
            "intro": "*{edition}。* 一门用 PyTorch 讲授的开放课程，紧跟 Géron《机器学习实战》（*Hands-On Machine "
                     "Learning*）第 11 章：这一章的三个问题、回答每个问题的作业，以及每个笔记本要讲的内容。",
            "student": "学生版", "instructor": "教师版", "problem": "问题 {n}：", "more": "更多",
            "missing": "*作业 {nums}：本次构建尚未包含。*"}


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
        if re.match(r"\s*\*\*((what )?you will learn|你将学到|你将学习|学习目标)[：:]?\*\*", ln, re.I):
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


def landing_page(pages: list[Page], edition: str, lab_hint: str, lang: str = "en") -> str:
    """The MyST source of index.md: the learning path, then the hidden toctrees (sidebar, order)."""
    by_assignment: dict[str, list[Page]] = {}
    for p in pages:
        by_assignment.setdefault(p.assignment, []).append(p)
    other = ("More", tuple(a[:2] for a in by_assignment if not any(a[:2] in nums for _, nums, _ in PROBLEMS)), "")
    zh = lang == "zh_CN"
    out = ["# gradlab — why deep nets are hard to train, and how to fix it", "",
           f"*{edition.capitalize()} edition.* An open course in PyTorch that follows chapter 11 of Géron's "
           "*Hands-On Machine Learning*: each of the chapter's three problems, the assignments that "
           "answer it, and what every notebook teaches. " + lab_hint, ""]
    if zh:
        out = [WORDS_ZH["title"], "", WORDS_ZH["intro"].format(edition=WORDS_ZH[edition]) + lab_hint, ""]
    problems = PROBLEMS if not zh else [(z, nums, zb) for (_, nums, _), (z, zb) in zip(PROBLEMS, PROBLEMS_ZH)]
    if zh:
        other = (WORDS_ZH["more"], other[1], "")
    for n, (problem, nums, blurb) in enumerate(problems + ([other] if other[1] else []), 1):
        assignments = [a for a in by_assignment if a[:2] in nums]
        more = problem in ("More", WORDS_ZH["more"])
        prefix = "" if more else (WORDS_ZH["problem"].format(n=n) if zh else f"Problem {n}: ")
        out += [f"## {prefix}{problem}", ""]
        if blurb:
            out += [blurb, ""]
        if not assignments:
            out += [WORDS_ZH["missing"].format(nums="、".join(nums)) if zh
                    else f"*Assignments {', '.join(nums)}: not in this build yet.*", ""]
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
