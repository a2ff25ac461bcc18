"""The judge's wire format: data only, as JSON text, never pickle.

What crosses between the student kernel and the judge is one JSON document per message.
Plain JSON carries ``None``, booleans, ints, finite floats and strings; everything else is
an object with a ``"$"`` key naming its kind:

========== ===============================================================
``float``   a float JSON cannot write (``nan``, ``inf``, ``-inf``)
``tuple``   ``items``: a tuple (``list`` for a list, ``set`` for a set)
``dict``    ``items``: ``[key, value]`` pairs (``counter``: a ``collections.Counter``)
``ndarray`` ``dtype``, ``shape``, ``data`` (base64 of the C-order bytes)
``scalar``  a numpy scalar: ``dtype``, ``data``
``tensor``  a torch tensor: ``dtype`` (torch's name), ``shape``, ``data``; a leaf that
            requires grad says so (``requires_grad``) with its ``grad``; a tensor on the
            student's autograd graph carries ``graph`` and ``slot`` (``rnnkit.judge.serve``
            keeps the graph, the judge's backward pass reaches it through a request)
``device``  a ``torch.device``: ``type``, ``index``
``dtype``   a numpy (``numpy``) or torch (``torch``) dtype, by name
``size``    a ``torch.Size``
``rng``     a random generator and its state: numpy's ``Generator`` (``bitgen``, ``state``)
            or ``torch.Generator`` (``state``, a uint8 tensor)
``module``  a module of torch's own classes (``nn.RNN``, ``nn.LSTM``, ``nn.GRU``, ``nn.Linear``,
            ``nn.Embedding``; not a subclass): ``cls``, ``init`` (its constructor's
            arguments), ``tensors`` (parameters and buffers), ``frozen``, ``training``
``course``  an instance of one of the course's own test classes (``rnnkit.spies``: a
            spy model, a batch feeder): ``cls`` and its ``state`` (data)
``handle``  an object that stays where it lives: ``id``, ``cls`` (its nearest numpy,
            torch or builtin class), ``name``
``callback`` a function of the test (``id``), which the student's code may call: the call
            goes back to the judge through the kernel's stdin channel (``serve``)
``alias``   the call's own argument at ``path`` (a result that *is* an argument)
``view``    a tensor sharing memory with the argument at ``path`` (``how``: ``same`` or
            ``T``), with its ``data`` for when the judge's argument no longer matches
``ref``     a trusted callable named by ``module`` and ``name`` (``torch.nn.functional``
            ``cross_entropy``): sent from the judge, imported by the receiver
========== ===============================================================

Arrays of numbers, booleans and fixed-width strings only (no object, void or datetime
dtypes). ``decode`` checks every field and raises :class:`WireError` for anything else,
for nesting deeper than ``MAX_DEPTH`` and for text over the caller's size cap: a value
from the student kernel can be wrong, never code. ``encode(value, handles)`` turns
what is not data into handles when ``handles`` is given (the student side), and raises
:class:`WireError` otherwise (the judge sends data, its own proxies and refs only).
"""

from __future__ import annotations

import base64
import collections
import json
import math
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_DEPTH", "WireError", "decode", "dumps", "encode", "loads"]

MAX_DEPTH = 64
# dtype kinds an array may have: bool, signed, unsigned, float, complex, bytes, unicode
_ARRAY_KINDS = set("biufcSU")
_TORCH_NUMPY_LESS = {"bfloat16"}  # sent as float32 data, converted back on arrival
_REF_PREFIXES = ("torch", "numpy", "math", "builtins")


class WireError(ValueError):
    """A message that is not data in the wire format (or could not be written as one)."""


