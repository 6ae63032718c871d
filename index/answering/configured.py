"""The models an engine answers with, as the settings choose them: the encoder, the
reranker (loaded on first use), the calibration and the ranking they make.

:class:`index.answering.engine.Engine` is a :class:`ConfiguredModels` with an index loaded;
the part here knows nothing of the index. :func:`default_embedder` and
:func:`default_reranker` choose a model and its runtime from the settings.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from index.answering.ranking import Ranking, Reranker, Weights
from index.errors import ModelError
from index.modelling.calibration import Calibration, first_stage_calibration
from index.modelling.reranker import BUNDLED, NONE
from index.modelling.threads import Purpose, apply_threads, thread_count

if TYPE_CHECKING:
    from config import Settings
    from index.modelling.embedder import Embedder


def default_embedder(settings: Settings, purpose: Purpose = "answer") -> Embedder:
    """The configured embedding model: the bundled one on ONNX Runtime (no torch) unless
    ``QABOT_RUNTIME=torch``; any other model on sentence-transformers (heavy: imports torch).
    """
    from index.modelling.embedder import BUNDLED_NAMES

    threads = thread_count(settings, purpose)
    apply_threads(threads)
    if settings.model in BUNDLED_NAMES and settings.runtime != "torch":
        from index.modelling.onnx_runtime import OnnxEmbedder

        return OnnxEmbedder(threads=threads)
    from index.modelling.embedder import SentenceTransformerEmbedder

    with _setting_names("QABOT_MODEL"):
        return SentenceTransformerEmbedder(settings.model, threads=threads)


def default_reranker(settings: Settings, purpose: Purpose = "answer") -> Reranker | None:
    """The configured reranker, or None when ``QABOT_RERANKER=none``; the bundled one on ONNX
    Runtime unless ``QABOT_RUNTIME=torch``, any other on torch."""
    if settings.reranker == NONE:
        return None
    threads = thread_count(settings, purpose)
    if settings.reranker == BUNDLED and settings.runtime != "torch":
        from index.modelling.onnx_runtime import OnnxReranker
        from index.modelling.reranker import bundled_calibration

        return OnnxReranker(calibration=bundled_calibration(), threads=threads)
    from index.modelling.reranker import CrossEncoderReranker

    with _setting_names("QABOT_RERANKER"):
        return CrossEncoderReranker(settings.reranker, threads=threads)


_CHOICES = {"QABOT_MODEL": "all-MiniLM-L6-v2 (bundled), a local folder or a model in the "
                           "Hugging Face cache",
            "QABOT_RERANKER": "bundled, none, a local folder or a CrossEncoder in the Hugging "
                              "Face cache"}


@contextlib.contextmanager
def _setting_names(setting: str) -> Iterator[None]:
    """A model the user configured that cannot be loaded (an empty folder, a bad config, a
    FIFO) is a bad setting: one line naming it, exit 2, as when it is not to be had."""
    from index.modelling.embedder import ModelUnavailable

    try:
        yield
    except ModelUnavailable:
        raise
    except ModelError as exc:
        raise ModelUnavailable(f"{setting}: {str(exc).rstrip('.')}; set {setting} to "
                               f"{_CHOICES[setting]}") from None


# The reranker argument that means the configured one (default_reranker), loaded on first use.
CONFIGURED = "default"


class ConfiguredModels:
    """The encoder, the reranker and the calibration an engine answers with.

    ``reranker`` defaults to the configured one (:func:`default_reranker`), loaded on first
    use; pass None for the first stage alone. ``calibration`` replaces the one that comes
    with the reranker (or the first stage's).
    """

    def __init__(self, settings: Settings, embedder: Embedder,
                 weights: Weights | None = None,
                 reranker: Reranker | None | str = CONFIGURED,
                 calibration: Calibration | None = None) -> None:
        self.settings = settings
        self.embedder = embedder
        self.weights = weights or Weights()
        self._reranker = reranker
        self._reranker_lock = threading.Lock()
        self._calibration = calibration

    @property
    def reranker(self) -> Reranker | None:
        """The second stage (loaded on first use), or None."""
        if isinstance(self._reranker, str):
            with self._reranker_lock:
                if isinstance(self._reranker, str):
                    self._reranker = default_reranker(self.settings)
        return self._reranker

    @property
    def calibration(self) -> Calibration:
        """What turns the signals of the best passage into the answer's confidence."""
        if self._calibration is None:
            reranker = self.reranker
            self._calibration = (reranker.calibration if reranker is not None
                                 else first_stage_calibration())
        return self._calibration

    @property
    def ranking(self) -> Ranking:
        """The pipeline that answers (:mod:`index.answering.ranking`), as configured."""
        return Ranking(self.weights, self.reranker, self.calibration,
                       self.settings.rerank_depth, self.settings.answer_threshold,
                       self.settings.likely_threshold)

    @property
    def threshold(self) -> float:
        """The confidence at or above which qabot answers: the setting, else calibrated."""
        return self.ranking.answer_threshold

    @property
    def likely_threshold(self) -> float:
        """The confidence at or above which qabot gives its best passage as a likely answer
        (never above :attr:`threshold`): the setting, else calibrated."""
        return self.ranking.likely_threshold

    def describe_models(self) -> str:
        """Which models answer, and on what: for "loading ..." lines and ``index info``."""
        reranker = self.settings.reranker
        parts = [self.embedder.name]
        if reranker != NONE:
            parts.append("qabot's reranker" if reranker == BUNDLED else reranker)
        runtime = getattr(self.embedder, "runtime", "")
        on = {"onnx": " (ONNX Runtime)", "torch": " (sentence-transformers)"}.get(runtime, "")
        return " and ".join(parts) + on

    def prefetch(self) -> None:
        """Start loading the models in the background, where they can (ONNX Runtime)."""
        for model in (self.embedder, self.reranker):
            start = getattr(model, "start_loading", None)
            if start is not None:
                start()

    def finish_loading(self) -> None:
        """Wait for the models :meth:`prefetch` started loading (before exiting on an error:
        native code must not be torn down mid-work)."""
        for model in (self.embedder, self._reranker):
            finish = getattr(model, "finish_loading", None)
            if finish is not None:
                finish()

    def warm_up(self) -> None:
        """Load the models now rather than on the first question."""
        for model in (self.embedder, self.reranker):
            load = getattr(model, "load", None)
            if load is not None:
                load()
