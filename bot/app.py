"""The wiring every way into qabot shares: settings, logging and an opened engine.

The CLI commands, the REPL (through ``qabot repl``) and the Discord bot all start here, so
this module imports nothing of theirs: it used to live in ``bot/cli.py``, which
``bot/discord_bot.py`` then had to import back (an import circle). Only click is imported
at start-up; pydantic, numpy, faiss and the models are imported by the functions that need
them, so ``--help`` stays instant.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from config import Settings
    from index import Engine, Purpose

__all__ = ["get_settings", "notify", "open_engine", "setup_logging"]

# discord.py's format without its colours (what it uses itself on a stream it won't colour).
DISCORD_LOG_FORMAT = "[{asctime}] [{levelname:<8}] {name}: {message}"


class VisibleControls(logging.Filter):
    """Write the control characters of a log message out as escapes: a file name or a
    question with escape sequences in it must not act on the terminal showing the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        from bot.safe_text import visible_controls

        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # bad arguments: the handler reports them itself
            return True
        shown = visible_controls(message)
        if shown != message:
            record.msg, record.args = shown, None
        return True


def setup_logging(level: str, *, discord_style: bool = False) -> None:
    """Configure logging once, for the whole process, on stderr.

    ``discord_style``: through discord.py's own setup (what ``bot.run`` would do), for the bot,
    in colour only on a terminal and never with NO_COLOR: discord.py colours whenever it runs
    in Docker (``/.dockerenv``), so every container log, piped or in a file, would carry the
    escape codes.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(VisibleControls())
    if discord_style:
        import discord

        from bot.render import wants_color

        # MISSING: discord.py's own choice, its colour formatter on a terminal.
        formatter = discord.utils.MISSING if wants_color(sys.stderr) else logging.Formatter(
            DISCORD_LOG_FORMAT, "%Y-%m-%d %H:%M:%S", style="{")
        discord.utils.setup_logging(handler=handler, formatter=formatter,
                                    level=getattr(logging, level, logging.INFO))
    else:
        logging.basicConfig(level=getattr(logging, level, logging.WARNING), handlers=[handler],
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("sentence_transformers", "transformers", "bm25s", "httpx", "urllib3", "filelock",
                  "faiss"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.root.level))


def get_settings(**overrides: Any) -> Settings:
    """Load settings (env, .env, CLI overrides) and configure logging from them."""
    from config import load_settings
    from index import check_index_path

    settings = load_settings(**{k: v for k, v in overrides.items() if v is not None})
    if not logging.root.handlers:
        setup_logging(settings.log_level)
    check_index_path(settings.index_dir)  # the folder every command then uses
    return settings


def open_engine(settings: Settings, *, doc: str | None = None, build_missing: bool = True,
                warm: bool = False, purpose: Purpose = "answer", prefetch: bool = True
                ) -> Engine:
    """Check the index (the one preflight, before any model loads), open the model and the
    index; build the index first when it is missing (unless ``build_missing`` is False).

    ``doc``: the document the question is asked of, refused now when the index lacks it.
    ``warm``: load the models now, saying so (the REPL and the bot, before their prompt or
    connecting); otherwise they load on the first question. ``purpose`` "build": bulk work
    (``--batch``), on every core unless QABOT_THREADS says otherwise. ``prefetch`` False:
    no model starts loading with the index (``eval``, which may still refuse its question
    set once it has read the index, and exits then with nothing loading).
    """
    from pathlib import Path

    from index import Engine, default_embedder, default_reranker, preflight, read_manifest

    must_build = preflight(settings, doc)
    if must_build and not build_missing:
        read_manifest(Path(settings.index_dir))  # "no index at …; build one with …"
        must_build = False
    engine = Engine(settings, default_embedder(settings, purpose),
                    reranker=default_reranker(settings, purpose))
    if must_build:
        engine.load_or_build(notify=notify)
    else:
        if prefetch:
            engine.prefetch()  # the models load while the index is read
        try:
            engine.load()
        except BaseException:  # a damaged index: exit only once the models stopped loading
            engine.finish_loading()
            raise
    if warm:
        click.echo(f"qabot: loading {engine.describe_models()}...", err=True)
        engine.warm_up()
    return engine


def notify(message: str) -> None:
    """Say ``message`` on stderr as one line; the file names in it are shown, not obeyed
    (their control characters written out as escapes)."""
    from bot.safe_text import visible_controls

    click.echo(f"qabot: {visible_controls(message)}", err=True)

