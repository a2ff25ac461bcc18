"""Checks of properties every PyTorch sequence model must have, with plain messages.

For models called as ``model(idx, state=None) -> (output, state)`` over int64 indices
``(N, T)`` (``CharRNN``, ``CharLSTM``) and for modules built from numpy weights
(``rnn_from_numpy``, ``lstm_from_numpy``). ``state`` may be one tensor or a tuple of
tensors. torch is imported only when a check runs. Every check raises ``AssertionError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from .checks import check_close
from .checks_oracle import as_numpy, call_checked

if TYPE_CHECKING:
    import torch

__all__ = [
    "check_causal",
    "check_gradients_flow",
    "check_parameter_dtype",
    "check_parameters_independent",
    "check_state_carries",
    "run_model",
    "train_for_check",
]


def _states(state: Any) -> list[Any]:
    return list(state) if isinstance(state, (tuple, list)) else [state]


def run_model(model: Callable[..., Any], idx: torch.Tensor, state: Any = None, *,
              name: str = "model") -> tuple[Any, Any]:
    """``model(idx)`` or ``model(idx, state)`` without gradients, checked to return two values."""
    import torch

    n, t = tuple(idx.shape)
    call = f"{name} on indices of shape ({n}, {t})" + (" with a state" if state is not None
                                                          else "")
    with torch.no_grad():
        result = (call_checked(model, idx, call=call) if state is None
                  else call_checked(model, idx, state, call=call))
    if not isinstance(result, tuple) or len(result) != 2:
        raise AssertionError(f"{call} returned a {type(result).__name__}; expected a tuple "
                             "(output, state)")
    return result


def check_state_carries(model: Callable[..., Any], idx: torch.Tensor, name: str,
                        split: int | None = None) -> None:
    """Running ``idx`` in two chunks, passing the state on, equals running it at once.

    This is what "the state continues the sequence" means: the outputs of the second
    chunk and the final state must not depend on where the sequence was cut.
    """
    t = int(idx.shape[1])
    if t < 2:
        raise ValueError(f"check_state_carries needs T >= 2 to cut the sequence; got T={t}")
    k = t // 2 if split is None else split
    whole, state = run_model(model, idx, name=name)
    first, mid = run_model(model, idx[:, :k], name=name)
    second, end = run_model(model, idx[:, k:], mid, name=name)
    hint = ("return the state after the last step, and start from the state given as the "
            "second argument (None: zeros)")
    check_close(np.concatenate([as_numpy(first), as_numpy(second)], axis=1), as_numpy(whole),
                f"the output of {name} for a sequence run in two chunks (steps 0..{k - 1}, "
                f"then {k}..{t - 1} with the state passed on)", hint, rtol=1e-5)
    got, want = _states(end), _states(state)
    if len(got) != len(want):
        raise AssertionError(f"{name} returned a state of {len(got)} tensors after the second "
                             f"chunk; expected {len(want)} as after the whole sequence")
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        label = f"the final state of {name}" + (f" (tensor {i})" if len(want) > 1 else "")
        check_close(as_numpy(g), as_numpy(w), f"{label} after two chunks", hint, rtol=1e-5)


def check_causal(model: Callable[..., Any], idx: torch.Tensor, vocab_size: int,
                 name: str) -> None:
    """Outputs at step t depend on inputs up to t only, and on the first input too.

    Changing the inputs after step t must leave the outputs up to t unchanged (no
    peeking at the future); changing only the first input must change the output at
    the last step (the hidden state carries information through time).
    """
    t = int(idx.shape[1])
    base = as_numpy(run_model(model, idx, name=name)[0])
    for step in range(t - 1):
        changed = idx.clone()
        changed[:, step + 1:] = (changed[:, step + 1:] + 1) % vocab_size
        out = as_numpy(run_model(model, changed, name=name)[0])
        check_close(out[:, :step + 1], base[:, :step + 1],
                    f"the output of {name} up to step {step} after changing the inputs after it",
                    "the output at step t may only depend on the inputs up to t", rtol=1e-5)
    if t >= 2:
        changed = idx.clone()
        changed[:, 0] = (changed[:, 0] + 1) % vocab_size
        out = as_numpy(run_model(model, changed, name=name)[0])
        moved = float(np.max(np.abs(out[:, -1] - base[:, -1])))
        if not moved > 1e-7:
            raise AssertionError(
                f"the output of {name} at the last step does not change when the first input "
                "changes: the hidden state is not carried from one step to the next")


def check_gradients_flow(module: torch.nn.Module, loss: torch.Tensor, name: str) -> None:
    """``loss.backward()`` gives each trainable parameter a finite, non-zero gradient.

    The gradients are read after the backward pass (``module.named_parameters()``), so
    this works the same when ``module`` lives in the student's kernel and the check runs
    in the judge.
    """
    params = [n for n, p in module.named_parameters() if p.requires_grad]
    if not params:
        raise AssertionError(f"{name} has no trainable parameters: create its layers in "
                             "__init__ as attributes (self.rnn = nn.RNN(...)) so PyTorch "
                             "registers them")
    if not getattr(loss, "requires_grad", False):
        raise AssertionError(f"the loss computed from {name}'s output has no gradient: do "
                             "not use torch.no_grad(), .detach() or numpy inside forward")
    module.zero_grad(set_to_none=True)
    loss.backward()
    grads = {n: p.grad for n, p in module.named_parameters()}
    for pname in params:
        if grads.get(pname) is None:
            raise AssertionError(f"no gradient reached {name}.{pname}: is it used in forward, "
                                 "on the path from the input to the output?")
        grad = as_numpy(grads[pname])
        if not np.all(np.isfinite(grad)):
            raise AssertionError(f"the gradient of {name}.{pname} is not finite")
        if not np.any(grad != 0):
            raise AssertionError(f"the gradient of {name}.{pname} is zero everywhere: is it "
                                 "used in forward?")


def train_for_check(model: torch.nn.Module, loss_of: Callable[[Any], torch.Tensor], steps: int,
                    *, lr: float, optimizer: str = "sgd", clip: float | None = None) -> float:
    """Train ``model`` for ``steps`` steps on ``loss_of(model)``; the last step's loss.

    Plain gradient descent (``"sgd"``) or Adam with PyTorch's defaults (``"adam"``), after
    clipping the gradients' global norm at ``clip``. The updates are computed here, on
    copies of the trainable parameters that are loaded into the model before every step
    (``load_state_dict``), from the gradients read back after each backward pass: the
    same when the model lives in the student's kernel and the test runs in the judge.
    (Written out rather than ``torch.optim``, whose first use costs about 2 s of imports.)
    """
    import torch

    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer must be 'sgd' or 'adam'; got {optimizer!r}")
    params = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    moments = {n: (torch.zeros_like(p), torch.zeros_like(p)) for n, p in params.items()}
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    loss = torch.tensor(float("nan"))
    with torch.no_grad():
        for step in range(1, steps + 1):
            model.load_state_dict(params, strict=False)
            model.zero_grad(set_to_none=True)
            with torch.enable_grad():
                loss = loss_of(model)
                loss.backward()
            grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
            grads = {n: g for n, g in grads.items() if n in params}
            if clip is not None and grads:
                norm = float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads.values())))
                grads = {n: g * min(1.0, clip / (norm + 1e-6)) for n, g in grads.items()}
            for n, g in grads.items():
                if optimizer == "sgd":
                    params[n] = params[n] - lr * g
                    continue
                m, v = moments[n]
                m, v = beta1 * m + (1 - beta1) * g, beta2 * v + (1 - beta2) * g * g
                moments[n] = (m, v)
                m_hat, v_hat = m / (1 - beta1 ** step), v / (1 - beta2 ** step)
                params[n] = params[n] - lr * m_hat / (v_hat.sqrt() + eps)
        model.load_state_dict(params, strict=False)
    return float(loss.item())


def check_parameter_dtype(module: torch.nn.Module, dtype: torch.dtype, name: str,
                          hint: str = "") -> None:
    """Every parameter of ``module`` has ``dtype``."""
    for pname, p in module.named_parameters():
        if p.dtype != dtype:
            message = f"{name}.{pname} has dtype {p.dtype}; expected {dtype}"
            raise AssertionError(f"{message}: {hint}" if hint else message)


def check_parameters_independent(module: torch.nn.Module, name: str, **arrays: Any) -> None:
    """Changing ``module``'s parameters in place leaves the numpy ``arrays`` they came from alone.

    A module whose parameters share memory with the arrays (``torch.from_numpy``) would
    change the caller's arrays while it trains. The parameters are restored afterwards.
    """
    import torch

    before = {k: np.array(v, copy=True) for k, v in arrays.items()}
    params = list(module.parameters())
    saved = [p.detach().clone() for p in params]
    with torch.no_grad():
        for p in params:
            p.add_(1.0)
    changed = [k for k, v in arrays.items() if not np.array_equal(np.asarray(v), before[k])]
    with torch.no_grad():
        for p, value in zip(params, saved, strict=True):
            p.copy_(value)
    for k in changed:
        np.copyto(arrays[k], before[k])
    if changed:
        raise AssertionError(
            f"the parameters of {name} share memory with {', '.join(changed)}: training it "
            "would change those numpy arrays; copy them (torch.tensor(a) copies, "
            "torch.from_numpy(a) does not)")
