"""The bot through discord.py's own dispatch (dpytest): mentions, prefix, limits, errors."""

from __future__ import annotations

import logging
from typing import Any

import discord
import discord.ext.test as dpytest
import pytest
from discord.ext import commands

from bot.cogs.admin import NOT_ADMIN
from bot.cogs.errors import SORRY
from tests.bot.conftest import FAKE_QUESTION, description, embed_text
from tests.conftest import ARTICLE_DOC, HEADLINE, HEADLINE_ANSWER

NO_PINGS_PAYLOAD = {"parse": [], "replied_user": False}


def mention(bot: commands.Bot, text: str) -> str:
    assert bot.user is not None
    return f"<@{bot.user.id}> {text}"


async def test_mention_asks_and_gets_a_cited_answer(dpy: Any, payloads: list[dict]) -> None:
    bot = await dpy()
    asked = await dpytest.message(mention(bot, FAKE_QUESTION))

    reply = dpytest.get_message()
    embed = reply.embeds[0]
    assert HEADLINE_ANSWER in description(embed)
    assert f"{ARTICLE_DOC}, sentence 2 · confidence" in description(embed)
    assert embed.title == FAKE_QUESTION
    assert payloads[-1]["message_reference"]["message_id"] == asked.id  # a reply to the asker
    assert dpytest.verify().message().nothing()


async def test_a_mention_later_in_the_message_is_not_a_question(dpy: Any) -> None:
    bot = await dpy()
    await dpytest.message(f"thanks {mention(bot, '')}")
    await dpytest.message(FAKE_QUESTION)  # no mention, no prefix: not for the bot
    assert dpytest.verify().message().nothing()


@pytest.mark.parametrize("enabled", [True, False])
async def test_prefix_ask_only_with_the_message_content_intent(dpy: Any, enabled: bool) -> None:
    await dpy(discord_message_content=enabled, discord_prefix="?")
    await dpytest.message(f"?ask {FAKE_QUESTION}")
    if enabled:
        assert HEADLINE_ANSWER in description(dpytest.get_message().embeds[0])
    else:
        assert dpytest.verify().message().nothing()


async def test_cooldown_is_per_user(dpy: Any) -> None:
    bot = await dpy(discord_cooldown_seconds=30)
    first, second = dpytest.get_config().members[:2]
    await dpytest.message(mention(bot, FAKE_QUESTION), member=first)
    assert dpytest.get_message().embeds
    await dpytest.message(mention(bot, FAKE_QUESTION), member=first)
    refusal = dpytest.get_message()
    assert not refusal.embeds
    assert refusal.content == "One question at a time, please: you can ask again in 30 s."
    await dpytest.message(mention(bot, FAKE_QUESTION), member=second)
    assert HEADLINE_ANSWER in description(dpytest.get_message().embeds[0])


async def test_no_one_is_pinged_by_a_question_full_of_mentions(dpy: Any,
                                                               payloads: list[dict]) -> None:
    bot = await dpy()
    config = dpytest.get_config()
    guild, member = config.guilds[0], config.members[1]
    role = dpytest.backend.make_role("mods", guild, mentionable=True)
    pings = f"@everyone @here <@{member.id}> <@&{role.id}>"
    await dpytest.message(mention(bot, f"{pings} {FAKE_QUESTION}"))

    reply = dpytest.get_message()
    assert payloads[-1]["allowed_mentions"] == NO_PINGS_PAYLOAD
    assert not reply.mentions and not reply.role_mentions and not reply.mention_everyone
    text = (reply.content or "") + embed_text(reply.embeds[0])
    for raw in ("@everyone", "@here", f"<@{member.id}>", f"<@&{role.id}>"):
        assert raw not in text
    assert "@\u200beveryone" in text and f"<@\u200b&{role.id}>" in text
    assert HEADLINE_ANSWER in description(reply.embeds[0])


