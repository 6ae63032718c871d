"""bot/app.py: the one home of the wiring that the CLI, the REPL and the bot share."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import bot.app
import bot.cli
import bot.discord_bot

ROOT = Path(__file__).resolve().parents[2]
WIRING = {"get_settings", "open_engine", "setup_logging"}


def test_the_cli_uses_the_wiring_from_bot_app() -> None:
    for name in WIRING:
        assert getattr(bot.cli, name) is getattr(bot.app, name), name


def _imports_from(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {alias.name for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == module
            for alias in node.names}


def test_nothing_imports_the_wiring_from_the_cli() -> None:
    """The bot once imported it from bot/cli.py, which imports the bot: an import circle."""
    offenders = {str(p.relative_to(ROOT)): sorted(_imports_from(p, "bot.cli") & WIRING)
                 for folder in ("bot", "benchmarks") for p in (ROOT / folder).rglob("*.py")}
    assert {p: names for p, names in offenders.items() if names} == {}
    assert _imports_from(ROOT / "bot" / "discord_bot.py", "bot.app") >= {"open_engine"}


def test_the_discord_bot_opens_its_engine_without_importing_the_cli() -> None:
    code = ("import sys, bot.discord_bot, bot.app\n"
            "bot.app.open_engine = lambda settings, **kw: f'engine {sorted(kw.items())}'\n"
            "print(bot.discord_bot._open_engine(None))\n"
            "print(int('bot.cli' in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, env=_env())
    assert out.stdout.splitlines() == [
        "engine [('warm', True)]", "0"], out.stderr[-500:]


def test_importing_the_wiring_loads_no_heavy_module() -> None:
    """``qabot --help`` imports bot.app: pydantic, numpy, faiss, torch and discord must wait."""
    heavy = ["pydantic", "numpy", "faiss", "torch", "discord", "onnxruntime"]
    code = (f"import sys, bot.app; print(__import__('json').dumps("
            f"[m for m in {heavy!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True, env=_env())
    assert json.loads(out.stdout) == []


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONPATH": str(ROOT)}
