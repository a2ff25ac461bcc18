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
_objects: dict[int, Any] = {}
_ids = itertools.count(1)


def handle(request: str) -> str:
    """Run one request (JSON text); the reply as JSON text. Never raises."""
    try:
        req = json.loads(request)
        value, writeback = _run(req)
        return json.dumps({"ok": True, "value": _out(value), "writeback": writeback},
                          separators=(",", ":"), allow_nan=False)
    except BaseException as err:  # noqa: BLE001 - everything becomes a reply
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
    args = [wire.decode(a, handle=_resolve, ref=wire.resolve_ref) for a in req.get("args", [])]
    kwargs = {k: wire.decode(v, handle=_resolve, ref=wire.resolve_ref)
              for k, v in req.get("kwargs", {}).items()}
    if op == "method":
        target = getattr(target, req["name"])
    elif op != "call":
        raise ValueError(f"unknown operation {op!r}")
    before = _snapshots(args, kwargs)
    value = target(*args, **kwargs)
    if _is_iterator(value):
        value = list(itertools.islice(value, MAX_ITEMS))
    return value, _changed(before, args, kwargs)


def _target(spec: Any) -> Any:
    if not isinstance(spec, dict):
        raise ValueError("the request has no target")
    if "id" in spec:
        return _resolve(spec)
    shell = getattr(builtins, "get_ipython", lambda: None)()
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
        if np is not None and type(value) is np.ndarray:
            keep[key] = value
        elif torch is not None and isinstance(value, torch.Tensor):
            keep[key] = value
    return keep


def _snapshots(args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in _arrays(args, kwargs).items():
        out[key] = (value, value.copy() if hasattr(value, "copy") and not hasattr(
            value, "detach") else value.detach().clone())
    return out


def _changed(before: dict[str, Any], args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The arrays among the arguments whose values the call changed, encoded."""
    return {key: wire.encode(value) for key, (value, copy) in before.items()
            if not _same(value, copy)}


def _same(now: Any, copy: Any) -> bool:
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
    except Exception:  # noqa: BLE001 - args that are not data become their text
        args = wire.encode([str(err)])
    try:
        text = "".join(traceback.format_exception(type(err), err, err.__traceback__)[-6:])
    except Exception:  # noqa: BLE001
        text = ""
    reply = {"ok": False, "error": {"mro": names, "args": args, "message": str(err)[:20000],
                                    "traceback": text[-4000:]}}
    try:
        return json.dumps(reply, separators=(",", ":"), allow_nan=False)
    except Exception:  # noqa: BLE001
        return json.dumps({"ok": False, "error": {"mro": names, "args": wire.encode([]),
                                                  "message": "", "traceback": ""}})
