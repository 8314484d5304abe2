"""Trusted code that runs *inside* the student's kernel, before any student code.

This file is never imported by the grader: ``execute.HardenedExecute`` sends its source to the
kernel as the very first execution (with ``store_history=False``), executed in a private
globals dict whose ``__builtins__`` is a copy, so that later changes to ``builtins`` or to the
notebook's namespace do not reach these functions. See ``autograder.execute`` for the overall
anti-monkeypatch design; this module provides the three in-kernel operations it relies on:

``restore()``  (run before every locked, i.e. instructor-owned, cell)
    puts back every callable / class / module reference of the protected modules (torch,
    numpy, math, builtins, IPython, ipykernel, gradlab, ...) as they were before student code
    ran: module attributes, ``sys.modules`` entries, class attributes (``Tensor.__eq__``...),
    function code objects, ``sys`` hooks (excepthook, displayhook, stdout/stderr, trace and
    profile functions), IPython's input/AST transformers, event callbacks, custom exception
    handlers and instance-level overrides of shell methods (``showtraceback``...), the
    conventional module aliases in the notebook namespace (``torch``, ``np``, ``F``, ``nn``)
    and the helper functions/classes that locked cells defined (``pin``).

``pin(names)`` (run after every locked cell)
    remembers the functions, classes and modules the locked cell bound, so ``restore`` can
    undo a student's redefinition of an instructor helper.

``seal(nonce)`` (appended to every autograded test cell, reached only if the test raised
    nothing) checks that nothing protected changed *while the test ran* (a student function
    that patches ``torch.allclose`` when called) and prints ``HMAC(key, nonce)``. The key was
    read from a file the launcher handed to the kernel and deleted right away, before student
    code ran; it lives only inside an OpenSSL HMAC object. The grader accepts a test as passed
    only with the right MAC for that cell's fresh nonce, so suppressing errors (patched
    ``showtraceback``, excepthook, swallowing transformers...) cannot turn a failure into a pass.
"""


