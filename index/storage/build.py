"""Building an index: units embedded (reusing unchanged vectors), written, published.

A rebuild reuses the vectors of units whose embedded text ("Title: text", or
"Title › Section: text" for a unit under a heading) is unchanged, when the model and its
weights are the same: only new or changed units are encoded. The files are written into a
build folder of their own and published as a new version (index/storage/versions.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import index.storage.versions as versions
from index.errors import IndexLoadError
from index.files import sha256_file, write_json
from index.modelling.lexical import Lexical
from index.modelling.lexical_build import build_lexical
from index.sources.documents import Document, builtin_article, embed_text
from index.sources.splitter import SPLITTER_SETTINGS
from index.storage.folder import (
    MANIFEST,
    PRODUCER,
    UNITS,
    VECTORS,
    check_not_nested,
    check_target,
    index_target,
    is_version_link,
    live_folder,
)
from index.storage.loading import IndexData, load_folder, load_lexical
from index.storage.manifest import EMBEDDING_SETTINGS, FORMAT_VERSION, source_label
from index.storage.stores import make_store

if TYPE_CHECKING:
    import numpy as np

    from index.modelling.embedder import Embedder
    from index.storage.stores import VectorStore
    from index.storage.stores.milvus import MilvusConfig, MilvusStore

log = logging.getLogger(__name__)


@dataclass
class BuildResult:
    """What a build did."""

    path: Path
    skipped: bool
    units: int
    documents: int
    seconds: float
    reason: str = ""
    messages: list[str] = field(default_factory=list)
    reused: int = 0  # units whose vectors came from the previous index
    encoded: int = 0  # units encoded by the model
    sources: list[str] = field(default_factory=list)  # as recorded (see source_label)


def build_index(
    documents: Sequence[Document],
    embedder: Embedder,
    index_dir: Path,
    *,
    force: bool = False,
    faiss_kind: str = "auto",
    batch_size: int = 64,
    progress: bool = False,
    on_encoded: Callable[[], None] | None = None,
    sources: Sequence[Path | str] | None = None,
    milvus: MilvusConfig | None = None,
) -> BuildResult:
    """Embed ``documents`` and write the index to ``index_dir`` atomically.

    A corpus unchanged since the last build (same model, weights and splitter), whose index
    passes every check ``ask`` makes, is skipped unless ``force``; otherwise only units
    whose embedded text is new are encoded, the others keep their vectors from the previous
    index (``force`` re-encodes everything). ``sources`` (what the documents were read
    from; default the built-in article) is recorded for ``:reindex``/``/reindex``.
    ``on_encoded`` is called between encoding and writing (tests use it to interrupt a
    build half-way). Builds of one folder run one at a time; a second one waits.

    With ``milvus`` the vectors go to a new Milvus collection, written in batches; the
    folder is switched once every row is counted there, then the alias, and the older
    collections are dropped. A failed build drops its collection: the previous one answers.
    """
    started = time.perf_counter()
    index_dir = Path(index_dir)
    labels = [source_label(s) for s in (sources or [builtin_article()])]
    corpus = corpus_hash(documents)
    units = [u for d in documents for u in d.units]
    check_not_nested(index_dir)  # before anything is written inside the other index
    with versions.writing(index_dir):
        target = index_target(index_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
    check_target(target, index_dir)
    with versions.build_lock(target, index_dir):
        # The version qabot's link names now: proven qabot's by the link even when its
        # manifest is gone, so the switch away from it may delete it.
        linked = Path(os.path.realpath(target)) if is_version_link(target) else None
        live = live_folder(target)
        alias = milvus.alias_for(target) if milvus is not None else None
        current = _current(index_dir, live, embedder, milvus)
        if not force and current is not None and _same_build(
                current.manifest, corpus, embedder.fingerprint, faiss_kind, labels, alias
        ) and _lexical_loads(current):
            if live != Path(os.path.realpath(target)):  # recovered: name it again
                with versions.writing(index_dir):
                    versions.point(target, versions.as_version(live, target))
            versions.cleanup(target, linked)  # what an interrupted build left
            _settle_milvus(milvus, alias, current.store)
            return BuildResult(index_dir, True, len(units), len(documents),
                               time.perf_counter() - started,
                               reason="corpus and model unchanged", sources=labels)
        versions.remove_stale_builds(target)  # their space first
        # Before encoding: a place that cannot be written fails now.
        with versions.writing(index_dir):
            tmp = versions.new_build_folder(target)
        store: VectorStore | None = None
        try:
            texts = [embed_text(u, d.title) for d in documents for u in d.units]
            previous = None if force else _previous_vectors(current, embedder)
            del current
            vectors, reused = _encode_reusing(texts, embedder, previous,
                                              batch_size=batch_size, progress=progress)
            del previous  # the old index's units and vectors: free them before indexing
            if on_encoded is not None:
                on_encoded()
            store = make_store(vectors, faiss_kind, milvus, alias, progress=progress)
            lexical = build_lexical([u.text for u in units])
            with versions.writing(index_dir):
                _write_build(tmp, documents, embedder, store, lexical, {
                    "corpus_hash": corpus, "sources": labels, "reused_vectors": reused,
                    "requested": faiss_kind, "started": started, "alias": alias})
                versions.publish(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            drop = getattr(store, "drop", None)
            if drop is not None:  # a Milvus collection no index names
                drop()
            raise
        versions.cleanup(target, linked)
        _settle_milvus(milvus, alias, store)
    return BuildResult(index_dir, False, len(units), len(documents),
                       time.perf_counter() - started, reused=reused,
                       encoded=len(units) - reused, sources=labels)


def corpus_hash(documents: Sequence[Document]) -> str:
    """Hash everything about the corpus that changes the index (names, ids, texts, sections,
    URLs, order).

    A section or URL is hashed only when there is one: a corpus without them hashes as it
    did before they existed, so its index is not rebuilt for nothing.
    """
    digest = hashlib.sha256()
    for doc in documents:
        digest.update(b"\x00doc\x00" + doc.name.encode() + b"\x00" + doc.title.encode())
        if doc.url:
            digest.update(b"\x00url\x00" + doc.url.encode())
        for unit in doc.units:
            digest.update(b"\x00u\x00" + unit.id.encode() + b"\x00" + unit.text.encode())
            if unit.section:
                digest.update(b"\x00s\x00" + unit.section.encode())
            if unit.url:
                digest.update(b"\x00url\x00" + unit.url.encode())
    return digest.hexdigest()


def text_key(text: str) -> bytes:
    """The content hash of an embedded text: equal texts share their vector."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def _previous_vectors(data: IndexData | None, embedder: Embedder
                      ) -> tuple[dict[bytes, int], VectorStore] | None:
    """Vectors of the previous index by content hash, if the same weights built it."""
    if data is None or not embedder.fingerprint:
        return None
    if data.manifest["model"].get("fingerprint") != embedder.fingerprint:
        return None  # an index without a fingerprint may be from other weights
    titles = {d.name: d.title for d in data.docs.values()}
    rows = {text_key(embed_text(u, titles.get(u.doc, ""))): i for i, u in enumerate(data.units)}
    return rows, data.store


