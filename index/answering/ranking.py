"""Ranking and the verdict: the whole path from a question to its :class:`Answer`, "answer",
"likely" or "unknown"; :class:`index.answering.engine.Engine` hands each question here.

For one question (cleaned by :func:`index.answering.search.normalise_question`), within the document
filter:

1. **first stage**: the dense top-N and the BM25 top-N are rescored from a few signals
   (:class:`Weights`): the cosine of question and sentence, the share of the question's
   terms the sentence holds, and whether it holds the kind of answer asked for (the answer
   cues);
2. **second stage**: the reranker (a cross-encoder) reads the question with each of the
   first stage's best;
3. **calibration** (:class:`~index.modelling.calibration.Calibration`, which comes with
   the reranker): a logistic model turns the signals into the probability that a candidate
   answers (the ranking), another turns the best candidate's signals into the answer's
   confidence;
4. **verdict** (:func:`verdict`): ``answer`` from the answer threshold, ``likely`` from the
   likely threshold, ``unknown`` below it;
5. **the answer** (:meth:`Ranking.answer`): the best ``k`` passages with their context, the
   confidence and the verdict.

The calibrations are fitted on training data only (``python -m training.calibrate``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from index.answering.search import NO_WORDS, Answer, Passage, Verdict, context_of, has_words
from index.modelling.calibration import Calibration, sigmoid
from index.modelling.phrase import MIN_CONFIDENCE as PHRASE_MINIMUM
from index.sources.documents import embed_text

if TYPE_CHECKING:
    import numpy as np

    from index.modelling.lexical import Lexical
    from index.modelling.phrase import SpanReading
    from index.sources.documents import Unit
    from index.storage.loading import DocInfo, IndexData
    from index.storage.stores import VectorStore


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


# --- the first stage -------------------------------------------------------------------
@dataclass(frozen=True)
class Weights:
    """How the first stage combines its signals; the defaults are tuned on WikiQA
    (docs/quality.md)."""

    dense: float = 1.0  # cosine of the question and "Title: sentence"
    coverage: float = 0.4  # IDF-weighted share of the question's terms in the sentence
    cue: float = 0.1  # the sentence holds the kind of answer asked for
    candidates: int = 50  # dense top-N and BM25 top-N are rescored

    def first_stage(self, signals: Mapping[str, np.ndarray]) -> np.ndarray:
        """The first stage's score of each candidate, from its signals."""
        return (self.dense * signals["dense"] + self.coverage * signals["coverage"]
                + self.cue * signals["cue"])


class Reranker(Protocol):
    """Scores (question, passage) pairs: higher means more likely to answer."""

    name: str
    fingerprint: str
    calibration: Calibration

    def score(self, question: str, passages: Sequence[str]) -> np.ndarray: ...


# --- the verdict -----------------------------------------------------------------------
def verdict(confidence: float, answer_threshold: float, likely_threshold: float,
            *, searchable: bool = True) -> Verdict:
    """``answer`` at or above the answer threshold, ``likely`` at or above the likely one
    (never above the answer threshold), else ``unknown``; a question with nothing to search
    for is ``unknown``."""
    if not searchable:
        return "unknown"
    if confidence >= answer_threshold:
        return "answer"
    if confidence >= min(likely_threshold, answer_threshold):
        return "likely"
    return "unknown"


# --- the pipeline ----------------------------------------------------------------------
@dataclass
class Ranked:
    """Candidates best first: unit ids, ranking scores, every signal, and the confidence
    that the first answers."""

    ids: np.ndarray
    scores: np.ndarray
    signals: dict[str, np.ndarray]
    confidence: float
    calibrated: bool  # scores are the calibrated ranking's probabilities
    # What a reranker with a span head read of each candidate's phrase (same order).
    spans: list[SpanReading] | None = None


