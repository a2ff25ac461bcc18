"""The student kernel's side of the judge: run one request, answer with data.

The grader evaluates ``handle(request)`` in the student kernel as a kernel
``user_expressions`` entry; its value, a JSON string, is the reply. A request names its
target (an exercise name in the notebook's namespace, or a handle this module handed
out earlier), an operation (``call``, ``getattr``, ``method``, ``release``) and its
arguments in the wire format. The reply is ``{"ok": true, "value": ..., "writeback":
{...}}`` or ``{"ok": false, "error": {...}}``.

Nothing here is trusted: student code can replace this module, and whatever it answers
is read by the judge as data only (``rnnkit.judge.wire``). A value that is not data
(a module, a student class's instance, a generator) stays here as a handle; arrays the
call changed in place are sent back (``writeback``), so that the judge sees a function
that modifies its inputs.
"""

from __future__ import annotations

import builtins
import itertools
import json
import sys
import traceback
from typing import Any

from . import wire

__all__ = ["handle"]

MAX_ITEMS = 10_000  # a generator result is listed, up to this many items
CALLBACK_PROMPT = "\x00rnnkit-judge-callback:"
_objects: dict[int, Any] = {}
_ids = itertools.count(1)


def handle(request: str) -> str:
    """Run one request (JSON text); the reply as JSON text. Never raises."""
    try:
        req = json.loads(request)
        value, writeback = _run(req)
        return json.dumps({"ok": True, "value": _out(value), "writeback": writeback},
                          separators=(",", ":"), allow_nan=False)
    except BaseException as err:
        return _error_reply(err)


