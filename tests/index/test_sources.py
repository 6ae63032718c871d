from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.errors import SourceError
from index.sources.documents import builtin_article, load_sources


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_default_is_the_builtin_article() -> None:
    (doc,) = load_sources()
    assert doc.name == "trump-putin-g20-meeting"
    assert builtin_article().is_file()
    assert len(doc.units) == 35
    unit = doc.units[2]
    text = builtin_article().read_text(encoding="utf-8")
    assert unit.start is not None and unit.end is not None
    assert text[unit.start : unit.end] == unit.text
    assert (unit.id, unit.position, unit.doc) == ("trump-putin-g20-meeting:2", 2,
                                                  "trump-putin-g20-meeting")


def test_text_and_markdown_files_are_documents_named_by_stem(tmp_path: Path) -> None:
    a = _write(tmp_path / "alpha.txt", "One sentence. Two sentences.")
    b = _write(tmp_path / "beta.md", "# Title\n\nBody text here.")
    docs = load_sources([a, b])
    assert [d.name for d in docs] == ["alpha", "beta"]
    assert [u.text for u in docs[0].units] == ["One sentence.", "Two sentences."]
    # the Markdown heading is the document's title, not a unit
    assert [u.text for u in docs[1].units] == ["Body text here."]
    assert docs[1].title == "Title"


def test_folder_takes_each_txt_and_md(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    _write(folder / "b.txt", "Bee.")
    _write(folder / "a.md", "Ay.")
    _write(folder / "skip.csv", "x,y")
    assert [d.name for d in load_sources([folder])] == ["a", "b"]


def test_jsonl_units_are_kept_as_given_in_file_order(tmp_path: Path) -> None:
    rows = [
        {"id": "q1", "doc": "D1", "text": "First unit. Not split here.", "title": "Doc one"},
        {"id": "q2", "doc": "D2", "text": "Other doc."},
        {"id": "q3", "doc": "D1", "text": "Second unit of D1."},
    ]
    path = _write(tmp_path / "units.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    docs = {d.name: d for d in load_sources([path])}
    assert [u.id for u in docs["D1"].units] == ["q1", "q3"]
    assert docs["D1"].units[0].text == "First unit. Not split here."
    assert [u.position for u in docs["D1"].units] == [0, 1]
    assert docs["D1"].title == "Doc one"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"id": "a", "doc": "d", "text": "x"}\n{"id": "a", "doc": "d", "text": "y"}\n',
         ':2: duplicate id "a" (first on line 1)'),
        ('{"id": "a", "doc": "d", "text": "x"}\n{"id": "b", "doc": \n', ":2: not valid JSON"),
        ('{"id": "a", "doc": "d"}\n', ':1: field "text" is missing'),
        ('{"id": "a", "doc": "d", "text": 5}\n', ':1: field "text" is not a string (int)'),
        ('["a", "b"]\n', ":1: expected a JSON object, got list"),
        ('{"id": "a", "doc": "d", "text": "   "}\n', ':1: unit "a" has empty text'),
        ("\n\n", "empty document"),
    ],
)
def test_bad_jsonl_names_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = _write(tmp_path / "bad.jsonl", content)
    with pytest.raises(SourceError) as err:
        load_sources([path])
    assert str(path) in str(err.value) and message in str(err.value)


def test_non_utf8_bytes_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes(b"Fine line.\nCaf\xe9 au lait.\n")
    with pytest.raises(SourceError, match=r"latin.txt:2: not UTF-8 text \(byte 0xe9"):
        load_sources([path])


def test_empty_document_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "empty.txt", " \n\n ")
    with pytest.raises(SourceError, match="empty.txt: empty document"):
        load_sources([path])


def test_missing_and_unsupported_files(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file or folder"):
        load_sources([tmp_path / "nope.txt"])
    with pytest.raises(SourceError, match="unsupported file type"):
        load_sources([_write(tmp_path / "x.pdf", "x")])
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    with pytest.raises(SourceError, match="folder has no files qabot reads"):
        load_sources([empty])


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "secret.txt", "Hidden.")
    real = Path.read_bytes

    def denied(self: Path) -> bytes:
        if self.name == "secret.txt":
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(SourceError, match="secret.txt: cannot read: Permission denied"):
        load_sources([path])


def test_a_folder_given_as_file_is_unreadable(tmp_path: Path) -> None:
    weird = tmp_path / "dir.txt"
    weird.mkdir()
    _write(weird / "inner.txt", "Inner.")
    # a folder named like a file is read as a folder
    assert [d.name for d in load_sources([weird])] == ["inner"]


def test_same_document_twice_is_an_error(tmp_path: Path) -> None:
    a = tmp_path / "one"
    a.mkdir()
    _write(a / "same.txt", "A.")
    with pytest.raises(SourceError, match='document "same" already comes from'):
        load_sources([a / "same.txt", a])


