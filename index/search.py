"""Retrieval and answer selection: dense + lexical scoring, answer-type cues, a threshold.

The pipeline for one question:

1. normalise the question (control characters, white space, length);
2. gather candidates: the dense top-N and the BM25 top-N, within the document filter;
3. score each candidate from a few signals (see :class:`Weights`);
4. rank, then decide ``answered`` from the top score and the threshold.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from index.errors import UsageError

if TYPE_CHECKING:
    import numpy as np

    from index.sources import Unit

MAX_QUESTION_CHARS = 2000
_WORD = re.compile(r"\w", re.UNICODE)
_SPACES = re.compile(r"\s+")


def normalise_question(raw: str) -> tuple[str, bool]:
    """Clean a question: drop control characters, fold white space, cap the length.

    Returns the cleaned text and whether it was truncated. Raises UsageError when nothing is
    left to ask.
    """
    cleaned = "".join(
        " " if unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn"} else ch for ch in raw
    )
    cleaned = _SPACES.sub(" ", cleaned).strip()
    if not cleaned:
        raise UsageError("the question is empty: ask something, e.g. "
                         "\"How long did the meeting last?\"")
    truncated = len(cleaned) > MAX_QUESTION_CHARS
    if truncated:
        cut = cleaned[:MAX_QUESTION_CHARS]
        cleaned = cut.rsplit(" ", 1)[0] if " " in cut[-100:] else cut
    return cleaned, truncated


def has_words(question: str) -> bool:
    """True when the question has at least one letter or digit."""
    return bool(_WORD.search(question))


# --- answer-type cues ------------------------------------------------------------------
# Generic English question classes and the kind of expression that answers them. A
# candidate that contains the expected kind of answer gets a small bonus.
_NUM_WORDS = (r"(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
              r"fifteen|twenty|thirty|forty|fifty|sixty|hundred|thousand|million|billion|"
              r"dozen|several|a few|half an?)")
_UNIT_TIME = r"(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?|centur(?:y|ies))"
CUES: list[tuple[re.Pattern[str], re.Pattern[str]]] = [
    (re.compile(r"\bhow long\b|\bfor how many (?:minutes|hours|days|weeks|months|years)\b", re.I),
     re.compile(rf"\b{_NUM_WORDS}\s+(?:\w+\s+)?{_UNIT_TIME}\b", re.I)),
    (re.compile(r"\bhow (?:many|much)\b|\bwhat (?:percentage|number|amount)\b", re.I),
     re.compile(rf"\b{_NUM_WORDS}\b|%", re.I)),
    (re.compile(r"\bwhen\b|\bwhat (?:year|date|day|month|time)\b|\bwhich year\b", re.I),
     re.compile(r"\b(?:1[0-9]{3}|20[0-9]{2})\b|\b(?:January|February|March|April|May|June|"
                r"July|August|September|October|November|December|Monday|Tuesday|Wednesday|"
                r"Thursday|Friday|Saturday|Sunday|yesterday|today|tomorrow)\b|"
                r"\b(?:century|decade)\b", re.I)),
    (re.compile(r"\bhow old\b", re.I), re.compile(rf"\b{_NUM_WORDS}\b.{0,12}\b(?:years?|old)\b",
                                                  re.I)),
]


def answer_cue(question: str, text: str) -> float:
    """Return 1.0 when ``text`` holds the kind of answer ``question`` asks for, else 0."""
    for asks, answers in CUES:
        if asks.search(question):
            return 1.0 if answers.search(text) else 0.0
    return 0.0


@dataclass(frozen=True)
class Weights:
    """How the signals are combined; the defaults are tuned on WikiQA (docs/quality.md)."""

    dense: float = 1.0
    lexical: float = 0.15
    cue: float = 0.08
    window: float = 0.0
    candidates: int = 50


@dataclass
class Passage:
    """One retrieved unit, with what a reader is shown around it."""

    unit: Unit
    score: float
    context: str
    before: str = ""
    after: str = ""
    signals: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.unit.text,
            "context": self.context,
            "score": round(float(self.score), 4),
            "doc": self.unit.doc,
            "id": self.unit.id,
            "sentence": self.unit.position,
        }


@dataclass
class Answer:
    """The result of one question: ``answered`` is False when qabot declines."""

    question: str
    answered: bool
    passages: list[Passage]
    threshold: float
    confidence: float = 0.0  # what the threshold is compared with
    truncated: bool = False
    notice: str = ""

    @property
    def best(self) -> Passage | None:
        return self.passages[0] if self.passages else None

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answered": self.answered,
            "passages": [p.to_json() for p in self.passages],
        }


class Lexical:
    """BM25 over all units (bm25s), scored for a query within an id range."""

    def __init__(self, texts: Sequence[str]) -> None:
        import bm25s

        self._bm25s = bm25s
        tokens = bm25s.tokenize(list(texts), stopwords="en", show_progress=False)
        self.vocab: dict[str, int] = tokens.vocab
        self.retriever = bm25s.BM25()
        self.retriever.index(tokens, show_progress=False)
        self.size = len(texts)

    def scores(self, question: str) -> np.ndarray:
        """BM25 score of every unit for ``question`` (zeros when no word is known)."""
        import numpy as np

        words = self._bm25s.tokenize([question], stopwords="en", return_ids=False,
                                     show_progress=False)[0]
        ids = [self.vocab[w] for w in words if w in self.vocab]
        if not ids:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self.retriever.get_scores_from_ids(ids), dtype=np.float32)


def context_of(units: Sequence[Unit], uid: int, lo: int, hi: int, window: int
               ) -> tuple[str, str, str]:
    """Return (before, unit text, after) with ``window`` neighbours inside [lo, hi)."""
    first, last = max(lo, uid - window), min(hi, uid + window + 1)
    before = " ".join(u.text for u in units[first:uid])
    after = " ".join(u.text for u in units[uid + 1 : last])
    return before, units[uid].text, after
