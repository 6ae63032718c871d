"""QABOT_DISCORD_SHARDS: an AutoShardedBot, its shards, answering and syncing.

dpytest refuses sharded clients ("Sharded clients not yet supported"), so the sharded bot
is driven through the fake interaction of the slash tests and a faked gateway.
"""

from __future__ import annotations

from typing import Any

import discord
import pytest
from discord.ext import commands
from pydantic import SecretStr

from bot.discord_bot import QABot, ShardedQABot, make_bot, run
from tests.bot.conftest import FAKE_QUESTION, FakeInteraction
from tests.bot.test_discord_slash import call
from tests.conftest import HEADLINE_ANSWER


def test_without_the_setting_the_bot_is_one_connection(fake_engine: Any, settings: Any) -> None:
    bot = make_bot(fake_engine, settings)
    assert type(bot) is QABot and not isinstance(bot, commands.AutoShardedBot)


@pytest.mark.parametrize(("value", "count", "ids", "said"), [
    ("auto", None, None, "as many shards as Discord recommends"),
    ("4", 4, None, "all 4 shards"),
    ("3,1/4", 4, [1, 3], "shards 1, 3 of 4"),
    ("2/3", 3, [2], "shard 2 of 3"),
])
def test_the_setting_makes_an_auto_sharded_bot(fake_engine: Any, settings: Any, value: str,
                                               count: int | None, ids: list[int] | None,
                                               said: str) -> None:
    bot = make_bot(fake_engine, settings.model_copy(update={"discord_shards": value}))
    assert isinstance(bot, ShardedQABot) and isinstance(bot, commands.AutoShardedBot)
    assert bot.shard_count == count and bot.shard_ids == ids
    assert bot.describe_shards() == said
    assert bot.engine is fake_engine


async def test_a_sharded_bot_answers(fake_engine: Any, settings: Any) -> None:
    bot = make_bot(fake_engine, settings.model_copy(update={"discord_shards": "0,1/2"}))
    await bot.setup_hook()
    interaction = FakeInteraction()
    await call(bot, "ask", interaction, question=FAKE_QUESTION)
    [reply] = interaction.followup.sent
    assert HEADLINE_ANSWER in reply.description


@pytest.mark.parametrize(("value", "syncs"), [("0/2", True), ("1/2", False), ("2", True)])
async def test_only_the_process_with_shard_0_syncs_commands(
        fake_engine: Any, settings: Any, monkeypatch: pytest.MonkeyPatch, value: str,
        syncs: bool) -> None:
    bot = make_bot(fake_engine, settings.model_copy(update={"discord_shards": value,
                                                            "discord_guild_id": 42}))
    synced: list[Any] = []

    async def sync(*, guild: Any = None) -> list[Any]:
        synced.append(guild)
        return []

    monkeypatch.setattr(bot.tree, "sync", sync)
    await bot.setup_hook()
    assert bool(synced) is syncs


def test_run_connects_this_process_shards(fake_engine: Any, settings: Any,
                                          monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """`qabot discord` with QABOT_DISCORD_SHARDS=1,3/4 opens shards 1 and 3, of 4."""
    launched: list[tuple[int, int | None]] = []

    async def login(self: discord.Client, token: str) -> None:
        assert token == "a-token"

    async def connect(self: discord.AutoShardedClient, *, reconnect: bool = True) -> None:
        await self.launch_shards()  # then the gateway closes cleanly

    async def launch_shard(self: discord.AutoShardedClient, gateway: Any, shard_id: int, *,
                           initial: bool = False) -> None:
        launched.append((shard_id, self.shard_count))

    monkeypatch.setattr(discord.Client, "login", login)
    monkeypatch.setattr(discord.AutoShardedClient, "connect", connect)
    monkeypatch.setattr(discord.AutoShardedClient, "launch_shard", launch_shard)
    configured = settings.model_copy(update={"discord_shards": "1,3/4",
                                             "discord_token": SecretStr("a-token")})
    assert run(configured, engine_factory=lambda s: fake_engine) == 0
    assert launched == [(1, 4), (3, 4)]
    assert "units, shards 1, 3 of 4 (Ctrl-C to stop)" in capsys.readouterr().err
