"""👍/👎 votes: buttons on answers, restart-safe clicks, the append-only file, `qabot eval`."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from pathlib import Path
from typing import Any

import discord
import discord.ext.test as dpytest
import pytest
from click.testing import CliRunner
from discord.ext.test import factories

from bot.cogs.votes import (
    CUSTOM_ID_LIMIT,
    NOT_SAVED,
    STALE,
    UNREADABLE,
    VoteButton,
    append_line,
    passage_key,
    vote_view,
)
from bot.discord_bot import QABot
from bot.discord_format import escape, unescape
from index.answering.search import Answer
from index.evaluation.evaluate import read_questions
from tests.bot.conftest import FAKE_QUESTION, FakeInteraction, MakeBot
from tests.bot.test_discord_dispatch import mention
from tests.bot.test_discord_slash import call
from tests.conftest import ARTICLE_DOC, HEADLINE_ANSWER

BEST = f"{ARTICLE_DOC}:2"  # the unit the fake engine answers FAKE_QUESTION with


def buttons(payload: dict[str, Any]) -> list[str]:
    """The custom_ids of the buttons a sent message carries."""
    return [c["custom_id"] for row in payload.get("components", []) for c in row["components"]]


def votes_in(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


class Clicks:
    """Button clicks delivered as Discord delivers them: an INTERACTION_CREATE through the
    bot's connection state, so discord.py itself finds the button class by its custom_id."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.responses: list[dict[str, Any]] = []

        async def respond(adapter: Any, interaction_id: int, token: str, **kwargs: Any
                          ) -> dict[str, Any]:
            self.responses.append(kwargs["params"].payload)
            return {"interaction": {"id": str(interaction_id), "type": 3}}

        monkeypatch.setattr(discord.webhook.async_.AsyncWebhookAdapter,
                            "create_interaction_response", respond)

    async def click(self, bot: QABot, message: discord.Message, custom_id: str,
                    member: discord.Member) -> dict[str, Any]:
        """Click ``custom_id`` under ``message`` (a message the bot sent) as ``member``."""
        assert bot.user is not None and message.guild is not None
        data = factories.dict_from_message(message)
        data |= {"channel_id": message.channel.id, "components": [{"type": 1, "components": [
            {"type": 2, "style": 2, "custom_id": custom_id}]}]}
        before = len(self.responses)
        bot._connection.parse_interaction_create({  # type: ignore[typeddict-item]
            "id": str(factories.make_id()), "application_id": str(bot.user.id), "type": 3,
            "token": "interaction-token", "version": 1, "attachment_size_limit": 8 << 20,
            "guild_id": str(message.guild.id),
            "channel": factories.dict_from_channel(message.channel),  # type: ignore[arg-type]
            "member": factories.dict_from_member(member),
            "data": {"custom_id": custom_id, "component_type": 2},
            "message": data,
        })
        for _ in range(100):  # the click runs as a task, and the vote in a thread
            if len(self.responses) > before:
                break
            await asyncio.sleep(0.01)
        assert len(self.responses) == before + 1, "the click got no (or several) responses"
        return self.responses[-1]["data"]


@pytest.fixture
def clicks(monkeypatch: pytest.MonkeyPatch) -> Clicks:
    return Clicks(monkeypatch)


# --- buttons on answers ---------------------------------------------------------------------
async def test_a_mention_answer_carries_vote_buttons_naming_its_passage(
        dpy: Any, payloads: list[dict]) -> None:
    bot = await dpy()
    await dpytest.message(mention(bot, FAKE_QUESTION))
    assert HEADLINE_ANSWER in (dpytest.get_message().embeds[0].description or "")
    assert buttons(payloads[-1]) == [f"qabot:vote:up::{BEST}", f"qabot:vote:down::{BEST}"]
    emoji = [c["emoji"]["name"] for c in payloads[-1]["components"][0]["components"]]
    assert emoji == ["👍", "👎"]