def _encode_reusing(texts: Sequence[str], embedder: Embedder,
                    previous: tuple[dict[bytes, int], VectorStore] | None, *,
                    batch_size: int, progress: bool) -> tuple[np.ndarray, int]:
    """Encode ``texts``, taking unchanged ones from ``previous``; return the vectors and
    how many were reused."""
    import numpy as np

    if previous is None:
        return embedder.encode(texts, batch_size=batch_size, progress=progress), 0
    rows, old = previous
    found = np.fromiter((rows.get(text_key(t), -1) for t in texts), dtype=np.int64,
                        count=len(texts))
    have = np.flatnonzero(found >= 0)
    missing = np.flatnonzero(found < 0)
    vectors = np.empty((len(texts), embedder.dimension), dtype=np.float32)
    vectors[have] = old.vectors(found[have])
    if len(missing):
        vectors[missing] = embedder.encode([texts[int(i)] for i in missing], batch_size=batch_size,
                                           progress=progress)
    log.info("reused %d vectors, encoded %d", len(have), len(missing))
    return vectors, len(have)


def _current(index_dir: Path, folder: Path, embedder: Embedder,
             milvus: MilvusConfig | None = None) -> IndexData | None:
    """The index in ``folder`` when it passes the checks ``load_index`` makes, else None.

    An index on the other store is read too (its vectors can be reused), when it can be.
    """
    if not (folder / MANIFEST).is_file():
        return None
    try:
        return load_folder(index_dir, folder, model=embedder.name,
                            fingerprint=embedder.fingerprint, dimension=embedder.dimension,
                            mmap=True, milvus=milvus, any_store=True)
    except IndexLoadError as exc:
        log.info("the index at %s will be built anew: %s", index_dir, exc)
        return None


