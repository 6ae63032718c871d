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
from collections.abc import Mapping, Sequence
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
# Generic English question classes and the kind of expression that answers them: a
# candidate that holds the expected kind of answer gets a small bonus. The first class whose
# question pattern matches (on the lower-cased question) decides.
_NUM_WORD = (r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|"
             r"twenty|thirty|forty|fifty|sixty|hundred|thousand|million|billion|dozens?|"
             r"several|a few|some|half an?|an?)")
_NUM = rf"(?:\d+(?:[.,]\d+)*|{_NUM_WORD})"
_TIME_UNIT = r"(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?|centuries|century)"
_LEN_UNIT = (r"(?:mm|cm|km|m|millimet(?:er|re)s?|centimet(?:er|re)s?|met(?:er|re)s?|"
             r"kilomet(?:er|re)s?|inch(?:es)?|in\.|f(?:ee|oo)t|ft|yards?|miles?|mi)")
_MONTH = (r"(?:January|February|March|April|May|June|July|August|September|October|November|"
          r"December)")
_WEEKDAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
CUES: list[tuple[str, re.Pattern[str], re.Pattern[str]]] = [
    ("duration", re.compile(r"\bhow long\b"),
     re.compile(rf"\b{_NUM}[\s-]+(?:{_TIME_UNIT}|{_LEN_UNIT})\b", re.I)),
    ("quantity",
     re.compile(r"\bhow (?:many|much|old|big|tall|far|high|deep|thick|large|wide|heavy|fast)\b"),
     re.compile(r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
                r"twenty|thirty|forty|fifty|hundred|thousand|million|billion|dozens?)\b|[$€£]",
                re.I)),
    ("date",
     re.compile(r"^\s*when\b|\b(?:what|which) (?:year|date|day|month|century|decade)\b|"
                r"\bwhat time\b|\bin what year\b"),
     re.compile(rf"\b(?:1\d{{3}}|20\d{{2}})s?\b|\b{_MONTH}\b|\b{_WEEKDAY}\b|"
                r"\b(?:yesterday|today|tomorrow|last (?:year|week|month)|"
                r"next (?:year|week|month))\b|\b\d+(?:st|nd|rd|th) century\b")),
    ("person", re.compile(r"^\s*(?:who|whom|whose)\b"),
     re.compile(r"(?<!^)\b[A-Z][a-z]+(?:\s+[A-Z]\.)?\s+[A-Z][a-z]+")),
    ("place",
     re.compile(r"^\s*where\b|\b(?:in |at )?(?:what|which) "
                r"(?:city|country|town|state|place|continent|region)\b"),
     re.compile(r"\b(?:in|at|near|from|to)\s+(?:the\s+)?[A-Z][a-z]+")),
]


def question_class(question: str) -> tuple[str, re.Pattern[str]] | None:
    """Return the answer-type class of a question and the pattern of its answers."""
    lowered = question.lower()
    for name, asks, answers in CUES:
        if asks.search(lowered):
            return name, answers
    return None


def answer_cues(question: str, texts: Sequence[str]) -> list[float]:
    """For each text, 1.0 when it holds the kind of answer ``question`` asks for, else 0."""
    found = question_class(question)
    if found is None:
        return [0.0] * len(texts)
    return [1.0 if found[1].search(text) else 0.0 for text in texts]


@dataclass(frozen=True)
class Weights:
    """How the signals are combined; the defaults are tuned on WikiQA (docs/quality.md)."""

    dense: float = 1.0  # cosine of the question and "Title: sentence"
    coverage: float = 0.4  # IDF-weighted share of the question's terms in the sentence
    cue: float = 0.1  # the sentence holds the kind of answer asked for
    candidates: int = 50  # dense top-N and BM25 top-N are rescored

    def first_stage(self, signals: Mapping[str, np.ndarray]) -> np.ndarray:
        """The first stage's score of each candidate, from its signals."""
        return (self.dense * signals["dense"] + self.coverage * signals["coverage"]
                + self.cue * signals["cue"])


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
        """The passage for ``--json``: ``section`` and ``url`` only where the source has
        them (headings above the sentence; a web address for the document)."""
        out: dict[str, Any] = {
            "text": self.unit.text,
            "context": self.context,
            "score": round(float(self.score), 4),
            "doc": self.unit.doc,
            "id": self.unit.id,
            "sentence": self.unit.position,
        }
        if self.unit.section:
            out["section"] = self.unit.section
        if self.unit.url:
            out["url"] = self.unit.url
        return out


@dataclass
class Answer:
    """The result of one question: ``answered`` is False when qabot declines."""

    question: str
    answered: bool
    passages: list[Passage]
    threshold: float
    confidence: float = 0.0  # probability that the best passage answers; vs the threshold
    truncated: bool = False
    notice: str = ""
    # What was searched, so that a decline can name it ("the article", "the documents").
    documents: int = 1  # how many documents the question was asked of
    doc: str | None = None  # the one document asked of (a --doc filter), else None
    # True when passage scores are probabilities (the reranker's calibrated ranking), so
    # that they can be compared with each other as such; else first-stage scores.
    calibrated_scores: bool = False

    @property
    def best(self) -> Passage | None:
        return self.passages[0] if self.passages else None

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` object. Keys are only ever added (other tools parse it):
        ``threshold`` says what ``confidence`` was compared with; ``truncated`` is always
        there, ``notice`` only when qabot changed or could not use the question."""
        out: dict[str, Any] = {
            "question": self.question,
            "answered": self.answered,
            "confidence": round(float(self.confidence), 4),
            "threshold": round(float(self.threshold), 4),
            "truncated": self.truncated,
        }
        if self.notice:
            out["notice"] = self.notice
        out["passages"] = [p.to_json() for p in self.passages]
        return out


def context_of(units: Sequence[Unit], uid: int, lo: int, hi: int, window: int
               ) -> tuple[str, str, str]:
    """Return (before, unit text, after) with ``window`` neighbours inside [lo, hi) and
    inside the unit's section (a heading's sentences are not the previous section's)."""
    section = units[uid].section
    first, last = max(lo, uid - window), min(hi, uid + window + 1)
    before = " ".join(u.text for u in units[first:uid] if u.section == section)
    after = " ".join(u.text for u in units[uid + 1 : last] if u.section == section)
    return before, units[uid].text, after
