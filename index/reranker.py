"""The second stage: a cross-encoder reads the question and each top candidate together,
and a small calibrated model turns its score (and the first stage's signals) into the
probability that the sentence answers the question.

The bundled reranker was trained by the project itself (``python -m training.reranker``,
see ``index/models/reranker/card.json``) from the bundled all-MiniLM-L6-v2 weights, and is
verified by sha256 on load; it needs no network. ``QABOT_RERANKER`` chooses it
(``bundled``, the default), turns reranking off (``none``), or names any sentence-transformers
CrossEncoder (a hub name or a local folder).

A calibration is a logistic model over named signals, fitted on training data only
(``python -m training.calibrate``), with the threshold chosen on data of another source
than the sets quality is reported on: ``calibration.json`` beside the bundled reranker, and
``first-stage.json`` for the pipeline without one. Another CrossEncoder uses a
``calibration.json`` in its folder when it has one, else its own sigmoid with 0.5.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from index.errors import ModelError

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

BUNDLED = "bundled"
NONE = "none"
MODELS_DIR = Path(__file__).resolve().parent / "models"
BUNDLED_DIR = MODELS_DIR / "reranker"
BUNDLED_WEIGHTS = "model.safetensors"
BUNDLED_SHA256 = "1384b4f4b11d43736875b3f8518e9faa6b98f4d982118322e7ec8015fea61cee"
CALIBRATION = "calibration.json"
FIRST_STAGE_CALIBRATION = MODELS_DIR / "first-stage.json"
SIGNALS = ("rerank", "dense", "coverage", "cue")


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
      and ``margin`` (its rank log-odds minus the runner-up's); compared with ``threshold``.
    """

    rank: Linear
    confidence: Linear
    threshold: float
    source: str = ""

    def rank_logits(self, signals: Mapping[str, np.ndarray]) -> np.ndarray:
        return self.rank.logit(signals)

    def confidence_of(self, best: Mapping[str, float]) -> float:
        model = self.confidence
        z = model.bias + sum(w * best[name]
                             for name, w in zip(model.signals, model.weights, strict=True))
        return 1.0 / (1.0 + math.exp(-min(max(z, -60.0), 60.0)))

    def to_json(self) -> dict[str, Any]:
        return {"rank": self.rank.to_json(), "confidence": self.confidence.to_json(),
                "threshold": self.threshold}

    @classmethod
    def from_json(cls, data: Any, source: str) -> Calibration:
        try:
            rank = Linear.from_json(data["rank"], SIGNALS)
            confidence = Linear.from_json(data["confidence"], (*SIGNALS, "margin"))
            threshold = float(data["threshold"])
        except (TypeError, KeyError, ValueError) as exc:
            raise ModelError(f"calibration {source} is malformed ({exc})") from None
        if not 0.0 <= threshold <= 1.0:
            raise ModelError(f"calibration {source}: threshold {threshold} is not in [0, 1]")
        return cls(rank, confidence, threshold, source)

    @classmethod
    def load(cls, path: Path) -> Calibration:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read calibration {path} ({exc})") from None
        return cls.from_json(data, str(path))


# A CrossEncoder that comes without a calibration: its own sigmoid, answered from 0.5.
_OWN = Linear(("rerank",), (1.0,), 0.0)
OWN_SIGMOID = Calibration(_OWN, _OWN, 0.5, "the model's own sigmoid")


def bundled_calibration() -> Calibration:
    """The calibration of the bundled reranker (either runtime)."""
    return Calibration.load(BUNDLED_DIR / CALIBRATION)


def first_stage_calibration() -> Calibration:
    """The calibration of the pipeline without a reranker."""
    return Calibration.load(FIRST_STAGE_CALIBRATION)


class Reranker(Protocol):
    """Scores (question, passage) pairs: higher means more likely to answer."""

    name: str
    fingerprint: str
    calibration: Calibration

    def score(self, question: str, passages: Sequence[str]) -> np.ndarray: ...


def verify_bundled(path: Path) -> str:
    """Check the bundled reranker's weights against their sha256; return it."""
    from index.embedder import sha256_file

    weights = path / BUNDLED_WEIGHTS
    try:
        digest = sha256_file(weights)
    except OSError:
        raise ModelError(f"bundled reranker weights missing: {weights}; reinstall qabot") from None
    if digest != BUNDLED_SHA256:
        raise ModelError(f"bundled reranker weights {weights} fail the sha256 check; "
                         "reinstall qabot")
    return digest


class CrossEncoderReranker:
    """A sentence-transformers CrossEncoder on the CPU, returning raw logits."""

    runtime = "torch"

    def __init__(self, name: str, *, max_length: int = 128, threads: int | None = None
                 ) -> None:
        from index.embedder import (
            ModelUnavailable,
            _load_hub_model,
            hub_model_cached,
            resolve_model,
        )

        if name == BUNDLED:
            path: Path | None = BUNDLED_DIR
            self.fingerprint = verify_bundled(BUNDLED_DIR)
            calibration = bundled_calibration()
        else:
            spec = resolve_model(name)
            path = spec.path
            self.fingerprint = ""
            own = path / CALIBRATION if path is not None else None
            calibration = Calibration.load(own) if own and own.is_file() else OWN_SIGMOID
        self.name = name if path is None or name == BUNDLED else str(path)
        self.calibration = calibration
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        cached = True
        if path is not None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        else:  # before the heavy imports: a reranker that cannot be had fails at once
            try:
                cached = hub_model_cached(name)
            except ModelUnavailable as exc:
                why = str(exc).split(": ", 1)[-1].split("; ")[0]
                raise ModelUnavailable(f"cannot load reranker {name!r}: {why}; set "
                                       f"QABOT_RERANKER to bundled, none, a local folder or "
                                       f"a CrossEncoder in the Hugging Face cache") from None
        log.info("loading reranker %s", self.name)
        try:
            import torch
            from sentence_transformers.cross_encoder import CrossEncoder

            if threads is not None:
                torch.set_num_threads(threads)
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()

            def loader(ref: str, **kw: Any) -> Any:
                # float32 on the CPU (the bundled weights are stored in fp16); raw logits.
                return CrossEncoder(ref, max_length=max_length,
                                    model_kwargs={"dtype": torch.float32},
                                    activation_fn=torch.nn.Identity(), **kw)

            if path is not None:
                self._model = loader(str(path), device="cpu")
            else:
                self._model = _load_hub_model(loader, name, cached)
        except ModelError:
            raise
        except Exception as exc:  # any loader failure becomes one readable line
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"cannot load reranker {name!r}: {first}") from None

    def score(self, question: str, passages: Sequence[str]) -> np.ndarray:
        import numpy as np

        if not passages:
            return np.zeros(0, dtype=np.float32)
        logits = self._model.predict([(question, p) for p in passages],
                                     batch_size=max(1, len(passages)),
                                     show_progress_bar=False, convert_to_numpy=True)
        return np.asarray(logits, dtype=np.float32).reshape(-1)
