"""What the round 4 fault tests (issue 32) share: the CLI run in a process of its own with
the fake models, under a time limit and a home folder of the test's own."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60
# The CLI with the fake models: no model loads, so what a run does is the fault's.
FAKE_CLI = textwrap.dedent("""
    import index.answering.configured
    from tests.fakes import FakeEmbedder, FakeReranker
    index.answering.configured.default_embedder = lambda settings, *_: FakeEmbedder()
    index.answering.configured.default_reranker = lambda settings, *_: FakeReranker()
    from bot.cli import main
    main()
""")


def environment(cwd: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a run: no QABOT_ settings but ``env``'s, HOME and the XDG folders
    inside ``cwd`` (a default index is never the user's), the worktree first on the path."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("QABOT_")}
    home = cwd / "home"
    return {**base, "PYTHONPATH": str(ROOT), "HOME": str(home),
            "XDG_DATA_HOME": str(home / "data"), "XDG_CACHE_HOME": str(home / "cache"),
            **(env or {})}


def qabot(cwd: Path, *args: str | bytes, env: dict[str, str] | None = None,
          fake: bool = True, timeout: float = TIMEOUT, prefix: list[str] | None = None,
          **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run ``qabot ARGS`` in a process of its own (with the fake models unless not
    ``fake``; ``prefix``: a command that runs it, such as setpriv); a hang fails the test
    instead of blocking it."""
    command = [*(prefix or []),
               *([sys.executable, "-c", FAKE_CLI] if fake else [sys.executable, "-m", "bot"])]
    if "stdout" not in kwargs:
        kwargs.setdefault("capture_output", True)
    else:
        kwargs.setdefault("stderr", subprocess.PIPE)
    try:
        return subprocess.run([*command, *args], cwd=cwd, env=environment(cwd, env),
                              text=True, errors="replace", timeout=timeout, check=False,
                              **kwargs)
    except subprocess.TimeoutExpired:
        pytest.fail(f"qabot {args!r} still running after {timeout} s")


def one_line(proc: subprocess.CompletedProcess[str], code: int) -> str:
    """Assert a failure with exit ``code``, one ``qabot: error:`` line on stderr and no
    traceback; return the line."""
    assert proc.returncode == code, (proc.returncode, proc.stdout[-1000:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("qabot: error: "), proc.stderr[-2000:]
    return lines[0]
