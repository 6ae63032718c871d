"""The Discord bot: a ``commands.Bot`` that owns a loaded engine, and ``run`` to start it.

With ``QABOT_DISCORD_SHARDS`` set the bot is an ``AutoShardedBot`` (:class:`ShardedQABot`):
one process holding several gateway connections, or, with "I,J/N", this process's share of
N shards, the others run elsewhere (docs/scaling.md).

``run`` checks the token, loads the model and the index, then connects: the first question
is answered at full speed and a broken index is reported before the bot goes online. SIGTERM
(what hosts send to stop a service) stops it cleanly: new questions are refused, those in
flight are answered (for up to :data:`SHUTDOWN_GRACE` seconds), the gateway is closed and
the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.cogs.errors import ShuttingDown, report
from bot.discord_format import NO_PINGS
from config import EXIT_DATA, EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    from config import Settings
    from index import Engine

log = logging.getLogger(__name__)

# One cog per feature, each added by its module's ``setup`` (discord.py's extension entry
# point). They are named, not imported here: a cog refers to this module only for typing,
# so the bot and its cogs do not import each other in a circle.
COGS = ("bot.cogs.errors", "bot.cogs.asking", "bot.cogs.admin", "bot.cogs.info",
        "bot.cogs.votes")
SHUTDOWN_GRACE = 10.0  # seconds the work in flight gets to finish when the bot is stopped

NO_TOKEN = ("no Discord token: set QABOT_DISCORD_TOKEN (or DISCORD_TOKEN) in the environment "
            "or in a .env file; see docs/discord.md")


def make_intents(settings: Settings) -> discord.Intents:
    """The gateway intents: servers and messages; none privileged unless the prefix is on."""
    intents = discord.Intents.none()
    intents.guilds = True  # the server and role cache (permissions for !reindex)
    intents.guild_messages = True  # mentions and prefix commands in channels
    intents.dm_messages = True  # and in direct messages
    intents.message_content = settings.discord_message_content
    return intents


class QABot(commands.Bot):
    """The qabot Discord bot; cogs reach the engine and settings through it."""

    def __init__(self, engine: Engine, settings: Settings, *, sync: bool = False,
                 **options: Any) -> None:
        # Without the message-content intent Discord sends no text for messages that do not
        # mention the bot, so a prefix would never match: listen for mentions only.
        prefix: str | list[str] = (settings.discord_prefix if settings.discord_message_content
                                   else [])
        super().__init__(command_prefix=prefix, intents=make_intents(settings),
                         allowed_mentions=NO_PINGS, help_command=None, **options)
        self.engine = engine
        self.settings = settings
        self.sync_globally = sync
        self.stopping = False
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._stop_task: asyncio.Task[None] | None = None

    async def setup_hook(self) -> None:
        # Imported, not ``load_extension``-ed: that would run each module afresh for every
        # bot, giving each its own copy of the cog classes (and the vote button's).
        for name in COGS:
            await importlib.import_module(name).setup(self)
        await self.sync_commands()

    async def sync_commands(self) -> None:
        """Sync slash commands to the dev guild, or globally when asked; else leave them."""
        guild_id = self.settings.discord_guild_id
        shard_ids = getattr(self, "shard_ids", None)
        if shard_ids is not None and 0 not in shard_ids:
            # Commands belong to the application, not to a shard: one process syncs them.
            log.info("slash commands not synced here: the process running shard 0 syncs them")
            return
        if guild_id is None and not self.sync_globally:
            log.info("slash commands not synced: run `qabot discord --sync` once, or set "
                     "QABOT_DISCORD_GUILD_ID for a development server")
            return
        guild = discord.Object(id=guild_id) if guild_id is not None else None
        where = f"to guild {guild_id}" if guild is not None else "globally"
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        try:
            synced = await self.tree.sync(guild=guild)
        except discord.HTTPException as exc:
            # Mentions still work: report and go on rather than refuse to start.
            log.error("could not sync slash commands %s (HTTP %s): is the bot in that server, "
                      "invited with the applications.commands scope?", where, exc.status)
            return
        log.info("synced %d slash commands %s%s", len(synced), where,
                 "" if guild else " (Discord may take up to an hour to show them)")

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        """Count one answer or rebuild in flight; refuse it once the bot is stopping."""
        if self.stopping:
            raise ShuttingDown
        self._in_flight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    async def stop(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Refuse new work, let the work in flight finish (up to ``grace`` s), then close."""
        if self.stopping:
            return
        self.stopping = True
        log.info("stopping: %d answer(s) or rebuild(s) in flight", self._in_flight)
        try:
            await asyncio.wait_for(self._idle.wait(), grace)
        except TimeoutError:
            log.warning("closing with %d answer(s) or rebuild(s) unfinished after %.0f s (an "
                        "unfinished rebuild leaves the old index in place)",
                        self._in_flight, grace)
        await self.close()

    def request_stop(self, signame: str) -> None:
        """Signal handler: stop the bot cleanly (the task is kept until it is done)."""
        log.info("%s received: finishing the work in flight, then closing the gateway",
                 signame)
        if self._stop_task is None:
            self._stop_task = asyncio.create_task(self.stop())

    async def on_ready(self) -> None:
        log.info("connected as %s (id %s) to %d servers", self.user,
                 self.user.id if self.user else "?", len(self.guilds))

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        """Report errors in event listeners (mention asking) like command errors."""
        error = sys.exc_info()[1]
        message = args[0] if args and isinstance(args[0], discord.Message) else None
        if error is None or message is None:
            await super().on_error(event_method, *args, **kwargs)
            return

        async def send(text: str) -> None:
            await message.reply(text, mention_author=False, allowed_mentions=NO_PINGS)

        await report(error, send, event_method)


