"""Test doubles shared by the suite: a fast, deterministic fake embedder."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from index.modelling.phrase import SpanReading

_WORD = re.compile(r"\w+")


class FakeEmbedder:
    """Bag-of-words hashed into a small normalised vector: fast, deterministic, no model.

    Texts sharing words get a high cosine, so retrieval behaves sensibly in unit tests.
    """

    def __init__(self, dimension: int = 64, name: str = "fake-embedder") -> None:
        self.name = name
        self.dimension = dimension
        self.fingerprint = hashlib.sha256(f"{name}:{dimension}".encode()).hexdigest()
        self.calls: list[int] = []

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        self.calls.append(len(texts))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
                out[row, int.from_bytes(digest, "little") % self.dimension] += 1.0
            norm = np.linalg.norm(out[row])
            if norm > 0:
                out[row] /= norm
            else:
                out[row, 0] = 1.0
        return out


class FakeReranker:
    """Scores a (question, passage) pair by the question words the passage shares: fast,
    deterministic, no model. Its calibration answers from two shared words up."""

    def __init__(self) -> None:
        from index.modelling.calibration import Calibration, Linear

        self.name = "fake-reranker"
        self.fingerprint = "fake"
        shared_words = Linear(("rerank",), (2.0,), -3.0)
        self.calibration = Calibration(shared_words, shared_words, 0.5, "fake")
        self.calls: list[int] = []

    def score(self, question: str, passages: Sequence[str]) -> np.ndarray:
        self.calls.append(len(passages))
        words = set(_WORD.findall(question.lower()))
        return np.array([len(words & set(_WORD.findall(p.lower()))) for p in passages],
                        dtype=np.float32)


_NUMBER = re.compile(r"\d[\d,.]*\d|\d")


class FakePhraseReranker(FakeReranker):
    """The fake reranker with a span head: in one pass, its scores and, as the phrase of
    each passage, its sentence's first number (none without one). Tokens are the passage's
    words."""

    def score_spans(self, question: str, passages: Sequence[str]
                    ) -> tuple[np.ndarray, list[SpanReading]]:
        from index.modelling.phrase import SpanReading

        readings = []
        for passage in passages:
            words = [(m.start(), m.end()) for m in re.finditer(r"\S+", passage)]
            # the sentence's first number, not the title's ("Title: sentence")
            number = _NUMBER.search(passage, passage.find(": ") + 1)
            start = np.full(len(words) + 1, -10.0, dtype=np.float32)
            start[0] = 0.0  # [CLS]: no phrase, unless a number is far likelier
            if number is not None:
                # the number as its own token: the word holding it is split around it
                words.append((number.start(), number.end()))
                start = np.append(start, 10.0)
            readings.append(SpanReading(start, start.copy(),
                                        np.array([False, *[True] * (len(start) - 1)]),
                                        ((0, 0), *words)))
        return self.score(question, passages), readings
