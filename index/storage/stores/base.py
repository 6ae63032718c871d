"""What the search needs from a vector store, and what its backends share.

Two backends implement :class:`VectorStore`: FAISS (``faiss.py``, the default) and Milvus
(``milvus.py``). Both hold L2-normalised vectors searched by inner product, which for
normalised vectors *is* cosine similarity, and both pick the index kind the same way
(docs/performance.md has the measurements): exact up to ``FLAT_LIMIT`` vectors, IVF above,
HNSW on request.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np

# Exact search of one query over this many 384-d vectors takes about 4 ms on one core
# (measured: 1.8 ms at 20k, 9.6 ms at 100k), so exact stays within the 5 ms budget.
FLAT_LIMIT = 50_000
# A document filter over at most this many units is searched exactly, whatever the index
# (at 1M units: 0.3 ms for 2k units, 2.5 ms for 10k). Wider ranges use IDSelectorRange with
# the probes scaled up by the range's share of the corpus, times a margin for questions far
# from the document: FAISS computes distances only for ids in the range, so the cost stays
# near that of an unfiltered search (docs/performance.md).
EXACT_RANGE_LIMIT = 10_000
RANGE_PROBE_FACTOR = 2
# The widest HNSW search a filter may ask for.
MAX_EF = 4096
KINDS = ("auto", "flat", "hnsw", "ivf")


class VectorStore(Protocol):
    """What the search needs from a vector index: FAISS (index/storage/stores/faiss.py)
    or Milvus (index/storage/stores/milvus.py)."""

    kind: str
    params: dict[str, Any]

    def __len__(self) -> int: ...

    @property
    def dimension(self) -> int: ...

    def search(
        self, queries: np.ndarray, k: int, id_range: tuple[int, int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def vectors(self, ids: np.ndarray) -> np.ndarray: ...

    def save(self, path: Path) -> None: ...


def range_boost(count: int, lo: int, hi: int) -> float:
    """How many times more to probe for a search within ids ``lo``..``hi - 1`` of ``count``.

    A range is a share of the corpus: probe proportionally more (and a margin more, for
    questions far from the document) so enough in-range candidates are scored."""
    return RANGE_PROBE_FACTOR * count / max(1, hi - lo)


def scaled_probes(kind: str, params: dict[str, Any], boost: float) -> int | None:
    """The IVF lists (at most all of them) or HNSW ``efSearch`` (at most ``MAX_EF``) of a
    search probing ``boost`` times the usual; ``math.inf``: the widest search. None: flat."""
    if kind == "ivf":
        nprobe = int(params.get("nprobe", 1))
        return math.ceil(min(int(params.get("nlist", nprobe)), nprobe * boost))
    if kind == "hnsw":
        return math.ceil(min(MAX_EF, int(params.get("efSearch", 64)) * boost))
    return None


def choose_kind(count: int, requested: str = "auto") -> str:
    """Pick the FAISS index type for ``count`` vectors (``requested`` overrides ``auto``)."""
    if requested != "auto":
        return requested
    return "flat" if count <= FLAT_LIMIT else "ivf"


def ivf_params(count: int) -> dict[str, int]:
    """IVF lists and probes for ``count`` vectors: about 2·√n lists, 1/64 of them probed."""
    nlist = 2 ** round(math.log2(max(1.0, 2 * math.sqrt(max(count, 1)))))
    nlist = max(1, min(nlist, 16384, count // 39 or 1))
    return {"nlist": nlist, "nprobe": max(1, min(nlist, max(16, nlist // 64)))}


def hnsw_params(count: int) -> dict[str, int]:
    """HNSW graph parameters (fixed: the search breadth matters more than the size)."""
    return {"M": 32, "efConstruction": 80, "efSearch": 96}
