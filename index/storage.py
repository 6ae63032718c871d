"""The index folder on disk: manifest, FAISS file and units as JSON; atomic builds.

An index (what a folder holding it contains)::

    manifest.json   format version, model + weights fingerprint, dimension, corpus hash,
                    splitter settings, unit count, documents (name, title, source, unit
                    range, URL when known), the sources given to the build, build time,
                    package versions, size and sha256 of each data file
    vectors.faiss   the FAISS index (written by faiss.write_index; no pickle anywhere);
                    with ``QABOT_STORE=milvus`` there is none: the manifest names the Milvus
                    collection holding the vectors (index/milvus_store.py)
    units.json      the units, in id order
    lexical.*       the lexical model (index/lexical.py: numpy arrays and JSON); an index
                    without them still loads, its lexical model rebuilt from the units

A rebuild reuses the vectors of units whose embedded text ("Title: text", or
"Title › Section: text" for a unit under a heading) is unchanged,
when the model and its weights are the same: only new or changed units are encoded.

Versions and the switch. For an index folder ``PARENT/NAME``::

    PARENT/NAME                    a symlink to the live version (a bare name: relocatable)
    PARENT/.NAME.v-<time>-<pid>/   a version: the files above, never changed once published
    PARENT/.NAME.build-<pid>-<r>/  a build in progress, holding the marker .qabot-build
                                   (which folder, which process); removed when it fails,
                                   and after a kill by the next build, ``ask`` or ``index
                                   info`` (the lock free, the process gone)
    PARENT/.NAME.lock              builds of NAME hold it (``fcntl.flock``): one at a time

Ownership. qabot replaces or deletes only folders it can prove it wrote, never because the
file names match: a version its own link names (proof even when the manifest is gone), a
folder whose manifest carries ``"producer": "qabot"``, or, for an index of an older qabot
without that mark, one whose manifest lists exactly the files it holds, sizes and checksums
matching; and only when the folder holds nothing but qabot's names (regular files, or
links, FIFOs and empty folders in their place, which hold no data). Anything else is
refused with one line and left as it is (:func:`foreign_entry`).

A build writes a new folder beside the target, renames it to a version and switches the
link with one ``os.replace`` of a link made aside: the path always names a complete index,
the old one or the new one, and an interrupted build leaves the old one answering. The
versions the link no longer names are deleted after the switch (only folders qabot can
prove its own, as above). Readers take no lock: they resolve the link once and read that
version; one that finds its version deleted under it (a build switched meanwhile) reads
again from the new one. A symlink rather than a pointer file inside the folder, because
``NAME/manifest.json`` and the other paths keep working for every reader (scripts, tests,
``index info``), and resolving a path is one system call where a pointer file would be a
second read that can disagree with the first.

Recovery on read: when ``NAME`` is missing or its link dangles (a build killed between
moving an older folder aside and the switch, a version deleted by hand), the newest
complete version beside it is read; the next build points the link at it again. Only
builds write: a reader never moves anything, so it cannot undo another process's build.

Upgrade: an index folder written by an older qabot (a real folder at ``NAME``) is renamed
to the first version by the next build, which then makes ``NAME`` the link. A link the
user made (``NAME`` pointing somewhere else) is followed and kept: the build manages the
folder it points to. A mount point (a volume mounted at the configured path) cannot be
renamed or replaced: there the link is ``NAME/current``, its versions beside it inside
the mount, and anything else on the volume is left alone.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import shlex
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from index.errors import IndexLoadError, IndexWriteError, StoreSwitched
from index.json_input import parse as parse_json
from index.lexical import LEXICAL_FILES, Lexical
from index.manifest import ManifestError, check_ranges, check_unit_owners, validate
from index.sources import BUILTIN_ARTICLE, Document, Unit, builtin_article, embed_text
from index.splitter import SPLITTER_SETTINGS

if TYPE_CHECKING:
    import numpy as np

    from index.embedder import Embedder
    from index.manifest import Manifest
    from index.milvus_store import MilvusConfig, MilvusStore
    from index.store import VectorStore

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
VECTORS = "vectors.faiss"
UNITS = "units.json"
# Above this size a data file is checked by size only on load; hashing it would cost more
# than reading it (and defeat memory-mapping).
HASH_CHECK_LIMIT = 256 << 20
# How the built-in article is recorded as a source: its path changes with the install.
BUILTIN_SOURCE = f"builtin:{BUILTIN_ARTICLE}"
# The link qabot keeps inside an index folder that is a mount point.
MOUNTED = "current"
# How often a reader starts again when a build switched versions while it read.
READ_ATTEMPTS = 3
# What qabot writes into every manifest ("producer"): a folder is its own when it can prove
# it wrote it (this mark, or the link it keeps), never because the file names match.
PRODUCER = "qabot"
# The file a build writes into its folder as it creates it: which process made it. Only a
# folder holding it, whose process is gone, is ever removed as a stale build.
BUILD_MARKER = ".qabot-build"

# How unit texts are turned into what is embedded; a change invalidates older indexes. A
# unit's section joins the title ("{title} › {section}") only where it has one: units
# without one, all that an older index holds, embed exactly as before, so the template
# recorded stays the same and older indexes stay valid.
EMBEDDING_SETTINGS = {"template": "{title}: {text}", "normalised": True}


def rebuild_hint(index_dir: Path, verb: str = "rebuild it") -> str:
    """How to (re)build the index at ``index_dir``: ``--index-dir`` named unless default."""
    from config.settings import default_index_dir

    command = "qabot index build"
    if os.path.abspath(index_dir) != os.path.abspath(default_index_dir()):
        command += f" --index-dir {shlex.quote(str(index_dir))}"
    return f"{verb} with `{command}`"


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


# --- sources as recorded in the manifest ---------------------------------------------------
def source_label(path: Path | str) -> str:
    """How a source is recorded: an absolute path, or BUILTIN_SOURCE for the built-in article."""
    absolute = os.path.abspath(path)
    if absolute == os.path.abspath(builtin_article()):
        return BUILTIN_SOURCE
    return absolute


def source_path(label: str) -> Path:
    """The path to read a recorded source from (the built-in article of this install)."""
    return builtin_article() if label == BUILTIN_SOURCE else Path(label)


def describe_sources(labels: Sequence[str]) -> str:
    """Recorded sources for people: "the built-in article", or the paths."""
    return ", ".join("the built-in article" if s == BUILTIN_SOURCE else s for s in labels) \
        or "the built-in article"


def recorded_sources(manifest: dict[str, Any]) -> list[str]:
    """The sources an index was built from; for an older index, its documents' sources."""
    if manifest.get("sources"):
        return list(manifest["sources"])
    labels: list[str] = []
    for doc in manifest.get("documents", []):
        source = str(doc["source"])
        path = Path(source)  # an older index records the built-in article by its path
        label = BUILTIN_SOURCE if (path.name == BUILTIN_ARTICLE and path.parent.name == "data"
                                   and path.parent.parent.name == "index") else source
        if label not in labels:
            labels.append(label)
    return labels


