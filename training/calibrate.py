"""Fit the answer calibration: P(this sentence answers the question) from the signals, and
the threshold on it at which qabot answers.

    python -m training.calibrate --reranker build/reranker --out build/reranker/calibration.json
    python -m training.calibrate --reranker none --out index/models/first-stage.json

Data: the SQuAD 2.0 dev subset in ``../shared/data/qa-train`` (two articles, nearly half
the questions unanswerable, written to look answerable), never used for training. Each
article is indexed as one document with qabot's own pipeline (splitter, bundled encoder,
index), every question is asked against its article exactly as qabot asks, and each
candidate the product would rank (the reranker's depth) becomes a row: its signals, and
whether it is the sentence holding the answer. A logistic regression over the signals is
fitted on those rows; the signals kept are the set with the best cross-validated log-loss
(5 folds by question). The threshold maximises answer-triggering F1 (answered with the right
sentence first / answered, / answerable). Both are reported cross-validated by article:
fitted on one article, measured on the other.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import logging
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from index.files import sha256_file
from index.modelling.calibration import Calibration, Linear
from training.data import Question, read_squad

if TYPE_CHECKING:
    from index.answering.engine import Engine
from training.reranker import DEFAULT_DATA

log = logging.getLogger("training.calibrate")

DEV_FILE = "squad2-dev-subset.json.gz"


@dataclass
class Row:
    article: str
    qid: str
    answerable: bool
    signals: dict[str, float]
    label: int
    total: int = 1  # answer sentences the question has in its document


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.calibrate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the qa-train folder")
    p.add_argument("--wikiqa", type=Path, help="calibrate on this WikiQA TSV instead (its "
                   "figures are then reported cross-validated, 5 folds by question)")
    p.add_argument("--reranker", required=True,
                   help="the reranker to calibrate: a CrossEncoder folder, 'bundled' or 'none'")
    p.add_argument("--out", type=Path, required=True, help="where to write calibration.json")
    p.add_argument("--depth", type=int, default=10, help="candidates per question")
    p.add_argument("--model", default="all-MiniLM-L6-v2",
                   help="the embedding model the calibration is for (QABOT_MODEL)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--criterion", choices=CRITERIA, default="f1", help="what the threshold "
                   "maximises: answer-triggering F1, or answered share + declined share")
    p.add_argument("--removed", action="store_true", help="also ask each answerable "
                   "question without its own paragraph, as an unanswerable one")
    p.add_argument("--rows", type=Path, help="keep the collected candidates in this JSON file "
                   "and reuse them when it exists (the models are not run again)")
    return p.parse_args(argv)


def _engine(index_dir: Path, reranker: str, depth: int, model_name: str) -> Engine:
    """An engine that ranks ``depth`` candidates with the real models, as qabot does."""
    from config import Settings
    from index.answering.configured import default_reranker
    from index.answering.engine import Engine
    from index.modelling.embedder import SentenceTransformerEmbedder

    settings = Settings(_env_file=None, index_dir=index_dir, reranker=reranker,
                        rerank_depth=depth, top_k=depth)
    model = default_reranker(settings)
    # Only the candidates and their signals matter here, not the order the current
    # calibration gives them: a placeholder one stands in for the one being fitted.
    placeholder = Linear(("rerank" if model is not None else "dense",), (1.0,), 0.0)
    return Engine(settings, SentenceTransformerEmbedder(model_name), reranker=model,
                  calibration=Calibration(placeholder, placeholder, 0.5))


def collect(data: Path, reranker: str, depth: int, model_name: str, *,
            removed: bool = False) -> list[Row]:
    """Index each dev article with qabot and record the signals of every candidate.

    With ``removed``, each answerable question is also asked as if its own paragraph were
    not in the article: its candidates are the first stage's best ``depth`` of the other
    paragraphs (none holding an answer text), and it is unanswerable there. Those are
    the questions a document on the right topic does not answer (the same names, the
    same event, not that fact), which the dev set's unanswerable questions, written by
    changing a word of an answerable one, are not."""
    import numpy as np

    by_article: dict[str, list[Question]] = defaultdict(list)
    for q in read_squad(data / DEV_FILE):
        by_article[q.title].append(q)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="qabot-calibrate-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for title, questions in by_article.items():
            paragraphs: dict[tuple[str, ...], None] = {}
            for q in questions:
                paragraphs.setdefault(q.sentences, None)
            # One document per article, a paragraph a block: sentences split as qabot does.
            (src / f"{title}.txt").write_text(
                "\n\n".join(" ".join(p) for p in paragraphs), encoding="utf-8")
        # Ranked deeper than the product does, then cut back to the first stage's best
        # ``depth``: with and without the question's own paragraph.
        wide = 3 * depth if removed else depth
        engine = _engine(Path(tmp) / "index", reranker, wide, model_name)
        engine.rebuild([src])
        w = engine.weights
        for title, questions in by_article.items():
            answers = engine.ask_many([(q.question, title) for q in questions], top_k=wide)
            for q, answer in zip(questions, answers, strict=True):
                gold = {q.sentences[i] for i in q.answers}
                first = w.first_stage({name: np.array([p.signals[name] for p in answer.passages])
                                       for name in ("dense", "coverage", "cue")})
                ranked = [answer.passages[int(i)] for i in np.argsort(-first, kind="stable")]
                # Back in the order the reranked product would list them.
                keep = {id(p) for p in ranked[:depth]}
                for p in answer.passages:
                    if id(p) in keep:
                        rows.append(Row(title, q.qid, q.answerable, dict(p.signals),
                                        int(p.unit.text in gold)))
                if removed and q.answerable:
                    own = set(q.sentences)
                    others = [p for p in ranked if p.unit.text not in own
                              and not any(t in p.unit.text for t in q.answer_texts)][:depth]
                    rows += [Row(title, f"{q.qid}:removed", False, dict(p.signals), 0)
                             for p in others]
    return rows


def collect_wikiqa(tsv: Path, reranker: str, depth: int, model_name: str) -> list[Row]:
    """Each WikiQA question asked within its own document, as `qabot eval` does."""
    from index import evaluate

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="qabot-calibrate-") as tmp:
        corpus, qfile = evaluate.wikiqa_to_jsonl(tsv, Path(tmp))
        questions = evaluate.read_questions(qfile)
        engine = _engine(Path(tmp) / "index", reranker, depth, model_name)
        engine.rebuild([corpus])
        answers = engine.ask_many([(q.question, q.doc) for q in questions], top_k=depth)
        for n, (q, answer) in enumerate(zip(questions, answers, strict=True)):
            for p in answer.passages:
                rows.append(Row(q.doc or "", f"wikiqa-{n}", bool(q.gold), dict(p.signals),
                                int(p.unit.id in q.gold), len(q.gold)))
    return rows


def ranking(rows: list[Row], rank: Linear | None) -> dict[str, float]:
    """hit@1, hit@3, MRR and MAP of the answerable questions, candidates ordered by
    ``rank`` (None keeps the engine's order); an answer not among them counts as missed."""
    import numpy as np

    by_q: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        by_q[r.qid].append(r)
    hits1 = hits3 = rr = ap = 0.0
    n = 0
    for group in by_q.values():
        if not group[0].answerable:
            continue
        n += 1
        if rank is not None:
            signals = {s: np.array([r.signals[s] for r in group]) for s in group[0].signals}
            group = [group[int(i)] for i in np.argsort(-rank.logit(signals), kind="stable")]
        labels = [r.label for r in group]
        hits1 += labels[0]
        hits3 += any(labels[:3])
        first = next((i for i, x in enumerate(labels) if x), None)
        rr += 0.0 if first is None else 1.0 / (first + 1)
        found, precisions = 0, []
        for i, x in enumerate(labels):
            if x:
                found += 1
                precisions.append(found / (i + 1))
        ap += sum(precisions) / max(group[0].total, 1)
    return {"hit_at_1": round(hits1 / n, 4), "hit_at_3": round(hits3 / n, 4),
            "mrr": round(rr / n, 4), "map": round(ap / n, 4)}


def _matrix(rows: list[Row], signals: tuple[str, ...]) -> Any:
    import numpy as np

    return np.array([[r.signals[s] for s in signals] for r in rows], dtype=np.float64)


def _fit(rows: list[Row], signals: tuple[str, ...]) -> Any:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    y = np.array([r.label for r in rows])
    return LogisticRegression(C=1.0, max_iter=2000).fit(_matrix(rows, signals), y)


def _linear(model: Any, signals: tuple[str, ...]) -> Linear:
    return Linear(signals, tuple(round(float(w), 6) for w in model.coef_[0]),
                  round(float(model.intercept_[0]), 6))


def log_loss(rows: list[Row], probs: Any) -> float:
    import numpy as np

    y = np.array([r.label for r in rows])
    p = np.clip(probs, 1e-6, 1 - 1e-6)
    return float(-np.sum(y * np.log(p) + (1 - y) * np.log(1 - p)))


def top_rows(rows: list[Row], rank: Linear | None) -> list[Row]:
    """Per question, its best candidate (by ``rank``; None keeps the engine's order) with
    ``margin``: its rank log-odds minus the best other's, as the engine computes it."""
    import numpy as np

    by_q: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        by_q[r.qid].append(r)
    tops = []
    for group in by_q.values():
        signals = {s: np.array([r.signals[s] for r in group]) for s in group[0].signals}
        ref = rank or Linear(("dense",), (1.0,), 0.0)
        logits = ref.logit(signals)
        order = np.argsort(-logits, kind="stable") if rank is not None else np.arange(len(group))
        best = group[int(order[0])]
        rest = np.delete(logits, order[0])
        margin = float(logits[order[0]] - rest.max()) if len(rest) else 0.0
        tops.append(Row(best.article, best.qid, best.answerable,
                        {**best.signals, "margin": margin}, best.label))
    return tops


def triggering(tops: list[Row], conf: Any, threshold: float) -> dict[str, float]:
    """Answer triggering at ``threshold`` over each question's best candidate."""
    answered = [t for t, c in zip(tops, conf, strict=True) if c >= threshold]
    right = sum(t.label for t in answered)
    answerable = sum(t.answerable for t in tops)
    unanswerable = len(tops) - answerable
    precision = right / len(answered) if answered else 0.0
    recall = right / answerable if answerable else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"threshold": threshold, "precision": round(precision, 4),
            "recall": round(recall, 4), "f1": round(f1, 4),
            "answered": round(sum(t.answerable for t in answered) / max(answerable, 1), 4),
            "declined": round(sum(not t.answerable and c < threshold
                                  for t, c in zip(tops, conf, strict=True))
                              / max(unanswerable, 1), 4),
            "hit_at_1": round(sum(t.label for t in tops if t.answerable) / max(answerable, 1), 4)}


