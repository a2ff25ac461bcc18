"""rnnkit: a JupyterLab course kit on sequence models, with auto-graded exercises."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported lazily: the numpy chapters do not need it
    import torch

__version__ = "0.1.0"
__all__ = ["__version__", "device"]


def device() -> torch.device:
    """The device training cells use: CUDA, then Apple MPS, then the CPU.

    Set ``RNNKIT_DEVICE`` (for example ``cpu`` or ``cuda:1``) to override the choice.
    """
    import torch

    override = os.environ.get("RNNKIT_DEVICE", "").strip()
    if override:
        try:
            return torch.device(override)
        except RuntimeError as err:
            raise ValueError(
                f"RNNKIT_DEVICE={override!r} is not a device torch knows; "
                "expected something like 'cpu', 'cuda' or 'cuda:0'"
            ) from err
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
