"""Reading sources into documents made of units (sentences, or pre-split JSONL units).

Plain text is split as it is; Markdown, reStructuredText and HTML are parsed first
(:mod:`index.sources.parsing`), so that headings become the section each sentence carries rather
than sentences of their own. A folder is read recursively, as if each file in it had been
given; what it holds that is not read is counted in one summary line.
"""

from __future__ import annotations

import errno
import itertools
import json
import logging
import os
import re
import stat
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from index.errors import SourceError
from index.files import is_utf8
from index.json_input import parse as parse_json
from index.sources.parsing import SECTION_SEPARATOR, Parsed, check_url
from index.sources.splitter import split_sentences
from index.wording import plural

TEXT_SUFFIXES = (".txt",)  # split as they are
MARKDOWN_SUFFIXES = (".md", ".markdown")
HTML_SUFFIXES = (".html", ".htm")
RST_SUFFIXES = (".rst",)
JSONL_SUFFIX = ".jsonl"
SUPPORTED = (*TEXT_SUFFIXES, *MARKDOWN_SUFFIXES, *RST_SUFFIXES, *HTML_SUFFIXES, JSONL_SUFFIX)
BUILTIN_ARTICLE = "trump-putin-g20-meeting.txt"
BIG_CORPUS = 1 << 20  # bytes: reading and splitting more than this is announced
NAMED_SKIPS = 3  # file names shown for each reason in the skipped-files line
NOT_UTF8 = "named in bytes that are not UTF-8"  # an index records names as UTF-8 text

log = logging.getLogger(__name__)


class EmptyDocument(SourceError):
    """A source with nothing to index: refused when named, skipped inside a folder."""


@dataclass(frozen=True, slots=True)
class Unit:
    """One retrievable unit: a sentence, or a JSONL unit kept exactly as given.

    ``position`` is the 0-based place of the unit in its document; ``start``/``end`` are
    character offsets into the source text of a plain-text file (``None`` for JSONL units,
    which have no text around them, and for parsed documents, whose text is not a slice of
    their markup). ``section`` is the path of headings above the unit (" › " between
    levels), ``url`` the web address of its source; both are "" when there is none, and
    left out of the JSON then, so that an index of plain text is written as before.
    """

    id: str
    doc: str
    text: str
    position: int
    start: int | None = None
    end: int | None = None
    paragraph: int = 0
    title: str = ""
    section: str = ""
    url: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("section", "url"):
            if not data[key]:
                del data[key]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Unit:
        return cls(**data)


@dataclass(slots=True)
class Document:
    """A named document and its units, in order; ``url`` is its web address, if known."""

    name: str
    source: str
    title: str = ""
    url: str = ""
    units: list[Unit] = field(default_factory=list)


def humanise(name: str) -> str:
    """A readable title from a file stem or document name ("g20-summit" -> "g20 summit")."""
    return " ".join(name.replace("_", " ").replace("-", " ").split())


def embed_text(unit: Unit, title: str) -> str:
    """The text embedded for a unit: its document title and section as context, then the
    unit ("Title › Section: text"); without a section exactly "Title: text", as always."""
    head = SECTION_SEPARATOR.join(x for x in (title, unit.section) if x)
    return f"{head}: {unit.text}" if head else unit.text


def builtin_article() -> Path:
    """Return the path of the article shipped inside the package."""
    return Path(str(resources.files("index") / "data" / BUILTIN_ARTICLE))


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


