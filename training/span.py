"""Train the reranker with a span head: one pass gives the relevance logit and the start and
end of the answer phrase (issue 30).

    python -m training.span --large build/large --init index/models/reranker \\
        --out build/span --squad-rest 30000

The model is the shipped cross-encoder (BertForSequenceClassification, one logit) and a
linear head on its last hidden states giving a start and an end logit per token. The loss
is the ranking's binary cross-entropy on every pair plus the span's cross-entropy (start
and end, averaged; [CLS] for a pair without a phrase), weighted by ``--span-weight``.

The questions: the qa-train-large SQuAD 1.0 questions the reranker has not read (the
``--cap`` of ``training.large`` left them out), ``--squad-rest`` of them in a seeded order,
and a second reading of the varied sets (QED search queries, SelQA paraphrases,
SQuAD-shifts, COVID-QA) with fresh negatives. Weights are saved every ``--save-steps``
into OUT.work/step-N (written aside, then renamed); ``--resume OUT.work/step-N`` continues
from one with the same data order (the optimizer's moments start afresh).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import shutil
import time
from pathlib import Path
from typing import Any

from index.files import sha256_file
from index.modelling.phrase import SPAN_HEAD
from training.large import read_questions, read_squad_like, source_of
from training.reranker import _card, _total_seconds, large_questions
from training.runtime import start
from training.span_data import SpanPair, span_pairs

log = logging.getLogger("training.span")
COPIED = ("config_sentence_transformers.json", "modules.json", "sentence_bert_config.json",
          "tokenizer.json", "tokenizer_config.json", "calibration.json")


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.span", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--large", type=Path, required=True, help="`python -m training.large`'s "
                   "folder")
    p.add_argument("--data", type=Path, help="the qa-train-large folder (default: "
                   "../shared/data/qa-train-large)")
    p.add_argument("--init", type=Path, required=True, help="the reranker to start from")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--squad-rest", type=int, default=30000, help="unread SQuAD 1.0 questions")
    p.add_argument("--squad-skip", type=int, default=0, help="skip the first N unread SQuAD "
                   "questions of the seeded order (those an earlier run read)")
    p.add_argument("--varied", type=int, default=-1, help="cap on the varied sets' "
                   "questions read again (-1 = all)")
    p.add_argument("--seed", type=int, default=47)
    p.add_argument("--lr", type=float, default=3e-5)
    p.add_argument("--head-lr", type=float, default=1e-3)
    p.add_argument("--span-weight", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--warmup", type=float, default=0.06)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--max-steps", type=int, default=-1, help="stop after N steps (timing)")
    p.add_argument("--save-steps", type=int, default=500)
    p.add_argument("--resume", type=Path, help="a checkpoint OUT.work/step-N to continue")
    p.add_argument("--threads", type=int, default=2)
    return p.parse_args(argv)


def questions(large: Path, data: Path, qa_train: Path, squad_rest: int, varied: int,
              seed: int, squad_skip: int = 0) -> tuple[list[Any], dict[str, int]]:
    """The run's questions, in a seeded order, and their count by source."""
    from training.large import TRAIN_FILES, qa_train_titles

    read = read_questions(large / "train.jsonl.gz")
    seen = {q.qid for q in read}
    rng = random.Random(seed)
    rest = [q for q in read_squad_like(data / TRAIN_FILES["squad10-train"],
                                       skip_titles=qa_train_titles(qa_train))
            if q.qid not in seen]
    rest.sort(key=lambda q: q.qid)
    rng.shuffle(rest)
    again = [q for q in read if source_of(q) != "squad10-train"]
    rng.shuffle(again)
    chosen = (rest[squad_skip : squad_skip + squad_rest]
              + (again if varied < 0 else again[:varied]))
    rng.shuffle(chosen)
    counts: dict[str, int] = {}
    for q in chosen:
        name = "squad10-train (unread)" if source_of(q) == "squad10-train" else source_of(q)
        counts[name] = counts.get(name, 0) + 1
    log.info("%d unread SQuAD questions available; chose %s", len(rest), counts)
    return chosen, counts


