"""integrity: a static scan of everything a student wrote, for what no honest answer needs.

Hidden tests compute nothing secret in the student's process (``gradlab.observe.checking``), so
the only ways to earn a point are to implement the function or to reach a built-in that does it.
The named built-ins of an exercise (its ``gradlab.forbid`` list) are judged by
:func:`autograder.judge.forbidden_uses`; this module finds the *routes around* a name-based scan
and the grader's in-process guards — each finding flags the notebook for the instructor's review:

* computed lookups on a module or namespace: ``getattr(torch, "sig" + "moid")``,
  ``vars(torch)[name]``, ``torch.__dict__[...]``, ``globals()[...]``, ``sys.modules[...]``;
* code built at run time: ``eval``, ``exec``, ``compile``, ``__import__``, ``importlib``;
* watching or rewriting the running test: ``sys.settrace``/``setprofile``, ``threading.settrace``,
  ``sys._getframe``, frames (``f_back``, ``f_locals``, ``tb_frame``, ``gi_frame``), ``inspect``, ``gc``;
* leaving Python: ``ctypes``, ``cffi``, ``mmap``, ``/proc/self/mem``;
* switching torch's own guards off or reaching under them: ``torch._C``, ``torch.ops``,
  ``torch.library``, ``torch.overrides``, ``__torch_function__``/``__torch_dispatch__``,
  dispatch/function modes (``torch.utils._python_dispatch``, ``TorchFunctionMode``, ``_DisableTorch*``);
* tampering with ``builtins`` / ``__builtins__``.

A finding is evidence for a person, not a verdict: a determined student can write Python this
scan does not recognise, and an honest one may have a reason (the flag says where to look).

>>> scan("import torch\\ndef f(z):\\n    return getattr(torch, 'sig' + 'moid')(z)")
['computed-lookup:getattr(torch,…)']
>>> scan("def f(z):\\n    return 1 / (1 + (-z).exp())")
[]
"""
from __future__ import annotations

import ast

MODULES = {  # importing any of these is a finding: no exercise of the course needs them
    "ctypes": "ctypes", "_ctypes": "ctypes", "cffi": "ctypes", "mmap": "mmap", "gc": "gc", "inspect": "inspect",
    "importlib": "import-machinery", "builtins": "builtins", "__builtin__": "builtins",
    "torch._C": "torch._C", "torch.ops": "torch.ops", "torch.library": "torch.library",
    "torch.overrides": "torch.overrides", "torch.utils._python_dispatch": "dispatch-mode",
    "torch._dynamo": "torch._dynamo", "torch._ops": "torch.ops", "dis": "inspect", "code": "eval", "codeop": "eval",
    "marshal": "eval", "types": "types", "pickle": "eval", "dill": "eval", "cloudpickle": "eval",
}
CALLS = {"eval": "eval", "exec": "exec", "compile": "compile", "__import__": "import-machinery",
         "globals": "namespace", "locals": "namespace", "vars": "namespace", "breakpoint": "trace"}
ATTRS = {  # attribute names that only introspective or guard-disabling code uses
    "settrace": "trace", "setprofile": "trace", "_getframe": "frames", "f_back": "frames", "f_locals": "frames",
    "f_globals": "frames", "f_code": "frames", "tb_frame": "frames", "gi_frame": "frames", "cr_frame": "frames",
    "_current_frames": "frames", "__dict__": "namespace", "__builtins__": "builtins", "__globals__": "namespace",
    "__code__": "code-objects", "__closure__": "code-objects", "__subclasses__": "introspection",
    "__torch_function__": "__torch_function__", "__torch_dispatch__": "__torch_dispatch__",
    "_C": "torch._C", "ops": "torch.ops", "library": "torch.library", "overrides": "torch.overrides",
    "_python_dispatch": "dispatch-mode", "TorchFunctionMode": "dispatch-mode", "TorchDispatchMode": "dispatch-mode",
    "DisableTorchFunction": "dispatch-mode", "DisableTorchFunctionSubclass": "dispatch-mode",
    "_DisableTorchDispatch": "dispatch-mode", "_disabled_torch_function_impl": "dispatch-mode",
    "_disabled_torch_dispatch_impl": "dispatch-mode", "_set_torch_function_mode": "dispatch-mode",
    "modules": "sys.modules", "get_referrers": "gc", "get_objects": "gc",
}
NAMES = {"__builtins__": "builtins", "__torch_function__": "__torch_function__",
         "__torch_dispatch__": "__torch_dispatch__", "__loader__": "import-machinery", "__spec__": "import-machinery"}
