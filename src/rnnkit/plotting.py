"""Course-wide figure style: colour-blind-safe colours (Okabe-Ito) and readable defaults."""

from __future__ import annotations

from cycler import cycler

# Okabe & Ito (2008), distinguishable with the common colour-vision deficiencies.
OKABE_ITO = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "green": "#009E73",
    "vermillion": "#D55E00",
    "sky": "#56B4E9",
    "purple": "#CC79A7",
    "yellow": "#F0E442",
    "black": "#000000",
}
COLORS = list(OKABE_ITO.values())
SEQUENTIAL_CMAP = "viridis"
DIVERGING_CMAP = "PuOr"


def use_course_style() -> None:
    """Apply the course style to matplotlib (colours, grid, sizes); call once per notebook."""
    import matplotlib as mpl

    mpl.rcParams.update({
        "axes.prop_cycle": cycler(color=COLORS),
        "axes.grid": True,
        "grid.alpha": 0.3,
        "figure.figsize": (8.0, 3.6),
        "figure.dpi": 80,
        "axes.titlesize": "medium",
        "image.cmap": SEQUENTIAL_CMAP,
    })
