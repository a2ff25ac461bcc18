"""Access to the files under ``rnnkit/datasets/data`` through importlib.resources."""

from __future__ import annotations

from importlib import resources


def read_text(name: str) -> str:
    """The text of a bundled data file."""
    return resources.files("rnnkit.datasets").joinpath("data", name).read_text(encoding="utf-8")
