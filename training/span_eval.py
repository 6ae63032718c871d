"""The span head's phrases against the validation sets' answers, given the right sentence:
SQuAD's exact match and token F1 (index/evaluation/phrases.py).

    python -m training.span_eval --questions build/large --model build/span

Each question is read with its answer sentence (the first that holds one of its answer
texts); the phrase is the head's best span (``forced``: even where "no phrase" is more
probable, as SQuAD's metric scores it; ``shown``: only the phrases above ``--min``). For
choosing a checkpoint and the phrase threshold, never for reporting quality.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from index.evaluation.phrases import best_exact, best_f1
from index.modelling.phrase import span_to_phrase
from training.data import passage
from training.runtime import start
from training.span_data import phrase_in

log = logging.getLogger("training.span_eval")
SETS = ("squad11-dev-46", "qed-nq-dev")


def predict(reranker: Any, pairs: list[tuple[str, str]]) -> list[tuple[str, float, float]]:
    """(phrase, its probability, the probability of none where none is likelier than the
    phrase, else 0) for each (question, passage), as the torch runtime reads them."""
    out: list[tuple[str, float, float]] = []
    for question, text in pairs:
        _, readings = reranker.score_spans(question, [text])
        span = readings[0].best if readings else None
        phrase = span_to_phrase(span, readings[0].offsets) if readings else None
        if span is None or phrase is None:
            out.append(("", 0.0, 1.0))
            continue
        out.append((phrase.text(text), span.probability,
                    0.0 if span.likelier_than_none else span.none))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.span_eval", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--questions", type=Path, required=True)
    p.add_argument("--model", type=Path, required=True, help="training/span.py's output")
    p.add_argument("--per-set", type=int, default=1000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--min", type=float, default=0.0, help="the phrase threshold")
    p.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = p.parse_args(argv)
    start(args.threads, args.seed)
    from index.modelling.reranker import CrossEncoderReranker
    from training.large import read_questions
    from training.validate import sample

    reranker = CrossEncoderReranker(str(args.model), threads=args.threads)
    if not reranker.reads_phrases:
        raise SystemExit(f"{args.model} has no span head")
    figures: dict[str, Any] = {}
    for name in SETS:
        rows = []
        for q in sample(read_questions(args.questions / f"valid-{name}.jsonl.gz"),
                        10 * args.per_set, args.seed):
            for i in sorted(q.answers):
                if phrase_in(q.sentences[i], q.answer_texts) is not None:
                    rows.append((q, passage(q.title, q.sentences[i])))
                    break
            if len(rows) == args.per_set:
                break
        if not rows:
            log.info("%s: no question with an answer text in its sentence", name)
            continue
        got = predict(reranker, [(q.question, text) for q, text in rows])
        read = [(q.answer_texts, g, pr, null) for (q, _), (g, pr, null)
                in zip(rows, got, strict=True)]
        shown = [(texts, g) for texts, g, pr, null in read if pr >= args.min and not null]
        figures[name] = {
            "n": len(rows),
            "exact": round(sum(best_exact(g, t) for t, g, _, _ in read) / len(rows), 4),
            "f1": round(sum(best_f1(g, t) for t, g, _, _ in read) / len(rows), 4),
            "shown": len(shown),
            "shown_f1_ge_half": sum(best_f1(g, t) >= 0.5 for t, g in shown)}
        log.info("%s: %s", name, figures[name])
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
