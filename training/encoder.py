"""Fine-tune the bi-encoder itself on question -> answer-sentence pairs (the cheaper lever:
it costs nothing per question, unlike a reranker).

    python -m training.encoder --out build/encoder

Data: the same training parts as the reranker (training/data.py); each answerable question
gives (question, "Title: answer sentence", "Title: a hard negative from its paragraph"),
trained with MultipleNegativesRankingLoss (in-batch negatives plus the hard one) from the
bundled all-MiniLM-L6-v2 weights. Seeded; writes a model card (``card.json``).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import time
from pathlib import Path

from index.files import sha256_file
from training.data import overlap_order, passage, read_squad
from training.reranker import DEFAULT_DATA, TRAIN_FILES
from training.runtime import start

log = logging.getLogger("training.encoder")


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.encoder", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-5)
    p.add_argument("--max-steps", type=int, default=-1)
    p.add_argument("--threads", type=int, default=2)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    base_path, base_sha = start(args.threads, args.seed)
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.base import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    rng = random.Random(args.seed)
    rows: dict[str, list[str]] = {"anchor": [], "positive": [], "negative": []}
    hashes = {}
    for name in TRAIN_FILES:
        hashes[name] = sha256_file(args.data / name, follow_links=True)
        for q in read_squad(args.data / name):
            hard = overlap_order(q.question, q.sentences, q.answers)
            if not q.answerable or not hard:
                continue
            rows["anchor"].append(q.question)
            rows["positive"].append(passage(q.title, q.sentences[min(q.answers)]))
            rows["negative"].append(passage(q.title, q.sentences[hard[0]]))
    order = list(range(len(rows["anchor"])))
    rng.shuffle(order)
    dataset = Dataset.from_dict({k: [v[i] for i in order] for k, v in rows.items()})
    log.info("%d triplets", len(dataset))

    model = SentenceTransformer(str(base_path), device="cpu")
    train_args = SentenceTransformerTrainingArguments(
        output_dir=str(args.out.with_name(args.out.name + ".work")),
        num_train_epochs=args.epochs, max_steps=args.max_steps,
        per_device_train_batch_size=args.batch_size, learning_rate=args.lr,
        warmup_steps=0.1, seed=args.seed, data_seed=args.seed, logging_steps=20,
        save_strategy="no", report_to="none", use_cpu=True, disable_tqdm=True,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
    )
    trainer = SentenceTransformerTrainer(model=model, args=train_args, train_dataset=dataset,
                                         loss=MultipleNegativesRankingLoss(model))
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    model.save(str(args.out))
    card = {
        "model": "all-MiniLM-L6-v2 fine-tuned on question -> answer sentence",
        "base": {"name": "all-MiniLM-L6-v2", "weights_sha256": base_sha},
        "data": {"files": hashes, "triplets": len(dataset)},
        "recipe": {"loss": "MultipleNegativesRankingLoss (in-batch + 1 hard negative)",
                   "lr": args.lr, "batch_size": args.batch_size, "epochs": args.epochs,
                   "max_steps": args.max_steps, "seed": args.seed, "warmup": 0.1},
        "training_seconds": round(seconds, 1),
    }
    (args.out / "card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    log.info("trained in %.0f s; wrote %s", seconds, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
