"""rnnkit.datasets.load_shakespeare: the bundled corpus and its fixed train/held-out split."""

from __future__ import annotations

import re
from collections import Counter
from importlib import resources

from rnnkit.datasets import load_shakespeare

BUNDLED = resources.files("rnnkit.datasets").joinpath("data", "shakespeare.txt")


def test_split_is_disjoint_and_covers_the_corpus() -> None:
    train, held_out = load_shakespeare()
    corpus = BUNDLED.read_text(encoding="utf-8")
    assert train + held_out == corpus, "train and held-out must be the corpus cut in two"
    assert train.endswith("\n"), "the split must fall on a line boundary"
    assert 0.08 < len(held_out) / len(corpus) < 0.12, "held-out should be the last ~10%"


def test_split_is_fixed() -> None:
    load_shakespeare.cache_clear()
    first = load_shakespeare()
    load_shakespeare.cache_clear()
    second = load_shakespeare()
    assert first == second
    assert first[0][:9] == "HAMLET, P", "the corpus starts with Hamlet"
    assert first[1].rstrip().endswith("Than this of Juliet and her Romeo.\n\n[Exeunt.]")


def test_sizes_are_about_one_megabyte() -> None:
    train, held_out = load_shakespeare()
    assert 900_000 < len(train) < 1_000_000
    assert 90_000 < len(held_out) < 120_000
    with resources.as_file(BUNDLED) as path:
        assert path.stat().st_size < 1_500_000, "keep the bundled text under 1.5 MB"


def test_plain_ascii_with_unix_line_endings() -> None:
    corpus = BUNDLED.read_text(encoding="utf-8")
    assert corpus.isascii()
    assert "\r" not in corpus and "\t" not in corpus
    assert "\n\n\n" not in corpus, "runs of blank lines are collapsed"
    assert not re.search(r" +\n", corpus), "no trailing spaces"
    counts = Counter(corpus)
    assert 60 <= len(counts) <= 90, f"{len(counts)} distinct characters"


def test_no_gutenberg_boilerplate_left() -> None:
    corpus = BUNDLED.read_text(encoding="utf-8")
    pattern = re.compile(
        r"\b(gutenberg|e-?books?|e-?texts?|small print|copyright|trademark|www\.|https?://)", re.I
    )
    assert pattern.findall(corpus) == []
    assert "*** START" not in corpus and "*** END" not in corpus
