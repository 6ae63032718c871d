"""The extra cost of a follow-up: each follow-up of a conversation file, asked warm in its
conversation (after its earlier turns, which are not timed) and alone, the median of
``--repeat`` runs each.

    python -m benchmarks.conversation tests/data/conversations.jsonl --index-dir DIR

Prints a row per follow-up (ms in its conversation, ms alone, the difference) and the
medians. The index must hold the file's documents (see tests/data/README-conversations.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    from bot.app import get_settings, open_engine
    from index.answering.conversation import Conversation

    engine = open_engine(get_settings(index_dir=args.index_dir), build_missing=False,
                         warm=True)
    turns: dict[str, list[dict[str, Any]]] = {}
    for line in args.file.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            turns.setdefault(row["conversation"], []).append(row)
    for rows in turns.values():  # warm: every question once
        for row in rows:
            engine.ask(row["question"])

    print(f"{'in conv.':>9} {'alone':>7} {'extra':>7}  question (ms, median of {args.repeat})")
    extras, inside, alone_all = [], [], []
    for rows in turns.values():
        for n, row in enumerate(rows):
            if row["kind"] != "followup":
                continue
            timed_in, timed_alone = [], []
            for _ in range(args.repeat):
                talk = Conversation()
                for earlier in rows[:n]:
                    engine.ask(earlier["question"], conversation=talk)
                start = time.perf_counter()
                answer = engine.ask(row["question"], conversation=talk)
                timed_in.append(time.perf_counter() - start)
                start = time.perf_counter()
                engine.ask(row["question"])
                timed_alone.append(time.perf_counter() - start)
            a, b = statistics.median(timed_in) * 1000, statistics.median(timed_alone) * 1000
            inside.append(a)
            alone_all.append(b)
            extras.append(a - b)
            mark = "" if answer.follows else "  (asked alone)"
            print(f"{a:>9.1f} {b:>7.1f} {a - b:>+7.1f}  {row['question'][:60]}{mark}")
    print(f"median: in conversation {statistics.median(inside):.1f} ms, alone "
          f"{statistics.median(alone_all):.1f} ms, extra {statistics.median(extras):+.1f} ms "
          f"(max {max(extras):+.1f} ms) over {len(extras)} follow-ups")


if __name__ == "__main__":
    main()
