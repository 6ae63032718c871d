"""The reranker's candidate lists on the real question sets, exactly as the engine hands
them to it: each question asked of its corpus by the product's engine (the bundled encoder
and reranker on ONNX Runtime, the bundled calibration), the reranker's call and the
ranking's signals recorded. Used by :mod:`benchmarks.precision` and the lighter-precision
equivalence test."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from index.modelling.calibration import Calibration
from index.modelling.onnx_runtime import OnnxReranker

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import numpy as np

    from index.modelling.phrase import SpanReading

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SHIPPED = ROOT / "index" / "data"
ARTICLE = "article"
# Every set is spent (none sealed any more): the corpus each is asked of (scripts/quality.py).
SETS: dict[str, tuple[Path, str]] = {
    **{name: (SHIPPED / f"{name}.jsonl", ARTICLE)
       for name in ("article_qa", "article_qa_holdout")},
    **{f"article_qa_sealed{n}": (DATA / f"article_qa_sealed{n}.jsonl", ARTICLE)
       for n in ("", "2", "3", "4", "5", "6", "7")},
    "docs_qa": (DATA / "docs_qa.jsonl", "docs"),
    "docs_qa_sealed": (DATA / "docs_qa_sealed.jsonl", "docs"),
    **{f"docs{n}_qa_sealed": (DATA / f"docs{n}_qa_sealed.jsonl", f"docs{n}")
       for n in (3, 4, 5, 8, 9)},
}
ARTICLE_SETS = ("article_qa", "article_qa_holdout")  # the shipped ones (the suite's test)


@dataclass
class Listed:
    """One question's candidate list as the reranker read it."""

    set: str
    question: str
    gold: list[str]
    passages: list[str]  # the texts the reranker read, in the first stage's order
    signals: dict[str, list[float]]  # the ranking's signals per candidate, "rerank" included
    confidence: float = -1.0  # the engine's answer's (to check :func:`engine_view` by)


class _Recorder(OnnxReranker):
    """The float32 reranker, its calls recorded."""

    calls: list[tuple[str, list[str]]]

    def score_spans(self, question: str, passages: Sequence[str]
                    ) -> tuple[np.ndarray, list[SpanReading] | None]:
        # The one way in: the ranking reads logits and phrases here, ``score`` calls it too.
        self.calls.append((question, list(passages)))
        return super().score_spans(question, passages)


@dataclass(frozen=True)
class _RecordingCalibration(Calibration):
    """The bundled calibration, the signals it ranks recorded."""

    seen: list[dict[str, list[float]]] | None = None

    def rank_logits(self, signals: Mapping[str, np.ndarray]) -> np.ndarray:
        if self.seen is not None:
            self.seen.append({k: [float(x) for x in v] for k, v in signals.items()})
        return super().rank_logits(signals)


def bundled() -> Calibration:
    from index.modelling.reranker import bundled_calibration

    return bundled_calibration()


def collect(names: Sequence[str] = tuple(SETS), *, threads: int = 1) -> list[Listed]:
    """Ask every set of ``names`` of its corpus; a list per question the reranker read."""
    from config import Settings
    from index.answering.configured import default_embedder
    from index.answering.engine import Engine
    from index.evaluation.evaluate import read_questions
    from index.sources.documents import builtin_article

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    base = bundled()
    seen: list[dict[str, list[float]]] = []
    calibration = _RecordingCalibration(
        **{f.name: getattr(base, f.name) for f in fields(Calibration)}, seen=seen)
    recorder = _Recorder(calibration=calibration, threads=threads)
    recorder.calls = []
    out: list[Listed] = []
    corpora = dict.fromkeys(SETS[n][1] for n in names)
    with tempfile.TemporaryDirectory(prefix="qabot-precision-") as tmp:
        for corpus in corpora:
            settings = Settings(_env_file=None, index_dir=Path(tmp) / corpus, threads=threads)
            engine = Engine(settings, default_embedder(settings), reranker=recorder,
                            calibration=calibration)
            engine.rebuild([builtin_article() if corpus == ARTICLE else DATA / corpus])
            for name in (n for n in names if SETS[n][1] == corpus):
                questions = read_questions(SETS[name][0])
                log.info("%s: %d questions on %s", name, len(questions), corpus)
                for q in questions:
                    recorder.calls.clear()
                    seen.clear()
                    answer = engine.ask(q.question, doc=q.doc, top_k=10)
                    if not recorder.calls:  # nothing to read (no words to search)
                        continue
                    question, passages = recorder.calls[-1]
                    out.append(Listed(name, question, list(q.gold), passages, seen[-1],
                                      float(answer.confidence)))
    return out


def load(path: Path, *, refresh: bool = False, threads: int = 1) -> list[Listed]:
    """The lists cached at ``path`` (made by :func:`collect` when missing, stale or
    ``refresh``): stale when the shipped reranker or encoder export changed."""
    from index.modelling.onnx_runtime import ENCODER_EXPORT, EXPORT_FILE, RERANKER_EXPORT

    key = [json.loads((f / EXPORT_FILE).read_text(encoding="utf-8"))["onnx_sha256"]
           for f in (ENCODER_EXPORT, RERANKER_EXPORT)]
    if path.is_file() and not refresh:
        cached = json.loads(path.read_text(encoding="utf-8"))
        if cached.get("models") == key and set(cached.get("sets", [])) >= set(SETS):
            return [Listed(**row) for row in cached["lists"]]
    lists = collect(threads=threads)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"models": key, "sets": list(SETS),
                               "lists": [asdict(x) for x in lists]}), encoding="utf-8")
    tmp.replace(path)
    return lists


def engine_view(listed: Listed, rerank: np.ndarray, calibration: Calibration
                ) -> dict[str, Any]:
    """What the engine makes of a list with these reranker logits: its first candidate,
    whether that one holds the gold, and the verdict."""
    import numpy as np

    signals = {k: np.asarray(v, dtype=np.float32) for k, v in listed.signals.items()}
    signals["rerank"] = np.asarray(rerank, dtype=np.float32)
    logits = calibration.rank_logits(signals)
    best = np.argsort(-logits, kind="stable")
    top = {k: float(v[best[0]]) for k, v in signals.items()}
    top["margin"] = (float(logits[best[0]] - logits[best[1:]].max()) if len(logits) > 1
                     else 0.0)
    confidence = calibration.confidence_of(top)
    verdict = ("answer" if confidence >= calibration.threshold else
               "likely" if confidence >= calibration.likely_threshold else "decline")
    right = bool(listed.gold) and any(g in listed.passages[int(best[0])] for g in listed.gold)
    return {"top": int(best[0]), "right": right, "verdict": verdict, "confidence": confidence}


def tally(lists: Sequence[Listed], views: Sequence[dict[str, Any]]) -> dict[str, Counter[str]]:
    """Per set, the questions :func:`engine_view` answers right first ("right first") and
    its verdicts (``views[i]`` is what it made of ``lists[i]``)."""
    per_set: dict[str, Counter[str]] = defaultdict(Counter)
    for listed, view in zip(lists, views, strict=True):
        per_set[listed.set]["right first"] += view["right"]
        per_set[listed.set][view["verdict"]] += 1
    return per_set
