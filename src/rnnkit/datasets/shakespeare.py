"""Eight Shakespeare plays, about 1 MB of public-domain text (see data/README.md)."""

from __future__ import annotations

from functools import lru_cache

from ._files import read_text

HELD_OUT_FRACTION = 0.1


@lru_cache(maxsize=1)
def load_shakespeare() -> tuple[str, str]:
    """``(train_text, held_out_text)``: a fixed split of the bundled plays.

    The held-out text is the last ~10% of the corpus, cut at a line boundary, so the two
    parts are disjoint and ``train_text + held_out_text`` is the whole corpus.
    """
    text = read_text("shakespeare.txt")
    cut = text.rfind("\n", 0, round(len(text) * (1 - HELD_OUT_FRACTION))) + 1
    return text[:cut], text[cut:]
