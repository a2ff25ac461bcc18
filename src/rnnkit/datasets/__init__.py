"""Data bundled with rnnkit: nothing is downloaded at run time."""

from .sunspots import load_sunspots

__all__ = ["load_sunspots"]
