"""Training pairs from SQuAD-format data: labels, negatives, seeding."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from training.data import make_pairs, read_squad

CONTEXT = ("The castle was built in 1120 by Count Rolf. It burned down in 1340. "
           "A new tower was added in 1400. Tourists visit it every summer.")


@pytest.fixture
def squad(tmp_path: Path) -> Path:
    data = {"version": "v2.0", "data": [{"title": "Rolf_Castle", "paragraphs": [{
        "context": CONTEXT,
        "qas": [
            {"id": "a", "question": "When did the castle burn down?",
             "answers": [{"text": "1340", "answer_start": CONTEXT.index("1340")}]},
            {"id": "b", "question": "Who built the castle?",
             "answers": [{"text": "Count Rolf", "answer_start": CONTEXT.index("Count")}]},
            {"id": "c", "question": "Who burned the castle down?", "answers": [],
             "is_impossible": True},
        ]}]}]}
    path = tmp_path / "mini.json.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        json.dump(data, fh)
    return path


def test_the_answer_sentence_is_the_one_holding_answer_start(squad: Path) -> None:
    qs = {q.qid: q for q in read_squad(squad)}
    assert qs["a"].title == "Rolf Castle" and len(qs["a"].sentences) == 4
    assert [qs["a"].sentences[i] for i in qs["a"].answers] == ["It burned down in 1340."]
    assert qs["b"].answers == frozenset({0})
    assert not qs["c"].answerable and qs["c"].answers == frozenset()


def test_pairs_label_answers_and_take_negatives_from_the_paragraph(squad: Path) -> None:
    pairs = make_pairs(list(read_squad(squad)), seed=1, negatives=2)
    by_q: dict[str, list] = {}
    for p in pairs:
        by_q.setdefault(p.question, []).append(p)
    burn = by_q["When did the castle burn down?"]
    assert [p.passage for p in burn if p.label == 1.0] == [
        "Rolf Castle: It burned down in 1340."]
    assert sum(p.label == 0.0 for p in burn) == 2
    assert all(p.passage.startswith("Rolf Castle: ") for p in pairs)
    impossible = by_q["Who burned the castle down?"]
    assert all(p.label == 0.0 for p in impossible) and len(impossible) == 2
    # The hardest negative of an unanswerable question: the sentence sharing most words.
    assert "Rolf Castle: It burned down in 1340." in {p.passage for p in impossible}


def test_pairs_are_reproducible_by_seed(squad: Path) -> None:
    questions = list(read_squad(squad))
    assert make_pairs(questions, seed=3) == make_pairs(questions, seed=3)
    orders = {tuple(p.passage for p in make_pairs(questions, seed=s)) for s in range(6)}
    assert len(orders) > 1, "the seed changes the order"


def test_the_shared_training_files_give_thousands_of_questions() -> None:
    root = Path(__file__).resolve().parents[3] / "shared" / "data" / "qa-train"
    if not root.is_dir():
        pytest.skip("../shared/data/qa-train is not beside the repo")
    questions = list(read_squad(root / "squad2-train-subset.json.gz"))
    assert len(questions) > 4000
    assert sum(not q.answerable for q in questions) > 300


def test_cross_negatives_come_from_other_paragraphs_and_never_hold_the_answer(
        tmp_path: Path) -> None:
    other = ("The town below the castle held a market. In 1340 the fire spread to the town. "
             "The castle gardens were planted by monks.")
    data = {"version": "v2.0", "data": [{"title": "Rolf_Castle", "paragraphs": [
        {"context": CONTEXT, "qas": [
            {"id": "a", "question": "When did the castle burn down?",
             "answers": [{"text": "1340", "answer_start": CONTEXT.index("1340")}]}]},
        {"context": other, "qas": [
            {"id": "m", "question": "What did the town hold?",
             "answers": [{"text": "a market", "answer_start": other.index("a market")}]}]},
    ]}]}
    path = tmp_path / "two.json.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        json.dump(data, fh)
    questions = list(read_squad(path))
    assert questions[0].answer_texts == ("1340",)
    plain = make_pairs(questions, seed=2, negatives=1)
    for seed in range(5):
        pairs = make_pairs(questions, seed=seed, negatives=1, cross=1)
        assert len(pairs) == len(plain) + 2  # one more negative per question
        burn = {p.passage for p in pairs
                if p.question == "When did the castle burn down?" and p.label == 0.0}
        # The other paragraph's sentence with "1340" in it answers too: never a negative.
        assert "Rolf Castle: In 1340 the fire spread to the town." not in burn
        assert burn & {"Rolf Castle: The town below the castle held a market.",
                       "Rolf Castle: The castle gardens were planted by monks."}
        town = {p.passage for p in pairs if p.question == "What did the town hold?"}
        assert town & {f"Rolf Castle: {s}" for s in
                       ("The castle was built in 1120 by Count Rolf.", "It burned down in 1340.",
                        "A new tower was added in 1400.", "Tourists visit it every summer.")}
    # Asked for more than there are, it takes every other sentence but the answering one.
    every = make_pairs(questions, seed=0, negatives=0, cross=5)
    assert {p.passage for p in every if p.question == "When did the castle burn down?"} == {
        "Rolf Castle: It burned down in 1340.",
        "Rolf Castle: The town below the castle held a market.",
        "Rolf Castle: The castle gardens were planted by monks."}


def test_swapped_negatives_change_a_shared_name_or_number_to_one_not_in_the_paragraph(
        tmp_path: Path) -> None:
    other = "Count Bertram founded the abbey of Saint Lutz. The abbey kept bees."
    data = {"version": "v2.0", "data": [
        {"title": "Rolf_Castle", "paragraphs": [{"context": CONTEXT, "qas": [
            {"id": "a", "question": "What burned down in 1340?",
             "answers": [{"text": "It", "answer_start": CONTEXT.index("It burned")}]},
            {"id": "b", "question": "When did Count Rolf build the castle?",
             "answers": [{"text": "1120", "answer_start": CONTEXT.index("1120")}]}]}]},
        {"title": "Lutz_Abbey", "paragraphs": [{"context": other, "qas": [
            {"id": "c", "question": "Who founded the abbey of Saint Lutz?",
             "answers": [{"text": "Count Bertram", "answer_start": 0}]}]}]},
    ]}
    path = tmp_path / "swap.json.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        json.dump(data, fh)
    questions = list(read_squad(path))
    seen: set[str] = set()
    for seed in range(12):
        pairs = make_pairs(questions, seed=seed, negatives=0, swapped=1.0)
        swapped = [p for p in pairs if p.label == 0.0]
        for p in swapped:
            assert p.question not in {q.question for q in questions}
            source = next(q for q in questions if q.answerable and
                          p.passage.endswith(q.sentences[min(q.answers)]))
            # The new name or number is not in the answer's paragraph: it cannot answer.
            old, new = source.question.rstrip("?").split(), p.question.rstrip("?").split()
            head = len(os.path.commonprefix([old, new]))
            tail = len(os.path.commonprefix([old[head:][::-1], new[head:][::-1]]))
            inserted = " ".join(new[head : len(new) - tail])
            assert inserted and inserted not in " ".join(source.sentences)
            seen.add(p.question)
    assert "When did Saint Lutz build the castle?" in seen  # a name from the other article
    assert any(q.startswith("What burned down in ") and "1340" not in q for q in seen)
