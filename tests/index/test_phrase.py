"""The phrase from a span head's logits (index/modelling/phrase.py) and how close a phrase is
to the expected one (index/evaluation/phrases.py)."""

from __future__ import annotations

import numpy as np
import pytest

from index.evaluation.phrases import best_exact, best_f1, exact_match, normalise, token_f1
from index.modelling.phrase import (
    MAX_TOKENS,
    SpanReading,
    TokenSpan,
    best_span,
    span_to_phrase,
)

PASSAGE = "Title: The meeting lasted two hours."
#           tokens: [CLS] The meeting lasted two hours .
OFFSETS = ((0, 0), (7, 10), (11, 18), (19, 25), (26, 29), (30, 35), (35, 36))
SKIP = len("Title: ")


def logits(n: int, **peaks: float) -> np.ndarray:
    out = np.full(n, -5.0)
    for where, value in peaks.items():
        out[int(where[1:])] = value
    return out


def test_the_most_probable_span_is_found_and_mapped_to_the_sentence() -> None:
    start, end = logits(7, t0=0.0, t4=6.0), logits(7, t0=0.0, t5=6.0)
    span = best_span(start, end, [False, *[True] * 6])
    assert span is not None
    assert (span.start, span.end) == (4, 5) and span.likelier_than_none
    assert span.none < span.probability < 1.0
    phrase = span_to_phrase(span, OFFSETS, SKIP)
    assert phrase is not None
    assert phrase.text(PASSAGE[SKIP:]) == "two hours"


def test_an_end_before_the_start_or_too_far_is_never_chosen() -> None:
    start, end = logits(7, t5=6.0), logits(7, t2=6.0, t5=1.0)
    span = best_span(start, end, [False, *[True] * 6])
    assert span is not None and (span.start, span.end) == (5, 5)
    n = MAX_TOKENS + 10
    far = best_span(logits(n, t1=6.0), logits(n, t1=-9.0, **{f"t{n - 1}": 6.0}), [True] * n)
    assert far is not None and far[1] - far[0] < MAX_TOKENS


def test_no_phrase_when_cls_is_likelier_or_below_the_minimum() -> None:
    reading = SpanReading(logits(7, t0=8.0, t4=1.0), logits(7, t0=8.0, t5=1.0),
                          np.array([False, *[True] * 6]), OFFSETS)
    assert reading.phrase(SKIP) is None
    sure = SpanReading(logits(7, t0=0.0, t4=6.0), logits(7, t0=0.0, t5=6.0),
                       np.array([False, *[True] * 6]), OFFSETS)
    assert sure.phrase(SKIP) is not None
    assert sure.phrase(SKIP, minimum=0.9999) is None


def test_question_tokens_are_never_part_of_the_phrase() -> None:
    allowed = np.array([False, False, False, True, True, True, True])
    span = best_span(logits(7, t1=9.0), logits(7, t2=9.0, t4=1.0), allowed)
    assert span is not None and span[0] >= 3


def test_a_span_in_the_title_is_no_phrase() -> None:
    assert span_to_phrase(TokenSpan(1, 1, 0.9, 0.0), ((0, 0), (0, 5)), SKIP) is None


@pytest.mark.parametrize(("predicted", "expected", "f1"), [
    ("two hours and 15 minutes", "some two hours and 15 minutes", 2 * 5 / 11),
    ("The Kremlin", "kremlin", 1.0),
    ("Lavrov", "Tillerson", 0.0),
    ("", "Tillerson", 0.0),
])
def test_token_f1_is_squads(predicted: str, expected: str, f1: float) -> None:
    assert token_f1(predicted, expected) == pytest.approx(f1)


def test_exact_match_ignores_case_articles_and_punctuation() -> None:
    assert normalise("The  Kremlin, Moscow.") == "kremlin moscow"
    assert exact_match("the Kremlin", "Kremlin") and not exact_match("Kremlin", "Moscow")
    assert best_exact("Hamburg", ["Berlin", "hamburg"])
    assert best_f1("Hamburg Germany", ["Berlin", "Hamburg"]) == pytest.approx(2 / 3)


def test_phrase_counts_compare_shown_phrases_with_the_written_ones() -> None:
    from index.evaluation.evaluate import Outcome
    from index.evaluation.phrases import phrase_counts

    def outcome(first_right: bool, phrase: str | None, answerable: bool = True) -> Outcome:
        return Outcome((first_right,), 1, 0.9, answerable, "answer",
                       "answerable" if answerable else "close", phrase)

    outcomes = [outcome(True, "two hours and 15 minutes"),  # right
                outcome(True, "Hamburg"),  # shown, wrong
                outcome(True, None),  # not shown
                outcome(True, "Putin"),  # shown where no short phrase was written
                outcome(False, "Tillerson", answerable=False)]  # shown, unanswerable
    expected = ["some two hours and 15 minutes", "Lavrov", "Tillerson", None, None]
    assert phrase_counts(outcomes, expected) == {
        "shown": 4, "right": 1, "right_first": 4, "shown_right_first": 3, "expected": 3,
        "shown_expected": 2}
    with pytest.raises(ValueError):
        phrase_counts(outcomes, expected[:2])
