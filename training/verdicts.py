"""Fit the ranking and the verdict (the confidence model and its two thresholds) on rows
from question sets like the ones users ask, cross-validated by corpus.

    python -m training.rows --out build/rows.json
    python -m training.verdicts --rows build/rows.json --out build/calibration.json

Every model is fitted with each set weighing the same (a set of 700 questions does not
drown one of 60), and reported on each set while fitted without its whole corpus (leave
one corpus out: the article's sets, each documentation corpus's, the SQuAD dev subset's),
which is what a document qabot has never seen gets; the off-topic questions asked of a
corpus go with that corpus's held-out turn, so that no question is measured by a model
fitted on it or on its document.

- ``rank``: P(a candidate answers) from its signals, over the candidates the reranker reads;
- ``confidence``: P(the best candidate answers) from its signals and the margin to the
  runner-up;
- ``threshold`` (``answer``): the lowest at which, pooled over the sets, at most
  ``--wrong`` of the questions would get a confidently wrong answer and at most
  ``--close`` of the close-topic unanswerable ones an ``answer``;
- ``likely_threshold``: the lowest that keeps ``--offtopic`` of the off-topic questions
  ``unknown`` (never above the answer threshold).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from index.modelling.calibration import Calibration, Linear
from training.rows import OFFTOPIC, Row, corpus_of

log = logging.getLogger("training.verdicts")
BASE_RANK = ("rerank", "dense", "coverage")


def _questions(rows: Sequence[Row]) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        out[r.qid].append(r)
    return out


def _weights(rows: Sequence[Row], key: Any) -> Any:
    import numpy as np

    count: dict[str, int] = defaultdict(int)
    for r in rows:
        count[key(r)] += 1
    return np.array([len(rows) / (len(count) * count[key(r)]) for r in rows])


def fit_linear(rows: Sequence[Row], signals: tuple[str, ...], labels: Any = None,
               extra: Sequence[dict[str, float]] | None = None) -> Linear:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    feats = extra if extra is not None else [r.signals for r in rows]
    x = np.array([[f[s] for s in signals] for f in feats], dtype=np.float64)
    y = np.array([r.label for r in rows]) if labels is None else np.asarray(labels)
    # Barely regularised: the signals are on small scales (a cosine, a share).
    model = LogisticRegression(C=100.0, max_iter=5000)
    model.fit(x, y, sample_weight=_weights(rows, lambda r: r.set))
    return Linear(signals, tuple(round(float(w), 6) for w in model.coef_[0]),
                  round(float(model.intercept_[0]), 6))


def tops(rows: Sequence[Row], rank: Linear) -> list[tuple[Row, dict[str, float], bool]]:
    """Each question's best candidate by ``rank``: the row, its signals with ``margin``, and
    whether it answers."""
    import numpy as np

    out = []
    for group in _questions(rows).values():
        logits = rank.logit({s: np.array([r.signals[s] for r in group]) for s in rank.signals})
        best = int(np.argmax(logits))
        rest = np.delete(logits, best)
        margin = float(logits[best] - rest.max()) if len(rest) else 0.0
        out.append((group[best], {**group[best].signals, "margin": margin},
                    bool(group[best].label)))
    return out


def fit(rows: Sequence[Row], rank_signals: tuple[str, ...], conf_signals: tuple[str, ...],
        keep_rank: Linear | None = None) -> tuple[Linear, Linear]:
    """The ranking (``keep_rank`` when given, else fitted) and the confidence model."""
    candidates = [r for r in rows if r.kind == "answerable"]
    rank = keep_rank or fit_linear(candidates, rank_signals)
    best = tops(rows, rank)
    conf = fit_linear([b[0] for b in best], conf_signals, [int(b[2]) for b in best],
                      [b[1] for b in best])
    return rank, conf


def confidence(model: Linear, signals: dict[str, float]) -> float:
    return Calibration(model, model, 0.5).confidence_of(signals)


def outcomes(rows: Sequence[Row], rank: Linear, conf: Linear) -> list[dict[str, Any]]:
    return [{"set": r.set, "corpus": corpus_of(r.set), "kind": r.kind, "right": right,
             "confidence": confidence(conf, s)} for r, s, right in tops(rows, rank)]


def rates(results: Sequence[dict[str, Any]], answer: float, likely: float) -> dict[str, float]:
    """The target figures at two thresholds, each set weighing the same."""
    by_set: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for o in results:
        by_set[o["set"]].append(o)

    def mean(values: list[float]) -> float:
        return sum(values) / len(values) if values else 0.0

    def share(items: list[dict[str, Any]], test: Any) -> float | None:
        return sum(map(test, items)) / len(items) if items else None

    per: dict[str, list[float]] = defaultdict(list)
    for items in by_set.values():
        ans = [o for o in items if o["kind"] == "answerable"]
        close = [o for o in items if o["kind"] == "close"]
        off = [o for o in items if o["kind"] == "offtopic"]
        for name, value in (
            ("right_first", share(ans, lambda o: o["right"])),
            ("helpful", share(ans, lambda o: o["right"] and o["confidence"] >= likely)),
            ("answered_right", share(ans, lambda o: o["right"] and o["confidence"] >= answer)),
            ("confidently_wrong", share(items, lambda o: o["confidence"] >= answer
                                        and not (o["kind"] == "answerable" and o["right"]))),
            ("close_answer", share(close, lambda o: o["confidence"] >= answer)),
            ("offtopic_unknown", share(off, lambda o: o["confidence"] < likely)),
        ):
            if value is not None:
                per[name].append(value)
    return {name: round(mean(v), 4) for name, v in per.items()}


def auc(results: Sequence[dict[str, Any]]) -> float:
    right = [o["confidence"] for o in results if o["kind"] == "answerable" and o["right"]]
    close = [o["confidence"] for o in results if o["kind"] == "close"]
    if not right or not close:
        return float("nan")
    wins = sum((a > b) + 0.5 * (a == b) for a in right for b in close)
    return round(wins / (len(right) * len(close)), 4)


def _meets(results: Sequence[dict[str, Any]], t: float, wrong: float, close: float,
           worst: bool) -> bool:
    """Whether ``t`` as the answer threshold keeps confidently wrong answers within ``wrong``
    and close-topic ``answer``s within ``close``: averaged over the sets, or, ``worst``, in
    each set of questions like users' (SQuAD's adversarial ones teach the confidence model
    but do not set the threshold; off-topic sets have no wrong answer to give)."""
    if not worst:
        m = rates(results, t, t)
        return m["confidently_wrong"] <= wrong and m.get("close_answer", 0.0) <= close
    by_set: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for o in results:
        if o["corpus"] != "squad" and not o["set"].startswith(OFFTOPIC):
            by_set[o["set"]].append(o)
    return all((m := rates(items, t, t))["confidently_wrong"] <= wrong
               and m.get("close_answer", 0.0) <= close for items in by_set.values())


def choose(results: Sequence[dict[str, Any]], wrong: float, close: float, offtopic: float,
           worst: bool = False) -> tuple[float, float]:
    """The answer threshold (lowest meeting ``wrong`` and ``close``) and the likely one."""
    grid = [round(0.01 * i, 2) for i in range(1, 100)]
    answer = next((t for t in grid if _meets(results, t, wrong, close, worst)), 0.99)
    off = [o["confidence"] for o in results if o["kind"] == "offtopic"]
    # The lowest that keeps ``offtopic`` of the off-topic questions unknown.
    likely = next((t for t in grid if sum(c < t for c in off) >= offtopic * len(off)), answer)
    return answer, min(answer, likely)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.verdicts", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=Path, required=True)
    p.add_argument("--out", type=Path)
    p.add_argument("--conf", default="rerank,dense,coverage,margin",
                   help="the confidence model's signals")
    p.add_argument("--wrong", type=float, default=0.03)
    p.add_argument("--close", type=float, default=0.10)
    p.add_argument("--offtopic", type=float, default=0.98, help="the share of each corpus's "
                   "off-topic questions kept unknown")
    p.add_argument("--keep-rank", type=Path, help="keep the ranking of this calibration")
    p.add_argument("--worst", action="store_true", help="the answer threshold meets --wrong "
                   "and --close in every article and documentation set, not on average")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    rows = [Row(**r) for r in json.loads(args.rows.read_text(encoding="utf-8"))]
    rank_signals = BASE_RANK
    keep = Calibration.load(args.keep_rank).rank if args.keep_rank else None
    conf_signals = tuple(args.conf.split(","))
    groups = sorted({corpus_of(r.set) for r in rows})
    held: list[dict[str, Any]] = []
    thresholds = {}
    for g in groups:
        train = [r for r in rows if corpus_of(r.set) != g]
        test = [r for r in rows if corpus_of(r.set) == g]
        rank, conf = fit(train, rank_signals, conf_signals, keep)
        t_answer, t_likely = choose(outcomes(train, rank, conf), args.wrong, args.close,
                                    args.offtopic, args.worst)
        thresholds[g] = (t_answer, t_likely)
        results = outcomes(test, rank, conf)
        for o in results:
            o["answer"] = o["confidence"] >= t_answer
            o["likely"] = o["confidence"] >= t_likely
        held += results
    report: dict[str, Any] = {"rank_signals": rank_signals, "conf_signals": conf_signals,
                              "held_out": {}}
    for g in groups:
        t_answer, t_likely = thresholds[g]
        # Each held-out corpus's sets at the thresholds fitted without that corpus.
        for name in sorted({o["set"] for o in held if o["corpus"] == g}):
            items = [o for o in held if o["set"] == name]
            report["held_out"][name] = {"thresholds": [t_answer, t_likely],
                                        **rates(items, t_answer, t_likely), "auc": auc(items),
                                        "questions": len(items)}
    rank, conf = fit(rows, rank_signals, conf_signals, keep)
    t_answer, t_likely = choose(outcomes(rows, rank, conf), args.wrong, args.close,
                                args.offtopic, args.worst)
    report["final"] = {"threshold": t_answer, "likely_threshold": t_likely,
                       "rank": rank.to_json(), "confidence": conf.to_json()}
    print(json.dumps(report, indent=1))
    if args.out:
        calibration = Calibration(rank, conf, t_answer, likely=t_likely)
        out = {**calibration.to_json(),
               "fitted_on": {"rows": str(args.rows.name), "questions": len(_questions(rows)),
                             "sets": sorted({r.set for r in rows}),
                             "criterion": {"confidently_wrong": args.wrong,
                                           "close_answer": args.close,
                                           "in_each_set": args.worst,
                                           "offtopic_unknown": args.offtopic}},
               "cross_validated": report["held_out"]}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
        tmp.replace(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
