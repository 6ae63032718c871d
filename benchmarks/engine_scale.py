"""The engine at scale on a synthetic text corpus with a fast fake model: full build vs
a rebuild after adding one document, building the lexical model against loading the saved
one, index load, and the retrieval cost of a question.

The fake model (:class:`benchmarks.data.HashEmbedder`) makes 100k–1M-unit corpora
feasible on 2 cores; the figures measure everything but the model. Each size runs in its
own process: ``python -m benchmarks.engine_scale --size N --folder DIR``.
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.data import HashEmbedder, questions, write_corpus
from benchmarks.measure import median, python_module, run_process, timed


def measure(size: int, folder: Path, asks: int) -> dict[str, Any]:
    from config import Settings
    from index.answering.engine import Engine
    from index.modelling.lexical_build import build_lexical
    from index.sources.documents import load_sources
    from index.storage.build import build_index
    from index.storage.folder import MANIFEST

    corpus = write_corpus(folder / f"corpus-{size}.jsonl", size)
    extra = write_corpus(folder / f"added-{size}.jsonl", 20, seed=99, prefix="added")
    index_dir = folder / f"engine-{size}"
    read_s, docs = timed(lambda: load_sources([corpus]))
    embedder = HashEmbedder()
    full = build_index(docs, embedder, index_dir, force=True)
    lexical_s, _ = timed(lambda: build_lexical([u.text for d in docs for u in d.units]))
    embedder.encoded = 0
    added = build_index(load_sources([corpus, extra]), embedder, index_dir)
    out: dict[str, Any] = {
        "size": size, "read_sources_s": round(read_s, 2),
        "full_build_s": round(full.seconds, 2), "lexical_build_s": round(lexical_s, 2),
        "add_one_doc_s": round(added.seconds, 2), "reused": added.reused,
        "encoded": embedder.encoded,
        "faiss": json.loads((index_dir / MANIFEST).read_text())["faiss"]["kind"],
    }
    # (Memory after loading is measured in fresh processes by benchmarks.scale: here the
    # builds above have already grown the heap.)
    for mmap in (False, True):
        engine = Engine(Settings(_env_file=None, index_dir=index_dir, mmap=mmap), embedder,
                        reranker=None)
        out[f"load_s{'_mmap' if mmap else ''}"] = round(timed(engine.load)[0], 2)
    engine = Engine(Settings(_env_file=None, index_dir=index_dir), embedder, reranker=None)
    engine.load()
    doc = engine.documents()[len(engine.documents()) // 2].name
    asked = questions(asks)
    for q in asked[:3]:
        engine.ask(q)
    out["ask_p50_ms"] = round(median([timed(partial(engine.ask, q))[0] for q in asked])
                              * 1000, 2)
    out["ask_doc_p50_ms"] = round(median([timed(partial(engine.ask, q, doc=doc))[0]
                                          for q in asked]) * 1000, 2)
    out["encode_p50_ms"] = round(median([timed(partial(embedder.encode, [q]))[0]
                                         for q in asked]) * 1000, 3)
    return out


def run(sizes: list[int], folder: Path, asks: int) -> list[dict[str, Any]]:
    rows = []
    for size in sizes:
        proc = run_process(python_module("benchmarks.engine_scale", "--size", str(size),
                                         "--folder", str(folder), "--asks", str(asks)))
        row = json.loads(proc.stdout)
        row["peak_rss_mb"] = round(proc.peak_rss_mb, 1)
        rows.append(row)
        print(f"  engine {size:>9,}: full build {row['full_build_s']} s, add one doc "
              f"{row['add_one_doc_s']} s, load {row['load_s']} s (lexical model built in "
              f"{row['lexical_build_s']} s)", file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engine_scale")
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--asks", type=int, default=50)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.size, args.folder, args.asks)))


if __name__ == "__main__":
    main()
