"""Fewer pairs for the reranker (issue 29): what the answers would be if it read only the
first N candidates of the first stage's order instead of ten, for N = 1 … 10.

    python -m benchmarks.depth                 # the lists of benchmarks.precision (cached)
    python -m benchmarks.depth --json PATH     # also save the figures

Each question's recorded list (``benchmarks.precision_lists``: the ten candidates the
engine hands the reranker, in the first stage's order, with the ranking's signals) is cut
to its first N, and the engine's ranking and verdict are recomputed on what is left
(``engine_view``: the same calibration, the margin to the runner-up among the N). With
N = 10 that is the engine's own answer. Printed per N: right first and the verdict counts
summed over the sets, the sets whose right first moves by more than one question, and the
pairs read (the reranker's cost is about linear in them). A measurement, not a setting.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from benchmarks.precision import BUILD
from benchmarks.precision_lists import Listed, bundled, engine_view, load, tally

DEPTHS = (1, 2, 3, 4, 5, 6, 8, 10)


def cut(listed: Listed, n: int) -> Listed:
    """The list as the reranker would read it at depth ``n``."""
    return replace(listed, passages=listed.passages[:n],
                   signals={k: v[:n] for k, v in listed.signals.items()})


def measure(lists: Sequence[Listed], depths: Sequence[int] = DEPTHS) -> dict[str, dict]:
    import numpy as np

    calibration = bundled()
    out: dict[str, dict] = {}
    for n in depths:
        short = [cut(listed, n) for listed in lists]
        views = [engine_view(x, np.asarray(x.signals["rerank"]), calibration) for x in short]
        out[str(n)] = {"pairs": sum(len(x.passages) for x in short),
                       "by_set": {s: dict(c) for s, c in tally(short, views).items()}}
    return out


def summary(result: dict[str, dict], questions: int) -> str:
    full = result[max(result, key=int)]["by_set"]
    rows = ["| depth | pairs a question | right first | answer / likely / decline | "
            "sets moved by more than one (right first) |", "|---|---|---|---|---|"]
    for n, r in result.items():
        by = r["by_set"]
        total: Counter[str] = sum((Counter(c) for c in by.values()), Counter())
        moved = sorted(f"{s} {full[s]['right first']}→{c['right first']}" for s, c in by.items()
                       if abs(c["right first"] - full[s]["right first"]) > 1)
        rows.append(f"| {n} | {r['pairs'] / questions:.2f} | {total['right first']} | "
                    f"{total['answer']} / {total['likely']} / {total['decline']} | "
                    f"{', '.join(moved) or '—'} |")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lists", type=Path, default=BUILD / "lists.json")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    lists = load(args.lists)
    result = measure(lists)
    print(f"{len(lists)} lists")
    print(summary(result, len(lists)))
    if args.json:
        aside = args.json.with_name(args.json.name + ".tmp")
        aside.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        aside.replace(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