def _lexical_loads(data: IndexData) -> bool:
    """True when the index's lexical model loads (the last check ``ask`` makes)."""
    try:
        load_lexical(data, mmap=True)
    except IndexLoadError as exc:
        log.info("the index at %s will be built anew: %s", data.shown, exc)
        return False
    return True


def _same_build(manifest: dict[str, Any], corpus: str, fingerprint: str,
                faiss_kind: str, sources: list[str], alias: str | None = None) -> bool:
    """True when ``manifest`` describes this corpus, from these sources, embedded the way
    this build would, in the same store (``alias``: the Milvus one, None: FAISS)."""
    section = "faiss" if alias is None else "milvus"
    stored = manifest.get("milvus") or {}
    return (
        manifest.get("store", "faiss") == section
        and (alias is None or stored.get("alias") == alias)
        and manifest.get("corpus_hash") == corpus
        and manifest.get("sources") == sources
        and manifest.get("splitter") == SPLITTER_SETTINGS
        and manifest.get("embedding") == EMBEDDING_SETTINGS
        and manifest["model"].get("fingerprint") == fingerprint
        and (manifest.get(section) or {}).get("requested", "auto") == faiss_kind
    )


def _settle_milvus(milvus: MilvusConfig | None, alias: str | None,
                   store: VectorStore | None) -> None:
    """After a switch (or a skipped build): the alias names the live collection, and the
    older collections are dropped. A failure here is only a warning: readers follow the
    index folder, and the next build settles again."""
    if milvus is None or alias is None:
        return
    from index.storage.stores.milvus import settle

    settle(milvus, alias, store)


def _store_section(store: VectorStore, info: dict[str, Any]) -> dict[str, Any]:
    """The manifest's fields saying where the vectors are: FAISS, or which collection."""
    section = {"kind": store.kind, "params": store.params, "requested": info["requested"]}
    if info["alias"] is None:
        return {"faiss": section}
    milvus = cast("MilvusStore", store)  # built with an alias: in Milvus
    return {"store": "milvus", "milvus": {"collection": milvus.collection,
                                          "alias": info["alias"], "uri": milvus.config.shown,
                                          **section}}


def _write_build(folder: Path, documents: Sequence[Document], embedder: Embedder,
                 store: VectorStore, lexical: Lexical, info: dict[str, Any]) -> None:
    """Write the index files into ``folder``, the manifest last (it marks completion)."""
    in_milvus = info["alias"] is not None
    if not in_milvus:
        store.save(folder / VECTORS)
    units = [u for d in documents for u in d.units]
    write_json(folder / UNITS, [u.to_json() for u in units])
    lexical_files = lexical.save(folder)
    docs, pos = [], 0
    for d in documents:
        docs.append({"name": d.name, "title": d.title, "source": source_label(d.source),
                     "start": pos, "count": len(d.units), **({"url": d.url} if d.url else {})})
        pos += len(d.units)
    manifest = {
        "format_version": FORMAT_VERSION,
        "producer": PRODUCER,
        "model": {"name": embedder.name, "fingerprint": embedder.fingerprint,
                  "dimension": embedder.dimension},
        "corpus_hash": info["corpus_hash"],
        "splitter": SPLITTER_SETTINGS,
        "embedding": EMBEDDING_SETTINGS,
        "units": len(units),
        "documents": docs,
        "sources": info["sources"],
        **_store_section(store, info),
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "build_seconds": round(time.perf_counter() - info["started"], 3),
        "versions": _package_versions(),
        "reused_vectors": info["reused_vectors"],
        "files": {n: _file_info(folder / n) for n in (
            *(() if in_milvus else (VECTORS,)), UNITS, *lexical_files)},
    }
    write_json(folder / MANIFEST, manifest)


def _package_versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for dist in ("qabot", "sentence-transformers", "torch", "faiss-cpu", "numpy", "bm25s"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out


def _file_info(path: Path) -> dict[str, Any]:
    return {"size": path.stat().st_size, "sha256": sha256_file(path)}

