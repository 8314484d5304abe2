"""Hostile (and ordinary) submissions for the tiny course, each with the outcome it must get.

Every case is a function that writes one student's ``a1`` folder; ``CASES`` maps the student id
to (writer, expected status, expected score). Scores are autograded points of ps1 (max 5 + one
manually graded point that is never counted); ``None``: any score, as long as the row carries the
case's ``FLAGS`` (an attack the grader detects for a person's review rather than prevents). The monkeypatch cases pair a *wrong*
implementation with a patch that would make the tests pass under plain nbgrader; they must earn
exactly what the wrong implementation earns: nothing.
"""
from __future__ import annotations

import os

import nbformat
from nbformat.v4 import new_code_cell

from autograder import course

from . import tiny_course as T

WRONG = {
    "sigmoid_impl": "def sigmoid(z):\n    return z",
    "double_impl": "def double(x):\n    return x",
    "clip_impl": "def clip01(x):\n    return x",
    "zeros_impl": "def make_zeros(n):\n    return [0.0] * n",
}


class Course:
    """The released tiny course: source notebooks, release notebooks, ways to build submissions."""

    def __init__(self, source: str, release: str):
        self.source, self.release = source, release
        self.ps1_source = nbformat.read(os.path.join(source, "a1", "ps1.ipynb"), as_version=4)
        self.ps1_release = nbformat.read(os.path.join(release, "a1", "ps1.ipynb"), as_version=4)
        self.ps2_source = nbformat.read(os.path.join(source, "a2", "ps2.ipynb"), as_version=4)
        self.ps2_release = nbformat.read(os.path.join(release, "a2", "ps2.ipynb"), as_version=4)

    def full(self):
        return course.fill_solutions(self.ps1_release, self.ps1_source)

    def blank(self):
        return T.clone(self.ps1_release)

    def partial(self):
        return course.fill_solutions(self.ps1_release, self.ps1_source, which={"sigmoid_impl"})

    def wrong(self):
        nb = self.full()
        for gid, src in WRONG.items():
            T.set_solution(nb, gid, src)
        return nb


def after_imports(nb, source: str):
    nb.cells.insert(T.cell_index(nb, "imports") + 1, new_code_cell(source))
    return nb


def at_end(nb, source: str):
    nb.cells.append(new_code_cell(source))
    return nb


def write(folder: str, nb, name: str = "ps1.ipynb") -> None:
    os.makedirs(folder, exist_ok=True)
    nbformat.write(nb, os.path.join(folder, name))


def write_raw(folder: str, data: bytes, name: str = "ps1.ipynb") -> None:
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def gradebook_attack_source(targets: list[str]) -> str:
    return f"""import glob, os
report = []
paths = {targets!r} + glob.glob('/tmp/gradlab-*/**/gradebook.db', recursive=True) + ['../course/gradebook.db', 'gradebook.db']
for p in paths:
    for action in ('write', 'delete'):
        try:
            if action == 'write':
                with open(p, 'ab') as f:
                    f.write(b'garbage')
            else:
                os.remove(p)
            report.append((p, action, 'DONE'))
        except Exception as e:
            report.append((p, action, type(e).__name__))
print(report)
"""


PLANTED = ["/tmp/gradlab-planted", "/dev/shm/gradlab-planted", "/notebook/gradlab-planted",
           "~/.ipython/profile_default/startup/00-gradlab-planted.py", "~/.cache/gradlab-planted"]
DAEMON_MARK = "gradlab-daemon-marker"


def probe_before_tests(nb, condition: str):
    """A cell just before the first test that breaks ``sigmoid`` (2 of 5 points) when ``condition``
    holds in the student's sandbox: the score shows what the sandbox let the student see."""
    src = f"import os, glob\nif {condition}:\n    print('PROBE HIT')\n    sigmoid = lambda z: z"
    nb.cells.insert(T.cell_index(nb, "test_sigmoid"), new_code_cell(src))
    return nb


