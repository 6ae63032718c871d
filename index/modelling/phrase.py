"""The phrase that answers: the best span of a reranked passage from the reranker's span head.

The reranker reads "question [SEP] passage" once and gives, besides its relevance logit, a
start and an end logit for every token. Position 0 (the [CLS] token) stands for "no phrase
here". A phrase is a run of passage tokens from a start to an end (at most ``MAX_TOKENS``
long); its confidence is the probability the head gives that start and that end, each
normalised over the passage tokens and [CLS].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import numpy as np

SPAN_HEAD = "span_head.safetensors"  # beside a reranker's weights: its span head
MAX_TOKENS = 30  # longer answers are sentences, not phrases
# A phrase is shown when the head gives it at least this probability (and more than "no
# phrase"): the lowest at which the phrases shown were right (token F1 >= 0.5 against the
# written ones) at least 80% of the time on spent sets, article_qa_sealed6 and
# docs8_qa_sealed (python -m training.phrase_fit: 2 of 2 right at 0.6, 7 of 10 at 0.4; the
# probability given that the passage has a phrase ordered them worse: 5 of 9 at 0.6).
MIN_CONFIDENCE = 0.6


@dataclass(frozen=True)
class Phrase:
    """A span of a passage, by character offsets into it, and the head's confidence."""

    start: int
    end: int
    confidence: float

    def text(self, passage: str) -> str:
        return passage[self.start : self.end]


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max())
    return np.asarray(z / z.sum(), dtype=np.float64)


class TokenSpan(NamedTuple):
    """The head's best span: its first and last token, its probability (that of its start
    times that of its end, each normalised over the passage's tokens and [CLS]), and the
    probability of "no phrase" ([CLS], position 0)."""

    start: int
    end: int
    probability: float
    none: float

    @property
    def likelier_than_none(self) -> bool:
        return self.probability > self.none


def best_span(start_logits: Sequence[float] | np.ndarray,
              end_logits: Sequence[float] | np.ndarray,
              allowed: Sequence[bool] | np.ndarray,
              max_tokens: int = MAX_TOKENS) -> TokenSpan | None:
    """The most probable span among the ``allowed`` tokens, with
    ``start <= end < start + max_tokens``; None when no token is allowed."""
    s_raw = np.asarray(start_logits, dtype=np.float64)
    e_raw = np.asarray(end_logits, dtype=np.float64)
    ok = np.asarray(allowed, dtype=bool).copy()
    ok[0] = True  # [CLS]: no phrase
    idx = np.flatnonzero(ok)
    tokens = idx[1:]
    if not len(tokens):
        return None
    p_start, p_end = _softmax(s_raw[idx]), _softmax(e_raw[idx])
    # the probability of every (start, end) pair of passage tokens, end within max_tokens
    joint = np.triu(np.outer(p_start[1:], p_end[1:]))
    joint[tokens[None, :] - tokens[:, None] >= max_tokens] = 0.0
    i, j = np.unravel_index(int(np.argmax(joint)), joint.shape)
    return TokenSpan(int(tokens[i]), int(tokens[j]), float(joint[i, j]),
                     float(p_start[0] * p_end[0]))


def span_to_phrase(span: TokenSpan | None,
                   offsets: Sequence[tuple[int, int]], skip: int = 0) -> Phrase | None:
    """The phrase of a token span, by the tokens' character ``offsets`` into the passage,
    less the first ``skip`` characters (the "Title: " the reranker read before the
    sentence); None when the span starts inside them or covers no character."""
    if span is None:
        return None
    start, end = offsets[span.start][0] - skip, offsets[span.end][1] - skip
    if start < 0 or end <= start:
        return None
    return Phrase(start, end, span.probability)


@dataclass(frozen=True)
class SpanReading:
    """What the span head read of one (question, passage) pair: the start and end logits of
    the passage's tokens and [CLS], and each token's character offsets in the passage."""

    start_logits: np.ndarray
    end_logits: np.ndarray
    allowed: np.ndarray  # the passage's tokens (not the question's, not [SEP])
    offsets: tuple[tuple[int, int], ...]

    @classmethod
    def of(cls, start_logits: np.ndarray, end_logits: np.ndarray,
           sequence_ids: Sequence[int | None], offsets: Sequence[tuple[int, int]]
           ) -> SpanReading:
        n = len(sequence_ids)
        return cls(np.asarray(start_logits, dtype=np.float32).reshape(-1)[:n],
                   np.asarray(end_logits, dtype=np.float32).reshape(-1)[:n],
                   np.array([s == 1 for s in sequence_ids], dtype=bool),
                   tuple((int(a), int(b)) for a, b in offsets))

    @cached_property
    def best(self) -> TokenSpan | None:
        """The head's best span (:func:`best_span`), found once: the ranking's signal and
        the answer's phrase both read it."""
        return best_span(self.start_logits, self.end_logits, self.allowed)

    def best_probability(self) -> float:
        """The probability of the best phrase in the passage (0 without a passage token):
        how sure the head is that the passage holds a short answer."""
        return 0.0 if self.best is None else self.best.probability

    def phrase(self, skip: int = 0, minimum: float = MIN_CONFIDENCE) -> Phrase | None:
        """The best phrase, by character offsets into the passage less its first ``skip``
        characters; None below ``minimum`` or when "no phrase" is more probable."""
        span = self.best
        if span is None or not span.likelier_than_none or span.probability < minimum:
            return None
        return span_to_phrase(span, self.offsets, skip)
