"""The question path without torch: the bundled encoder and reranker on ONNX Runtime.

An *export* is a folder holding ``model.onnx`` (the whole sentence-transformers pipeline as
one graph: token ids in, a sentence embedding or a logit out), the model's
``tokenizer.json`` and ``export.json``, which says what it was made from (the source
weights' sha256), how it tokenizes (maximum length), and how close it came to the torch
model when it was made (``python -m training.export``, which refuses to write an export
whose vectors have a cosine below :data:`MIN_COSINE` to the torch ones). The bundled exports
ship inside the package and are verified on load against the sha256 pinned in
``index/models/pins.json`` (:mod:`index.modelling.pins`), like the models themselves.

Sentence-transformers (torch) stays the reference, the path for training and for any
configured model that has no export; ``QABOT_RUNTIME=torch`` chooses it for the bundled
models too. An export reports the source model's name and fingerprint, so an index built
on either runtime is answered by the other (their vectors agree to a cosine ≥ 0.999).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import index.modelling.pins as pins
from index.errors import ModelError
from index.modelling.pins import MODELS_DIR
from index.wording import plural

if TYPE_CHECKING:
    import numpy as np

    from index.modelling.calibration import Calibration
    from index.modelling.phrase import SpanReading

log = logging.getLogger(__name__)

ENCODER_EXPORT = MODELS_DIR / "encoder-onnx"
RERANKER_EXPORT = MODELS_DIR / "reranker-onnx"
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
EXPORT_FILE = "export.json"
MIN_COSINE = 0.999
SPAN_OUTPUTS = ("start_logits", "end_logits")  # a reranker's span head (index.modelling.phrase)


@dataclass(frozen=True)
class ExportInfo:
    """What ``export.json`` says about an export."""

    kind: str  # "encoder" or "reranker"
    name: str  # the source model's name, as the index records it
    source_sha256: str  # the source weights: the fingerprint an index records
    onnx_sha256: str
    max_length: int
    dimension: int  # the embedding's (encoder) or 1 (reranker)
    inputs: tuple[str, ...]
    # The graph's outputs: a reranker with a span head adds start and end logits per token.
    outputs: tuple[str, ...] = ("logit",)

    @classmethod
    def read(cls, folder: Path) -> ExportInfo:
        path = folder / EXPORT_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            info = cls(kind=str(data["kind"]), name=str(data["source"]["name"]),
                       source_sha256=str(data["source"]["weights_sha256"]),
                       onnx_sha256=str(data["onnx_sha256"]),
                       max_length=int(data["max_length"]), dimension=int(data["dimension"]),
                       inputs=tuple(str(i) for i in data["inputs"]),
                       outputs=tuple(str(o) for o in data.get("outputs", ["logit"])))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"ONNX export {folder} cannot be read ({exc}); reinstall qabot "
                             f"or set QABOT_RUNTIME=torch") from None
        if info.kind not in {"encoder", "reranker"} or info.max_length < 1 or \
                info.dimension < 1 or not set(info.inputs) <= {
                    "input_ids", "attention_mask", "token_type_ids"} or \
                not set(info.outputs) <= {"logit", "embedding", *SPAN_OUTPUTS}:
            raise ModelError(f"ONNX export {folder}: export.json is malformed; reinstall "
                             f"qabot or set QABOT_RUNTIME=torch")
        return info


def _session_options(threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Threads that spin while idle steal the core another process needs: a shared machine.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


class _Export:
    """An export's tokenizer and ONNX Runtime session, loaded and verified on first use."""

    def __init__(self, folder: Path, *, kind: str, pinned: str, threads: int) -> None:
        self.folder = folder
        self.info = ExportInfo.read(folder)
        if self.info.kind != kind:
            raise ModelError(f"ONNX export {folder} is a {self.info.kind}, not a {kind}")
        if pinned and self.info.onnx_sha256 != pinned:
            raise ModelError(f"ONNX export {folder} is not the one this qabot ships; "
                             f"reinstall qabot or set QABOT_RUNTIME=torch")
        self.threads = threads
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any] | None = None
        self._loader: threading.Thread | None = None

    def start_loading(self) -> None:
        """Load in a background thread (the one-shot ask reads its index meanwhile); the
        first use waits for it, and raises what it raised.

        The thread is not a daemon: a process that exits while ONNX Runtime is still making
        its session (the index failed to load) must wait for it, since tearing the
        interpreter down under that native work aborts ("terminate called without an
        active exception", exit 134). :meth:`finish_loading` waits for it explicitly.
        """
        if self._loaded is None and self._loader is None:
            # Imported here, on the calling thread: a C extension (numpy under them) imported
            # by two threads at once can fail half-initialised, and the caller goes on to
            # import faiss and scipy, which need numpy too.
            import numpy  # noqa: F401
            import onnxruntime  # noqa: F401
            import tokenizers  # noqa: F401

            self._loader = threading.Thread(target=self._load_quietly,
                                            name=f"load-{self.info.kind}", daemon=False)
            self._loader.start()

    def finish_loading(self) -> None:
        """Wait for a background load to end (loaded or failed); at once if none runs."""
        if self._loader is not None:
            self._loader.join()

    def _load_quietly(self) -> None:
        try:
            self.loaded()
        except Exception as exc:  # the caller's loaded() loads again and raises it
            log.debug("background load of %s failed: %r", self.folder, exc)

    def loaded(self) -> tuple[Any, Any]:
        """(tokenizer, session), loading them the first time."""
        if self._loaded is None:
            with self._lock:
                if self._loaded is None:
                    self._loaded = self._load()
        return self._loaded

    def _load(self) -> tuple[Any, Any]:
        from concurrent.futures import ThreadPoolExecutor

        from index.files import sha256_file
        from index.modelling.verified import known_good, remember

        model = self.folder / MODEL_FILE
        log.info("loading %s %s (ONNX Runtime, %s)", self.info.kind, self.info.name,
                 plural(self.threads, "thread"))
        if known_good(model, self.info.onnx_sha256):  # hashed before, unchanged since
            return self._open(model)
        with ThreadPoolExecutor(1) as pool:  # hashing releases the GIL: beside the loading
            digest = pool.submit(sha256_file, model)
            try:
                opened: tuple[Any, Any] | ModelError = self._open(model)
            except ModelError as exc:  # a changed file: the sha256 check says so first
                opened = exc
            try:
                verified = digest.result() == self.info.onnx_sha256
            except OSError as exc:
                raise ModelError(f"ONNX export {model} cannot be read ({exc.strerror})"
                                 ) from None
        if not verified:  # the session, if any, is dropped unused
            raise ModelError(f"ONNX export {model} fails the sha256 check; reinstall qabot or "
                             f"set QABOT_RUNTIME=torch")
        if isinstance(opened, ModelError):
            raise opened
        remember(model, self.info.onnx_sha256)
        return opened

    def _open(self, model: Path) -> tuple[Any, Any]:
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(self.folder / TOKENIZER_FILE))
            tokenizer.enable_truncation(max_length=self.info.max_length,
                                        strategy="longest_first")
            tokenizer.no_padding()
            session = ort.InferenceSession(str(model), _session_options(self.threads),
                                           providers=["CPUExecutionProvider"])
        except Exception as exc:  # any loader failure becomes one readable line
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"cannot load ONNX export {self.folder}: {first}") from None
        return tokenizer, session

    def run(self, encodings: Sequence[Any]) -> np.ndarray:
        """Run the graph on tokenized inputs, padded to the longest of them: its first
        output."""
        return self.run_all(encodings)[0]

    def run_all(self, encodings: Sequence[Any]) -> list[np.ndarray]:
        """Every output of the graph on tokenized inputs, padded to the longest of them."""
        import numpy as np

        _, session = self.loaded()
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        types = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            ids[row, :n] = enc.ids
            mask[row, :n] = 1
            types[row, :n] = enc.type_ids
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        return [np.asarray(o) for o in session.run(None, {k: feed[k] for k in self.info.inputs})]