# -- encoding ---------------------------------------------------------------------------------
def encode(value: Any, handles: Callable[[Any], dict[str, Any]] | None = None,
           refs: Callable[[Any], dict[str, Any] | None] | None = None, depth: int = 0,
           alias: Callable[[Any], dict[str, Any] | None] | None = None,
           graph: Callable[[Any], dict[str, Any]] | None = None) -> Any:
    """``value`` as a JSON-able structure (see the module docstring).

    ``alias(value)``, when given, may return an ``alias`` or ``view`` entry instead: the
    student side marks results that are (or share memory with) the call's arguments.
    ``graph(tensor)``, when given, keeps a tensor that has a ``grad_fn`` and returns its
    ``graph`` and ``slot`` (the student side).
    """
    if depth > MAX_DEPTH:
        raise WireError(f"the value is nested more than {MAX_DEPTH} levels deep")
    d = depth + 1
    if value is None or isinstance(value, (bool, str)):
        return value
    if alias is not None and not isinstance(value, (int, float)):
        found = alias(value)
        if found is not None:
            return found
    kind = type(value)
    if kind is int:
        return value
    if kind is float:
        return value if math.isfinite(value) else {"$": "float", "v": repr(value)}
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(value, np.ndarray) and kind is np.ndarray:
            return _array(value, np)
        if isinstance(value, np.generic) and value.dtype.kind in _ARRAY_KINDS:
            return {"$": "scalar", "dtype": value.dtype.str,
                    "data": base64.b64encode(np.asarray(value).tobytes()).decode("ascii")}
        if isinstance(value, np.dtype) and value.kind in _ARRAY_KINDS:
            return {"$": "dtype", "lib": "numpy", "name": value.str}
        if kind is np.random.Generator:
            bitgen = value.bit_generator
            return {"$": "rng", "lib": "numpy", "bitgen": type(bitgen).__name__,
                    "state": encode(bitgen.state, depth=d)}
    torch = sys.modules.get("torch")
    if torch is not None:
        if isinstance(value, torch.Tensor) and not _is_proxy(value):
            out = _tensor(value, torch, np)
            if graph is not None and value.grad_fn is not None and value.requires_grad:
                out.update(graph(value))
            return out
        if kind is torch.device:
            return {"$": "device", "type": value.type, "index": value.index}
        if isinstance(value, torch.dtype):
            return {"$": "dtype", "lib": "torch", "name": str(value).removeprefix("torch.")}
        if kind is torch.Size:
            return {"$": "size", "items": [int(v) for v in value]}
        if kind is torch.Generator and value.device.type == "cpu":
            return {"$": "rng", "lib": "torch", "state": _tensor(value.get_state(), torch, np)}
        if kind in _module_classes(torch):
            return _module(value, torch, np, alias)
    course = _course_classes()
    if kind in course.values():
        return {"$": "course", "cls": kind.__name__, "state": encode(value.wire_state(), depth=d)}
    if kind in (tuple, list, set, frozenset):
        tag = {tuple: "tuple", list: "list", set: "set", frozenset: "set"}[kind]
        return {"$": tag, "items": [encode(v, handles, refs, d, alias, graph) for v in value]}
    if kind in (dict, collections.Counter, collections.OrderedDict, collections.defaultdict):
        tag = "counter" if kind is collections.Counter else "dict"
        return {"$": tag, "items": [[encode(k, handles, refs, d, alias, graph),
                                     encode(v, handles, refs, d, alias, graph)]
                                    for k, v in value.items()]}
    if refs is not None:
        ref = refs(value)
        if ref is not None:
            return ref
    if handles is not None:
        return handles(value)
    raise WireError(f"a {type(value).__name__} cannot be sent: only numbers, strings, "
                    "lists, tuples, dicts, numpy arrays and tensors can")


def _is_proxy(value: Any) -> bool:
    return bool(type(value).__dict__.get("__rnnkit_proxy__", False))


def _array(value: Any, np: Any) -> dict[str, Any]:
    if value.dtype.kind not in _ARRAY_KINDS or value.dtype.fields is not None:
        raise WireError(f"an array of dtype {value.dtype} cannot be sent (numbers, booleans "
                        "and strings only)")
    data = np.ascontiguousarray(value).tobytes()
    return {"$": "ndarray", "dtype": value.dtype.str, "shape": list(value.shape),
            "data": base64.b64encode(data).decode("ascii")}