def build_module(init: Path) -> Any:
    """The cross-encoder from ``init`` and a span head (its saved one, if ``init`` has it)."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForSequenceClassification

    class Module(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ranker = AutoModelForSequenceClassification.from_pretrained(
                str(init), num_labels=1, dtype=torch.float32)
            hidden = self.ranker.config.hidden_size
            self.span = torch.nn.Linear(hidden, 2)
            torch.nn.init.normal_(self.span.weight, std=0.02)
            torch.nn.init.zeros_(self.span.bias)
            if (init / SPAN_HEAD).is_file():
                self.span.load_state_dict(load_file(str(init / SPAN_HEAD)))

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any
                    ) -> tuple[Any, Any, Any]:
            r = self.ranker
            out = r.bert(input_ids=input_ids, attention_mask=attention_mask,
                         token_type_ids=token_type_ids)
            logit = r.classifier(r.dropout(out.pooler_output)).squeeze(-1)
            se = self.span(out.last_hidden_state)
            return logit, se[..., 0], se[..., 1]

    return Module()


def encode(tokenizer: Any, batch: list[SpanPair], max_length: int) -> dict[str, Any]:
    """Tokens, labels, span targets and the mask of tokens a span may use ([CLS] and the
    passage's), for one batch; a phrase cut off by truncation counts as none."""
    import torch

    enc = tokenizer([p.question for p in batch], [p.passage for p in batch],
                    truncation="longest_first", max_length=max_length, padding=True,
                    return_tensors="pt")
    allowed = torch.zeros_like(enc["input_ids"], dtype=torch.bool)
    starts, ends = [], []
    for i, p in enumerate(batch):
        seq = enc.sequence_ids(i)
        for t, s in enumerate(seq):
            allowed[i, t] = s == 1
        allowed[i, 0] = True
        s_tok = e_tok = 0
        if p.span is not None:
            a = enc.char_to_token(i, p.span[0], sequence_index=1)
            b = enc.char_to_token(i, p.span[1] - 1, sequence_index=1)
            if a is not None and b is not None:
                s_tok, e_tok = a, b
        starts.append(s_tok)
        ends.append(e_tok)
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
            "token_type_ids": enc["token_type_ids"], "allowed": allowed,
            "labels": torch.tensor([p.label for p in batch], dtype=torch.float32),
            "start": torch.tensor(starts), "end": torch.tensor(ends)}


