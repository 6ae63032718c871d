from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.errors import SourceError
from index.sources import builtin_article, load_sources


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
    assert [u.position for u in docs[1].units] == [0, 1]


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
    with pytest.raises(SourceError, match="folder has no .txt or .md files"):
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
