"""The judge's side: exercise names that are proxies for the student kernel's objects.

In the judge, ``make_windows`` is a :class:`RemoteName`: calling it sends the arguments
(data) to the student kernel, which calls the student's ``make_windows`` there, and the
result comes back as data (``rnnkit.judge.wire``). An exception the student's code
raised is raised here as the nearest builtin exception class with the same arguments
(``ValueError``, ``NotImplementedError``...), so ``check_raises`` and ``call_checked``
work unchanged. Arrays the student's code changed in place are changed here too.
A result that is not data (a module, an instance of a student's class) is a
:class:`RemoteObject`: its attributes and methods are fetched and called the same way,
and it claims the nearest numpy, torch or builtin class of the real object as its
``__class__``, so ``isinstance(model, nn.Module)`` holds.

A tensor the student's code computed with grad enabled comes back on the judge's
autograd graph (:func:`_remote_graph`): the judge's ``loss.backward()`` sends the
gradient for it to the student kernel, which runs the student's graph backward there;
the parameters' ``.grad`` are then read back as data (``model.named_parameters()``).

A proxy runs no student code here and holds no student object: it is a name or a number.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from . import wire

__all__ = ["Link", "RemoteError", "RemoteMethod", "RemoteName", "RemoteObject", "set_link"]

MAX_REPLY_BYTES = 256 * 2**20
_CLASS_PREFIXES = ("torch", "numpy", "builtins", "collections")


class RemoteError(RuntimeError):
    """The student kernel could not answer (it died, timed out, or sent something unreadable)."""


class Link:
    """How proxies reach the student kernel: ``send(request_text) -> reply_text``."""

    def __init__(self, send: Callable[[str], str]) -> None:
        self._send = send
        self._objects: dict[int, RemoteObject] = {}
        self._callbacks: dict[int, Callable[..., Any]] = {}
        self._pending: tuple[tuple[Any, ...], dict[str, Any]] = ((), {})
        self._anchor: Any = None
        self._methods: set[tuple[int, str]] = set()  # (handle, name): a bound method there

    def answer_callback(self, text: str) -> str:
        """Run a test function the student's code called back; the reply as JSON text."""
        try:
            req = json.loads(text)
            fn = self._callbacks[req["id"]]
            args, kwargs = self._pending
            arrays = {str(k): wire.decode(v) for k, v in (req.get("arrays") or {}).items()}
            _write_back(arrays, args, kwargs)  # the student's current values of the arrays
            value = fn(*[wire.decode(a, handle=self._proxy) for a in req.get("args", [])],
                       **{k: wire.decode(v, handle=self._proxy)
                          for k, v in (req.get("kwargs") or {}).items()})
            return json.dumps({"ok": True, "value": _send(value)}, allow_nan=False)
        except Exception as err:
            return json.dumps({"ok": False, "error": {"type": type(err).__name__,
                                                      "message": str(err)[:2000]}})

    def request(self, req: dict[str, Any]) -> Any:
        """Send ``req``; the decoded value and writeback, or the student's exception."""
        text = json.dumps(req, separators=(",", ":"), allow_nan=False)
        raw = self._send(text)
        try:
            reply_text = ast.literal_eval(raw) if raw.startswith(("'", '"')) else raw
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise RemoteError("the student's kernel sent a reply that is not text") from None
        if not isinstance(reply_text, str):
            raise RemoteError("the student's kernel sent a reply that is not text")
        try:
            reply = json.loads(reply_text) if len(reply_text) <= MAX_REPLY_BYTES else None
        except (ValueError, RecursionError):
            reply = None
        if not isinstance(reply, dict):
            raise RemoteError("the student's kernel sent a reply the judge cannot read (over "
                              f"{MAX_REPLY_BYTES // 2**20} MiB, or not a reply)")
        _reissue(reply.get("warnings"))
        if reply.get("ok") is True:
            try:
                value = wire.decode(reply.get("value"), handle=self._proxy, alias=self._alias,
                                    graph=self._on_graph)
                writeback = {str(k): wire.decode(v) for k, v in
                             (reply.get("writeback") or {}).items()}
                if isinstance(reply.get("torch_rng"), dict) and "torch" in sys.modules:
                    sys.modules["torch"].set_rng_state(wire.decode(reply["torch_rng"]))
            except (wire.WireError, RuntimeError, TypeError) as err:
                raise RemoteError(f"the student's code returned something that is not data: "
                                  f"{err}") from None
            return value, writeback
        raise _student_exception(reply.get("error"))

    def _alias(self, raw: dict[str, Any]) -> Any:
        """The judge's own argument a result is (``alias``), or a view of it (``view``)."""
        path = raw.get("path")
        args, kwargs = self._pending
        if not (isinstance(path, list) and path and isinstance(path[0], str)):
            raise wire.WireError("an alias needs a path")
        try:
            obj: Any = wire.argument(path[0], args, kwargs)
            for step in path[1:]:
                obj = obj[step]
        except (KeyError, IndexError, ValueError, TypeError):
            raise wire.WireError(f"the alias {path!r} names no argument") from None
        if raw.get("$") == "alias":
            return obj
        data = wire.decode(raw.get("data"))
        torch, np = sys.modules.get("torch"), sys.modules.get("numpy")
        if torch is not None and np is not None and type(obj) is np.ndarray:
            view = torch.from_numpy(obj)
            view = view.T if raw.get("how") == "T" else view
            if tuple(view.shape) == tuple(data.shape) and view.dtype == data.dtype and \
                    torch.equal(view, data):
                return view
        return data

    def _on_graph(self, raw: dict[str, Any], tensor: Any) -> Any:
        """``tensor`` joined to the judge's graph, its backward pass going to the kernel."""
        torch = sys.modules["torch"]
        graph, slot = raw.get("graph"), raw.get("slot")
        if type(graph) is not int or type(slot) is not int:
            raise wire.WireError("a tensor on a graph needs an integer graph and slot")
        if not (torch.is_grad_enabled() and (tensor.is_floating_point() or tensor.is_complex())):
            return tensor
        if self._anchor is None:
            self._anchor = torch.zeros((), requires_grad=True)
        return _remote_graph().apply(self, graph, slot, self._anchor, tensor)

    def backward(self, graph: int, slot: int, grad: Any) -> None:
        """Run the student's graph backward from the tensor at ``graph``, ``slot``."""
        self.request({"op": "backward", "graph": graph, "slot": slot,
                      "grad": wire.encode(grad), "context": _context()})

    def _proxy(self, raw: dict[str, Any]) -> RemoteObject:
        ident = raw.get("id")
        if type(ident) is not int:
            raise wire.WireError("a handle needs an integer id")
        if ident not in self._objects:
            self._objects[ident] = RemoteObject(self, ident, _known_class(raw.get("cls")),
                                                raw.get("name") if isinstance(
                                                    raw.get("name"), str) else None,
                                                raw.get("callable") is True,
                                                raw.get("method") is True)
        return self._objects[ident]

    def call(self, target: dict[str, Any], op: str, args: tuple[Any, ...],
             kwargs: dict[str, Any], name: str | None = None) -> Any:
        self._callbacks.clear()
        req: dict[str, Any] = {"op": op, "target": target,
                               "args": [_send(a, self._callbacks) for a in args],
                               "kwargs": {str(k): _send(v, self._callbacks)
                                          for k, v in kwargs.items()}}
        if name is not None:
            req["name"] = name
        req["context"] = _context()
        self._pending = (args, kwargs)
        # callbacks copy the student's arrays into the judge's: what the call did not
        # change in the end goes back to its value before the call
        before = _array_copies(args, kwargs) if self._callbacks else {}
        try:
            value, writeback = self.request(req)
        finally:
            self._pending = ((), {})
        _write_back({**before, **writeback}, args, kwargs)
        return value

    def getattr(self, ident: int, name: str) -> Any:
        """``obj.name`` of the handle ``ident``; a method already seen costs no round trip."""
        if (ident, name) in self._methods:
            return RemoteMethod(self, ident, name)
        value, _ = self.request({"op": "getattr", "target": {"id": ident}, "name": name})
        if type(value) is RemoteObject and object.__getattribute__(value, "_is_method"):
            self._methods.add((ident, name))
        return value


