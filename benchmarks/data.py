"""Benchmark inputs: a synthetic text corpus, clustered vectors and a fast fake embedder.

The text corpus recombines real sentences (the WikiQA dev half and the built-in article)
so its vocabulary and sentence lengths are real; the vectors are clustered like sentence
embeddings (topics, then documents inside topics), not uniform on the sphere.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.measure import ROOT

if TYPE_CHECKING:
    import numpy as np

DATA = ROOT.parent / "shared" / "data"
WIKIQA = DATA / "wikiqa" / "WikiQA-test-dev-half.tsv"
ARTICLE_QA = ROOT / "index" / "data" / "article_qa.jsonl"
DIMENSION = 384


def source_sentences() -> tuple[list[str], list[str]]:
    """Real sentences and titles: the WikiQA dev half, else the built-in article."""
    from index.sources.documents import load_sources

    sentences = [u.text for d in load_sources() for u in d.units]
    titles = ["trump putin g20 meeting"]
    if WIKIQA.is_file():
        with WIKIQA.open(encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
        sentences += sorted({r["Sentence"] for r in rows})
        titles += sorted({r["DocumentTitle"] for r in rows})
    return sentences, titles


def questions(count: int) -> list[str]:
    """``count`` questions: the article set's and WikiQA's, repeated as needed."""
    found = [json.loads(line)["question"] for line in ARTICLE_QA.read_text().splitlines()
             if line.strip()]
    if WIKIQA.is_file():
        with WIKIQA.open(encoding="utf-8") as fh:
            found += sorted({r["Question"] for r in csv.DictReader(fh, delimiter="\t",
                                                                   quoting=csv.QUOTE_NONE)})
    return [found[i % len(found)] for i in range(count)]


def write_corpus(path: Path, units: int, *, per_doc: int = 20, seed: int = 0,
                 prefix: str = "doc") -> Path:
    """Write a JSONL corpus of ``units`` new sentences, ``per_doc`` to a document.

    Each sentence joins the first half of one real sentence to the second half of another,
    so texts are distinct but read like the originals.
    """
    import numpy as np

    sentences, titles = source_sentences()
    words = [s.split() for s in sentences]
    rng = np.random.default_rng(seed)
    pairs = rng.integers(0, len(words), size=(units, 2))
    with path.open("w", encoding="utf-8") as fh:
        for i, (a, b) in enumerate(pairs):
            first, second = words[a], words[b]
            text = " ".join(first[: max(1, len(first) // 2)] + second[len(second) // 2 :])
            doc = f"{prefix}-{i // per_doc}"
            title = f"{titles[(i // per_doc) % len(titles)]} {i // per_doc}"
            fh.write(json.dumps({"id": f"{doc}:{i % per_doc}", "doc": doc, "text": text,
                                 "title": title}) + "\n")
    return path


def clustered_vectors(count: int, *, clusters: int, seed: int = 0, topics: int = 64
                      ) -> np.ndarray:
    """``count`` normalised vectors in ``clusters`` clusters inside topics, ordered by cluster.

    Ordered by cluster because units of one document are contiguous and on one subject.
    Two points of one cluster have a cosine of about 0.5, of one topic about 0.25, others
    about 0. Queries are drawn the same way (same ``clusters``, another ``seed``).
    """
    import numpy as np

    gen = np.random.default_rng(1234)  # the same topics and clusters for every call
    topic = _normalise(gen.standard_normal((topics, DIMENSION), dtype=np.float32))
    centre = _normalise(topic[gen.integers(0, topics, clusters)]
                        + np.float32(0.9) * _normalise(
                            gen.standard_normal((clusters, DIMENSION), dtype=np.float32)))
    rng = np.random.default_rng(seed)
    labels = np.sort(rng.integers(0, clusters, count))
    out = np.empty((count, DIMENSION), dtype=np.float32)
    step = 100_000
    for lo in range(0, count, step):
        hi = min(count, lo + step)
        noise = _normalise(rng.standard_normal((hi - lo, DIMENSION), dtype=np.float32))
        out[lo:hi] = _normalise(centre[labels[lo:hi]] + np.float32(1.0) * noise)
    return out


def _normalise(x: np.ndarray) -> np.ndarray:
    import numpy as np

    return x / np.linalg.norm(x, axis=1, keepdims=True).astype(np.float32)


class HashEmbedder:
    """A fast fake model: each text's vector is drawn from a generator seeded by its hash.

    Deterministic per text (so embedding reuse can be checked) and about 20 µs a text, for
    corpus sizes the real model would take hours to encode. Its vectors carry no meaning:
    use it for timing, never for answer quality.
    """

    name = "benchmark-hash-embedder"
    fingerprint = hashlib.sha256(b"benchmark-hash-embedder").hexdigest()

    def __init__(self, dimension: int = DIMENSION) -> None:
        self.dimension = dimension
        self.encoded = 0

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False
               ) -> np.ndarray:
        import numpy as np

        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
            out[row] = np.random.default_rng(seed).standard_normal(self.dimension)
        self.encoded += len(texts)
        return _normalise(out)


class HashReranker:
    """A fast fake reranker for smoke runs: a score drawn from each pair's hash."""

    name = "benchmark-hash-reranker"
    fingerprint = "benchmark-hash-reranker"

    def __init__(self) -> None:
        from index.modelling.calibration import OWN_SIGMOID

        self.calibration = OWN_SIGMOID

    def score(self, question: str, passages: Sequence[str]) -> np.ndarray:
        import numpy as np

        return np.array([int.from_bytes(hashlib.blake2b((question + p).encode(),
                                                        digest_size=2).digest(), "little")
                         / 65535.0 for p in passages], dtype=np.float32)