# --- reading -------------------------------------------------------------------------------
class NotRegular(OSError):
    """A path that is not a regular file (a FIFO, device, folder or link): never read."""


@contextlib.contextmanager
def _open_regular(path: Path) -> Iterator[Any]:
    """Open ``path`` for reading only if it is a regular file, links not followed.

    Checked on the open file (no race with a swap), and opened without blocking: a FIFO
    in an index's place must be an error, not a read that never ends.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a link
            raise NotRegular(errno.ELOOP, "a link, not a regular file", str(path)) from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegular(errno.EINVAL, "not a regular file", str(path))
        os.set_blocking(fd, True)
        fh = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with fh:
        yield fh


def _read_regular(path: Path) -> bytes:
    """The bytes of ``path``, a regular file (see :func:`_open_regular`)."""
    with _open_regular(path) as fh:
        return bytes(fh.read())


def _sha256_regular(path: Path, chunk: int = 1 << 20) -> str:
    """The hex sha256 of ``path``, a regular file (see :func:`_open_regular`)."""
    digest = hashlib.sha256()
    with _open_regular(path) as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _file_info(path: Path) -> dict[str, Any]:
    return {"size": path.stat().st_size, "sha256": _sha256_regular(path)}


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


def _parse_manifest(index_dir: Path, folder: Path) -> tuple[dict[str, Any], Manifest]:
    """Read ``folder``'s manifest (of the index named ``index_dir``), validated."""
    path = folder / MANIFEST
    hint = rebuild_hint(index_dir)
    try:
        raw = _read_regular(path).decode("utf-8")
    except FileNotFoundError:
        if _names_version(index_dir, folder):
            raise IndexLoadError(f"index at {index_dir} is incomplete: manifest.json is "
                                 f"missing; {hint}") from None
        raise IndexLoadError(f"no index at {index_dir} (manifest.json missing); "
                             f"{rebuild_hint(index_dir, 'build one')}") from None
    except NotRegular:
        raise IndexLoadError(f"index at {index_dir} is corrupt: manifest.json is not a "
                             f"regular file; {hint}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexLoadError(f"cannot read {index_dir / MANIFEST} ({exc}); {hint}") from None
    try:
        manifest = parse_json(raw)
    except json.JSONDecodeError:
        raise IndexLoadError(f"index at {index_dir} is corrupt: manifest.json is not valid "
                             f"JSON; {hint}") from None
    if not isinstance(manifest, dict) or "format_version" not in manifest:
        raise IndexLoadError(f"index at {index_dir} is corrupt: manifest.json has no "
                             f"format version; {hint}")
    if manifest["format_version"] != FORMAT_VERSION:
        raise IndexLoadError(f"index at {index_dir} has format version "
                             f"{manifest['format_version']!r}, this qabot reads "
                             f"{FORMAT_VERSION}; {hint}")
    try:
        model = validate(manifest)
        check_ranges(model)
    except ManifestError as exc:
        raise IndexLoadError(f"index at {index_dir} is corrupt: manifest.json {exc}; "
                             f"{hint}") from None
    unknown = sorted(set(model.files) - DATA_FILES)
    needed = (VECTORS, UNITS) if model.store == "faiss" else (UNITS,)
    missing = [n for n in needed if n not in model.files]
    if unknown or missing:
        what = f"names {unknown[0]!r}, not a file of an index" if unknown \
            else f"does not list {missing[0]}"
        raise IndexLoadError(f"index at {index_dir} is corrupt: manifest.json {what}; {hint}")
    return manifest, model


def read_manifest(index_dir: Path) -> dict[str, Any]:
    """Read and validate the live manifest of ``index_dir``; raise IndexLoadError with a
    rebuild hint.

    Build folders that killed builds left beside it are removed first (see
    :func:`sweep_stale_builds`): the next command that opens the index tidies up.
    """
    sweep_stale_builds(index_dir)
    return _parse_manifest(index_dir, live_folder(index_dir))[0]


def sources_on_record(index_dir: Path) -> list[str] | None:
    """The sources the index at ``index_dir`` records, read leniently: a damaged index still
    says what it was built from. None when there is no index or no readable record."""
    try:
        manifest = json.loads(_read_regular(live_folder(index_dir) / MANIFEST))
        labels = recorded_sources(manifest) if isinstance(manifest, dict) else []
    except (OSError, ValueError, RecursionError, KeyError, TypeError):
        return None
    if not labels or not all(isinstance(s, str) and s for s in labels):
        return None
    return labels


def check_compatible(manifest: dict[str, Any], index_dir: Path, model: str,
                     fingerprint: str | None, dimension: int | None) -> None:
    """Refuse an index built with another format, model or dimension."""
    hint = rebuild_hint(index_dir)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexLoadError(
            f"index at {index_dir} has format version {manifest.get('format_version')}, "
            f"this qabot reads {FORMAT_VERSION}; {hint}"
        )
    if manifest.get("embedding") != EMBEDDING_SETTINGS:
        raise IndexLoadError(
            f"index at {index_dir} embeds its units differently from this qabot; {hint}"
        )
    built = manifest.get("model", {})
    if built.get("name") != model:
        raise IndexLoadError(
            f"index at {index_dir} was built with model {built.get('name')!r}, but the "
            f"configured model is {model!r}; {hint}"
        )
    if dimension is not None and built.get("dimension") != dimension:
        raise IndexLoadError(
            f"index at {index_dir} has dimension {built.get('dimension')}, the model gives "
            f"{dimension}; {hint}"
        )
    if fingerprint and built.get("fingerprint") and built["fingerprint"] != fingerprint:
        raise IndexLoadError(
            f"index at {index_dir} was built with different weights for model {model!r}; "
            f"{hint}"
        )


def backup_path(index_dir: Path) -> Path:
    """Where an older qabot parked the previous index during its two-rename swap."""
    return index_dir.with_name(f".{index_dir.name}.previous")


def _is_version_name(name: str, target: str) -> bool:
    """True when ``name`` is exactly how qabot names a version of ``target``
    (``.NAME.v-<UTC time to the microsecond>-<pid>``, see :func:`_new_version`)."""
    return re.fullmatch(rf"\.{re.escape(target)}\.v-\d{{8}}T\d{{12}}-\d+", name) is not None


def _build_pid(name: str, target: str) -> int | None:
    """The pid in ``name`` when it is exactly how qabot names a build folder of ``target``
    (``.NAME.build-<pid>-<8 characters of tempfile.mkdtemp>``), else None."""
    found = re.fullmatch(rf"\.{re.escape(target)}\.build-(\d+)-[a-z0-9_]{{8}}", name)
    return int(found[1]) if found else None


def _is_version_link(path: Path) -> bool:
    """True when ``path`` is qabot's link to one of its versions beside it."""
    try:
        dest = os.readlink(path)
    except OSError:
        return False
    return _is_version_name(dest, path.name)


def index_target(index_dir: Path) -> Path:
    """The path qabot manages for ``index_dir``: the user's symlinks followed, its own kept;
    inside a mount point (which cannot be replaced), its ``current`` link."""
    path = Path(os.path.abspath(index_dir))
    for _ in range(40):
        if not path.is_symlink() or _is_version_link(path):
            break
        path = Path(os.path.abspath(Path(os.path.realpath(path.parent)) / os.readlink(path)))
    path = Path(os.path.realpath(path.parent)) / path.name
    if not path.is_symlink() and path.is_dir() and (
            os.path.ismount(path) or _is_version_link(path / MOUNTED)):
        return path / MOUNTED
    return path


def _siblings(target: Path, tag: str) -> list[Path]:
    """Entries beside ``target`` named ``.NAME<tag>…``, newest version first."""
    prefix = f".{target.name}{tag}"
    try:
        names = [e.name for e in os.scandir(target.parent) if e.name.startswith(prefix)]
    except OSError:
        return []
    return [target.parent / n for n in sorted(names, reverse=True)]


def _versions_beside(target: Path) -> list[Path]:
    """The versions of ``target`` beside it (named exactly as qabot names them), newest first."""
    return [p for p in _siblings(target, ".v-") if _is_version_name(p.name, target.name)]


def _newest_complete(target: Path) -> Path | None:
    """The newest version beside ``target`` that holds a manifest (recovery on read)."""
    for folder in (*_versions_beside(target), backup_path(target)):
        if not folder.is_symlink() and (folder / MANIFEST).is_file():
            return folder
    return None


def live_folder(index_dir: Path) -> Path:
    """The folder to read the index named ``index_dir`` from, resolved once.

    Where its link points (or the folder itself); when the path is missing or its link
    dangles, the newest complete version beside it.
    """
    target = index_target(index_dir)
    real = Path(os.path.realpath(target))
    if real.is_dir():
        return real
    found = _newest_complete(target)
    if found is not None:
        log.info("index %s is missing or dangles: reading %s", index_dir, found)
        return found
    return real


def has_index(index_dir: Path) -> bool:
    """True when ``index_dir`` names an index (complete or damaged), not a missing one: its
    folder holds a manifest (of any kind), or it is a version qabot's link names that holds
    anything (an index whose manifest was deleted: ``ask`` refuses it, a build repairs it)."""
    live = live_folder(index_dir)
    if os.path.lexists(live / MANIFEST):
        return True
    if not _names_version(index_dir, live):
        return False
    try:
        with os.scandir(live) as entries:
            return any(True for _ in entries)
    except OSError:
        return False


def _names_version(index_dir: Path, folder: Path) -> bool:
    """True when ``folder`` is the version qabot's own link ``index_dir`` names."""
    target = index_target(index_dir)
    return _is_version_link(target) and Path(os.path.realpath(target)) == folder


def _load_folder(index_dir: Path, folder: Path, *, model: str, fingerprint: str | None,
                 dimension: int | None, mmap: bool,
                 milvus: MilvusConfig | None = None, any_store: bool = False) -> IndexData:
    """Load and verify the index in ``folder`` (the version ``index_dir`` names); its
    vectors from Milvus when it keeps them there (``milvus`` says how to reach it)."""
    hint = rebuild_hint(index_dir)
    manifest, parsed = _parse_manifest(index_dir, folder)
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


def store_mismatch(index_dir: Path, built: str, configured: str) -> IndexLoadError:
    """The error for an index whose vectors are in another store than the one configured."""
    where = "in Milvus" if built == "milvus" else "in a FAISS file"
    reuse = " (its vectors are reused)" if built == "faiss" else ""
    return IndexLoadError(f"index at {index_dir} keeps its vectors {where}, but QABOT_STORE is "
                          f"{configured}; set QABOT_STORE={built}, or "
                          f"{rebuild_hint(index_dir, 'move it')}{reuse}")


def _open_store(index_dir: Path, folder: Path, parsed: Manifest, *, mmap: bool,
                milvus: MilvusConfig | None, any_store: bool = False) -> VectorStore:
    """The index's vectors: its FAISS file, or the Milvus collection its manifest names.

    The store must be the configured one, unless ``any_store`` (a build reading the
    previous index for its vectors: a FAISS index is read whatever is configured).
    """
    from index.store import FaissStore

    hint = rebuild_hint(index_dir)
    configured = "milvus" if milvus is not None else "faiss"
    if parsed.store != configured and not (any_store and parsed.store == "faiss"):
        raise store_mismatch(index_dir, parsed.store, configured)
    if parsed.milvus is not None and milvus is not None:
        from index.milvus_store import MilvusStore

        info = parsed.milvus
        try:
            return MilvusStore.open(milvus, info.collection, info.kind,
                                    info.params.model_dump(exclude_none=True), parsed.units,
                                    parsed.model.dimension)
        except StoreSwitched as exc:
            raise StoreSwitched(f"index at {index_dir}: {exc}; {hint}") from None
        except IndexLoadError as exc:
            raise IndexLoadError(f"index at {index_dir} is corrupt: {exc}; {hint}") from None
    try:
        return FaissStore.load(folder / VECTORS, parsed.faiss.kind,
                               parsed.faiss.params.model_dump(exclude_none=True), mmap=mmap)
    except RuntimeError as exc:
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
            digest = _sha256_regular(path) if size <= HASH_CHECK_LIMIT else expected.sha256
        except OSError as exc:
            raise IndexLoadError(f"index at {index_dir} is corrupt: {name} cannot be read "
                                 f"({exc.strerror or exc}); {hint}") from None
        if digest != expected.sha256:
            raise IndexLoadError(f"index at {index_dir} is corrupt: {name} fails its "
                                 f"checksum; {hint}")


def load_index(index_dir: Path, *, model: str, fingerprint: str | None = None,
               dimension: int | None = None, mmap: bool = False,
               milvus: MilvusConfig | None = None) -> IndexData:
    """Load and verify the index ``index_dir`` names, built for ``model``."""
    return _load_folder(index_dir, live_folder(index_dir), model=model,
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
            data = _load_folder(index_dir, folder, model=model, fingerprint=fingerprint,
                                dimension=dimension, mmap=mmap, milvus=milvus)
            return data, load_lexical(data, mmap=mmap)
        except IndexLoadError:
            if attempt == READ_ATTEMPTS or live_folder(index_dir) == folder:
                raise
            log.info("index %s was switched while it was read: reading it again", index_dir)
    raise AssertionError("unreachable")


def load_lexical(data: IndexData, *, mmap: bool = False) -> Lexical:
    """The index's lexical model: read from its files (checked by :func:`load_index`), or
    rebuilt from the units for an index written before they existed."""
    files = data.manifest.get("files", {})
    hint = rebuild_hint(data.shown)
    if all(name in files for name in LEXICAL_FILES):
        try:
            lexical = Lexical.load(data.path, mmap=mmap)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexLoadError(f"index at {data.shown} is corrupt: its lexical model cannot "
                                 f"be read ({exc}); {hint}") from None
        if lexical.size != len(data.units):
            raise IndexLoadError(f"index at {data.shown} is corrupt: its lexical model has "
                                 f"{lexical.size} units, the index {len(data.units)}; {hint}")
        return lexical
    log.info("index %s has no saved lexical model: building it", data.shown)
    return Lexical([u.text for u in data.units])


def _current(index_dir: Path, folder: Path, embedder: Embedder,
             milvus: MilvusConfig | None = None) -> IndexData | None:
    """The index in ``folder`` when it passes the checks ``load_index`` makes, else None.

    An index on the other store is read too (its vectors can be reused), when it can be.
    """
    if not (folder / MANIFEST).is_file():
        return None
    try:
        return _load_folder(index_dir, folder, model=embedder.name,
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


# --- building ------------------------------------------------------------------------------
@contextlib.contextmanager
def _writing(index_dir: Path) -> Iterator[None]:
    """Turn a failed write (read-only or full file system, a path in the way) into one line."""
    try:
        yield
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        reason = f"{exc.strerror}{where}" if exc.strerror else str(exc)
        raise IndexWriteError(f"cannot write the index at {index_dir}: {reason}; "
                              f"the index there is unchanged") from None
    except RuntimeError as exc:  # faiss.write_index reports a failed write this way
        text = str(exc).strip()
        reason = text.splitlines()[-1] if text else "write failed"
        raise IndexWriteError(f"cannot write the index at {index_dir}: {reason[-160:]}; "
                              f"the index there is unchanged") from None


@contextlib.contextmanager
def _build_lock(target: Path, index_dir: Path) -> Iterator[None]:
    """Hold the build lock of ``target`` (a file beside it); wait, saying so, if it is taken."""
    import fcntl

    with _writing(index_dir):  # the first write: a read-only place fails here, at once
        fd = os.open(target.with_name(f".{target.name}.lock"),
                     os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("another build of %s is running: waiting for it to finish", index_dir)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


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
    with _writing(index_dir):
        target = index_target(index_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
    _check_target(target, index_dir)
    with _build_lock(target, index_dir):
        # The version qabot's link names now: proven qabot's by the link even when its
        # manifest is gone, so the switch away from it may delete it.
        linked = Path(os.path.realpath(target)) if _is_version_link(target) else None
        live = live_folder(target)
        alias = milvus.alias_for(target) if milvus is not None else None
        current = _current(index_dir, live, embedder, milvus)
        if not force and current is not None and _same_build(
                current.manifest, corpus, embedder.fingerprint, faiss_kind, labels, alias
        ) and _lexical_loads(current):
            if live != Path(os.path.realpath(target)):  # recovered: name it again
                with _writing(index_dir):
                    _point(target, _as_version(live, target))
            _cleanup(target, linked)  # what an interrupted build left
            _settle_milvus(milvus, alias, current.store)
            return BuildResult(index_dir, True, len(units), len(documents),
                               time.perf_counter() - started,
                               reason="corpus and model unchanged", sources=labels)
        _remove_stale_builds(target)  # their space first
        with _writing(index_dir):  # before encoding: a place that cannot be written fails now
            tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.build-{os.getpid()}-",
                                        dir=target.parent))
        store: VectorStore | None = None
        try:
            with _writing(index_dir):
                _write_json(tmp / BUILD_MARKER, {"made_by": PRODUCER, "folder": tmp.name,
                                                 "pid": os.getpid(),
                                                 "process": _process_identity(os.getpid())})
            texts = [embed_text(u, d.title) for d in documents for u in d.units]
            previous = None if force else _previous_vectors(current, embedder)
            del current
            vectors, reused = _encode_reusing(texts, embedder, previous,
                                              batch_size=batch_size, progress=progress)
            del previous  # the old index's units and vectors: free them before indexing
            if on_encoded is not None:
                on_encoded()
            store = _make_store(vectors, faiss_kind, milvus, alias, progress=progress)
            lexical = Lexical([u.text for u in units])
            with _writing(index_dir):
                _write_build(tmp, documents, embedder, store, lexical, {
                    "corpus_hash": corpus, "sources": labels, "reused_vectors": reused,
                    "requested": faiss_kind, "started": started, "alias": alias})
                _switch(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            drop = getattr(store, "drop", None)
            if drop is not None:  # a Milvus collection no index names
                drop()
            raise
        _cleanup(target, linked)
        _settle_milvus(milvus, alias, store)
    return BuildResult(index_dir, False, len(units), len(documents),
                       time.perf_counter() - started, reused=reused,
                       encoded=len(units) - reused, sources=labels)


def _make_store(vectors: np.ndarray, kind: str, milvus: MilvusConfig | None,
                alias: str | None, *, progress: bool) -> VectorStore:
    """Index ``vectors``: in FAISS, or in a new Milvus collection of ``alias``, complete."""
    from index.store import FaissStore

    if milvus is None or alias is None:
        return FaissStore.build(vectors, kind)
    from index.milvus_store import MilvusStore, new_collection_name, progress_bar

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


def _settle_milvus(milvus: MilvusConfig | None, alias: str | None,
                   store: VectorStore | None) -> None:
    """After a switch (or a skipped build): the alias names the live collection, and the
    older collections are dropped. A failure here is only a warning: readers follow the
    index folder, and the next build settles again."""
    if milvus is None or alias is None:
        return
    from index.errors import StoreError
    from index.milvus_store import MilvusStore, drop_older, point_alias

    if not isinstance(store, MilvusStore):
        return
    try:
        point_alias(milvus, alias, store.collection)
        drop_older(milvus, alias, store.collection)
    except StoreError as exc:
        log.warning("the index is switched, but %s; the next build tries again", exc)


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
    _write_json(folder / UNITS, [u.to_json() for u in units])
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
        "versions": _versions(),
        "reused_vectors": info["reused_vectors"],
        "files": {n: _file_info(folder / n) for n in (
            *(() if in_milvus else (VECTORS,)), UNITS, *lexical_files)},
    }
    _write_json(folder / MANIFEST, manifest)


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


# The files of an index, and every name qabot writes into an index folder. A folder holding
# anything else is not (only) an index, and is never replaced or deleted.
DATA_FILES = frozenset((VECTORS, UNITS, *LEXICAL_FILES))
OWN_FILES = frozenset((MANIFEST, *DATA_FILES, BUILD_MARKER))
NOT_QABOTS = "its manifest.json is not qabot's"


def _is_empty_dir(path: str) -> bool:
    try:
        with os.scandir(path) as entries:
            return not any(True for _ in entries)
    except OSError:
        return False


def foreign_entry(folder: Path, *, linked: bool = False) -> str | None:
    """Why ``folder`` may not be replaced or deleted by a build, or None when it may.

    Only a folder qabot can prove it wrote: the version its own link names (``linked``:
    proof even when the manifest is gone), or one whose manifest says qabot wrote it (see
    :func:`_manifest_proof`); and only when it holds nothing of anyone else's: entries with
    the names qabot writes, each a regular file or something that holds no data (a link, a
    FIFO or an empty folder in a file's place, as damage leaves them). Names alone prove
    nothing: another tool's ``manifest.json`` and ``vectors.faiss`` are not qabot's.
    """
    try:
        with os.scandir(folder) as found:
            entries = sorted(found, key=lambda e: e.name)
    except OSError as exc:
        return f"cannot list it ({exc.strerror or exc})"
    if not entries:
        return None
    for entry in entries:
        if entry.name not in OWN_FILES:
            return f"it holds {entry.name!r}, which qabot did not write"
        if entry.is_dir(follow_symlinks=False) and not _is_empty_dir(entry.path):
            return f"{entry.name!r} in it is a folder holding files"
    if linked:
        return None
    regular = {e.name for e in entries if e.is_file(follow_symlinks=False)}
    return _manifest_proof(folder, {e.name for e in entries}, regular)


def _manifest_proof(folder: Path, names: set[str], regular: set[str]) -> str | None:
    """None when ``folder``'s manifest proves qabot wrote the folder, else why not.

    Proof is qabot's mark (``"producer": "qabot"``, in every manifest it writes); for an
    index of an older qabot, without the mark, its content verified: a manifest qabot reads,
    listing exactly the data files the folder holds, each with its size and checksum.
    """
    if MANIFEST not in regular:
        return "it holds no manifest.json" if MANIFEST not in names \
            else "its manifest.json is not a regular file"
    try:
        manifest = json.loads(_read_regular(folder / MANIFEST))
    except (OSError, ValueError, RecursionError):
        return NOT_QABOTS
    if not isinstance(manifest, dict):
        return NOT_QABOTS
    if manifest.get("producer") == PRODUCER:
        return None
    try:
        model = validate(manifest)
        check_ranges(model)
    except ManifestError:
        return NOT_QABOTS
    unmatched = "its manifest.json has no qabot mark and its files do not match it"
    listed = set(model.files)
    needed = {UNITS} | ({VECTORS} if model.store == "faiss" else set())
    if not needed <= listed or listed | {MANIFEST} != names or not listed <= regular:
        return unmatched
    for name, expected in model.files.items():
        try:
            size = os.lstat(folder / name).st_size
            same = size == expected.size and (
                size > HASH_CHECK_LIMIT or _sha256_regular(folder / name) == expected.sha256)
        except OSError:
            same = False
        if not same:
            return unmatched
    return None


def _check_target(target: Path, index_dir: Path) -> None:
    """Refuse to build where a folder that is not a qabot index would be replaced."""
    if target.is_symlink() and not _is_version_link(target):
        raise IndexWriteError(f"{index_dir} is a symbolic link qabot cannot follow (a loop?)")
    folder = Path(os.path.realpath(target))
    if folder.exists() and not folder.is_dir():
        raise IndexLoadError(f"{index_dir} is a file, not an index folder")
    if folder.is_dir():
        why = foreign_entry(folder, linked=_is_version_link(target))
        if why is not None:
            raise IndexLoadError(f"{index_dir} is not a qabot index folder ({why}); "
                                 f"nothing was changed: choose another index folder")


def check_build_target(index_dir: Path) -> None:
    """Refuse, before any source is read or model loaded, a folder a build of ``index_dir``
    would not replace (see :func:`foreign_entry`); the build checks again."""
    _check_target(index_target(index_dir), index_dir)


def _process_identity(pid: int) -> str | None:
    """Which process ``pid`` is, beyond its number (numbers are reused): the boot and its
    start time, from /proc. None where that cannot be read (the process is gone, no /proc)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return f"{boot}/{fields[19]}"  # field 22 of stat: the start time
    except (OSError, IndexError):
        return None


def _running(pid: int, identity: str | None) -> bool:
    """True when process ``pid`` may still be the one recorded as ``identity`` (None: any)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        pass
    except (OverflowError, ValueError):  # no such process number
        return False
    now = _process_identity(pid) if identity is not None else None
    return now is None or now == identity


def _build_marker(folder: Path, pid: int) -> dict[str, Any] | None:
    """The marker a build wrote into ``folder`` as it made it, if it names this folder and
    ``pid``; None when there is none such (then qabot cannot prove the folder is its own)."""
    try:
        marker = json.loads(_read_regular(folder / BUILD_MARKER))
    except (OSError, ValueError, RecursionError):
        return None
    if isinstance(marker, dict) and marker.get("made_by") == PRODUCER \
            and marker.get("folder") == folder.name and marker.get("pid") == pid:
        return marker
    return None


def _remove_stale_builds(target: Path) -> None:
    """Delete the build folders that killed builds of ``target`` left (the build lock held).

    Only folders qabot can prove it made: named exactly as it names them, holding the
    marker it writes as it makes one (naming that folder and a process now gone), and
    nothing but what a build writes. An empty folder so named, of a process now gone (a
    build killed before its marker was written), holds nothing to lose and goes too.
    """
    for folder in _siblings(target, ".build-"):
        pid = _build_pid(folder.name, target.name)
        if pid is None or folder.is_symlink() or not folder.is_dir():
            continue
        marker = _build_marker(folder, pid)
        if marker is None:
            if not _running(pid, None):
                with contextlib.suppress(OSError):
                    os.rmdir(folder)  # fails unless empty
            continue
        identity = marker.get("process")
        if _running(pid, identity if isinstance(identity, str) else None):
            continue
        why = foreign_entry(folder, linked=True)
        if why is not None:
            log.warning("leaving %s in place: %s", folder, why)
            continue
        log.info("removing %s, left by an interrupted build", folder)
        shutil.rmtree(folder, ignore_errors=True)


def sweep_stale_builds(index_dir: Path) -> None:
    """Remove the build folders killed builds left beside ``index_dir`` (see
    :func:`_remove_stale_builds`), when no build is running: a reader takes the build lock
    only if it is free, never waiting. Any failure leaves them to the next build."""
    import fcntl

    try:
        target = index_target(index_dir)
        if not any(_build_pid(p.name, target.name) is not None
                   for p in _siblings(target, ".build-")):
            return
        fd = os.open(target.with_name(f".{target.name}.lock"),
                     os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        _remove_stale_builds(target)
    except OSError as exc:
        log.debug("stale build folders of %s left to the next build: %s", index_dir, exc)
    finally:
        os.close(fd)  # releases the lock


def _new_version(target: Path) -> Path:
    """A fresh version path beside ``target``; later calls sort after earlier ones."""
    while True:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        path = target.with_name(f".{target.name}.v-{stamp}-{os.getpid()}")
        if not os.path.lexists(path):
            return path
        time.sleep(0.001)


def _as_version(folder: Path, target: Path) -> Path:
    """``folder`` as a version of ``target`` (renamed to one if it is not)."""
    if folder.parent == target.parent and _is_version_name(folder.name, target.name):
        return folder
    version = _new_version(target)
    os.rename(folder, version)
    return version




def _switch(build: Path, target: Path) -> None:
    """Publish the finished ``build`` as a version and point ``target`` at it.

    The switch itself is one ``os.replace``. An index folder of an older qabot is first
    renamed to a version (an empty folder is removed): until the link replaces it, a
    reader finds the newest complete version instead. The build marker goes once the
    folder is a version (a kill just before leaves a version that qabot's manifest mark
    proves its own).
    """
    if target.is_dir() and not target.is_symlink():
        if any(target.iterdir()):
            _as_version(target, target)
        else:
            target.rmdir()
    version = _as_version(build, target)
    with contextlib.suppress(FileNotFoundError):
        (version / BUILD_MARKER).unlink()
    _point(target, version)
    with contextlib.suppress(OSError):
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _point(target: Path, version: Path) -> None:
    """Make ``target`` a link to ``version`` in one step: a link made aside, renamed over."""
    link = target.with_name(f".{target.name}.link-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        link.unlink()
    os.symlink(version.name, link)
    os.replace(link, target)




def _cleanup(target: Path, linked: Path | None = None) -> None:
    """Delete the versions ``target`` no longer names, and what killed builds left: only
    folders qabot can prove it wrote (``linked``: the version its link named before this
    build, proven by that), holding nothing but qabot's files."""
    _remove_stale_builds(target)
    live = Path(os.path.realpath(target))
    for folder in (*_versions_beside(target), backup_path(target)):
        if folder == live or folder.is_symlink() or not folder.is_dir():
            continue
        why = foreign_entry(folder, linked=folder == linked)
        if why is None:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            log.warning("leaving %s in place: %s", folder, why)
    for link in _siblings(target, ".link-"):
        if link.is_symlink() and re.fullmatch(rf"\.{re.escape(target.name)}\.link-\d+",
                                              link.name):
            with contextlib.suppress(OSError):
                link.unlink()
