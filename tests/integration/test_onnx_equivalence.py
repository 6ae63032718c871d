"""The ONNX exports against the torch models they were made from (sentence-transformers, the
reference): the same vectors, the same reranker logits, the same answers on the article set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from index.sources.documents import embed_text, load_sources

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
QUESTION_SETS = [ROOT / "index" / "data" / "article_qa.jsonl",
                 ROOT / "index" / "data" / "article_qa_holdout.jsonl"]


def _questions() -> list[str]:
    return [json.loads(line)["question"] for path in QUESTION_SETS
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_encoder_vectors_match_torch(real_embedder, onnx_embedder) -> None:
    texts = [embed_text(u, d.title) for d in load_sources() for u in d.units] + _questions()
    reference = real_embedder.encode(texts)
    got = onnx_embedder.encode(texts)
    cosine = np.sum(reference * got, axis=1)
    assert len(texts) > 150 and cosine.min() >= 0.999
    assert (real_embedder.name, real_embedder.fingerprint, real_embedder.dimension) == \
        (onnx_embedder.name, onnx_embedder.fingerprint, onnx_embedder.dimension)


def test_reranker_logits_match_torch(real_reranker, onnx_reranker) -> None:
    sentences = [embed_text(u, d.title) for d in load_sources() for u in d.units]
    for question in _questions()[::10]:
        reference = real_reranker.score(question, sentences)
        got = onnx_reranker.score(question, sentences)
        assert np.abs(reference - got).max() <= 0.01
    assert onnx_reranker.calibration == real_reranker.calibration


def test_same_answers_on_the_article_sets(real_embedder, real_reranker, onnx_embedder,
                                          onnx_reranker, real_index_dir: Path) -> None:
    from config import Settings
    from index import evaluate
    from index.answering.engine import Engine

    settings = Settings(_env_file=None, index_dir=real_index_dir)
    engines = [Engine(settings, emb, reranker=rr) for emb, rr in
               ((real_embedder, real_reranker), (onnx_embedder, onnx_reranker))]
    for engine in engines:
        engine.load()
    for path in QUESTION_SETS:
        questions = evaluate.read_questions(path)
        torch_run, onnx_run = (evaluate.run(e, questions) for e in engines)
        assert [o.relevant for o in torch_run] == [o.relevant for o in onnx_run]
        assert np.allclose([o.confidence for o in torch_run], [o.confidence for o in onnx_run],
                           atol=1e-3)
        assert evaluate.metrics(torch_run, engines[0].threshold) == \
            evaluate.metrics(onnx_run, engines[1].threshold)