def plant_source() -> str:
    """Leaves files in every writable place and a daemon that keeps re-planting: no notebook may see another's."""
    return f"""import os, subprocess
for p in {PLANTED!r}:
    p = os.path.expanduser(p)
    try:
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, 'w') as f:
            f.write('import torch\\ntorch.allclose = lambda *a, **k: True\\n')
    except OSError:
        pass
subprocess.Popen(['sh', '-c', 'while true; do touch /tmp/gradlab-planted 2>/dev/null; sleep 0.2; done # {DAEMON_MARK}'],
                 start_new_session=True)
"""


def build(c: Course, root: str, attack_targets: list[str], peek_targets: list[str]) -> dict[str, tuple[str, float]]:
    """Write every case under ``root/<student>/a1``; returns {student: (status, score)}.

    ``attack_targets``: files a student must not be able to write; ``peek_targets``: paths a
    student must not be able to see (the repository's .git and solutions/, OUT, other
    submissions, the gradebook ...)."""
    cases: dict[str, tuple[str, float]] = {}

    def case(student, nb, status, score, name="ps1.ipynb"):
        write(os.path.join(root, student, "a1"), nb, name)
        cases[student] = (status, score)

    # ordinary work, twice the full solution: nobody's grade may depend on the neighbours
    case("full", c.full(), "graded", 5)
    case("full_control", c.full(), "graded", 5)
    case("blank", c.blank(), "graded", 0)
    case("partial", c.partial(), "graded", 2)
    # runaway code: a cell timer (per cell), the parent's timeout (per notebook), RLIMIT_AS, RLIMIT_NPROC
    case("infinite_loop", after_imports(c.full(), "while True:\n    pass"), "timeout", 5)
    case("unkillable_loop", after_imports(c.full(), "import signal\nfor s in (signal.SIGINT, signal.SIGALRM):\n"
                                                     "    signal.signal(s, signal.SIG_IGN)\nwhile True:\n    pass"),
         "timeout", 0)
    case("memory_hog", after_imports(c.full(), "chunks = []\nwhile True:\n    chunks.append(b'x' * (50 * 2**20))"),
         "memory", 0)
    case("fork_bomb", after_imports(c.full(), "import os, time\nfor _ in range(200):\n    if os.fork() == 0:\n"
                                              "        time.sleep(60)\n        os._exit(0)"), "process_limit", 0)
    # exits and crashes
    case("sys_exit", at_end(c.full(), "import sys\nsys.exit(3)"), "graded", 5)
    case("os_exit", after_imports(c.full(), "import os\nos._exit(0)"), "kernel_died", 0)
    case("segfault", after_imports(c.full(), "import ctypes\nctypes.string_at(0)"), "kernel_died", 0)
    case("kill_self", after_imports(c.full(), "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"),
         "kernel_died", 0)
    # monkeypatching: wrong answers + a patch that fools plain nbgrader; each earns what blank earns
    case("patch_allclose", after_imports(c.wrong(), "torch.allclose = lambda *a, **k: True\n"
                                                    "torch.testing.assert_close = lambda *a, **k: None"), "graded", 0)
    case("patch_numpy_allclose", after_imports(c.wrong(), "np.allclose = lambda *a, **k: True"), "graded", 0)
    case("patch_tensor_eq", after_imports(c.wrong(), "torch.Tensor.__eq__ = lambda self, other: "
                                                     "torch.ones_like(self, dtype=torch.bool)"), "graded", 0)
    case("patch_isinstance", after_imports(c.wrong(), "import builtins\n_isinstance = isinstance\n"
                                                      "builtins.isinstance = lambda o, t: True if t is torch.Tensor "
                                                      "else _isinstance(o, t)"), "graded", 0)
    case("patch_assertionerror", after_imports(c.wrong(), "import builtins\nclass Nope(Exception):\n    pass\n"
                                                          "builtins.AssertionError = Nope"), "graded", 0)
    case("patch_showtraceback", after_imports(c.wrong(), "ip = get_ipython()\n"
                                                         "ip.showtraceback = lambda *a, **k: None\n"
                                                         "type(ip).showtraceback = lambda *a, **k: None\n"
                                                         "ip._showtraceback = lambda *a, **k: None"), "graded", 0)
    case("patch_excepthook", after_imports(c.wrong(), "import sys\nsys.excepthook = lambda *a: None"), "graded", 0)
    case("patch_transformer", after_imports(c.wrong(), "get_ipython().input_transformers_post.append("
                                                       "lambda lines: ['pass\\n'])"), "graded", 0)
    during = T.set_solution(c.wrong(), "double_impl",
                            "def double(x):\n    torch.Tensor.__eq__ = lambda self, other: "
                            "torch.ones_like(self, dtype=torch.bool)\n    return x")
    case("patch_during_call", during, "graded", 0)
    # routes around an in-kernel verdict: each earns what a blank notebook earns
    case("override_run_cell", after_imports(c.wrong(), "ip = get_ipython()\n_run = ip.run_cell\n"
                                                       "ip.run_cell = lambda cell, *a, **k: _run('pass', *a, **k)\n"
                                                       "type(ip).run_cell = ip.run_cell\n"
                                                       "import gradlab.observe as _o\n"
                                                       "_o.end = lambda: None; _o.begin = lambda *a, **k: None"),
         "graded", 0)
    frame_walk = T.set_solution(c.wrong(), "sigmoid_impl", """import sys
def sigmoid(z):
    f = sys._getframe(1)
    while f is not None:
        for name in ('nodelist', 'to_run_exec', 'to_run_interactive', 'cell'):
            v = f.f_locals.get(name)
            if isinstance(v, list):
                del v[:]
        f = f.f_back
    return z""")
    case("frame_walk", frame_walk, "graded", 0)
    liar = T.set_solution(c.wrong(), "sigmoid_impl", """class Liar(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, '__name__', '')
        if name in ('allclose', 'equal'):
            return True
        if name in ('assert_close',):
            return None
        return super().__torch_function__(func, types, args, kwargs or {})
def sigmoid(z):
    return torch.zeros_like(z).as_subclass(Liar)""")
    case("tensor_subclass_liar", liar, "graded", 0)
    anything = T.set_solution(c.wrong(), "double_impl", """class Anything(float):
    def __eq__(self, other):
        return torch.ones_like(other, dtype=torch.bool) if isinstance(other, torch.Tensor) else True
    __hash__ = float.__hash__
def double(x):
    return Anything(0.0)""")
    case("float_equal_to_anything", anything, "graded", 0)
    case("torch_library_override", after_imports(c.wrong(), """import torch.library
_lib = torch.library.Library('aten', 'IMPL')
_lib.impl('allclose', lambda a, b, rtol=1e-5, atol=1e-8, equal_nan=False: True, 'CPU')
_lib.impl('eq.Tensor', lambda a, b: torch.ones(torch.broadcast_shapes(a.shape, b.shape), dtype=torch.bool), 'CPU')"""),
         "graded", 0)
    # damaged grade cells
    nb = c.full()
    del nb.cells[T.cell_index(nb, "test_double")]
    case("deleted_test_cell", nb, "graded", 5)
    nb = c.full()
    i = T.cell_index(nb, "test_sigmoid")
    nb.cells.insert(i + 1, T.clone(nb).cells[i])
    case("duplicated_cells", nb, "graded", 5)
    nb = c.full()
    i = T.cell_index(nb, "test_sigmoid")
    first, second = T.clone(nb).cells[i], T.clone(nb).cells[i]
    lines = nb.cells[i].source.splitlines()
    first.source, second.source = "\n".join(lines[:1]), "\n".join(lines[1:])
    nb.cells[i:i + 1] = [first, second]
    case("split_cell", nb, "graded", 5)
    nb = c.full()
    i = T.cell_index(nb, "test_double")
    md = T.clone(nb).cells[i]
    md.cell_type = "markdown"
    del md["outputs"], md["execution_count"]
    nb.cells[i] = md
    case("retyped_cell", nb, "graded", 5)
    nb = c.wrong()
    for gid in ("test_sigmoid", "test_double", "test_clip", "test_zeros"):
        nb.cells[T.cell_index(nb, gid)].source = "pass"
    case("edited_tests", nb, "graded", 0)
    # files
    case("renamed", c.full(), "graded", 5, name="ps1 (1).ipynb")
    os.makedirs(os.path.join(root, "missing", "a1"), exist_ok=True)
    cases["missing"] = ("missing_notebook", 0)
    write_raw(os.path.join(root, "corrupt_json", "a1"), b'{"cells": [{"cell_type": "code", "sou')
    cases["corrupt_json"] = ("invalid_notebook", 0)
    write_raw(os.path.join(root, "empty_file", "a1"), b"")
    cases["empty_file"] = ("invalid_notebook", 0)
    case("other_assignment", course.fill_solutions(c.ps2_release, c.ps2_source), "invalid_notebook", 0,
         name="ps2.ipynb")
    # the submission tree is hostile input
    os.makedirs(os.path.join(root, "fifo_notebook", "a1"))
    os.mkfifo(os.path.join(root, "fifo_notebook", "a1", "ps1.ipynb"))
    cases["fifo_notebook"] = ("rejected", 0)
    case("fifo_beside", c.full(), "graded", 5)
    os.mkfifo(os.path.join(root, "fifo_beside", "a1", "data.csv"))
    case("unreadable", c.full(), "rejected", 0)
    os.chmod(os.path.join(root, "unreadable", "a1", "ps1.ipynb"), 0)
    os.symlink(os.path.join(root, "full"), os.path.join(root, "linked_student"))
    cases["linked_student"] = ("rejected", 0)
    bad = os.path.join(os.fsencode(root), b"non_utf8_\xff")
    write(os.path.join(os.fsdecode(bad), "a1"), c.full())
    cases["non_utf8_\\xff"] = ("rejected", 0)
    case("non_utf8_file", c.full(), "graded", 5)
    with open(os.path.join(os.fsencode(root), b"non_utf8_file", b"a1", b"notes-\xfe.txt"), "wb") as f:
        f.write(b"hello")
    case("=SUM(1,2)", c.full(), "graded", 5)                       # CSV formula injection: the id
    case("csv_note", c.full(), "graded", 5, name="=HYPERLINK(1).ipynb")  # ... and a note naming a file
    # isolation between notebooks, from the repository and from the host
    case("aa_plant", after_imports(c.wrong(), plant_source()), "graded", 0)
    planted = " or ".join(f"os.path.exists(os.path.expanduser({p!r}))" for p in PLANTED)
    case("zz_persistence_probe", probe_before_tests(c.full(), planted), "graded", 5)
    visible = " or ".join(f"os.path.exists({p!r})" for p in peek_targets)
    case("peek", probe_before_tests(c.full(), f"{visible} or glob.glob('/tmp/gradlab-*') or glob.glob('/tmp/pytest-*')"),
         "graded", 5)
    case("shm_fill", after_imports(c.full(), "n = 0\ntry:\n    with open('/dev/shm/fill', 'wb') as f:\n"
                                             "        while n < 3000:\n            f.write(b'x' * 2**20)\n"
                                             "            n += 1\nexcept OSError as e:\n    print('stopped', n, e)"),
         "graded", 5)
    # output caps: prints, display updates, huge errors, error class names
    case("output_flood", at_end(c.full(), "for _ in range(400):\n    print('x' * 100_000)"), "graded", 5)
    case("display_update_flood", at_end(c.full(), "from IPython.display import display\n"
                                                  "h = display('start', display_id=True)\n"
                                                  "for i in range(3000):\n    h.update('y' * 100_000)"),
         "graded", 5)
    case("huge_error", at_end(c.full(), "raise ValueError('e' * 200_000_000)"), "graded", 5)
    case("gradebook_attack", after_imports(c.full(), gradebook_attack_source(attack_targets)), "graded", 5)
    noisy = T.set_solution(c.full(), "double_impl",
                           "import sys, warnings\ndef double(x):\n    warnings.warn('double is noisy')\n"
                           "    print('noise on stderr', file=sys.stderr)\n    return 2 * x")
    case("stderr_noise", noisy, "graded", 5)
    leak = T.set_solution(c.full(), "sigmoid_impl",
                          "def sigmoid(z):\n    raise ValueError(get_ipython().user_ns['In'][-1])")
    case("leak_hidden_tests", leak, "graded", 3)
    leak_name = T.set_solution(c.full(), "sigmoid_impl",
                               "def sigmoid(z):\n    src = get_ipython().user_ns['In'][-1]\n"
                               "    raise type(src, (Exception,), {})('see the class name')")
    case("leak_in_exception_name", leak_name, "graded", 3)
    # observations made in the student's process are forgeable: a trace hook hands the hidden
    # test its own expected value (it waits for the oracle's comparison): the oracle never runs there
    trace = T.set_solution(c.full(), "sigmoid_impl", """import sys
import gradlab.observe as _obs
def _hook(frame, event, arg):
    if event == 'call' and frame.f_code.co_name in ('assert_close', 'allclose'):
        rec = _obs._current
        if rec is not None and rec.values:
            last = list(rec.values)[-1]
            rec.values[last] = frame.f_locals.get('expected', frame.f_locals.get('other'))
    return _hook
sys.settrace(_hook)
def sigmoid(z):  # right on the visible test's range only
    return torch.where(z.abs() <= 5, 1 / (1 + torch.exp(-z)), torch.full_like(z, 0.5))""")
    case("trace_hook_forgery", trace, "graded", 3)
    FLAGS["trace_hook_forgery"] = ["review:ps1:sigmoid_impl:trace"]
    # ... (ours) a patched record() that computes the expected value itself, from the caller's
    # frame and a string-built name: the numbers are right, so it must be flagged
    steal = T.set_solution(c.full(), "sigmoid_impl", """import sys
import gradlab.observe as _obs
_record = _obs.record
def _forge(key, value, **kw):
    if key.startswith('sigmoid/'):
        for v in sys._getframe(1).f_locals.values():
            if isinstance(v, torch.Tensor) and v.shape == value.shape and v is not value:
                value = getattr(torch, 'sig' + 'moid')(v)
    return _record(key, value, **kw)
_obs.record = _forge
get_ipython().user_ns['record'] = _forge
def sigmoid(z):  # right on the visible test's range only
    return torch.where(z.abs() <= 5, 1 / (1 + torch.exp(-z)), torch.full_like(z, 0.5))""")
    case("record_forgery_from_frames", steal, "graded", None)
    FLAGS["record_forgery_from_frames"] = ["review:ps1:sigmoid_impl:frames", "review:ps1:sigmoid_impl:computed-lookup"]
    # class 2: a forbidden built-in through a string-built name with torch's dispatch hooks off
    dyn = T.set_solution(c.full(), "sigmoid_impl", """def sigmoid(z):
    fn = vars(torch)['sig' + 'moid']
    with torch._C.DisableTorchFunction():
        return fn(z)""")
    case("string_built_builtin", dyn, "graded", None)
    FLAGS["string_built_builtin"] = ["review:ps1:sigmoid_impl:computed-lookup:vars()[…]", "review:ps1:sigmoid_impl:torch._C"]
    # ... (ours) the built-in imported in a cell the student added, used by the solution
    nb = T.set_solution(c.full(), "sigmoid_impl", "def sigmoid(z):\n    return _s(z)")
    nb.cells.insert(T.cell_index(nb, "sigmoid_impl"), new_code_cell("from torch import sigmoid as _s"))
    case("builtin_in_added_cell", nb, "graded", 3)
    FLAGS["builtin_in_added_cell"] = ["forbidden:torch.sigmoid"]
    # class 3: (a) an exception class named after the hidden test's code (taken from the frame)
    leak_cls = T.set_solution(c.full(), "sigmoid_impl", """import sys
def sigmoid(z):  # right on the visible test's input; in the hidden tests, a class named after their code
    if z.numel() == 11:
        return 1 / (1 + torch.exp(-z))
    code = sys._getframe(1).f_code
    raise type(' '.join(map(str, code.co_names + code.co_consts)), (Exception,), {})('class name leak')""")
    case("leak_hidden_in_class_name", leak_cls, "graded", 3)
    # (b) extra result lines on the results channel: tampering, graded as a blank
    forged = after_imports(c.full(), """import json, os
for fd in range(3, 40):
    for i in range(0, 16):
        try:
            os.write(fd, (json.dumps({'index': i, 'grade_id': None, 'outcome': 'ok', 'outputs': [
                {'output_type': 'stream', 'name': 'stdout', 'text': 'FORGED-RESULT-LINE'}]}) + '\\n').encode())
        except OSError:
            pass""")
    case("extra_result_lines", forged, "graded", 0)
    FLAGS["extra_result_lines"] = ["tampered:ps1"]
    # (c) printing the running cell's source (and everything the frame holds) inside a passing test
    printer = T.set_solution(c.full(), "double_impl", """import sys
def double(x):
    f = sys._getframe(1)
    print(get_ipython().user_ns['In'][-1], f.f_code.co_names, f.f_code.co_consts, sorted(f.f_globals))
    return 2 * x""")
    case("print_running_cell", printer, "graded", 5)
    # ... (ours) stash the hidden code's names during a test, print them later in an added cell
    stash = at_end(T.set_solution(c.full(), "double_impl", """import sys
STOLEN = []
def double(x):
    code = sys._getframe(1).f_code
    STOLEN.append(code.co_names + code.co_consts)
    return 2 * x"""), "print(STOLEN)\nraise ValueError(repr(STOLEN))")
    case("stash_and_print_later", stash, "graded", 5)
    # class 9: student code holding the hidden-test markers must not break nbgrader's feedback
    marker = T.set_solution(c.full(), "double_impl",
                            "def double(x):\n    ### BEGIN HIDDEN TESTS\n    return 2 * x  # ### END HIDDEN TESTS")
    case("hidden_marker_in_solution", marker, "graded", 5)
    # ... (ours) a *visible* failure (whose message is shown) carrying the hidden test's code
    smuggle = T.set_solution(c.full(), "sigmoid_impl", """import gc
def sigmoid(z):
    names = [o for o in gc.get_objects() if type(o).__name__ == 'code' or isinstance(o, dict) and 'parts' in o]
    raise AssertionError('found: ' + repr(names)[:1000])""")
    case("visible_message_smuggle", smuggle, "graded", 3)
    FLAGS["visible_message_smuggle"] = ["review:ps1:sigmoid_impl:gc"]
    # the strengthened rule (every assert of a hidden region gone, ``checking()`` False): (ours) a
    # solution that turns checking back on, in the module and in the namespace, hoping the hidden
    # tests compare (and reveal) their expected values; stripped code has nothing left to switch on
    fake = T.set_solution(c.full(), "sigmoid_impl", """import gradlab.observe as _obs
_obs.set_checking(True)
_obs.checking = lambda: True
checking = lambda: True
def sigmoid(z):  # right on the visible test's range only
    return torch.where(z.abs() <= 5, 1 / (1 + torch.exp(-z)), torch.full_like(z, 0.5))""")
    case("fake_checking", fake, "graded", 3)
    # ... (ours) the hidden test's property records are predictable (a type name, True): a solution
    # that puts its own ``record`` in the namespace (and writes into the recording) to hand the
    # judge the value it expects, for an answer only the hidden test catches. Relayed records are
    # stored as such: the forged cell earns what the wrong answer earns
    relay = T.set_solution(c.full(), "zeros_impl", """import gradlab.observe as _obs
_real_record = record
def record(key, value, **kw):
    if key == "zeros/type":
        value = "Tensor"
    return _real_record(key, value, **kw)
def make_zeros(n):  # wrong for n = 0, which only the hidden test tries
    if _obs._current is not None:
        _obs._current.values["zeros/type"] = "Tensor"
    return torch.zeros(n) if n else []""")
    case("relay_predictable_record", relay, "graded", 4)
    return cases


# student -> flags its row must carry (what the judge cannot trust is flagged for review, or zeroed as a forbidden use)
FLAGS: dict[str, list[str]] = {}
# the cases whose page, autograded/ notebook and CSV row must hold no hidden-test text
LEAK_CASES = ["trace_hook_forgery", "record_forgery_from_frames", "string_built_builtin", "builtin_in_added_cell",
              "leak_hidden_in_class_name", "extra_result_lines", "print_running_cell", "stash_and_print_later",
              "hidden_marker_in_solution", "visible_message_smuggle", "leak_hidden_tests", "leak_in_exception_name",
              "fake_checking", "relay_predictable_record", "blank", "full", "partial"]