async def test_refusals_of_empty_and_too_long_questions_cost_no_cooldown(
        dpy: Any, payloads: list[dict]) -> None:
    bot = await dpy(discord_cooldown_seconds=30, discord_max_question_chars=100)
    await dpytest.message(mention(bot, ""))
    hint = dpytest.get_message().content
    assert hint.startswith("Ask me something about the article, e.g. @")
    assert hint.endswith(HEADLINE)

    await dpytest.message(mention(bot, "why " * 40 + "@everyone?"))
    assert dpytest.get_message().content == (
        "That question is 170 characters long; the limit is 100. Please ask something shorter.")
    assert all(p["allowed_mentions"] == NO_PINGS_PAYLOAD for p in payloads)

    await dpytest.message(mention(bot, FAKE_QUESTION))
    assert HEADLINE_ANSWER in description(dpytest.get_message().embeds[0])


async def test_an_error_in_mention_asking_is_one_sentence_and_the_bot_goes_on(
        dpy: Any, fake_engine: Any, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    bot = await dpy(discord_cooldown_seconds=0)
    real_ask = fake_engine.ask

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("index exploded at /secret/path")

    monkeypatch.setattr(fake_engine, "ask", broken)
    with caplog.at_level(logging.ERROR, logger="bot.cogs.errors"):
        await dpytest.message(mention(bot, FAKE_QUESTION))
    assert dpytest.get_message().content == SORRY
    record = next(r for r in caplog.records if r.name == "bot.cogs.errors")
    assert record.exc_info is not None and "index exploded" in str(record.exc_info[1])

    monkeypatch.setattr(fake_engine, "ask", real_ask)
    await dpytest.message(mention(bot, FAKE_QUESTION))
    assert HEADLINE_ANSWER in description(dpytest.get_message().embeds[0])


async def test_an_error_in_a_prefix_command_goes_to_the_central_handler(
        dpy: Any, fake_engine: Any, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    bot = await dpy(discord_message_content=True, discord_cooldown_seconds=0)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(fake_engine, "ask", broken)
    # dpytest re-raises command errors after the bot has handled them.
    with caplog.at_level(logging.ERROR), pytest.raises(commands.CommandInvokeError):
        await dpytest.message(f"!ask {FAKE_QUESTION}")
    assert dpytest.get_message().content == SORRY
    assert any(r.exc_info and "boom" in str(r.exc_info[1]) for r in caplog.records)
    assert bot.is_closed() is False


async def test_prefix_reindex_is_for_admins(dpy: Any) -> None:
    await dpy(discord_message_content=True)
    config = dpytest.get_config()
    guild, member = config.guilds[0], config.members[0]
    await dpytest.message("!reindex", member=member)
    assert dpytest.get_message().content == NOT_ADMIN

    admins = dpytest.backend.make_role(
        "admins", guild, permissions=discord.Permissions(manage_guild=True).value)
    await dpytest.add_role(member, admins)
    await dpytest.message("!reindex", member=member)
    assert dpytest.get_message().content.startswith("The index is up to date")
    await dpytest.message("!reindex force", member=member)
    assert dpytest.get_message().content.startswith("Rebuilt the index: 35 units from 1 document")


@pytest.mark.parametrize("text", ["help", "Help?"])
async def test_a_mention_asking_for_help_gets_the_help(dpy: Any, fake_engine: Any, text: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    bot = await dpy()
    monkeypatch.setattr(fake_engine, "ask", None)  # help is not a question for the engine
    await dpytest.message(mention(bot, text))
    embed = dpytest.get_message().embeds[0]
    assert embed.fields[0].name == "How to ask"
    assert f"@{bot.user.name} {HEADLINE}" in (embed.fields[0].value or "")


async def test_prefix_help(dpy: Any) -> None:
    await dpy(discord_message_content=True)
    await dpytest.message("!help")
    embed = dpytest.get_message().embeds[0]
    assert f"`!ask {HEADLINE}`" in (embed.fields[0].value or "")


async def test_prefix_sources(dpy: Any) -> None:
    await dpy(discord_message_content=True)
    await dpytest.message("!sources")
    assert ARTICLE_DOC in description(dpytest.get_message().embeds[0])


@pytest.mark.integration
async def test_headline_by_mention_with_the_real_model(dpy: Any, real_engine: Any) -> None:
    bot = await dpy(real_engine)
    await dpytest.message(mention(bot, HEADLINE))
    embed = dpytest.get_message().embeds[0]
    assert HEADLINE_ANSWER in description(embed)
    assert "**" + "Secretary of State Rex Tillerson" in description(embed)


# --- mentions: the bot's role, typing, replies ----------------------------------------------
def managed_role(bot: commands.Bot, guild: discord.Guild) -> discord.Role:
    """The role Discord creates for a bot in a server (tagged with the bot's id)."""
    assert bot.user is not None
    role = dpytest.backend.make_role(bot.user.name, guild, mentionable=True)
    role.tags = discord.RoleTags({"bot_id": str(bot.user.id)})  # type: ignore[typeddict-item]
    return role


async def test_a_mention_of_the_bot_s_role_asks_too(dpy: Any) -> None:
    bot = await dpy()
    guild = dpytest.get_config().guilds[0]
    role = managed_role(bot, guild)
    assert guild.self_role == role
    await dpytest.message(f"<@&{role.id}> {FAKE_QUESTION}")
    assert HEADLINE_ANSWER in description(dpytest.get_message().embeds[0])

    other = dpytest.backend.make_role("mods", guild, mentionable=True)
    await dpytest.message(f"<@&{other.id}> {FAKE_QUESTION}")
    assert dpytest.verify().message().nothing()


async def test_a_mention_shows_typing_while_the_answer_is_computed(
        dpy: Any, fake_engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    bot = await dpy()
    events: list[str] = []
    real_typing, real_ask = bot.http.send_typing, fake_engine.ask

    async def send_typing(channel_id: int) -> None:
        events.append("typing")
        await real_typing(channel_id)

    def ask(*args: Any, **kwargs: Any) -> Any:
        events.append("ask")
        return real_ask(*args, **kwargs)

    monkeypatch.setattr(bot.http, "send_typing", send_typing)
    monkeypatch.setattr(fake_engine, "ask", ask)
    await dpytest.message(mention(bot, FAKE_QUESTION))
    assert events == ["typing", "ask"]
    assert HEADLINE_ANSWER in description(dpytest.get_message().embeds[0])


async def test_a_refused_typing_indicator_does_not_stop_the_answer(
        dpy: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    bot = await dpy()

    async def refuse(channel_id: int) -> None:
        response = type("Response", (), {"status": 403, "reason": "Forbidden"})()
        raise discord.Forbidden(response, "Missing Permissions")

    monkeypatch.setattr(bot.http, "send_typing", refuse)
    await dpytest.message(mention(bot, FAKE_QUESTION))
    assert HEADLINE_ANSWER in description(dpytest.get_message().embeds[0])


async def test_answers_and_refusals_are_replies_that_survive_a_deleted_question(
        dpy: Any, payloads: list[dict]) -> None:
    bot = await dpy(discord_cooldown_seconds=30)
    asked = await dpytest.message(mention(bot, FAKE_QUESTION))
    await dpytest.message(mention(bot, FAKE_QUESTION))  # refused: cooldown
    assert len(payloads) == 2
    for payload in payloads:
        reference = payload["message_reference"]
        assert reference["channel_id"] == asked.channel.id
        assert reference["fail_if_not_exists"] is False
        assert payload["allowed_mentions"] == NO_PINGS_PAYLOAD
    assert payloads[0]["message_reference"]["message_id"] == asked.id


@pytest.mark.parametrize(("thresholds", "verdict"), [
    ({"answer_threshold": 0.0, "likely_threshold": 0.0}, "answer"),
    ({"answer_threshold": 1.0, "likely_threshold": 0.0}, "likely"),
    ({"answer_threshold": 1.0, "likely_threshold": 1.0}, "unknown"),
])
async def test_each_verdict_is_said_plainly(dpy: Any, fake_engine: Any, thresholds: dict,
                                            verdict: str) -> None:
    fake_engine.settings = fake_engine.settings.model_copy(update=thresholds)
    bot = await dpy()
    await dpytest.message(mention(bot, FAKE_QUESTION))
    embed = dpytest.get_message().embeds[0]
    text = description(embed)
    colours = {"answer": discord.Colour.green(), "likely": discord.Colour.gold(),
               "unknown": discord.Colour.light_grey()}
    assert embed.colour == colours[verdict]
    assert ("**Likely answer**, not sure" in text) == (verdict == "likely")
    assert ("I don't know: I found no answer in the article" in text) == (verdict == "unknown")
    assert "doesn't say" not in text
    if verdict != "unknown":  # the answer in its context, not a hint
        assert HEADLINE_ANSWER in text and "hint" not in text
