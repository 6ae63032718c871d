"""The second stage and the calibration, with the fast fake reranker (no model)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from index.errors import ModelError
from index.modelling.calibration import (
    FIRST_STAGE_CALIBRATION,
    OWN_SIGMOID,
    Calibration,
    Linear,
    first_stage_calibration,
)
from tests.conftest import ARTICLE_DOC
from tests.fakes import FakeReranker


def _engine(settings, fake_embedder, reranker, **update):
    from index.answering.engine import Engine

    engine = Engine(settings.model_copy(update=update), fake_embedder, reranker=reranker)
    engine.build()
    engine.load()
    return engine


def test_the_top_candidates_are_reranked_with_their_titles(settings, fake_embedder) -> None:
    seen: list[list[str]] = []

    class Recording(FakeReranker):
        def score(self, question, passages):
            seen.append(list(passages))
            return super().score(question, passages)

    engine = _engine(settings, fake_embedder, Recording(), rerank_depth=7)
    answer = engine.ask("How long did the meeting last?", top_k=3)
    (batch,) = seen
    assert len(batch) == 7, "the first stage's best 7 (the depth) are read by the reranker"
    assert all(p.startswith("trump putin g20 meeting: ") for p in batch)
    assert [p.signals["rerank"] for p in answer.passages] == sorted(
        (p.signals["rerank"] for p in answer.passages), reverse=True)
    assert answer.passages[0].unit.text in {b.split(": ", 1)[1] for b in batch}
    scores = [p.score for p in answer.passages]
    assert scores == sorted(scores, reverse=True) and all(0 < s < 1 for s in scores)


def test_asking_for_more_passages_than_the_depth_reranks_them_all(settings,
                                                                  fake_embedder) -> None:
    reranker = FakeReranker()
    engine = _engine(settings, fake_embedder, reranker, rerank_depth=2)
    answer = engine.ask("Who interrupted the talks?", top_k=5)
    assert reranker.calls == [5] and len(answer.passages) == 5


def test_the_reranker_decides_the_order(settings, fake_embedder) -> None:
    """A reranker that prefers one sentence puts it first, whatever the first stage said."""
    target = "Both men sat with legs splayed."

    class Favours(FakeReranker):
        def score(self, question, passages):
            return np.array([5.0 if p.endswith(target) else 0.0 for p in passages], np.float32)

    engine = _engine(settings, fake_embedder, Favours(), rerank_depth=50)
    answer = engine.ask("How did the leaders sit?")
    assert answer.passages[0].unit.text.startswith(target)


def test_confidence_is_the_calibrated_probability_and_decides(settings,
                                                             fake_embedder) -> None:
    engine = _engine(settings, fake_embedder, FakeReranker())
    answer = engine.ask("How long did the meeting last?")
    cal = engine.calibration
    best = answer.passages[0].signals
    margin = cal.rank_logits({"rerank": np.array([best["rerank"]])})[0] - max(
        cal.rank_logits({"rerank": np.array([p.signals["rerank"]])})[0]
        for p in answer.passages[1:])
    assert margin >= 0
    assert answer.confidence == pytest.approx(1 / (1 + np.exp(3.0 - 2.0 * best["rerank"])))
    assert answer.answered is (answer.confidence >= cal.threshold)
    assert answer.to_json()["confidence"] == round(answer.confidence, 4)


@pytest.mark.parametrize(("threshold", "answered"), [(0.0, True), (1.0, False)])
def test_the_threshold_setting_overrides_the_calibrated_one(settings, fake_embedder,
                                                           threshold, answered) -> None:
    engine = _engine(settings, fake_embedder, FakeReranker(), answer_threshold=threshold)
    answer = engine.ask("How long did the meeting last?")
    assert engine.threshold == threshold and answer.answered is answered


def test_without_a_reranker_the_first_stage_ranks_and_its_calibration_decides(
        settings, fake_embedder) -> None:
    engine = _engine(settings, fake_embedder, None)
    answer = engine.ask("How long did the meeting last?", top_k=5)
    assert engine.calibration == first_stage_calibration()
    assert "rerank" not in answer.passages[0].signals
    first = [p.signals["dense"] + 0.4 * p.signals["coverage"] + 0.1 * p.signals["cue"]
             for p in answer.passages]
    assert first == sorted(first, reverse=True)
    assert 0.0 < answer.confidence < 1.0
    assert answer.answered is (answer.confidence >= engine.threshold)


def test_a_question_without_words_is_never_answered(settings, fake_embedder) -> None:
    engine = _engine(settings, fake_embedder, FakeReranker(), answer_threshold=0.0)
    answer = engine.ask("?!")
    assert not answer.answered and answer.confidence == 0.0 and answer.passages


def test_reranker_setting_none_means_no_reranker(settings) -> None:
    from index.answering.engine import Engine

    engine = Engine(settings.model_copy(update={"reranker": "none"}), None)  # type: ignore[arg-type]
    assert engine.reranker is None


def test_shipped_calibrations_load_and_are_probabilities() -> None:
    first = first_stage_calibration()
    assert 0.0 < first.threshold < 1.0 and set(first.rank.signals) <= {"dense", "coverage", "cue"}
    data = json.loads(FIRST_STAGE_CALIBRATION.read_text())
    assert data["fitted_on"]["file"] == "squad2-dev-subset.json.gz"


@pytest.mark.parametrize(
    "broken",
    [
        {},
        {"rank": {"signals": ["dense"], "weights": [1.0], "bias": 0.0}, "threshold": 0.5},
        {"rank": {"signals": ["dense"], "weights": [1.0, 2.0], "bias": 0.0},
         "confidence": {"signals": [], "weights": [], "bias": 0.0}, "threshold": 0.5},
        {"rank": {"signals": ["bogus"], "weights": [1.0], "bias": 0.0},
         "confidence": {"signals": [], "weights": [], "bias": 0.0}, "threshold": 0.5},
        {"rank": {"signals": ["dense"], "weights": ["x"], "bias": 0.0},
         "confidence": {"signals": [], "weights": [], "bias": 0.0}, "threshold": 0.5},
        {"rank": {"signals": ["dense"], "weights": [1.0], "bias": 0.0},
         "confidence": {"signals": [], "weights": [], "bias": 0.0}, "threshold": 1.5},
    ],
)
def test_a_malformed_calibration_is_one_clear_error(tmp_path: Path, broken) -> None:
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(ModelError, match="calibration .* (malformed|not in)"):
        Calibration.load(path)


def test_calibration_round_trips_through_json() -> None:
    cal = Calibration(Linear(("rerank", "dense"), (1.5, 2.0), -1.0),
                      Linear(("rerank", "margin"), (0.5, 0.25), 0.1), 0.4)
    again = Calibration.from_json(json.loads(json.dumps(cal.to_json())), "x")
    assert again.to_json() == cal.to_json()
    assert OWN_SIGMOID.confidence_of({"rerank": 0.0}) == pytest.approx(0.5)


def test_tampered_bundled_weights_are_refused(tmp_path: Path, monkeypatch) -> None:
    import index.modelling.reranker as rr

    folder = tmp_path / "reranker"
    folder.mkdir()
    (folder / rr.BUNDLED_WEIGHTS).write_bytes(b"not the weights")
    with pytest.raises(ModelError, match="fail the sha256 check"):
        rr.verify_bundled(folder)
    with pytest.raises(ModelError, match="missing"):
        rr.verify_bundled(tmp_path / "nowhere")


def test_doc_filter_still_applies_with_reranking(settings, fake_embedder) -> None:
    engine = _engine(settings, fake_embedder, FakeReranker())
    answer = engine.ask("Who interrupted the talks?", doc=ARTICLE_DOC)
    assert {p.unit.doc for p in answer.passages} == {ARTICLE_DOC}


def test_a_reranker_that_cannot_be_had_is_one_line_and_exit_2(monkeypatch, tmp_path: Path
                                                             ) -> None:
    """A mistyped hub name with the hub off: a bad setting, said at once, nothing loaded."""
    import sys
    import types

    from click.testing import CliRunner

    import index.answering.configured
    from bot.cli import cli
    from index.modelling.reranker import CrossEncoderReranker
    from tests.fakes import FakeEmbedder

    loads: list[str] = []
    fake = types.ModuleType("sentence_transformers")
    fake.CrossEncoder = lambda name, **kw: loads.append(name)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sentence_transformers", fake)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("QABOT_RERANKER", "cross-encoder/ms-marco-MiniLM-L6-v3")
    monkeypatch.setattr(index.answering.configured, "default_embedder",
                        lambda settings, *_: FakeEmbedder())
    monkeypatch.setattr(index.answering.configured, "default_reranker",
                        lambda settings, *_: CrossEncoderReranker(settings.reranker))
    monkeypatch.setenv("QABOT_INDEX_DIR", str(tmp_path / "idx"))  # built on first use
    result = CliRunner().invoke(cli, ["ask", "How long did the meeting last?"])
    assert result.exit_code == 2, result.output
    (line,) = [x for x in result.stderr.splitlines() if "error" in x]
    assert "cannot load reranker 'cross-encoder/ms-marco-MiniLM-L6-v3'" in line
    assert "QABOT_RERANKER" in line and "Traceback" not in result.output
    assert loads == []