class OnnxEmbedder:
    """An encoder export: the same vectors as the torch model it was made from.

    Name, fingerprint and dimension come from ``export.json``, so an unchanged corpus is
    recognised before the graph loads (and it never needs to).
    """

    def __init__(self, folder: Path = ENCODER_EXPORT, *, threads: int = 1,
                 pinned: str | None = None) -> None:
        self._export = _Export(folder, kind="encoder", threads=threads,
                               pinned=pins.pinned("encoder-onnx") if pinned is None else pinned)
        info = self._export.info
        self.name = info.name
        self.fingerprint = info.source_sha256
        self.dimension = info.dimension
        self.runtime = "onnx"

    def load(self) -> None:
        """Load (and verify) the graph now rather than on the first encode."""
        self._export.loaded()

    def start_loading(self) -> None:
        self._export.start_loading()

    def finish_loading(self) -> None:
        self._export.finish_loading()

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        import numpy as np

        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        tokenizer, _ = self._export.loaded()
        encodings = tokenizer.encode_batch([str(t).strip() for t in texts])
        # Longest first, like sentence-transformers: each batch pads to similar lengths.
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        bar = _progress(len(texts), progress)
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            vectors = self._export.run([encodings[i] for i in rows])
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            out[rows] = vectors / np.maximum(norms, 1e-12)
            if bar is not None:
                bar.update(len(rows))
        if bar is not None:
            bar.close()
        return out


