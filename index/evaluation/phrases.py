"""How close a phrase is to the expected one: SQuAD's exact match and token F1.

Both compare the answers normalised as SQuAD's official script does: lower case, no
punctuation, no articles (a, an, the), single spaces. Against several expected answers,
the best score counts.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from index.evaluation.evaluate import Outcome

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = frozenset(string.punctuation)


def normalise(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def token_f1(predicted: str, expected: str) -> float:
    """The harmonic mean of token precision and recall of two normalised answers."""
    pred, gold = normalise(predicted).split(), normalise(expected).split()
    if not pred or not gold:
        return float(pred == gold)
    common = sum((Counter(pred) & Counter(gold)).values())
    if not common:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def exact_match(predicted: str, expected: str) -> bool:
    return normalise(predicted) == normalise(expected)


def best_f1(predicted: str, expected: Iterable[str]) -> float:
    return max((token_f1(predicted, e) for e in expected), default=0.0)


def best_exact(predicted: str, expected: Iterable[str]) -> bool:
    return any(exact_match(predicted, e) for e in expected)


RIGHT_F1 = 0.5  # a shown phrase is right from this token F1 against the written one


def phrase_counts(outcomes: Sequence[Outcome], expected: Sequence[str | None]
                  ) -> dict[str, int]:
    """How the phrases qabot answered with compare with the written ones (``expected``, one
    per question, None where the answer is no short phrase): ``shown`` phrases, of them
    ``right`` (token F1 >= :data:`RIGHT_F1`); ``right_first`` answerable questions and of
    them ``shown_right_first`` with a phrase; ``expected`` questions with a written phrase
    whose first passage is right, and of them ``shown_expected`` with a phrase."""
    out = dict.fromkeys(("shown", "right", "right_first", "shown_right_first", "expected",
                         "shown_expected"), 0)
    for o, want in zip(outcomes, expected, strict=True):
        shown = o.phrase is not None
        out["shown"] += shown
        out["right"] += bool(shown and want and token_f1(o.phrase or "", want) >= RIGHT_F1)
        if o.right_first:
            out["right_first"] += 1
            out["shown_right_first"] += shown
            if want:
                out["expected"] += 1
                out["shown_expected"] += shown
    return out
