from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from index import evaluate
from index.errors import DataError
from index.evaluation.evaluate import Outcome
from tests.fakes import FakeEmbedder


def test_metrics_by_hand() -> None:
    outcomes = [
        Outcome((True, False, False), 1, 0.9, True),   # rank 1, answered, correct
        Outcome((False, True, True), 2, 0.8, True),    # ranks 2 and 3, answered, wrong
        Outcome((False, False, False), 1, 0.2, True),  # gold not retrieved, declined
        Outcome((False, False), 0, 0.85, False),       # unanswerable, answered
        Outcome((False, False), 0, 0.1, False),        # unanswerable, declined
    ]
    m = evaluate.metrics(outcomes, threshold=0.5)
    assert (m.answerable, m.unanswerable) == (3, 2)
    assert m.hit_at_1 == pytest.approx(1 / 3) and m.hit_at_3 == pytest.approx(2 / 3)
    assert m.mrr == pytest.approx((1 + 1 / 2 + 0) / 3)
    assert m.map == pytest.approx((1 + (1 / 2 + 2 / 3) / 2 + 0) / 3)
    assert m.answered_share == pytest.approx(2 / 3) and m.declined_share == pytest.approx(1 / 2)
    assert m.precision == pytest.approx(1 / 3) and m.recall == pytest.approx(1 / 3)
    assert m.f1 == pytest.approx(1 / 3)
    strict = evaluate.metrics(outcomes, threshold=0.95)
    assert strict.answered_share == 0 and strict.declined_share == 1 and strict.f1 == 0


def test_no_unanswerable_questions_gives_nan_declined_share() -> None:
    m = evaluate.metrics([Outcome((True,), 1, 0.9, True)], 0.5)
    assert math.isnan(m.declined_share) and m.hit_at_1 == 1


def test_gold_rule_ids_then_substrings() -> None:
    ids = {"u1", "u2"}
    assert evaluate._matches(["u1"], "u1", "anything", ids)
    assert not evaluate._matches(["u1"], "u2", "text with u1 inside", ids)
    assert evaluate._matches(["lasted some"], "u2", "it lasted some hours", ids)


def test_read_questions_errors(tmp_path: Path) -> None:
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"question": "ok", "gold": []}\n{"question": 3}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"q.jsonl:2: expected"):
        evaluate.read_questions(bad)
    bad.write_text('{"question": "ok", "gold": "x"}\n', encoding="utf-8")
    with pytest.raises(DataError, match='"gold" must be a list of strings'):
        evaluate.read_questions(bad)
    bad.write_text("\n", encoding="utf-8")
    with pytest.raises(DataError, match="no questions"):
        evaluate.read_questions(bad)


TSV = (
    "QuestionID\tQuestion\tDocumentID\tDocumentTitle\tSentenceID\tSentence\tLabel\n"
    "Q1\thow tall is the tower\tD1\tTower\tD1-0\tThe tower is 300 metres tall.\t1\n"
    "Q1\thow tall is the tower\tD1\tTower\tD1-1\tIt was built in 1889.\t0\n"
    "Q2\twho painted the bridge\tD2\tBridge\tD2-0\tThe bridge spans a river.\t0\n"
    "Q3\twhen was the tower built\tD1\tTower\tD1-0\tThe tower is 300 metres tall.\t0\n"
    "Q3\twhen was the tower built\tD1\tTower\tD1-1\tIt was built in 1889.\t1\n"
)


def test_wikiqa_conversion(tmp_path: Path) -> None:
    tsv = tmp_path / "w.tsv"
    tsv.write_text(TSV, encoding="utf-8")
    corpus, questions = evaluate.wikiqa_to_jsonl(tsv, tmp_path / "out")
    units = [json.loads(line) for line in corpus.read_text().splitlines()]
    assert [u["id"] for u in units] == ["D1-0", "D1-1", "D2-0"]
    assert units[0]["title"] == "Tower" and units[2]["doc"] == "D2"
    qs = [json.loads(line) for line in questions.read_text().splitlines()]
    assert qs == [
        {"question": "how tall is the tower", "doc": "D1", "gold": ["D1-0"]},
        {"question": "who painted the bridge", "doc": "D2", "gold": []},
        {"question": "when was the tower built", "doc": "D1", "gold": ["D1-1"]},
    ]
    (tmp_path / "bad.tsv").write_text("a\tb\n1\t2\n", encoding="utf-8")
    with pytest.raises(DataError, match="not a WikiQA TSV"):
        evaluate.wikiqa_to_jsonl(tmp_path / "bad.tsv", tmp_path / "o2")


@pytest.fixture
def fake_model(monkeypatch: pytest.MonkeyPatch) -> None:
    import index.answering.configured

    monkeypatch.setattr(index.answering.configured, "default_embedder",
                        lambda settings, *_: FakeEmbedder())


