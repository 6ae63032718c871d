"""The data of the reranker with a span head (training/span.py): pairs that also say where
the answer phrase lies in the passage.

A positive pair's phrase is the first of the question's answer texts found in its answer
sentence; its character offsets are into the passage as the reranker reads it
("Title: sentence"). A negative pair, or a positive whose answer text is not in the
sentence (SelQA has no answer texts), has no phrase: its span target is [CLS], "no
phrase here".
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from training.data import Question, make_pairs, passage


@dataclass(frozen=True)
class SpanPair:
    question: str
    passage: str
    label: float
    span: tuple[int, int] | None  # character offsets of the phrase in ``passage``


def phrase_in(sentence: str, texts: Sequence[str]) -> tuple[int, int] | None:
    """Where the first answer text found in ``sentence`` lies in it (the first occurrence)."""
    for text in texts:
        text = text.strip()
        at = sentence.find(text) if text else -1
        if at >= 0:
            return at, at + len(text)
    return None


def span_pairs(questions: Sequence[Question], *, seed: int, hard_share: float = 0.5
               ) -> list[SpanPair]:
    """Pairs as the large-data chunks make them (half the questions with a same-paragraph
    negative, half with a same-article one), each positive with its phrase when the
    answer text is in the sentence."""
    same, cross = list(questions[::2]), list(questions[1::2])
    by_key = {(q.question, passage(q.title, q.sentences[min(q.answers)])): q
              for q in questions if q.answerable}
    pairs = make_pairs(same, seed=seed, negatives=1, hard_share=hard_share)
    pairs += make_pairs(cross, seed=seed + 1, negatives=0, cross=1)
    out: list[SpanPair] = []
    for p in pairs:
        span = None
        q = by_key.get((p.question, p.passage)) if p.label > 0 else None
        if q is not None:
            at = phrase_in(q.sentences[min(q.answers)], q.answer_texts)
            if at is not None:
                skip = len(p.passage) - len(q.sentences[min(q.answers)])
                span = (at[0] + skip, at[1] + skip)
        out.append(SpanPair(p.question, p.passage, p.label, span))
    random.Random(seed).shuffle(out)
    return out
