from __future__ import annotations

import pytest

from index.sources.documents import builtin_article
from index.sources.splitter import MAX_UNIT, WINDOW, paragraphs, split_sentences


def _sentences(text: str) -> list[str]:
    return [text[s.start : s.end] for s in split_sentences(text)]


@pytest.fixture(scope="module")
def article() -> str:
    return builtin_article().read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def article_sentences(article: str) -> list[str]:
    return _sentences(article)


def test_offsets_point_into_the_source(article: str) -> None:
    for span in split_sentences(article):
        piece = article[span.start : span.end]
        assert piece == piece.strip() and piece


def test_article_sentence_count_and_headline_sentence(article_sentences: list[str]) -> None:
    assert len(article_sentences) == 35
    assert article_sentences[2].endswith("which lasted some two hours and 15 minutes.")


def test_quotation_stays_with_its_attribution(article_sentences: list[str]) -> None:
    joined = [s for s in article_sentences if "intractable disagreement" in s]
    assert len(joined) == 1 and joined[0].endswith("at this point,” Tillerson said.")
    assert not any(s.startswith("Tillerson said.") for s in article_sentences)


def test_multi_sentence_quotation_stays_whole(article_sentences: list[str]) -> None:
    last = article_sentences[-1]
    assert last.startswith("“I think it was Russia")
    assert last.endswith("Nobody really knows for sure,” Trump said on a visit to Poland.")


def test_ellipsis_does_not_split(article_sentences: list[str]) -> None:
    talks = [s for s in article_sentences if "very good talks" in s]
    assert len(talks) == 1 and "… We look forward" in talks[0]


def test_paragraphs_are_boundaries(article: str) -> None:
    spans = split_sentences(article)
    for span in spans:
        assert "\n" not in article[span.start : span.end]
    assert len({s.paragraph for s in spans}) == len(paragraphs(article)) == 29


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mr. Smith met Dr. Jones at St. Paul's church. They talked.",
         ["Mr. Smith met Dr. Jones at St. Paul's church.", "They talked."]),
        ("The U.S. economy grew 2.5 percent last year. Mrs. Lee agreed.",
         ["The U.S. economy grew 2.5 percent last year.", "Mrs. Lee agreed."]),
        ("It was written by J. R. R. Tolkien in England. Fans loved it.",
         ["It was written by J. R. R. Tolkien in England.", "Fans loved it."]),
        ("“Wait... what?” she asked. He left.", ["“Wait... what?” she asked.", "He left."]),
        ("He paused... and then went on. The end.",
         ["He paused... and then went on.", "The end."]),
        ("“We won. We really did,” he said. Then he sat down.",
         ["“We won. We really did,” he said.", "Then he sat down."]),
    ],
)
def test_tricky_spots(text: str, expected: list[str]) -> None:
    assert _sentences(text) == expected


def test_wrapped_lines_join_and_blank_lines_separate() -> None:
    text = "First paragraph is\nwrapped over lines.\n\nSecond one."
    spans = split_sentences(text)
    assert [s.paragraph for s in spans] == [0, 1]
    assert text[spans[0].start : spans[0].end] == "First paragraph is\nwrapped over lines."


def test_empty_text_has_no_sentences() -> None:
    assert split_sentences("  \n\n \t ") == []


def test_a_long_paragraph_without_punctuation_is_cut_at_word_boundaries() -> None:
    words = [f"word{i}" for i in range(3000)]
    text = " ".join(words)
    spans = split_sentences(text)
    pieces = [text[s.start : s.end] for s in spans]
    assert len(pieces) > 1 and all(len(p) <= MAX_UNIT for p in pieces)
    assert " ".join(pieces).split() == words  # every word kept, none cut in two


def test_a_paragraph_longer_than_a_window_splits_as_its_parts_do(article: str) -> None:
    part = " ".join(_sentences(article)[:12])  # one paragraph, within one window
    assert len(part) < WINDOW
    text = " ".join([part] * 4)  # several windows long: windows cut it anywhere
    assert len(text) > 2 * WINDOW
    assert _sentences(text) == _sentences(part) * 4


def test_pysbd_sentences_are_found_where_pysbd_finds_them(article: str) -> None:
    """The one-pass offsets give pysbd's own char spans (trimmed), sentence for sentence."""
    from index.sources.splitter import _pysbd_segments, _segmenter, _trim

    blocks = [article[s:e] for s, e in paragraphs(article)]
    blocks.append('He said "Stop. Now." Then Mr. J. R. Smith left at 3.30 p.m. on Jan. 5… '
                  "Really?! Yes. Yes. Yes.")
    for block in blocks:
        own = [_trim(block, s.start, s.end) for s in _segmenter().segment(block)]
        assert [_trim(block, s, e) for s, e in _pysbd_segments(block)] == own


def test_text_denser_in_marks_than_prose_is_split_by_plain_rules(article: str) -> None:
    from index.sources.splitter import DENSE_MIN, _dense, _plain_segments

    text = "Mr. Smith went home. He said hi! Yes?! Then A. Bob left. U.S. troops stayed."
    assert [text[s:e].strip() for s, e in _plain_segments(text)] == [
        "Mr. Smith went home.", "He said hi!", "Yes?!", "Then A. Bob left.",
        "U.S. troops stayed."]
    assert not _dense(text)  # too short to tell: pysbd's
    assert len(article) >= DENSE_MIN and not _dense(article)  # news prose: pysbd's
    dense = "Mr. " * 400
    assert len(dense) >= DENSE_MIN and _dense(dense)
    pieces = _sentences(dense)  # no sentence end at all: cut at word boundaries
    assert len(pieces) == 2 and all(len(p) <= MAX_UNIT for p in pieces)
    assert " ".join(pieces).split() == dense.split()
