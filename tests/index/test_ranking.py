"""The ranking module's parts, directly: answer cues, the first-stage score, calibrations
with and without a likely band, and the verdict."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from index.errors import ModelError
from index.ranking import (
    Calibration,
    Linear,
    Weights,
    answer_cues,
    question_class,
    verdict,
)
from index.search import normalise_question


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
    from index.reranker import bundled_calibration

    cal = bundled_calibration()
    assert 0.0 < cal.likely_threshold < cal.threshold < 1.0
    assert cal.rank == Linear(cal.rank.signals, cal.rank.weights, cal.rank.bias)


def _engine(settings, fake_embedder, **update):
    from index.engine import Engine
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
