"""The phrase that answers with the real bundled reranker (its span head) on the real
article: the headline question, both runtimes alike, the export's outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from index.modelling.onnx_runtime import RERANKER_EXPORT, SPAN_OUTPUTS
from index.sources.documents import embed_text
from tests.conftest import HEADLINE, HEADLINE_ANSWER

pytestmark = pytest.mark.integration


def test_the_headline_is_answered_with_its_phrase(real_models, real_index_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["ask", "--json", "--index-dir", str(real_index_dir),
                                      HEADLINE])
    assert result.exit_code == 0, result.output
    obj = json.loads(result.stdout)
    phrase, text = obj["phrase"], obj["passages"][0]["text"]
    assert HEADLINE_ANSWER in phrase["text"] and len(phrase["text"]) < 40
    assert text[phrase["start"] : phrase["end"]] == phrase["text"]
    shown = CliRunner().invoke(cli, ["ask", "--index-dir", str(real_index_dir), HEADLINE])
    assert shown.stdout.splitlines()[0] == f"**{phrase['text']}**"


def test_a_why_question_or_an_off_topic_one_gets_no_phrase(real_engine) -> None:
    assert real_engine.ask("What is the capital of Australia?").phrase is None
    why = real_engine.ask("Why did the Democrats criticise Trump?")
    assert why.phrase is None or len(why.phrase.text(why.best.unit.text).split()) > 3


def test_the_torch_runtime_reads_the_same_phrase(real_engine, real_reranker) -> None:
    answer = real_engine.ask(HEADLINE)
    assert answer.phrase is not None and answer.best is not None
    unit = answer.best.unit
    passage = embed_text(unit, real_engine.data.docs[unit.doc].title)
    onnx_scores, onnx_read = real_engine.ranking.reranker.score_spans(HEADLINE, [passage])
    torch_scores, torch_read = real_reranker.score_spans(HEADLINE, [passage])
    assert onnx_read is not None and torch_read is not None
    assert abs(float(onnx_scores[0]) - float(torch_scores[0])) < 1e-3
    skip = len(passage) - len(answer.best.unit.text)
    assert onnx_read[0].phrase(skip) == answer.phrase
    got = torch_read[0].phrase(skip)
    assert got is not None and (got.start, got.end) == (answer.phrase.start, answer.phrase.end)


def test_the_shipped_export_has_the_span_outputs() -> None:
    info = json.loads((RERANKER_EXPORT / "export.json").read_text(encoding="utf-8"))
    assert info["outputs"] == ["logit", *SPAN_OUTPUTS]
    assert info["check"]["max_span_logit_diff"] <= 0.01
