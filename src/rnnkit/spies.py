"""Models and batch feeders that record how a training loop uses them (tests of ``train_steps``).

A test passes them to the student's function; in graded runs the judge sends them to the
student's kernel as data (``rnnkit.judge.wire``, kind ``course``), and what the student's
loop did to them (parameters and gradients, moves, batches drawn) comes back the same way.
Each class therefore says what it is as data (``wire_state``), how to be rebuilt from it
(``from_wire_state``) and how to take another copy's state (``take_wire_state``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["WIRE_CLASSES", "Feeder", "MoveSpy", "TupledLinear"]


def _tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    return dict([*module.named_parameters(), *module.named_buffers()])


def _load_tensors(module: nn.Module, tensors: Any) -> None:
    from .judge.proxy import load_named_tensors

    own = _tensors(module)
    if not (isinstance(tensors, dict) and set(tensors) == set(own) and all(
            isinstance(v, torch.Tensor) and v.shape == own[k].shape for k, v in tensors.items())):
        raise ValueError(f"expected the tensors {sorted(own)} with their shapes")
    load_named_tensors(module, tensors)


class _SpyModule(nn.Module):
    """A module whose state as data is its constructor's arguments, tensors and records."""

    def _init_args(self) -> dict[str, Any]:
        raise NotImplementedError

    def _records(self) -> dict[str, Any]:
        return {}

    def wire_state(self) -> dict[str, Any]:
        return {"init": self._init_args(), "tensors": _tensors(self), "training": self.training,
                "records": self._records()}

    @classmethod
    def from_wire_state(cls, state: dict[str, Any]) -> _SpyModule:
        init = state.get("init")
        if not isinstance(init, dict):
            raise ValueError("expected the constructor's arguments as a dict")
        with torch.random.fork_rng(devices=[]):
            module = cls(**init)
        module._load_state(state)
        return module

    def take_wire_state(self, other: _SpyModule) -> None:
        """Become ``other`` (the student's copy after their call): tensors and records."""
        self._load_state(other.wire_state())

    def _load_state(self, state: dict[str, Any]) -> None:
        _load_tensors(self, state.get("tensors"))
        self.train(state.get("training") is not False)
        for key, value in (state.get("records") or {}).items():
            if key in self._records():
                setattr(self, key, list(value))


class MoveSpy(_SpyModule):
    """A linear model ``n_in -> 1`` that records where it is moved (``moved_to``)."""

    def __init__(self, n_in: int = 3) -> None:
        super().__init__()
        self.n_in = int(n_in)
        self.lin = nn.Linear(self.n_in, 1)
        self.moved_to: list[Any] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x)

    def to(self, *args: Any, **kwargs: Any) -> MoveSpy:
        self.moved_to.append(args[0] if args else kwargs.get("device"))
        return super().to(*args, **kwargs)

    def _init_args(self) -> dict[str, Any]:
        return {"n_in": self.n_in}

    def _records(self) -> dict[str, Any]:
        return {"moved_to": self.moved_to}


class TupledLinear(_SpyModule):
    """A linear model that returns ``(prediction, state)``, as ``CharLSTM`` does.

    ``state=True`` returns a state that is not ``None`` (``(x.sum(), None)``).
    """

    def __init__(self, n_in: int = 1, state: bool = False) -> None:
        super().__init__()
        self.n_in, self.state = int(n_in), bool(state)
        self.lin = nn.Linear(self.n_in, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, Any]:
        return self.lin(x), ((x.sum(), None) if self.state else None)

    def _init_args(self) -> dict[str, Any]:
        return {"n_in": self.n_in, "state": self.state}


class _SpyBatch(torch.Tensor):
    """A tensor that records ``.to(...)`` in its feeder's ``moves``."""

    def to(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        feeder = self.__dict__.get("_feeder")
        if feeder is not None:
            feeder.moves.append(args[0] if args else kwargs.get("device"))
        return torch.Tensor.to(self.as_subclass(torch.Tensor), *args, **kwargs)


class Feeder:
    """``make_batch()``: the next of ``batches`` (cycling), counted in ``calls``.

    With ``spy=True`` each batch records its ``.to(...)`` calls in ``moves``.
    """

    def __init__(self, batches: list[tuple[torch.Tensor, torch.Tensor]], spy: bool = False) -> None:
        if not batches:
            raise ValueError("a Feeder needs at least one batch")
        self.batches = [(x, y) for x, y in batches]
        self.spy = bool(spy)
        self.calls = 0
        self.moves: list[Any] = []

    def __call__(self) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.batches[self.calls % len(self.batches)]
        self.calls += 1
        x, y = x.clone(), y.clone()
        if not self.spy:
            return x, y
        spied = x.as_subclass(_SpyBatch), y.as_subclass(_SpyBatch)
        for t in spied:
            t.__dict__["_feeder"] = self
        return spied

    def wire_state(self) -> dict[str, Any]:
        return {"batches": [tuple(b) for b in self.batches], "spy": self.spy,
                "calls": self.calls, "moves": list(self.moves)}

    @classmethod
    def from_wire_state(cls, state: dict[str, Any]) -> Feeder:
        batches = state.get("batches")
        if not (isinstance(batches, list) and all(
                isinstance(b, tuple) and len(b) == 2 and all(isinstance(t, torch.Tensor) for t in b)
                for b in batches)):
            raise ValueError("expected the batches as a list of (x, y) tensor pairs")
        feeder = cls(batches, bool(state.get("spy")))
        feeder._load_state(state)
        return feeder

    def take_wire_state(self, other: Feeder) -> None:
        """Become ``other`` (the student's copy after their call): calls and moves."""
        self._load_state(other.wire_state())

    def _load_state(self, state: dict[str, Any]) -> None:
        calls = state.get("calls")
        self.calls = calls if type(calls) is int else self.calls
        self.moves = list(state.get("moves") or [])


WIRE_CLASSES: dict[str, type] = {cls.__name__: cls for cls in (MoveSpy, TupledLinear, Feeder)}
