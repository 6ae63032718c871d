"""Marked-up documents (Markdown, HTML, reStructuredText) as blocks of prose under headings.

A heading is not something to answer from: it names the part of the document its text is
in. Each parser here turns a document into :class:`Parsed`: a title, a URL when the document
names one, and prose :class:`Block` s, each with the path of headings above it; the reader
in :mod:`index.sources.documents` splits each block into sentences that carry that path as
their section.

What each kind of block becomes, deliberately:

* paragraphs, block quotes and list items: one block each (an item is its own paragraph);
* tables: one block per body row, each cell named by its column ("Year: 1969; Event: …"),
  so that a row reads as a statement; the header row is not a block of its own;
* code blocks and raw HTML: left out (not prose; split into "sentences" they only mislead);
* front matter (YAML between ``---`` lines at the very top): its ``title`` and ``url``.

HTML pages are read from their elements (:mod:`index.sources.html_page`): the whole of the page's
main text, prose outside ``<p>`` included, without its menus, banners, footers or code.
lxml and docutils are imported only when such a file is read: nothing here weighs on
answering a question.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from index.errors import SourceError

if TYPE_CHECKING:
    from markdown_it.token import Token

SECTION_SEPARATOR = " › "
MAX_URL = 2000  # longer is not a link anyone follows (and Discord refuses it)
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?\r?\n)?(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)",
                           re.S)
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Block:
    """One block of prose and the headings above it (outermost first)."""

    text: str
    section: tuple[str, ...] = ()

    @property
    def section_label(self) -> str:
        return SECTION_SEPARATOR.join(self.section)


@dataclass(slots=True)
class Parsed:
    """A parsed document: title and URL when it gives them ("" otherwise), and its prose."""

    title: str = ""
    url: str = ""
    blocks: list[Block] = field(default_factory=list)


def check_url(value: Any, where: str) -> str:
    """Return ``value`` as an http(s) URL; raise SourceError naming ``where`` otherwise.

    Only web addresses are kept: a citation link to ``javascript:`` or a local file is not
    something a chat client should be handed.
    """
    if not isinstance(value, str):
        raise SourceError(f'{where}: "url" is not a string ({type(value).__name__})')
    url = value.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or " " in url \
            or len(url) > MAX_URL:
        raise SourceError(f'{where}: "url" is not a web address (http or https): {url[:80]!r}')
    return url


def _plain(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def row_statement(header: Sequence[str], cells: Sequence[str]) -> str:
    """A table row as one statement, each cell named by its column: "Year: 1969; Event: …"."""
    named = [f"{header[n]}: {cell}" if n < len(header) and header[n] else cell
             for n, cell in enumerate(cells) if cell]
    text = "; ".join(named)
    return text if text[-1:] in ".!?" else text + "."


# --- Markdown ------------------------------------------------------------------------------
class _AliasRefused(Exception):
    """A YAML alias in front matter (at ``line``, from 0)."""

    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


@functools.cache
def _front_matter_loader() -> type:
    """yaml's SafeLoader without aliases.

    Aliases are kept by reference when loaded, but anything that walks the result (``str()``
    of a title) expands them: nine nested levels of ten ("billion laughs") are 10⁹ strings.
    Front matter has no use for them.
    """
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                raise _AliasRefused(self.peek_event().start_mark.line)
            return super().compose_node(parent, index)

    return NoAliasLoader


def front_matter(text: str, where: str) -> tuple[dict[str, Any], str]:
    """Split YAML front matter off ``text``: (its fields, the rest with the same line count).

    The rest keeps one empty line for each line of front matter, so that line numbers the
    Markdown parser reports still match the file.
    """
    match = _FRONT_MATTER.match(text)
    if match is None:
        return {}, text
    import yaml

    try:
        data = yaml.load(match.group(1) or "", Loader=_front_matter_loader())
    except _AliasRefused as exc:
        line = f":{exc.line + 2}"
        raise SourceError(f"{where}{line}: front matter uses a YAML alias (*name), which "
                          f"qabot does not read; write the value out") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 2}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise SourceError(f"{where}{line}: front matter is not valid YAML ({problem})") from None
    if not isinstance(data, dict):
        return {}, text  # a "---" rule, not front matter
    return data, "\n" * match.group(0).count("\n") + text[match.end() :]


def _markdown() -> Any:
    from markdown_it import MarkdownIt

    # CommonMark plus tables; raw HTML is recognised (so that it can be left out) rather
    # than read as text.
    return MarkdownIt("commonmark", {"html": True}).enable("table")


def _inline_text(token: Token) -> str:
    """The text a reader sees of an inline token: markup, images and raw HTML dropped."""
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return _plain("".join(parts))


def _table_rows(tokens: Sequence[Token], start: int) -> tuple[list[str], int]:
    """Read the table opening at ``tokens[start]``: one text per body row, and where it ends."""
    header: list[str] = []
    rows: list[str] = []
    row: list[str] = []
    in_head = False
    i = start + 1
    while tokens[i].type != "table_close":
        kind = tokens[i].type
        if kind == "thead_open":
            in_head = True
        elif kind == "thead_close":
            in_head = False
        elif kind == "tr_open":
            row = []
        elif kind == "inline":
            row.append(_inline_text(tokens[i]))
        elif kind == "tr_close":
            if in_head:
                header = row
            elif any(row):
                rows.append(row_statement(header, row))
        i += 1
    return rows, i


def parse_markdown(text: str, where: str) -> Parsed:
    """Parse Markdown into prose blocks under their headings, with front matter title/URL."""
    meta, body = front_matter(text, where)
    title = _plain(str(meta["title"])) if meta.get("title") is not None else ""
    url = check_url(meta["url"], f"{where}: front matter") if meta.get("url") else ""
    tokens = _markdown().parse(body)
    h1 = [tokens[i + 1] for i, t in enumerate(tokens) if t.type == "heading_open"
          and t.tag == "h1"]
    # The one top-level heading of a document is its title, not a section.
    title_heading = _inline_text(h1[0]) if len(h1) == 1 else ""
    if not title:
        title = title_heading
    blocks: list[Block] = []
    path: list[tuple[int, str]] = []  # (level, heading) of the headings above
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.type == "heading_open":
            level, heading = int(token.tag[1:]), _inline_text(tokens[i + 1])
            path = [(lv, h) for lv, h in path if lv < level]
            if heading and heading.casefold() not in (title.casefold(),
                                                      title_heading.casefold()):
                path.append((level, heading))
            i += 3
            continue
        section = tuple(h for _, h in path)
        if token.type == "table_open":
            rows, i = _table_rows(tokens, i)
            blocks.extend(Block(row, section) for row in rows)
        elif token.type == "inline" and (text_ := _inline_text(token)):
            blocks.append(Block(text_, section))
        # code_block, fence and html_block hold no inline token: they are left out.
        i += 1
    return Parsed(title=title, url=url, blocks=blocks)


# --- HTML ----------------------------------------------------------------------------------
def parse_html(html: bytes | str, where: str) -> Parsed:
    """Read a web page's main text (:mod:`index.sources.html_page`), with its title and canonical
    URL."""
    from index.sources.html_page import read_page

    title, url, blocks = read_page(html, where, row_statement)
    if url:
        try:
            url = check_url(url, where)
        except SourceError:
            # The page's own canonical link is a hint, not the user's claim: one that is
            # not a web address is dropped rather than refusing the page.
            url = ""
    return Parsed(title=title, url=url, blocks=[Block(text, section) for text, section in blocks])


# --- reStructuredText ----------------------------------------------------------------------
_RST_PROSE = ("paragraph", "line_block", "attribution", "caption")
_RST_SKIP = ("literal_block", "doctest_block", "raw", "comment", "system_message",
             "substitution_definition", "target", "title", "subtitle")


def parse_rst(text: str, where: str) -> Parsed:
    """Parse reStructuredText (docutils): section titles (and rubrics) become the path of
    their text; a field ("Date: July, 1988") and a defined term lead their text."""
    from docutils import nodes
    from docutils.core import publish_doctree

    settings = {"report_level": 5, "halt_level": 5, "file_insertion_enabled": False,
                "raw_enabled": False, "input_encoding": "unicode"}
    try:
        tree = publish_doctree(text, settings_overrides=settings)
    except Exception as exc:  # docutils raises many kinds on broken markup
        raise SourceError(f"{where}: not readable as reStructuredText ({exc})") from None
    blocks: list[Block] = []

    def led(label: str, body: Iterable[nodes.Node], section: tuple[str, ...]) -> None:
        """Read ``body``; its first block is led by ``label`` ("Name: …"), or is ``label``."""
        start = len(blocks)
        for part in body:
            walk(part, section)
        if start < len(blocks):
            first = blocks[start]
            lead = label if label.endswith(":") else f"{label}:"
            blocks[start] = Block(f"{lead} {first.text}" if label else first.text,
                                  first.section)
        elif label:
            blocks.append(Block(label, section))

    def walk(node: nodes.Node, section: tuple[str, ...]) -> None:
        rubric = 0  # 1 once a rubric heads what follows in this node
        for child in node.children:
            name = child.tagname
            if isinstance(child, nodes.section):
                titles = [c for c in child.children if isinstance(c, nodes.title)]
                heading = _plain(titles[0].astext()) if titles else ""
                walk(child, (*section, heading) if heading else section)
            elif isinstance(child, nodes.rubric):  # an informal heading over what follows
                heading = _plain(child.astext())
                section = (*section[: len(section) - rubric], heading) if heading else section
                rubric = 1 if heading else 0
            elif isinstance(child, nodes.table):
                blocks.extend(Block(row, section) for row in _rst_table(child))
            elif isinstance(child, nodes.field | nodes.definition_list_item):
                labels = [c for c in child.children
                          if isinstance(c, nodes.field_name | nodes.term)]
                label = _plain(labels[0].astext()) if labels else ""
                led(label, [c for c in child.children
                            if isinstance(c, nodes.field_body | nodes.definition)], section)
            elif isinstance(child, nodes.Bibliographic) and isinstance(child, nodes.TextElement):
                if text_ := _plain(child.astext()):  # an author, a date at the top
                    blocks.append(Block(f"{name.capitalize()}: {text_}", section))
            elif name in _RST_PROSE:
                if text_ := _plain(child.astext()):
                    blocks.append(Block(text_, section))
            elif name not in _RST_SKIP and isinstance(child, nodes.Element):
                walk(child, section)

    walk(tree, ())
    title = tree.get("title", "") or ""
    return Parsed(title=_plain(str(title)), blocks=blocks)


def _rst_table(table: Any) -> Iterable[str]:
    """Rows of a docutils table as "Column: cell; …" statements, like Markdown tables."""
    from docutils import nodes

    header: list[str] = []
    for part in table.traverse(nodes.thead):
        for row in part.traverse(nodes.row):
            header = [_plain(entry.astext()) for entry in row.traverse(nodes.entry)]
    for body in table.traverse(nodes.tbody):
        for row in body.traverse(nodes.row):
            cells = [_plain(entry.astext()) for entry in row.traverse(nodes.entry)]
            if any(cells):
                yield row_statement(header, cells)
