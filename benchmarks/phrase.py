"""What the phrase costs a warm question (issue 30: at most 5 ms): the shipped engine asked
the article's questions with the span head's phrase and without it, interleaved.

    python -m benchmarks.phrase            # the bundled models on the built-in article

"With" is the engine as shipped: one reranker pass gives the logits and the start and end
logits, and the best passage's phrase is decoded. "Without" is the same engine with the
reranker read for its logits alone (no readings kept, no phrase decoded). The graph is the
same in both (its head is a 384 x 2 product per token, next to the six layers' work), so
this is the cost of reading and decoding the phrase. Medians of ``--rounds`` rounds over
every question, the two in alternating order.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "index" / "data" / "article_qa.jsonl"


class LogitsOnly:
    """The reranker without its span readings: ``score`` only, as before the head."""

    def __init__(self, reranker: Any) -> None:
        self._reranker = reranker
        self.name, self.fingerprint = reranker.name, reranker.fingerprint
        self.calibration = reranker.calibration

    def score(self, question: str, passages: Any) -> Any:
        return self._reranker.score(question, passages)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.phrase", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)
    from dataclasses import replace

    from bot.app import get_settings
    from index.answering.configured import default_embedder
    from index.answering.engine import Engine

    questions = [json.loads(line)["question"] for line in
                 QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    with tempfile.TemporaryDirectory(prefix="qabot-phrase-") as tmp:
        settings = get_settings(index_dir=Path(tmp) / "index")
        engine = Engine(settings, default_embedder(settings, "build"))
        engine.rebuild(None)
        loaded = engine._loaded
        assert loaded is not None
        with_phrase = engine.ranking
        reranker = with_phrase.reranker
        if reranker is None or not getattr(reranker, "reads_phrases", False):
            raise SystemExit("the configured reranker has no span head: nothing to measure")
        without = replace(with_phrase, reranker=LogitsOnly(reranker))
        vectors = engine.embedder.encode(questions)
        times: dict[str, list[float]] = {"with": [], "without": []}
        shown = 0
        pair = (("with", with_phrase), ("without", without))
        for n in range(args.rounds + 1):  # the first round warms up and is dropped
            for name, ranking in pair if n % 2 else pair[::-1]:
                started = time.perf_counter()
                for i, q in enumerate(questions):
                    a = ranking.answer(loaded.data, loaded.lexical, q, vectors[i : i + 1],
                                       info=None, k=5, context_window=1)
                    shown += name == "with" and a.phrase is not None
                times[name].append((time.perf_counter() - started) / len(questions))
        figures = {name: round(1000 * statistics.median(t[1:]), 2) for name, t in times.items()}
        figures["added_ms"] = round(figures["with"] - figures["without"], 2)
        figures["questions"] = len(questions)
        figures["phrases_shown_per_round"] = shown // (args.rounds + 1)
    print(json.dumps(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
