"""Reading an index: its manifest, units, documents, vectors and lexical model, checked.

Every file the manifest lists is checked for its type, size and checksum before it is read
(above ``HASH_CHECK_LIMIT``, by size only); the units must tile the documents, and the
vectors must match the units in number and dimension. Anything else is an
:class:`IndexLoadError` with a rebuild hint, never a traceback.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from index.errors import IndexLoadError, StoreSwitched
from index.files import sha256_file
from index.json_input import parse as parse_json
from index.modelling.lexical import LEXICAL_FILES, Lexical
from index.sources.documents import Unit
from index.storage.folder import UNITS, VECTORS, live_folder
from index.storage.manifest import (
    ManifestError,
    check_compatible,
    check_unit_owners,
    parse_manifest,
    rebuild_hint,
    store_mismatch,
)

if TYPE_CHECKING:
    from index.storage.manifest import Manifest
    from index.storage.stores import VectorStore
    from index.storage.stores.milvus import MilvusConfig

log = logging.getLogger(__name__)

# Above this size a data file is checked by size only on load; hashing it would cost more
# than reading it (and defeat memory-mapping).
HASH_CHECK_LIMIT = 256 << 20
# How often a reader starts again when a build switched versions while it read.
READ_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class DocInfo:
    """A document in the index: its units are ids ``start`` to ``start + count - 1``."""

    name: str
    title: str
    source: str
    start: int
    count: int
    url: str = ""  # the document's web address; "" when unknown (and in older indexes)


@dataclass
class IndexData:
    """A loaded index: manifest, units, documents and the vector store.

    ``path`` is the version folder it was read from; ``index_dir`` the folder as named.
    """

    path: Path
    manifest: dict[str, Any]
    units: list[Unit]
    docs: dict[str, DocInfo]
    store: VectorStore
    index_dir: Path | None = None

    @property
    def built_at(self) -> str:
        return str(self.manifest.get("built_at", ""))

    @property
    def shown(self) -> Path:
        return self.index_dir or self.path


def load_index(index_dir: Path, *, model: str, fingerprint: str | None = None,
               dimension: int | None = None, mmap: bool = False,
               milvus: MilvusConfig | None = None) -> IndexData:
    """Load and verify the index ``index_dir`` names, built for ``model``."""
    return load_folder(index_dir, live_folder(index_dir), model=model,
                        fingerprint=fingerprint, dimension=dimension, mmap=mmap, milvus=milvus)


def load_snapshot(index_dir: Path, *, model: str, fingerprint: str | None = None,
                  dimension: int | None = None, mmap: bool = False,
                  milvus: MilvusConfig | None = None) -> tuple[IndexData, Lexical]:
    """Load the index and its lexical model, both from one version.

    A build may switch versions and delete the old one while this reads: then it reads
    again, from the version now named.
    """
    for attempt in range(1, READ_ATTEMPTS + 1):
        folder = live_folder(index_dir)
        try:
            data = load_folder(index_dir, folder, model=model, fingerprint=fingerprint,
                                dimension=dimension, mmap=mmap, milvus=milvus)
            return data, load_lexical(data, mmap=mmap)
        except IndexLoadError:
            if attempt == READ_ATTEMPTS or live_folder(index_dir) == folder:
                raise
            log.info("index %s was switched while it was read: reading it again", index_dir)
    raise AssertionError("unreachable")


def load_lexical(data: IndexData, *, mmap: bool = False) -> Lexical:
    """The index's lexical model, read from its files (checked by :func:`load_index`)."""
    files = data.manifest.get("files", {})
    hint = rebuild_hint(data.shown)
    if not all(name in files for name in LEXICAL_FILES):
        raise IndexLoadError(f"index at {data.shown} has no lexical model (a development "
                             f"build wrote it); {hint}")
    try:
        lexical = Lexical.load(data.path, mmap=mmap)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexLoadError(f"index at {data.shown} is corrupt: its lexical model cannot "
                             f"be read ({exc}); {hint}") from None
    if lexical.size != len(data.units):
        raise IndexLoadError(f"index at {data.shown} is corrupt: its lexical model has "
                             f"{lexical.size} units, the index {len(data.units)}; {hint}")
    return lexical


