"""The student kernel's side of the judge: run one request, answer with data.

The grader evaluates ``handle(request)`` in the student kernel as a kernel
``user_expressions`` entry; its value, a JSON string, is the reply. A request names its
target (an exercise name in the notebook's namespace, or a handle this module handed
out earlier), an operation (``call``, ``getattr``, ``method``, ``deepcopy``, ``backward``,
``release``) and its arguments in the wire format. The reply is
``{"ok": true, "value": ..., "writeback": {...}}`` or ``{"ok": false, "error": {...}}``.

Nothing here is trusted: student code can replace this module, and whatever it answers
is read by the judge as data only (``rnnkit.judge.wire``). A value that is not data
(a module, a student class's instance) stays here as a handle; arguments the call
changed in place (arrays, tensors, containers, generators) are sent back
(``writeback``), so that the judge sees a function that modifies its inputs. Each call
runs under the judge's numerical context (``_context``) and its warnings go back too.

Autograd through the student's code: a result tensor with a ``grad_fn`` (the logits of a
student's model, with grad enabled) goes back as data marked with a ``graph`` and a
``slot``, and the tensor is kept here (``_graphs``, the last ``MAX_GRAPHS`` replies).
When the judge's ``loss.backward()`` reaches it, the judge sends the gradient of its loss
with respect to that tensor (``backward``), and the student's graph is run backward
here: the student's parameters get their ``.grad`` as they would in one process, and the
judge reads them back as data.
"""

from __future__ import annotations

import builtins
import collections
import copy
import itertools
import json
import os
import sys
import traceback
import types
import warnings
from typing import Any

from . import wire

__all__ = ["handle"]

MAX_ITEMS = 10_000  # a generator result is listed, up to this many items
MAX_GRAPHS = 16  # replies whose autograd graphs are kept for the judge's backward pass
CALLBACK_PROMPT = "\x00rnnkit-judge-callback:"
_objects: dict[int, Any] = {}
_ids = itertools.count(1)
_graphs: collections.OrderedDict[int, list[Any]] = collections.OrderedDict()
_graph_ids = itertools.count(1)


def handle(request: str) -> str:
    """Run one request (JSON text); the reply as JSON text. Never raises."""
    caught: list[Any] = []
    try:
        req = json.loads(request)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value, extra = _run(req)
        return json.dumps({"ok": True, **extra, "value": value, "warnings": _warnings(caught)},
                          separators=(",", ":"), allow_nan=False)
    except BaseException as err:
        return _error_reply(err, _warnings(caught))


def _warnings(caught: list[Any]) -> list[dict[str, str]]:
    return [{"category": w.category.__name__, "message": str(w.message)[:2000]}
            for w in caught[:20]]


_MUTABLE = {"ndarray", "tensor", "rng", "list", "dict", "counter", "set", "module", "course"}