def test_eval_command_wikiqa_and_jsonl(fake_model, tmp_path: Path) -> None:
    tsv = tmp_path / "w.tsv"
    tsv.write_text(TSV, encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(cli, ["eval", "--format", "wikiqa", "--json", "--sweep-threshold",
                                 str(tsv)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["metrics"]["questions"] == 3 and out["metrics"]["answerable"] == 2
    assert len(out["sweep"]) == 51 and out["sweep"][0]["threshold"] == 0.0
    assert out["sweep"][0]["answered_share"] == 1.0 and out["sweep"][-1]["declined_share"] == 1.0

    qfile = tmp_path / "q.jsonl"
    qfile.write_text('{"question": "How long did the meeting last?", '
                     '"gold": ["two hours and 15 minutes"]}\n'
                     '{"question": "What is the capital of Peru?", "gold": []}\n',
                     encoding="utf-8")
    text = runner.invoke(cli, ["eval", str(qfile)])
    assert text.exit_code == 0, text.output
    assert "2 questions (1 answerable, 1 unanswerable)" in text.stdout and "MAP" in text.stdout
    verdicts = text.stdout.split("verdicts:\n")[1].splitlines()
    assert verdicts[0].split(":")[0].split() == ["all", "2"]
    found = re.search(r"answer (\d+) \((\d+) confidently wrong\), likely (\d+), unknown (\d+)",
                      verdicts[0])
    assert found is not None
    answer, _, likely, unknown = map(int, found.groups())
    assert answer + likely + unknown == 2
    out = json.loads(runner.invoke(cli, ["eval", "--json", str(qfile)]).stdout)
    assert out["verdicts"]["all"]["questions"] == 2
    assert out["metrics_likely"]["threshold"] <= out["metrics"]["threshold"]


def test_eval_command_bad_inputs(fake_model, tmp_path: Path) -> None:
    runner = CliRunner()
    qfile = tmp_path / "q.jsonl"
    qfile.write_text("{broken\n", encoding="utf-8")
    result = runner.invoke(cli, ["eval", str(qfile)])
    assert result.exit_code == 1 and "q.jsonl:1: not valid JSON" in result.stderr
    qfile.write_text('{"question": "x", "doc": "nope", "gold": []}\n', encoding="utf-8")
    result = runner.invoke(cli, ["eval", str(qfile)])
    assert result.exit_code == 2 and "unknown document 'nope'" in result.stderr
    assert runner.invoke(cli, ["eval", str(tmp_path / "missing.jsonl")]).exit_code == 2


def test_verdict_counts_by_kind_with_confidently_wrong_and_auc() -> None:
    from index.evaluation.evaluate import Outcome, format_verdicts, verdict_counts

    outcomes = [
        Outcome((True,), 1, 0.9, True, "answer", "answerable"),    # right, answered
        Outcome((False, True), 1, 0.8, True, "answer", "answerable"),  # confidently wrong
        Outcome((True,), 1, 0.3, True, "likely", "answerable"),    # helpful
        Outcome((True,), 1, 0.1, True, "unknown", "answerable"),   # right first, not helpful
        Outcome((False,), 0, 0.75, False, "answer", "close"),      # confidently wrong
        Outcome((False,), 0, 0.2, False, "likely", "close"),
        Outcome((False,), 0, 0.05, False, "unknown", "offtopic"),
    ]
    counts = verdict_counts(outcomes)
    assert counts["answerable"] == {"questions": 4, "answer": 2, "likely": 1, "unknown": 1,
                                    "confidently_wrong": 1, "right_first": 3, "helpful": 2}
    assert counts["close"]["answer"] == 1 and counts["close"]["confidently_wrong"] == 1
    assert counts["offtopic"] == {"questions": 1, "answer": 0, "likely": 0, "unknown": 1,
                                  "confidently_wrong": 0}
    assert counts["all"]["confidently_wrong"] == 2 and counts["all"]["questions"] == 7
    # Right first answers (0.9, 0.3, 0.1) against close-topic ones (0.75, 0.2): 3 of 6 pairs.
    assert counts["all"]["auc"] == 0.5
    text = format_verdicts(counts)
    assert "answerable    4: answer 2 (1 confidently wrong), likely 1, unknown 1" in text
    assert "right first 3, helpful 2" in text and "AUC" in text


def test_a_kind_that_does_not_fit_its_gold_is_refused(tmp_path: Path) -> None:

    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "Who?", "gold": ["x"], "kind": "close"}\n', encoding="utf-8")
    with pytest.raises(DataError, match="does not fit its gold"):
        evaluate.read_questions(path)
    path.write_text('{"question": "Who?", "gold": [], "kind": "sideways"}\n', encoding="utf-8")
    with pytest.raises(DataError, match='"kind" must be one of'):
        evaluate.read_questions(path)
