"""The ranking module's parts, directly: answer cues, the first-stage score, calibrations
with and without a likely band, the verdict, and the pipeline on a three-sentence index
whose every number is worked out by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from index.answering.ranking import (
    Ranking,
    Weights,
    answer_cues,
    question_class,
    verdict,
)
from index.answering.search import has_words, normalise_question
from index.errors import ModelError
from index.modelling.calibration import Calibration, Linear
from index.sources.documents import Unit


@pytest.mark.parametrize(("question", "kind"), [
    ("How long did the meeting last?", "duration"),
    ("How many people attended?", "quantity"),
    ("When did they meet?", "date"),
    ("Who interrupted the talks?", "person"),
    ("Where did they meet?", "place"),
    ("Why did they meet?", None),
])
def test_question_classes(question: str, kind: str | None) -> None:
    found = question_class(question)
    assert (found[0] if found else None) == kind


def test_answer_cues_mark_sentences_with_the_kind_of_answer_asked_for() -> None:
    texts = ["The meeting lasted some two hours and 15 minutes.", "They met in Hamburg."]
    assert answer_cues("How long did the meeting last?", texts) == [1.0, 0.0]
    assert answer_cues("Why did they meet?", texts) == [0.0, 0.0]


def test_first_stage_score_weighs_its_three_signals() -> None:
    w = Weights(dense=1.0, coverage=0.5, cue=0.25)
    signals = {"dense": np.array([0.2, 0.4]), "coverage": np.array([1.0, 0.0]),
               "cue": np.array([1.0, 0.0])}
    assert w.first_stage(signals) == pytest.approx([0.2 + 0.5 + 0.25, 0.4])


def test_normalise_question_folds_space_and_drops_controls() -> None:
    assert normalise_question("  How\x00 long\n\tdid it   last? ") == ("How long did it last?",
                                                                       False)
    text, cut = normalise_question("word " * 1000)
    assert cut and len(text) <= 2000 and text.endswith("word")


@pytest.mark.parametrize(("confidence", "expected"), [
    (0.9, "answer"), (0.7, "answer"), (0.69, "likely"), (0.2, "likely"), (0.19, "unknown"),
])
def test_verdict_from_two_thresholds(confidence: float, expected: str) -> None:
    assert verdict(confidence, 0.7, 0.2) == expected


def test_a_likely_threshold_above_the_answer_threshold_never_makes_likely() -> None:
    assert verdict(0.5, 0.4, 0.6) == "answer" and verdict(0.39, 0.4, 0.6) == "unknown"
    assert verdict(0.99, 0.4, 0.2, searchable=False) == "unknown"


def _calibration_json(**extra: object) -> dict:
    line = {"signals": ["rerank"], "weights": [1.0], "bias": 0.0}
    return {"rank": line, "confidence": line, "threshold": 0.6, **extra}


def test_calibration_reads_its_likely_threshold(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps(_calibration_json(likely_threshold=0.15)), encoding="utf-8")
    cal = Calibration.load(path)
    assert (cal.threshold, cal.likely_threshold) == (0.6, 0.15)
    assert Calibration.from_json(cal.to_json(), "again") == Calibration(
        cal.rank, cal.confidence, 0.6, "again", 0.15)


def test_a_calibration_without_a_likely_band_has_two_verdicts() -> None:
    cal = Calibration.from_json(_calibration_json(), "old")
    assert cal.likely_threshold == cal.threshold == 0.6


@pytest.mark.parametrize("bad", [{"likely_threshold": 1.5}, {"likely_threshold": "x"}])
def test_a_bad_likely_threshold_is_refused(bad: dict) -> None:
    with pytest.raises(ModelError):
        Calibration.from_json(_calibration_json(**bad), "bad")


def test_the_shipped_calibration_has_a_likely_band_below_its_answer_threshold() -> None:
    from index.modelling.reranker import bundled_calibration

    cal = bundled_calibration()
    assert 0.0 < cal.likely_threshold < cal.threshold < 1.0
    assert cal.rank == Linear(cal.rank.signals, cal.rank.weights, cal.rank.bias)


def _engine(settings, fake_embedder, **update):
    from index.answering.engine import Engine
    from tests.fakes import FakeReranker

    engine = Engine(settings.model_copy(update=update), fake_embedder,
                    reranker=FakeReranker())
    engine.build()
    engine.load()
    return engine


def test_engine_verdicts_follow_the_thresholds(settings, fake_embedder) -> None:
    question = "How long did the meeting last?"
    confidence = _engine(settings, fake_embedder).ask(question).confidence
    for answer_t, likely_t, expected in ((0.0, 0.0, "answer"), (1.0, 0.0, "likely"),
                                         (1.0, 1.0, "unknown")):
        answer = _engine(settings, fake_embedder, answer_threshold=answer_t,
                         likely_threshold=likely_t).ask(question)
        assert answer.confidence == pytest.approx(confidence)
        assert answer.verdict == expected and answer.answered == (expected == "answer")
        out = answer.to_json()
        assert out["verdict"] == expected and out["answered"] == (expected == "answer")
        assert out["likely_threshold"] == min(likely_t, answer_t)


def test_has_words_needs_a_letter_or_a_digit() -> None:
    assert has_words("Why?") and has_words("2017") and has_words("Straße")
    assert not has_words("?!") and not has_words("… —")


def test_calibration_log_odds_and_confidence_by_hand() -> None:
    rank = Linear(("dense", "cue"), (2.0, -1.0), 0.5)
    signals = {"dense": np.array([0.1, 0.3]), "cue": np.array([1.0, 0.0])}
    assert rank.logit(signals) == pytest.approx([0.5 + 0.2 - 1.0, 0.5 + 0.6])
    cal = Calibration(rank, Linear(("margin",), (2.0,), -1.0), 0.7)
    assert cal.confidence_of({"margin": 1.5}) == pytest.approx(1 / (1 + math.exp(-2.0)))


# --- the pipeline on three sentences ---------------------------------------------------
QUESTION = "How long did the meeting last?"  # asks for a duration
TEXTS = ["It lasted two hours.", "They met in Hamburg.", "The talks took 45 minutes."]
VECTORS = np.array([[0.6, 0.8], [1.0, 0.0], [0.8, 0.6]], dtype=np.float32)
QVEC = np.array([[1.0, 0.0]], dtype=np.float32)  # cosines 0.6, 1.0, 0.8
COVERAGE = np.array([0.5, 0.0, 1.0], dtype=np.float32)


class _Store:
    def search(self, qvec, n, bounds):
        scores = VECTORS @ qvec[0]
        ids = np.argsort(-scores)[:n]
        return scores[ids][None, :], ids[None, :]

    def vectors(self, ids):
        return VECTORS[ids]


class _Lexical:
    def query_ids(self, question):
        return question

    def bm25(self, query):
        return np.array([0.0, 2.0, 1.0], dtype=np.float32)

    def coverage(self, query, ids):
        return COVERAGE[ids]


class _Reranker:
    name = fingerprint = "by hand"
    calibration = None

    def score(self, question, passages):
        return np.array([3.0 if "Hamburg" in p else 0.0 for p in passages], dtype=np.float32)


def _units() -> list[Unit]:
    return [Unit(id=f"d:{i}", doc="d", text=t, position=i) for i, t in enumerate(TEXTS)]


def _rank(ranking: Ranking, k: int = 2):
    units = _units()
    return ranking.rank(units=units, store=_Store(), lexical=_Lexical(), question=QUESTION,
                        qvec=QVEC, lo=0, hi=3, filtered=False, k=k,
                        text_of=lambda uid: units[uid].text)


FIRST = Linear(("dense", "coverage", "cue"), (1.0, 0.4, 0.1), 0.0)
BY_MARGIN = Linear(("margin",), (1.0,), 0.0)


def test_the_first_stage_ranks_by_cosine_coverage_and_cue() -> None:
    # dense + 0.4 coverage + 0.1 cue: 0.6 + 0.2 + 0.1, 1.0 + 0 + 0, 0.8 + 0.4 + 0.1
    ranked = _rank(Ranking(Weights(), None, Calibration(FIRST, BY_MARGIN, 0.7), depth=10))
    assert ranked.ids.tolist() == [2, 1, 0]
    assert ranked.scores == pytest.approx([1.3, 1.0, 0.9])
    assert ranked.signals["cue"].tolist() == [1.0, 0.0, 1.0]
    assert ranked.confidence == pytest.approx(1 / (1 + math.exp(-0.3)))  # margin 1.3 - 1.0
    assert not ranked.calibrated


def test_the_reranker_reads_the_first_stages_best_and_reorders_them() -> None:
    by_rerank = Linear(("rerank",), (1.0,), 0.0)
    ranking = Ranking(Weights(), _Reranker(), Calibration(by_rerank, BY_MARGIN, 0.7), depth=2)
    ranked = _rank(ranking)
    assert ranked.ids.tolist() == [1, 2]  # the first stage's best two, reranked: 3.0 > 0.0
    assert ranked.scores == pytest.approx([1 / (1 + math.exp(-3.0)), 0.5])
    assert ranked.confidence == pytest.approx(1 / (1 + math.exp(-3.0)))  # margin 3 - 0
    assert ranked.calibrated


@pytest.mark.parametrize(("threshold", "likely", "expected"), [
    (None, None, (0.7, 0.2)), (0.5, None, (0.5, 0.2)), (0.5, 0.6, (0.5, 0.5)),
])
def test_set_thresholds_replace_the_calibrations(threshold, likely, expected) -> None:
    cal = Calibration(FIRST, BY_MARGIN, 0.7, likely=0.2)
    ranking = Ranking(Weights(), None, cal, 10, threshold, likely)
    assert (ranking.answer_threshold, ranking.likely_threshold) == expected


def test_the_answer_gives_the_best_passages_with_context_and_the_verdict() -> None:
    units = _units()
    doc = SimpleNamespace(name="d", title="A meeting", start=0, count=3)
    data = SimpleNamespace(units=units, docs={"d": doc}, store=_Store())
    cal = Calibration(FIRST, BY_MARGIN, 0.7, likely=0.5)  # confidence sigmoid(0.3) = 0.574
    answer = Ranking(Weights(), None, cal, 10).answer(
        data, _Lexical(), QUESTION, QVEC, info=None, k=2, context_window=1)
    assert [p.unit.id for p in answer.passages] == ["d:2", "d:1"]
    assert answer.passages[0].context == "They met in Hamburg. The talks took 45 minutes."
    assert answer.passages[1].before == TEXTS[0] and answer.passages[1].after == TEXTS[2]
    assert answer.verdict == "likely" and not answer.answered
    assert (answer.threshold, answer.likely_threshold) == (0.7, 0.5)
    assert answer.documents == 1 and answer.doc is None and answer.notice == ""
    filtered = Ranking(Weights(), None, cal, 10, threshold=0.5).answer(
        data, _Lexical(), "?!", QVEC, info=doc, k=1, context_window=0, truncated=True,
        query=QUESTION)
    assert filtered.verdict == "unknown" and filtered.doc == "d"  # nothing to search for
    assert filtered.notice == "the question has no words to search for"
