"""The vector stores: one interface (``base.py``), one module per backend, this factory.

FAISS (``faiss.py``) is the default; Milvus (``milvus.py``, ``QABOT_STORE=milvus``) is
imported only when it is configured or an index keeps its vectors there, so the FAISS path
never pays for pymilvus. Nothing heavy is imported here.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from index.storage.stores.base import VectorStore

if TYPE_CHECKING:
    import numpy as np

    from index.storage.manifest import Manifest
    from index.storage.stores.milvus import MilvusConfig

__all__ = ["VectorStore", "make_store", "open_store"]

log = logging.getLogger(__name__)


def make_store(vectors: np.ndarray, kind: str, milvus: MilvusConfig | None = None,
               alias: str | None = None, *, progress: bool = False) -> VectorStore:
    """Index ``vectors``: in FAISS, or in a new Milvus collection of ``alias``, complete."""
    if milvus is None or alias is None:
        from index.storage.stores.faiss import FaissStore

        return FaissStore.build(vectors, kind)
    from index.storage.stores.milvus import MilvusStore, new_collection_name, progress_bar

    count, dimension = vectors.shape
    store = MilvusStore.create(milvus, new_collection_name(alias), count, dimension, kind)
    try:
        with progress_bar(count, progress) as advance:
            store.write(vectors, on_batch=advance)
        store.finish(count)
    except BaseException:
        store.drop()
        raise
    log.info("wrote %d vectors to the Milvus collection %s", count, store.collection)
    return store


def open_store(manifest: Manifest, vectors: Path, *, mmap: bool = False,
               milvus: MilvusConfig | None = None) -> VectorStore:
    """The vectors ``manifest`` names: the Milvus collection when it keeps them there and
    ``milvus`` says how to reach it, else the FAISS file ``vectors`` (memory-mapped when
    ``mmap``)."""
    if manifest.milvus is not None and milvus is not None:
        from index.storage.stores.milvus import MilvusStore

        info = manifest.milvus
        return MilvusStore.open(milvus, info.collection, info.kind,
                                info.params.model_dump(exclude_none=True), manifest.units,
                                manifest.model.dimension)
    from index.storage.stores.faiss import FaissStore

    return FaissStore.load(vectors, manifest.faiss.kind,
                           manifest.faiss.params.model_dump(exclude_none=True), mmap=mmap)
