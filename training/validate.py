"""Sentence hit@1 of a reranker on the large data's validation sets: each question's
sentences (its paragraph, qabot's splitter) ranked by the reranker alone; right when the
first is an answer sentence. For choosing checkpoints, never for reporting quality.

    python -m training.validate --questions build/large --reranker build/large/chunk-0
"""

from __future__ import annotations

import argparse
import json
import logging
import random
from collections.abc import Callable, Sequence
from pathlib import Path

from training.data import Question, passage
from training.runtime import start

log = logging.getLogger("training.validate")
SETS = ("squad11-dev-46", "qed-nq-dev", "selqa-dev")


def sample(questions: list[Question], n: int, seed: int) -> list[Question]:
    """A seeded sample of ``n`` questions (all of them when fewer), with more than one
    sentence to choose from."""
    pool = [q for q in questions if len(q.sentences) > 1]
    return random.Random(seed).sample(pool, min(n, len(pool)))


def hit_at_1(score: Callable[[list[tuple[str, str]]], Sequence[float]],
             questions: list[Question]) -> float:
    """The share of questions whose best-scored sentence answers them; ``score`` maps a
    list of (question, passage) pairs to scores."""
    pairs = [(q.question, passage(q.title, s)) for q in questions for s in q.sentences]
    scores = list(score(pairs))
    hits, at = 0, 0
    for q in questions:
        mine = scores[at : at + len(q.sentences)]
        at += len(q.sentences)
        hits += max(range(len(mine)), key=mine.__getitem__) in q.answers
    return hits / len(questions)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.validate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--questions", type=Path, required=True,
                   help="the folder `python -m training.large` wrote")
    p.add_argument("--reranker", type=Path, required=True, help="a CrossEncoder folder")
    p.add_argument("--per-set", type=int, default=500)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = p.parse_args(argv)
    start(args.threads, args.seed)
    import torch
    from sentence_transformers.cross_encoder import CrossEncoder

    from training.large import read_questions

    model = CrossEncoder(str(args.reranker), num_labels=1, max_length=128, device="cpu",
                         model_kwargs={"dtype": torch.float32})  # saved in fp16
    figures: dict[str, float | int] = {}
    for name in SETS:
        qs = sample(read_questions(args.questions / f"valid-{name}.jsonl.gz"), args.per_set,
                    args.seed)
        figures[name] = round(hit_at_1(
            lambda pairs: model.predict(pairs, batch_size=64, show_progress_bar=False), qs), 4)
        figures[f"{name}-n"] = len(qs)
        log.info("%s: hit@1 %.4f over %d questions", name, figures[name], len(qs))
    figures["mean"] = round(sum(float(figures[n]) for n in SETS) / len(SETS), 4)
    log.info("%s: mean hit@1 %.4f", args.reranker, figures["mean"])
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