def _run(req: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    op = req.get("op")
    if op == "release":
        for i in req.get("ids", []):
            _objects.pop(i, None)
        return None, {}
    target = _target(req.get("target"))
    if op == "getattr":
        return getattr(target, req["name"]), {}
    live: dict[str, Any] = {}
    decoding = {"handle": _resolve, "ref": wire.resolve_ref,
                "callback": lambda raw: _Callback(raw, live)}
    args = [wire.decode(a, **decoding) for a in req.get("args", [])]
    kwargs = {k: wire.decode(v, **decoding) for k, v in req.get("kwargs", {}).items()}
    live.update(_arrays(args, kwargs))
    if op == "method":
        target = getattr(target, req["name"])
    elif op != "call":
        raise ValueError(f"unknown operation {op!r}")
    before = _snapshots(args, kwargs)
    value = target(*args, **kwargs)
    if _is_iterator(value):
        value = list(itertools.islice(value, MAX_ITEMS))
    return value, _changed(before, args, kwargs)


class _Callback:
    """A function of the test: calling it asks the judge (through the kernel's stdin)."""

    def __init__(self, raw: dict[str, Any], live: dict[str, Any]) -> None:
        self._id, self._live = raw.get("id"), live

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        request = {"id": self._id, "args": [_out(a) for a in args],
                   "kwargs": {str(k): _out(v) for k, v in kwargs.items()},
                   # the judge's copies of the call's arrays first take their values here
                   "arrays": {k: wire.encode(v) for k, v in self._live.items()}}
        reply = json.loads(_ask(CALLBACK_PROMPT + json.dumps(request, separators=(",", ":"))))
        if reply.get("ok"):
            return wire.decode(reply.get("value"), handle=_resolve)
        error = reply.get("error", {})
        cls = getattr(builtins, str(error.get("type", "")), None)
        if not (isinstance(cls, type) and issubclass(cls, Exception)):
            cls = RuntimeError
        raise cls(error.get("message", "the test's function failed"))


def _shell() -> Any:
    if "IPython" not in sys.modules:
        return None
    from IPython.core.getipython import get_ipython

    return get_ipython()


def _ask(prompt: str) -> str:
    """One line from the grader over the stdin channel (user_expressions run after ipykernel
    has put ``input`` back, so this asks the kernel itself)."""
    kernel = getattr(_shell(), "kernel", None)
    return kernel.raw_input(prompt) if kernel is not None else input(prompt)


def _target(spec: Any) -> Any:
    if not isinstance(spec, dict):
        raise ValueError("the request has no target")
    if "id" in spec:
        return _resolve(spec)
    shell = _shell()
    namespace = shell.user_ns if shell is not None else vars(sys.modules["__main__"])
    name = spec.get("name")
    if name not in namespace:
        raise NameError(f"name '{name}' is not defined")
    return namespace[name]


def _resolve(raw: dict[str, Any]) -> Any:
    if "name" in raw and "id" not in raw:
        return _target(raw)
    try:
        return _objects[raw["id"]]
    except KeyError:
        raise LookupError("this object no longer exists in the student's kernel (was the "
                          "kernel restarted?)") from None


def _out(value: Any) -> Any:
    return wire.encode(value, handles=_new_handle)


def _new_handle(value: Any) -> dict[str, Any]:
    for key, obj in _objects.items():
        if obj is value:
            ident = key
            break
    else:
        ident = next(_ids)
        _objects[ident] = value
    return {"$": "handle", "id": ident, "cls": _nearest_class(type(value)),
            "name": getattr(value, "__name__", None) if callable(value) else None,
            "callable": callable(value)}


def _nearest_class(cls: type) -> str:
    """The first class in the MRO that numpy, torch or builtins defines (the judge's view)."""
    for klass in cls.__mro__:
        module = getattr(klass, "__module__", "") or ""
        if module.split(".")[0] in ("torch", "numpy", "builtins", "collections"):
            return f"{module}:{klass.__qualname__}"
    return "builtins:object"


def _is_iterator(value: Any) -> bool:
    return hasattr(value, "__next__") and hasattr(value, "__iter__") and not isinstance(
        value, (str, bytes))


def _arrays(args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    found = {str(i): a for i, a in enumerate(args)}
    found.update({f"k:{k}": v for k, v in kwargs.items()})
    np = sys.modules.get("numpy")
    torch = sys.modules.get("torch")
    keep = {}
    for key, value in found.items():
        numpy_kind = np is not None and type(value) in (np.ndarray, np.random.Generator)
        torch_kind = torch is not None and isinstance(value, (torch.Tensor, torch.Generator))
        if numpy_kind or torch_kind:
            keep[key] = value
    return keep


def _copy(value: Any) -> Any:
    if hasattr(value, "bit_generator"):
        return json.dumps(value.bit_generator.state, default=str)
    if hasattr(value, "get_state"):
        return value.get_state().clone()
    return value.detach().clone() if hasattr(value, "detach") else value.copy()


def _snapshots(args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The arrays and generators among the arguments, with a copy of their values."""
    return {key: (value, _copy(value)) for key, value in _arrays(args, kwargs).items()}


def _changed(before: dict[str, Any], args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The arrays among the arguments whose values the call changed, encoded."""
    return {key: wire.encode(value) for key, (value, copy) in before.items()
            if not _same(value, copy)}


def _same(now: Any, copy: Any) -> bool:
    if hasattr(now, "bit_generator"):
        return json.dumps(now.bit_generator.state, default=str) == copy
    if hasattr(now, "get_state"):
        return bool((now.get_state() == copy).all())
    if tuple(now.shape) != tuple(copy.shape) or now.dtype != copy.dtype:
        return False
    if hasattr(now, "detach"):  # a NaN compares unequal: its (identical) values go back
        return bool((now.detach() == copy).all())
    np = sys.modules["numpy"]
    return bool(np.array_equal(now, copy, equal_nan=now.dtype.kind in "fc"))


def _error_reply(err: BaseException) -> str:
    names = [f"{k.__module__}:{k.__qualname__}" for k in type(err).__mro__]
    try:
        args = wire.encode(list(err.args))
    except Exception:
        args = wire.encode([str(err)])
    try:
        text = "".join(traceback.format_exception(type(err), err, err.__traceback__)[-6:])
    except Exception:
        text = ""
    reply = {"ok": False, "error": {"mro": names, "args": args, "message": str(err)[:20000],
                                    "traceback": text[-4000:]}}
    try:
        return json.dumps(reply, separators=(",", ":"), allow_nan=False)
    except Exception:
        return json.dumps({"ok": False, "error": {"mro": names, "args": wire.encode([]),
                                                  "message": "", "traceback": ""}})