def load_folder(index_dir: Path, folder: Path, *, model: str, fingerprint: str | None,
                 dimension: int | None, mmap: bool,
                 milvus: MilvusConfig | None = None, any_store: bool = False) -> IndexData:
    """Load and verify the index in ``folder`` (the version ``index_dir`` names); its
    vectors from Milvus when it keeps them there (``milvus`` says how to reach it)."""
    hint = rebuild_hint(index_dir)
    manifest, parsed = parse_manifest(index_dir, folder)
    check_compatible(manifest, index_dir, model, fingerprint, dimension)
    _check_files(index_dir, folder, parsed)
    try:
        raw_units = parse_json((folder / UNITS).read_text(encoding="utf-8"))
        units = [Unit.from_json(u) for u in raw_units]
        check_unit_owners(parsed, [u.doc for u in units])
    except ManifestError as exc:
        raise IndexLoadError(f"index at {index_dir} is corrupt: manifest.json {exc}; "
                             f"{hint}") from None
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise IndexLoadError(f"index at {index_dir} is corrupt: units.json cannot be read "
                             f"({exc}); {hint}") from None
    docs = {d.name: DocInfo(d.name, d.title, d.source, d.start, d.count, d.url)
            for d in parsed.documents}
    store = _open_store(index_dir, folder, parsed, mmap=mmap, milvus=milvus,
                        any_store=any_store)
    if len(store) != len(units) or len(units) != parsed.units:
        raise IndexLoadError(f"index at {index_dir} is corrupt: {len(store)} vectors for "
                             f"{len(units)} units; {hint}")
    if dimension is not None and store.dimension != dimension:
        raise IndexLoadError(f"index at {index_dir} has dimension {store.dimension}, the "
                             f"model gives {dimension}; {hint}")
    log.info("loaded index %s: %d units in %d documents", index_dir, len(units), len(docs))
    return IndexData(path=folder, manifest=manifest, units=units, docs=docs, store=store,
                     index_dir=Path(index_dir))


def _open_store(index_dir: Path, folder: Path, parsed: Manifest, *, mmap: bool,
                milvus: MilvusConfig | None, any_store: bool = False) -> VectorStore:
    """The index's vectors: its FAISS file, or the Milvus collection its manifest names.

    The store must be the configured one, unless ``any_store`` (a build reading the
    previous index for its vectors: a FAISS index is read whatever is configured).
    """
    from index.storage.stores import open_store

    hint = rebuild_hint(index_dir)
    configured = "milvus" if milvus is not None else "faiss"
    if parsed.store != configured and not (any_store and parsed.store == "faiss"):
        raise store_mismatch(index_dir, parsed.store, configured)
    in_milvus = parsed.milvus is not None and milvus is not None
    try:
        return open_store(parsed, folder / VECTORS, mmap=mmap, milvus=milvus)
    except StoreSwitched as exc:
        if not in_milvus:
            raise
        raise StoreSwitched(f"index at {index_dir}: {exc}; {hint}") from None
    except IndexLoadError as exc:
        if not in_milvus:
            raise
        raise IndexLoadError(f"index at {index_dir} is corrupt: {exc}; {hint}") from None
    except RuntimeError as exc:  # faiss.read_index reports an unreadable file this way
        if in_milvus:
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
        raise IndexLoadError(f"index at {index_dir} is corrupt: {VECTORS} cannot be read "
                             f"({first[:120]}); {hint}") from None


def _check_files(index_dir: Path, folder: Path, manifest: Manifest) -> None:
    """Check that every file the manifest lists is there, with its size and checksum."""
    hint = rebuild_hint(index_dir)
    for name, expected in manifest.files.items():
        path = folder / name
        # Type and size first: a FIFO or a link to a device is refused before it is read.
        try:
            info = os.lstat(path)
        except OSError:
            raise IndexLoadError(f"index at {index_dir} is incomplete: {name} is missing; "
                                 f"{hint}") from None
        if not stat.S_ISREG(info.st_mode):
            raise IndexLoadError(f"index at {index_dir} is corrupt: {name} is not a regular "
                                 f"file; {hint}")
        size = info.st_size
        if size != expected.size:
            raise IndexLoadError(f"index at {index_dir} is corrupt: {name} has {size} bytes, "
                                 f"the manifest says {expected.size}; {hint}")
        try:
            digest = sha256_file(path) if size <= HASH_CHECK_LIMIT else expected.sha256
        except OSError as exc:
            raise IndexLoadError(f"index at {index_dir} is corrupt: {name} cannot be read "
                                 f"({exc.strerror or exc}); {hint}") from None
        if digest != expected.sha256:
            raise IndexLoadError(f"index at {index_dir} is corrupt: {name} fails its "
                                 f"checksum; {hint}")

