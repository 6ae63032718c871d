"""Regenerate the sample output in README.md from real runs of qabot, so it cannot go stale.

Each sample in the README is a marker comment naming a command, then a fenced block::

    <!-- sample: qabot ask "How long did the meeting last?" -->
    ```
    $ qabot ask "How long did the meeting last?"
    Answer [...]
    ```

This script runs every such command (``python -m bot ...`` from this checkout, with the
bundled models, on an index of the built-in article built in a temporary folder, with no
QABOT_ setting, no .env and NO_COLOR) and writes its output into the block.

    python scripts/readme_sample.py           # rewrite README.md (atomically)
    python scripts/readme_sample.py --check   # exit 1 and show the difference if stale
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SAMPLE = re.compile(r"^<!-- sample: (?P<command>qabot [^\n]*?) -->\n```\n(?P<block>.*?)^```$",
                    re.M | re.S)

# A REPL sample: ``<!-- sample-repl: Q1 | Q2 -->``, the questions typed in turn into
# ``qabot repl -k 1`` (one passage each), shown after its prompt.
REPL_SAMPLE = re.compile(r"^<!-- sample-repl: (?P<questions>[^\n]*?) -->\n```\n(?P<block>.*?)^```$",
                         re.M | re.S)
REPL_ARGS = ("repl", "-k", "1")

Run = Callable[..., str]  # (args, stdin text or None) -> stdout


def sample_commands(text: str) -> list[str]:
    """The commands of the README's samples, in order."""
    return [m["command"] for m in SAMPLE.finditer(text)]


def render_block(command: str, output: str) -> str:
    """A sample block's content: the command after a prompt, then what it printed."""
    return f"$ {command}\n{output.rstrip()}\n"


def update(text: str, run: Run) -> str:
    """``text`` with every sample block replaced by the output of its command now."""

    def fill(m: re.Match[str]) -> str:
        output = run(shlex.split(m["command"])[1:])
        return f"<!-- sample: {m['command']} -->\n```\n{render_block(m['command'], output)}```"

    def fill_repl(m: re.Match[str]) -> str:
        questions = [q.strip() for q in m["questions"].split(" | ")]
        output = run([*REPL_ARGS], "".join(f"{q}\n" for q in questions))
        # On a pipe the REPL prints no prompt: each answer ends with a blank line.
        answers = [a.strip("\n") for a in output.strip("\n").split("\n\n")]
        turns = "".join(f"qabot> {q}\n{a}\n" for q, a in zip(questions, answers, strict=True))
        return f"<!-- sample-repl: {m['questions']} -->\n```\n{turns}```"

    return REPL_SAMPLE.sub(fill_repl, SAMPLE.sub(fill, text))


FIGURES = re.compile(r"^<!-- figures -->\n.*?^<!-- /figures -->$", re.M | re.S)
RESULTS = ROOT / "docs" / "results"
# The benchmark figures the README shows (docs/results/app.json), by name.
SPEED = {  # name in app.json: (the README's label, what its floor is called, or "")
    "cold one-shot `qabot ask`, wall time": (
        "one-shot `qabot ask`, start to exit", "a bare python loading the same models for the "
        "same work"),
    "warm ask with reranking (depth 10), p50": (
        "a question in the REPL or the bot (warm, with reranking), p50",
        "the models' own inference"),
    "`qabot --help` wall time": ("`qabot --help` (no model loaded)", ""),
    "index build throughput (10,000 units)": (
        "index build (10,000 units)", "the encoder's `encode()` of the same texts"),
    "peak RSS of `qabot ask`": ("peak memory of `qabot ask`", "the bare models"),
}


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


# The sealed sets the README reports (scripts/quality.py measures them), with their labels.
SEALED = (("article_qa_sealed8", "article questions, sealed"),
          ("docs10_qa_sealed", "questions on documentation nothing was tuned on, sealed"))


# The sealed conversation set the README reports.
CONVERSATIONS = "conversations_sealed6"


def _conversation_row(s: dict[str, Any]) -> str:
    """The README's row for the sealed conversation set (one opening a conversation)."""
    turns = s["turns"]
    follow, opening, switch = turns["followup"], turns["opening"], turns["switch"]

    def share(row: dict[str, Any], key: str) -> str:
        return (f"{_pct(row[key] / max(row['answerable'], 1))} (asked alone "
                f"{_pct(row[key + '_alone'] / max(row['answerable'], 1))})")

    return (f"| follow-up questions, sealed ({opening['questions']} conversations: "
            f"{follow['answerable']} answerable follow-ups, {follow['unanswerable']} "
            f"unanswerable; nothing tuned on them) | follow-ups right first "
            f"{share(follow, 'right_first')}, helpful {share(follow, 'helpful')}; "
            f"unanswerable follow-ups given `answer` "
            f"{_pct(follow['unanswerable_answer'] / max(follow['unanswerable'], 1))}; "
            f"openings right first {opening['right_first']} of {opening['answerable']} "
            f"(alone {opening['right_first_alone']}), subject changes {switch['right_first']} "
            f"of {switch['answerable']} (alone {switch['right_first_alone']}) |")


