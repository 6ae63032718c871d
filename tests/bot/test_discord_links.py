"""Discord embeds link to the source of the answer: the title and the citation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import discord.ext.test as dpytest
import pytest
from click.testing import CliRunner

from bot.cli import cli
from tests.fakes import FakeEmbedder
from tests.index.test_citations import PAGE, QUESTION, URL


@pytest.fixture
def index_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import index.answering.configured

    monkeypatch.setattr(index.answering.configured, "default_embedder",
                        lambda settings, *_: FakeEmbedder())
    source = tmp_path / "rota.md"
    source.write_text(PAGE, encoding="utf-8")
    path = tmp_path / "idx"
    built = CliRunner().invoke(cli, ["index", "build", "--index-dir", str(path),
                                     "--source", str(source)])
    assert built.exit_code == 0, built.output
    return path


async def test_discord_embed_title_links_to_the_source(dpy: Any, settings: Any,
                                                       index_dir: Path) -> None:
    from index.answering.engine import Engine

    engine = Engine(settings.model_copy(update={"index_dir": index_dir}), FakeEmbedder())
    engine.load()
    bot = await dpy(engine)
    assert bot.user is not None
    await dpytest.message(f"<@{bot.user.id}> {QUESTION}")
    embed = dpytest.get_message().embeds[0]
    assert embed.url == URL  # the title (the question) links to the page
    assert f"[rota › Carry-over, sentence 1]({URL})" in (embed.description or "")


def test_embed_drops_a_link_discord_would_refuse() -> None:
    from bot.discord_format import answer_embed
    from index.answering.search import Answer, Passage
    from index.sources.documents import Unit

    unit = Unit(id="d:0", doc="d", text="Some text.", position=0, url="javascript:alert(1)")
    answer = Answer(question="Q?", answered=True, threshold=0.5, confidence=0.9,
                    passages=[Passage(unit=unit, score=0.9, context="Some text.")])
    embed = answer_embed(answer)
    assert embed.url is None and "javascript" not in (embed.description or "")