async def test_the_buttons_of_many_answers_keep_nothing_in_memory(
        dpy: Any, payloads: list[dict]) -> None:
    bot = await dpy(discord_cooldown_seconds=0)
    for _ in range(3):
        await dpytest.message(mention(bot, FAKE_QUESTION))
    assert [len(buttons(p)) for p in payloads] == [2, 2, 2]
    store = bot._connection._view_store
    # Only the button class is registered, not one view per answer sent.
    assert not store._views and not store._synced_message_views
    assert list(store._dynamic_items.values()) == [VoteButton]


async def test_a_declined_answer_can_be_voted_on_and_refusals_cannot(
        dpy: Any, payloads: list[dict]) -> None:
    bot = await dpy(discord_cooldown_seconds=30)
    await dpytest.message(mention(bot, "Zebra quantum xylophone?"))
    assert "I don't know" in (dpytest.get_message().embeds[0].description or "")
    assert len(buttons(payloads[-1])) == 2  # a 👍 on the hint says the hint did answer
    await dpytest.message(mention(bot, FAKE_QUESTION))  # refused: cooldown
    assert dpytest.get_message().content.startswith("One question at a time")
    assert buttons(payloads[-1]) == []


async def test_slash_answers_carry_buttons_and_say_when_one_document_was_asked(
        make_bot: MakeBot) -> None:
    bot = await make_bot()
    everywhere, one_doc = FakeInteraction(user=discord.Object(1)), FakeInteraction()
    await call(bot, "ask", everywhere, question=FAKE_QUESTION)  # type: ignore[arg-type]
    await call(bot, "ask", one_doc, question=FAKE_QUESTION, doc=ARTICLE_DOC)
    ids = [[c.custom_id for c in i.followup.sent[0].kwargs["view"].children]
           for i in (everywhere, one_doc)]
    assert ids == [[f"qabot:vote:up::{BEST}", f"qabot:vote:down::{BEST}"],
                   [f"qabot:vote:up:d:{BEST}", f"qabot:vote:down:d:{BEST}"]]


def test_no_buttons_without_a_passage_and_long_ids_are_hashed_to_fit() -> None:
    assert vote_view(Answer("Why?", False, [], 0.5), scoped=False) is None
    long_id = "a-very-long-document-name-" * 5 + ":12"
    key = passage_key(long_id)
    assert key.startswith("#") and len(key) == 33 and key != passage_key(long_id + "3")
    assert len(VoteButton("down", key, "dc").item.custom_id or "") <= CUSTOM_ID_LIMIT
    assert passage_key(BEST) == BEST
    assert passage_key("#x") != "#x"  # a unit id that looks like a hash is hashed too


def test_the_question_is_read_back_exactly_from_the_escaped_title() -> None:
    for question in ["Did he say *anything* about __tariffs__ or `code`, @everyone?",
                     "What about <@&123456789012345678> and C:\\path\\to?",
                     "> quoted # heading - [link](http://x.y) ~~and~~ |spoiler|"]:
        assert escape(question) != question
        assert unescape(escape(question)) == question


# --- clicking ---------------------------------------------------------------------------------
async def test_a_click_after_a_restart_is_recorded_with_question_and_passage(
        dpy: Any, make_bot: MakeBot, payloads: list[dict], clicks: Clicks,
        tmp_path: Path, settings: Any) -> None:
    question = f"{FAKE_QUESTION} *really*?"
    bot = await dpy()
    await dpytest.message(mention(bot, question))
    answer, [up, down] = dpytest.get_message(), buttons(payloads[-1])
    member = dpytest.get_config().members[0]

    # A new QABot over the same settings is a restarted bot: it never saw the answer sent.
    restarted = await dpy()
    assert restarted is not bot
    reply = await clicks.click(restarted, answer, up, member)
    assert reply["flags"] == discord.MessageFlags(ephemeral=True).value
    assert reply["content"].startswith("Thanks, your 👍 is recorded")

    path = settings.votes_path
    assert path == tmp_path / "index-votes.jsonl"  # beside the index folder, not in it
    [vote] = votes_in(path)
    assert vote | {"at": "", "message": 0} == {
        "question": question, "doc": None, "vote": "up", "passage": BEST, "shown": "answer",
        "question_cut": False, "user": member.id, "message": 0, "at": ""}
    assert vote["message"] == answer.id

    await clicks.click(restarted, answer, down, member)
    assert [v["vote"] for v in votes_in(path)] == ["up", "down"]