_link: Link | None = None


_graph_function: Any = None


def _remote_graph() -> Any:
    """The ``torch.autograd.Function`` whose backward is the student kernel's backward."""
    global _graph_function
    if _graph_function is None:
        import torch

        class RemoteGraph(torch.autograd.Function):
            @staticmethod
            def forward(ctx: Any, link: Link, graph: int, slot: int, anchor: Any,
                        tensor: Any) -> Any:
                ctx.link, ctx.graph, ctx.slot = link, graph, slot
                return tensor.clone()

            @staticmethod
            def backward(ctx: Any, grad: Any) -> Any:
                ctx.link.backward(ctx.graph, ctx.slot, grad)
                return None, None, None, None, None

        _graph_function = RemoteGraph
    return _graph_function


def set_link(link: Link | None) -> None:
    """Set the link every proxy of this process uses."""
    global _link
    _link = link


def _current() -> Link:
    if _link is None:
        raise RemoteError("the judge is not connected to a student kernel")
    return _link


def _send(value: Any, callbacks: dict[int, Callable[..., Any]] | None = None) -> Any:
    def handles(v: Any) -> dict[str, Any]:
        if isinstance(v, RemoteObject) and type(v) is RemoteObject:
            return {"$": "handle", "id": object.__getattribute__(v, "_id")}
        if type(v) is RemoteName:
            return {"$": "handle", "name": v.__name__}
        if callbacks is not None and callable(v) and not isinstance(v, type):
            ident = len(callbacks) + 1
            callbacks[ident] = v
            return {"$": "callback", "id": ident}
        raise wire.WireError(f"the test passes a {type(v).__name__} to the student's code; "
                             "only data, exercise names and their results can be sent")

    try:
        return wire.encode(value, handles=handles, refs=wire.ref_for)
    except wire.WireError as err:
        raise TypeError(str(err)) from None


