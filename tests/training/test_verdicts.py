"""The verdicts' cross-validation folds: every set goes with its corpus, and the off-topic
questions asked of a corpus go with that corpus, so no fold measures a question on a
model fitted on its document."""

from __future__ import annotations

import pytest

from training.rows import corpus_of


@pytest.mark.parametrize(("name", "corpus"), [
    ("article_qa", "article"), ("article_qa_holdout", "article"),
    ("article_qa_sealed3", "article"), ("offtopic-article", "article"),
    ("docs_qa", "docs"), ("docs_qa_sealed", "docs"), ("offtopic-docs", "docs"),
    ("docs3_qa_sealed", "docs3"), ("offtopic-docs3", "docs3"),
    ("docs4_qa_sealed", "docs4"), ("offtopic-docs4", "docs4"),
    ("article_qa_sealed5", "article"), ("docs5_qa_sealed", "docs5"),
    ("squad-dev", "squad"), ("squad-removed", "squad"), ("offtopic-squad", "squad"),
])
def test_each_set_is_left_out_with_its_corpus(name: str, corpus: str) -> None:
    assert corpus_of(name) == corpus


def test_a_set_of_no_known_corpus_is_refused() -> None:
    with pytest.raises(ValueError, match="wikiqa"):
        corpus_of("wikiqa")


def _outcome(name: str, kind: str, right: bool, confidence: float) -> dict[str, object]:
    return {"set": name, "corpus": corpus_of(name), "kind": kind,
            "right": right, "confidence": confidence}


def test_the_worst_set_criterion_holds_in_each_user_like_set() -> None:
    from training.verdicts import choose

    # article_qa: one of ten sure and wrong at 0.6; docs_qa: every sure answer right.
    results = [_outcome("article_qa", "answerable", True, 0.9) for _ in range(9)]
    results.append(_outcome("article_qa", "answerable", False, 0.6))
    results += [_outcome("docs_qa", "answerable", True, 0.9) for _ in range(10)]
    results += [_outcome("offtopic-article", "offtopic", False, 0.01) for _ in range(10)]
    averaged, _ = choose(results, wrong=0.06, close=1.0, offtopic=1.0)
    each, _ = choose(results, wrong=0.06, close=1.0, offtopic=1.0, worst=True)
    assert averaged <= 0.6 < each <= 0.9
    # SQuAD's adversarial questions, sure and wrong at 0.95, do not set it.
    squad = [_outcome("squad-dev", "close", False, 0.95) for _ in range(10)]
    assert choose(results + squad, wrong=0.06, close=1.0, offtopic=1.0, worst=True)[0] == each