@dataclass
class Ranking:
    """The pipeline for one configuration: first-stage weights, an optional reranker, the
    calibration, the depth the reranker reads, and the thresholds when they are set rather
    than the calibration's."""

    weights: Weights
    reranker: Reranker | None
    calibration: Calibration
    depth: int
    threshold: float | None = None  # the answer threshold; None: the calibration's
    likely: float | None = None  # the likely threshold; None: the calibration's
    phrase_minimum: float = PHRASE_MINIMUM  # a phrase is shown from this confidence

    @property
    def answer_threshold(self) -> float:
        """The confidence at or above which the verdict is ``answer``."""
        return self.calibration.threshold if self.threshold is None else self.threshold

    @property
    def likely_threshold(self) -> float:
        """The confidence at or above which the verdict is ``likely`` (never above the
        answer threshold)."""
        likely = self.calibration.likely_threshold if self.likely is None else self.likely
        return min(likely, self.answer_threshold)

    def answer(self, data: IndexData, lexical: Lexical, question: str, qvec: np.ndarray, *,
               info: DocInfo | None, k: int, context_window: int, truncated: bool = False,
               query: str | None = None) -> Answer:
        """Rank ``data``'s units for ``query`` (default: the question; ``qvec`` its vector),
        within the document ``info`` (None: all), and answer ``question`` with the best
        ``k``, each shown with ``context_window`` neighbours."""
        lo, hi = (info.start, info.start + info.count) if info else (0, len(data.units))
        notice = (f"question cut to its first {len(question)} characters" if truncated else "")
        words = has_words(question)  # without any, nothing to read and no answer
        if not words:
            notice = NO_WORDS

        def text_of(uid: int) -> str:  # what the reranker reads: "Title: sentence"
            return embed_text(data.units[uid], data.docs[data.units[uid].doc].title)

        ranked = self.rank(
            units=data.units, store=data.store, lexical=lexical,
            question=question if query is None else query,
            qvec=qvec, lo=lo, hi=hi, filtered=info is not None, k=k, text_of=text_of)
        passages = []
        for j in range(min(k, len(ranked.ids))):
            uid = int(ranked.ids[j])
            doc = data.docs[data.units[uid].doc]
            before, text, after = context_of(data.units, uid, doc.start, doc.start + doc.count,
                                             context_window)
            passages.append(Passage(
                unit=data.units[uid], score=float(ranked.scores[j]),
                context=" ".join(p for p in (before, text, after) if p),
                before=before, after=after,
                signals={name: float(v[j]) for name, v in ranked.signals.items()}))
        threshold, likely = self.answer_threshold, self.likely_threshold
        said = verdict(ranked.confidence, threshold, likely, searchable=words and bool(passages))
        phrase = None
        if said != "unknown" and ranked.spans:  # the best passage's, by its unit's text
            uid = int(ranked.ids[0])
            skip = len(text_of(uid)) - len(data.units[uid].text)
            phrase = ranked.spans[0].phrase(skip, self.phrase_minimum)
        return Answer(question=question, answered=said == "answer", verdict=said,
                      passages=passages, threshold=threshold, likely_threshold=likely,
                      confidence=ranked.confidence, truncated=truncated, notice=notice,
                      documents=1 if info else len(data.docs), doc=info.name if info else None,
                      calibrated_scores=ranked.calibrated and words, phrase=phrase)

    def rank(self, *, units: Sequence[Unit], store: VectorStore, lexical: Lexical,
             question: str, qvec: np.ndarray, lo: int, hi: int, filtered: bool, k: int,
             text_of: Any) -> Ranked:
        """Rank the units ``lo``..``hi - 1`` for ``question`` (``qvec`` its vector);
        ``text_of(uid)`` is the text the reranker reads for a unit."""
        import numpy as np

        w = self.weights
        n = min(hi - lo, max(w.candidates, 4 * k))
        _, dense_ids = store.search(qvec, n, (lo, hi) if filtered else None)
        query = lexical.query_ids(question)
        lex_range = lexical.bm25(query)[lo:hi]
        # argpartition: the top n without sorting every unit's score (36 ms vs 7 ms at 1M).
        top_lex = (np.argpartition(-lex_range, n - 1)[:n] if n < len(lex_range)
                   else np.arange(len(lex_range))) + lo
        cand = np.unique(np.concatenate([dense_ids[0][dense_ids[0] >= 0], top_lex]))
        signals = {"dense": store.vectors(cand) @ qvec[0],
                   "coverage": lexical.coverage(query, cand),
                   "cue": np.array(answer_cues(question, [units[i].text for i in cand]),
                                   np.float32)}
        first = w.first_stage(signals)
        order = np.argsort(-first, kind="stable")
        calibration, reranker = self.calibration, self.reranker
        spans: list[SpanReading] | None = None
        searchable = has_words(question)
        if not searchable or not len(order):
            return Ranked(cand[order], first[order],
                          {name: v[order] for name, v in signals.items()}, 0.0, False)
        if reranker is None:
            ids, scores = cand[order], first[order]
            signals = {name: v[order] for name, v in signals.items()}
            logits = calibration.rank_logits(signals)
        else:  # it reads the question with each of the first stage's best
            order = order[: max(self.depth, k)]
            signals = {name: v[order] for name, v in signals.items()}
            texts = [text_of(int(i)) for i in cand[order]]
            score_spans = getattr(reranker, "score_spans", None)
            if score_spans is not None:  # one pass: the logits and where the phrase lies
                signals["rerank"], spans = score_spans(question, texts)
            else:
                signals["rerank"] = reranker.score(question, texts)
            signals["span"] = np.array([r.best_probability() for r in spans] if spans
                                       else np.zeros(len(texts)), dtype=np.float32)
            logits = calibration.rank_logits(signals)
            best = np.argsort(-logits, kind="stable")
            ids, logits = cand[order][best], logits[best]
            scores = sigmoid(logits)
            signals = {name: v[best] for name, v in signals.items()}
            if spans is not None:
                spans = [spans[int(i)] for i in best]
        top = {name: float(v[0]) for name, v in signals.items()}
        top["margin"] = float(logits[0] - logits[1:].max()) if len(logits) > 1 else 0.0
        return Ranked(ids, scores, signals, calibration.confidence_of(top),
                      reranker is not None, spans)