def save(module: Any, tokenizer_from: Path, folder: Path, *, half: bool) -> None:
    """The model as a CrossEncoder folder plus its span head, written aside and renamed."""
    from safetensors.torch import save_file

    aside = folder.with_name(folder.name + ".part")
    shutil.rmtree(aside, ignore_errors=True)
    aside.mkdir(parents=True)
    ranker = module.ranker
    if half:
        ranker = ranker.half()
    ranker.save_pretrained(str(aside), safe_serialization=True)
    if half:
        module.ranker.float()
    head = {k: v.detach().float().contiguous() for k, v in module.span.state_dict().items()}
    save_file(head, str(aside / SPAN_HEAD))
    for name in COPIED:
        if (tokenizer_from / name).is_file():
            shutil.copy2(tokenizer_from / name, aside / name)
    shutil.rmtree(folder, ignore_errors=True)
    aside.rename(folder)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    _, base_sha = start(args.threads, args.seed)
    import torch
    from transformers import AutoTokenizer, get_linear_schedule_with_warmup

    from training.large import DEFAULT_LARGE

    data = args.data or DEFAULT_LARGE
    chosen, counts = questions(args.large, data, data.parent / "qa-train", args.squad_rest,
                               args.varied, args.seed, args.squad_skip)
    pairs = span_pairs(chosen, seed=args.seed)
    with_span = sum(p.span is not None for p in pairs)
    log.info("%d pairs (%d positive, %d with a phrase)", len(pairs),
             sum(p.label > 0 for p in pairs), with_span)
    tokenizer = AutoTokenizer.from_pretrained(str(args.init))
    module = build_module(args.resume or args.init)
    module.ranker.bert.embeddings.word_embeddings.weight.requires_grad = False
    body = [p for n, p in module.ranker.named_parameters() if p.requires_grad]
    optim = torch.optim.AdamW([{"params": body, "lr": args.lr},
                               {"params": module.span.parameters(), "lr": args.head_lr}],
                              weight_decay=0.01)
    batches = [pairs[i : i + args.batch_size] for i in range(0, len(pairs), args.batch_size)]
    total = len(batches) if args.max_steps < 0 else min(args.max_steps, len(batches))
    sched = get_linear_schedule_with_warmup(optim, int(args.warmup * total), total)
    done = int(args.resume.name.split("-")[1]) if args.resume else 0
    for _ in range(done):
        sched.step()
    work = args.out.with_name(args.out.name + ".work")
    bce = torch.nn.BCEWithLogitsLoss()
    ce = torch.nn.CrossEntropyLoss()
    module.train()
    started, tick = time.perf_counter(), time.perf_counter()
    sums = [0.0, 0.0]
    for step in range(done, total):
        b = encode(tokenizer, batches[step], args.max_length)
        logit, s, e = module(b["input_ids"], b["attention_mask"], b["token_type_ids"])
        s = s.masked_fill(~b["allowed"], -1e4)
        e = e.masked_fill(~b["allowed"], -1e4)
        rank_loss = bce(logit, b["labels"])
        span_loss = (ce(s, b["start"]) + ce(e, b["end"])) / 2
        loss = rank_loss + args.span_weight * span_loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
        optim.step()
        sched.step()
        optim.zero_grad()
        sums[0] += rank_loss.item()
        sums[1] += span_loss.item()
        if (step + 1) % 20 == 0:
            now = time.perf_counter()
            log.info("step %d/%d rank %.4f span %.4f %.2f steps/s", step + 1, total,
                     sums[0] / 20, sums[1] / 20, 20 / (now - tick))
            sums, tick = [0.0, 0.0], now
        if args.save_steps and (step + 1) % args.save_steps == 0 and step + 1 < total:
            save(module, args.init, work / f"step-{step + 1}", half=False)
            log.info("saved %s", work / f"step-{step + 1}")
    seconds = time.perf_counter() - started
    log.info("trained %d steps in %.0f s", total - done, seconds)
    save(module, args.init, args.out, half=True)
    history = _card(args.init)
    meta = json.loads((args.large / "meta.json").read_text(encoding="utf-8"))
    card = {
        "model": "qabot answer reranker with a span head (1 logit: does the sentence "
                 "answer?; start and end logits per token: the phrase that answers)",
        "base": {"name": "all-MiniLM-L6-v2", "weights_sha256": base_sha},
        "continued_from": history,
        "data": {"files": meta["files"], "questions": len(chosen), "by_source": counts,
                 "pairs": len(pairs), "pairs_with_phrase": with_span,
                 "large_chunk": None, "span_run": {"squad_rest": args.squad_rest,
                                                   "squad_skip": args.squad_skip,
                                                   "varied": args.varied}},
        "recipe": {"loss": "BCE (ranking) + span_weight * CE (start, end; [CLS] = none)",
                   "span_weight": args.span_weight, "optimizer": "AdamW", "lr": args.lr,
                   "head_lr": args.head_lr, "warmup_ratio": args.warmup,
                   "batch_size": args.batch_size, "max_length": args.max_length,
                   "steps": total, "resumed_at": done, "seed": args.seed,
                   "frozen": "word embeddings", "dtype_saved": "float16 (span head float32)"},
        "large_questions_total": int((history or {}).get(
            "large_questions_total", large_questions(history)))
        + counts.get("squad10-train (unread)", 0),
        "training_seconds": round(seconds, 1),
        "training_seconds_total": round(seconds + _total_seconds(history), 1),
        "machine": {"cpus": os.cpu_count(), "torch_threads": args.threads,
                    "platform": platform.platform()},
        "span_head_sha256": sha256_file(args.out / SPAN_HEAD),
    }
    (args.out / "card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
