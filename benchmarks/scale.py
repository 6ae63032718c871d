"""The vector store at scale, on clustered synthetic vectors: build, size, memory, latency,
recall@10 against exact search, document filters and memory-mapped loading.

Each case runs in its own process (``python -m benchmarks.scale case|load …``) so its
memory is its own; :func:`run` drives them and collects their JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.data import clustered_vectors
from benchmarks.measure import median, percentile, python_module, rss_mb, run_process, timed

PER_CLUSTER = 200  # units per cluster: a cluster is about a document's worth of units
K = 10


def _clusters(size: int) -> int:
    return max(1, size // PER_CLUSTER)


def _queries(size: int, count: int) -> Any:
    return clustered_vectors(count, clusters=_clusters(size), seed=1)


def _latency_recall(store: Any, queries: Any, truth: Any,
                    id_range: tuple[int, int] | None = None) -> dict[str, float]:
    """Search one query at a time (as the engine does); p50/p99 in ms and recall@10."""
    times, hits = [], 0
    for i in range(len(queries)):
        seconds, (_, ids) = timed(partial(store.search, queries[i : i + 1], K, id_range))
        times.append(seconds * 1000)
        hits += len(set(ids[0].tolist()) & set(truth[i].tolist()))
    return {"p50_ms": round(median(times), 3), "p99_ms": round(percentile(times, 99), 3),
            "recall_at_10": round(hits / (K * len(queries)), 4)}


def _doc_filters(store: Any, vectors: Any, count: int) -> list[dict[str, Any]]:
    """Questions filtered to one document (an id range) of several widths.

    ``near`` queries are a unit of the range plus noise (the document holds the answer);
    ``far`` queries are drawn from anywhere (someone filters to the wrong document). Recall
    is against exact search inside the range. ``store`` is what the store does (ranges up
    to its exact limit searched exactly); ``selector`` is FAISS's IDSelectorRange alone.
    """
    import faiss
    import numpy as np

    import index.storage.stores.faiss as store_module

    size = len(vectors)
    rng = np.random.default_rng(5)
    far_queries = clustered_vectors(count, clusters=_clusters(size), seed=2)
    out = []
    for width in (20, 1_000, 10_000, 100_000, 500_000):
        if width > size // 2:
            continue
        cases: dict[str, list[tuple[Any, Any, tuple[int, int]]]] = {"near": [], "far": []}
        for i in range(count):
            lo = int(rng.integers(0, size - width))
            anchor = vectors[int(rng.integers(lo, lo + width))]
            noise = rng.standard_normal(anchor.shape).astype(np.float32)
            near = anchor + np.float32(0.5 / np.sqrt(anchor.shape[0])) * noise
            for name, q in (("near", near / np.linalg.norm(near)), ("far", far_queries[i])):
                q = np.ascontiguousarray(q, dtype=np.float32)[None, :]
                _, ids = faiss.knn(q, vectors[lo : lo + width], K, faiss.METRIC_INNER_PRODUCT)
                cases[name].append((q, ids + lo, (lo, lo + width)))
        row: dict[str, Any] = {"width": width}
        saved = store_module.EXACT_RANGE_LIMIT
        for how in ("store", "selector"):
            store_module.EXACT_RANGE_LIMIT = saved if how == "store" else 0
            try:
                for name, chosen in cases.items():
                    times, hits = [], 0
                    for q, truth, id_range in chosen:
                        seconds, (_, ids) = timed(partial(store.search, q, K, id_range))
                        times.append(seconds * 1000)
                        hits += len(set(ids[0].tolist()) & set(truth[0].tolist()))
                    row[f"{how}_{name}"] = {"p50_ms": round(median(times), 3),
                                            "p99_ms": round(percentile(times, 99), 3),
                                            "recall_at_10": round(hits / (K * len(chosen)), 4)}
            finally:
                store_module.EXACT_RANGE_LIMIT = saved
        out.append(row)
    return out


def case(size: int, kind: str, queries: int, folder: Path) -> dict[str, Any]:
    """Build one store of ``size`` vectors and measure it."""
    import faiss

    from index.storage.stores.faiss import FaissStore

    vectors = clustered_vectors(size, clusters=_clusters(size))
    qs = _queries(size, queries)
    _, truth = faiss.knn(qs, vectors, K, faiss.METRIC_INNER_PRODUCT)
    before = rss_mb()
    build_s, store = timed(lambda: FaissStore.build(vectors, kind))
    built_mb = rss_mb() - before
    path = folder / f"{size}-{store.kind}.faiss"
    store.save(path)
    result: dict[str, Any] = {
        "size": size, "requested": kind, "kind": store.kind, "params": store.params,
        "build_s": round(build_s, 2), "disk_mb": round(path.stat().st_size / 2**20, 1),
        "build_rss_mb": round(built_mb, 1), "path": str(path),
        **_latency_recall(store, qs, truth),
    }
    if kind == "auto":
        result["doc_filters"] = _doc_filters(store, vectors, max(10, queries // 4))
    return result


def load(path: Path, kind: str, params: dict[str, Any], size: int, mmap: bool,
         queries: int) -> dict[str, Any]:
    """Load a saved store in a fresh process: load time, memory, first queries' latency."""
    from index.storage.stores.faiss import FaissStore

    qs = _queries(size, queries)
    base = rss_mb()
    load_s, store = timed(lambda: FaissStore.load(path, kind, params, mmap=mmap))
    loaded_mb = rss_mb() - base
    times = [timed(partial(store.search, qs[i : i + 1], K))[0] * 1000
             for i in range(len(qs))]
    return {"mmap": mmap, "load_s": round(load_s, 3), "rss_after_load_mb": round(loaded_mb, 1),
            "rss_after_queries_mb": round(rss_mb() - base, 1),
            "first_queries_p50_ms": round(median(times), 3)}


