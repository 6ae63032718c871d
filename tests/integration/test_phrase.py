"""The phrase that answers with the real bundled reranker (its span head) on the real
article: the headline question, both runtimes alike, the export's outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from index.modelling.onnx_runtime import RERANKER_EXPORT, SPAN_OUTPUTS
from index.modelling.phrase import MIN_CONFIDENCE
from index.sources.documents import embed_text
from tests.conftest import HEADLINE, HEADLINE_ANSWER

pytestmark = pytest.mark.integration


def test_the_head_reads_the_headline_phrase(real_engine) -> None:
    from dataclasses import replace

    loaded = real_engine._loaded
    ranking = replace(real_engine.ranking, phrase_minimum=0.0)
    answer = ranking.answer(loaded.data, loaded.lexical, HEADLINE,
                            real_engine.embedder.encode([HEADLINE]), info=None, k=5,
                            context_window=1)
    assert answer.phrase is not None and answer.best is not None
    assert HEADLINE_ANSWER in answer.phrase.text(answer.best.unit.text)
    shown = real_engine.ask(HEADLINE).phrase  # only from the fitted minimum up
    assert (shown is not None) == (answer.phrase.confidence >= MIN_CONFIDENCE)


def test_the_cli_phrase_points_into_the_first_passage(real_models,
                                                      real_index_dir: Path) -> None:
    dinner = "Who sat next to Putin at dinner?"  # the README's sample with a phrase
    for question in (HEADLINE, "Who came in to urge them to conclude?", "Who is Lavrov?",
                     dinner):
        result = CliRunner().invoke(cli, ["ask", "--json", "--index-dir", str(real_index_dir),
                                          question])
        assert result.exit_code == 0, result.output
        obj = json.loads(result.stdout)
        if "phrase" in obj:
            phrase, text = obj["phrase"], obj["passages"][0]["text"]
            assert text[phrase["start"] : phrase["end"]] == phrase["text"]
            assert phrase["confidence"] >= MIN_CONFIDENCE
        if question == dinner:
            assert obj["phrase"]["text"] == "Mrs Trump"


def test_a_why_question_or_an_off_topic_one_gets_no_phrase(real_engine) -> None:
    assert real_engine.ask("What is the capital of Australia?").phrase is None
    why = real_engine.ask("Why did the Democrats criticise Trump?")
    assert why.phrase is None or len(why.phrase.text(why.best.unit.text).split()) > 3


def test_the_torch_runtime_reads_the_same_phrase(real_engine, real_reranker) -> None:
    answer = real_engine.ask(HEADLINE)
    assert answer.best is not None
    unit = answer.best.unit
    passage = embed_text(unit, real_engine.data.docs[unit.doc].title)
    onnx_scores, onnx_read = real_engine.ranking.reranker.score_spans(HEADLINE, [passage])
    torch_scores, torch_read = real_reranker.score_spans(HEADLINE, [passage])
    assert onnx_read is not None and torch_read is not None
    assert abs(float(onnx_scores[0]) - float(torch_scores[0])) < 1e-3
    skip = len(passage) - len(unit.text)
    onnx_phrase, torch_phrase = onnx_read[0].phrase(skip, 0.0), torch_read[0].phrase(skip, 0.0)
    assert onnx_phrase is not None and torch_phrase is not None
    assert (onnx_phrase.start, onnx_phrase.end) == (torch_phrase.start, torch_phrase.end)
    assert abs(onnx_phrase.confidence - torch_phrase.confidence) < 1e-3


def test_the_shipped_export_has_the_span_outputs() -> None:
    info = json.loads((RERANKER_EXPORT / "export.json").read_text(encoding="utf-8"))
    assert info["outputs"] == ["logit", *SPAN_OUTPUTS]
    assert info["check"]["max_span_logit_diff"] <= 0.01