# --- Markdown, reStructuredText and HTML: headings are sections, not units ----------------
NOTES_MD = """---
title: "Team notes: week 3"
url: https://example.com/notes/3
---
# Team notes: week 3

The team met on Monday. It lasted an hour.

## Carry-over

- Fix the **build** by Friday.
- Review `index.py` with [Ann](https://example.com/ann).

### Figures

| Year | Event |
|------|-------|
| 1969 | Apollo 11 landed |

```python
x = 1. y = 2.
```

<div>raw html</div>
"""


def test_markdown_headings_travel_with_each_sentence(tmp_path: Path) -> None:
    from index.sources.documents import embed_text

    (doc,) = load_sources([_write(tmp_path / "notes.md", NOTES_MD)])
    assert doc.title == "Team notes: week 3" and doc.url == "https://example.com/notes/3"
    got = [(u.section, u.text) for u in doc.units]
    assert got == [
        ("", "The team met on Monday."),
        ("", "It lasted an hour."),
        ("Carry-over", "Fix the build by Friday."),
        ("Carry-over", "Review index.py with Ann."),
        ("Carry-over › Figures", "Year: 1969; Event: Apollo 11 landed."),
    ]  # no heading, code block or raw HTML became a unit
    assert {u.url for u in doc.units} == {"https://example.com/notes/3"}
    assert [u.position for u in doc.units] == list(range(5))
    assert embed_text(doc.units[2], doc.title) == (
        "Team notes: week 3 › Carry-over: Fix the build by Friday.")
    assert embed_text(doc.units[0], doc.title) == "Team notes: week 3: The team met on Monday."


def test_plain_text_embeds_exactly_as_before() -> None:
    from index.sources.documents import embed_text

    (doc,) = load_sources()
    unit = doc.units[0]
    assert (unit.section, unit.url) == ("", "")
    assert embed_text(unit, doc.title) == f"{doc.title}: {unit.text}"
    assert set(unit.to_json()) == {"id", "doc", "text", "position", "start", "end",
                                   "paragraph", "title"}


def test_markdown_without_front_matter_or_h1_is_named_by_its_file(tmp_path: Path) -> None:
    (doc,) = load_sources([_write(tmp_path / "g20-notes.md", "## Part\n\nSome text.")])
    assert (doc.title, doc.url) == ("g20 notes", "")
    assert [(u.section, u.text) for u in doc.units] == [("Part", "Some text.")]


