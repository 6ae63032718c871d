"""The manifest of an index folder: reading it, validating it, and checking it fits.

``manifest.json`` holds the format version, qabot's mark (``"producer"``), the model and its
weights' fingerprint, the dimension, the corpus hash, the splitter and embedding settings,
the unit count, the documents (name, title, source, unit range, URL when known), the
sources given to the build, where the vectors are (a FAISS file, or with
``QABOT_STORE=milvus`` the Milvus collection holding them), build time, package versions,
and the size and sha256 of each data file.

A manifest is read from disk, where anything can happen to it (an edit, a partial copy, a
file from elsewhere): :func:`validate` turns a wrong type anywhere into one
:class:`ManifestError` naming the field, so no caller meets an AttributeError, TypeError or
KeyError; :func:`check_ranges` checks that the documents tile the units.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from index.errors import IndexLoadError
from index.files import NotRegular, read_regular
from index.json_input import parse as parse_json
from index.sources.documents import BUILTIN_ARTICLE, builtin_article
from index.storage.folder import DATA_FILES, MANIFEST, UNITS, VECTORS, live_folder, names_version
from index.storage.versions import sweep_stale_builds

FORMAT_VERSION = 1
# How the built-in article is recorded as a source: its path changes with the install.
BUILTIN_SOURCE = f"builtin:{BUILTIN_ARTICLE}"
# How unit texts are turned into what is embedded; a change invalidates older indexes. A
# unit's section joins the title ("{title} › {section}") only where it has one: units
# without one, all that an older index holds, embed exactly as before, so the template
# recorded stays the same and older indexes stay valid.
EMBEDDING_SETTINGS = {"template": "{title}: {text}", "normalised": True}

# Strict: JSON gives exact types, so "5" for a number or true for a count is damage, not a
# value to coerce. Unknown fields are ignored (the format version guards what is read).
_STRICT = ConfigDict(strict=True, extra="ignore", frozen=True)


class ManifestError(ValueError):
    """The manifest is not one qabot can read; the message names the field."""


class ModelInfo(BaseModel):
    model_config = _STRICT

    name: str = Field(min_length=1)
    fingerprint: str | None = None
    dimension: int = Field(ge=1)


class FileInfo(BaseModel):
    model_config = _STRICT

    size: int = Field(ge=0)
    sha256: str


class DocEntry(BaseModel):
    model_config = _STRICT

    name: str = Field(min_length=1)
    title: str
    source: str
    start: int = Field(ge=0)
    count: int = Field(ge=1)
    url: str = ""  # absent in older indexes and for documents without one


class FaissParams(BaseModel):
    """The search parameters FaissStore reads back (only those of the index's kind are set)."""

    model_config = _STRICT

    M: int | None = Field(None, ge=1)
    efConstruction: int | None = Field(None, ge=1)
    efSearch: int | None = Field(None, ge=1)
    nlist: int | None = Field(None, ge=1)
    nprobe: int | None = Field(None, ge=1)


class FaissInfo(BaseModel):
    model_config = _STRICT

    kind: Literal["flat", "hnsw", "ivf"] = "flat"
    params: FaissParams = FaissParams()
    requested: Literal["auto", "flat", "hnsw", "ivf"] = "auto"


class MilvusInfo(BaseModel):
    """Where an index keeps its vectors in Milvus (``store`` "milvus"): the collection
    readers search, the alias builds switch, the URI shown (never with credentials), and
    the index kind and its parameters as for FAISS."""

    model_config = _STRICT

    collection: str = Field(min_length=1)
    alias: str = Field(min_length=1)
    uri: str = ""
    kind: Literal["flat", "hnsw", "ivf"] = "flat"
    params: FaissParams = FaissParams()
    requested: Literal["auto", "flat", "hnsw", "ivf"] = "auto"


class Manifest(BaseModel):
    """What ``ask``, ``index info`` and ``index build`` read of ``manifest.json``."""

    model_config = _STRICT

    format_version: int
    producer: str = ""  # "qabot" (index.storage.folder.PRODUCER); absent in older indexes
    model: ModelInfo
    corpus_hash: str = ""
    splitter: dict[str, Any] | None = None
    embedding: dict[str, Any] | None = None
    units: int = Field(ge=0)
    documents: list[DocEntry]
    faiss: FaissInfo = FaissInfo()
    store: Literal["faiss", "milvus"] = "faiss"  # absent in older indexes: FAISS
    milvus: MilvusInfo | None = None  # with store "milvus"
    built_at: str = ""
    files: dict[str, FileInfo]
    # As given to the build; absent in older indexes.
    sources: list[Annotated[str, Field(min_length=1)]] | None = None


_KINDS = {"model_type": "should be a JSON object", "dict_type": "should be a JSON object",
          "list_type": "should be a JSON list", "missing": "is missing"}


def _field_name(loc: Sequence[int | str]) -> str:
    """``("documents", 1, "start")`` -> ``documents[1].start``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(the whole manifest)"


def validate(raw: Any) -> Manifest:
    """Validate a parsed ``manifest.json``; raise ManifestError naming the first bad field."""
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        what = _KINDS.get(err["type"], err["msg"].removeprefix("Input ").lower())
        raise ManifestError(f"field {_field_name(err['loc'])}: {what}") from None
    if manifest.store == "milvus" and manifest.milvus is None:
        raise ManifestError("field milvus: is missing")
    return manifest


def check_ranges(manifest: Manifest) -> None:
    """Check that the documents tile units 0..units-1 in order, each name once."""
    pos = 0
    seen: set[str] = set()
    for doc in manifest.documents:
        if doc.name in seen:
            raise ManifestError(f"document {doc.name!r} is listed twice")
        seen.add(doc.name)
        if doc.start != pos:
            raise ManifestError(f"document {doc.name!r} starts at unit {doc.start}, "
                                f"where the previous one ends at {pos}")
        pos += doc.count
    if pos != manifest.units:
        raise ManifestError(f"the documents hold {pos} units, the manifest says "
                            f"{manifest.units}")


def check_unit_owners(manifest: Manifest, unit_docs: Sequence[str]) -> None:
    """Check that each unit belongs to the document whose range holds it."""
    for doc in manifest.documents:
        for uid in range(doc.start, min(doc.start + doc.count, len(unit_docs))):
            if unit_docs[uid] != doc.name:
                raise ManifestError(f"unit {uid} belongs to {unit_docs[uid]!r}, but document "
                                    f"{doc.name!r} claims units {doc.start} to "
                                    f"{doc.start + doc.count - 1}")


def rebuild_hint(index_dir: Path, verb: str = "rebuild it", *, sources: bool = False) -> str:
    """How to (re)build the index at ``index_dir``: ``--index-dir`` named unless default;
    ``sources``: with ``--source`` too (the index cannot say what it was built from)."""
    from config.settings import default_index_dir

    command = "qabot index build"
    if os.path.abspath(index_dir) != os.path.abspath(default_index_dir()):
        command += f" --index-dir {shlex.quote(str(index_dir))}"
    if sources:
        command += " --source PATH"
    return f"{verb} with `{command}`"


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


BAD_SOURCES = "field sources: should be a JSON list of paths"


def recorded_sources(manifest: dict[str, Any]) -> list[str]:
    """The sources an index was built from (none recorded: an empty list).

    A record of another type raises ManifestError: a string iterated as a list would be
    read one character at a time, its first "source" ``/``.
    """
    sources = manifest.get("sources")
    if sources is None:
        return []
    if not isinstance(sources, list) or not all(isinstance(s, str) and s for s in sources):
        raise ManifestError(BAD_SOURCES)
    return list(sources)


def parse_manifest(index_dir: Path, folder: Path) -> tuple[dict[str, Any], Manifest]:
    """Read ``folder``'s manifest (of the index named ``index_dir``), validated."""
    path = folder / MANIFEST
    hint = rebuild_hint(index_dir)
    try:
        raw = read_regular(path).decode("utf-8")
    except FileNotFoundError:
        if names_version(index_dir, folder):
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
        if str(exc).startswith("field sources"):
            raise sources_unknown(index_dir) from None
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
    return parse_manifest(index_dir, live_folder(index_dir))[0]


def sources_unknown(index_dir: Path) -> IndexLoadError:
    """The error for an index whose record of its sources is damaged (of another type)."""
    return IndexLoadError(f"index at {index_dir} is corrupt: manifest.json {BAD_SOURCES}, "
                          f"so what it was built from is unknown; "
                          f"{rebuild_hint(index_dir, sources=True)}")


def sources_on_record(index_dir: Path) -> list[str] | None:
    """The sources the index at ``index_dir`` records, read leniently: a damaged index still
    says what it was built from. None when there is no index or no readable record; a
    record of another type than a list of paths raises IndexLoadError (never read as one)."""
    try:
        manifest = json.loads(read_regular(live_folder(index_dir) / MANIFEST))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(manifest, dict):
        return None
    try:
        return recorded_sources(manifest) or None
    except ManifestError:
        raise sources_unknown(index_dir) from None


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


def store_mismatch(index_dir: Path, built: str, configured: str) -> IndexLoadError:
    """The error for an index whose vectors are in another store than the one configured."""
    where = "in Milvus" if built == "milvus" else "in a FAISS file"
    reuse = " (its vectors are reused)" if built == "faiss" else ""
    return IndexLoadError(f"index at {index_dir} keeps its vectors {where}, but QABOT_STORE is "
                          f"{configured}; set QABOT_STORE={built}, or "
                          f"{rebuild_hint(index_dir, 'move it')}{reuse}")

