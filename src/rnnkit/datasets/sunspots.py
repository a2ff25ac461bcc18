"""Yearly mean sunspot numbers, 1700-2008 (public domain; see data/README.md)."""

from __future__ import annotations

import csv
import io

import numpy as np

from ._files import read_text


def load_sunspots() -> tuple[np.ndarray, np.ndarray]:
    """``(years, numbers)``: int64 years 1700-2008 and float64 yearly sunspot numbers."""
    rows = list(csv.DictReader(io.StringIO(read_text("sunspots.csv"))))
    years = np.array([int(float(r["YEAR"])) for r in rows], dtype=np.int64)
    numbers = np.array([float(r["SUNACTIVITY"]) for r in rows], dtype=np.float64)
    return years, numbers