@pytest.mark.parametrize(("content", "message"), [
    ("---\ntitle: [unclosed\n---\nText.", r"bad.md:\d+: front matter is not valid YAML"),
    ("---\nurl: javascript:alert(1)\n---\nText.", "is not a web address"),
    ("# Only a title\n\n```\ncode.\n```\n", "empty document"),
])
def test_bad_markdown_is_one_clear_error(tmp_path: Path, content: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        load_sources([_write(tmp_path / "bad.md", content)])


def test_rst_is_read_alike_alone_and_in_a_folder(tmp_path: Path) -> None:
    rst = ("=========\nGuide\n=========\n\nIntro text.\n\nSetup\n=====\n\nRun it twice.\n\n"
           ".. code-block:: sh\n\n   make all\n")
    folder = tmp_path / "docs"
    folder.mkdir()
    path = _write(folder / "guide.rst", rst)
    alone, = load_sources([path])
    within, = load_sources([folder])
    for doc in (alone, within):
        assert doc.title == "Guide"
        assert [(u.section, u.text) for u in doc.units] == [("", "Intro text."),
                                                             ("Setup", "Run it twice.")]


PAGE = """<!doctype html><html><head><title>Moon facts | Example News</title>
<link rel="canonical" href="https://example.com/news/moon">
<meta property="og:title" content="Moon facts"></head>
<body><nav><a href="/">Home</a> <a href="/world">World</a></nav>
<article><h1>Moon facts</h1>
<p>Apollo 11 landed on the Moon on July 20, 1969. Neil Armstrong walked on it first.</p>
<h2>The crew</h2>
<p>The crew was Neil Armstrong, Buzz Aldrin and Michael Collins, who stayed in orbit aboard
Columbia for the whole time the others spent on the surface of the Moon.</p>
</article>
<footer>Copyright 2024 Example News. All rights reserved.</footer></body></html>
"""


def test_html_page_main_text_title_and_canonical_url(tmp_path: Path) -> None:
    (doc,) = load_sources([_write(tmp_path / "saved-page.html", PAGE)])
    assert (doc.name, doc.title, doc.url) == ("saved-page", "Moon facts",
                                              "https://example.com/news/moon")
    texts = [u.text for u in doc.units]
    assert texts[0] == "Apollo 11 landed on the Moon on July 20, 1969."
    assert not any("Copyright" in t or "Home" in t for t in texts)  # boilerplate left out
    assert [u.section for u in doc.units] == ["", "", "The crew"]


def test_html_without_main_text_is_one_error_and_no_library_noise(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    with caplog.at_level(logging.INFO), pytest.raises(SourceError,
                                                      match="page.html: no main text found"):
        load_sources([_write(tmp_path / "page.html", "<html><body></body></html>")])
    assert not [r for r in caplog.records if r.name.startswith("trafilatura")]


def test_jsonl_url_is_kept_and_checked(tmp_path: Path) -> None:
    rows = [{"id": "a", "doc": "D", "text": "One.", "url": "https://example.com/d#1"},
            {"id": "b", "doc": "D", "text": "Two.", "url": ""}]
    path = _write(tmp_path / "u.jsonl", "\n".join(json.dumps(r) for r in rows))
    (doc,) = load_sources([path])
    assert doc.url == "https://example.com/d#1"
    assert [u.url for u in doc.units] == ["https://example.com/d#1", ""]
    _write(path, json.dumps({"id": "a", "doc": "D", "text": "One.", "url": "file:///etc"}))
    with pytest.raises(SourceError, match=r'u.jsonl:1: "url" is not a web address'):
        load_sources([path])


# --- folders: recursive, every skipped file counted in one line ---------------------------
def test_folders_are_read_recursively_and_skips_summarised(tmp_path: Path) -> None:
    import os

    folder = tmp_path / "docs"
    (folder / "guides" / "deep").mkdir(parents=True)
    (folder / ".git").mkdir()
    _write(folder / ".git" / "HEAD.txt", "Not a document.")
    _write(folder / "README.md", "# Readme\n\nTop text.")
    _write(folder / "guides" / "README.md", "Guide text.")
    _write(folder / "guides" / "deep" / "page.txt", "Deep text.")
    _write(folder / "data.csv", "x,y")
    _write(folder / "guides" / "scan.pdf", "%PDF")
    (folder / "loop").symlink_to(folder)
    os.mkfifo(folder / "pipe.txt")
    said: list[str] = []
    docs = load_sources([folder], notify=said.append)
    assert [d.name for d in docs] == ["README", "guides/README", "guides/deep/page"]
    assert [u.id for u in docs[2].units] == ["guides/deep/page:0"]
    (line,) = said
    assert line.startswith(f"skipped 5 files in {folder}: ")
    assert "2 of a type qabot does not read (data.csv, guides/scan.pdf)" in line
    assert "1 hidden (.git)" in line and "1 a link to a folder (loop)" in line
    assert "1 not a regular file (pipe.txt)" in line


def test_nothing_skipped_says_nothing(tmp_path: Path) -> None:
    _write(tmp_path / "a.txt", "Alpha.")
    said: list[str] = []
    assert [d.name for d in load_sources([tmp_path], notify=said.append)] == ["a"]
    assert said == []


def test_html_in_its_declared_encoding(tmp_path: Path) -> None:
    page = PAGE.replace("<head>", '<head><meta charset="windows-1252">').replace(
        "Columbia", "Columbia, the café of the sky,")
    path = tmp_path / "latin.html"
    path.write_bytes(page.encode("cp1252"))
    (doc,) = load_sources([path])
    assert any("the café of the sky" in u.text for u in doc.units)


def test_fragments_join_their_neighbours() -> None:
    from index.sources.documents import join_fragments

    pieces = [("Default: true unless told otherwise", 0, "save"), ("Type: Boolean", 1, "save"),
              ("Save the package to package.json now.", 2, "save"),
              ("json", 3, "formats"),  # a section of fragments only stays
              ("\u201c", 4, "quote"), ("A full sentence follows the quote mark.", 5, "quote")]
    assert join_fragments(pieces) == [
        ("Default: true unless told otherwise. Type: Boolean", 0, "save"),
        ("Save the package to package.json now.", 2, "save"),
        ("json", 3, "formats"),
        ("\u201c A full sentence follows the quote mark.", 5, "quote"),
    ]


def test_markdown_fragments_are_not_units(tmp_path: Path) -> None:
    from index.sources.documents import load_sources

    md = tmp_path / "cfg.md"
    md.write_text("# Config\n\n## save\n\n* Default: true\n* Type: Boolean\n\n"
                  "Save installed packages to a package.json file as dependencies.\n",
                  encoding="utf-8")
    (doc,) = load_sources([md])
    texts = [u.text for u in doc.units]
    # Both list items are fragments that open the section: they lead its first sentence.
    assert texts == ["Default: true. Type: Boolean. Save installed packages to a package.json "
                     "file as dependencies."]
    assert [(u.position, u.id, u.section) for u in doc.units] == [(0, "cfg:0", "save")]
