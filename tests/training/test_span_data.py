"""The span head's training data (training/span_data.py) and batches (training/span.py):
each positive's phrase lies where its answer text is in the passage the reranker reads."""

from __future__ import annotations

import pytest

from training.data import Question
from training.span_data import phrase_in, span_pairs

SENTENCES = ("The bridge opened in 1932 after six years of work.",
             "Its main span is 503 metres long.", "Trains crossed it from the first day.")


def question(n: int, text: str, answer: int, texts: tuple[str, ...]) -> Question:
    return Question(f"q{n}", text, "Sydney Harbour Bridge", SENTENCES, frozenset({answer}),
                    texts)


def test_the_phrase_is_the_first_answer_text_found_in_the_sentence() -> None:
    assert phrase_in(SENTENCES[1], ("504 metres", "503 metres")) == (17, 27)
    assert phrase_in(SENTENCES[1], ("  503 metres ",)) == (17, 27)
    assert phrase_in(SENTENCES[1], ("1932",)) is None
    assert phrase_in(SENTENCES[1], ()) is None


def test_positives_carry_their_phrase_in_the_passage_and_negatives_none() -> None:
    questions = [question(0, "When did the bridge open?", 0, ("1932",)),
                 question(1, "How long is the main span?", 1, ("503 metres",)),
                 question(2, "Since when have trains crossed it?", 2, ("the first day",)),
                 question(3, "What crossed it first?", 2, ("nothing in the text",))]
    pairs = span_pairs(questions, seed=3)
    positives = [p for p in pairs if p.label > 0]
    assert len(positives) == 4 and any(p.label == 0 for p in pairs)
    found = {p.passage[p.span[0] : p.span[1]] for p in positives if p.span is not None}
    assert found == {"1932", "503 metres", "the first day"}
    assert all(p.passage.startswith("Sydney Harbour Bridge: ") for p in pairs)
    assert all(p.span is None for p in pairs if p.label == 0)


def test_a_batch_maps_phrases_to_tokens_and_survives_a_question_too_long() -> None:
    pytest.importorskip("transformers")
    from transformers import AutoTokenizer

    from index.modelling.reranker import BUNDLED_DIR
    from training.span import encode
    from training.span_data import SpanPair

    tokenizer = AutoTokenizer.from_pretrained(str(BUNDLED_DIR))
    passage = "Bridge: Its main span is 503 metres long."
    at = passage.index("503 metres")
    batch = [SpanPair("How long is the span?", passage, 1.0, (at, at + 10)),
             SpanPair("word " * 300, passage, 0.0, None)]  # longer than the 128 tokens
    b = encode(tokenizer, batch, 128)
    ids = b["input_ids"][0][int(b["start"][0]) : int(b["end"][0]) + 1]
    assert tokenizer.decode(ids) == "503 metres"
    assert bool(b["allowed"][0][int(b["start"][0])]) and bool(b["allowed"][0][0])
    assert int(b["start"][1]) == 0 and int(b["end"][1]) == 0  # [CLS]: no phrase
    assert b["input_ids"].shape[1] == 128
