"""The FAISS vector store (the default backend of :class:`index.storage.stores.base.VectorStore`).

Vectors are L2-normalised, so FAISS's inner product *is* cosine similarity. Units of one
document are stored contiguously, so a document filter is an id range: a small range is
searched exactly over its own vectors, a large one with ``IDSelectorRange``; never a scan
of everything.

The index type follows the corpus size (docs/performance.md has the measurements): exact
``IndexFlatIP`` up to ``FLAT_LIMIT`` vectors, above that ``IndexIVFFlat`` with ``nlist`` and
``nprobe`` chosen from the size. HNSW is available on request; on 2 cores it builds far
slower than IVF for the same recall and latency.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from index.storage.stores.base import (
    EXACT_RANGE_LIMIT,
    choose_kind,
    hnsw_params,
    ivf_params,
    range_boost,
    scaled_probes,
)

if TYPE_CHECKING:
    import faiss
    import numpy as np

log = logging.getLogger(__name__)

# IVF training sample: this many vectors per list (FAISS warns below 39).
TRAIN_PER_LIST = 64


def _faiss() -> Any:
    """Import faiss lazily (its stubs lag behind its API, hence ``Any``), with the
    configured thread count."""
    from index.modelling.threads import faiss_module

    return faiss_module()


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Search one query on the calling thread only.

    Waking OpenMP workers costs more than a single query's work on 2 cores (measured:
    exact search of 20k vectors 1.8 ms on one thread, 16 ms on two). The setting is per
    calling thread, so concurrent builds keep their threads.
    """
    faiss = _faiss()
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


class FaissStore:
    """FAISS index of normalised vectors searched by inner product (= cosine)."""

    def __init__(self, index: faiss.Index, kind: str, params: dict[str, Any]) -> None:
        self.index = index
        self.kind = kind
        self.params = params

    @classmethod
    def build(cls, vectors: np.ndarray, kind: str = "auto") -> FaissStore:
        """Index ``vectors`` (rows already L2-normalised, float32)."""
        import numpy as np

        faiss = _faiss()

        count, dim = vectors.shape
        kind = choose_kind(count, kind)
        params: dict[str, Any] = {}
        index: Any
        if kind == "flat":
            index = faiss.IndexFlatIP(dim)
        elif kind == "hnsw":
            params = hnsw_params(count)
            index = faiss.IndexHNSWFlat(dim, params["M"], faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = params["efConstruction"]
            index.hnsw.efSearch = params["efSearch"]
        elif kind == "ivf":
            params = ivf_params(count)
            quantizer = faiss.IndexFlatIP(dim)
            index = faiss.IndexIVFFlat(quantizer, dim, params["nlist"],
                                       faiss.METRIC_INNER_PRODUCT)
            # Train on a sample spread over the whole corpus: units of one document are
            # contiguous, so the first rows would cover only the first documents.
            take = min(count, TRAIN_PER_LIST * params["nlist"])
            sample = np.random.default_rng(0).choice(count, take, replace=False) \
                if take < count else np.arange(count)
            index.train(np.ascontiguousarray(vectors[np.sort(sample)]))
            index.nprobe = params["nprobe"]
        else:
            raise ValueError(f"unknown FAISS index kind {kind!r}")
        if count:
            index.add(vectors)
        if kind == "ivf":
            index.make_direct_map()  # reconstruct by id: rescoring and embedding reuse
        return cls(index, kind, params)

    @classmethod
    def load(cls, path: Path, kind: str, params: dict[str, Any], mmap: bool = False) -> FaissStore:
        """Read an index written by :meth:`save` (memory-mapped when ``mmap``)."""
        faiss = _faiss()

        flags = 0
        if mmap:
            # Flat vectors (also HNSW's storage) map with MMAP_IFC, inverted lists with MMAP;
            # FAISS refuses both at once for IVF.
            flags = faiss.IO_FLAG_READ_ONLY | (faiss.IO_FLAG_MMAP if kind == "ivf"
                                               else faiss.IO_FLAG_MMAP_IFC)
        index = faiss.read_index(str(path), flags)
        if kind == "hnsw" and "efSearch" in params:
            faiss.downcast_index(index).hnsw.efSearch = int(params["efSearch"])
        if kind == "ivf":
            ivf = faiss.extract_index_ivf(index)
            if "nprobe" in params:
                ivf.nprobe = int(params["nprobe"])
            if ivf.direct_map.type == faiss.DirectMap.NoMap:
                ivf.make_direct_map()  # an index written without one (it only reads ids)
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
        k = max(1, min(k, len(self) if id_range is None else id_range[1] - id_range[0]))
        with _one_thread():
            if id_range is None:
                return self.index.search(queries, k)
            lo, hi = id_range
            if self.kind == "flat" or hi - lo <= EXACT_RANGE_LIMIT:
                return self._search_exact(queries, k, lo, hi)
            return self._search_selected(queries, k, lo, hi)

    def _search_exact(self, queries: np.ndarray, k: int, lo: int, hi: int
                      ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k over ids ``lo``..``hi - 1``, reading only that range's vectors."""
        faiss = _faiss()

        scores, ids = faiss.knn(queries, self._range(lo, hi), k, faiss.METRIC_INNER_PRODUCT)
        return scores, ids + lo

    def _search_selected(self, queries: np.ndarray, k: int, lo: int, hi: int
                         ) -> tuple[np.ndarray, np.ndarray]:
        faiss = _faiss()

        selector = faiss.IDSelectorRange(lo, hi)
        probes = scaled_probes(self.kind, self.params, range_boost(len(self), lo, hi))
        if self.kind == "hnsw":
            params: Any = faiss.SearchParametersHNSW(sel=selector, efSearch=probes)
        elif self.kind == "ivf":
            params = faiss.SearchParametersIVF(sel=selector, nprobe=probes)
        else:
            params = faiss.SearchParameters(sel=selector)
        return self.index.search(queries, k, params=params)

    def _range(self, lo: int, hi: int) -> np.ndarray:
        """The vectors of ids ``lo``..``hi - 1``.

        For flat indexes this is a view into the index's memory, valid only while the index
        lives: use it at once, never hand it out.
        """
        import numpy as np

        faiss = _faiss()

        if self.kind == "flat":
            index: Any = self.index
            flat = faiss.rev_swig_ptr(index.get_xb(), len(self) * self.dimension)
            return flat.reshape(len(self), self.dimension)[lo:hi]
        # reconstruct_batch goes through the direct map, one lookup per id;
        # IndexIVF.reconstruct_n would walk every inverted list instead.
        return self.vectors(np.arange(lo, hi, dtype=np.int64))

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """Return the stored vectors of ``ids``."""
        import numpy as np

        ids = np.asarray(ids, dtype=np.int64)
        if not len(ids):
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self.index.reconstruct_batch(ids)

    def save(self, path: Path) -> None:
        faiss = _faiss()

        faiss.write_index(self.index, str(path))
