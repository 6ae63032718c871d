"""A question and its answer, as data: the question cleaned for searching, and what comes
back (:class:`Answer` with its :data:`Verdict`, its :class:`Passage` s, shown with their
context). How one becomes the other (ranking, calibration, the verdict) is
:mod:`index.answering.ranking`'s; nothing here ranks."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from index.errors import UsageError

if TYPE_CHECKING:
    from index.modelling.phrase import Phrase
    from index.sources.documents import Unit

Verdict = Literal["answer", "likely", "unknown"]
VERDICTS: tuple[Verdict, ...] = ("answer", "likely", "unknown")

MAX_QUESTION_CHARS = 2000
NO_WORDS = "the question has no words to search for"  # the notice, and why: unknown
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
    answered: bool  # the verdict is "answer"
    passages: list[Passage]
    threshold: float
    verdict: Verdict = "unknown"  # "answer", "likely" (not sure) or "unknown"; given
    # answered=True alone, "answer"
    likely_threshold: float | None = None  # the confidence from which the verdict is "likely"
    confidence: float = 0.0  # probability that the best passage answers; vs the threshold
    truncated: bool = False
    notice: str = ""
    # What was searched, so that a decline can name it ("the article", "the documents").
    documents: int = 1  # how many documents the question was asked of
    doc: str | None = None  # the one document asked of (a --doc filter), else None
    # True when passage scores are probabilities (the reranker's calibrated ranking), so
    # that they can be compared with each other as such; else first-stage scores.
    calibrated_scores: bool = False
    # In a conversation: the earlier question this one was asked with, when it leaned on it.
    follows: str | None = None
    # The phrase of the best passage that answers (its unit's text), when the reranker has a
    # span head, the verdict is "answer" or "likely" and the head is confident of it.
    phrase: Phrase | None = None

    def __post_init__(self) -> None:
        if self.answered and self.verdict == "unknown":
            self.verdict = "answer"
        elif self.answered != (self.verdict == "answer"):
            raise ValueError(f"answered={self.answered} does not fit verdict {self.verdict!r}")

    @property
    def best(self) -> Passage | None:
        return self.passages[0] if self.passages else None

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` object. Keys are only ever added (other tools parse it):
        ``threshold`` says what ``confidence`` was compared with; ``truncated`` is always
        there, ``notice`` only when qabot changed or could not use the question, ``follows``
        only when the question was asked with an earlier one of its conversation, ``phrase``
        only when qabot answers with one (``start`` and ``end``: character offsets into the
        first passage's ``text``)."""
        out: dict[str, Any] = {
            "question": self.question,
            "answered": self.answered,
            "verdict": self.verdict,
            "confidence": round(float(self.confidence), 4),
            "threshold": round(float(self.threshold), 4),
            "likely_threshold": round(float(self.threshold if self.likely_threshold is None
                                            else self.likely_threshold), 4),
            "truncated": self.truncated,
        }
        if self.notice:
            out["notice"] = self.notice
        if self.follows is not None:
            out["follows"] = self.follows
        if self.phrase is not None and self.passages:
            out["phrase"] = {"text": self.phrase.text(self.passages[0].unit.text),
                             "start": self.phrase.start, "end": self.phrase.end,
                             "confidence": round(float(self.phrase.confidence), 4)}
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
