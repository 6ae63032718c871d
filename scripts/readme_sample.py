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
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SAMPLE = re.compile(r"^<!-- sample: (?P<command>qabot [^\n]*?) -->\n```\n(?P<block>.*?)^```$",
                    re.M | re.S)

Run = Callable[[list[str]], str]


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

    return SAMPLE.sub(fill, text)


def real_runner(workdir: Path) -> Run:
    """Run ``qabot ARGS`` from this checkout in a clean environment; return its stdout."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("QABOT_") and k not in {"DISCORD_TOKEN", "COLUMNS"}}
    env.update(NO_COLOR="1", PYTHONPATH=str(ROOT), QABOT_INDEX_DIR=str(workdir / "index"))

    def run(args: list[str]) -> str:
        done = subprocess.run([sys.executable, "-m", "bot", *args], cwd=workdir, env=env,
                              capture_output=True, text=True, timeout=300, check=False)
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
        new = update(text, real_runner(Path(tmp)))
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
