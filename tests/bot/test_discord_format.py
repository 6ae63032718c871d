"""Embeds and messages within Discord's limits, cut on sentence or word boundaries, escaped."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.discord_format import (
    DESCRIPTION_LIMIT,
    EMBED_LIMIT,
    FIELD_NAME_LIMIT,
    FIELD_VALUE_LIMIT,
    FOOTER_LIMIT,
    MAX_FIELDS,
    MESSAGE_LIMIT,
    TITLE_LIMIT,
    answer_embed,
    plain,
    rebuild_summary,
    shorten,
    shorten_start,
    sources_embed,
)
from index.answering.engine import Engine
from index.answering.search import Answer
from index.storage.build import BuildResult
from index.storage.loading import DocInfo
from tests.bot.conftest import FakeInteraction, MakeBot, embed_text
from tests.bot.test_discord_slash import call
from tests.conftest import ARTICLE_DOC
from tests.fakes import FakeEmbedder

TEXT = ("The summit opened on Friday. Leaders met in Hamburg for two days! Was it a success? "
        "Observers were divided, and the talks ran long.")


def assert_fits(embed: discord.Embed) -> None:
    """Everything Discord checks before it accepts an embed."""
    assert len(embed.title or "") <= TITLE_LIMIT
    assert len(embed.description or "") <= DESCRIPTION_LIMIT
    assert len(embed.fields) <= MAX_FIELDS
    for f in embed.fields:
        assert f.name and f.value
        assert len(f.name) <= FIELD_NAME_LIMIT and len(f.value) <= FIELD_VALUE_LIMIT
    assert len(embed.footer.text or "") <= FOOTER_LIMIT
    assert len(embed) <= EMBED_LIMIT


def assert_word_cut(cut: str, original: str) -> None:
    """``cut`` is the start of ``original`` up to a whole word, then an ellipsis."""
    assert cut.endswith(" …")
    kept = cut[: -len(" …")]
    assert original.startswith(kept)
    assert original[len(kept)].isspace(), f"cut mid-word at {original[len(kept)-5:][:10]!r}"


# --- shorten ------------------------------------------------------------------------------
def test_shorten_keeps_short_text() -> None:
    assert shorten(TEXT, len(TEXT)) == TEXT


def test_shorten_prefers_a_sentence_boundary() -> None:
    expected = "The summit opened on Friday. Leaders met in Hamburg for two days! …"
    assert shorten(TEXT, 70) == expected


def test_shorten_falls_back_to_a_word_boundary_in_one_long_sentence() -> None:
    sentence = "Observers were divided about the talks that ran very long " * 5
    cut = shorten(sentence, 100)
    assert len(cut) <= 100
    assert_word_cut(cut, sentence)


@pytest.mark.parametrize("limit", range(5, len(TEXT) + 1, 3))
def test_shorten_never_cuts_mid_word(limit: int) -> None:
    cut = shorten(TEXT, limit)
    assert len(cut) <= limit
    if cut != TEXT and cut:
        assert_word_cut(cut, TEXT)


@pytest.mark.parametrize("limit", range(5, len(TEXT) + 1, 3))
def test_shorten_start_keeps_whole_words_at_the_end(limit: int) -> None:
    cut = shorten_start(TEXT, limit)
    assert len(cut) <= limit and TEXT.endswith(cut.removeprefix("… "))
    if cut not in (TEXT, ""):
        kept = cut.removeprefix("… ")
        assert TEXT[-len(kept) - 1].isspace()


def test_only_a_single_overlong_word_is_cut_hard() -> None:
    url = "https://example.com/" + "a" * 3000
    assert shorten(url, 100) == url[:99] + "…"
    assert shorten(url, 100, hard=False) == shorten_start(url, 100) == ""


def test_plain_messages_fit_and_do_not_ping() -> None:
    text = plain("@everyone " + "word " * 1000)
    assert len(text) <= MESSAGE_LIMIT and "@everyone" not in text


# --- answers ------------------------------------------------------------------------------
@pytest.fixture
def engine_over(tmp_path: Path, settings: Any) -> Callable[[str | list[str]], Engine]:
    """An engine (fake embedder) over one document with the given text, or units as given.

    The splitter cuts sentences over 1500 characters: longer units come from JSONL.
    """

    def build(text: str | list[str]) -> Engine:
        if isinstance(text, str):
            source = tmp_path / "doc.txt"
            source.write_text(text, encoding="utf-8")
        else:
            source = tmp_path / "doc.jsonl"
            source.write_text("".join(json.dumps({"id": f"doc:{n}", "doc": "doc", "text": t})
                                      + "\n" for n, t in enumerate(text)), encoding="utf-8")
        engine = Engine(settings.model_copy(update={"index_dir": tmp_path / "idx"}),
                        FakeEmbedder())
        engine.build([source], force=True)
        engine.load()
        return engine

    return build


def long_sentence(topic: str, words: int) -> str:
    return f"The {topic} " + " ".join(f"{topic}{n % 97} word" for n in range(words)) + " ended."


def test_a_very_long_document_sentence_is_cut_on_a_word_within_the_limits(
        engine_over: Callable[[str | list[str]], Engine]) -> None:
    sentences = [long_sentence(t, 1500) for t in ("zebra", "giraffe", "lion", "otter")]
    engine = engine_over(sentences)
    answer = engine.ask("zebra0 zebra1 zebra2 word", top_k=4)
    assert answer.best is not None and answer.best.unit.text.startswith("The zebra")
    embed = answer_embed(answer, built_at=engine.data.built_at, model="fake")
    assert_fits(embed)

    description = embed.description or ""
    bold = re.search(r"\*\*(.+?)\*\*", description)
    assert bold is not None and description.count("**") == 2  # the highlight is closed
    assert_word_cut(bold.group(1), answer.best.unit.text)
    assert len(description) > DESCRIPTION_LIMIT - 100  # the room is used, not wasted
    assert description.endswith(f"— doc, sentence {answer.best.unit.position} · confidence "
                                f"{answer.best.score:.2f}")
    for f in embed.fields:  # further long passages, each cut on a word
        assert (f.value or "").endswith(" …")


def test_long_neighbours_are_cut_around_a_short_answer(
        engine_over: Callable[[str | list[str]], Engine]) -> None:
    before, after = long_sentence("giraffe", 1500), long_sentence("otter", 1500)
    engine = engine_over([before, "The zebra parade lasted nine days.", after])
    answer = engine.ask("How many days did the zebra parade last?", top_k=1)
    assert answer.best is not None and answer.best.unit.text.startswith("The zebra")
    embed = answer_embed(answer)
    assert_fits(embed)
    context = (embed.description or "").split("\n\n")[0]
    head, rest = context.split(" **The zebra parade lasted nine days.** ")
    assert head.startswith("… ") and before.endswith(head.removeprefix("… "))
    assert before[-len(head.removeprefix("… ")) - 1] == " "
    assert_word_cut(rest, after)
    assert abs(len(head) - len(rest)) < 30  # the room is shared between both sides


def test_many_passages_stay_within_25_fields_and_6000_characters(
        engine_over: Callable[[str | list[str]], Engine]) -> None:
    text = " ".join(f"Sentence {n} talks about the meeting in Hamburg at length, and {n} more "
                    f"words follow here to make it long enough to matter." for n in range(80))
    engine = engine_over(text)
    answer = engine.ask("What happened at the meeting in Hamburg?", top_k=50)
    embed = answer_embed(answer, built_at=engine.data.built_at, model="fake")
    assert_fits(embed)
    assert 5 < len(embed.fields) <= MAX_FIELDS


async def test_a_long_question_is_answered_with_a_title_cut_on_a_word(
        make_bot: MakeBot) -> None:
    bot = await make_bot(discord_max_question_chars=4000)
    question = ("How long did the meeting in Hamburg last, *really*, @everyone? " * 30).strip()
    interaction = FakeInteraction()
    await call(bot, "ask", interaction, question=question)
    embed = interaction.followup.sent[0].embed
    assert embed is not None
    assert_fits(embed)
    title = embed.title or ""
    assert title.endswith(" …") and "@everyone" not in title and "\\*really\\*" in title
    assert len(title) > TITLE_LIMIT - 80


def test_article_text_is_escaped(engine_over: Callable[[str | list[str]], Engine]) -> None:
    engine = engine_over("The memo said *nothing* about __tariffs__ or `code` to @everyone "
                         "and <@&123456789012345678>. It was short.")
    embed = answer_embed(engine.ask("What did the memo say about tariffs?"))
    description = embed.description or ""
    assert "\\*nothing\\*" in description and "\\_\\_tariffs\\_\\_" in description
    assert "\\`code\\`" in description
    assert "@\u200beveryone" in description and "<@\u200b&123456789012345678>" in description


@pytest.mark.parametrize("question", ["Zebra quantum xylophone?",
                                      "Best recipe for banana bread?"])
def test_a_declined_answer_is_a_short_i_dont_know_with_one_hint(fake_engine: Any,
                                                               question: str) -> None:
    answer = fake_engine.ask(question)
    assert not answer.answered and len(answer.passages) == 3  # the engine found three
    embed = answer_embed(answer)
    description = embed.description or ""
    assert answer.best is not None
    hint = answer.best.unit.text
    assert answer.verdict == "unknown"
    assert description == (
        f"**I don't know: I found no answer in the article (confidence "
        f"{answer.confidence:.2f}, below {answer.likely_threshold:.2f}).** The closest passage, "
        f"a hint and not an answer:\n\n> {hint}\n\n— {ARTICLE_DOC}, sentence "
        f"{answer.best.unit.position}")
    assert not embed.fields  # not three unrelated passages
    assert answer.passages[1].unit.text not in embed_text(embed)
    assert embed.colour == discord.Colour.light_grey()
    assert len(description) < 800


def test_a_declined_hint_is_cut_short(engine_over: Callable[[str | list[str]], Engine]
                                      ) -> None:
    engine = engine_over([long_sentence("giraffe", 3000)])
    answer = engine.ask("Zebra quantum xylophone?")
    assert not answer.answered
    description = answer_embed(answer).description or ""
    hint = description.split("\n\n")[1]
    assert len(description) < 800
    assert hint.startswith("> The giraffe giraffe0 word") and hint.endswith(" …")


def test_an_answer_without_passages() -> None:
    embed = answer_embed(Answer(question="Why?", answered=False, passages=[], threshold=0.5))
    assert embed.description == "I don't know: the index has nothing to search."


def test_a_notice_is_shown_above_the_answer(fake_engine: Any) -> None:
    answer = fake_engine.ask("How many hours did the meeting last in Hamburg?")
    answer.notice = "question cut to its first 2000 characters"
    assert (answer_embed(answer).description or "").startswith(
        "*(question cut to its first 2000 characters)*\n\n")


# --- sources and rebuilds -----------------------------------------------------------------
def test_sources_embed_with_many_long_named_documents_fits() -> None:
    docs = [DocInfo(name=f"{'very-long-name-' * 10}{n}", title="", source="x", start=n,
                    count=3) for n in range(400)]
    embed = sources_embed(docs, units=1200, model="m", built_at="2024-01-01T00:00:00+00:00")
    assert_fits(embed)
    assert embed.title == "400 documents, 1200 sentences"
    assert re.search(r"\n… and \d+ more$", embed.description or "")


def test_sources_embed_shows_a_title_that_says_more_than_the_name() -> None:
    docs = [DocInfo("g20", "Trump meets Putin", "a", 0, 3),
            DocInfo("trump-putin", "trump putin", "b", 3, 4)]
    embed = sources_embed(docs, units=7, model="m", built_at="not a date")
    assert embed.description == ("• **g20** — Trump meets Putin: 3 sentences\n"
                                 "• **trump-putin**: 4 sentences")
    assert embed.footer.text == "model m · index built not a date"


def test_rebuild_summaries() -> None:
    built = BuildResult(path=Path("i"), skipped=False, units=35, documents=1, seconds=1.234)
    assert rebuild_summary(built) == ("Rebuilt the index: 35 units from 1 document in 1.2 s. "
                                      "Questions now use the new index.")
    skipped = BuildResult(path=Path("i"), skipped=True, units=70, documents=2, seconds=0.1,
                          reason="unchanged")
    assert rebuild_summary(skipped) == ("The index is up to date (unchanged): 70 units from 2 "
                                        "documents, nothing rebuilt. Use `force` to rebuild "
                                        "anyway.")


def test_also_relevant_drops_passages_far_below_the_best(fake_engine: Any) -> None:
    import dataclasses

    answer = fake_engine.ask("How long did the meeting last?", top_k=3)
    assert answer.answered and len(answer.passages) == 3
    best, near, far = answer.passages
    scored = dataclasses.replace(answer, calibrated_scores=True, passages=[
        dataclasses.replace(best, score=0.9), dataclasses.replace(near, score=0.3),
        dataclasses.replace(far, score=0.01)])
    names = [f.name or "" for f in answer_embed(scored).fields]
    assert len(names) == 1 and f"sentence {near.unit.position}" in names[0]
    # First-stage scores are not probabilities: nothing is dropped.
    assert len(answer_embed(dataclasses.replace(scored, calibrated_scores=False)).fields) == 2
