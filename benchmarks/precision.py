"""Lighter-precision rerankers against the shipped float32 one, on the real question sets
(issue 29).

    python -m benchmarks.precision                     # every export under build/precision
    python -m benchmarks.precision --variant NAME=DIR  # or these
    python -m benchmarks.precision --sensitivity groups  # which products move the logits

Each question of the spent sets (:data:`benchmarks.precision_lists.SETS`: the article sets
on the built-in article, the documentation sets on their corpora) is asked by the product's
engine, and the ten (question, sentence) pairs its reranker reads are recorded (cached in
``build/precision/lists.json``). Every list is then scored by the float32 export and by each
variant, one pair a run on one thread as the engine does, the variants taking turns list by
list (the order rotating), so the load of a shared machine falls on all alike. Reported per
variant: the share of lists whose best pair (the reranker's argmax) is the float32 one's,
the same for the engine's first candidate (the calibrated ranking with the variant's
logits), the logit differences, the Spearman correlation per list, the time per pair
against float32's in the same run, the file's size, and per set the questions answered
right first and the verdict counts. ``--sensitivity`` quantises each group of matrix
products alone and measures the logits it moves on pairs of the *training* side
(SQuAD 2.0 training subset of qa-train), never on the sets above.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.precision_lists import ROOT, Listed, bundled, engine_view, load, tally

log = logging.getLogger("benchmarks.precision")
BUILD = ROOT / "build" / "precision"
FLOAT = "float32"


def _reranker(folder: Path, threads: int = 1) -> Any:
    from index.modelling.onnx_runtime import OnnxReranker

    reranker = OnnxReranker(folder, calibration=bundled(), threads=threads, pinned="")
    reranker.load()
    return reranker


def discover(build: Path = BUILD) -> dict[str, Path]:
    from index.modelling.onnx_runtime import EXPORT_FILE, RERANKER_EXPORT

    found = {FLOAT: RERANKER_EXPORT}
    for folder in sorted(build.glob("*/")):
        if (folder / EXPORT_FILE).is_file():
            found[folder.name] = folder
    return found


def spearman(a: Any, b: Any) -> float:
    from scipy.stats import spearmanr

    rho = spearmanr(a, b).statistic
    return 1.0 if rho != rho else float(rho)  # constant lists (nan): no ranking to differ


def score_all(lists: Sequence[Listed], variants: dict[str, Path]
              ) -> tuple[dict[str, list[Any]], dict[str, float]]:
    """Every list scored by every variant, interleaved list by list; the logits and the
    seconds each variant spent."""
    import numpy as np

    rerankers = {name: _reranker(folder) for name, folder in variants.items()}
    names = list(rerankers)
    logits: dict[str, list[Any]] = {n: [] for n in names}
    seconds = dict.fromkeys(names, 0.0)
    for i, listed in enumerate(lists):
        turn = names[i % len(names):] + names[:i % len(names)]
        for name in turn:
            started = time.perf_counter()
            got = rerankers[name].score(listed.question, listed.passages)
            seconds[name] += time.perf_counter() - started
            logits[name].append(np.asarray(got, dtype=np.float64))
        if (i + 1) % 200 == 0:
            log.info("%d of %d lists scored", i + 1, len(lists))
    return logits, seconds


def compare(lists: Sequence[Listed], variants: dict[str, Path]) -> dict[str, Any]:
    import numpy as np

    logits, seconds = score_all(lists, variants)
    pairs = sum(len(x.passages) for x in lists)
    calibration = bundled()
    views = {n: [engine_view(x, lg, calibration) for x, lg in zip(lists, logits[n], strict=True)]
             for n in logits}
    # The engine's own answers (float32) are what engine_view makes of the float32 logits.
    off = [abs(v["confidence"] - x.confidence) for v, x in zip(views[FLOAT], lists, strict=True)]
    out: dict[str, Any] = {"lists": len(lists), "pairs": pairs,
                           "engine_view_max_confidence_diff": max(off),
                           "sets": dict(Counter(x.set for x in lists)), "variants": {}}
    for name, got in logits.items():
        diff = np.concatenate([np.abs(g - r) for g, r in zip(got, logits[FLOAT], strict=True)])
        same = [int(np.argmax(g)) == int(np.argmax(r))
                for g, r in zip(got, logits[FLOAT], strict=True)]
        same_engine = [v["top"] == f["top"] for v, f in zip(views[name], views[FLOAT],
                                                             strict=True)]
        rho = [spearman(g, r) for g, r in zip(got, logits[FLOAT], strict=True)]
        # How close float32 itself found the pair the variant put first, where they differ.
        gaps = [float(r.max() - r[int(np.argmax(g))])
                for g, r in zip(got, logits[FLOAT], strict=True) if r.max() > r[int(np.argmax(g))]]
        per_set = tally(lists, views[name])
        size = (variants[name] / "model.onnx").stat().st_size
        out["variants"][name] = {
            "folder": str(variants[name]), "size_mb": round(size / 1e6, 1),
            "ms_per_pair": 1000 * seconds[name] / pairs,
            "latency_ratio": seconds[name] / seconds[FLOAT],
            "top1_agreement": float(np.mean(same)), "top1_changed": len(same) - sum(same),
            "changed_float32_gap_median": float(np.median(gaps)) if gaps else 0.0,
            "engine_top1_agreement": float(np.mean(same_engine)),
            "mean_logit_diff": float(diff.mean()), "max_logit_diff": float(diff.max()),
            "spearman_mean": float(np.mean(rho)), "spearman_min": float(np.min(rho)),
            "per_set": {s: dict(c) for s, c in sorted(per_set.items())},
        }
    return out


def table(result: dict[str, Any]) -> str:
    rows = ["| variant | size MB | ms/pair | × float32 | top-1 same | engine top-1 same | "
            "logit diff mean / max | Spearman mean / min |", "|---|---|---|---|---|---|---|---|"]
    for name, v in result["variants"].items():
        rows.append(
            f"| {name} | {v['size_mb']:.1f} | {v['ms_per_pair']:.2f} | "
            f"{v['latency_ratio']:.2f} | {v['top1_agreement']:.1%} "
            f"({v['top1_changed']} changed) | {v['engine_top1_agreement']:.1%} | "
            f"{v['mean_logit_diff']:.3f} / {v['max_logit_diff']:.3f} | "
            f"{v['spearman_mean']:.3f} / {v['spearman_min']:.3f} |")
    rows.append("")
    names = list(result["variants"])
    rows.append("| set | " + " | ".join(f"{n}: right first, answer/likely/decline"
                                        for n in names) + " |")
    rows.append("|---" * (len(names) + 1) + "|")
    for s, count in result["sets"].items():
        cells = []
        for n in names:
            c = result["variants"][n]["per_set"][s]
            cells.append(f"{c.get('right first', 0)}, {c.get('answer', 0)}/"
                         f"{c.get('likely', 0)}/{c.get('decline', 0)}")
        rows.append(f"| {s} ({count}) | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def sensitivity(pairs_n: int = 300, *, cells: bool = False) -> list[tuple[str, float, float]]:
    """Each group of matrix products (:data:`training.quantise.GROUPS`, and each layer; or,
    with ``cells``, each group of each layer) quantised alone (dynamic int8, per channel):
    the logits it moves on training pairs."""
    import numpy as np
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from index.files import sha256_file
    from index.modelling.onnx_runtime import EXPORT_FILE, MODEL_FILE, RERANKER_EXPORT
    from training.quantise import GROUPS, in_groups, training_pairs

    source = RERANKER_EXPORT / MODEL_FILE
    pairs = training_pairs(pairs_n)
    by_q: dict[str, list[str]] = defaultdict(list)
    for q, p in pairs:
        by_q[q].append(p)
    reference = _reranker(RERANKER_EXPORT)
    expected = [reference.score(q, ps) for q, ps in by_q.items()]
    kinds = [g for g in GROUPS if g != "scores"]  # never quantised dynamically
    names = ([f"layer.{i}/{g}" for i in range(6) for g in kinds] if cells else
             [*GROUPS, *(f"layer.{i}" for i in range(6))])
    groups = {g: in_groups(source, [g]) for g in names}
    out = []
    with tempfile.TemporaryDirectory(prefix="qabot-sensitivity-") as tmp:
        folder = Path(tmp)
        shutil.copyfile(RERANKER_EXPORT / "tokenizer.json", folder / "tokenizer.json")
        info = json.loads((RERANKER_EXPORT / EXPORT_FILE).read_text(encoding="utf-8"))
        for group, nodes in groups.items():
            quantize_dynamic(str(source), str(folder / MODEL_FILE), weight_type=QuantType.QInt8,
                             per_channel=True, op_types_to_quantize=["MatMul"],
                             nodes_to_quantize=nodes)
            info["onnx_sha256"] = sha256_file(folder / MODEL_FILE)
            (folder / EXPORT_FILE).write_text(json.dumps(info), encoding="utf-8")
            got = _reranker(folder)
            diff = np.concatenate([np.abs(got.score(q, ps) - e)
                                   for (q, ps), e in zip(by_q.items(), expected, strict=True)])
            out.append((group, float(diff.mean()), float(diff.max())))
            log.info("%s (%d nodes): mean %.4f max %.4f", group, len(nodes), *out[-1][1:])
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.precision",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=DIR",
                        help="an export to measure (default: every one under build/precision)")
    parser.add_argument("--lists", type=Path, default=BUILD / "lists.json")
    parser.add_argument("--refresh", action="store_true", help="ask the sets again")
    parser.add_argument("--limit", type=int, default=0, help="only the first N lists")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--sensitivity", choices=["groups", "cells"],
                        help="quantise each group (or each layer's group) alone instead")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.sensitivity:
        print("| group quantised alone | logit diff mean | max |\n|---|---|---|")
        for group, mean, top in sensitivity(cells=args.sensitivity == "cells"):
            print(f"| {group} | {mean:.4f} | {top:.4f} |")
        return 0
    variants = discover()
    if args.variant:
        variants = {FLOAT: variants[FLOAT]}
        for spec in args.variant:
            name, _, folder = spec.partition("=")
            variants[name] = Path(folder)
    lists = load(args.lists, refresh=args.refresh)
    if args.limit:
        lists = lists[: args.limit]
    result = compare(lists, variants)
    print(f"{result['lists']} lists, {result['pairs']} pairs "
          f"({', '.join(f'{s} {n}' for s, n in result['sets'].items())})")
    print(f"engine_view against the engine's own confidences (float32): max difference "
          f"{result['engine_view_max_confidence_diff']:.2e}")
    print(table(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_name(args.json.name + ".tmp")
        tmp.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        tmp.replace(args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
