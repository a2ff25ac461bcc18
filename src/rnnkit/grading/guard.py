"""Inside a grading kernel: put numpy, torch, builtins and rnnkit back as they were.

``HardenedExecute`` (``rnnkit.grading.hardening``) runs ``install()`` in every grading
kernel before the first notebook cell. It snapshots the attributes of the guarded
modules (and of ``torch.Tensor`` and ``torch.nn.Module``) and restores them

* before every cell (an IPython ``pre_run_cell`` hook),
* at every call of an ``rnnkit.checks`` helper (and when an ``inputs_unchanged`` block
  ends), so a student function that patches ``np.allclose`` while a test calls it
  cannot fool the check that follows,
* and before each test cell, together with the test cell's names from the course's
  canonical imports (``np``, ``torch``, ``check_close``...), via ``before_test``.

A module first imported later (torch, for example) is snapshotted as its import
finishes, before student code can touch it. This defeats monkeypatching; it is not a
security boundary: code that targets this module itself (through ``sys.modules``,
``gc`` or IPython's internals) can undo it, and the integrity scan flags such code.
With the judge (``rnnkit.judge``), ``rnnkit grade`` installs it only for the test cells
the instructor left in the kernel (``"rnnkit": {"judge": false}``).
"""

from __future__ import annotations

import builtins
import importlib.abc
import sys
from typing import Any

# numpy's and rnnkit's submodules are snapshotted whole; torch only where tests reach.
EAGER_PREFIXES = ("numpy", "rnnkit")
# the modules whose helpers test cells call: each helper restores before it checks, and
# before_test rebinds their names in the test cell's namespace
CHECK_MODULES = ("rnnkit.checks", "rnnkit.checks_oracle", "rnnkit.checks_torch",
                 "rnnkit.gradcheck", "rnnkit.ready")
EAGER = ("builtins", "math", "numpy", "numpy.linalg", "numpy.random", "rnnkit", *CHECK_MODULES)
LAZY = ("torch", "torch.nn", "torch.nn.functional", "torch.testing", "torch.linalg")
LAZY_CLASSES = {"torch": ("Tensor",), "torch.nn": ("Module",)}
# builtins that Python and IPython themselves change as cells run
VOLATILE = {"builtins": {"_", "__", "___"}}
CANONICAL = {"np": ("numpy", None), "torch": ("torch", None), "nn": ("torch.nn", None),
             "F": ("torch.nn.functional", None), "plt": ("matplotlib.pyplot", None)}

_MISSING = object()
_modules: dict[str, tuple[Any, dict[str, Any]]] = {}
_classes: list[tuple[type, dict[str, Any]]] = []
_installed = False


def _snapshot(name: str, module: Any) -> None:
    if name in _modules:
        return
    _modules[name] = (module, dict(vars(module)))
    for cls_name in LAZY_CLASSES.get(name, ()):
        cls = getattr(module, cls_name, None)
        if isinstance(cls, type):
            _classes.append((cls, dict(vars(cls))))


def restore() -> list[str]:
    """Undo changes to the guarded modules and classes; returns what was put back."""
    changed: list[str] = []
    for name, (module, saved) in list(_modules.items()):
        if sys.modules.get(name) is not module:
            sys.modules[name] = module
            changed.append(f"sys.modules[{name!r}]")
        current = vars(module)
        skip = VOLATILE.get(name, ())
        for key, value in saved.items():
            if key not in skip and current.get(key, _MISSING) is not value:
                current[key] = value
                changed.append(f"{name}.{key}")
    for cls, saved in _classes:
        for key, value in saved.items():
            if cls.__dict__.get(key, _MISSING) is not value:
                try:
                    setattr(cls, key, value)
                    changed.append(f"{cls.__module__}.{cls.__qualname__}.{key}")
                except (AttributeError, TypeError):
                    pass
        for key in set(cls.__dict__) - set(saved):
            if not key.startswith("__"):
                try:
                    delattr(cls, key)
                    changed.append(f"{cls.__module__}.{cls.__qualname__}.{key}")
                except (AttributeError, TypeError):
                    pass
    return changed


def before_test(names: list[str]) -> None:
    """Restore, then rebind the test cell's canonical names in the user namespace."""
    restore()
    shell = _shell()
    if shell is None:
        return
    helpers = {}
    for module_name in CHECK_MODULES:
        module = _modules.get(module_name, (None, {}))[0]
        for helper in getattr(module, "__all__", ()):
            helpers.setdefault(helper, getattr(module, helper))
    for name in names:
        if name in CANONICAL:
            module = sys.modules.get(CANONICAL[name][0])
            if module is not None:
                shell.user_ns[name] = module
        elif name in helpers:
            shell.user_ns[name] = helpers[name]


class _GuardedContext:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __enter__(self) -> Any:
        restore()
        return self._inner.__enter__()

    def __exit__(self, *exc: Any) -> Any:
        restore()
        return self._inner.__exit__(*exc)


def _guard_checks(checks: Any) -> None:
    """Make every public helper of a check module restore before it checks (classes stay)."""
    import functools

    for name in getattr(checks, "__all__", ()):
        func = getattr(checks, name)
        if (not callable(func) or isinstance(func, type)
                or getattr(func, "__rnnkit_guarded__", False)):
            continue
        if name == "inputs_unchanged":
            def wrapped(*args: Any, __f: Any = func, **kwargs: Any) -> Any:
                restore()
                return _GuardedContext(__f(*args, **kwargs))
        else:
            def wrapped(*args: Any, __f: Any = func, **kwargs: Any) -> Any:
                restore()
                return __f(*args, **kwargs)
        wrapped = functools.wraps(func)(wrapped)
        wrapped.__rnnkit_guarded__ = True  # type: ignore[attr-defined]
        setattr(checks, name, wrapped)


class _SnapshotOnImport(importlib.abc.MetaPathFinder):
    """Snapshot a LAZY module the moment its import finishes, before any cell code runs."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in LAZY or fullname in _modules:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        original = loader.exec_module

        def exec_module(module: Any) -> None:
            original(module)
            _snapshot(fullname, module)

        loader.exec_module = exec_module
        return spec


def _shell() -> Any:
    get = getattr(builtins, "get_ipython", None)
    return get() if get else None


def _import_trusted(name: str) -> Any:
    """Import ``name`` with the working directory off ``sys.path`` (no student numpy.py)."""
    import os

    cwd = os.getcwd()
    saved = list(sys.path)
    sys.path[:] = [p for p in sys.path if p not in ("", ".", cwd)]
    try:
        return importlib.import_module(name)
    finally:
        sys.path[:] = saved


def reap_children() -> int:
    """Collect children that have exited (after the grader killed a cell's strays).

    Until a parent waits for them, dead children stay zombies and keep counting against
    the sandbox's process limit.
    """
    import os

    reaped = 0
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped += 1


def install() -> None:
    """Snapshot the guarded modules and hook restoring into the kernel (idempotent)."""
    global _installed
    if _installed:
        return
    for name in EAGER:
        try:
            module = _import_trusted(name)
        except ImportError:
            continue
        if name in CHECK_MODULES:
            _guard_checks(module)
    for name, module in list(sys.modules.items()):
        if name in EAGER or (name.split(".")[0] in EAGER_PREFIXES and module is not None):
            _snapshot(name, module)
    for name in LAZY:
        if name in sys.modules:
            _snapshot(name, sys.modules[name])
    sys.meta_path.insert(0, _SnapshotOnImport())
    shell = _shell()
    if shell is not None:
        shell.events.register("pre_run_cell", lambda *_: restore())
    _installed = True
