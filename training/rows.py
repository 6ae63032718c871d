"""Candidate rows for fitting and measuring the ranking and the verdict, from question sets
like the ones users ask.

    python -m training.rows --out build/rows.json

Each question set is asked against its own corpus with the product's models (the bundled
encoder and reranker on ONNX Runtime, as ``qabot ask`` runs them), and every candidate the
reranker reads becomes a row: the set, the question, its kind, the candidate's signals and
whether it answers. The sets:

- the article sets (``article_qa`` and ``article_qa_holdout`` of ``index/data``, the spent
  sealed sets ``article_qa_sealed`` to ``article_qa_sealed7`` of ``tests/data``) on the
  built-in article; a question without gold is ``close`` (asked about the article's own
  topic) unless its ``kind`` says ``offtopic``;
- the real-documentation sets on their corpora: ``docs_qa`` and the spent
  ``docs_qa_sealed`` on ``tests/data/docs``, the spent ``docs3_qa_sealed``,
  ``docs4_qa_sealed``, ``docs5_qa_sealed``, ``docs8_qa_sealed`` and ``docs9_qa_sealed`` on
  ``tests/data/docs3``, ``tests/data/docs4``, ``tests/data/docs5``, ``tests/data/docs8`` and
  ``tests/data/docs9``;
- the SQuAD 2.0 dev subset of ``../shared/data/qa-train``, each article as one document,
  and each answerable question again without its own paragraph (``close``);
- ``offtopic`` questions: each corpus asked the other corpora's questions (SQuAD's of the
  article and the documentation, the article's of the documentation, ...), which nothing
  indexed is about.

Sets still sealed are never read here: only the sets named above, all spent.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import tempfile
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from index.answering.engine import Engine

log = logging.getLogger("training.rows")
ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SHIPPED = ROOT / "index" / "data"  # the question sets qabot ships (``qabot eval``)
ARTICLE_SETS = {"article_qa": SHIPPED, "article_qa_holdout": SHIPPED,
                "article_qa_sealed": DATA, "article_qa_sealed2": DATA,
                "article_qa_sealed3": DATA, "article_qa_sealed4": DATA,
                "article_qa_sealed5": DATA, "article_qa_sealed6": DATA,
                "article_qa_sealed7": DATA}
# The documentation corpora (a folder of ``tests/data``) and their question sets.
DOCS_SETS = {"docs": ("docs_qa", "docs_qa_sealed"), "docs3": ("docs3_qa_sealed",),
             "docs4": ("docs4_qa_sealed",), "docs5": ("docs5_qa_sealed",),
             "docs8": ("docs8_qa_sealed",), "docs9": ("docs9_qa_sealed",)}
SQUAD_SETS = ("squad-dev", "squad-removed")  # asked of the SQuAD dev subset's articles
OFFTOPIC = "offtopic-"  # the off-topic questions asked of corpus X are the set offtopic-X


def corpus_of(name: str) -> str:
    """The corpus the set ``name`` is asked of: "article", a folder of ``DOCS_SETS``, or
    "squad"; the off-topic questions asked of a corpus go with it."""
    bare = name.removeprefix(OFFTOPIC)
    if bare in ARTICLE_SETS or bare == "article":
        return "article"
    if bare in SQUAD_SETS or bare == "squad":
        return "squad"
    for folder, names in DOCS_SETS.items():
        if bare in names or bare == folder:
            return folder
    raise ValueError(f"set {name!r} belongs to no known corpus")


@dataclass
class Row:
    set: str  # the question set (the unit of cross-validation)
    qid: str
    kind: str  # "answerable", "close" or "offtopic"
    signals: dict[str, float]
    label: int


@dataclass
class Asked:
    question: str
    kind: str
    gold: tuple[str, ...]
    doc: str | None = None


def engine_for(index_dir: Path, depth: int) -> Engine:
    """The product's engine, its calibration a placeholder (only the signals matter)."""
    from config import Settings
    from index.answering.configured import default_embedder, default_reranker
    from index.answering.engine import Engine
    from index.modelling.calibration import Calibration, Linear

    settings = Settings(_env_file=None, index_dir=index_dir, rerank_depth=depth, top_k=depth,
                        threads=2)
    placeholder = Linear(("rerank",), (1.0,), 0.0)
    return Engine(settings, default_embedder(settings), reranker=default_reranker(settings),
                  calibration=Calibration(placeholder, placeholder, 0.5))


def read_set(path: Path) -> list[Asked]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            obj = json.loads(line)
            gold = tuple(obj.get("gold", []))
            kind = obj.get("kind") or ("answerable" if gold else "close")
            out.append(Asked(obj["question"], kind, gold, obj.get("doc")))
    return out