def _array_copies(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    np = sys.modules.get("numpy")
    return {k: v.copy() for k, v in wire.arguments(args, kwargs).items()
            if np is not None and type(v) is np.ndarray}


def _write_back(changed: dict[str, Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Copy what the student's code did to its arguments into the judge's objects."""
    for key, new in changed.items():
        try:
            _copy_into(wire.argument(key, args, kwargs), new)
        except KeyError:
            continue


def _copy_into(original: Any, new: Any) -> None:
    """Make the judge's ``original`` hold what the student's copy of it holds now."""
    np = sys.modules.get("numpy")
    torch = sys.modules.get("torch")
    if np is not None and type(original) is np.random.Generator and type(new) is type(original):
        if type(original.bit_generator) is type(new.bit_generator):
            original.bit_generator.state = new.bit_generator.state
        return
    if torch is not None and type(original) is torch.Generator and type(new) is torch.Generator:
        original.set_state(new.get_state())
        return
    if np is not None and type(original) is np.ndarray and isinstance(new, np.ndarray):
        if original.shape == new.shape and original.flags.writeable:
            np.copyto(original, new, casting="unsafe")
        elif original.size == new.size and original.flags.writeable:
            original.flat[:] = new.ravel()
        return
    if hasattr(type(original), "take_wire_state") and type(new) is type(original):
        original.take_wire_state(new)  # a course spy: its records and parameters
        return
    if torch is not None and isinstance(original, torch.nn.Module) and type(new) is type(original):
        copy_module_state(original, new)
        return
    if torch is not None and isinstance(original, torch.Tensor) and isinstance(new, torch.Tensor):
        with torch.no_grad():
            if tuple(original.shape) == tuple(new.shape):
                original.copy_(new.to(original.dtype))
        return
    if isinstance(original, dict) and isinstance(new, dict):
        for key in [k for k in original if k not in new]:
            del original[key]
        for key, value in new.items():
            if key in original and _in_place(original[key], value):
                _copy_into(original[key], value)
            else:
                original[key] = value
    elif isinstance(original, list) and isinstance(new, list):
        if len(original) == len(new):
            for i, value in enumerate(new):
                if _in_place(original[i], value):
                    _copy_into(original[i], value)
                else:
                    original[i] = value
        else:
            original[:] = new
    elif isinstance(original, set) and isinstance(new, set):
        original.clear()
        original.update(new)
    elif isinstance(original, tuple) and isinstance(new, tuple) and len(original) == len(new):
        for old, value in zip(original, new, strict=True):
            if _in_place(old, value):
                _copy_into(old, value)


def copy_module_state(original: Any, new: Any) -> None:
    """Give ``original`` the parameters, gradients and buffers of ``new`` (same class)."""
    load_named_tensors(original, dict([*new.named_parameters(), *new.named_buffers()]))
    original.train(new.training)


def load_named_tensors(module: Any, tensors: dict[str, Any]) -> None:
    """Copy ``tensors`` (by name, with their ``.grad``) into ``module``'s own of that shape."""
    import torch

    mine = dict([*module.named_parameters(), *module.named_buffers()])
    with torch.no_grad():
        for name, value in tensors.items():
            target = mine.get(name)
            if target is None or tuple(target.shape) != tuple(value.shape):
                continue
            target.data = value.detach().clone()
            if target.requires_grad:
                target.grad = None if value.grad is None else value.grad.detach().clone()


def _in_place(old: Any, new: Any) -> bool:
    """``old`` can take ``new``'s value in place (an array, a container of the same kind)."""
    np = sys.modules.get("numpy")
    if np is not None and type(old) is np.ndarray:
        return isinstance(new, np.ndarray)
    return (isinstance(old, (dict, list, set, tuple)) and type(new) is type(old)) or (
        "torch" in sys.modules and isinstance(old, sys.modules["torch"].Tensor))


_torch_context = True


def set_torch_context(on: bool) -> None:
    """Send torch's grad mode and random state with every call (when the tests use torch)."""
    global _torch_context
    _torch_context = on


def _context() -> dict[str, Any]:
    """The judge's numerical context, which the call runs under in the student kernel."""
    ctx: dict[str, Any] = {}
    np = sys.modules.get("numpy")
    if np is not None:
        ctx["errstate"] = np.geterr()
    torch = sys.modules.get("torch") if _torch_context else None
    if torch is not None:
        ctx["grad"] = bool(torch.is_grad_enabled())
        ctx["torch_rng"] = wire.encode(torch.get_rng_state())
        ctx["env"] = {"RNNKIT_DEVICE": os.environ.get("RNNKIT_DEVICE")}
    return ctx


def _reissue(caught: Any) -> None:
    """Warn here what the student's code warned there, so the test's filters apply."""
    import warnings

    for w in caught if isinstance(caught, list) else []:
        if not isinstance(w, dict):
            continue
        category = getattr(builtins, str(w.get("category", "")), None)
        if not (isinstance(category, type) and issubclass(category, Warning)):
            category = UserWarning
        warnings.warn(str(w.get("message", "")), category, stacklevel=4)


def _known_class(spec: Any) -> type | None:
    """The class ``module:qualname`` names, if numpy, torch, builtins or collections has it."""
    if not isinstance(spec, str) or ":" not in spec:
        return None
    module, _, qualname = spec.partition(":")
    if module.split(".")[0] not in _CLASS_PREFIXES:
        return None
    if module.split(".")[0] == "torch" and "torch" not in sys.modules:
        return None  # a test that uses torch classes has imported torch
    try:
        value: Any = importlib.import_module(module)
        for part in qualname.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError):
        return None
    return value if isinstance(value, type) and value is not object else None


def _student_exception(error: Any) -> BaseException:
    """The exception to raise in the judge for what the student's code raised."""
    if not isinstance(error, dict):
        return RemoteError("the student's kernel sent an error the judge cannot read")
    mro = error.get("mro") if isinstance(error.get("mro"), list) else []
    cls: type[BaseException] = Exception
    for spec in mro:
        if isinstance(spec, str) and spec.startswith("builtins:"):
            candidate = getattr(builtins, spec.partition(":")[2], None)
            if isinstance(candidate, type) and issubclass(candidate, BaseException):
                cls = candidate
                break
    if not issubclass(cls, Exception):  # SystemExit, KeyboardInterrupt: not the judge's own
        return RuntimeError(f"the student's code raised {cls.__name__}")
    try:
        args = wire.decode(error.get("args"))
        if not isinstance(args, list):
            raise wire.WireError("args")
    except wire.WireError:
        args = [str(error.get("message", ""))]
    try:
        err = cls(*args)
    except Exception:
        err = cls(str(error.get("message", "")))
    remote = error.get("traceback")
    if isinstance(remote, str) and remote:
        err.__rnnkit_remote_traceback__ = remote[-4000:]  # type: ignore[attr-defined]
    return err


class RemoteName:
    """An exercise name of the student's notebook (``make_windows``, ``CharRNN``...)."""

    __rnnkit_proxy__ = True

    def __init__(self, name: str) -> None:
        self.__name__ = self.__qualname__ = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _current().call({"name": self.__name__}, "call", args, kwargs)

    def __repr__(self) -> str:
        return f"<the student's {self.__name__}>"


class RemoteObject:
    """An object that stays in the student kernel (a model, a student class's instance)."""

    __rnnkit_proxy__ = True
    __slots__ = ("_callable", "_cls", "_id", "_is_method", "_link", "_name")

    def __init__(self, link: Link, ident: int, cls: type | None, name: str | None,
                 is_callable: bool, is_method: bool = False) -> None:
        object.__setattr__(self, "_link", link)
        object.__setattr__(self, "_id", ident)
        object.__setattr__(self, "_cls", cls)
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_callable", is_callable)
        object.__setattr__(self, "_is_method", is_method)

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # isinstance(model, nn.Module) for a remote module
        return object.__getattribute__(self, "_cls") or RemoteObject

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            if name == "__name__" and object.__getattribute__(self, "_name"):
                return object.__getattribute__(self, "_name")
            raise AttributeError(name)
        link = object.__getattribute__(self, "_link")
        return link.getattr(object.__getattribute__(self, "_id"), name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"the judge does not change the student's objects ({name})")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        link = object.__getattribute__(self, "_link")
        return link.call({"id": object.__getattribute__(self, "_id")}, "call", args, kwargs)

    def _method(self, name: str, *args: Any) -> Any:
        link = object.__getattribute__(self, "_link")
        return link.call({"id": object.__getattribute__(self, "_id")}, "method", args, {}, name)

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        """``copy.deepcopy(model)``: a copy made in the student kernel, as a new handle."""
        link = object.__getattribute__(self, "_link")
        value, _ = link.request({"op": "deepcopy",
                                 "target": {"id": object.__getattribute__(self, "_id")}})
        return value

    def __len__(self) -> int:
        value = self._method("__len__")
        if type(value) is not int:
            raise TypeError("the student's object did not give an int length")
        return value

    def __iter__(self) -> Any:
        return iter(self._method("__iter__"))

    def __getitem__(self, key: Any) -> Any:
        return self._method("__getitem__", key)

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        cls = object.__getattribute__(self, "_cls")
        return f"<the student's {getattr(cls, '__name__', 'object')} in its kernel>"


class RemoteMethod:
    """``obj.name`` for a handle whose ``name`` is a bound method: calling it is one request."""

    __rnnkit_proxy__ = True

    def __init__(self, link: Link, ident: int, name: str) -> None:
        self._link, self._ident, self.__name__ = link, ident, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._link.call({"id": self._ident}, "method", args, kwargs, self.__name__)

    def __repr__(self) -> str:
        return f"<the student's method {self.__name__} in its kernel>"
