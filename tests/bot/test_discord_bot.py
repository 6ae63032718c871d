"""Starting the bot: token checks, login failures, intents, command registration and sync."""

from __future__ import annotations

import logging
from typing import Any
from unittest.mock import AsyncMock

import discord
import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from bot.discord_bot import QABot, run
from tests.bot.conftest import MakeBot

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.Gabcde.not-a-real-token-but-secret"


class Recorder:
    """An engine factory that records being called."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.calls = 0

    def __call__(self, settings: Any) -> Any:
        self.calls += 1
        return self.engine


@pytest.mark.parametrize("token", [None, "", "   "])
def test_run_without_a_token_says_how_to_set_it(settings: Any, fake_engine: Any, token: Any,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    factory = Recorder(fake_engine)
    configured = settings.model_copy(
        update={"discord_token": SecretStr(token) if token is not None else None})
    assert run(configured, engine_factory=factory) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "QABOT_DISCORD_TOKEN" in err and "DISCORD_TOKEN" in err and ".env" in err
    assert factory.calls == 0  # no model loaded, no connection tried


def test_the_cli_reports_a_missing_token_with_exit_code_2() -> None:
    from bot.cli import cli

    result = CliRunner().invoke(cli, ["discord"])
    assert result.exit_code == 2
    assert "qabot: error: no Discord token: set QABOT_DISCORD_TOKEN" in result.output


def test_a_refused_login_is_a_clear_error_without_the_token(
        monkeypatch: pytest.MonkeyPatch, fake_engine: Any, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    from config import Settings

    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)  # the plain name works too
    settings = Settings(_env_file=None,  # type: ignore[call-arg]
                        index_dir=fake_engine.settings.index_dir)
    order: list[str] = []
    factory = Recorder(fake_engine)

    async def refuse(self: Any, token: str) -> Any:
        order.append("login")
        assert token == TOKEN
        raise discord.LoginFailure("Improper token has been passed.")

    monkeypatch.setattr(discord.http.HTTPClient, "static_login", refuse)

    def load(s: Any) -> Any:
        order.append("engine")
        return factory(s)

    with caplog.at_level(logging.DEBUG):
        assert run(settings, engine_factory=load) == 1
    err = capsys.readouterr().err
    assert "qabot: error: Discord refused the token (login failed)" in err
    assert order == ["engine", "login"]  # the engine is loaded before connecting
    assert TOKEN not in err and TOKEN not in caplog.text
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.model_dump())


def test_missing_message_content_intent_in_the_portal_is_a_clear_error(
        monkeypatch: pytest.MonkeyPatch, settings: Any, fake_engine: Any,
        capsys: pytest.CaptureFixture[str]) -> None:
    async def start(self: Any, token: str, *, reconnect: bool = True) -> None:
        raise discord.PrivilegedIntentsRequired(None)

    monkeypatch.setattr(QABot, "start", start)
    configured = settings.model_copy(update={"discord_token": SecretStr(TOKEN),
                                             "discord_message_content": True})
    assert run(configured, engine_factory=Recorder(fake_engine)) == 1
    assert "enable it for the bot in the developer portal" in capsys.readouterr().err


def test_the_bot_never_pings_and_needs_no_privileged_intent(settings: Any,
                                                              fake_engine: Any) -> None:
    bot = QABot(fake_engine, settings)
    assert bot.allowed_mentions is not None
    mentions = bot.allowed_mentions
    assert mentions.to_dict() == {"parse": []}
    assert not (mentions.everyone or mentions.users or mentions.roles or mentions.replied_user)
    privileged = ("members", "presences", "message_content")
    assert not any(getattr(bot.intents, name) for name in privileged)
    enabled = {name for name, on in bot.intents if on}
    assert enabled == {"guilds", "guild_messages", "dm_messages"}
    assert bot.command_prefix == []
    with_content = QABot(fake_engine, settings.model_copy(
        update={"discord_message_content": True, "discord_prefix": "?"}))
    assert with_content.intents.message_content and with_content.command_prefix == "?"


async def test_setup_hook_loads_one_cog_per_feature_and_the_commands(make_bot: MakeBot
                                                                     ) -> None:
    bot = await make_bot()
    assert set(bot.cogs) == {"Asking", "Admin", "Info", "ErrorHandler", "Votes"}
    names = {"ask", "help", "new", "reindex", "sources"}
    assert {c.name for c in bot.tree.get_commands()} == names
    assert {c.name for c in bot.commands} == names
    ask = bot.tree.get_command("ask")
    assert ask is not None and ask.description.startswith("Ask a question about the article")
    assert {p.name: p.required for p in ask.parameters} == {"question": True,  # type: ignore
                                                            "doc": False}


@pytest.mark.parametrize(("guild_id", "sync", "expected"), [
    (1234, False, {"guild": 1234}),
    (1234, True, {"guild": 1234}),
    (None, True, {"guild": None}),
    (None, False, None),
])
async def test_commands_sync_to_the_dev_guild_or_globally_only_when_asked(
        settings: Any, fake_engine: Any, guild_id: int | None, sync: bool,
        expected: dict[str, Any] | None) -> None:
    bot = QABot(fake_engine, settings.model_copy(update={"discord_guild_id": guild_id}),
                sync=sync)
    tree_sync = AsyncMock(return_value=[])
    bot.tree.sync = tree_sync  # type: ignore[method-assign]
    await bot.setup_hook()
    if expected is None:
        tree_sync.assert_not_awaited()
        return
    tree_sync.assert_awaited_once()
    guild = tree_sync.await_args.kwargs.get("guild")  # type: ignore[union-attr]
    assert (guild.id if guild else None) == expected["guild"]
    if guild is not None:  # the global commands are copied to the guild first
        assert {c.name for c in bot.tree.get_commands(guild=guild)} == {
            "ask", "help", "new", "reindex", "sources"}


async def test_a_failed_sync_is_logged_and_the_bot_goes_on(
        settings: Any, fake_engine: Any, caplog: pytest.LogCaptureFixture) -> None:
    bot = QABot(fake_engine, settings.model_copy(update={"discord_guild_id": 99}))
    response = type("Response", (), {"status": 403, "reason": "Forbidden"})()
    bot.tree.sync = AsyncMock(  # type: ignore[method-assign]
        side_effect=discord.Forbidden(response, {"code": 50001, "message": "Missing Access"}))
    with caplog.at_level(logging.ERROR):
        await bot.setup_hook()
    assert "could not sync slash commands to guild 99 (HTTP 403)" in caplog.text
    assert bot.get_cog("Asking") is not None
