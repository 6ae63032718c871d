"""The terminal renderer on hand-made answers: wrapping, styles, declines, passages shown."""

from __future__ import annotations

import io
import re

import click
import pytest

from bot.render import (
    FAR_BELOW,
    WIDTH,
    related_passages,
    render_answer,
    render_question,
    terminal_styles,
    visible_width,
    wants_color,
)
from index.answering.search import Answer, Passage
from index.sources.documents import Unit
from index.wording import plural

LONG = ("Secretary of State Rex Tillerson told reporters at a summit of leaders of the Group "
        "of 20 major economies in Hamburg that Trump had positive chemistry with Putin during "
        "the meeting, which lasted some two hours and 15 minutes.")
BOLD = lambda s: click.style(s, bold=True, fg="yellow")  # noqa: E731
DIM = lambda s: click.style(s, dim=True)  # noqa: E731


def _passage(text: str, score: float, n: int = 0, doc: str = "doc") -> Passage:
    return Passage(unit=Unit(id=f"{doc}:{n}", doc=doc, text=text, position=n), score=score,
                   context=text, before="Before it came a sentence. " * 3,
                   after="After it came another one. " * 3)


def _answer(*scores: float, answered: bool = True, **kw: object) -> Answer:
    passages = [_passage(LONG if i == 0 else f"Passage number {i} says little.", s, i)
                for i, s in enumerate(scores)]
    fields: dict = {"calibrated_scores": True, "confidence": 0.6 if answered else 0.1}
    fields.update(kw)
    return Answer(question="q?", answered=answered, passages=passages, threshold=0.28,
                  **fields)


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plural() -> None:
    assert [plural(n, "unit") for n in (0, 1, 2)] == ["0 units", "1 unit", "2 units"]
    assert plural(1, "query", "queries") == "1 query" and plural(3, "query", "queries") == \
        "3 queries"


def test_styled_lines_wrap_on_what_is_seen() -> None:
    """Escape codes take no room: the styled text breaks where the plain one does."""
    styled = render_answer(_answer(0.6), BOLD, DIM)
    unstyled_layout = render_answer(_answer(0.6), lambda s: s, lambda s: s)
    assert "\x1b[" in styled
    assert click.unstyle(styled) == unstyled_layout
    widths = [visible_width(line) for line in styled.splitlines()]
    assert max(widths) <= WIDTH and max(widths) > WIDTH - 15, "lines are filled, not cut short"


def test_each_styled_line_closes_its_own_escapes() -> None:
    styled = render_answer(_answer(0.6), BOLD, DIM)
    for line in styled.splitlines():
        if "\x1b[1m" in line:
            assert line.rstrip().endswith("\x1b[0m") or "\x1b[0m " in line, repr(line)


def test_wide_characters_count_two_columns() -> None:
    text = "会议持续了两个小时十五分钟，" * 3
    answer = Answer(question="q", answered=True, passages=[
        Passage(unit=Unit(id="d:0", doc="d", text=" ".join(text for _ in range(4)),
                          position=0), score=0.9, context="")], threshold=0.2, confidence=0.9)
    lines = render_answer(answer).splitlines()[1:]
    assert len(lines) > 1 and all(visible_width(line) <= WIDTH for line in lines)
    assert visible_width(lines[0]) > len(lines[0]), "measured in columns, not characters"


def test_plain_text_marks_the_answer_once() -> None:
    text = render_answer(_answer(0.6))
    assert "\x1b" not in text
    joined = " ".join(text.split())
    assert f"**{LONG}**" in joined and joined.count("**") == 2


@pytest.mark.parametrize(("kw", "searched"), [
    ({"documents": 1}, "the article"),
    ({"documents": 4}, "the documents"),
    ({"documents": 1, "doc": "faq"}, "the document faq"),
])
def test_unknown_names_what_was_searched(kw: dict, searched: str) -> None:
    text = " ".join(render_answer(_answer(0.1, answered=False, **kw)).split())
    assert (f"I don't know: I found no answer in {searched} (confidence "
            f"0.10, below 0.28).") in text
    assert "doesn't say" not in text and "Closest passage (a hint, not an answer)" in text
    if kw["documents"] > 1:
        assert "article" not in text


def test_likely_is_the_answer_with_its_doubt() -> None:
    text = " ".join(render_answer(_answer(0.6, 0.2, answered=False, verdict="likely",
                                          confidence=0.2, likely_threshold=0.1)).split())
    assert text.startswith("Likely answer [doc, sentence 0] confidence 0.20 (not sure)")
    assert f"**{LONG}**" in text and "I don't know" not in text and "hint" not in text
    assert "Also relevant:" in text


def test_far_below_passages_are_left_out_but_never_the_best() -> None:
    best = 0.6
    kept, dropped = best / FAR_BELOW + 0.001, best / FAR_BELOW - 0.001
    answer = _answer(best, 0.3, kept, dropped)
    assert [p.score for p in related_passages(answer)] == [0.3, kept]
    text = render_answer(answer)
    assert text.count("  - [") == 2 and "Passage number 3" not in text
    alone = render_answer(_answer(best, 0.001))
    assert "Also relevant" not in alone and "**Secretary" in alone, "the answer stays"


def test_first_stage_scores_are_not_compared_as_probabilities() -> None:
    answer = _answer(0.9, 0.01, -0.2, calibrated_scores=False)
    assert len(related_passages(answer)) == 2


def test_declined_hints_use_the_same_rule() -> None:
    text = render_answer(_answer(0.05, 0.04, 0.0001, answered=False))
    assert "Other passages:" in text and text.count("  - [") == 1


def test_question_line_is_one_safe_line() -> None:
    assert render_question("Who\x1b[2J is\nLavrov?") == "Q: Who is Lavrov?"
    long = render_question("word " * 60)
    assert all(visible_width(line) <= WIDTH for line in long.splitlines())
    assert long.splitlines()[1].startswith("   word")


def test_colour_only_on_a_terminal_without_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert wants_color(Tty()) and not wants_color(io.StringIO())
    assert terminal_styles(Tty()).highlight is not None
    monkeypatch.setenv("NO_COLOR", "1")
    assert not wants_color(Tty()) and terminal_styles(Tty()).highlight is None


def test_score_is_not_labelled_confidence_unless_it_is_one() -> None:
    text = render_answer(_answer(0.6, 0.3))
    labelled = re.findall(r"confidence (\d\.\d\d)", text)
    assert labelled == ["0.60"], "only the answer's confidence carries the word"


def test_further_passages_say_which_scale_their_score_is_on() -> None:
    """The confidence is the chance that the best passage answers; a further passage's
    number is its own chance (the reranker's calibration), or a first-stage score."""
    calibrated = render_answer(_answer(0.6, 0.3))
    assert "(chance 0.30)" in calibrated and "(0.30)" not in calibrated
    first_stage = render_answer(_answer(0.9, 0.4, calibrated_scores=False))
    assert "(score 0.40)" in first_stage and "chance" not in first_stage