def _run(req: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    op = req.get("op")
    if op == "release":
        for i in req.get("ids", []):
            _objects.pop(i, None)
        return None, {}
    if op == "backward":
        return _backward(req)
    target = _target(req.get("target"))
    if op == "getattr":
        return _out(getattr(target, req["name"])), {}
    if op == "deepcopy":
        return _out(copy.deepcopy(target)), {}
    raw_args = wire.arguments(req.get("args", []), req.get("kwargs", {}))
    live: dict[str, Any] = {}
    decoding = {"handle": _resolve, "ref": wire.resolve_ref,
                "callback": lambda raw: _Callback(raw, live)}
    args = [wire.decode(a, **decoding) for a in req.get("args", [])]
    kwargs = {k: wire.decode(v, **decoding) for k, v in req.get("kwargs", {}).items()}
    decoded = wire.arguments(args, kwargs)
    mutable = {k: v for k, v in decoded.items()
               if isinstance(raw_args.get(k), dict) and raw_args[k].get("$") in _MUTABLE}
    live.update(mutable)
    if op == "method":
        target = getattr(target, req["name"])
    elif op != "call":
        raise ValueError(f"unknown operation {op!r}")
    with _context(req.get("context") or {}) as after:
        value = target(*args, **kwargs)
        if _is_iterator(value):
            value = list(itertools.islice(value, MAX_ITEMS))
    paths = _paths(decoded)
    encoded = wire.encode(value, handles=_new_handle, alias=lambda v: _alias(v, paths),
                          graph=_Graph())
    writeback = {}
    for key, obj in mutable.items():
        now = wire.encode(obj, handles=_new_handle)
        if now != raw_args[key]:  # a NaN or a set's order can only add a harmless copy
            writeback[key] = now
    return encoded, {"writeback": writeback, **after}


class _Graph:
    """Keeps one reply's tensors that have a ``grad_fn``; each gets its ``slot``."""

    def __init__(self) -> None:
        self.ident: int | None = None

    def __call__(self, tensor: Any) -> dict[str, Any]:
        if self.ident is None:
            self.ident = next(_graph_ids)
            _graphs[self.ident] = []
            while len(_graphs) > MAX_GRAPHS:
                _graphs.popitem(last=False)
        kept = _graphs.get(self.ident)
        if kept is None:
            raise wire.WireError("the reply holds more graphs than the kernel keeps")
        kept.append(tensor)
        return {"graph": self.ident, "slot": len(kept) - 1}


def _backward(req: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Run the student's graph backward from one kept tensor, with the judge's gradient."""
    import torch

    kept = _graphs.get(req.get("graph"))  # type: ignore[arg-type]
    slot = req.get("slot")
    if kept is None or type(slot) is not int or not 0 <= slot < len(kept):
        raise LookupError("this result's autograd graph is no longer kept in the student's "
                          f"kernel (it keeps the last {MAX_GRAPHS} calls' graphs): call the "
                          "model again before backward()")
    grad = wire.decode(req.get("grad"))
    with _context(req.get("context") or {}) as after:
        torch.autograd.backward(kept[slot], grad_tensors=grad, retain_graph=True)
    return None, dict(after)


class _context:
    """The judge's numerical context for one call: numpy's errstate, torch's grad mode and
    global random state (sent back when the call used it), and ``RNNKIT_DEVICE``."""

    def __init__(self, ctx: dict[str, Any]) -> None:
        self.ctx, self.after = ctx, {}

    def __enter__(self) -> dict[str, Any]:
        import contextlib

        self._stack = contextlib.ExitStack()
        env = self.ctx.get("env")
        if isinstance(env, dict) and set(env) <= {"RNNKIT_DEVICE"}:
            self._stack.callback(_restore_env, {k: os.environ.get(k) for k in env})
            _restore_env(env)
        np = sys.modules.get("numpy")
        err = self.ctx.get("errstate")
        if np is not None and isinstance(err, dict):
            self._stack.enter_context(np.errstate(**{k: v for k, v in err.items()
                                                      if k in ("over", "under", "divide",
                                                               "invalid")}))
        # only where the student's code has torch already (importing it costs about 1 s)
        torch = sys.modules.get("torch")
        self._torch = torch
        if torch is not None:
            self._stack.enter_context(torch.set_grad_enabled(bool(self.ctx.get("grad", True))))
            state = self.ctx.get("torch_rng")
            if isinstance(state, dict):
                torch.set_rng_state(wire.decode(state))
                self._rng = state
        return self.after

    def __exit__(self, *exc: Any) -> None:
        torch = self._torch
        if torch is not None and getattr(self, "_rng", None) is not None:
            now = wire.encode(torch.get_rng_state())
            if now != self._rng:
                self.after["torch_rng"] = now
        self._stack.close()


def _restore_env(values: dict[str, Any]) -> None:
    for key, value in values.items():
        if isinstance(value, str):
            os.environ[key] = value
        else:
            os.environ.pop(key, None)


def _paths(decoded: dict[str, Any]) -> dict[int, tuple[list[Any], Any]]:
    """``id(object) -> (path, object)`` for the call's arguments and what they hold."""
    found: dict[int, tuple[list[Any], Any]] = {}
    todo: list[tuple[Any, list[Any]]] = [(v, [k]) for k, v in decoded.items()]
    while todo and len(found) < 10_000:
        obj, path = todo.pop()
        if isinstance(obj, (int, float, str, bool, type(None))) or id(obj) in found:
            continue
        found[id(obj)] = (path, obj)
        if type(obj) in (list, tuple):
            todo += [(v, [*path, i]) for i, v in enumerate(obj)]
        elif type(obj) is dict:
            todo += [(v, [*path, k]) for k, v in obj.items() if isinstance(k, (str, int))]
    return found


def _alias(value: Any, paths: dict[int, tuple[list[Any], Any]]) -> dict[str, Any] | None:
    """An argument returned as it is, or a tensor that shares an argument array's memory."""
    if id(value) in paths and paths[id(value)][1] is value:
        return {"$": "alias", "path": paths[id(value)][0]}
    torch, np = sys.modules.get("torch"), sys.modules.get("numpy")
    if torch is None or np is None or not isinstance(value, torch.Tensor) or \
            value.device.type != "cpu" or value.dtype == torch.bfloat16:
        return None
    try:
        data = value.detach().numpy()
    except (RuntimeError, TypeError):
        return None
    for path, obj in paths.values():
        if type(obj) is not np.ndarray or not np.shares_memory(data, obj):
            continue
        for how, candidate in (("same", obj), ("T", obj.T)):
            if candidate.shape == data.shape and np.array_equal(candidate, data):
                return {"$": "view", "path": path, "how": how,
                        "data": wire.encode(value.detach())}
    return None


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
            "callable": callable(value),
            "method": isinstance(value, (types.MethodType, types.BuiltinMethodType))}


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


def _error_reply(err: BaseException, caught: list[dict[str, str]] | None = None) -> str:
    names = [f"{k.__module__}:{k.__qualname__}" for k in type(err).__mro__]
    try:
        args = wire.encode(list(err.args))
    except Exception:
        args = wire.encode([str(err)])
    try:
        text = "".join(traceback.format_exception(type(err), err, err.__traceback__)[-6:])
    except Exception:
        text = ""
    reply = {"ok": False, "warnings": caught or [],
             "error": {"mro": names, "args": args, "message": str(err)[:20000],
                       "traceback": text[-4000:]}}
    try:
        return json.dumps(reply, separators=(",", ":"), allow_nan=False)
    except Exception:
        return json.dumps({"ok": False, "error": {"mro": names, "args": wire.encode([]),
                                                  "message": "", "traceback": ""}})