def _read_bytes(path: Path) -> bytes:
    if path.exists() and not path.is_dir() and not _is_regular(path):
        # A FIFO would block the read forever: refuse it without opening it.
        raise SourceError(f"{path}: not a regular file (a FIFO, socket or device); give a "
                          "file or a folder")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _read_text(path: Path) -> str:
    raw = _read_bytes(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SourceError(
            f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from None
    return text.removeprefix("\ufeff")


def read_text_document(path: Path, name: str | None = None) -> Document:
    """Read a plain-text file as one document named after the file stem, split into
    sentences."""
    text = _read_text(path)
    doc = name or path.stem
    spans = split_sentences(text)
    if not spans:
        raise EmptyDocument(f"{path}: empty document (no text to index)")
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


def _parse(path: Path) -> Parsed:
    """Parse a Markdown, reStructuredText or HTML file by its suffix."""
    import index.sources.parsing as parsing

    where, suffix = str(path), path.suffix.lower()
    if suffix in HTML_SUFFIXES:
        # A saved page declares its own encoding (often not UTF-8): it is read in that.
        return parsing.parse_html(_read_bytes(path), where)
    if suffix in RST_SUFFIXES:
        return parsing.parse_rst(_read_text(path), where)
    return parsing.parse_markdown(_read_text(path), where)


FRAGMENT_WORDS = 2  # a piece of at most this many words is not a unit of its own
_WORDS = re.compile(r"\w+")


def _small(text: str) -> bool:
    return len(_WORDS.findall(text)) <= FRAGMENT_WORDS


_CODE_MARKS = re.compile(r"[=/\\_<>$@{}\[\]()`.]|^-")


def _ends_in_prose(text: str) -> bool:
    """True when ``text`` ends in a word of prose: not in punctuation, and not in an option,
    path or name (``-Drootprefix=``, ``--json``, ``a/b``, ``x.y``), which a full stop after
    it would change."""
    last = text.rsplit(None, 1)[-1] if text.strip() else ""
    return last[-1:].isalnum() and not _CODE_MARKS.search(last)


def _glue(before: str, after: str) -> str:
    """Two pieces as one text: a full stop between them when the first ends in a word of
    prose ("Default: true. Type: Boolean"), else a space (a sentence's own end, a quote
    mark, an option such as ``-Drootprefix=`` is kept as it was written)."""
    plain = not (_ends_in_prose(before) and _WORDS.search(after))
    return before + (" " if plain else ". ") + after


def join_fragments(pieces: Sequence[tuple[str, int, str]]) -> list[tuple[str, int, str]]:
    """Join each piece of text of at most :data:`FRAGMENT_WORDS` words (``Type: Boolean``,
    a lone ``json``, a quote mark) to the piece before it in its section, or, first in its
    section, to the one after it: alone it answers nothing and is found by chance. A
    section of fragments only stays as it is. Pieces are ``(text, paragraph, section)``."""
    out: list[tuple[str, int, str]] = []
    for _, group in itertools.groupby(pieces, key=lambda piece: piece[2]):
        run = list(group)
        if all(_small(text) for text, _, _ in run):
            out.extend(run)
            continue
        lead: list[str] = []
        joined: list[tuple[str, int, str]] = []
        for text, paragraph, section in run:
            if _small(text) and joined:
                joined[-1] = (_glue(joined[-1][0], text), joined[-1][1], section)
            elif _small(text):
                lead.append(text)
            else:
                for fragment in reversed(lead):
                    text = _glue(fragment, text)
                lead = []
                joined.append((text, paragraph, section))
        out.extend(joined)
    return out


def read_parsed_document(path: Path, name: str | None = None) -> Document:
    """Read a Markdown, reStructuredText or HTML file as one document: each block of prose
    split into sentences that carry the headings above it as their section."""
    parsed = _parse(path)
    doc = name or path.stem
    pieces = [(block.text[span.start : span.end], number, block.section_label)
              for number, block in enumerate(parsed.blocks)
              for span in split_sentences(block.text)]
    units = [Unit(id=f"{doc}:{i}", doc=doc, text=text, position=i, paragraph=number,
                  section=section, url=parsed.url)
             for i, (text, number, section) in enumerate(join_fragments(pieces))]
    if not units:
        raise EmptyDocument(f"{path}: empty document (no text to index)")
    return Document(name=doc, source=str(path), title=parsed.title or humanise(doc),
                    url=parsed.url, units=units)


def _field(obj: dict[str, Any], key: str, where: str, required: bool = True) -> str:
    value = obj.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        kind = "missing" if value is None else f"not a string ({type(value).__name__})"
        raise SourceError(f'{where}: field "{key}" is {kind}')
    return value


def read_jsonl_documents(path: Path) -> list[Document]:
    """Read pre-split units, one JSON object a line: {"id", "doc", "text", "title"?, "url"?}.

    A document's URL is the first one its units give.
    """
    text = _read_text(path)
    docs: dict[str, Document] = {}
    seen: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            obj = parse_json(line)
        except json.JSONDecodeError as exc:
            raise SourceError(f"{where}: not valid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise SourceError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        uid = _field(obj, "id", where)
        doc = _field(obj, "doc", where)
        body = _field(obj, "text", where)
        title = _field(obj, "title", where, required=False)
        url = check_url(obj["url"], where) if obj.get("url") not in (None, "") else ""
        if not uid.strip() or not doc.strip():
            raise SourceError(f'{where}: "id" and "doc" must not be empty')
        if not body.strip():
            raise SourceError(f'{where}: unit "{uid}" has empty text')
        if uid in seen:
            raise SourceError(f'{where}: duplicate id "{uid}" (first on line {seen[uid]})')
        seen[uid] = lineno
        document = docs.setdefault(doc, Document(name=doc, source=str(path),
                                                 title=title or humanise(doc)))
        document.url = document.url or url
        document.units.append(
            Unit(id=uid, doc=doc, text=body, position=len(document.units), title=title,
                 url=url)
        )
    if not docs:
        raise EmptyDocument(f"{path}: empty document (no units)")
    return list(docs.values())


class _Skipped:
    """What a folder holds that is not read: by reason, counted and named."""

    def __init__(self) -> None:
        self.names: defaultdict[str, list[str]] = defaultdict(list)

    def add(self, reason: str, entry: Path, folder: Path) -> None:
        log.debug("skipping %r: %s", str(entry), reason)
        self.names[reason].append(entry.relative_to(folder).as_posix())

    def summary(self, folder: Path) -> str:
        """One line: how many were skipped and why, naming the first few of each reason."""
        total = sum(len(v) for v in self.names.values())
        parts = []
        for reason, names in sorted(self.names.items(), key=lambda kv: -len(kv[1])):
            shown = ", ".join(names[:NAMED_SKIPS]) + (", …" if len(names) > NAMED_SKIPS else "")
            parts.append(f"{len(names)} {reason} ({shown})")
        return f"skipped {plural(total, 'file')} in {folder}: {'; '.join(parts)}"


def _folder_files(folder: Path, skipped: _Skipped) -> list[tuple[Path, str]]:
    """The readable files under ``folder``, recursively, each with its document name.

    Links are followed only when they stay inside the folder (never links to folders: a
    loop, or the same files twice); hidden entries (".git") and files of other types are
    left out, and counted in ``skipped``. A file in a subfolder is named by its path from
    the folder ("guides/setup"), so that two README files do not collide.
    """
    inside = folder.resolve()
    files = []
    def unreadable(exc: OSError) -> None:  # a folder inside that cannot be listed
        skipped.add("a folder qabot cannot read", Path(exc.filename), folder)

    for root, dirs, names in os.walk(folder, onerror=unreadable):
        here = Path(root)
        for name in sorted(dirs):
            entry = here / name
            if name.startswith("."):
                skipped.add("hidden", entry, folder)
                dirs.remove(name)
            elif not is_utf8(name):
                skipped.add(NOT_UTF8, entry, folder)
                dirs.remove(name)
            elif entry.is_symlink():
                skipped.add("a link to a folder", entry, folder)
                dirs.remove(name)
        dirs.sort()
        for name in sorted(names):
            entry = here / name
            reason = _skip_reason(entry, inside)
            if reason:
                skipped.add(reason, entry, folder)
            else:
                files.append((entry, entry.relative_to(folder).with_suffix("").as_posix()))
    return files


def _loops(path: Path) -> bool:
    """True when ``path`` is a symbolic link that leads back to itself (ELOOP)."""
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


def _skip_reason(entry: Path, inside: Path) -> str:
    """Why a file in a folder is not read ("" when it is)."""
    if entry.name.startswith("."):
        return "hidden"
    if not is_utf8(entry.name):
        return NOT_UTF8
    if entry.suffix.lower() not in SUPPORTED:
        return "of a type qabot does not read"
    if entry.is_symlink() and _loops(entry):
        return "a link loop"
    if entry.is_symlink() and not Path(os.path.realpath(entry)).is_relative_to(inside):
        return "a link to outside the folder"
    if not _is_regular(entry):
        return "not a regular file"
    if entry.stat().st_size == 0:  # one empty file must not fail a folder of good ones
        return "empty"
    return ""


def _expand(path: Path, say: Callable[[str], None]) -> list[tuple[Path, str | None]]:
    _check_source(path)
    if path.is_dir():
        skipped = _Skipped()
        files: list[tuple[Path, str | None]] = list(_folder_files(path, skipped))
        if skipped.names:
            say(skipped.summary(path))
        if not files:
            raise SourceError(f"{path}: folder has no files qabot reads ({_kinds()})")
        return files
    if _loops(path):
        raise SourceError(f"{path}: a symbolic link loop (it leads back to itself); give a "
                          "file or a folder")
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    return [(path, None)]


def _check_source(path: Path) -> None:
    """Refuse a source whose path is not UTF-8 text (the index records it) or that the OS
    will not let qabot look at (a name too long, a folder above it that cannot be searched)."""
    if not is_utf8(os.path.abspath(path)):
        raise SourceError(f"{path}: the name is not UTF-8 text, which an index cannot "
                          "record; rename it")
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):  # said later
            raise SourceError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _kinds() -> str:
    return ", ".join(SUPPORTED)


def _size(files: Sequence[Path]) -> int:
    return sum(f.stat().st_size for f in files if _is_regular(f))


def load_sources(paths: Sequence[Path] | None = None, *,
                 notify: Callable[[str], None] | None = None) -> list[Document]:
    """Read every source; no paths means the built-in article.

    Reading more than :data:`BIG_CORPUS` bytes is announced through ``notify`` (default: the
    log, at INFO), before and after; the files a folder holds that are not read, in one
    line through ``notify`` (default: the log, at WARNING).
    """
    say = notify or log.info
    warn = notify or log.warning  # skipped files are never silent
    files: list[tuple[Path, str | None]] = [(builtin_article(), None)] if not paths else []
    if paths:
        files = [f for p in paths for f in _expand(Path(p), warn)]
    size = _size([f for f, _ in files])
    started = time.perf_counter()
    if size > BIG_CORPUS:
        say(f"reading and splitting {size / 1e6:.1f} MB of sources ({plural(len(files), 'file')})"
            "...")
    documents = _read_all(files, warn)
    if size > BIG_CORPUS:
        units = sum(len(d.units) for d in documents)
        say(f"read {plural(len(documents), 'document')}, {plural(units, 'unit')} in "
            f"{time.perf_counter() - started:.1f} s")
    return documents


def _read_all(files: Iterable[tuple[Path, str | None]], warn: Callable[[str], None]
              ) -> list[Document]:
    """Read every file; a file of a folder (named) with no text is skipped and said."""
    documents: list[Document] = []
    names: dict[str, str] = {}
    ids: set[str] = set()
    empty: list[str] = []
    for file, name in files:
        try:
            found = _read_one(file, name)
        except EmptyDocument:
            if name is None:  # a file given by name: the user meant it
                raise
            empty.append(str(file))
            continue
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
    if empty:
        shown = ", ".join(empty[:3]) + (f" and {len(empty) - 3} more" if len(empty) > 3 else "")
        warn(f"skipped {plural(len(empty), 'file')} with no text to index: {shown}")
    return documents


def _read_one(file: Path, name: str | None) -> list[Document]:
    suffix = file.suffix.lower()
    if suffix == JSONL_SUFFIX:
        return read_jsonl_documents(file)
    if suffix in TEXT_SUFFIXES:
        return [read_text_document(file, name)]
    if suffix in SUPPORTED:
        return [read_parsed_document(file, name)]
    raise SourceError(f"{file}: unsupported file type (use {_kinds()})")