async def test_a_click_on_a_passage_the_index_no_longer_has_is_refused(
        dpy: Any, payloads: list[dict], clicks: Clicks, settings: Any) -> None:
    bot = await dpy()
    await dpytest.message(mention(bot, FAKE_QUESTION))
    answer, member = dpytest.get_message(), dpytest.get_config().members[0]
    reply = await clicks.click(bot, answer, "qabot:vote:up::gone-doc:3", member)
    assert reply["content"] == STALE
    assert not settings.votes_path.exists()


async def test_a_click_on_a_message_without_the_answer_is_refused(
        dpy: Any, clicks: Clicks, settings: Any) -> None:
    bot = await dpy()
    await dpytest.message(mention(bot, ""))  # a usage hint: no embed
    reply = await clicks.click(bot, dpytest.get_message(), f"qabot:vote:up::{BEST}",
                               dpytest.get_config().members[0])
    assert reply["content"] == UNREADABLE
    assert not settings.votes_path.exists()


async def test_a_vote_that_cannot_be_saved_is_one_sentence_and_logged(
        dpy: Any, payloads: list[dict], clicks: Clicks, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    bot = await dpy(discord_votes_file=blocker / "votes.jsonl")
    await dpytest.message(mention(bot, FAKE_QUESTION))
    with caplog.at_level(logging.WARNING, logger="bot.cogs.votes"):
        reply = await clicks.click(bot, dpytest.get_message(), buttons(payloads[-1])[0],
                                   dpytest.get_config().members[0])
    assert reply["content"] == NOT_SAVED
    assert "could not record a vote in" in caplog.text


# --- the file -------------------------------------------------------------------------------
def test_the_vote_file_is_beside_the_index_unless_set(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from config import load_settings

    assert load_settings(_env_file=None, index_dir=tmp_path / "idx").votes_path == (
        tmp_path / "idx-votes.jsonl")
    monkeypatch.setenv("QABOT_INDEX_DIR", str(tmp_path / "idx"))
    monkeypatch.setenv("QABOT_DISCORD_VOTES_FILE", " ")
    assert load_settings(_env_file=None).votes_path == tmp_path / "idx-votes.jsonl"
    monkeypatch.setenv("QABOT_DISCORD_VOTES_FILE", str(tmp_path / "v.jsonl"))
    assert load_settings(_env_file=None).votes_path == tmp_path / "v.jsonl"
    monkeypatch.setattr("os.path.ismount", lambda path: Path(path) == tmp_path / "idx")
    assert load_settings(_env_file=None).votes_path == tmp_path / "v.jsonl"
    monkeypatch.delenv("QABOT_DISCORD_VOTES_FILE")
    # A volume mounted as the index folder: the votes stay on it.
    assert load_settings(_env_file=None).votes_path == tmp_path / "idx" / "votes.jsonl"


def test_concurrent_appends_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "votes.jsonl"
    start = threading.Barrier(8)

    def writer(n: int) -> None:
        start.wait()
        for i in range(200):
            append_line(path, json.dumps({"writer": n, "i": i, "pad": "x" * 3000}) + "\n")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = [json.loads(line) for line in path.read_text().splitlines()]  # each line whole
    assert len(lines) == 1600
    assert sorted((v["writer"], v["i"]) for v in lines) == [(n, i) for n in range(8)
                                                            for i in range(200)]


def vote(question: str, passage: str, up: bool, user: int, **extra: Any) -> str:
    return json.dumps({"question": question, "doc": None, "vote": "up" if up else "down",
                       "passage": passage, "user": user, **extra}) + "\n"


def test_votes_become_questions_by_each_voter_s_last_vote_and_the_majority(
        tmp_path: Path) -> None:
    path = tmp_path / "votes.jsonl"
    path.write_text(
        vote("Q1", "d:1", True, 1) + vote("Q1", "d:1", True, 2) + vote("Q1", "d:1", False, 3)
        + vote("Q1", "d:2", True, 1) + vote("Q1", "d:2", False, 2)  # tied: not gold
        + vote("Q2", "d:5", True, 1) + vote("Q2", "d:5", False, 1)  # changed to 👎
        + vote("Q3", "d:7", False, 1)  # only 👎: left out, not "unanswerable"
        + vote("Q4", "d:1", True, 1, question_cut=True)  # only the start of the question
        + vote("Q5", "d:9", True, 1, doc="d") .replace('"doc": null', '"doc": "d"')
        + json.dumps({"question": "Plain", "gold": ["two hours"]}) + "\n")
    questions = read_questions(path)
    assert [(q.question, q.doc, q.gold) for q in questions] == [
        ("Plain", None, ("two hours",)), ("Q1", None, ("d:1",)), ("Q5", "d", ("d:9",))]


@pytest.mark.parametrize(("line", "error"), [
    ('{"question": "Q", "vote": "maybe", "passage": "d:1"}', '"vote" must be "up" or "down"'),
    ('{"question": "Q", "vote": "up"}', '"passage" must be a unit id'),
])
def test_a_bad_vote_line_is_skipped_and_named(tmp_path: Path, line: str, error: str) -> None:
    path = tmp_path / "votes.jsonl"
    path.write_text(vote("Q", "d:1", True, 1) + line + "\n")
    said: list[str] = []
    questions = read_questions(path, notify=said.append)
    assert [(q.question, q.gold) for q in questions] == [("Q", ("d:1",))]
    assert said == [f"{path}: skipped 1 damaged line (line 2: {error}); read 1 vote"]


def test_qabot_eval_reads_the_vote_file(tmp_path: Path, fake_engine: Any,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import index.answering.configured
    from tests.fakes import FakeEmbedder

    monkeypatch.setattr(index.answering.configured, "default_embedder",
                        lambda settings, *_: FakeEmbedder())
    from bot.cli import cli

    path = tmp_path / "votes.jsonl"
    path.write_text(vote(FAKE_QUESTION, BEST, True, 1) + vote(FAKE_QUESTION, BEST, True, 2)
                    + vote("Zebra quantum xylophone?", BEST, False, 1))
    index = str(fake_engine.settings.index_dir)
    monkeypatch.setenv("QABOT_MODEL", "fake-embedder")  # what the index was built with
    result = CliRunner().invoke(cli, ["eval", str(path), "--index-dir", index, "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)["metrics"]
    assert metrics["questions"] == 1 and metrics["answerable"] == 1
    assert metrics["hit_at_1"] == 1.0

    only_down = tmp_path / "down.jsonl"
    only_down.write_text(vote("Zebra quantum xylophone?", BEST, False, 1))
    result = CliRunner().invoke(cli, ["eval", str(only_down), "--index-dir", index])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"qabot: error: {only_down}: no questions (1 voted question left out: no passage "
        "with more 👍 than 👎, or the question was cut)")


async def test_a_vote_on_an_answer_titled_with_its_phrase_records_the_question(
        monkeypatch: pytest.MonkeyPatch, dpy: Any, payloads: list[dict], clicks: Clicks,
        settings: Any) -> None:
    import index.answering.configured
    from tests.fakes import FakePhraseReranker

    monkeypatch.setattr(index.answering.configured, "default_reranker",
                        lambda settings, *_: FakePhraseReranker())
    bot = await dpy()
    await dpytest.message(mention(bot, FAKE_QUESTION))
    answer, [up, _] = dpytest.get_message(), buttons(payloads[-1])
    assert answer.embeds[0].title != FAKE_QUESTION  # the phrase is the title
    await clicks.click(bot, answer, up, dpytest.get_config().members[0])
    [vote] = votes_in(settings.votes_path)
    assert vote["question"] == FAKE_QUESTION and vote["vote"] == "up"
