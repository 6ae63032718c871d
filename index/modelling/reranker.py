"""The second stage: a cross-encoder reads the question and each top candidate together,
and a small calibrated model turns its score (and the first stage's signals) into the
probability that the sentence answers the question.

The bundled reranker was trained by the project itself (``python -m training.reranker``,
see ``index/models/reranker/card.json``) from the bundled all-MiniLM-L6-v2 weights, and is
verified on load against its sha256 pinned in ``index/models/pins.json``; it needs no
network. ``QABOT_RERANKER`` chooses it (``bundled``, the default), turns reranking off
(``none``), or names any sentence-transformers CrossEncoder (a hub name or a local folder).

A calibration is a logistic model over named signals, fitted on training data only
(``python -m training.calibrate``), with the threshold chosen on data of another source
than the sets quality is reported on: ``calibration.json`` beside the bundled reranker, and
``first-stage.json`` for the pipeline without one. Another CrossEncoder uses a
``calibration.json`` in its folder when it has one, else its own sigmoid with 0.5.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from index.errors import ModelError
from index.modelling.calibration import OWN_SIGMOID, Calibration
from index.modelling.pins import MODELS_DIR, pinned

if TYPE_CHECKING:
    import numpy as np

    from index.modelling.phrase import SpanReading

log = logging.getLogger(__name__)

BUNDLED = "bundled"
NONE = "none"
BUNDLED_DIR = MODELS_DIR / "reranker"
BUNDLED_WEIGHTS = "model.safetensors"
CALIBRATION = "calibration.json"


def bundled_calibration() -> Calibration:
    """The calibration of the bundled reranker (either runtime)."""
    return Calibration.load(BUNDLED_DIR / CALIBRATION)


def verify_bundled(path: Path) -> str:
    """Check the bundled reranker's weights against their sha256; return it."""
    from index.files import sha256_file

    weights = path / BUNDLED_WEIGHTS
    try:
        digest = sha256_file(weights)
    except OSError:
        raise ModelError(f"bundled reranker weights missing: {weights}; reinstall qabot") from None
    if digest != pinned("reranker"):
        raise ModelError(f"bundled reranker weights {weights} fail the sha256 check; "
                         "reinstall qabot")
    return digest


def _span_head(path: Path | None, *, bundled: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """The span head beside a reranker's weights (weight [2, hidden], bias [2]), if it has
    one; the bundled one is checked against its pinned sha256 first."""
    from index.modelling.phrase import SPAN_HEAD

    head = path / SPAN_HEAD if path is not None else None
    if head is None or not head.is_file():
        return None
    if bundled:
        from index.files import sha256_file

        if sha256_file(head) != pinned("reranker-span"):
            raise ModelError(f"bundled reranker span head {head} fails the sha256 check; "
                             "reinstall qabot")
    try:
        from safetensors.numpy import load_file

        tensors = load_file(str(head))
        return tensors["weight"].astype("float32"), tensors["bias"].astype("float32")
    except Exception as exc:  # a damaged or foreign file: one readable line
        raise ModelError(f"cannot load the reranker's span head {head}: {exc}") from None


class CrossEncoderReranker:
    """A sentence-transformers CrossEncoder on the CPU, returning raw logits."""

    runtime = "torch"

    def __init__(self, name: str, *, max_length: int = 128, threads: int | None = None
                 ) -> None:
        from index.modelling.embedder import (
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
        self._span = _span_head(path, bundled=name == BUNDLED)

    @property
    def reads_phrases(self) -> bool:
        """True when the reranker has a span head: :meth:`score_spans` gives phrases."""
        return self._span is not None

    def score_spans(self, question: str, passages: Sequence[str]
                    ) -> tuple[np.ndarray, list[SpanReading] | None]:
        """Each passage's logit and, with a span head, what it read of where the answer
        phrase lies: one forward pass for both, as the ONNX export does."""
        import numpy as np

        if self._span is None or not passages:
            return self.score(question, passages), None
        import torch

        from index.modelling.phrase import SpanReading

        tokenizer = self._model.tokenizer
        enc = tokenizer([question] * len(passages), list(passages), padding=True,
                        truncation="longest_first", max_length=self._model.max_length,
                        return_tensors="pt", return_offsets_mapping=True)
        offsets = enc.pop("offset_mapping").tolist()
        with torch.no_grad():
            out = self._model.model(**enc, output_hidden_states=True)
        weight, bias = self._span
        ends = out.hidden_states[-1].float().numpy() @ weight.T + bias  # [pairs, tokens, 2]
        readings = [SpanReading.of(ends[i, :, 0], ends[i, :, 1], enc.sequence_ids(i),
                                   [tuple(o) for o in offsets[i]])
                    for i in range(len(passages))]
        return np.asarray(out.logits.float().numpy(), dtype=np.float32).reshape(-1), readings

    def score(self, question: str, passages: Sequence[str]) -> np.ndarray:
        import numpy as np

        if not passages:
            return np.zeros(0, dtype=np.float32)
        logits = self._model.predict([(question, p) for p in passages],
                                     batch_size=max(1, len(passages)),
                                     show_progress_bar=False, convert_to_numpy=True)
        return np.asarray(logits, dtype=np.float32).reshape(-1)
