"""Slash-command callbacks called with a fake interaction; rebuilds and a responsive loop."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import discord
import numpy as np
import pytest
from discord import app_commands
from discord.ext import commands

from bot.cogs.admin import BUSY, NOT_ADMIN
from bot.cogs.errors import SORRY
from bot.discord_format import NO_PINGS
from index.answering.engine import Engine
from index.sources.documents import builtin_article
from tests.bot.conftest import (
    FAKE_QUESTION,
    FakeInteraction,
    FakeUser,
    MakeBot,
    call,
    embed_text,
)
from tests.conftest import ARTICLE_DOC, HEADLINE, HEADLINE_ANSWER
from tests.fakes import FakeEmbedder


def admin() -> FakeUser:
    return FakeUser(id=7, name="admin", guild_permissions=discord.Permissions(manage_guild=True))


# --- /ask ---------------------------------------------------------------------------------
async def test_ask_defers_then_follows_up_with_the_cited_answer(make_bot: MakeBot) -> None:
    bot = await make_bot()
    interaction = FakeInteraction()
    await call(bot, "ask", interaction, question=FAKE_QUESTION)

    assert interaction.response.deferred == {"thinking": True}
    assert not interaction.response.sent
    [reply] = interaction.followup.sent
    assert reply.kwargs["allowed_mentions"] is NO_PINGS and not reply.ephemeral
    assert HEADLINE_ANSWER in reply.description
    assert f"{ARTICLE_DOC}, sentence 2" in reply.description
    embed = reply.embed
    assert embed is not None and embed.footer.text == "model fake-embedder · index built"
    assert embed.timestamp is not None
    assert embed.timestamp.isoformat() == bot.engine.data.built_at


async def test_ask_one_document(make_bot: MakeBot) -> None:
    bot = await make_bot()
    interaction = FakeInteraction()
    await call(bot, "ask", interaction, question=FAKE_QUESTION, doc=ARTICLE_DOC)
    assert HEADLINE_ANSWER in interaction.followup.sent[0].description


async def test_ask_an_unknown_document_is_refused_before_deferring(make_bot: MakeBot) -> None:
    bot = await make_bot(discord_cooldown_seconds=30)
    interaction = FakeInteraction()
    await call(bot, "ask", interaction, question=FAKE_QUESTION, doc="@everyone")

    assert interaction.response.deferred is None
    [reply] = interaction.response.sent
    assert reply.ephemeral
    assert reply.content == ("unknown document '@\u200beveryone'; known documents: "
                             f"{ARTICLE_DOC}")
    # The refusal cost no cooldown.
    again = FakeInteraction()
    await call(bot, "ask", again, question=FAKE_QUESTION)
    assert again.followup.sent[0].embed is not None


@pytest.mark.parametrize(("question", "expected"), [
    ("", "Ask me something about the article, e.g. `/ask question: How long did the meeting "
         "last?`"),
    ("  \n ", "Ask me something about the article, e.g. `/ask question: How long did the "
              "meeting last?`"),
    ("why " * 200, "That question is 799 characters long; the limit is 500. Please ask "
                   "something shorter."),
])
async def test_ask_refusals_are_ephemeral(make_bot: MakeBot, question: str, expected: str
                                          ) -> None:
    bot = await make_bot()
    interaction = FakeInteraction()
    await call(bot, "ask", interaction, question=question)
    assert interaction.response.deferred is None and not interaction.followup.sent
    [reply] = interaction.response.sent
    assert reply.ephemeral and reply.content == expected


async def test_ask_cooldown_is_friendly_and_ephemeral(make_bot: MakeBot) -> None:
    bot = await make_bot(discord_cooldown_seconds=10)
    await call(bot, "ask", FakeInteraction(), question=FAKE_QUESTION)
    second = FakeInteraction()
    await call(bot, "ask", second, question=FAKE_QUESTION)
    [reply] = second.response.sent
    assert reply.ephemeral
    assert reply.content == "One question at a time, please: you can ask again in 10 s."


def test_cooldown_expires_per_user_with_discord_py_s_mapping() -> None:
    from bot.cogs.asking import user_cooldown

    cooldown = user_cooldown(5)
    assert isinstance(cooldown, commands.CooldownMapping)
    assert cooldown.update_rate_limit(1, current=100.0) is None
    assert cooldown.update_rate_limit(1, current=102.0) == pytest.approx(3)
    assert cooldown.update_rate_limit(2, current=102.0) is None
    assert cooldown.update_rate_limit(1, current=105.5) is None
    assert user_cooldown(0) is None


@pytest.mark.parametrize(("typed", "expected"), [
    ("", [ARTICLE_DOC]), ("G20", [ARTICLE_DOC]), ("nothing like it", [])])
async def test_doc_autocomplete(make_bot: MakeBot, typed: str, expected: list[str]) -> None:
    bot = await make_bot()
    cog = bot.get_cog("Asking")
    choices = await cog.doc_autocomplete(FakeInteraction(), typed)  # type: ignore[union-attr]
    assert [c.value for c in choices] == expected


async def test_doc_autocomplete_offers_at_most_25(tmp_path: Path, settings: Any,
                                                  make_bot: MakeBot) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for n in range(30):
        (folder / f"doc{n:02}.txt").write_text(f"Document {n} says something.\n")
    engine = Engine(settings.model_copy(update={"index_dir": tmp_path / "many-index"}),
                    FakeEmbedder())
    engine.build([folder])
    engine.load()
    bot = await make_bot(engine)
    cog = bot.get_cog("Asking")
    choices = await cog.doc_autocomplete(FakeInteraction(), "doc")  # type: ignore[union-attr]
    assert len(choices) == 25 and choices[0].value == "doc00"


# --- /sources -----------------------------------------------------------------------------
async def test_sources_lists_documents_model_and_build_time(make_bot: MakeBot) -> None:
    bot = await make_bot()
    interaction = FakeInteraction()
    await call(bot, "sources", interaction)
    [reply] = interaction.response.sent
    assert reply.ephemeral and reply.embed is not None
    text = embed_text(reply.embed)
    assert f"**{ARTICLE_DOC}**: 35 sentences" in text
    assert "1 document, 35 sentences" in text
    assert "model fake-embedder · index built" in text
    assert reply.embed.timestamp is not None
    assert reply.embed.timestamp.isoformat() == bot.engine.data.built_at


# --- /help -------------------------------------------------------------------------------
async def test_help_says_what_the_bot_does_what_it_read_and_how_to_ask(
        make_bot: MakeBot) -> None:
    bot = await make_bot(discord_cooldown_seconds=7, discord_max_question_chars=300)
    interaction = FakeInteraction()
    await call(bot, "help", interaction)
    [reply] = interaction.response.sent
    assert reply.ephemeral and reply.embed is not None
    assert reply.kwargs["allowed_mentions"] is NO_PINGS
    fields = {f.name: f.value or "" for f in reply.embed.fields}
    assert "I don't know" in reply.description and "1 document (35 sentences)" in reply.description
    ways = fields["How to ask"]
    assert f"`/ask question: {HEADLINE}`" in ways and f"@qabot {HEADLINE}" in ways
    assert "!ask" not in ways  # the prefix commands are off without message content
    assert fields["Documents (1)"] == f"• **{ARTICLE_DOC}**: 35 sentences"
    assert "👍" in fields["Votes"] and "👎" in fields["Votes"]
    assert "one question every 7 s" in fields["Also"] and "300 characters" in fields["Also"]


async def test_help_shows_the_prefix_command_only_when_it_works(make_bot: MakeBot) -> None:
    bot = await make_bot(discord_message_content=True, discord_prefix="?")
    interaction = FakeInteraction()
    await call(bot, "help", interaction)
    embed = interaction.response.sent[0].embed
    assert embed is not None
    assert f"`?ask {HEADLINE}`" in embed.fields[0].value  # type: ignore[operator]


def test_help_with_many_documents_names_ten_and_fits() -> None:
    from bot.discord_format import help_embed
    from index.storage.loading import DocInfo
    from tests.bot.test_discord_format import assert_fits

    docs = [DocInfo(name=f"{'long-name-' * 20}{n}", title="", source="x", start=n, count=3)
            for n in range(400)]
    embed = help_embed(docs, units=1200, bot_name="@everyone" * 40, example=HEADLINE,
                       prefix="!", cooldown=0, max_chars=500)
    assert_fits(embed)
    documents = embed.fields[1].value or ""
    assert documents.count("•") == 10 and documents.endswith("… and 390 more: `/sources` lists "
                                                              "them all")
    assert "@everyone" not in "".join(f.value or "" for f in embed.fields)
    assert "one question every" not in (embed.fields[3].value or "")  # no cooldown


# --- /reindex -----------------------------------------------------------------------------
async def test_reindex_refuses_non_admins(make_bot: MakeBot) -> None:
    bot = await make_bot()
    interaction = FakeInteraction(user=FakeUser(id=5))
    await call(bot, "reindex", interaction)
    assert interaction.response.deferred is None
    [reply] = interaction.response.sent
    assert reply.ephemeral and reply.content == NOT_ADMIN


@pytest.mark.parametrize("user", [admin(), FakeUser(id=42)], ids=["manage-server", "listed-id"])
async def test_reindex_for_admins_summarises(make_bot: MakeBot, user: FakeUser) -> None:
    bot = await make_bot(discord_admin_ids=[42])
    interaction = FakeInteraction(user=user)
    await call(bot, "reindex", interaction)
    assert interaction.response.deferred == {"ephemeral": True, "thinking": True}
    [reply] = interaction.followup.sent
    assert reply.ephemeral
    assert reply.content is not None
    assert reply.content.startswith("The index is up to date (")
    assert "35 units from 1 document, nothing rebuilt" in reply.content

    forced = FakeInteraction(user=user)
    await call(bot, "reindex", forced, force=True)
    content = forced.followup.sent[0].content
    assert content is not None and content.startswith("Rebuilt the index: 35 units from 1 "
                                                      "document in ")


class GatedEmbedder(FakeEmbedder):
    """A fake embedder whose index builds (many texts at once) wait for a signal."""

    def __init__(self) -> None:
        super().__init__()
        self.building = threading.Event()
        self.release = threading.Event()

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False
               ) -> np.ndarray:
        if len(texts) > 1:
            self.building.set()
            assert self.release.wait(timeout=10), "the test never released the build"
        return super().encode(texts, batch_size=batch_size, progress=progress)


async def test_questions_during_reindex_use_the_old_index_then_the_new(
        tmp_path: Path, settings: Any, make_bot: MakeBot) -> None:
    folder = tmp_path / "news"
    folder.mkdir()
    article = folder / builtin_article().name
    article.write_bytes(builtin_article().read_bytes())
    embedder = GatedEmbedder()
    engine = Engine(settings, embedder)
    embedder.release.set()
    engine.build([folder])
    engine.load()
    embedder.release.clear()
    # /reindex reads the folder the index was built from: now a new article instead.
    article.unlink()
    (folder / "festival.txt").write_text("The zebra festival in Hamburg lasted nine days. "
                                         "Thousands of visitors came.\n\nIt ended on a "
                                         "Sunday with fireworks.\n")
    bot = await make_bot(engine, discord_cooldown_seconds=0)
    question = "How many days did the zebra festival in Hamburg last?"

    rebuild = FakeInteraction(user=admin())
    task = asyncio.create_task(call(bot, "reindex", rebuild))
    try:
        assert await asyncio.to_thread(embedder.building.wait, 5)
        before = FakeInteraction()
        await call(bot, "ask", before, question=question)
        assert f"— {ARTICLE_DOC}, sentence" in before.followup.sent[0].description

        second = FakeInteraction(user=admin())
        await call(bot, "reindex", second)
        assert [s.content for s in second.response.sent] == [BUSY]
        assert second.response.sent[0].ephemeral and second.response.deferred is None
    finally:
        embedder.release.set()
    await asyncio.wait_for(task, 5)
    summary = rebuild.followup.sent[0].content
    assert summary is not None and summary.startswith("Rebuilt the index: 3 units from 1 "
                                                      "document")
    assert summary.endswith(f"Sources: {folder}.")

    after = FakeInteraction()
    await call(bot, "ask", after, question=question)
    new = after.followup.sent[0].description
    assert "**The zebra festival in Hamburg lasted nine days.**" in new
    assert "— festival, sentence 0" in new


# --- not blocking -------------------------------------------------------------------------
class SlowEmbedder(FakeEmbedder):
    """Encodes questions slowly, like a real model on a busy CPU."""

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False
               ) -> np.ndarray:
        time.sleep(0.5)
        return super().encode(texts, batch_size=batch_size, progress=progress)


async def test_the_event_loop_keeps_ticking_while_a_question_is_encoded(
        fake_engine: Any, make_bot: MakeBot) -> None:
    fake_engine.embedder = SlowEmbedder()
    bot = await make_bot(discord_cooldown_seconds=0)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    interactions = [FakeInteraction(user=FakeUser(id=n)) for n in range(3)]
    started = time.monotonic()
    await asyncio.gather(*(call(bot, "ask", i, question=FAKE_QUESTION) for i in interactions))
    elapsed = time.monotonic() - started
    ticking.cancel()

    assert ticks >= 10  # ~25 if nothing blocks; 0 if encoding ran on the loop
    assert elapsed < 1.2  # three 0.5 s questions answered side by side, not one by one
    for i in interactions:
        assert HEADLINE_ANSWER in i.followup.sent[0].description


# --- errors -------------------------------------------------------------------------------
@pytest.mark.parametrize("deferred", [False, True])
async def test_a_failing_slash_command_says_one_sentence_and_logs_the_traceback(
        make_bot: MakeBot, caplog: pytest.LogCaptureFixture, deferred: bool) -> None:
    bot = await make_bot()
    interaction = FakeInteraction()
    if deferred:
        await interaction.response.defer(thinking=True)
    error = app_commands.CommandInvokeError(bot.tree.get_command("ask"),  # type: ignore[arg-type]
                                            ValueError("numpy said no"))
    with caplog.at_level(logging.ERROR, logger="bot.cogs.errors"):
        await bot.tree.on_error(interaction, error)  # type: ignore[arg-type]
    [reply] = interaction.replies
    assert reply.content == SORRY and reply.ephemeral
    assert reply.kwargs["allowed_mentions"] is NO_PINGS
    [record] = caplog.records
    assert record.exc_info is not None and isinstance(record.exc_info[1], ValueError)


async def test_a_failing_engine_in_ask_reaches_the_user_as_one_sentence(
        make_bot: MakeBot, fake_engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    bot = await make_bot()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise MemoryError("faiss")

    monkeypatch.setattr(fake_engine, "ask", broken)
    interaction = FakeInteraction()
    await call(bot, "ask", interaction, question=FAKE_QUESTION)
    assert interaction.response.deferred == {"thinking": True}
    assert [s.content for s in interaction.followup.sent] == [SORRY]


@pytest.mark.integration
async def test_headline_by_slash_command_with_the_real_model(real_engine: Any,
                                                              make_bot: MakeBot) -> None:
    bot = await make_bot(real_engine)
    interaction = FakeInteraction()
    await call(bot, "ask", interaction, question=HEADLINE)
    [reply] = interaction.followup.sent
    assert HEADLINE_ANSWER in reply.description
    # Given as the answer: sure (green) or likely (gold), never as a hint.
    assert reply.embed is not None
    assert reply.embed.colour in (discord.Colour.green(), discord.Colour.gold())


async def test_a_failing_hybrid_command_used_as_a_slash_command_says_its_error_privately(
        make_bot: MakeBot, monkeypatch: pytest.MonkeyPatch) -> None:
    """discord.py hands the error of a hybrid command's slash use to on_command_error inside
    HybridCommandError and CommandInvokeError: the user sees the error's own sentence."""
    from index.errors import IndexLoadError

    bot = await make_bot()
    info = bot.get_cog("Info")

    def broken() -> discord.Embed:
        raise IndexLoadError("the index is being replaced; try again")

    monkeypatch.setattr(info, "embed", broken)
    interaction = FakeInteraction()
    await call(bot, "sources", interaction)
    [reply] = interaction.replies
    assert reply.content == "the index is being replaced; try again" and reply.ephemeral
    assert reply.kwargs["allowed_mentions"] is NO_PINGS
