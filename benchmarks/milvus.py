"""FAISS against Milvus (milvus-lite, embedded, in the same process over local gRPC).

Three parts, each case in its own process (``python -m benchmarks.milvus case …``) so that
its memory is its own:

- ``store``: the stores alone, on pre-computed clustered synthetic 384-d vectors
  (benchmarks.data.clustered_vectors; no model): build throughput (vectors/s, everything
  from the vectors in memory to a searchable index: for Milvus the batched writes, the
  flush, the count check and the load), and per query, as the engine searches: the
  dense top-50, then reading back the vectors of 100 candidates; recall@10 against exact
  search.
- ``engine``: per question through the engine (``Engine.ask``, no reranker) on a
  synthetic text corpus with the fake model (benchmarks.data.HashEmbedder): everything but
  the model, p50/p99; and ``build_index``'s throughput (units/s) with that fake model.
- ``eval``: ``qabot eval index/data/article_qa.jsonl --json`` with the real models, once
  per store, through the CLI; the metrics must be identical.

``python -m benchmarks.milvus --sizes 10000,100000`` (full) or ``--smoke`` (tiny, CI).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.data import ARTICLE_QA, HashEmbedder, clustered_vectors, questions, write_corpus
from benchmarks.measure import ROOT, median, percentile, python_module, run_process, timed

K = 10
CANDIDATES = 50  # the engine's dense top-N (index.answering.ranking.Weights.candidates)
RESCORED = 100  # about how many candidates' vectors the engine reads back per question
STORES = ("faiss", "milvus")


def _ms(times: list[float]) -> dict[str, float]:
    return {"p50_ms": round(median(times) * 1000, 3),
            "p99_ms": round(percentile(times, 99) * 1000, 3)}


def store_case(store: str, size: int, queries: int, folder: Path) -> dict[str, Any]:
    """Build one store of ``size`` synthetic vectors, then time the engine's two calls."""
    import faiss
    import numpy as np

    from benchmarks.scale import _clusters
    from index.storage.stores.faiss import FaissStore

    vectors = clustered_vectors(size, clusters=_clusters(size))
    qs = clustered_vectors(queries, clusters=_clusters(size), seed=1)
    _, truth = faiss.knn(qs, vectors, K, faiss.METRIC_INNER_PRODUCT)
    built: Any
    if store == "faiss":
        build_s, built = timed(lambda: FaissStore.build(vectors))
    else:
        from index.storage.stores.milvus import MilvusConfig, MilvusStore, connect

        config = MilvusConfig(uri=str(folder / f"bench-{size}.db"))
        connect(config)  # the embedded server starts outside the timing

        def build() -> Any:
            made = MilvusStore.create(config, f"bench_{size}_v20260101T000000000000_1",
                                      size, vectors.shape[1])
            made.write(vectors)
            made.finish(size)
            return made

        build_s, built = timed(build)
    rng = np.random.default_rng(3)
    search_t, read_t, hits = [], [], 0
    for i in range(queries):
        seconds, (_, ids) = timed(partial(built.search, qs[i : i + 1], CANDIDATES))
        search_t.append(seconds)
        hits += len(set(ids[0][:K].tolist()) & set(truth[i].tolist()))
        wanted = np.unique(np.concatenate([ids[0][ids[0] >= 0],
                                           rng.integers(0, size, RESCORED - CANDIDATES)]))
        read_t.append(timed(partial(built.vectors, wanted))[0])
    both = [a + b for a, b in zip(search_t, read_t, strict=True)]
    return {"store": store, "size": size, "kind": built.kind, "build_s": round(build_s, 3),
            "vectors_per_s": round(size / build_s, 1), "search": _ms(search_t),
            "read_vectors": _ms(read_t), "per_question": _ms(both),
            "recall_at_10": round(hits / (K * queries), 4)}


def engine_case(store: str, size: int, asks: int, folder: Path) -> dict[str, Any]:
    """Build a ``size``-unit synthetic corpus with the fake model and ask ``asks`` questions."""
    from config import Settings
    from index.answering.engine import Engine
    from index.sources.documents import load_sources

    corpus = write_corpus(folder / f"corpus-{size}.jsonl", size)
    settings = Settings(_env_file=None, index_dir=folder / f"{store}-{size}", store=store)
    engine = Engine(settings, HashEmbedder(), reranker=None)
    docs = load_sources([corpus])
    if store == "milvus":  # the embedded server starts outside the timing
        from index.storage.stores.milvus import connect

        connect(engine.milvus)  # type: ignore[arg-type]
    result = engine.build([corpus], documents=docs, force=True)
    engine.load()
    asked = questions(asks)
    engine.ask(asked[0])  # warm
    times = [timed(partial(engine.ask, q))[0] for q in asked]
    return {"store": store, "size": size, "build_s": round(result.seconds, 2),
            "units_per_s": round(size / result.seconds, 1), "ask": _ms(times)}