def ask(engine: Engine, name: str, questions: list[Asked], depth: int) -> list[Row]:
    """Ask ``questions`` and return a row per candidate the reranker reads (``depth``)."""
    rows = []
    answers = engine.ask_many([(q.question, q.doc) for q in questions], top_k=depth)
    for n, (q, answer) in enumerate(zip(questions, answers, strict=True)):
        for p in answer.passages:
            rows.append(Row(name, f"{name}:{n}", q.kind, dict(p.signals),
                            int(bool(q.gold) and any(g in p.unit.text for g in q.gold))))
    return rows


def squad_questions(data: Path, src: Path) -> tuple[list[Asked], list[Any]]:
    """The SQuAD dev subset written as one text file per article into ``src``; its
    questions, and each answerable one again without its own paragraph (as ``close``:
    asked with a ``doc`` of the article minus that paragraph is not possible in one index,
    so those are asked of a copy of the article without it, see :func:`removed_rows`)."""
    from training.calibrate import DEV_FILE
    from training.data import read_squad

    by_article: dict[str, list[Any]] = defaultdict(list)
    for q in read_squad(data / DEV_FILE):
        by_article[q.title].append(q)
    asked: list[Asked] = []
    raw: list[Any] = []
    for title, questions in by_article.items():
        paragraphs: dict[tuple[str, ...], None] = {}
        for q in questions:
            paragraphs.setdefault(q.sentences, None)
        (src / f"{title}.txt").write_text("\n\n".join(" ".join(p) for p in paragraphs),
                                          encoding="utf-8")
        for q in questions:
            gold = tuple(q.sentences[i] for i in q.answers)
            asked.append(Asked(q.question, "answerable" if gold else "close", gold, title))
            raw.append(q)
    return asked, raw


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.rows", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--depth", type=int, default=10)
    p.add_argument("--qa-train", type=Path, default=ROOT.parent / "shared" / "data" / "qa-train")
    p.add_argument("--offtopic", type=int, default=60, help="off-topic questions per corpus")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from index.sources.documents import builtin_article

    rng = random.Random(20)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="qabot-rows-") as tmp:
        squad_src = Path(tmp) / "squad"
        squad_src.mkdir()
        squad, raw = squad_questions(args.qa_train, squad_src)
        corpora: dict[str, tuple[list[Path], dict[str, list[Asked]]]] = {
            "article": ([builtin_article()],
                        {s: read_set(folder / f"{s}.jsonl")
                         for s, folder in ARTICLE_SETS.items()}),
            "squad": ([squad_src], {SQUAD_SETS[0]: squad}),
        }
        for folder, names in DOCS_SETS.items():
            corpora[folder] = ([DATA / folder], {name: read_set(DATA / f"{name}.jsonl")
                                                 for name in names})
        for corpus, (sources, sets) in corpora.items():
            engine = engine_for(Path(tmp) / f"{corpus}-index", args.depth)
            engine.rebuild(sources)
            for name, questions in sets.items():
                log.info("%s: %d questions on %s", name, len(questions), corpus)
                rows += ask(engine, name, questions, args.depth)
            # Off-topic: the other corpora's answerable questions, without their doc; not
            # another documentation corpus's (npm, AWS CLI and Rust are in each of them).
            others = [Asked(q.question, "offtopic", ())
                      for other, (_, osets) in corpora.items()
                      if other != corpus and not {corpus, other} <= set(DOCS_SETS)
                      for qs in osets.values() for q in qs if q.kind == "answerable"]
            picked = rng.sample(others, min(args.offtopic, len(others)))
            rows += ask(engine, f"{OFFTOPIC}{corpus}", picked, args.depth)
        # SQuAD's answerable questions without their own paragraph: on topic, unanswered.
        removed_src = Path(tmp) / "removed"
        engine = engine_for(Path(tmp) / "removed-index", args.depth)
        by_paragraph: dict[tuple[str, tuple[str, ...]], list[Any]] = defaultdict(list)
        for sq in raw:
            if sq.answerable:
                by_paragraph[(sq.title, sq.sentences)].append(sq)
        picked_paragraphs = rng.sample(sorted(by_paragraph), min(12, len(by_paragraph)))
        for n, key in enumerate(picked_paragraphs):
            title, own = key
            removed_src.mkdir(exist_ok=True)
            for f in removed_src.iterdir():
                f.unlink()
            paragraphs = dict.fromkeys(sq.sentences for sq in raw if sq.title == title)
            (removed_src / f"{title}.txt").write_text(
                "\n\n".join(" ".join(p) for p in paragraphs if p != own), encoding="utf-8")
            engine.rebuild([removed_src])
            qs = [Asked(sq.question, "close", ()) for sq in by_paragraph[key]]
            part = ask(engine, SQUAD_SETS[1], qs, args.depth)
            for r in part:
                r.qid = f"{r.qid}:{n}"
            rows += part
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps([asdict(r) for r in rows]), encoding="utf-8")
    counts: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in rows:
        counts[(r.set, r.kind)].add(r.qid)
    for (name, kind), qids in sorted(counts.items()):
        log.info("%s %s: %d questions", name, kind, len(qids))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
