"""Discord test helpers: a bot on the fake engine, dpytest wiring and a small fake interaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import discord
import discord.ext.test as dpytest
import pytest
import pytest_asyncio
from discord import app_commands
from discord.ext import commands
from discord.ext.commands.hybrid import HybridAppCommand
from discord.ext.commands.view import StringView

from bot.discord_bot import QABot

# The fake embedder answers this with the "two hours and 15 minutes" sentence.
FAKE_QUESTION = "How many hours did the meeting last in Hamburg?"


@dataclass
class Sent:
    """One thing the bot sent through a fake interaction."""

    content: str | None
    kwargs: dict[str, Any]

    @property
    def embed(self) -> discord.Embed | None:
        return self.kwargs.get("embed")

    @property
    def description(self) -> str:
        return description(self.embed)

    @property
    def ephemeral(self) -> bool:
        return bool(self.kwargs.get("ephemeral"))


@dataclass
class FakeResponse:
    """Records ``defer`` and ``send_message``, and knows when it was used."""

    deferred: dict[str, Any] | None = None
    sent: list[Sent] = field(default_factory=list)

    def is_done(self) -> bool:
        return self.deferred is not None or bool(self.sent)

    async def defer(self, **kwargs: Any) -> None:
        assert not self.is_done(), "responded twice to one interaction"
        self.deferred = kwargs

    async def send_message(self, content: str | None = None, **kwargs: Any) -> Any:
        assert not self.is_done(), "responded twice to one interaction"
        self.sent.append(Sent(content, kwargs))
        return SimpleNamespace(resource=None)  # what Context.send reads of the callback's


@dataclass
class FakeFollowup:
    sent: list[Sent] = field(default_factory=list)

    async def send(self, content: str | None = None, **kwargs: Any) -> None:
        self.sent.append(Sent(content, kwargs))


@dataclass
class FakeUser:
    id: int = 1001
    name: str = "asker"
    guild_permissions: discord.Permissions = field(default_factory=discord.Permissions.none)


@dataclass
class FakeInteraction:
    """Just what the cogs and the error handler use of a ``discord.Interaction``."""

    user: FakeUser = field(default_factory=FakeUser)
    command: Any = None
    channel: Any = None  # where it was used (None: the cogs ask without a conversation)
    response: FakeResponse = field(default_factory=FakeResponse)
    followup: FakeFollowup = field(default_factory=FakeFollowup)

    @property
    def replies(self) -> list[Sent]:
        """Everything sent, in order: the response, then the follow-ups."""
        return [*self.response.sent, *self.followup.sent]

    def is_expired(self) -> bool:
        return False

    async def original_response(self) -> None:
        return None


def hybrid_context(bot: commands.Bot, interaction: FakeInteraction,
                   command: commands.Command[Any, Any, Any]) -> commands.Context[Any]:
    """The context discord.py makes for a hybrid command used as a slash command
    (``Context.from_interaction``), around a fake interaction: its message is the user's."""
    message = SimpleNamespace(author=interaction.user, channel=interaction.channel,
                              guild=None, to_reference=lambda **_: None, _state=None)
    return commands.Context(message=message, bot=bot, view=StringView(""),  # type: ignore[arg-type]
                            interaction=interaction, command=command)  # type: ignore[arg-type]


async def call(bot: commands.Bot, name: str, interaction: FakeInteraction, **options: Any
               ) -> None:
    """Run a slash command's callback the way the command tree would, minus Discord.

    A hybrid command's callback gets a context, and its error reaches ``on_command_error``
    wrapped twice, as discord.py hands it over (HybridAppCommand._invoke_with_namespace).
    """
    command = bot.tree.get_command(name)
    assert isinstance(command, app_commands.Command)
    interaction.command = command
    if isinstance(command, HybridAppCommand):
        wrapped = command.wrapped
        ctx = hybrid_context(bot, interaction, wrapped)
        try:
            await wrapped.callback(wrapped.cog, ctx, **options)  # type: ignore[arg-type]
        except Exception as exc:
            error = commands.HybridCommandError(app_commands.CommandInvokeError(command, exc))
            handler = bot.get_cog("ErrorHandler")
            await handler.on_command_error(ctx, error)  # type: ignore[union-attr]
        return
    try:
        await command.callback(command.binding, interaction, **options)  # type: ignore[arg-type]
    except Exception as exc:  # the tree hands callback errors to its error handler
        await bot.tree.on_error(interaction,  # type: ignore[arg-type]
                                app_commands.CommandInvokeError(command, exc))


