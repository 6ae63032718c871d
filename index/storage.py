"""The index folder on disk: manifest, FAISS file and units as JSON; atomic builds.

Layout of an index folder::

    manifest.json   format version, model + weights fingerprint, dimension, corpus hash,
                    splitter settings, unit count, documents, build time, package versions,
                    size and sha256 of each data file
    vectors.faiss   the FAISS index (written by faiss.write_index; no pickle anywhere)
    units.json      the units, in id order
    lexical.*       the lexical model (index/lexical.py: numpy arrays and JSON); an index
                    without them still loads, its lexical model rebuilt from the units

A rebuild reuses the vectors of units whose embedded text ("Title: text") is unchanged,
when the model and its weights are the same: only new or changed units are encoded.

A build writes a new folder beside the target and renames it into place, so an
interrupted build leaves the previous index untouched.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from index.errors import IndexLoadError
from index.lexical import LEXICAL_FILES, Lexical
from index.sources import Document, Unit, embed_text
from index.splitter import SPLITTER_SETTINGS

if TYPE_CHECKING:
    import numpy as np

    from index.embedder import Embedder
    from index.store import FaissStore

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
VECTORS = "vectors.faiss"
UNITS = "units.json"
# Above this size a data file is checked by size only on load; hashing it would cost more
# than reading it (and defeat memory-mapping).
HASH_CHECK_LIMIT = 256 << 20

# How unit texts are turned into what is embedded; a change invalidates older indexes.
EMBEDDING_SETTINGS = {"template": "{title}: {text}", "normalised": True}
REBUILD_HINT = "rebuild it with `qabot index build`"


@dataclass(frozen=True, slots=True)
class DocInfo:
    """A document in the index: its units are ids ``start`` to ``start + count - 1``."""

    name: str
    title: str
    source: str
    start: int
    count: int


@dataclass
class IndexData:
    """A loaded index: manifest, units, documents and the vector store."""

    path: Path
    manifest: dict[str, Any]
    units: list[Unit]
    docs: dict[str, DocInfo]
    store: FaissStore

    @property
    def built_at(self) -> str:
        return str(self.manifest.get("built_at", ""))


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


def corpus_hash(documents: Sequence[Document]) -> str:
    """Hash everything about the corpus that changes the index (names, ids, texts, order)."""
    digest = hashlib.sha256()
    for doc in documents:
        digest.update(b"\x00doc\x00" + doc.name.encode() + b"\x00" + doc.title.encode())
        for unit in doc.units:
            digest.update(b"\x00u\x00" + unit.id.encode() + b"\x00" + unit.text.encode())
    return digest.hexdigest()


def _file_info(path: Path) -> dict[str, Any]:
    from index.embedder import sha256_file

    return {"size": path.stat().st_size, "sha256": sha256_file(path)}


def _versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for dist in ("qabot", "sentence-transformers", "torch", "faiss-cpu", "numpy", "bm25s"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out


def _write_json(path: Path, data: Any) -> None:
    with path.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False)
        fh.flush()
        os.fsync(fh.fileno())


def read_manifest(index_dir: Path) -> dict[str, Any]:
    """Read and sanity-check ``manifest.json``; raise IndexLoadError with a rebuild hint."""
    path = index_dir / MANIFEST
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise IndexLoadError(f"no index at {index_dir} (manifest.json missing); "
                             f"build one with `qabot index build`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexLoadError(f"cannot read {path} ({exc}); {REBUILD_HINT}") from None
    try:
        manifest = json.loads(raw)
    except json.JSONDecodeError:
        raise IndexLoadError(f"index at {index_dir} is corrupt: manifest.json is not valid "
                             f"JSON; {REBUILD_HINT}") from None
    if not isinstance(manifest, dict) or "format_version" not in manifest:
        raise IndexLoadError(f"index at {index_dir} is corrupt: manifest.json has no "
                             f"format version; {REBUILD_HINT}")
    return manifest


def check_compatible(manifest: dict[str, Any], index_dir: Path, model: str,
                     fingerprint: str | None, dimension: int | None) -> None:
    """Refuse an index built with another format, model or dimension."""
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexLoadError(
            f"index at {index_dir} has format version {manifest.get('format_version')}, "
            f"this qabot reads {FORMAT_VERSION}; {REBUILD_HINT}"
        )
    if manifest.get("embedding") != EMBEDDING_SETTINGS:
        raise IndexLoadError(
            f"index at {index_dir} embeds its units differently from this qabot; {REBUILD_HINT}"
        )
    built = manifest.get("model", {})
    if built.get("name") != model:
        raise IndexLoadError(
            f"index at {index_dir} was built with model {built.get('name')!r}, but the "
            f"configured model is {model!r}; {REBUILD_HINT}"
        )
    if dimension is not None and built.get("dimension") != dimension:
        raise IndexLoadError(
            f"index at {index_dir} has dimension {built.get('dimension')}, the model gives "
            f"{dimension}; {REBUILD_HINT}"
        )
    if fingerprint and built.get("fingerprint") and built["fingerprint"] != fingerprint:
        raise IndexLoadError(
            f"index at {index_dir} was built with different weights for model {model!r}; "
            f"{REBUILD_HINT}"
        )


def _recover(index_dir: Path) -> None:
    """Finish a swap that was interrupted between its two renames."""
    backup = backup_path(index_dir)
    if not index_dir.exists() and backup.is_dir():
        log.warning("restoring index %s from an interrupted swap", index_dir)
        os.replace(backup, index_dir)


def backup_path(index_dir: Path) -> Path:
    """Where a swap parks the previous index between its two renames."""
    return index_dir.with_name(f".{index_dir.name}.previous")


def load_index(index_dir: Path, *, model: str, fingerprint: str | None = None,
               dimension: int | None = None, mmap: bool = False) -> IndexData:
    """Load and verify an index folder built for ``model``."""
    from index.store import FaissStore

    _recover(index_dir)
    manifest = read_manifest(index_dir)
    check_compatible(manifest, index_dir, model, fingerprint, dimension)
    files = manifest.get("files", {})
    for name in (VECTORS, UNITS, *(n for n in LEXICAL_FILES if n in files)):
        path = index_dir / name
        expected = files.get(name, {})
        try:
            size = path.stat().st_size
        except OSError:
            raise IndexLoadError(f"index at {index_dir} is incomplete: {name} is missing; "
                                 f"{REBUILD_HINT}") from None
        if size != expected.get("size"):
            raise IndexLoadError(f"index at {index_dir} is corrupt: {name} has {size} bytes, "
                                 f"the manifest says {expected.get('size')}; {REBUILD_HINT}")
        if size <= HASH_CHECK_LIMIT:
            from index.embedder import sha256_file

            if sha256_file(path) != expected.get("sha256"):
                raise IndexLoadError(f"index at {index_dir} is corrupt: {name} fails its "
                                     f"checksum; {REBUILD_HINT}")
    try:
        raw_units = json.loads((index_dir / UNITS).read_text(encoding="utf-8"))
        units = [Unit.from_json(u) for u in raw_units]
        docs = {d["name"]: DocInfo(**d) for d in manifest["documents"]}
    except (ValueError, TypeError, KeyError) as exc:
        raise IndexLoadError(f"index at {index_dir} is corrupt: units.json or the document "
                             f"list cannot be read ({exc}); {REBUILD_HINT}") from None
    faiss_info = manifest.get("faiss", {})
    try:
        store = FaissStore.load(index_dir / VECTORS, faiss_info.get("kind", "flat"),
                                faiss_info.get("params", {}), mmap=mmap)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
        raise IndexLoadError(f"index at {index_dir} is corrupt: {VECTORS} cannot be read "
                             f"({first[:120]}); {REBUILD_HINT}") from None
    if len(store) != len(units) or len(units) != manifest.get("units"):
        raise IndexLoadError(f"index at {index_dir} is corrupt: {len(store)} vectors for "
                             f"{len(units)} units; {REBUILD_HINT}")
    if dimension is not None and store.dimension != dimension:
        raise IndexLoadError(f"index at {index_dir} has dimension {store.dimension}, the "
                             f"model gives {dimension}; {REBUILD_HINT}")
    log.info("loaded index %s: %d units in %d documents", index_dir, len(units), len(docs))
    return IndexData(path=index_dir, manifest=manifest, units=units, docs=docs, store=store)


def load_lexical(data: IndexData, *, mmap: bool = False) -> Lexical:
    """The index's lexical model: read from its files (checked by :func:`load_index`), or
    rebuilt from the units for an index written before they existed."""
    files = data.manifest.get("files", {})
    if all(name in files for name in LEXICAL_FILES):
        try:
            lexical = Lexical.load(data.path, mmap=mmap)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexLoadError(f"index at {data.path} is corrupt: its lexical model cannot "
                                 f"be read ({exc}); {REBUILD_HINT}") from None
        if lexical.size != len(data.units):
            raise IndexLoadError(f"index at {data.path} is corrupt: its lexical model has "
                                 f"{lexical.size} units, the index {len(data.units)}; "
                                 f"{REBUILD_HINT}")
        return lexical
    log.info("index %s has no saved lexical model: building it", data.path)
    return Lexical([u.text for u in data.units])


def is_current(index_dir: Path, model: str, fingerprint: str, corpus: str,
               faiss_kind: str) -> bool:
    """True when ``index_dir`` already holds this corpus embedded with this model."""
    try:
        manifest = read_manifest(index_dir)
        check_compatible(manifest, index_dir, model, fingerprint, None)
    except IndexLoadError:
        return False
    same = (
        manifest.get("corpus_hash") == corpus
        and manifest.get("splitter") == SPLITTER_SETTINGS
        and manifest.get("embedding") == EMBEDDING_SETTINGS
        and manifest.get("model", {}).get("fingerprint") == fingerprint
        and manifest.get("faiss", {}).get("requested", "auto") == faiss_kind
    )
    if not same:
        return False
    files = manifest.get("files", {})
    return all(
        (index_dir / n).is_file() and (index_dir / n).stat().st_size == files.get(n, {}).get("size")
        for n in (VECTORS, UNITS)
    )


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
) -> BuildResult:
    """Embed ``documents`` and write the index to ``index_dir`` atomically.

    A corpus unchanged since the last build (same model, weights and splitter) is skipped
    unless ``force``; otherwise only units whose embedded text is new are encoded, the
    others keep their vectors from the previous index (``force`` re-encodes everything).
    ``on_encoded`` is called between encoding and writing (tests use it to
    interrupt a build half-way).
    """
    from index.store import FaissStore

    started = time.perf_counter()
    index_dir = Path(index_dir)
    if index_dir.is_symlink():  # build where the link points; the link itself stays
        index_dir = Path(os.path.realpath(index_dir))
    _recover(index_dir)
    corpus = corpus_hash(documents)
    units = [u for d in documents for u in d.units]
    if not force and is_current(index_dir, embedder.name, embedder.fingerprint, corpus,
                                faiss_kind):
        return BuildResult(index_dir, True, len(units), len(documents),
                           time.perf_counter() - started, reason="corpus and model unchanged")
    _check_target(index_dir)
    texts = [embed_text(u, d.title) for d in documents for u in d.units]
    previous = None if force else _previous_vectors(index_dir, embedder)
    vectors, reused = _encode_reusing(texts, embedder, previous, batch_size=batch_size,
                                      progress=progress)
    del previous  # the old index's units and vectors: free them before indexing
    if on_encoded is not None:
        on_encoded()
    store = FaissStore.build(vectors, faiss_kind)
    lexical = Lexical([u.text for u in units])

    index_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_builds(index_dir)
    tmp = Path(tempfile.mkdtemp(prefix=f".{index_dir.name}.build-{os.getpid()}-",
                                dir=index_dir.parent))
    try:
        store.save(tmp / VECTORS)
        _write_json(tmp / UNITS, [u.to_json() for u in units])
        lexical_files = lexical.save(tmp)
        docs, pos = [], 0
        for d in documents:
            docs.append({"name": d.name, "title": d.title, "source": d.source,
                         "start": pos, "count": len(d.units)})
            pos += len(d.units)
        manifest = {
            "format_version": FORMAT_VERSION,
            "model": {"name": embedder.name, "fingerprint": embedder.fingerprint,
                      "dimension": embedder.dimension},
            "corpus_hash": corpus,
            "splitter": SPLITTER_SETTINGS,
            "embedding": EMBEDDING_SETTINGS,
            "units": len(units),
            "documents": docs,
            "faiss": {"kind": store.kind, "params": store.params, "requested": faiss_kind},
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "build_seconds": round(time.perf_counter() - started, 3),
            "versions": _versions(),
            "reused_vectors": reused,
            "files": {n: _file_info(tmp / n) for n in (VECTORS, UNITS, *lexical_files)},
        }
        _write_json(tmp / MANIFEST, manifest)  # written last: its presence marks completion
        _swap_into_place(tmp, index_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return BuildResult(index_dir, False, len(units), len(documents),
                       time.perf_counter() - started, reused=reused,
                       encoded=len(units) - reused)


def text_key(text: str) -> bytes:
    """The content hash of an embedded text: equal texts share their vector."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def _previous_vectors(index_dir: Path, embedder: Embedder
                      ) -> tuple[dict[bytes, int], FaissStore] | None:
    """Vectors of the index at ``index_dir`` by content hash, if the same model built it."""
    if not embedder.fingerprint or not (index_dir / MANIFEST).is_file():
        return None
    try:
        data = load_index(index_dir, model=embedder.name, fingerprint=embedder.fingerprint,
                          dimension=embedder.dimension, mmap=True)
    except (IndexLoadError, OSError) as exc:  # e.g. swapped by another build meanwhile
        log.info("not reusing vectors from %s: %s", index_dir, exc)
        return None
    if data.manifest.get("model", {}).get("fingerprint") != embedder.fingerprint:
        return None  # an index without a fingerprint may be from other weights
    titles = {d.name: d.title for d in data.docs.values()}
    rows = {text_key(embed_text(u, titles.get(u.doc, ""))): i for i, u in enumerate(data.units)}
    return rows, data.store