def eval_case(store: str, folder: Path) -> dict[str, Any]:
    """``qabot eval`` of the article question set with the real models, on ``store``."""
    env = {**os.environ, "QABOT_STORE": store, "QABOT_INDEX_DIR": str(folder / f"eval-{store}")}
    proc = run_process(python_module("bot", "eval", "--json", str(ARTICLE_QA)), env=env)
    return {"store": store, "metrics": json.loads(proc.stdout)["metrics"],
            "wall_s": round(proc.wall, 2)}


def _case(*args: str) -> dict[str, Any]:
    proc = run_process(python_module("benchmarks.milvus", "case", *args))
    row: dict[str, Any] = json.loads(proc.stdout)
    row["peak_rss_mb"] = round(proc.peak_rss_mb, 1)
    return row


def run(sizes: list[int], engine_sizes: list[int], folder: Path, *, queries: int, asks: int,
        with_eval: bool) -> dict[str, Any]:
    """Every case in its own process; both stores at each size."""
    out: dict[str, Any] = {"store": [], "engine": [], "eval": []}
    for size in sizes:
        for store in STORES:
            row = _case("store", store, str(size), str(queries), str(folder))
            out["store"].append(row)
            print(f"  {store:<6} {size:>8,} vectors: {row['vectors_per_s']} vectors/s, "
                  f"question p50 {row['per_question']['p50_ms']} ms", file=sys.stderr,
                  flush=True)
    for size in engine_sizes:
        for store in STORES:
            row = _case("engine", store, str(size), str(asks), str(folder))
            out["engine"].append(row)
            print(f"  {store:<6} {size:>8,} units: ask p50 {row['ask']['p50_ms']} ms, build "
                  f"{row['units_per_s']} units/s", file=sys.stderr, flush=True)
    if with_eval:
        out["eval"] = [eval_case(store, folder) for store in STORES]
        out["eval_identical"] = out["eval"][0]["metrics"] == out["eval"][1]["metrics"]
    return out


def format_tables(results: dict[str, Any]) -> str:
    """Markdown tables of the results (docs/scaling.md)."""
    lines = ["| vectors | store | index | build vectors/s | search p50 / p99 ms | read 100 "
             "vectors p50 / p99 ms | per question p50 / p99 ms | recall@10 | peak RSS MB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results["store"]:
        lines.append(f"| {r['size']:,} | {r['store']} | {r['kind']} | {r['vectors_per_s']:,} | "
                     f"{r['search']['p50_ms']} / {r['search']['p99_ms']} | "
                     f"{r['read_vectors']['p50_ms']} / {r['read_vectors']['p99_ms']} | "
                     f"{r['per_question']['p50_ms']} / {r['per_question']['p99_ms']} | "
                     f"{r['recall_at_10']} | {r['peak_rss_mb']} |")
    lines += ["", "| units | store | build units/s (fake model) | ask p50 / p99 ms (fake "
              "model, no reranker) | peak RSS MB |", "|---|---|---|---|---|"]
    for r in results["engine"]:
        lines.append(f"| {r['size']:,} | {r['store']} | {r['units_per_s']:,} | "
                     f"{r['ask']['p50_ms']} / {r['ask']['p99_ms']} | {r['peak_rss_mb']} |")
    if results.get("eval"):
        lines += ["", f"`qabot eval` identical on both stores: {results['eval_identical']}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.milvus", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what")
    c = sub.add_parser("case", help="one case, in this process (JSON on stdout)")
    c.add_argument("part", choices=["store", "engine"])
    c.add_argument("store", choices=STORES)
    c.add_argument("size", type=int)
    c.add_argument("count", type=int, help="queries (store) or questions (engine)")
    c.add_argument("folder", type=Path)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, no eval (CI)")
    parser.add_argument("--sizes", default="10000,100000", help="store-only sizes")
    parser.add_argument("--engine-sizes", default="10000,100000", help="engine sizes")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--no-eval", action="store_true", help="skip the real-model eval")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/milvus.json")
    args = parser.parse_args(argv)
    if args.what == "case":
        fn = store_case if args.part == "store" else engine_case
        print(json.dumps(fn(args.store, args.size, args.count, args.folder)))
        return 0
    sizes = [2000] if args.smoke else [int(s) for s in args.sizes.split(",") if s]
    engine_sizes = [500] if args.smoke else [int(s) for s in args.engine_sizes.split(",") if s]
    queries = 20 if args.smoke else args.queries
    with tempfile.TemporaryDirectory(prefix="qabot-milvus-bench-") as tmp:
        results = run(sizes, engine_sizes, Path(tmp), queries=queries, asks=queries,
                      with_eval=not (args.smoke or args.no_eval))
    results["smoke"] = args.smoke
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(format_tables(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