def description(embed: discord.Embed | None) -> str:
    """The description of an embed that must be there."""
    assert embed is not None, "no embed was sent"
    return embed.description or ""


def embed_text(embed: discord.Embed) -> str:
    """All the text of an embed (title, description, fields, footer)."""
    parts = [embed.title or "", embed.description or ""]
    parts += [f"{f.name}\n{f.value}" for f in embed.fields]
    parts.append(embed.footer.text or "")
    return "\n".join(parts)


MakeBot = Callable[..., Awaitable[QABot]]


@pytest.fixture
def make_bot(fake_engine: Any, settings: Any) -> MakeBot:
    """Build a QABot on an engine (the fake one by default) with settings overrides; cogs loaded.

    The bot never logs in, so there is no connection to close.
    """

    async def make(engine: Any = None, **overrides: Any) -> QABot:
        bot = QABot(engine or fake_engine, settings.model_copy(update=overrides))
        await bot.setup_hook()
        return bot

    return make


@pytest_asyncio.fixture
async def dpy(make_bot: MakeBot) -> AsyncIterator[Callable[..., Awaitable[QABot]]]:
    """Start a QABot under dpytest (one guild, one channel, two members)."""

    async def start(engine: Any = None, **overrides: Any) -> QABot:
        bot = await make_bot(engine, **overrides)
        await bot._async_setup_hook()
        # dpytest replaces the connection state, dropping the bot-wide allowed_mentions: what
        # reaches its fake HTTP layer is what each send passes itself (stricter than Discord).
        # dpytest finds mentioned members in the member cache, which real Discord does not
        # need (a message carries its mentions) and QABot does not fill (no members intent).
        bot._connection._intents.members = True
        bot._connection.member_cache_flags = discord.MemberCacheFlags.from_intents(
            bot._connection._intents)
        views = bot._connection._view_store  # the persistent buttons registered at set-up
        dpytest.configure(bot, members=2)
        # dpytest's new connection state has no loop (discord.py's typing indicator needs
        # one) and none of the buttons the bot registered on the real one.
        bot._connection.loop = asyncio.get_running_loop()
        bot._connection._view_store = views
        return bot

    yield start
    await dpytest.empty_queue()


@pytest.fixture
def payloads(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The JSON payloads of messages sent through channels (what Discord would receive)."""
    import discord.abc
    import discord.http

    seen: list[dict[str, Any]] = []
    real = discord.http.handle_message_parameters

    def spy(*args: Any, **kwargs: Any) -> Any:
        params = real(*args, **kwargs)
        seen.append(params.payload or {})
        return params

    monkeypatch.setattr(discord.abc, "handle_message_parameters", spy)
    return seen


# --- the CLI tests' fixtures (tests/bot/test_cli*.py use "fake_model" for every test) ---------
@pytest.fixture
def fake_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI opens its engine with the fast fake embedder."""
    import index.answering.configured
    from tests.fakes import FakeEmbedder

    monkeypatch.setattr(index.answering.configured, "default_embedder",
                        lambda settings, *_: FakeEmbedder())


@pytest.fixture
def runner() -> Any:
    from click.testing import CliRunner

    return CliRunner()


@pytest.fixture
def index_dir(tmp_path: Any, runner: Any, fake_model: None) -> Any:
    """An index of the built-in article, built through the CLI with the fake embedder."""
    from bot.cli import cli

    path = tmp_path / "idx"
    result = runner.invoke(cli, ["index", "build", "--index-dir", str(path)])
    assert result.exit_code == 0, result.output
    return path
