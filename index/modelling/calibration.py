"""Calibration: the small logistic models that turn a candidate's signals into the
probability that it answers (the ranking score) and the best candidate's into the answer's
confidence, with the thresholds of the verdict.

A calibration comes with a model: ``calibration.json`` beside the bundled reranker (and
any CrossEncoder folder that has one), ``first-stage.json`` for the pipeline without one,
else the reranker's own sigmoid (:data:`OWN_SIGMOID`). They are fitted on training data only
(``python -m training.calibrate``); :mod:`index.answering.ranking` applies them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from index.errors import ModelError
from index.modelling.pins import MODELS_DIR

if TYPE_CHECKING:
    import numpy as np

FIRST_STAGE_CALIBRATION = MODELS_DIR / "first-stage.json"
# Every signal a calibration may name: the reranker's logit, the first stage's three, and
# the probability of the span head's best phrase in the candidate (a reranker with one).
SIGNALS = ("rerank", "dense", "coverage", "cue", "span")


@dataclass(frozen=True)
class Linear:
    """``bias + Σ weight · signal`` over named signals (a logistic model's log-odds)."""

    signals: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float

    def logit(self, signals: Mapping[str, np.ndarray]) -> np.ndarray:
        import numpy as np

        size = len(next(iter(signals.values())))
        z = np.full(size, self.bias, dtype=np.float64)
        for name, weight in zip(self.signals, self.weights, strict=True):
            z += weight * np.asarray(signals[name], dtype=np.float64)
        return z

    def to_json(self) -> dict[str, Any]:
        return {"signals": list(self.signals), "weights": list(self.weights), "bias": self.bias}

    @classmethod
    def from_json(cls, data: Any, allowed: Sequence[str]) -> Linear:
        signals = tuple(str(s) for s in data["signals"])
        weights = tuple(float(w) for w in data["weights"])
        bias = float(data["bias"])
        if (len(signals) != len(weights) or not set(signals) <= set(allowed)
                or not all(map(math.isfinite, (*weights, bias)))):
            raise ValueError("signals, weights and bias do not fit")
        return cls(signals, weights, bias)


def sigmoid(z: np.ndarray) -> np.ndarray:
    import numpy as np

    return (1.0 / (1.0 + np.exp(-np.clip(z, -60.0, 60.0)))).astype(np.float32)


@dataclass(frozen=True)
class Calibration:
    """Two small logistic models fitted on training data (``python -m training.calibrate``):

    - ``rank``: P(a candidate answers the question) from its signals; the ranking score.
    - ``confidence``: P(the best-ranked candidate answers it) from that candidate's signals
      and ``margin`` (its rank log-odds minus the runner-up's); compared with ``threshold``
      (the verdict ``answer``) and ``likely`` (the verdict ``likely``; equal to
      ``threshold`` in a calibration that has no likely band).
    """

    rank: Linear
    confidence: Linear
    threshold: float
    source: str = ""
    likely: float | None = None

    @property
    def likely_threshold(self) -> float:
        return self.threshold if self.likely is None else min(self.likely, self.threshold)

    def rank_logits(self, signals: Mapping[str, np.ndarray]) -> np.ndarray:
        return self.rank.logit(signals)

    def confidence_of(self, best: Mapping[str, float]) -> float:
        model = self.confidence
        z = model.bias + sum(w * best[name]
                             for name, w in zip(model.signals, model.weights, strict=True))
        return 1.0 / (1.0 + math.exp(-min(max(z, -60.0), 60.0)))

    def to_json(self) -> dict[str, Any]:
        out = {"rank": self.rank.to_json(), "confidence": self.confidence.to_json(),
               "threshold": self.threshold}
        if self.likely is not None:
            out["likely_threshold"] = self.likely
        return out

    @classmethod
    def from_json(cls, data: Any, source: str) -> Calibration:
        try:
            rank = Linear.from_json(data["rank"], SIGNALS)
            confidence = Linear.from_json(data["confidence"], (*SIGNALS, "margin"))
            threshold = float(data["threshold"])
            likely = (float(data["likely_threshold"]) if "likely_threshold" in data
                      else None)
        except (TypeError, KeyError, ValueError) as exc:
            raise ModelError(f"calibration {source} is malformed ({exc})") from None
        for value in (threshold, likely):
            if value is not None and not 0.0 <= value <= 1.0:
                raise ModelError(f"calibration {source}: threshold {value} is not in [0, 1]")
        return cls(rank, confidence, threshold, source, likely)

    @classmethod
    def load(cls, path: Path) -> Calibration:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as exc:
            raise ModelError(f"cannot read calibration {path} ({exc})") from None
        return cls.from_json(data, str(path))


# A CrossEncoder that comes without a calibration: its own sigmoid, answered from 0.5.
_OWN = Linear(("rerank",), (1.0,), 0.0)
OWN_SIGMOID = Calibration(_OWN, _OWN, 0.5, "the model's own sigmoid")


def first_stage_calibration() -> Calibration:
    """The calibration of the pipeline without a reranker."""
    return Calibration.load(FIRST_STAGE_CALIBRATION)
