"""Run the benchmarks: ``python -m benchmarks.run [--smoke] [--json PATH]``.

Prints a table of every figure beside its floor (measured in the same run) and writes
the same as JSON. ``--smoke`` runs everything tiny, with a fake model, in seconds (CI);
without it the full sizes run (about 10 minutes on 2 cores). docs/performance.md says
what each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import app, engine_scale, scale
from benchmarks.measure import Row

FULL_SIZES = [10_000, 100_000, 1_000_000]
FULL_ENGINE_SIZES = [100_000]


def machine() -> dict[str, Any]:
    import psutil

    return {"python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "gpu": "none (CPU torch, CPU ONNX Runtime)"}


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def format_rows(rows: list[Row]) -> str:
    met = {True: "yes", False: "**no**", None: ""}
    return _table(["figure", "value", "floor", "floor value", "ratio", "target", "met"],
                  [[r.name, f"{_fmt(r.value)} {r.unit}", r.floor, _fmt(r.floor_value),
                    _fmt(r.ratio), r.target, met[r.met]] for r in rows])


def format_stores(stores: list[dict[str, Any]]) -> str:
    return _table(
        ["vectors", "index", "params", "build s", "disk MB", "peak RSS MB", "p50 ms",
         "p99 ms", "recall@10"],
        [[f"{s['size']:,}", s["kind"] + ("" if s["requested"] == "auto" else " (forced)"),
          ", ".join(f"{k} {v}" for k, v in s["params"].items()), s["build_s"], s["disk_mb"],
          s["peak_rss_mb"], s["p50_ms"], s["p99_ms"], s["recall_at_10"]] for s in stores])


def format_filters(stores: list[dict[str, Any]]) -> str:
    def pair(f: dict[str, Any], how: str, key: str) -> str:
        return f"{f[how + '_near'][key]} / {f[how + '_far'][key]}"

    return _table(
        ["vectors", "doc units", "store: p50 ms near / far", "store: recall near / far",
         "selector only: p50 ms near / far", "selector only: recall near / far"],
        [[f"{s['size']:,} ({s['kind']})", f"{f['width']:,}", pair(f, "store", "p50_ms"),
          pair(f, "store", "recall_at_10"), pair(f, "selector", "p50_ms"),
          pair(f, "selector", "recall_at_10")]
         for s in stores for f in s.get("doc_filters", [])])


def format_mmap(rows: list[dict[str, Any]]) -> str:
    return _table(
        ["vectors", "index", "mmap", "load s", "RSS after load MB", "RSS after queries MB",
         "first queries p50 ms", "peak RSS MB"],
        [[f"{r['size']:,}", r["kind"], "yes" if r["mmap"] else "no", r["load_s"],
          r["rss_after_load_mb"], r["rss_after_queries_mb"], r["first_queries_p50_ms"],
          r["peak_rss_mb"]] for r in rows])


def format_engine(rows: list[dict[str, Any]]) -> str:
    return _table(
        ["units", "index", "full build s", "add one doc s (reused / encoded)",
         "lexical build s", "load s (saved lexical)", "load s, mmap",
         "ask p50 ms (fake model)", "ask --doc p50 ms"],
        [[f"{r['size']:,}", r["faiss"], r["full_build_s"],
          f"{r['add_one_doc_s']} ({r['reused']:,} / {r['encoded']})", r["lexical_build_s"],
          r["load_s"], r["load_s_mmap"], r["ask_p50_ms"],
          r["ask_doc_p50_ms"]] for r in rows])


def format_batches(table: list[dict[str, Any]]) -> str:
    return _table(["questions", "reranker", "wall s", "ms per question", "peak RSS MB"],
                  [[f"{t['questions']:,}", t["reranker"], t["wall_s"], t["ms_per_question"],
                    t["peak_rss_mb"]] for t in table])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, fake model (CI)")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/results.json"),
                        help="where to write the results (default: %(default)s)")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")],
                        help="vector-store sizes (default 10000,100000,1000000)")
    parser.add_argument("--engine-sizes", type=lambda s: [int(x) for x in s.split(",")],
                        help="engine-at-scale corpus sizes (default 100000)")
    parser.add_argument("--app-only", action="store_true",
                        help="only the application figures (skip the stores and the engine "
                             "at scale, which use synthetic vectors and a fake model)")
    parser.add_argument("--cold-only", action="store_true",
                        help="only the one-shot figures: `qabot ask`, the REPL's and the bot's "
                             "start-up, `--help`, `index info` (about a minute)")
    args = parser.parse_args(argv)
    sizes = args.sizes or ([2_000, 60_000] if args.smoke else FULL_SIZES)
    engine_sizes = args.engine_sizes or ([1_000] if args.smoke else FULL_ENGINE_SIZES)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="qabot-bench-") as tmp:
        folder = Path(tmp)
        print("application figures…", file=sys.stderr, flush=True)
        reuse: dict[str, Any] = {}
        batch_table: list[dict[str, Any]] = []
        if args.cold_only:
            rows = app.cold_only(folder, smoke=args.smoke)
        else:
            rows, reuse, batch_table = app.run(folder, smoke=args.smoke)
        stores: dict[str, Any] = {"stores": [], "mmap": []}
        engines: list[dict[str, Any]] = []
        if not (args.app_only or args.cold_only):
            print("vector store at scale…", file=sys.stderr, flush=True)
            stores = scale.run(sizes, folder, queries=20 if args.smoke else 200,
                               compare=not args.smoke)
            print("engine at scale…", file=sys.stderr, flush=True)
            engines = engine_scale.run(engine_sizes, folder, asks=5 if args.smoke else 50)
    result = {
        "smoke": args.smoke,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m benchmarks.run" + "".join(
            f" {flag}" for flag, on in (("--smoke", args.smoke), ("--app-only", args.app_only),
                                        ("--cold-only", args.cold_only)) if on),
        "machine": machine(),
        "seconds": round(time.perf_counter() - started, 1),
        "figures": [r.to_json() for r in rows],
        "embedding_reuse": reuse,
        "batch": batch_table,
        "stores": stores["stores"],
        "mmap": stores["mmap"],
        "engine_scale": engines,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if args.smoke:
        print("smoke run: a fake model, light commands and tiny sizes; the numbers mean "
              "nothing, only that every path runs.\n")
    print(format_rows(rows))
    print()
    print(format_batches(batch_table))
    print()
    print(format_stores(stores["stores"]))
    print()
    print(format_filters(stores["stores"]))
    print()
    print(format_mmap(stores["mmap"]))
    print()
    print(format_engine(engines))
    print(f"\n{result['seconds']} s; results in {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
