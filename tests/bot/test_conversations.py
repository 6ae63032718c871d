"""Follow-ups through the real front ends: the REPL on its stdin, Discord through dpytest
(two users in one channel, a thread, /new, idle expiry on a fake clock) and the --batch
contract through click's runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import discord
import discord.ext.test as dpytest
import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.cogs.asking import NEW_CONVERSATION, Asking
from tests.bot.conftest import FakeInteraction, description
from tests.conftest import MOONS

FIRST, FOLLOW = "Tell me about Zorblat", "How many moons does it have?"
FOLLOWING = f"(following: {FIRST})"


@pytest.fixture
def moons_index(tmp_path: Path, fake_model: None) -> Path:
    """An index of :data:`MOONS` built through the CLI (fake embedder)."""
    source = tmp_path / "places.txt"
    source.write_text(MOONS, encoding="utf-8")
    path = tmp_path / "moons-cli"
    result = CliRunner().invoke(cli, ["index", "build", "--index-dir", str(path),
                                      "--source", str(source)])
    assert result.exit_code == 0, result.output
    return path


# --- the REPL -----------------------------------------------------------------------------
def test_repl_session_is_a_conversation_and_new_starts_afresh(moons_index: Path) -> None:
    lines = [":help", FIRST, FOLLOW, ":new", FOLLOW, ""]
    result = CliRunner().invoke(cli, ["repl", "--index-dir", str(moons_index)],
                                input="\n".join(lines))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert ":new" in out.split(FIRST)[0], ":help lists :new"
    after_first, after_new = out.split("new conversation: the next question stands alone")
    assert after_first.count(FOLLOWING) == 1
    assert "Answer [places, sentence 1]" in after_first.split(FOLLOWING)[1]
    assert "Answer [places, sentence 1]" not in after_new
    assert "(following:" not in after_new


# --- --batch ------------------------------------------------------------------------------
def test_batch_lines_with_one_conversation_id_are_its_turns(moons_index: Path) -> None:
    lines = [json.dumps({"question": FIRST, "conversation": "a"}),
             json.dumps({"question": "Tell me about Quibble", "conversation": "b"}),
             FOLLOW,  # a plain line stands alone
             json.dumps({"question": FOLLOW, "conversation": "a"}),
             json.dumps({"question": FOLLOW, "conversation": "b"}),
             json.dumps({"question": FOLLOW, "conversation": 7})]
    result = CliRunner().invoke(cli, ["ask", "--json", "--index-dir", str(moons_index),
                                      "--batch", "-"], input="\n".join(lines))
    assert result.exit_code == 1, "one line is in error"
    out = [json.loads(x) for x in result.stdout.splitlines()]
    assert [o.get("conversation") for o in out] == ["a", "b", None, "a", "b", None]
    assert [o.get("follows") for o in out] == [None, None, None, FIRST,
                                               "Tell me about Quibble", None]
    assert "three moons" in out[3]["passages"][0]["text"]
    assert "seven moons" in out[4]["passages"][0]["text"]
    assert out[5]["error"] == 'line 6: "conversation" must be a string'


def test_one_shot_ask_stays_stateless(moons_index: Path) -> None:
    runner = CliRunner()
    for question in (FIRST, FOLLOW):
        result = runner.invoke(cli, ["ask", "--json", "--index-dir", str(moons_index),
                                     question])
        assert result.exit_code == 0, result.output
        assert "follows" not in json.loads(result.stdout)


# --- Discord ------------------------------------------------------------------------------
def mention(bot: Any, text: str) -> str:
    return f"<@{bot.user.id}> {text}"


async def test_two_users_in_one_channel_have_their_own_conversations(
        dpy: Any, moons_engine: Any) -> None:
    bot = await dpy(moons_engine, discord_cooldown_seconds=0)
    alice, bob = dpytest.get_config().members[:2]
    await dpytest.message(mention(bot, FIRST), member=alice)
    dpytest.get_message()
    await dpytest.message(mention(bot, FOLLOW), member=bob)
    assert "following" not in description(dpytest.get_message().embeds[0])
    await dpytest.message(mention(bot, FOLLOW), member=alice)
    said = description(dpytest.get_message().embeds[0])
    assert f"*(following: {FIRST})*" in said and "three moons" in said


async def test_new_and_idle_expiry_start_afresh(dpy: Any, moons_engine: Any) -> None:
    bot = await dpy(moons_engine, discord_cooldown_seconds=0, discord_message_content=True,
                    conversation_idle=120)
    asking = bot.get_cog("Asking")
    assert isinstance(asking, Asking) and asking.conversations is not None
    now = [5000.0]
    asking.conversations.clock = lambda: now[0]

    async def ask(text: str) -> str:
        await dpytest.message(mention(bot, text))
        return description(dpytest.get_message().embeds[0])

    await ask(FIRST)
    now[0] += 119
    assert "following" in await ask(FOLLOW)
    now[0] += 121
    assert "following" not in await ask(FOLLOW), "forgotten after the idle time"
    await ask(FIRST)
    await dpytest.message("!new")
    assert dpytest.get_message().content == NEW_CONVERSATION
    assert "following" not in await ask(FOLLOW)
    await ask(FIRST)
    await dpytest.message(mention(bot, "new"))
    assert dpytest.get_message().content == NEW_CONVERSATION
    assert "following" not in await ask(FOLLOW)


async def test_idle_zero_turns_conversations_off(dpy: Any, moons_engine: Any) -> None:
    bot = await dpy(moons_engine, discord_cooldown_seconds=0, conversation_idle=0)
    for text in (FIRST, FOLLOW):
        await dpytest.message(mention(bot, text))
        assert "following" not in description(dpytest.get_message().embeds[0])


def _thread(guild: discord.Guild, parent: Any, thread_id: int) -> discord.Thread:
    data: Any = {"id": thread_id, "guild_id": guild.id, "parent_id": parent.id,
                 "owner_id": 1, "name": "moons", "type": 11, "message_count": 0,
                 "member_count": 2, "rate_limit_per_user": 0,
                 "thread_metadata": {"archived": False, "auto_archive_duration": 60,
                                     "archive_timestamp": "2024-01-01T00:00:00+00:00",
                                     "locked": False}}
    return discord.Thread(guild=guild, state=guild._state, data=data)


async def test_a_thread_is_one_conversation_for_everyone_in_it(
        dpy: Any, moons_engine: Any) -> None:
    bot = await dpy(moons_engine, discord_cooldown_seconds=0)
    config = dpytest.get_config()
    alice, bob = config.members[:2]
    guild, channel = config.guilds[0], config.channels[0]
    thread, other = _thread(guild, channel, 9001), _thread(guild, channel, 9002)
    asking = bot.get_cog("Asking")
    assert isinstance(asking, Asking)

    async def slash(user: Any, where: Any, question: str) -> str:
        interaction = FakeInteraction(channel=where)
        interaction.user.id = user.id
        await asking.ask_slash.callback(asking, interaction, question)  # type: ignore[arg-type]
        return description(interaction.replies[-1].embed)

    await slash(alice, thread, FIRST)
    said = await slash(bob, thread, FOLLOW)
    assert f"*(following: {FIRST})*" in said, "bob follows alice in their thread"
    assert "following" not in await slash(bob, other, FOLLOW), "another thread: its own"
    assert "following" not in await slash(bob, channel, FOLLOW), "the channel: bob's own"
