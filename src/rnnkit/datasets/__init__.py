"""Data bundled with rnnkit: nothing is downloaded at run time."""

from .shakespeare import load_shakespeare
from .sunspots import load_sunspots

__all__ = ["load_shakespeare", "load_sunspots"]
