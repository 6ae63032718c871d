"""Choose the confidence from which qabot shows the span head's phrase, on spent question
sets with written phrases (never on a sealed one).

    python -m training.phrase_fit                     # article_qa_sealed6 and docs8_qa_sealed

Each set is asked of its corpus with the shipped models, every phrase kept whatever its
confidence (the verdict must still be ``answer`` or ``likely``). For each candidate minimum
it prints how many phrases would be shown, how many of them are right (token F1 >= 0.5
against the written phrase; a phrase shown where none was written is wrong), and the share
of right-first answerable questions that get one. The rule: the lowest minimum whose shown
phrases are right at least ``--target`` of the time.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from index.evaluation.phrases import RIGHT_F1, token_f1

log = logging.getLogger("training.phrase_fit")
ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SETS = {"article_qa_sealed6": None, "docs8_qa_sealed": DATA / "docs8"}
MINIMA = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def rows_of(name: str, corpus: Path | None, tmp: Path) -> list[dict[str, Any]]:
    """Per question: right first, the written phrase, the phrase and its confidence."""
    from bot.app import get_settings
    from index import evaluate
    from index.answering.configured import default_embedder
    from index.answering.engine import Engine

    qfile = DATA / f"{name}.jsonl"
    written = [json.loads(line).get("phrase") for line in
               qfile.read_text(encoding="utf-8").splitlines() if line.strip()]
    settings = get_settings(index_dir=tmp / name)
    engine = Engine(settings, default_embedder(settings, "build"))
    engine.rebuild([corpus] if corpus else None)
    loaded = engine._loaded
    assert loaded is not None
    questions = evaluate.read_questions(qfile)
    ranking = replace(engine.ranking, phrase_minimum=0.0)
    vectors = engine.embedder.encode([q.question for q in questions])
    answers = [ranking.answer(loaded.data, loaded.lexical, q.question, vectors[i : i + 1],
                              info=None, k=5, context_window=1)
               for i, q in enumerate(questions)]
    outcomes = evaluate.judge(engine, questions, answers)
    return [{"right_first": o.right_first, "written": w, "phrase": o.phrase,
             "confidence": a.phrase.confidence if a.phrase is not None else None}
            for o, w, a in zip(outcomes, written, answers, strict=True)]


def table(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    right_first = sum(r["right_first"] for r in rows)
    for minimum in MINIMA:
        shown = [r for r in rows if r["confidence"] is not None and r["confidence"] >= minimum]
        right = sum(bool(r["written"]) and token_f1(r["phrase"], r["written"]) >= RIGHT_F1
                    for r in shown)
        out.append({"minimum": minimum, "shown": len(shown), "right": right,
                    "right_share": round(right / len(shown), 3) if shown else None,
                    "shown_of_right_first": round(
                        sum(r["right_first"] for r in shown) / max(right_first, 1), 3)})
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.phrase_fit", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", type=float, default=0.8)
    p.add_argument("--out", type=Path, help="write the rows and the table here as JSON")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="qabot-phrase-fit-") as tmp:
        rows = [r for name, corpus in SETS.items() for r in rows_of(name, corpus, Path(tmp))]
    figures = table(rows)
    for row in figures:
        print(json.dumps(row))
    chosen = next((r["minimum"] for r in figures
                   if r["right_share"] is not None and r["right_share"] >= args.target), None)
    print(f"chosen minimum: {chosen} (shown phrases right at least {args.target:.0%} of the "
          f"time on {', '.join(SETS)})")
    if args.out:
        args.out.write_text(json.dumps({"sets": list(SETS), "rows": rows, "table": figures,
                                        "chosen": chosen}, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
