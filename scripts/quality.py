"""Measure answer quality on the question sets and write docs/results/quality.json, from
which the README's quality figures are generated (scripts/readme_sample.py).

    python scripts/quality.py                       # every set; the sealed ones too
    python scripts/quality.py --only article_qa     # one set, printed, nothing written

A conversation set (``conversations*``) is asked turn by turn, each conversation's turns in
order, and every turn alone too (``qabot eval``'s comparison); its figures are by kind of
turn (opening, follow-up, subject change).

Each set is asked of its own corpus with the configured models (the bundled encoder and
reranker unless QABOT_ settings say otherwise), exactly as ``qabot eval`` does. The sealed
sets (``*_sealed*``) are the ones nothing was tuned on: run them once, when a change is
final, and record that in their README.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SHIPPED = ROOT / "index" / "data"  # the question sets qabot ships
RESULTS = ROOT / "docs" / "results" / "quality.json"
SHARED = ROOT.parent / "shared" / "data"


@dataclass(frozen=True)
class QuestionSet:
    name: str
    file: Path
    sources: tuple[Path, ...] | None  # None: the built-in article; () for WikiQA
    used_for: str

    @property
    def conversations(self) -> bool:
        return self.name.startswith("conversations")


def sets() -> list[QuestionSet]:
    docs = (DATA / "docs",)
    return [
        QuestionSet("conversations_sealed6", DATA / "conversations_sealed6.jsonl",
                    (SHIPPED / "trump-putin-g20-meeting.txt", DATA / "docs7"),
                    "nothing (sealed until this measurement; docs7 a corpus nothing was "
                    "tuned on)"),
        QuestionSet("article_qa_sealed8", DATA / "article_qa_sealed8.jsonl", None,
                    "nothing (sealed until this measurement)"),
        QuestionSet("docs10_qa_sealed", DATA / "docs10_qa_sealed.jsonl", (DATA / "docs10",),
                    "nothing (sealed until this measurement; a corpus nothing was tuned on)"),
        QuestionSet("article_qa_sealed7", DATA / "article_qa_sealed7.jsonl", None,
                    "measuring round 9's reranker (spent for ranking); its phrases: nothing"),
        QuestionSet("docs9_qa_sealed", DATA / "docs9_qa_sealed.jsonl", (DATA / "docs9",),
                    "measuring round 9's reranker (spent for ranking); its phrases: nothing"),
        QuestionSet("wikiqa", SHARED / "wikiqa" / "WikiQA-test-dev-half.tsv", (),
                    "the first stage's weights (issue 4); not the reranker or calibration"),
        QuestionSet("article_qa_sealed6", DATA / "article_qa_sealed6.jsonl", None,
                    "fitting the verdicts (round 9, left out with its corpus); spent"),
        QuestionSet("docs8_qa_sealed", DATA / "docs8_qa_sealed.jsonl", (DATA / "docs8",),
                    "fitting the verdicts (round 9, left out with its corpus); spent"),
        QuestionSet("article_qa_sealed5", DATA / "article_qa_sealed5.jsonl", None,
                    "fitting the verdicts (round 8, left out with its corpus); spent"),
        QuestionSet("docs5_qa_sealed", DATA / "docs5_qa_sealed.jsonl", (DATA / "docs5",),
                    "fitting the verdicts (round 8, left out with its corpus); spent"),
        QuestionSet("article_qa_sealed4", DATA / "article_qa_sealed4.jsonl", None,
                    "fitting the verdicts (round 6, left out with its corpus); spent"),
        QuestionSet("docs4_qa_sealed", DATA / "docs4_qa_sealed.jsonl", (DATA / "docs4",),
                    "fitting the verdicts (round 6, left out with its corpus); spent"),
        QuestionSet("article_qa_sealed3", DATA / "article_qa_sealed3.jsonl", None,
                    "fitting the verdicts (round 6, left out with its corpus); spent"),
        QuestionSet("docs3_qa_sealed", DATA / "docs3_qa_sealed.jsonl", (DATA / "docs3",),
                    "fitting the verdicts (round 6, left out with its corpus); spent"),
        QuestionSet("article_qa_sealed2", DATA / "article_qa_sealed2.jsonl", None,
                    "fitting the verdicts (round 6, left out with its corpus); spent"),
        QuestionSet("docs_qa_sealed", DATA / "docs_qa_sealed.jsonl", docs,
                    "fitting the verdicts (round 6, left out with its corpus); spent"),
        QuestionSet("article_qa", SHIPPED / "article_qa.jsonl", None,
                    "fitting the verdicts (left out with its corpus)"),
        QuestionSet("article_qa_holdout", SHIPPED / "article_qa_holdout.jsonl", None,
                    "fitting the verdicts (left out with its corpus)"),
        QuestionSet("docs_qa", DATA / "docs_qa.jsonl", docs,
                    "fitting the verdicts (left out with its corpus)"),
    ]


def written_phrases(qfile: Path) -> list[str | None] | None:
    """The phrase written for each question of a set that has them, in file order."""
    rows = [json.loads(line) for line in qfile.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    if not any("phrase" in r for r in rows):
        return None
    return [r.get("phrase") for r in rows if "question" in r]


def measure(qs: QuestionSet, tmp: Path) -> dict[str, Any]:
    from bot.app import get_settings
    from index import evaluate
    from index.answering.configured import default_embedder
    from index.answering.engine import Engine
    from index.evaluation.phrases import phrase_counts

    index_dir = tmp / qs.name
    if qs.sources == ():
        corpus, qfile = evaluate.wikiqa_to_jsonl(qs.file, tmp / f"{qs.name}-src")
        sources: list[Path] = [corpus]
    else:
        qfile = qs.file
        sources = list(qs.sources or [])
    settings = get_settings(index_dir=index_dir)
    engine = Engine(settings, default_embedder(settings, "build"))
    engine.rebuild(sources or None)
    questions = evaluate.read_questions(qfile)
    outcomes = evaluate.run(engine, questions)
    turns: dict[str, Any] = {}
    if qs.conversations:
        in_conversation, answers = evaluate.run_conversations(engine, questions)
        turns = evaluate.conversation_counts(questions, in_conversation, outcomes, answers)
        outcomes = in_conversation
    answer = evaluate.metrics(outcomes, engine.threshold)
    given = evaluate.metrics(outcomes, engine.likely_threshold)
    counts = evaluate.verdict_counts(outcomes)
    ans = counts.get("answerable", {})
    unanswerable = [k for k in ("close", "unanswerable") if k in counts]
    out: dict[str, Any] = {
        "name": qs.name, "file": str(qs.file.relative_to(qs.file.parents[2])),
        "used_for": qs.used_for, "questions": answer.questions,
        "answerable": answer.answerable, "hit_at_1": answer.hit_at_1,
        "hit_at_3": answer.hit_at_3, "map": answer.map,
        "f1_answer": answer.f1, "f1_answer_or_likely": given.f1,
        "threshold": answer.threshold, "likely_threshold": given.threshold,
        "right_first": ans.get("right_first", 0) / max(ans.get("questions", 0), 1),
        "helpful": ans.get("helpful", 0) / max(ans.get("questions", 0), 1),
        "confidently_wrong": counts["all"]["confidently_wrong"] / counts["all"]["questions"],
        "auc": counts["all"].get("auc"),
        "verdicts": counts,
    }
    if unanswerable:
        row = counts[unanswerable[0]]
        out["close_answer"] = row["answer"] / row["questions"]
    if turns:
        out["turns"] = turns
    if "offtopic" in counts:
        out["offtopic_unknown"] = counts["offtopic"]["unknown"] / counts["offtopic"]["questions"]
    expected = written_phrases(qfile)
    if expected is not None and len(expected) == len(outcomes):
        out["phrases"] = phrase_counts(outcomes, expected)
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="measure this set only and print it")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    chosen = [s for s in sets() if args.only in (None, s.name)]
    if not chosen:
        print(f"quality: no set named {args.only!r}", file=sys.stderr)
        return 2
    os.environ.setdefault("QABOT_LOG_LEVEL", "WARNING")
    with tempfile.TemporaryDirectory(prefix="qabot-quality-") as tmp:
        results = []
        for qs in chosen:
            print(f"quality: {qs.name}...", file=sys.stderr, flush=True)
            results.append(measure(qs, Path(tmp)))
            print(json.dumps({k: v for k, v in results[-1].items() if k != "verdicts"}),
                  flush=True)
    if args.only:
        return 0
    data = {"date": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "python scripts/quality.py", "sets": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    aside = args.out.with_name(f".{args.out.name}.tmp")
    aside.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(aside, args.out)
    print(f"quality: wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