class OnnxReranker:
    """A reranker export: the logits of the CrossEncoder it was made from."""

    def __init__(self, folder: Path = RERANKER_EXPORT, *, calibration: Calibration,
                 threads: int = 1, pinned: str | None = None, name: str = "bundled") -> None:
        self._export = _Export(folder, kind="reranker", threads=threads,
                               pinned=pins.pinned("reranker-onnx") if pinned is None
                               else pinned)
        self.name = name
        self.fingerprint = self._export.info.source_sha256
        self.calibration = calibration
        self.runtime = "onnx"

    def load(self) -> None:
        self._export.loaded()

    def start_loading(self) -> None:
        self._export.start_loading()

    def finish_loading(self) -> None:
        self._export.finish_loading()

    @property
    def reads_phrases(self) -> bool:
        """True when the graph has a span head: :meth:`score_spans` gives phrases."""
        return set(SPAN_OUTPUTS) <= set(self._export.info.outputs)

    def score(self, question: str, passages: Sequence[str]) -> np.ndarray:
        return self.score_spans(question, passages)[0]

    def score_spans(self, question: str, passages: Sequence[str]
                    ) -> tuple[np.ndarray, list[SpanReading] | None]:
        """Each passage's logit and, with a span head, what it read of where the answer
        phrase lies (one pass for both)."""
        import numpy as np

        from index.modelling.phrase import SpanReading

        if not passages:
            return np.zeros(0, dtype=np.float32), None
        tokenizer, _ = self._export.loaded()
        encodings = tokenizer.encode_batch([(question, p) for p in passages])
        names = self._export.info.outputs
        spans = self.reads_phrases
        logits, readings = [], []
        # One pair a run: no padding to the longest (10 pairs: 127 ms against 155 ms batched).
        for e in encodings:
            out = self._export.run_all([e])
            logits.append(float(out[names.index("logit")].reshape(-1)[0]))
            if spans:
                readings.append(SpanReading.of(
                    out[names.index("start_logits")][0], out[names.index("end_logits")][0],
                    e.sequence_ids, e.offsets))
        return np.array(logits, dtype=np.float32), readings if spans else None


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm comes with sentence-transformers; without it, no bar
        return None
    return tqdm(total=total, desc="Encoding", unit="text")
