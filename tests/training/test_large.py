"""The qa-train-large loaders: labels through qabot's splitter, dropped and ambiguous
answers, each source format, deduplication and the validation split, the fixed order."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from training.large import (
    qa_train_titles,
    read_qed,
    read_questions,
    read_selqa,
    read_squad_like,
    source_of,
    training_order,
    validation_sets,
    write_questions,
    xquad_contexts,
)
from training.reranker import large_pairs

CONTEXT = ("The bridge opened in 1932 after six years of work. Its main span is 503 metres "
           "long. In 1932 it was also the widest bridge in the world. Trains crossed it "
           "from the first day.")


def _gz(path: Path, data: Any, lines: bool = False) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        if lines:
            fh.write("".join(json.dumps(x) + "\n" for x in data))
        else:
            json.dump(data, fh)
    return path


def _squad(path: Path, title: str | None, qas: list[dict[str, Any]],
           context: str = CONTEXT) -> Path:
    article: dict[str, Any] = {"paragraphs": [{"context": context, "qas": qas}]}
    if title is not None:
        article["title"] = title
    return _gz(path, {"data": [article]})


def _qa(qid: str, question: str, text: str, start: int, ambiguous: bool = False
        ) -> dict[str, Any]:
    return {"id": qid, "question": question, "answer_start_ambiguous": ambiguous,
            "answers": [{"text": text, "answer_start": start}]}


def test_squad_labels_drop_lost_answers_and_split_ambiguous_ones(tmp_path: Path) -> None:
    path = _squad(tmp_path / "s.json.gz", "Harbour_Bridge", [
        _qa("a", "How long is the main span?", "503 metres", CONTEXT.index("503")),
        _qa("lost", "Who designed it?", "John Bradfield", -1),
        # "1932" is in the first and the third sentence: which one answers is unknown.
        _qa("two", "When did the bridge open?", "1932", CONTEXT.index("1932"), True),
        # "Trains" occurs once more inside the same sentence? No: only once, so it is kept.
        _qa("one", "What crossed it?", "Trains", CONTEXT.index("Trains"), True),
    ])
    qs = {q.qid.split(":")[0]: q for q in read_squad_like(path)}
    assert set(qs) == {"a", "one"}
    assert qs["a"].title == "Harbour Bridge" and len(qs["a"].sentences) == 4
    assert [qs["a"].sentences[i] for i in qs["a"].answers] == [
        "Its main span is 503 metres long."]
    assert [qs["one"].sentences[i] for i in qs["one"].answers] == [
        "Trains crossed it from the first day."]


def test_an_ambiguous_answer_twice_in_one_sentence_is_kept(tmp_path: Path) -> None:
    context = "It cost 10 pounds, or 10 pounds more than planned. It rained."
    path = _squad(tmp_path / "s.json.gz", "Cost", [
        _qa("c", "What did it cost?", "10 pounds", context.index("10"), True)], context)
    (q,) = read_squad_like(path)
    assert q.answers == frozenset({0})


def test_a_paper_without_a_title_is_titled_by_its_first_line(tmp_path: Path) -> None:
    context = "Masks and Coughs\n\nMasks reduce droplets. Coughs spread them."
    path = _squad(tmp_path / "c.json.gz", None, [
        {"id": 7, "question": "What do masks reduce?", "is_impossible": False,
         "answers": [{"text": "droplets", "answer_start": context.index("droplets")}]}],
        context)
    (q,) = read_squad_like(path, prefix="covid:")
    assert q.title == "Masks and Coughs" and q.qid.startswith("covid:7")
    assert q.sentences[min(q.answers)] == "Masks reduce droplets."
    assert source_of(q) == "covidqa"


def test_qed_train_keeps_single_sentence_and_dev_reads_annotators(tmp_path: Path) -> None:
    text = "The river is 80 km long . It flows into the sea at Rye ."
    train = _gz(tmp_path / "t.jsonl.gz", [
        {"example_id": 1, "title_text": "River Rother", "question_text": "how long is the rother",
         "paragraph_text": text, "answer_spans": [[13, 18]], "answer_type": "single_sentence"},
        {"example_id": 2, "title_text": "Table", "question_text": "list of rivers",
         "paragraph_text": text, "answer_spans": [[0, 40]], "answer_type": "multi_sentence"},
    ], lines=True)
    (q,) = read_qed(train)
    assert q.question == "How long is the rother?" and q.answers == frozenset({0})
    assert source_of(q) == "qed-nq-train"
    dev = _gz(tmp_path / "d.jsonl.gz", [
        {"example_id": 3, "title_text": "River Rother", "question_text": "where does it end",
         "paragraph_text": text, "original_nq_answers": [[{"start": 51, "end": 54,
                                                             "string": "Rye"}]]}],
        lines=True)
    (d,) = read_qed(dev)
    assert d.sentences[min(d.answers)] == "It flows into the sea at Rye ."
    assert d.answer_texts == ("Rye",)  # the phrase the span head is measured on


def test_selqa_candidates_are_split_again_and_labelled(tmp_path: Path) -> None:
    path = _gz(tmp_path / "sel.json.gz", [
        {"question": "Where is the museum?", "article": "Some_Town", "answers": [1],
         "candidates": ["The town is old.", "Its museum is by the river. It opened in 1990.",
                        "Nobody lives there now."]},
        {"question": "Unanswered?", "article": "X", "answers": [], "candidates": ["A b."]},
    ])
    (q,) = read_selqa(path)
    assert q.title == "Some Town"
    assert [q.sentences[i] for i in sorted(q.answers)] == [
        "Its museum is by the river.", "It opened in 1990."]


def test_dedupe_by_title_and_validation_without_xquad(tmp_path: Path) -> None:
    qa_train = tmp_path / "qa-train"
    qa_train.mkdir()
    seen_q = _qa("x", "How long is the main span?", "503 metres", CONTEXT.index("503"))
    _squad(qa_train / "squad2-train-subset.json.gz", "Old_Title", [seen_q])
    _squad(qa_train / "squad11-train-subset.json.gz", "Other_Old", [seen_q])
    _squad(qa_train / "xquad-en.json.gz", "Dev_Article", [seen_q])
    assert qa_train_titles(qa_train) == {"Old_Title", "Other_Old"}
    assert xquad_contexts(qa_train) == {CONTEXT}
    big = tmp_path / "train.json.gz"
    _gz(big, {"data": [
        {"title": "Old_Title", "paragraphs": [{"context": CONTEXT, "qas": [seen_q]}]},
        {"title": "New_Title", "paragraphs": [{"context": CONTEXT, "qas": [seen_q]}]}]})
    titles = {q.title for q in read_squad_like(big, skip_titles=qa_train_titles(qa_train))}
    assert titles == {"New Title"}
    large = tmp_path / "large"
    large.mkdir()
    other = "A different paragraph. It has 2 sentences."
    _gz(large / "squad11-dev-46.json.gz", {"data": [{"title": "Dev_Article", "paragraphs": [
        {"context": CONTEXT, "qas": [seen_q]},
        {"context": other, "qas": [_qa("y", "How many?", "2", other.index("2"))]}]}]})
    _gz(large / "qed-nq-dev.jsonl.gz", [], lines=True)
    _gz(large / "selqa-dev.json.gz", [])
    valid = validation_sets(large, qa_train)
    assert [q.sentences for q in valid["squad11-dev-46"]] == [
        ("A different paragraph.", "It has 2 sentences.")]


def test_the_order_is_fixed_by_the_seed_capped_and_round_trips(tmp_path: Path) -> None:
    path = _squad(tmp_path / "s.json.gz", "Bridge", [
        _qa(f"q{i}", f"Question {i}?", "503 metres", CONTEXT.index("503")) for i in range(20)])

    def order(seed: int, caps: dict[str, int] | None = None) -> list[str]:
        return [q.qid for q in training_order({"squad10-train": read_squad_like(path)},
                                              seed=seed, caps=caps)]

    assert order(1) == order(1) and order(1) != order(2) and sorted(order(1)) == sorted(order(2))
    assert len(order(1, {"squad10-train": 5})) == 5
    qs = list(read_squad_like(path))
    assert write_questions(tmp_path / "out" / "q.jsonl.gz", qs) == 20
    assert read_questions(tmp_path / "out" / "q.jsonl.gz") == qs
    assert not (tmp_path / "out" / "q.jsonl.gz.part").exists()


def test_a_chunk_gives_one_positive_and_one_negative_a_question(tmp_path: Path) -> None:
    second = "Buses use the lower deck. The toll is paid southbound. It is 49 metres wide."
    qs = [q for i in range(6) for q in read_squad_like(
        _squad(tmp_path / f"{i}.json.gz", "Bridge", [
            _qa(f"q{i}", f"How long is the span {i}?", "503 metres", CONTEXT.index("503"))]))]
    other = list(read_squad_like(_squad(tmp_path / "o.json.gz", "Bridge", [
        _qa("w", "How wide is it?", "49 metres", second.index("49"))], second)))
    write_questions(tmp_path / "train.jsonl.gz", [qs[0], other[0], *qs[1:]])
    (tmp_path / "meta.json").write_text(json.dumps({"files": {"x": "0"}}))
    pairs, files, n = large_pairs(tmp_path, 0, 4, seed=3, hard_share=1.0)
    assert n == 4 and files == {"x": "0"}
    assert sum(p.label == 1.0 for p in pairs) == 4
    assert sorted(p.passage for p in pairs if p.label == 1.0) == [
        "Bridge: It is 49 metres wide.", *["Bridge: Its main span is 503 metres long."] * 3]
    negatives = {p.question: p.passage for p in pairs if p.label == 0.0}
    assert len(negatives) == 4
    # q0 (same paragraph, the most word-sharing); "How wide is it?" and q2 (the other
    # paragraph of the article: the same topic, not the answer).
    assert negatives["How long is the span 0?"].startswith("Bridge: ")
    assert negatives["How long is the span 0?"] in [f"Bridge: {s}" for s in qs[0].sentences]
    assert negatives["How long is the span 2?"] in [f"Bridge: {s}" for s in other[0].sentences]
    assert negatives["How wide is it?"] in [f"Bridge: {s}" for s in qs[0].sentences]
    pairs, _, n = large_pairs(tmp_path, 1, 4, seed=3, hard_share=1.0)
    assert n == 3
    with pytest.raises(SystemExit):
        large_pairs(tmp_path, 2, 4, seed=3, hard_share=1.0)


def test_the_card_counts_large_questions_down_the_whole_chain() -> None:
    from training.reranker import large_questions

    chunk = {"data": {"questions": 10000, "large_chunk": {"chunk": 0}}}
    older = {"data": {"questions": 6996, "large_chunk": None}}
    card = {"data": {"questions": 8000, "large_chunk": {"chunk": 1}},
            "continued_from": {**chunk, "continued_from": older}}
    assert large_questions(card) == 18000
    assert large_questions(older) == 0 and large_questions(None) == 0
