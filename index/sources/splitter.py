"""Sentence splitting for news text, with character offsets into the source.

pysbd does the hard part (abbreviations, decimals, initials); a few merge rules on top keep
quotations whole with their attribution and never split at an ellipsis. Paragraphs are hard
boundaries: blank-line separated blocks, or single lines when the text has no blank line
(the built-in article is one paragraph per line).

pysbd's time grows with the square of the text it is given (on a long paragraph without
sentence punctuation, 230 KB took minutes): it never sees more than :data:`WINDOW`
characters at once, text without sentence punctuation skips it, and a unit longer than
:data:`MAX_UNIT` is cut at word boundaries, so splitting takes time linear in the text.
Within a window, pysbd's own search for each sentence's offsets starts again from the
window's start (the square of the sentence count: "a!a!a!…" took 1.5 s a window, 6 min a
MB), so the offsets are found here, each search going on from where the last one ended; and
a window as dense in sentence marks as no prose is ("Mr. Mr. Mr. …", "a!a!a!…") is split by
:func:`_plain_segments`, a few rules that take microseconds, instead of pysbd.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
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

WINDOW = 4000  # the most text pysbd is given at once
MAX_UNIT = 1500  # a longer unit is cut at word boundaries
# What pysbd can end a sentence at (its own placeholders included): text with none of
# these is one sentence to pysbd, so it is not given to pysbd at all.
_SENTENCE_MARKS = frozenset(".!?。．！？…ȸȹ☉☈☇☄")
# Prose has a sentence mark every 40 characters or more (decimals, abbreviations and
# ellipses included); a window of at least DENSE_MIN characters with one every DENSE_EVERY
# or fewer is not prose, and pysbd would spend 40 µs a character on it.
DENSE_MIN = 1000
DENSE_EVERY = 8
# A plain sentence end: marks, closing quotes or brackets, space, and an upper-case letter,
# a digit or an opening quote; not after a short capitalised word ("Mr.", "U.S.") or an
# initial, which are abbreviations more often than not. A match starts only where a run of
# marks starts, and takes what it takes for good (possessive), so that a run of 4,000 marks
# is read once, not once from each of its marks.
_PLAIN_END = re.compile(r"(?<![.!?…])"
                        r"(?:(?<!\b[A-Z][a-z])(?<!\b[A-Z][a-z][a-z])(?<!\b[A-Za-z])\.|[!?…])"
                        r"""[.!?…]*+["'”’»)\]]*+(?=\s++["'“‘«(\[]?[A-Z0-9])""")


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


def _last_space(block: str, lo: int, hi: int) -> int:
    """The index of the last space or tab in ``block[lo:hi]``, or -1."""
    return max(block.rfind(" ", lo, hi), block.rfind("\t", lo, hi))


def _pysbd_segments(window: str) -> list[tuple[int, int]]:
    """pysbd's sentences of ``window`` as (start, end), found in one pass over it.

    The sentences are pysbd's (its processor, with the options of :func:`_segmenter`); only
    their offsets are found here, each from where the previous sentence ended (pysbd's own
    ``char_span`` starts each search at 0). A sentence pysbd changed is not in the text and
    is left out, as pysbd's ``char_span`` leaves it out.
    """
    segmenter = _segmenter()
    out: list[tuple[int, int]] = []
    pos = 0
    for sentence in segmenter.processor(window).process():
        text = str(sentence)
        at = window.find(text, pos)
        if at < 0 or not text:
            continue
        pos = at + len(text)
        out.append((at, pos))
    return out


def _plain_segments(window: str) -> list[tuple[int, int]]:
    """Sentences of ``window`` by :data:`_PLAIN_END` alone: linear, for text pysbd would
    spend seconds on."""
    out: list[tuple[int, int]] = []
    start = 0
    for match in _PLAIN_END.finditer(window):
        out.append((start, match.end()))
        start = match.end()
    if start < len(window):
        out.append((start, len(window)))
    return out


def _dense(window: str) -> bool:
    """True when ``window`` has more sentence marks than any prose (see DENSE_EVERY)."""
    if len(window) < DENSE_MIN:
        return False
    marks = sum(window.count(mark) for mark in ".!?…")
    return marks * DENSE_EVERY >= len(window)


def _segments(block: str) -> Iterator[tuple[int, int]]:
    """pysbd's sentence spans over ``block``, given to it one window at a time.

    A window ends at a space when there is one in its second half. Unless it is the last, its
    last sentence may go on past it, so that sentence starts the next window when it starts
    past the window's first quarter: each window moves on by at least WINDOW / 8.
    """
    pos, size = 0, len(block)
    while pos < size:
        end = min(pos + WINDOW, size)
        if end < size:
            space = _last_space(block, pos + WINDOW // 2, end)
            end = space if space > pos else end
        window = block[pos:end]
        if _SENTENCE_MARKS.isdisjoint(window):
            found = [(0, len(window))]
        elif _dense(window):
            found = _plain_segments(window)
        else:
            found = _pysbd_segments(window)
        if end < size and len(found) > 1 and found[-1][0] >= len(window) // 4:
            end = pos + found.pop()[0]
        yield from ((pos + start, pos + stop) for start, stop in found)
        pos = end


def _cut_long(block: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Cut ``block[start:end]`` into pieces of at most MAX_UNIT chars at word boundaries."""
    while end - start > MAX_UNIT:
        space = _last_space(block, start + MAX_UNIT // 2, start + MAX_UNIT + 1)
        cut = space if space > start else start + MAX_UNIT  # one giant "word": cut it hard
        yield _trim(block, start, cut)
        start = _trim(block, cut, end)[0]
    if start < end:
        yield start, end


def split_sentences(text: str) -> list[Span]:
    """Split ``text`` into sentences, each with its offsets and paragraph number."""
    spans: list[Span] = []
    for number, (p_start, p_end) in enumerate(paragraphs(text)):
        # Single newlines inside a paragraph are wrapping, not boundaries; replacing them
        # with spaces keeps every offset valid.
        block = text[p_start:p_end].replace("\n", " ").replace("\r", " ")
        pieces: list[tuple[int, int]] = []
        for seg_start, seg_end in _segments(block):
            start, end = _trim(block, seg_start, seg_end)
            if start >= end:
                continue
            if (pieces and end - pieces[-1][0] <= MAX_UNIT
                    and _continues(block[pieces[-1][0] : pieces[-1][1]], block[start:end])):
                pieces[-1] = (pieces[-1][0], end)
            else:
                pieces.append((start, end))
        spans.extend(Span(p_start + s, p_start + e, number)
                     for piece in pieces for s, e in _cut_long(block, *piece))
    return spans
