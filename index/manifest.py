"""The manifest of an index folder, validated: every field a reader uses has its JSON type.

A manifest is read from disk, where anything can happen to it (an edit, a partial copy, a
file from elsewhere): :func:`validate` turns a wrong type anywhere into one
:class:`ManifestError` naming the field, so no caller meets an AttributeError, TypeError or
KeyError; :func:`check_ranges` checks that the documents tile the units.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

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
    producer: str = ""  # "qabot" (index.storage.PRODUCER); absent in older indexes
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
    sources: list[str] | None = None  # as given to the build; absent in older indexes


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
