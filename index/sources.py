"""Reading sources into documents made of units (sentences, or pre-split JSONL units)."""

from __future__ import annotations

import json
import logging
import stat
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from index.errors import SourceError
from index.splitter import split_sentences

TEXT_SUFFIXES = (".txt", ".md")
JSONL_SUFFIX = ".jsonl"
BUILTIN_ARTICLE = "trump-putin-g20-meeting.txt"
BIG_CORPUS = 1 << 20  # bytes: reading and splitting more than this is announced

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Unit:
    """One retrievable unit: a sentence, or a JSONL unit kept exactly as given.

    ``position`` is the 0-based place of the unit in its document; ``start``/``end`` are
    character offsets into the source text (``None`` for JSONL units, which have no text
    around them).
    """

    id: str
    doc: str
    text: str
    position: int
    start: int | None = None
    end: int | None = None
    paragraph: int = 0
    title: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Unit:
        return cls(**data)


@dataclass(slots=True)
class Document:
    """A named document and its units, in order."""

    name: str
    source: str
    title: str = ""
    units: list[Unit] = field(default_factory=list)


def humanise(name: str) -> str:
    """A readable title from a file stem or document name ("g20-summit" -> "g20 summit")."""
    return " ".join(name.replace("_", " ").replace("-", " ").split())


def embed_text(unit: Unit, title: str) -> str:
    """The text embedded for a unit: its document title as context, then the unit."""
    return f"{title}: {unit.text}" if title else unit.text


def builtin_article() -> Path:
    """Return the path of the article shipped inside the package."""
    return Path(str(resources.files("index") / "data" / BUILTIN_ARTICLE))


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


def _read_text(path: Path) -> str:
    if path.exists() and not path.is_dir() and not _is_regular(path):
        # A FIFO would block the read forever: refuse it without opening it.
        raise SourceError(f"{path}: not a regular file (a FIFO, socket or device); give a "
                          "file or a folder")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SourceError(
            f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from None
    return text.removeprefix("\ufeff")


def read_text_document(path: Path, name: str | None = None) -> Document:
    """Read a .txt/.md file as one document named after the file stem, split into sentences."""
    text = _read_text(path)
    doc = name or path.stem
    spans = split_sentences(text)
    if not spans:
        raise SourceError(f"{path}: empty document (no text to index)")
    units = [
        Unit(
            id=f"{doc}:{i}",
            doc=doc,
            text=text[s.start : s.end],
            position=i,
            start=s.start,
            end=s.end,
            paragraph=s.paragraph,
        )
        for i, s in enumerate(spans)
    ]
    return Document(name=doc, source=str(path), title=humanise(doc), units=units)


def _field(obj: dict[str, Any], key: str, where: str, required: bool = True) -> str:
    value = obj.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        kind = "missing" if value is None else f"not a string ({type(value).__name__})"
        raise SourceError(f'{where}: field "{key}" is {kind}')
    return value


def read_jsonl_documents(path: Path) -> list[Document]:
    """Read pre-split units, one JSON object a line: {"id", "doc", "text", "title"?}."""
    text = _read_text(path)
    docs: dict[str, Document] = {}
    seen: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SourceError(f"{where}: not valid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise SourceError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        uid = _field(obj, "id", where)
        doc = _field(obj, "doc", where)
        body = _field(obj, "text", where)
        title = _field(obj, "title", where, required=False)
        if not uid.strip() or not doc.strip():
            raise SourceError(f'{where}: "id" and "doc" must not be empty')
        if not body.strip():
            raise SourceError(f'{where}: unit "{uid}" has empty text')
        if uid in seen:
            raise SourceError(f'{where}: duplicate id "{uid}" (first on line {seen[uid]})')
        seen[uid] = lineno
        document = docs.setdefault(doc, Document(name=doc, source=str(path),
                                                 title=title or humanise(doc)))
        document.units.append(
            Unit(id=uid, doc=doc, text=body, position=len(document.units), title=title)
        )
    if not docs:
        raise SourceError(f"{path}: empty document (no units)")
    return list(docs.values())


def _folder_files(folder: Path) -> list[Path]:
    """The folder's .txt/.md regular files; links are followed only when they stay inside."""
    inside = folder.resolve()
    files = []
    for entry in sorted(folder.iterdir()):
        if entry.suffix.lower() not in TEXT_SUFFIXES or entry.is_dir():
            continue
        if entry.is_symlink() and not entry.resolve().is_relative_to(inside):
            log.warning("skipping %r: a link to outside the folder", str(entry))
        elif not _is_regular(entry):
            log.warning("skipping %r: not a regular file", str(entry))
        else:
            files.append(entry)
    return files


def _expand(path: Path) -> list[Path]:
    if path.is_dir():
        files = _folder_files(path)
        if not files:
            raise SourceError(f"{path}: folder has no .txt or .md files")
        return files
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    return [path]


def _size(files: Sequence[Path]) -> int:
    return sum(f.stat().st_size for f in files if _is_regular(f))


def load_sources(paths: Sequence[Path] | None = None, *,
                 notify: Callable[[str], None] | None = None) -> list[Document]:
    """Read every source; no paths means the built-in article.

    Reading more than :data:`BIG_CORPUS` bytes is announced through ``notify`` (default: the
    log, at INFO), before and after.
    """
    files: Sequence[Path] = [builtin_article()] if not paths else []
    if paths:
        files = [f for p in paths for f in _expand(Path(p))]
    size = _size(files)
    say = notify or log.info
    started = time.perf_counter()
    if size > BIG_CORPUS:
        say(f"reading and splitting {size / 1e6:.1f} MB of sources ({_count(len(files), 'file')})"
            "...")
    documents = _read_all(files)
    if size > BIG_CORPUS:
        units = sum(len(d.units) for d in documents)
        say(f"read {_count(len(documents), 'document')}, {_count(units, 'unit')} in "
            f"{time.perf_counter() - started:.1f} s")
    return documents


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _read_all(files: Iterable[Path]) -> list[Document]:
    documents: list[Document] = []
    names: dict[str, str] = {}
    ids: set[str] = set()
    for file in files:
        suffix = file.suffix.lower()
        if suffix == JSONL_SUFFIX:
            found = read_jsonl_documents(file)
        elif suffix in TEXT_SUFFIXES:
            found = [read_text_document(file)]
        else:
            raise SourceError(f"{file}: unsupported file type (use .txt, .md or .jsonl)")
        for doc in found:
            if doc.name in names:
                raise SourceError(
                    f'{file}: document "{doc.name}" already comes from {names[doc.name]}'
                )
            names[doc.name] = str(file)
            for unit in doc.units:
                if unit.id in ids:
                    raise SourceError(f'{file}: duplicate unit id "{unit.id}"')
                ids.add(unit.id)
            documents.append(doc)
    return documents
