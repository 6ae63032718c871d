"""The verdicts' cross-validation folds: every set goes with its corpus, and the off-topic
questions asked of a corpus go with that corpus, so no fold measures a question on a
model fitted on its document."""

from __future__ import annotations

import pytest

from training.verdicts import group_of


@pytest.mark.parametrize(("name", "corpus"), [
    ("article_qa", "article"), ("article_qa_holdout", "article"),
    ("article_qa_sealed3", "article"), ("offtopic-article", "article"),
    ("docs_qa", "docs"), ("docs_qa_sealed", "docs"), ("offtopic-docs", "docs"),
    ("docs3_qa_sealed", "docs3"), ("offtopic-docs3", "docs3"),
    ("squad-dev", "squad"), ("squad-removed", "squad"), ("offtopic-squad", "squad"),
])
def test_each_set_is_left_out_with_its_corpus(name: str, corpus: str) -> None:
    assert group_of(name) == corpus


def test_a_set_of_no_known_corpus_is_refused() -> None:
    with pytest.raises(ValueError, match="wikiqa"):
        group_of("wikiqa")
