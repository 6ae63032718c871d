"""A web page as blocks of prose under headings, read from its elements (lxml).

The page is read whole, as a browser shows it: text in no ``<p>`` (an old page's prose
between its ``<pre>`` blocks) is prose too, and ``<H1>`` in capitals is a heading. What is
left out, deliberately:

* what is not shown or not read as prose: ``<script>``, ``<style>``, ``<pre>`` (code),
  forms, ``hidden`` elements;
* what surrounds the text rather than being it: ``<nav>``, ``<header>`` (not an article's
  own), ``<footer>``, ``<aside>``, the ARIA roles of the same, and elements whose id or
  class names a menu, sidebar, footer, cookie banner or breadcrumb. When the page marks
  its main text (one ``<main>``, ``role="main"`` or ``<article>``), only that is read.

Headings become the section path of the text under them; the page's title heading is its
title, not a section. A table's body rows become "Column: cell; …" statements.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Sequence
from typing import Any

from index.errors import SourceError

SKIP_TAGS = frozenset({
    "script", "style", "noscript", "template", "pre", "xmp", "listing", "plaintext",
    "head", "title", "meta", "link", "form", "button", "select", "textarea", "input",
    "option", "iframe", "object", "embed", "svg", "math", "canvas", "video", "audio",
    "map", "img", "nav", "header", "footer", "aside", "dialog",
})
SKIP_ROLES = frozenset({"navigation", "banner", "contentinfo", "search", "complementary",
                        "menu", "menubar", "dialog"})
# An id or class word that names what surrounds a page's text, alone or as the last part
# of a compound ("site-nav", "page_footer"); not a state such as "sidebar-visible".
_CHROME = re.compile(r"(?:^|[_-])(?:nav|navbar|navigation|menu|menubar|sidebar|footer|"
                     r"breadcrumbs?|cookie-banner|cookie-consent|cookies|skip-link)$", re.I)
_ROOTS = frozenset({"html", "body", "main", "article"})
BLOCK_TAGS = frozenset({
    "address", "article", "blockquote", "body", "caption", "center", "dd", "details", "div",
    "dl", "dt", "fieldset", "figcaption", "figure", "hr", "html", "li", "main", "ol", "p",
    "section", "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
})
HEADINGS = {f"h{n}": n for n in range(1, 7)}
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_SPACES = re.compile(r"\s+")


def _plain(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def decode(raw: bytes) -> str:
    """The page as text: by its byte-order mark, its declared charset, else UTF-8, else
    Windows-1252 (what browsers assume of an undeclared page that is not UTF-8)."""
    for bom, codec in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"),
                       (codecs.BOM_UTF16_BE, "utf-16")):
        if raw.startswith(bom):
            return raw.decode(codec, errors="replace").lstrip("\ufeff")
    declared = _CHARSET.search(raw[:4096])
    if declared:
        name = declared.group(1).decode("ascii", "replace").lower()
        if name in ("iso-8859-1", "latin-1", "latin1", "us-ascii", "ascii"):
            name = "cp1252"  # as browsers do (the WHATWG encoding standard)
        try:
            return raw.decode(name, errors="replace")
        except LookupError:
            pass
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _skipped(el: Any) -> bool:
    tag = el.tag if isinstance(el.tag, str) else ""
    if not tag:
        return True  # a comment or processing instruction
    if tag.lower() == "header" and any(a.tag in ("article", "main") for a in
                                       el.iterancestors()):
        return False  # an article's own header: its title and byline, not the site's
    if tag.lower() in SKIP_TAGS:
        return True
    get = el.get
    if get("hidden") is not None or get("aria-hidden", "").lower() == "true":
        return True
    if (get("role") or "").lower() in SKIP_ROLES:
        return True
    style = (get("style") or "").replace(" ", "").lower()
    if "display:none" in style or "visibility:hidden" in style:
        return True
    if tag.lower() in _ROOTS:
        return False
    names = [get("id") or "", *(get("class") or "").split()]
    return any(_CHROME.search(name) for name in names if name)


def main_root(tree: Any) -> Any:
    """The element holding the page's main text: its one ``<main>`` (or ``role="main"``),
    else its one ``<article>``, else the body."""
    for path in ("//main", "//*[@role='main']", "//article"):
        found = [el for el in tree.xpath(path) if not any(_skipped(a) for a in
                                                          el.iterancestors())]
        if len(found) == 1:
            return found[0]
    body = tree.find(".//body")
    return body if body is not None else tree


class _Reader:
    """Walks the main element, gathering text into blocks at each block boundary."""

    def __init__(self, title: str, title_heading: str,
                 row: Callable[[Sequence[str], Sequence[str]], str]) -> None:
        self.row = row
        self.skip_headings = {h.casefold() for h in (title, title_heading) if h}
        self.path: list[tuple[int, str]] = []
        self.blocks: list[tuple[str, tuple[str, ...]]] = []
        self.words: list[str] = []

    def flush(self) -> None:
        text = _plain("".join(self.words))
        self.words = []
        if text:
            self.blocks.append((text, tuple(h for _, h in self.path)))

    def heading(self, level: int, text: str) -> None:
        self.flush()
        self.path = [(lv, h) for lv, h in self.path if lv < level]
        if text and text.casefold() not in self.skip_headings:
            self.path.append((level, text))

    def walk(self, el: Any) -> None:
        for child in el:
            tag = child.tag.lower() if isinstance(child.tag, str) else ""
            if tag in HEADINGS and not _skipped(child):
                self.heading(HEADINGS[tag], inline_text(child))
            elif tag == "table" and not _skipped(child):
                self.flush()
                self.table(child)
            elif tag == "br":
                self.words.append(" ")
            elif _skipped(child):
                if tag in BLOCK_TAGS or tag in SKIP_TAGS:
                    self.flush()  # text on either side of a code block is two blocks
            elif tag in BLOCK_TAGS:
                self.flush()
                self.words.append(child.text or "")
                self.walk(child)
                self.flush()
            else:
                self.words.append(child.text or "")
                self.walk(child)
            self.words.append(child.tail or "")

    def table(self, table: Any) -> None:
        header: list[str] = []
        for row in table.iter("tr"):
            if any(_skipped(a) for a in row.iterancestors() if a is not table):
                continue
            cells = [inline_text(c) for c in row if isinstance(c.tag, str)
                     and c.tag.lower() in ("td", "th")]
            heads = all(isinstance(c.tag, str) and c.tag.lower() == "th" for c in row
                        if isinstance(c.tag, str))
            in_head = any(isinstance(a.tag, str) and a.tag.lower() == "thead"
                          for a in row.iterancestors())
            if not header and (in_head or heads) and any(cells):
                header = cells
            elif any(cells):
                self.blocks.append((self.row(header, cells),
                                    tuple(h for _, h in self.path)))


def inline_text(el: Any) -> str:
    """The visible text of an element, with what is left out (scripts, code) dropped."""
    parts: list[str] = [el.text or ""]
    for child in el:
        if not _skipped(child):
            parts.append(" " if isinstance(child.tag, str) and child.tag.lower() == "br"
                         else inline_text(child))
        parts.append(child.tail or "")
    return _plain("".join(parts))


def _meta(tree: Any, *names: str) -> str:
    for name in names:
        for el in tree.xpath(f"//meta[@property='{name}' or @name='{name}']"):
            if value := _plain(el.get("content") or ""):
                return value
    return ""


def read_page(raw: bytes | str, where: str,
              row: Callable[[Sequence[str], Sequence[str]], str]
              ) -> tuple[str, str, list[tuple[str, tuple[str, ...]]]]:
    """Read a page: (title, canonical URL or "", [(text, section path), …]); ``row`` makes
    a table's row a statement from its header and cells."""
    import lxml.html
    from lxml.etree import ParserError

    text = decode(raw) if isinstance(raw, bytes) else raw
    text = re.sub(r"^\s*<\?xml[^>]*>", "", text)  # lxml refuses a str that declares one
    try:
        tree = lxml.html.document_fromstring(text) if text.strip() else None
    except (ParserError, ValueError):
        tree = None
    if tree is None:
        raise SourceError(f"{where}: no main text found in the page")
    root = main_root(tree)
    h1 = [h for h in root.iter("h1", "H1") if not any(_skipped(a) for a in h.iterancestors())]
    title_heading = inline_text(h1[0]) if len(h1) == 1 else ""
    page_title = _plain(tree.findtext(".//title") or "")
    title = _meta(tree, "og:title") or title_heading or page_title
    reader = _Reader(title, title_heading, row)
    reader.words.append(root.text or "")
    reader.walk(root)
    reader.flush()
    if not reader.blocks:
        raise SourceError(f"{where}: no main text found in the page")
    url = ""
    for el in tree.xpath("//link[@rel='canonical']"):
        url = (el.get("href") or "").strip()
        break
    return title, url or _meta(tree, "og:url"), reader.blocks
