"""Measure how much of a document's visible text reaches its units (issue 32, item 10).

For each page, the words a reader sees are counted two ways: as the page shows them, and as
they reach the index (the units' text, their section headings and the document's title).
The share is the second over the first, word for word (a multiset of lower-case words, so
that order, joins and sentence ends do not count); the target is at least 98%.

What a reader sees is taken independently of qabot's parser: a Markdown file is rendered to
HTML by markdown-it, a reStructuredText file by docutils, and an HTML page is taken as it is;
then the text of the page's body is counted, or of its main element when it marks exactly
one (``<main>``, ``role="main"``, ``<article>``). Left out of what is seen, because qabot
leaves them out by design: code blocks (``<pre>``), scripts and styles, ``hidden`` elements
and ``<nav>``/``<header>``/``<footer>``/``<aside>``.

    python scripts/text_coverage.py              # the pages found on this machine
    python scripts/text_coverage.py FILE ...     # these files

Pages that are not on this machine are skipped and said so.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TARGET = 0.98
RUST_DOC = Path.home() / ".rustup/toolchains/stable-x86_64-unknown-linux-gnu/share/doc/rust/html"
NPM_DOCS = Path("/usr/lib/node_modules/npm/docs/content")
SITE = Path(sys.prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" \
    / "site-packages"
# Pages of several styles: old hand-written HTML, DocBook (tags in capitals), texinfo,
# Sphinx, mdBook; npm's and systemd's Markdown; reStructuredText inside installed packages.
PAGES = (
    Path("/usr/share/doc/zlib1g-dev/examples/zlib_how.html"),
    Path("/usr/share/doc/fontconfig/fontconfig-user.html"),
    Path("/usr/share/doc/base-passwd/users-and-groups.html"),
    Path("/usr/share/doc/libffi8/html/Introduction.html"),
    Path("/usr/share/doc/libffi8/html/The-Basics.html"),
    Path("/usr/share/doc/python3/python-policy.html"),
    RUST_DOC / "book/ch01-03-hello-cargo.html",
    RUST_DOC / "cargo/guide/why-cargo-exists.html",
    NPM_DOCS / "commands/npm-ci.md",
    NPM_DOCS / "configuring-npm/npmrc.md",
    NPM_DOCS / "configuring-npm/package-json.md",
    Path("/usr/share/doc/systemd/DISTRO_PORTING.md"),
    SITE / "sklearn/datasets/descr/twenty_newsgroups.rst",
    SITE / "sklearn/datasets/descr/iris.rst",
    SITE / "numpy/ma/README.rst",
)
_WORD = re.compile(r"\w+")
_LEFT_OUT = ("script", "style", "noscript", "template", "pre", "nav", "header", "footer",
             "aside", "head")


_INLINE = frozenset({"a", "abbr", "b", "big", "cite", "code", "em", "font", "i", "kbd",
                     "mark", "q", "s", "samp", "small", "span", "strong", "sub", "sup",
                     "tt", "u", "var"})


def words(text: str) -> Counter[str]:
    return Counter(w.lower() for w in _WORD.findall(text))


def _as_html(path: Path) -> bytes | str:
    """The page as a browser would get it: Markdown and reStructuredText rendered."""
    suffix = path.suffix.lower()
    if suffix in (".md", ".markdown"):
        from markdown_it import MarkdownIt

        from index.sources.parsing import front_matter

        _, body = front_matter(path.read_text(encoding="utf-8"), str(path))
        return "<html><body>" + MarkdownIt("commonmark", {"html": True}).enable(
            "table").render(body) + "</body></html>"
    if suffix == ".rst":
        from docutils.core import publish_string

        settings = {"report_level": 5, "halt_level": 5, "file_insertion_enabled": False,
                    "raw_enabled": False, "input_encoding": "unicode",
                    "output_encoding": "unicode", "embed_stylesheet": False}
        return str(publish_string(path.read_text(encoding="utf-8"), writer="html5",
                                  settings_overrides=settings))
    return path.read_bytes()


def visible_words(path: Path) -> Counter[str]:
    """The words a reader sees in the page's body (or its one main element)."""
    import lxml.html

    from index.sources.html_page import decode

    page = _as_html(path)
    tree = lxml.html.document_fromstring(decode(page) if isinstance(page, bytes) else page)
    root: Any = tree.find(".//body")
    for xpath in ("//main", "//*[@role='main']", "//article"):
        found = tree.xpath(xpath)
        if len(found) == 1:
            root = found[0]
            break
    for el in list(root.iter(*_LEFT_OUT)) + root.xpath(".//*[@hidden]"):
        if el.getparent() is not None:
            el.drop_tree()
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag.lower() not in _INLINE:
            # A block's text is not glued to the next block's (as a browser shows it).
            el.text, el.tail = f" {el.text or ''} ", f" {el.tail or ''}"
    return words(root.text_content())


def indexed_words(path: Path) -> Counter[str]:
    """The words that reach the index: units, their sections, the document's title."""
    from index.sources.documents import read_parsed_document

    doc = read_parsed_document(path)
    sections = {u.section for u in doc.units}
    return words(" ".join([doc.title, *sections, *(u.text for u in doc.units)]))


def coverage(path: Path) -> tuple[int, int]:
    """(visible words that reach the index, visible words)."""
    seen, kept = visible_words(path), indexed_words(path)
    return sum(min(n, kept[w]) for w, n in seen.items()), sum(seen.values())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path)
    args = parser.parse_args(argv)
    pages = args.files or list(PAGES)
    below = 0
    print(f"{'page':<50} {'words':>7} {'reached':>8} {'share':>7}")
    for page in pages:
        name = f"{page.parent.name}/{page.name}"
        if not page.is_file():
            print(f"{name:<50} not on this machine: skipped ({page})")
            continue
        reached, total = coverage(page)
        share = reached / total if total else 1.0
        below += share < TARGET
        flag = "" if share >= TARGET else f"  below {TARGET:.0%}"
        print(f"{name:<50} {total:>7} {reached:>8} {share:>7.1%}{flag}")
    return 1 if below else 0


if __name__ == "__main__":
    sys.exit(main())