# modules whose attributes count: ``ops`` of torch is torch.ops, ``ops`` of a student's object is nothing
TORCHISH = {"torch", "sys", "threading", "gc", "inspect", "builtins", "torch.nn", "torch.nn.functional",
            "torch.special", "torch.utils", "torch.nn.init", "numpy", "math"}


def import_aliases(tree) -> dict[str, str]:
    """Local name -> the dotted name an import of ``tree`` binds it to (``import torch.nn.functional
    as F`` -> ``F: torch.nn.functional``; ``from torch import sigmoid`` -> ``sigmoid: torch.sigmoid``)."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                out[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                out[a.asname or a.name] = f"{node.module}.{a.name}"
    return out


def _aliases(tree) -> dict[str, str]:
    """:func:`import_aliases`, and the names the setup cells bind (``torch``, ``np``, ``F``, ``nn``, ``math``)."""
    return {"torch": "torch", "np": "numpy", "F": "torch.nn.functional", "nn": "torch.nn", "math": "math",
            **import_aliases(tree)}


def _module_of(node, aliases: dict[str, str]) -> str | None:
    """The dotted module an expression names (``torch.nn`` for ``torch.nn`` or ``nn``), or None."""
    if isinstance(node, ast.Name):
        return aliases.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _module_of(node.value, aliases)
        return f"{base}.{node.attr}" if base else None
    return None


def _constant_str(node) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def scan(source: str) -> list[str]:
    """What ``source`` does that no honest answer of this course needs (sorted, deduplicated).

    Args:
        source: one cell the student wrote (a solution cell or a cell they added).
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []  # it cannot run either: the cell fails on its own
    aliases = _aliases(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                _module_finding(a.name, found)
        elif isinstance(node, ast.ImportFrom) and node.module:
            _module_finding(node.module, found)
            for a in node.names:
                _module_finding(f"{node.module}.{a.name}", found)
                if a.name in ATTRS and node.module.split(".")[0] in ("torch", "sys", "threading", "gc", "inspect"):
                    found.add(ATTRS[a.name])
        elif isinstance(node, ast.Call):
            _call_finding(node, aliases, found)
        elif isinstance(node, ast.Attribute):
            if node.attr in ATTRS:
                base = _module_of(node.value, aliases)
                # frames, namespaces and dispatch hooks on anything; torch.ops/_C/library on modules only
                if node.attr == "modules":
                    if base == "sys":
                        found.add(ATTRS[node.attr])
                elif node.attr in ("_C", "ops", "library", "overrides", "_python_dispatch"):
                    if base and base.split(".")[0] == "torch":
                        found.add(ATTRS[node.attr])
                else:
                    found.add(ATTRS[node.attr])
        elif isinstance(node, ast.Name) and node.id in NAMES:
            found.add(NAMES[node.id])
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Call):
            f = node.value.func
            if isinstance(f, ast.Name) and f.id in ("vars", "globals", "locals", "dir"):
                found.add(f"computed-lookup:{f.id}()[…]")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in NAMES:
            found.add(NAMES[node.name])
    return sorted(found)


def _module_finding(name: str, found: set[str]) -> None:
    for mod, what in MODULES.items():
        if name == mod or name.startswith(mod + "."):
            found.add(what)


def _call_finding(node: ast.Call, aliases: dict[str, str], found: set[str]) -> None:
    f = node.func
    if isinstance(f, ast.Name) and f.id in CALLS:
        found.add(CALLS[f.id])
    if isinstance(f, ast.Name) and f.id in ("getattr", "setattr", "delattr", "hasattr") and len(node.args) >= 2:
        target = _module_of(node.args[0], aliases)
        if target is not None and not _constant_str(node.args[1]):
            found.add(f"computed-lookup:{f.id}({target},…)")
        elif f.id in ("setattr", "delattr") and target is not None and target.split(".")[0] in TORCHISH:
            found.add(f"patch:{target}")
        elif isinstance(node.args[0], ast.Name) and node.args[0].id in ("__builtins__", "builtins"):
            found.add("builtins")
    if isinstance(f, ast.Attribute) and f.attr in ("get", "__getitem__", "setdefault", "pop"):
        inner = f.value
        if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name) and inner.func.id in ("vars", "globals"):
            found.add(f"computed-lookup:{inner.func.id}().{f.attr}")
        if isinstance(inner, ast.Attribute) and inner.attr in ("__dict__", "modules"):
            found.add(f"computed-lookup:{inner.attr}.{f.attr}")
    if isinstance(f, ast.Attribute) and f.attr in ("import_module", "find_spec", "load_module", "reload"):
        found.add("import-machinery")
    if isinstance(f, ast.Name) and f.id == "open" and node.args and _constant_str(node.args[0]) \
            and node.args[0].value.startswith("/proc/self/"):
        found.add("proc-self")
