"""Training pairs from SQuAD-format data: labels, negatives, seeding."""

from __future__ import annotations

import gzip
import json
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
