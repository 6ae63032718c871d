"""The phrase that answers (issue 30) through the real paths: the CLI (text and JSON), the
REPL and Discord (dpytest), with the fake reranker given a span head (its phrase: the best
passage's first number)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import discord.ext.test as dpytest
import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.render import render_answer
from bot.repl import Repl
from tests.bot.conftest import FAKE_QUESTION, description
from tests.fakes import FakePhraseReranker

OFF_TOPIC = "Pancakes or waffles?"


@pytest.fixture
def phrase_reranker(monkeypatch: pytest.MonkeyPatch) -> None:
    import index.answering.configured

    monkeypatch.setattr(index.answering.configured, "default_reranker",
                        lambda settings, *_: FakePhraseReranker())


def first_number(text: str) -> str:
    found = re.search(r"\d[\d,.]*\d|\d", text)
    assert found is not None
    return found.group()


def ask(runner: CliRunner, index_dir: Path, *args: str) -> Any:
    result = runner.invoke(cli, ["ask", "--index-dir", str(index_dir), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_json_adds_the_phrase_with_its_offsets_in_the_first_passage(
        phrase_reranker: None, runner: CliRunner, index_dir: Path) -> None:
    obj = json.loads(ask(runner, index_dir, "--json", FAKE_QUESTION))
    assert obj["verdict"] in ("answer", "likely")
    text = obj["passages"][0]["text"]
    phrase = obj["phrase"]
    assert text[phrase["start"] : phrase["end"]] == phrase["text"] == first_number(text)
    assert 0.5 <= phrase["confidence"] <= 1.0


def test_text_leads_with_the_phrase_then_marks_it_in_the_sentence(
        phrase_reranker: None, runner: CliRunner, index_dir: Path) -> None:
    out = ask(runner, index_dir, FAKE_QUESTION)
    obj = json.loads(ask(runner, index_dir, "--json", FAKE_QUESTION))
    phrase = obj["phrase"]["text"]
    lines = out.splitlines()
    assert lines[0] == f"**{phrase}**"
    assert lines[1].startswith(("Answer [", "Likely answer ["))
    assert f"_{phrase}_" in out and out.count("**") == 4  # the phrase, the sentence


def test_no_phrase_when_qabot_does_not_answer(phrase_reranker: None, runner: CliRunner,
                                              index_dir: Path) -> None:
    obj = json.loads(ask(runner, index_dir, "--json", OFF_TOPIC))
    assert obj["verdict"] == "unknown" and "phrase" not in obj
    assert not ask(runner, index_dir, OFF_TOPIC).startswith("**")


def test_no_phrase_from_a_reranker_without_a_span_head(runner: CliRunner,
                                                       index_dir: Path) -> None:
    obj = json.loads(ask(runner, index_dir, "--json", FAKE_QUESTION))
    assert obj["verdict"] in ("answer", "likely") and "phrase" not in obj
    assert "_" not in ask(runner, index_dir, FAKE_QUESTION).splitlines()[0]


def test_the_repl_leads_with_the_phrase_and_styles_it(phrase_reranker: None,
                                                      fake_engine: Any) -> None:
    out = io.StringIO()
    Repl(fake_engine, out=out).run([FAKE_QUESTION])
    answer = fake_engine.ask(FAKE_QUESTION)
    assert answer.phrase is not None
    phrase = answer.phrase.text(answer.best.unit.text)
    assert out.getvalue().lstrip().startswith(f"**{phrase}**")
    styled = render_answer(answer, highlight=lambda s: f"<{s}>")
    assert styled.splitlines()[0] == f"<{phrase}>"
    assert f"\x1b[4m{phrase}" in styled  # underlined inside the highlighted sentence


async def test_discord_titles_the_embed_with_the_phrase(phrase_reranker: None,
                                                        dpy: Any) -> None:
    bot = await dpy()
    assert bot.user is not None
    await dpytest.message(f"<@{bot.user.id}> {FAKE_QUESTION}")
    embed = dpytest.get_message().embeds[0]
    sentence_number = first_number(description(embed).split("**")[1])
    assert embed.title == sentence_number
    assert embed.author.name == FAKE_QUESTION
    assert f"__{sentence_number}__" in description(embed)
