"""The vector store: a small interface in front of FAISS.

Vectors are L2-normalised, so FAISS's inner product *is* cosine similarity. Units of one
document are stored contiguously, so a document filter is an id range (``IDSelectorRange``)
and never a scan of everything.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import faiss
    import numpy as np

log = logging.getLogger(__name__)

# Exact search is fast enough below this many vectors (about 1.5 ms for 384 dims on 2 cores).
FLAT_LIMIT = 200_000


def _faiss() -> Any:
    """Import faiss lazily (its stubs lag behind its API, hence ``Any``)."""
    import faiss

    return faiss


class VectorStore(Protocol):
    """What the search needs from a vector index."""

    kind: str
    params: dict[str, Any]

    def __len__(self) -> int: ...

    def search(
        self, queries: np.ndarray, k: int, id_range: tuple[int, int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def vectors(self, ids: np.ndarray) -> np.ndarray: ...

    def save(self, path: Path) -> None: ...


def choose_kind(count: int, requested: str = "auto") -> str:
    """Pick the FAISS index type for ``count`` vectors (``requested`` overrides ``auto``)."""
    if requested != "auto":
        return requested
    return "flat" if count <= FLAT_LIMIT else "hnsw"


class FaissStore:
    """FAISS index of normalised vectors searched by inner product (= cosine)."""

    def __init__(self, index: faiss.Index, kind: str, params: dict[str, Any]) -> None:
        self.index = index
        self.kind = kind
        self.params = params

    @classmethod
    def build(cls, vectors: np.ndarray, kind: str = "auto") -> FaissStore:
        """Index ``vectors`` (rows already L2-normalised, float32)."""
        faiss = _faiss()

        count, dim = vectors.shape
        kind = choose_kind(count, kind)
        params: dict[str, Any] = {}
        index: Any
        if kind == "flat":
            index = faiss.IndexFlatIP(dim)
        elif kind == "hnsw":
            params = {"M": 32, "efConstruction": 80, "efSearch": 64}
            index = faiss.IndexHNSWFlat(dim, params["M"], faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = params["efConstruction"]
            index.hnsw.efSearch = params["efSearch"]
        elif kind == "ivf":
            nlist = max(1, min(65536, int(4 * count**0.5)))
            params = {"nlist": nlist, "nprobe": max(1, min(nlist, nlist // 16 or 1))}
            quantizer = faiss.IndexFlatIP(dim)
            index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
            index.train(vectors[: min(count, 256 * nlist)])
            index.nprobe = params["nprobe"]
        else:
            raise ValueError(f"unknown FAISS index kind {kind!r}")
        if count:
            index.add(vectors)
        return cls(index, kind, params)

    @classmethod
    def load(cls, path: Path, kind: str, params: dict[str, Any], mmap: bool = False) -> FaissStore:
        """Read an index written by :meth:`save` (memory-mapped when ``mmap``)."""
        faiss = _faiss()

        flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mmap else 0
        index = faiss.read_index(str(path), flags)
        if kind == "hnsw" and "efSearch" in params:
            faiss.downcast_index(index).hnsw.efSearch = int(params["efSearch"])
        if kind == "ivf" and "nprobe" in params:
            faiss.extract_index_ivf(index).nprobe = int(params["nprobe"])
        return cls(index, kind, params)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @property
    def dimension(self) -> int:
        return int(self.index.d)

    def search(
        self, queries: np.ndarray, k: int, id_range: tuple[int, int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return (scores, ids) of the ``k`` nearest vectors, optionally within an id range."""
        faiss = _faiss()

        k = max(1, min(k, len(self) if id_range is None else id_range[1] - id_range[0]))
        if id_range is None:
            scores, ids = self.index.search(queries, k)
        else:
            selector = faiss.IDSelectorRange(id_range[0], id_range[1])
            if self.kind == "hnsw":
                search_params: Any = faiss.SearchParametersHNSW(
                    sel=selector, efSearch=int(self.params.get("efSearch", 64))
                )
            elif self.kind == "ivf":
                search_params = faiss.SearchParametersIVF(
                    sel=selector, nprobe=int(self.params.get("nprobe", 1))
                )
            else:
                search_params = faiss.SearchParameters(sel=selector)
            scores, ids = self.index.search(queries, k, params=search_params)
        return scores, ids

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """Return the stored vectors of ``ids``."""
        import numpy as np

        out = np.empty((len(ids), self.dimension), dtype=np.float32)
        for row, uid in enumerate(ids):
            out[row] = self.index.reconstruct(int(uid))
        return out

    def save(self, path: Path) -> None:
        faiss = _faiss()

        faiss.write_index(self.index, str(path))
