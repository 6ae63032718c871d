"""Sentence splitting for news text, with character offsets into the source.

pysbd does the hard part (abbreviations, decimals, initials); a few merge rules on top keep
quotations whole with their attribution and never split at an ellipsis. Paragraphs are hard
boundaries: blank-line separated blocks, or single lines when the text has no blank line
(the built-in article is one paragraph per line).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pysbd

SPLITTER_SETTINGS = {"name": "qabot-news", "version": 1, "segmenter": "pysbd"}

_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n")
_ELLIPSIS_END = re.compile(r"(\.\.\.|…)\s*$")
_OPEN_QUOTES = "“«"
_CLOSE_QUOTES = "”»"


@dataclass(frozen=True, slots=True)
class Span:
    """One sentence: ``text == source[start:end]``; ``paragraph`` counts from 0."""

    start: int
    end: int
    paragraph: int


@lru_cache(maxsize=1)
def _segmenter() -> pysbd.Segmenter:
    import pysbd

    return pysbd.Segmenter(language="en", clean=False, char_span=True)


def paragraphs(text: str) -> list[tuple[int, int]]:
    """Return (start, end) of each non-blank paragraph."""
    if _BLANK_LINE.search(text):
        bounds = [(m.start(), m.end()) for m in _BLANK_LINE.finditer(text)]
        cuts = [0] + [e for _, e in bounds]
        ends = [s for s, _ in bounds] + [len(text)]
        blocks = list(zip(cuts, ends, strict=True))
    else:
        blocks = []
        pos = 0
        for line in text.split("\n"):
            blocks.append((pos, pos + len(line)))
            pos += len(line) + 1
    out = []
    for start, end in blocks:
        start, end = _trim(text, start, end)
        if start < end:
            out.append((start, end))
    return out


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _quote_open(fragment: str) -> bool:
    """True when a quotation opened in ``fragment`` is not closed by its end."""
    depth = 0
    for ch in fragment:
        if ch in _OPEN_QUOTES:
            depth += 1
        elif ch in _CLOSE_QUOTES:
            depth = max(0, depth - 1)
    if depth:
        return True
    return fragment.count('"') % 2 == 1


def _continues(previous: str, current: str) -> bool:
    """Decide whether ``current`` belongs to the sentence ``previous`` started."""
    if _quote_open(previous):
        return True  # a quotation stays whole, however many sentences it holds
    if _ELLIPSIS_END.search(previous):
        return True  # "… We look forward" is one thought, not two sentences
    first = current.lstrip("“”\"'‘’«» ")[:1]
    # An attribution or a lower-case continuation: "…,” Tillerson said." is handled by
    # pysbd; a fragment that starts in lower case never starts a sentence of its own.
    return bool(first) and first.islower()


def split_sentences(text: str) -> list[Span]:
    """Split ``text`` into sentences, each with its offsets and paragraph number."""
    spans: list[Span] = []
    for number, (p_start, p_end) in enumerate(paragraphs(text)):
        # Single newlines inside a paragraph are wrapping, not boundaries; replacing them
        # with spaces keeps every offset valid.
        block = text[p_start:p_end].replace("\n", " ").replace("\r", " ")
        pieces: list[tuple[int, int]] = []
        for seg in _segmenter().segment(block):
            start, end = _trim(block, seg.start, seg.end)
            if start >= end:
                continue
            if pieces and _continues(block[pieces[-1][0] : pieces[-1][1]], block[start:end]):
                pieces[-1] = (pieces[-1][0], end)
            else:
                pieces.append((start, end))
        spans.extend(Span(p_start + s, p_start + e, number) for s, e in pieces)
    return spans
