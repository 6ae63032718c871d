"""Train qabot's answer reranker: a cross-encoder from the bundled all-MiniLM-L6-v2 weights.

    python -m training.reranker --out build/reranker          # about 45 min on 2 cores

Pairs are (question, "Title: sentence") -> does the sentence answer the question
(training/data.py), from the SQuAD 2.0 / 1.1 / XQuAD training parts in
``../shared/data/qa-train``; unanswerable questions are negatives only. The recipe: binary
cross-entropy, AdamW, linear warm-up over 10% of the steps, batch 16, max length 128, one
epoch, word embeddings frozen. Seeded: the same data and seed give the same pairs and order.
The model is saved in fp16 with a model card (``card.json``: data hashes, recipe, time).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import time
from pathlib import Path
from typing import Any

from index.files import sha256_file
from training.data import Pair, Question, make_pairs, read_squad
from training.runtime import start

log = logging.getLogger("training.reranker")

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "qa-train"
TRAIN_FILES = ("squad2-train-subset.json.gz", "squad11-train-subset.json.gz", "xquad-en.json.gz")


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.reranker", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the qa-train folder")
    p.add_argument("--out", type=Path, required=True, help="folder to write the model to")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--max-pairs", type=int, default=0, help="cap on training pairs (0 = all)")
    p.add_argument("--negatives", type=int, default=1, help="negatives per question")
    p.add_argument("--cross", type=int, default=0, help="more negatives per question from "
                   "the other paragraphs of its article (word-sharing, not the answer)")
    p.add_argument("--swapped", type=float, default=0.0, help="share of answerable "
                   "questions that also give a negative with a name or number swapped")
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--warmup", type=float, default=0.1)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--max-steps", type=int, default=-1, help="stop after N steps (timing)")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--init", type=Path, help="continue from this trained reranker "
                   "(default: a fresh head on the bundled all-MiniLM-L6-v2)")
    p.add_argument("--large", type=Path, help="train on a chunk of the qa-train-large "
                   "questions written by `python -m training.large` into this folder")
    p.add_argument("--chunk", type=int, default=0, help="with --large: which chunk (from 0)")
    p.add_argument("--chunk-size", type=int, default=10000, help="with --large: questions "
                   "a chunk")
    p.add_argument("--hard-share", type=float, default=0.5, help="share of same-paragraph "
                   "negatives that are the most word-sharing sentence")
    p.add_argument("--freeze-layers", type=int, default=0, help="also freeze the lowest N "
                   "transformer layers")
    p.add_argument("--save-steps", type=int, default=0, help="save the weights every N steps "
                   "into OUT.work (0 = never)")
    return p.parse_args(argv)


def large_pairs(folder: Path, chunk: int, size: int, seed: int, hard_share: float
                ) -> tuple[list[Pair], dict[str, str], int]:
    """The pairs of one chunk of the large training order: per question its answer sentence
    and one negative, a same-paragraph sentence for half the questions (the most
    word-sharing with probability ``hard_share``) and, for the other half, a word-sharing
    sentence of another paragraph of the same article (the same topic, not the answer)."""
    from training.large import read_questions

    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    questions = read_questions(folder / "train.jsonl.gz")[chunk * size : (chunk + 1) * size]
    if not questions:
        raise SystemExit(f"chunk {chunk} of {size} questions is past the end of the data")
    same, cross = questions[::2], questions[1::2]
    pairs = make_pairs(same, seed=seed, negatives=1, hard_share=hard_share)
    pairs += make_pairs(cross, seed=seed + 1, negatives=0, cross=1)
    random.Random(seed).shuffle(pairs)
    return pairs, meta["files"], len(questions)


def load_pairs(data: Path, seed: int, negatives: int, max_pairs: int, cross: int = 0,
               swapped: float = 0.0) -> tuple[list[Pair], dict[str, str], int]:
    """The training pairs, the sha256 of each file they came from, and the question count."""
    questions: list[Question] = []
    hashes: dict[str, str] = {}
    for name in TRAIN_FILES:
        path = data / name
        hashes[name] = sha256_file(path, follow_links=True)
        questions.extend(read_squad(path))
    pairs = make_pairs(questions, seed=seed, negatives=negatives, cross=cross,
                       swapped=swapped)
    if max_pairs:
        pairs = pairs[:max_pairs]
    return pairs, hashes, len(questions)


def _card(init: Path | None) -> Any:
    """The card of the model training continued from (its whole history), or None."""
    if init is None:
        return None
    return json.loads((init / "card.json").read_text(encoding="utf-8"))


def _total_seconds(card: Any) -> float:
    if not card:
        return 0.0
    return float(card.get("training_seconds_total", card.get("training_seconds", 0.0)))


def large_questions(card: Any) -> int:
    """The qa-train-large questions a model's whole history was trained on (its card's
    chain of ``continued_from``)."""
    total = 0
    while card:
        if card.get("data", {}).get("large_chunk"):
            total += int(card["data"]["questions"])
        card = card.get("continued_from")
    return total


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    base_path, base_sha = start(args.threads, args.seed)
    import torch
    from datasets import Dataset
    from sentence_transformers.cross_encoder import (
        CrossEncoder,
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
    )
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    if args.large:
        pairs, hashes, n_questions = large_pairs(args.large, args.chunk, args.chunk_size,
                                                 args.seed, args.hard_share)
    else:
        pairs, hashes, n_questions = load_pairs(args.data, args.seed, args.negatives,
                                               args.max_pairs, args.cross, args.swapped)
    positives = sum(p.label > 0 for p in pairs)
    log.info("%d pairs (%d positive) from %d questions", len(pairs), positives, n_questions)
    dataset = Dataset.from_dict({"question": [p.question for p in pairs],
                                 "passage": [p.passage for p in pairs],
                                 "label": [p.label for p in pairs]})

    model = CrossEncoder(str(args.init or base_path), num_labels=1, max_length=args.max_length,
                         device="cpu", model_kwargs={"dtype": torch.float32})
    frozen = 0
    for name, param in model.named_parameters():
        if "word_embeddings" in name:
            param.requires_grad = False
            frozen += param.numel()
    for name, param in model.named_parameters():
        layer = name.split(".layer.")[1].split(".")[0] if ".layer." in name else None
        if layer is not None and int(layer) < args.freeze_layers:
            param.requires_grad = False
            frozen += param.numel()
    log.info("froze %d parameters (word embeddings, %d lowest layers)", frozen,
             args.freeze_layers)

    work = args.out.with_name(args.out.name + ".work")
    train_args = CrossEncoderTrainingArguments(
        output_dir=str(work), num_train_epochs=args.epochs, max_steps=args.max_steps,
        per_device_train_batch_size=args.batch_size, learning_rate=args.lr,
        warmup_steps=args.warmup, lr_scheduler_type="linear", weight_decay=0.01,
        seed=args.seed, data_seed=args.seed, logging_steps=20,
        save_strategy="steps" if args.save_steps else "no", save_steps=args.save_steps or 500,
        save_total_limit=2, save_only_model=True,
        report_to="none", dataloader_num_workers=0, use_cpu=True, disable_tqdm=True,
    )
    trainer = CrossEncoderTrainer(model=model, args=train_args, train_dataset=dataset,
                                  loss=BinaryCrossEntropyLoss(model))
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    log.info("trained in %.0f s", seconds)

    model.model.half()  # fp16 on disk: half the size; qabot loads it back as float32
    args.out.mkdir(parents=True, exist_ok=True)
    model.save(str(args.out))
    history = _card(args.init)
    card = {
        "model": "qabot answer reranker (cross-encoder, 1 logit: does the sentence answer?)",
        "base": {"name": "all-MiniLM-L6-v2", "weights_sha256": base_sha},
        "continued_from": history,
        "data": {"files": hashes, "questions": n_questions, "pairs": len(pairs),
                 "large_chunk": ({"folder_meta": "training.large", "chunk": args.chunk,
                                  "chunk_size": args.chunk_size, "hard_share": args.hard_share}
                                 if args.large else None),
                 "positive_pairs": positives, "negatives_per_question": args.negatives,
                 "cross_paragraph_negatives_per_question": args.cross,
                 "swapped_negatives_share": args.swapped},
        "recipe": {"loss": "BinaryCrossEntropyLoss", "optimizer": "AdamW", "lr": args.lr,
                   "warmup_ratio": args.warmup, "batch_size": args.batch_size,
                   "max_length": args.max_length, "epochs": args.epochs,
                   "max_steps": args.max_steps, "seed": args.seed,
                   "frozen": "word embeddings"
                   + (f" and the lowest {args.freeze_layers} layers" if args.freeze_layers
                      else ""), "dtype_saved": "float16"},
        "large_questions_total": large_questions(history)
        + (n_questions if args.large else 0),
        "training_seconds": round(seconds, 1),
        "training_seconds_total": round(seconds + _total_seconds(history), 1),
        "machine": {"cpus": os.cpu_count(), "torch_threads": args.threads,
                    "platform": platform.platform()},
    }
    (args.out / "card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