def _tensor(value: Any, torch: Any, np: Any) -> dict[str, Any]:
    name = str(value.dtype).removeprefix("torch.")
    t = value.detach().cpu()
    if name in _TORCH_NUMPY_LESS:
        t = t.float()
    if t.is_sparse or t.is_quantized or (t.is_complex() and np is None):
        raise WireError(f"a {name} tensor of this layout cannot be sent")
    array = t.contiguous().numpy()
    out = _array(array, np)
    out.update({"$": "tensor", "torch_dtype": name})
    if value.is_leaf and value.requires_grad:
        out["requires_grad"] = True
        if value.grad is not None:
            out["grad"] = _tensor(value.grad, torch, np)
    return out


def _course_classes() -> dict[str, type]:
    """The course's test classes that travel as data (only once ``rnnkit.spies`` is loaded)."""
    spies = sys.modules.get("rnnkit.spies")
    return dict(getattr(spies, "WIRE_CLASSES", {})) if spies is not None else {}


_BITGENS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


def _module_classes(torch: Any) -> dict[type, tuple[str, ...]]:
    """torch's own module classes sent as data, with their constructor's arguments."""
    nn = torch.nn
    rnn = ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
           "bidirectional")
    return {nn.RNN: (*rnn, "nonlinearity"), nn.LSTM: (*rnn, "proj_size"), nn.GRU: rnn,
            nn.Linear: ("in_features", "out_features", "bias"),
            nn.Embedding: ("num_embeddings", "embedding_dim", "padding_idx", "max_norm",
                           "norm_type", "scale_grad_by_freq", "sparse")}


def _module(value: Any, torch: Any, np: Any,
            alias: Callable[[Any], dict[str, Any] | None] | None = None) -> dict[str, Any]:
    names = _module_classes(torch)[type(value)]
    init = {}
    for name in names:
        v = getattr(value, name)
        if name == "bias" and not isinstance(v, bool):  # nn.Linear keeps a tensor or None
            v = v is not None
        if not (v is None or isinstance(v, (bool, int, float, str))):
            raise WireError(f"{type(value).__name__}.{name} is not a plain value")
        init[name] = v
    tensors = {k: (alias(t) if alias is not None else None) or _tensor(t, torch, np)
               for k, t in [*value.named_parameters(), *value.named_buffers()]}
    frozen = [k for k, p in value.named_parameters() if not p.requires_grad]
    return {"$": "module", "cls": type(value).__name__, "init": init, "tensors": tensors,
            "frozen": frozen, "training": bool(value.training)}


