"""The calibration fit on synthetic candidates (no model): it keeps the signal that tells
answers apart and puts the threshold between answerable and unanswerable questions."""

from __future__ import annotations

import random

import pytest

from training.calibrate import Row, fit_calibration, top_rows, triggering

pytest.importorskip("sklearn")


def _rows(seed: int = 0) -> list[Row]:
    rng = random.Random(seed)
    rows = []
    for q in range(120):
        answerable = q % 3 != 0
        gold = rng.randrange(5) if answerable else -1
        for c in range(5):
            label = int(c == gold)
            rows.append(Row(article="a" if q % 2 else "b", qid=f"q{q}", answerable=answerable,
                            signals={"rerank": (3.0 if label else -2.0) + rng.gauss(0, 1),
                                     "dense": rng.random(), "coverage": rng.random(),
                                     "cue": float(rng.random() < 0.2)},
                            label=label))
    return rows


def test_the_fit_keeps_the_telling_signal_and_separates_the_questions() -> None:
    rows = _rows()
    calibration, chosen, report = fit_calibration(rows, reranked=True)
    assert "rerank" in calibration.rank.signals
    weight = dict(zip(calibration.rank.signals, calibration.rank.weights, strict=True))
    assert weight["rerank"] > 1.0
    assert 0.0 < calibration.threshold < 1.0
    assert chosen["f1"] > 0.85 and chosen["declined"] > 0.85
    assert report["rank_log_loss"] and report["confidence_log_loss"]


def test_fitted_on_one_set_it_holds_on_another() -> None:
    calibration, _, _ = fit_calibration(_rows(0), reranked=True)
    tops = top_rows(_rows(1), calibration.rank)
    conf = [calibration.confidence_of(t.signals) for t in tops]
    held = triggering(tops, conf, calibration.threshold)
    assert held["f1"] > 0.8 and held["answered"] > 0.8 and held["declined"] > 0.8


def test_ranking_metrics_follow_the_fitted_order() -> None:
    from index.modelling.calibration import Linear
    from training.calibrate import ranking

    def row(q: str, score: float, label: int, total: int = 1) -> Row:
        return Row("a", q, True, {"rerank": score}, label, total)

    rows = [row("q1", 0.1, 1), row("q1", 0.9, 0), row("q1", 0.5, 0),
            row("q2", 0.8, 1, total=2), row("q2", 0.2, 0)]
    by_score = ranking(rows, Linear(("rerank",), (1.0,), 0.0))
    # q1: the answer is third; q2: first, and its second answer was never a candidate.
    assert by_score == {"hit_at_1": 0.5, "hit_at_3": 1.0, "mrr": round((1 / 3 + 1) / 2, 4),
                        "map": round((1 / 3 + 1 / 2) / 2, 4)}
    as_given = ranking(rows, None)
    assert as_given["hit_at_1"] == 1.0