def _quality_rows(data: dict[str, Any]) -> list[str]:
    sets = {s["name"]: s for s in data["sets"]}
    rows = []
    for name, label in SEALED:
        if name not in sets:
            continue
        s = sets[name]
        extra = (f", off-topic `unknown` {_pct(s['offtopic_unknown'])}"
                 if "offtopic_unknown" in s else "")
        rows.append(f"| {label} ({s['questions']}: {s['answerable']} answerable; nothing tuned "
                    f"on them) | right first {_pct(s['right_first'])}, helpful (right first, "
                    f"`answer` or `likely`) {_pct(s['helpful'])}, confidently wrong "
                    f"{_pct(s['confidently_wrong'])}, close-topic unanswerable given `answer` "
                    f"{_pct(s.get('close_answer', 0.0))}{extra} |")
    phrased = [sets[name]["phrases"] for name, _ in SEALED
               if name in sets and "phrases" in sets[name]]
    if phrased:
        total = {k: sum(p[k] for p in phrased) for k in phrased[0]}
        share = total["shown_right_first"] / max(total["right_first"], 1)
        rows.append(f"| the phrase that answers, on the same sealed sets (phrases written "
                    f"before training) | shown for {_pct(share)} "
                    f"of the right-first answers ({total['shown_right_first']} of "
                    f"{total['right_first']}); right (token F1 ≥ 0.5 against the written "
                    f"phrase) {total['right']} of {total['shown']} shown |")
    if CONVERSATIONS in sets:
        rows.append(_conversation_row(sets[CONVERSATIONS]))
    if "wikiqa" in sets:
        s = sets["wikiqa"]
        rows.append(f"| WikiQA dev half ({s['questions']} questions; not tuned on by the "
                    f"reranker or the verdicts) | MAP {s['map']:.3f}, answer-triggering F1 "
                    f"{s['f1_answer']:.3f} (`answer`) / {s['f1_answer_or_likely']:.3f} "
                    f"(`answer` or `likely`) |")
    tuned = [sets[n] for n in ("article_qa_sealed5", "docs5_qa_sealed", "article_qa")
             if n in sets]
    if tuned:
        rows.append("| the sets the verdicts were fitted on (cross-validated there; "
                    "in-sample here) | " + "; ".join(
                        f"{s['name']}: right first {_pct(s['right_first'])}, helpful "
                        f"{_pct(s['helpful'])}" for s in tuned) + " |")
    return rows


def _speed_rows(data: dict[str, Any]) -> list[str]:
    rows = []
    for figure in data["figures"]:
        if figure["name"] not in SPEED:
            continue
        label, floor = SPEED[figure["name"]]
        value = f"{figure['value']:,.0f}" if figure["value"] >= 100 else f"{figure['value']:.2f}"
        against = f" ({figure['ratio']:.2f}× {floor})" if floor and figure.get("ratio") else ""
        rows.append(f"| {label} | {value} {figure['unit']}{against} |")
    return rows


def figures(results: Path = RESULTS) -> str:
    """The README's figures table, from the results the quality and benchmark runs wrote."""
    lines = ["| what | measured |", "|---|---|"]
    quality = results / "quality.json"
    if quality.is_file():
        data = json.loads(quality.read_text(encoding="utf-8"))
        lines += _quality_rows(data)
    app = results / "app.json"
    if app.is_file():
        lines += _speed_rows(json.loads(app.read_text(encoding="utf-8")))
    dates = []
    for name in ("quality.json", "app.json"):
        if (results / name).is_file():
            date = json.loads((results / name).read_text(encoding="utf-8"))["date"][:10]
            dates.append(f"{name} {date}")
    lines.append("")
    lines.append(f"(measured: {', '.join(dates)})")
    return "\n".join(lines)


def update_figures(text: str, results: Path = RESULTS) -> str:
    """``text`` with its figures block made anew from ``results``."""
    return FIGURES.sub(lambda m: f"<!-- figures -->\n{figures(results)}\n<!-- /figures -->",
                       text)


def real_runner(workdir: Path) -> Run:
    """Run ``qabot ARGS`` from this checkout in a clean environment; return its stdout."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("QABOT_") and k not in {"DISCORD_TOKEN", "COLUMNS"}}
    env.update(NO_COLOR="1", PYTHONPATH=str(ROOT), QABOT_INDEX_DIR=str(workdir / "index"))

    def run(args: list[str], stdin: str | None = None) -> str:
        done = subprocess.run([sys.executable, "-m", "bot", *args], cwd=workdir, env=env,
                              input=stdin, capture_output=True, text=True, timeout=300,
                              check=False)
        if done.returncode != 0:
            raise SystemExit(f"readme_sample: qabot {shlex.join(args)} exited "
                             f"{done.returncode}: {done.stderr.strip()}")
        return done.stdout

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 when README.md is out of date")
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args(argv)
    text = args.readme.read_text(encoding="utf-8")
    if not sample_commands(text):
        print(f"readme_sample: no sample markers in {args.readme}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="qabot-readme-") as tmp:
        new = update_figures(update(text, real_runner(Path(tmp))))
    if new == text:
        print(f"{args.readme}: samples up to date")
        return 0
    if args.check:
        sys.stdout.writelines(difflib.unified_diff(text.splitlines(True), new.splitlines(True),
                                                   "README.md", "README.md (regenerated)"))
        print(f"{args.readme}: samples are stale; run python scripts/readme_sample.py",
              file=sys.stderr)
        return 1
    aside = args.readme.with_name(f".{args.readme.name}.tmp")
    aside.write_text(new, encoding="utf-8")
    os.replace(aside, args.readme)  # atomic: the README is never half-written
    print(f"{args.readme}: samples regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