CRITERIA = ("f1", "balanced")


def best_threshold(tops: list[Row], conf: Any, criterion: str = "f1") -> dict[str, float]:
    """The threshold that maximises answer-triggering F1, or with ``balanced`` the share of
    answerable questions answered plus the share of unanswerable ones declined (the two
    figures qabot's targets name, weighed alike)."""
    grid = [round(0.01 * i, 2) for i in range(1, 100)]

    def score(m: dict[str, float]) -> float:
        return m["f1"] if criterion == "f1" else m["answered"] + m["declined"]

    return max((triggering(tops, conf, t) for t in grid),
               key=lambda m: (score(m), -abs(m["threshold"] - 0.5)))


def _subsets(available: Sequence[str], required: str | None) -> list[tuple[str, ...]]:
    return [c for n in range(1, len(available) + 1)
            for c in itertools.combinations(available, n) if required is None or required in c]


def fit_calibration(rows: list[Row], reranked: bool, criterion: str = "f1"
                    ) -> tuple[Calibration, dict[str, float], dict[str, Any]]:
    """Choose and fit both models on ``rows``; return them and the in-sample triggering."""
    available = [s for s in ("rerank", "dense", "coverage", "cue") if s in rows[0].signals]

    def fold(r: Row) -> int:  # 5 folds by question: a question's rows stay together,
        base = r.qid.split(":")[0]  # with those of its paragraph-removed twin
        return int(hashlib.sha256(b"inner:" + base.encode()).hexdigest(), 16) % 5

    def cross_validated(train_fn: Any) -> float:
        total = 0.0
        for held in range(5):
            test = [r for r in rows if fold(r) == held]
            if test:
                total += train_fn([r for r in rows if fold(r) != held], test)
        return total / len(rows)

    rank_sets = _subsets(available, "rerank" if reranked else None)

    def rank_loss(signals: tuple[str, ...]) -> float:
        return cross_validated(lambda tr, te: log_loss(te, _fit(tr, signals).predict_proba(
            _matrix(te, signals))[:, 1]))

    rank_scores = {c: rank_loss(c) for c in rank_sets}
    rank_signals = min(rank_scores, key=lambda c: rank_scores[c])
    rank = _linear(_fit(rows, rank_signals), rank_signals)
    tops = top_rows(rows, rank if reranked else None)
    conf_sets = _subsets([*available, "margin"], None)

    def conf_loss(signals: tuple[str, ...]) -> float:
        total = 0.0
        for held in range(5):
            tr = [t for t in tops if fold(t) != held]
            te = [t for t in tops if fold(t) == held]
            if not te:
                continue
            total += log_loss(te, _fit(tr, signals).predict_proba(_matrix(te, signals))[:, 1])
        return total / len(tops)

    conf_scores = {c: conf_loss(c) for c in conf_sets}
    conf_signals = min(conf_scores, key=lambda c: conf_scores[c])
    conf_model = _fit(tops, conf_signals)
    conf = conf_model.predict_proba(_matrix(tops, conf_signals))[:, 1]
    chosen = best_threshold(tops, conf, criterion)
    calibration = Calibration(rank, _linear(conf_model, conf_signals), chosen["threshold"])
    report = {"rank_log_loss": {"+".join(c): round(v, 5) for c, v in rank_scores.items()},
              "confidence_log_loss": {"+".join(c): round(v, 5) for c, v in conf_scores.items()}}
    return calibration, chosen, report


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    if args.rows and args.rows.is_file():
        rows = [Row(**r) for r in json.loads(args.rows.read_text(encoding="utf-8"))]
    elif args.wikiqa:
        rows = collect_wikiqa(args.wikiqa, args.reranker, args.depth, args.model)
    else:
        rows = collect(args.data, args.reranker, args.depth, args.model,
                       removed=args.removed)
    measured = args.wikiqa or args.data / DEV_FILE
    source = {"file": measured.name, "sha256": sha256_file(measured, follow_links=True)}
    if args.rows and not args.rows.is_file():
        args.rows.write_text(json.dumps([asdict(r) for r in rows]), encoding="utf-8")
    reranked = "rerank" in rows[0].signals
    log.info("%d candidate rows, %d questions", len(rows), len({r.qid for r in rows}))
    # Cross-validated: everything fitted without a part, measured on that part (by article
    # for the SQuAD dev subset, 5 folds by question for WikiQA).
    if args.wikiqa:
        def part(r: Row) -> str:
            return f"fold {int(hashlib.sha256(r.qid.encode()).hexdigest(), 16) % 5}"
    else:
        def part(r: Row) -> str:
            return r.article
    held_out = []
    pooled_tops: list[Row] = []
    pooled_conf: list[float] = []
    pooled_rows: list[Row] = []  # each question's candidates scored by its fold's model
    for held in sorted({part(r) for r in rows}):
        train = [r for r in rows if part(r) != held]
        test = [r for r in rows if part(r) == held]
        cal, _, _ = fit_calibration(train, reranked, args.criterion)
        tops = top_rows(test, cal.rank if reranked else None)
        conf = np.array([cal.confidence_of(t.signals) for t in tops])
        held_out.append({"part": held, **triggering(tops, conf, cal.threshold),
                         **ranking(test, cal.rank if reranked else None)})
        # Pooled: each question decided by the models fitted without it.
        pooled_tops += tops
        pooled_conf += [float(c >= cal.threshold) for c in conf]
        if reranked:
            logits = cal.rank.logit({s: np.array([r.signals[s] for r in test])
                                     for s in cal.rank.signals})
        else:  # the engine's order
            logits = -np.arange(len(test), dtype=np.float64)
        pooled_rows += [Row(r.article, r.qid, r.answerable, {"score": float(z)}, r.label,
                            r.total) for r, z in zip(test, logits, strict=True)]
    pooled = {**triggering(pooled_tops, pooled_conf, 0.5),
              **ranking(pooled_rows, Linear(("score",), (1.0,), 0.0))}
    pooled.pop("threshold")
    calibration, in_sample, report = fit_calibration(rows, reranked, args.criterion)
    out = {
        **calibration.to_json(),
        "fitted_on": {**source, "rows": len(rows), "questions": len({r.qid for r in rows}),
                      "depth": args.depth, "reranker": args.reranker,
                      "paragraph_removed_questions": len(
                          {r.qid for r in rows if r.qid.endswith(":removed")}),
                      "threshold_criterion": args.criterion,
                      "model": args.model},
        "in_sample": in_sample,
        "cross_validated": {"parts": held_out, "pooled": pooled},
        **report,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    log.info("wrote %s", args.out)
    print(json.dumps({k: out[k] for k in ("rank", "confidence", "threshold", "in_sample",
                                          "cross_validated")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