class ShardedQABot(QABot, commands.AutoShardedBot):
    """The bot on several gateway connections (``QABOT_DISCORD_SHARDS``): all of them in
    this process ("auto", or a count), or this process's shard ids of a count ("0,1/4")."""

    def __init__(self, engine: Engine, settings: Settings, *, sync: bool = False) -> None:
        count, ids = settings.shards or (None, None)
        super().__init__(engine, settings, sync=sync, shard_count=count, shard_ids=ids)

    def describe_shards(self) -> str:
        """Which shards this process runs, for the "connecting" line and the logs."""
        if self.shard_count is None:
            return "as many shards as Discord recommends"
        if self.shard_ids is None:
            return f"all {self.shard_count} shards"
        ids = ", ".join(str(i) for i in self.shard_ids)
        return f"shard{'s' if len(self.shard_ids) > 1 else ''} {ids} of {self.shard_count}"

    async def on_shard_ready(self, shard_id: int) -> None:
        log.info("shard %d of %s connected", shard_id, self.shard_count)


def make_bot(engine: Engine, settings: Settings, *, sync: bool = False) -> QABot:
    """The bot the settings ask for: sharded when ``QABOT_DISCORD_SHARDS`` is set."""
    if settings.shards is None:
        return QABot(engine, settings, sync=sync)
    return ShardedQABot(engine, settings, sync=sync)


def _open_engine(settings: Settings) -> Engine:
    """Load the engine as the CLI does: the default index is built when missing."""
    from bot.app import open_engine

    return open_engine(settings, warm=True)


def _error(message: str) -> None:
    from bot.safe_text import safe_text

    print(f"qabot: error: {safe_text(message, one_line=True)}", file=sys.stderr)


def run(settings: Settings, *, sync: bool = False,
        engine_factory: Callable[[Settings], Engine] | None = None) -> int:
    """Check the token, load the engine, then run the bot until it stops; return an exit code.

    Args:
        sync: sync slash commands globally (only when no development guild is configured).
        engine_factory: builds the engine from the settings (tests pass a fake one).
    """
    secret = settings.discord_token
    token = secret.get_secret_value().strip() if secret is not None else ""
    if not token:
        _error(NO_TOKEN)
        return EXIT_USAGE
    from bot.user_files import vote_file_problem

    problem = vote_file_problem(settings.votes_path)
    if problem is not None:  # said now, not at every vote
        _error(f"cannot record votes in {settings.votes_path}: {problem}; set "
               "QABOT_DISCORD_VOTES_FILE to a file qabot can write")
        return EXIT_DATA
    engine = (engine_factory or _open_engine)(settings)
    # qabot has no voice: spare the operator discord.py's warnings about voice libraries.
    discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
    bot = make_bot(engine, settings, sync=sync)
    shards = f", {bot.describe_shards()}" if isinstance(bot, ShardedQABot) else ""
    print(f"qabot: connecting to Discord with an index of {len(engine.data.units)} units"
          f"{shards} (Ctrl-C to stop)", file=sys.stderr)
    try:
        asyncio.run(_serve(bot, token))
    except KeyboardInterrupt:
        log.info("interrupted: disconnected from Discord")
        return EXIT_OK
    except discord.LoginFailure:
        _error("Discord refused the token (login failed): check QABOT_DISCORD_TOKEN or "
               "DISCORD_TOKEN, or get a new one in the developer portal (Bot → Reset Token)")
        return EXIT_DATA
    except discord.PrivilegedIntentsRequired:
        _error("Discord refused the message-content intent: enable it for the bot in the "
               "developer portal, or unset QABOT_DISCORD_MESSAGE_CONTENT")
        return EXIT_DATA
    except discord.HTTPException as exc:
        _error(f"Discord refused the connection (HTTP {exc.status})")
        return EXIT_DATA
    except (OSError, discord.GatewayNotFound) as exc:
        _error(f"cannot reach Discord: {exc}")
        return EXIT_DATA
    log.info("disconnected from Discord; stopped")
    return EXIT_OK


async def _serve(bot: QABot, token: str) -> None:
    """Run the bot until it is closed, as ``bot.run`` would; SIGTERM stops it cleanly."""
    loop = asyncio.get_running_loop()
    # No handler on a loop without signal support (Windows) or off the main thread.
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, bot.request_stop, "SIGTERM")
    try:
        async with bot:
            await bot.start(token)
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGTERM)