def arguments(args: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """A call's arguments by key, as both sides name them: ``"0"``, ``"1"``..., ``"k:name"``."""
    return {str(i): a for i, a in enumerate(args)} | {f"k:{k}": v for k, v in kwargs.items()}


def argument(key: str, args: Any, kwargs: dict[str, Any]) -> Any:
    """The argument ``key`` (see :func:`arguments`); ``KeyError`` when there is none."""
    if key.startswith("k:"):
        return kwargs[key[2:]]
    if key.isdigit() and int(key) < len(args):
        return args[int(key)]
    raise KeyError(key)


def dumps(value: Any, **kw: Any) -> str:
    """``json.dumps(encode(value, ...))``."""
    return json.dumps(encode(value, **kw), separators=(",", ":"), allow_nan=False)


# -- decoding ---------------------------------------------------------------------------------
def loads(text: str, *, max_bytes: int, handle: Callable[[dict[str, Any]], Any] | None = None,
          ref: Callable[[dict[str, Any]], Any] | None = None,
          callback: Callable[[dict[str, Any]], Any] | None = None) -> Any:
    """Decode one message, checking everything (see the module docstring)."""
    if not isinstance(text, str):
        raise WireError(f"expected the message as text; got {type(text).__name__}")
    if len(text) > max_bytes:
        raise WireError(f"the message is {len(text)} bytes, over the limit of {max_bytes}")
    try:
        raw = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise WireError("the message is nested too deeply") from None
    except json.JSONDecodeError as err:
        raise WireError(f"the message is not JSON: {err}") from None
    return decode(raw, handle=handle, ref=ref, callback=callback)


def _no_constant(name: str) -> Any:
    raise WireError(f"bare {name} in the message (floats like nan are tagged)")


def decode(raw: Any, *, handle: Callable[[dict[str, Any]], Any] | None = None,
           ref: Callable[[dict[str, Any]], Any] | None = None,
           callback: Callable[[dict[str, Any]], Any] | None = None, depth: int = 0,
           alias: Callable[[dict[str, Any]], Any] | None = None,
           graph: Callable[[dict[str, Any], Any], Any] | None = None) -> Any:
    """The value ``raw`` (parsed JSON) stands for; :class:`WireError` if it is not data.

    ``graph(raw, tensor)``, when given, turns a tensor that carries ``graph`` into one
    the judge's autograd can reach back through; without it the tensor is plain data.
    """
    if depth > MAX_DEPTH:
        raise WireError(f"the value is nested more than {MAX_DEPTH} levels deep")
    if raw is None or isinstance(raw, (bool, int, str)):
        return raw
    if isinstance(raw, float):
        return raw
    if isinstance(raw, list):
        raise WireError("an untagged list in the message")
    if not isinstance(raw, dict):
        raise WireError(f"unexpected {type(raw).__name__} in the message")
    tag = raw.get("$")

    def sub(value: Any) -> Any:
        return decode(value, handle=handle, ref=ref, callback=callback, depth=depth + 1,
                      alias=alias, graph=graph)

    if tag == "float":
        text = raw.get("v")
        if text not in ("nan", "inf", "-inf"):
            raise WireError(f"a tagged float must be nan, inf or -inf; got {text!r}")
        return float(text)
    if tag in ("tuple", "list", "set"):
        items = [sub(v) for v in _items(raw)]
        if tag == "set":
            return set(_hashable(items))
        return tuple(items) if tag == "tuple" else items
    if tag in ("dict", "counter"):
        pairs = []
        for pair in _items(raw):
            if not (isinstance(pair, list) and len(pair) == 2):
                raise WireError("a dict item must be a [key, value] pair")
            pairs.append((sub(pair[0]), sub(pair[1])))
        keys = _hashable([k for k, _ in pairs])
        out = dict(zip(keys, (v for _, v in pairs), strict=True))
        return collections.Counter(out) if tag == "counter" else out
    if tag == "ndarray":
        return _decode_array(raw)
    if tag == "scalar":
        np = _numpy()
        dtype = _dtype(raw.get("dtype"))
        array = _frombuffer(raw.get("data"), dtype, ())
        return array[()] if isinstance(array[()], np.generic) else dtype.type(array[()])
    if tag == "tensor":
        tensor = _decode_tensor(raw)
        if graph is not None and "graph" in raw:
            return graph(raw, tensor)
        return tensor
    if tag == "device":
        return _decode_device(raw)
    if tag == "course":
        return _decode_course(raw, depth)
    if tag == "dtype":
        lib, name = raw.get("lib"), raw.get("name")
        if lib == "numpy":
            return _dtype(name)
        if lib == "torch":
            torch = _torch()
            value = getattr(torch, name, None) if isinstance(name, str) else None
            if not isinstance(value, torch.dtype):
                raise WireError(f"unknown torch dtype {name!r}")
            return value
        raise WireError(f"unknown dtype library {lib!r}")
    if tag == "size":
        items = _items(raw)
        if not all(type(v) is int for v in items):
            raise WireError("a torch.Size holds ints only")
        return _torch().Size(items)
    if tag == "rng":
        return _decode_rng(raw)
    if tag == "module":
        return _decode_module(raw, alias)
    if tag in ("alias", "view"):
        if alias is None:
            raise WireError(f"an {tag} where only data is expected")
        return alias(raw)
    if tag == "handle":
        if handle is None:
            raise WireError("a handle where only data is expected")
        return handle(raw)
    if tag == "callback":
        if callback is None:
            raise WireError("a callback where only data is expected")
        return callback(raw)
    if tag == "ref":
        if ref is None:
            raise WireError("a reference where only data is expected")
        return ref(raw)
    raise WireError(f"unknown kind {tag!r} in the message")


def _items(raw: dict[str, Any]) -> list[Any]:
    items = raw.get("items")
    if not isinstance(items, list):
        raise WireError(f"a {raw.get('$')} needs a list of items")
    return items


def _hashable(values: list[Any]) -> list[Any]:
    for v in values:
        try:
            hash(v)
        except TypeError:
            raise WireError(f"a dict key or set item must be hashable; got a "
                            f"{type(v).__name__}") from None
    return values


def _numpy() -> Any:
    import numpy

    return numpy


def _torch() -> Any:
    import torch

    return torch


def _dtype(name: Any) -> Any:
    np = _numpy()
    if not isinstance(name, str) or len(name) > 16:
        raise WireError(f"a dtype must be a short string; got {name!r}")
    try:
        dtype = np.dtype(name)
    except TypeError:
        raise WireError(f"unknown dtype {name!r}") from None
    if dtype.kind not in _ARRAY_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise WireError(f"arrays of dtype {dtype} are not data")
    return dtype


def _frombuffer(data: Any, dtype: Any, shape: tuple[int, ...]) -> Any:
    np = _numpy()
    if not isinstance(data, str):
        raise WireError("array data must be base64 text")
    try:
        buffer = base64.b64decode(data.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise WireError("array data is not base64") from None
    count = math.prod(shape)
    if len(buffer) != count * dtype.itemsize:
        raise WireError(f"array data has {len(buffer)} bytes; shape {shape} of {dtype} "
                        f"needs {count * dtype.itemsize}")
    return np.frombuffer(buffer, dtype=dtype).reshape(shape).copy()


def _decode_array(raw: dict[str, Any]) -> Any:
    shape = raw.get("shape")
    if not (isinstance(shape, list) and len(shape) <= 32
            and all(type(n) is int and n >= 0 for n in shape)):
        raise WireError(f"an array's shape must be a list of at most 32 sizes; got {shape!r}")
    return _frombuffer(raw.get("data"), _dtype(raw.get("dtype")), tuple(shape))


def _decode_tensor(raw: dict[str, Any]) -> Any:
    torch = _torch()
    array = _decode_array(raw)
    name = raw.get("torch_dtype")
    dtype = getattr(torch, name, None) if isinstance(name, str) else None
    if not isinstance(dtype, torch.dtype):
        raise WireError(f"unknown torch dtype {name!r}")
    if array.dtype.kind in "SU":
        raise WireError("a tensor of strings")
    tensor = torch.from_numpy(array)
    tensor = tensor.to(dtype) if tensor.dtype != dtype else tensor
    if raw.get("requires_grad") is True:
        if not (tensor.is_floating_point() or tensor.is_complex()):
            raise WireError(f"a {name} tensor cannot require grad")
        tensor.requires_grad_(True)
        if "grad" in raw:
            grad = _decode_tensor(raw["grad"] if isinstance(raw["grad"], dict) else {})
            if grad.shape != tensor.shape or grad.dtype != tensor.dtype or grad.requires_grad:
                raise WireError("a tensor's grad must have its shape and dtype")
            tensor.grad = grad
    return tensor


def _decode_device(raw: dict[str, Any]) -> Any:
    torch = _torch()
    kind, index = raw.get("type"), raw.get("index")
    if not (isinstance(kind, str) and len(kind) <= 16 and (index is None or type(index) is int)):
        raise WireError(f"a device is a type and an index; got {kind!r}, {index!r}")
    try:
        return torch.device(kind, index) if index is not None else torch.device(kind)
    except (RuntimeError, ValueError):
        raise WireError(f"unknown device {kind!r}") from None


def _decode_course(raw: dict[str, Any], depth: int) -> Any:
    import importlib

    importlib.import_module("rnnkit.spies")
    cls = _course_classes().get(raw.get("cls"))  # type: ignore[arg-type]
    if cls is None:
        raise WireError(f"{raw.get('cls')!r} is not one of the course's test classes")
    state = decode(raw.get("state"), depth=depth + 1)
    if not isinstance(state, dict):
        raise WireError(f"a {cls.__name__} needs its state as a dict")
    try:
        return cls.from_wire_state(state)
    except (TypeError, ValueError, KeyError, RuntimeError) as err:
        raise WireError(f"a {cls.__name__} state that it rejects: {err}") from None


def _decode_rng(raw: dict[str, Any]) -> Any:
    if raw.get("lib") == "numpy":
        np = _numpy()
        name = raw.get("bitgen")
        if name not in _BITGENS:
            raise WireError(f"unknown bit generator {name!r}")
        bitgen = getattr(np.random, name)()
        try:
            bitgen.state = decode(raw.get("state"))
        except (TypeError, ValueError, KeyError) as err:
            raise WireError(f"a {name} state that numpy rejects: {err}") from None
        return np.random.Generator(bitgen)
    if raw.get("lib") == "torch":
        torch = _torch()
        state = _decode_tensor(raw.get("state") if isinstance(raw.get("state"), dict) else {})
        if state.dtype != torch.uint8:
            raise WireError("a torch.Generator's state is a uint8 tensor")
        generator = torch.Generator()
        try:
            generator.set_state(state)
        except RuntimeError as err:
            raise WireError(f"a torch.Generator state that torch rejects: {err}") from None
        return generator
    raise WireError(f"unknown generator library {raw.get('lib')!r}")


def _decode_module(raw: dict[str, Any],
                   alias: Callable[[dict[str, Any]], Any] | None = None) -> Any:
    torch = _torch()
    classes = {cls.__name__: (cls, names) for cls, names in _module_classes(torch).items()}
    if raw.get("cls") not in classes:
        raise WireError(f"modules of class {raw.get('cls')!r} are not data")
    cls, names = classes[raw["cls"]]
    init = raw.get("init")
    if not (isinstance(init, dict) and set(init) == set(names) and all(
            v is None or type(v) in (bool, int, float, str) for v in init.values())):
        raise WireError(f"a {cls.__name__} needs exactly the arguments {', '.join(names)}")
    if cls is torch.nn.LSTM and not init.get("proj_size"):
        init = {k: v for k, v in init.items() if k != "proj_size"}
    try:
        with torch.random.fork_rng(devices=[]):  # the judge's own random draws stay as they were
            module = cls(**init)
    except (TypeError, ValueError, RuntimeError) as err:
        raise WireError(f"{cls.__name__}({init}) cannot be built: {err}") from None
    tensors = raw.get("tensors")
    own = dict([*module.named_parameters(), *module.named_buffers()])
    if not (isinstance(tensors, dict) and set(tensors) == set(own)):
        raise WireError(f"a {cls.__name__} needs the tensors {', '.join(sorted(own))}")
    with torch.no_grad():
        for name, spec in tensors.items():
            spec = spec if isinstance(spec, dict) else {}
            view = spec.get("$") == "view" and alias is not None
            value = alias(spec) if view else _decode_tensor(spec)  # type: ignore[misc]
            target = own[name]
            if not isinstance(value, torch.Tensor) or tuple(value.shape) != tuple(target.shape):
                raise WireError(f"{cls.__name__}.{name} is not a tensor of shape "
                                f"{tuple(target.shape)}")
            # a view shares memory with the judge's array, as the student's shared theirs
            target.data = value if view else value.detach().clone()
            if getattr(value, "grad", None) is not None and target.requires_grad:
                target.grad = value.grad.detach().clone()
    frozen = raw.get("frozen") or []
    for name, p in module.named_parameters():
        p.requires_grad_(name not in frozen)
    module.train(raw.get("training") is not False)
    return module


def ref_for(value: Any) -> dict[str, Any] | None:
    """A ``ref`` for a trusted module-level callable of numpy, torch or math, else None."""
    module = getattr(value, "__module__", None)
    name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    if not (isinstance(module, str) and isinstance(name, str)):
        return None
    if module.split(".")[0] not in _REF_PREFIXES or "<" in name:
        return None
    try:
        found = resolve_ref({"module": module, "name": name})
    except WireError:
        return None
    return {"$": "ref", "module": module, "name": name} if found is value else None


def resolve_ref(raw: dict[str, Any]) -> Any:
    """The callable a ``ref`` names (importing only numpy, torch, math or builtins)."""
    import importlib

    module, name = raw.get("module"), raw.get("name")
    if not (isinstance(module, str) and isinstance(name, str)
            and module.split(".")[0] in _REF_PREFIXES):
        raise WireError(f"a reference must name a numpy, torch or math callable; got "
                        f"{module!r}.{name!r}")
    try:
        value: Any = importlib.import_module(module)
        for part in name.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError):
        raise WireError(f"{module}.{name} does not exist") from None
    return value