def run(sizes: list[int], folder: Path, *, queries: int, compare: bool) -> dict[str, Any]:
    """Run every case in its own process; return {"stores": [...], "mmap": [...]}."""
    stores, mmap = [], []
    for size in sizes:
        kinds = ["auto"]
        if compare:
            kinds += ["flat"] if size > 50_000 else []
            kinds += ["hnsw"] if size <= 100_000 else []
        for kind in kinds:
            proc = run_process(python_module("benchmarks.scale", "case", "--size", str(size),
                                             "--kind", kind, "--queries", str(queries),
                                             "--folder", str(folder)))
            row = json.loads(proc.stdout)
            row["peak_rss_mb"] = round(proc.peak_rss_mb, 1)
            stores.append(row)
            print(f"  store {size:>9,} {row['kind']:<5} build {row['build_s']} s, "
                  f"p50 {row['p50_ms']} ms, recall@10 {row['recall_at_10']}",
                  file=sys.stderr, flush=True)
    largest = [r for r in stores if r["size"] == max(sizes) and r["requested"] == "auto"][0]
    for flag in (False, True):
        proc = run_process(python_module(
            "benchmarks.scale", "load", "--path", largest["path"], "--kind", largest["kind"],
            "--params", json.dumps(largest["params"]), "--size", str(largest["size"]),
            "--queries", str(queries)) + (["--mmap"] if flag else []))
        row = json.loads(proc.stdout)
        row["size"], row["kind"] = largest["size"], largest["kind"]
        row["peak_rss_mb"] = round(proc.peak_rss_mb, 1)
        mmap.append(row)
    return {"stores": stores, "mmap": mmap}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale")
    sub = parser.add_subparsers(dest="what", required=True)
    c = sub.add_parser("case")
    c.add_argument("--size", type=int, required=True)
    c.add_argument("--kind", default="auto")
    c.add_argument("--queries", type=int, default=200)
    c.add_argument("--folder", type=Path, required=True)
    ld = sub.add_parser("load")
    ld.add_argument("--path", type=Path, required=True)
    ld.add_argument("--kind", required=True)
    ld.add_argument("--params", default="{}")
    ld.add_argument("--size", type=int, required=True)
    ld.add_argument("--queries", type=int, default=200)
    ld.add_argument("--mmap", action="store_true")
    args = parser.parse_args(argv)
    if args.what == "case":
        out = case(args.size, args.kind, args.queries, args.folder)
    else:
        out = load(args.path, args.kind, json.loads(args.params), args.size, args.mmap,
                   args.queries)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