def _gradlab_install(key_path, prefixes, preload, aliases):
    import builtins
    import hashlib
    import hmac
    import importlib
    import linecache
    import os
    import sys
    import threading
    import types

    from IPython import get_ipython

    for name in preload:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 — a missing optional package is simply not protected
            pass

    with open(key_path, "rb") as f:
        key = f.read()
    os.unlink(key_path)
    mac = hmac.new(key, digestmod=hashlib.sha256)
    del key

    _type, _id, _isinstance, _callable, _list, _dict, _set = type, id, isinstance, callable, list, dict, set
    _getattr, _hasattr, _len, _sorted = getattr, hasattr, len, sorted
    type_setattr, type_delattr = type.__setattr__, type.__delattr__
    FunctionType, MethodType, ModuleType = types.FunctionType, types.MethodType, types.ModuleType
    descriptor_types = (staticmethod, classmethod, property, types.MethodDescriptorType,
                        types.WrapperDescriptorType, types.GetSetDescriptorType,
                        types.MemberDescriptorType, types.ClassMethodDescriptorType)
    shell = get_ipython()
    MISSING = object()

    def protected_name(modname):
        if not _isinstance(modname, str):
            return False
        for p in prefixes:
            if modname == p or modname.startswith(p + "."):
                return True
        return False

    def guarded(value):
        return _callable(value) or _isinstance(value, ModuleType) or _isinstance(value, descriptor_types)

    def same(a, b):
        if a is b:
            return True
        # IPython's builtin trap re-creates bound methods (get_ipython) at every cell.
        return _type(a) is MethodType and _type(b) is MethodType and a.__func__ is b.__func__ \
            and a.__self__ is b.__self__

    def identical(seq, ref):
        seq = _list(seq)
        return _len(seq) == _len(ref) and all(a is b for a, b in zip(seq, ref))

    import warnings
    warnings_context = warnings.catch_warnings()
    warnings_context.__enter__()
    warnings.simplefilter("ignore")

    # -- snapshot ---------------------------------------------------------------------------
    modules = []  # (name, module, {attr: value})
    classes = {}  # id -> (cls, {attr: value}, mutable)
    functions = {}  # id -> (fn, code, defaults, kwdefaults)

    def note_class(cls):
        if _id(cls) in classes or not protected_name(_getattr(cls, "__module__", None)):
            return
        try:
            entries = {k: v for k, v in cls.__dict__.items() if guarded(v)}
        except Exception:  # noqa: BLE001
            return
        mutable = not (cls.__flags__ & (1 << 8))  # Py_TPFLAGS_IMMUTABLETYPE
        # Lazy torch internals add methods to some classes after import (dataclass-like
        # registrations), so *added* attributes are only watched on the classes a comparison
        # goes through: tensors, modules, arrays and the IPython/ipykernel machinery.
        try:
            watch_added = issubclass(cls, addition_bases)
        except TypeError:
            watch_added = False
        classes[_id(cls)] = (cls, entries, mutable, watch_added)
        for v in entries.values():
            note_value(v)

    def note_value(v):
        if _type(v) is FunctionType and _id(v) not in functions:
            functions[_id(v)] = (v, v.__code__, v.__defaults__, v.__kwdefaults__)
        elif _isinstance(v, type):
            note_class(v)

    addition_bases = []
    for modname, attr in (("torch", "Tensor"), ("torch.nn", "Module"), ("numpy", "ndarray"),
                          ("IPython.core.interactiveshell", "InteractiveShell"), ("ipykernel.kernelbase", "Kernel")):
        base = _getattr(sys.modules.get(modname), attr, None)
        if _isinstance(base, type):
            addition_bases.append(base)
    addition_bases = tuple(addition_bases)

    for name, module in _list(sys.modules.items()):
        if not protected_name(name) or not _isinstance(module, ModuleType):
            continue
        entries = {k: v for k, v in _list(module.__dict__.items()) if guarded(v)}
        modules.append((name, module, entries))
        for v in entries.values():
            note_value(v)
    for cls in (type(shell),) + type(shell).__mro__ + ((type(shell.kernel),) + type(shell.kernel).__mro__
                                                       if _hasattr(shell, "kernel") else ()):
        note_class(cls)
    builtins_snapshot = _dict(builtins.__dict__)
    warnings_context.__exit__(None, None, None)

    sys_names = ("excepthook", "displayhook", "breakpointhook", "unraisablehook", "stdout", "stderr",
                 "stdin", "__excepthook__", "__displayhook__", "__stdout__", "__stderr__")
    sys_snapshot = {n: _getattr(sys, n) for n in sys_names if _hasattr(sys, n)}
    shell_lists = {n: _list(_getattr(shell, n)) for n in
                   ("input_transformers_cleanup", "input_transformers_post", "ast_transformers")}
    shell_instance_keys = _set(shell.__dict__)
    shell_attrs = {n: _getattr(shell, n) for n in ("custom_exceptions", "CustomTB", "displayhook",
                                                   "display_pub", "compile", "InteractiveTB")
                   if _hasattr(shell, n)}
    events = {name: _list(cbs) for name, cbs in shell.events.callbacks.items()}
    pristine_modules = {name: module for name, module, _ in modules}
    alias_targets = {alias: pristine_modules.get(mod) for alias, mod in aliases.items()}
    pins = {}
    stdout = sys.stdout
    settrace, setprofile = sys.settrace, sys.setprofile

    # -- compare / repair -------------------------------------------------------------------
    def check(fix):
        """Differences from the snapshot (``where`` strings); repaired in place when ``fix``."""
        found = []
        for name, module, entries in modules:
            if sys.modules.get(name, MISSING) is not module:
                found.append(f"sys.modules[{name!r}]")
                if fix:
                    sys.modules[name] = module
            d = module.__dict__
            for k, v in entries.items():
                if not same(d.get(k, MISSING), v):
                    found.append(f"{name}.{k}")
                    if fix:
                        d[k] = v
        for cls, entries, mutable, watched in classes.values():
            if not watched:
                continue
            d = cls.__dict__
            for k, v in entries.items():
                if not same(d.get(k, MISSING), v):
                    found.append(f"{cls.__module__}.{cls.__qualname__}.{k}")
                    if fix and mutable:
                        type_setattr(cls, k, v)
            if _len(d) != _len(entries):
                for k in _list(d):
                    if k in entries or k.startswith("_abc_") or not guarded(d[k]):
                        continue
                    # re-setting an inherited method to itself (what a forbid()/mock restore
                    # does) changes nothing
                    inherited = MISSING
                    for base in cls.__mro__[1:]:
                        if k in base.__dict__:
                            inherited = base.__dict__[k]
                            break
                    if d[k] is inherited:
                        continue
                    found.append(f"{cls.__module__}.{cls.__qualname__}.{k} (added)")
                    if fix and mutable:
                        type_delattr(cls, k)
        for fn, code, defaults, kwdefaults in functions.values():
            if fn.__code__ is not code or fn.__defaults__ is not defaults or fn.__kwdefaults__ is not kwdefaults:
                found.append(f"{fn.__module__}.{fn.__qualname__}.__code__")
                if fix:
                    fn.__code__, fn.__defaults__, fn.__kwdefaults__ = code, defaults, kwdefaults
        bd = builtins.__dict__
        for k, v in builtins_snapshot.items():
            if not same(bd.get(k, MISSING), v) and guarded(v):
                found.append(f"builtins.{k}")
                if fix:
                    bd[k] = v
        for n, v in sys_snapshot.items():
            if not same(_getattr(sys, n, MISSING), v):
                found.append(f"sys.{n}")
                if fix:
                    setattr(sys, n, v)
        if sys.gettrace() is not None or sys.getprofile() is not None:
            found.append("sys.settrace/setprofile")
            if fix:
                settrace(None)
                setprofile(None)
                threading.settrace(None)
                threading.setprofile(None)
        for n, v in shell_lists.items():
            lst = _getattr(shell, n)
            if not identical(lst, v):
                found.append(f"shell.{n}")
                if fix:
                    lst[:] = v
        for n, v in shell_attrs.items():
            if shell.__dict__.get(n, MISSING) is not v and _getattr(shell, n, MISSING) is not v:
                found.append(f"shell.{n}")
                if fix:
                    setattr(shell, n, v)
        for k in _list(shell.__dict__):
            if k not in shell_instance_keys and _callable(shell.__dict__[k]):
                found.append(f"shell.{k} (instance override)")
                if fix:
                    del shell.__dict__[k]
        cbs = shell.events.callbacks
        for name in _list(cbs):
            if not identical(cbs[name], events.get(name, [])):
                found.append(f"shell.events[{name!r}]")
                if fix:
                    cbs[name][:] = events.get(name, [])
        if not fix:  # notebook names are only restored: tests rebind names legitimately
            return found
        ns = shell.user_ns
        for alias, target in alias_targets.items():
            if target is not None and alias in ns and ns[alias] is not target:
                value = ns[alias]
                if not (_isinstance(value, ModuleType) and not protected_name(_getattr(value, "__name__", None))):
                    found.append(f"notebook name {alias!r}")
                    if fix:
                        ns[alias] = target
        for name, value in pins.items():
            if ns.get(name, MISSING) is not value:
                found.append(f"notebook name {name!r}")
                if fix:
                    ns[name] = value
        return found

    class GradingIntegrityError(Exception):
        """The grading environment was modified while a test ran."""

    class Guard:
        __slots__ = ()

        def restore(self):
            check(fix=True)

        def pin(self, names):
            ns = shell.user_ns
            for name in names:
                value = ns.get(name, MISSING)
                if value is not MISSING and (_type(value) is FunctionType or _isinstance(value, (type, ModuleType))):
                    pins[name] = value
                    note_value(value)

        def seal(self, nonce):
            found = check(fix=False)
            if found:
                check(fix=True)
                shown = ", ".join(_sorted(_set(found))[:6])
                raise GradingIntegrityError(
                    f"the grading environment was modified during this test ({shown}); "
                    "tests only pass with torch/numpy/builtins as shipped")
            h = mac.copy()
            h.update(nonce.encode() + b":ok")
            stdout.write(f"\n@@gradlab-seal:{nonce}:{h.hexdigest()}@@\n")
            stdout.flush()

    guard = Guard()
    builtins.__gradlab__ = guard
    builtins_snapshot["__gradlab__"] = guard
    # Leave nothing of the bootstrap behind for student code to read.
    for k in _list(linecache.cache):
        if "gradlab" in k:
            del linecache.cache[k]
    stdout.write(f"@@gradlab-ready:{_len(modules)}:{_len(classes)}@@\n")
    stdout.flush()