def _encode_reusing(texts: Sequence[str], embedder: Embedder,
                    previous: tuple[dict[bytes, int], FaissStore] | None, *,
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


# Every name qabot writes into an index folder. A folder holding anything else is not
# (only) an index, and is never replaced or deleted.
OWN_FILES = frozenset((MANIFEST, VECTORS, UNITS, *LEXICAL_FILES))


def foreign_entry(index_dir: Path) -> str | None:
    """Why ``index_dir`` may not be replaced by a build, or None when it may.

    Only a folder that qabot itself made may go: regular files with the names qabot
    writes, and a manifest qabot wrote (a JSON object with qabot's format version and
    its list of files). A manifest that no longer parses is allowed when every other
    file is qabot's: that is a damaged index, which a build is there to repair.
    """
    try:
        entries = sorted(os.scandir(index_dir), key=lambda e: e.name)
    except OSError as exc:
        return f"cannot list it ({exc.strerror or exc})"
    if not entries:
        return None
    for entry in entries:
        if entry.name not in OWN_FILES:
            return f"it holds {entry.name!r}, which qabot did not write"
        if entry.is_symlink() or not entry.is_file(follow_symlinks=False):
            return f"{entry.name!r} in it is not a regular file"
    names = {e.name for e in entries}
    if MANIFEST not in names:
        return "it holds no manifest.json"
    try:
        manifest = json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None if names & {VECTORS, UNITS} else "its manifest.json is not qabot's"
    if not (isinstance(manifest, dict) and isinstance(manifest.get("format_version"), int)
            and isinstance(manifest.get("files"), dict)
            and set(manifest["files"]) <= OWN_FILES):
        return "its manifest.json is not qabot's"
    return None


def _check_target(index_dir: Path) -> None:
    """Refuse to replace a folder that is not a qabot index (it would be deleted)."""
    if index_dir.exists() and not index_dir.is_dir():
        raise IndexLoadError(f"{index_dir} is a file, not an index folder")
    if index_dir.is_dir():
        why = foreign_entry(index_dir)
        if why is not None:
            raise IndexLoadError(f"{index_dir} is not a qabot index folder ({why}); "
                                 f"nothing was changed: choose another index folder")


def _remove_stale_builds(index_dir: Path) -> None:
    """Delete build folders left by builds that were killed (their process is gone)."""
    for stale in index_dir.parent.glob(f".{index_dir.name}.build-*"):
        try:
            pid = int(stale.name.rsplit(".build-", 1)[1].split("-", 1)[0])
        except (IndexError, ValueError):
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            log.info("removing %s, left by an interrupted build", stale)
            shutil.rmtree(stale, ignore_errors=True)
        except PermissionError:
            continue


def _swap_into_place(new: Path, index_dir: Path) -> None:
    """Replace ``index_dir`` by ``new``: two renames, recoverable if cut in between."""
    backup = backup_path(index_dir)
    if backup.is_symlink():
        backup.unlink()
    elif backup.exists():
        if not backup.is_dir() or foreign_entry(backup) is not None:
            raise IndexLoadError(f"{backup} is in the way of the build and is not a qabot "
                                 f"index; move it away and build again")
        shutil.rmtree(backup)
    if index_dir.exists():
        os.replace(index_dir, backup)
    os.replace(new, index_dir)
    shutil.rmtree(backup, ignore_errors=True)
    with contextlib.suppress(OSError):
        fd = os.open(index_dir.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
