"""A tiny nbgrader course (two assignments) whose tests import torch and numpy.

``a1/ps1.ipynb`` has four autograded tests, each relying on one of the comparison tools a
cheater would patch (``torch.allclose`` + ``torch.testing.assert_close``, ``Tensor.__eq__``,
``numpy.allclose``, ``isinstance``) and one manually graded answer; ``a2/ps2.ipynb`` exists so
that a notebook can be filed under the wrong assignment.
"""
from __future__ import annotations

import copy
import json

import nbformat
from coursekit import cell, notebook, tiny_course
from nbformat.v4 import new_markdown_cell


def solution(grade_id, source, forbid=()):
    c = cell(source, grade_id, solution=True)
    if forbid:
        c.metadata["gradlab"] = {"forbid": list(forbid)}
    return c


def test(grade_id, source, points):
    return cell(source, grade_id, grade=True, points=points)


def locked(grade_id, source):
    return cell(source, grade_id)


def answer(grade_id, points):
    return cell("YOUR ANSWER HERE\n### BEGIN SOLUTION\nBecause exp overflows.\n### END SOLUTION", grade_id,
                markdown=True, grade=True, solution=True, points=points)


HIDDEN_MARK = "hidden_check_7f3a"  # appears only in hidden tests: must never reach a student

SIGMOID = '''def sigmoid(z):
    ### BEGIN SOLUTION
    return torch.where(z >= 0, 1 / (1 + torch.exp(-z.abs())), torch.exp(-z.abs()) / (1 + torch.exp(-z.abs())))
    ### END SOLUTION'''

DOUBLE = '''def double(x):
    ### BEGIN SOLUTION
    return 2 * x
    ### END SOLUTION'''

CLIP = '''def clip01(x):
    ### BEGIN SOLUTION
    return np.clip(x, 0.0, 1.0)
    ### END SOLUTION'''

ZEROS = '''def make_zeros(n):
    ### BEGIN SOLUTION
    return torch.zeros(n)
    ### END SOLUTION'''

TEST_SIGMOID = f'''z = torch.linspace(-5, 5, 11)
assert torch.allclose(sigmoid(z), torch.sigmoid(z), atol=1e-6)
### BEGIN HIDDEN TESTS
{HIDDEN_MARK} = torch.tensor([-1000.0, 1000.0])
_ = record("sigmoid/extreme", sigmoid({HIDDEN_MARK}))
if checking():
    torch.testing.assert_close(_, torch.tensor([0.0, 1.0]))
{HIDDEN_MARK}_r = torch.randn(7, generator=torch.Generator().manual_seed(seed(1)))
_ = record("sigmoid/random", sigmoid({HIDDEN_MARK}_r))
if checking():
    torch.testing.assert_close(_, torch.sigmoid({HIDDEN_MARK}_r))
### END HIDDEN TESTS'''

TEST_DOUBLE = f'''x = torch.arange(4.0)
assert (double(x) == 2 * x).all(), "double(x) must be twice x, elementwise"
### BEGIN HIDDEN TESTS
{HIDDEN_MARK}_d = torch.full((3,), 1.5)
assert (record("double/full", double({HIDDEN_MARK}_d)) == torch.full((3,), 3.0)).all()
### END HIDDEN TESTS'''

TEST_CLIP = f'''assert np.allclose(clip01(np.array([-1.0, 0.5, 2.0])), [0.0, 0.5, 1.0])
### BEGIN HIDDEN TESTS
assert np.allclose(record("clip/values", torch.as_tensor(clip01(np.array([3.0, -3.0])))).numpy(), [1.0, 0.0]), "{HIDDEN_MARK}"
### END HIDDEN TESTS'''

TEST_ZEROS = f'''assert isinstance(make_zeros(3), torch.Tensor)
### BEGIN HIDDEN TESTS
assert isinstance(make_zeros(0), torch.Tensor), "{HIDDEN_MARK}"
_ = record("zeros/type", type(make_zeros(0)).__name__)
### END HIDDEN TESTS'''

SIGMOID_BUILTINS = ("torch.sigmoid", "torch.Tensor.sigmoid", "torch.special.expit", "torch.nn.functional.sigmoid")
VISIBLE_DOUBLE_MESSAGE = "double(x) must be twice x, elementwise"

# grade id -> points of the autograded tests of ps1
PS1_TESTS = {"test_sigmoid": 2, "test_double": 1, "test_clip": 1, "test_zeros": 1}
PS1_MANUAL = {"explain": 1}
PS1_MAX = sum(PS1_TESTS.values()) + sum(PS1_MANUAL.values())


def ps1_source() -> nbformat.NotebookNode:
    return notebook([
        new_markdown_cell("# Problem set 1\nImplement the functions; run the tests."),
        locked("imports", "import numpy as np\nimport torch\nfrom gradlab.observe import checking, record, seed"),
        solution("sigmoid_impl", SIGMOID, forbid=SIGMOID_BUILTINS),
        test("test_sigmoid", TEST_SIGMOID, 2),
        solution("double_impl", DOUBLE),
        test("test_double", TEST_DOUBLE, 1),
        solution("clip_impl", CLIP),
        test("test_clip", TEST_CLIP, 1),
        solution("zeros_impl", ZEROS),
        test("test_zeros", TEST_ZEROS, 1),
        new_markdown_cell("Why does the naive sigmoid overflow?"),
        answer("explain", 1),
    ], language_info=True)


def ps2_source() -> nbformat.NotebookNode:
    return notebook([
        new_markdown_cell("# Problem set 2"),
        solution("triple_impl", "def triple(x):\n    ### BEGIN SOLUTION\n    return 3 * x\n    ### END SOLUTION"),
        test("test_triple", "assert triple(2) == 6", 1),
    ], language_info=True)


def write_source(root: str) -> str:
    """Write ``root/a1/ps1.ipynb`` and ``root/a2/ps2.ipynb`` (nbgrader source format)."""
    tiny_course(root, {"a1/ps1.ipynb": ps1_source(), "a2/ps2.ipynb": ps2_source()})
    return root


def clone(nb):
    return nbformat.from_dict(copy.deepcopy(json.loads(json.dumps(nb))))


def cell_index(nb, grade_id) -> int:
    for i, c in enumerate(nb.cells):
        if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return i
    raise KeyError(grade_id)


def set_solution(nb, grade_id, source):
    nb.cells[cell_index(nb, grade_id)].source = source
    return nb
