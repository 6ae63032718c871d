"""Fault injection, round 4 (issue 32), Discord: links and channel mentions in the indexed
text reach an embed as text, never live, through a mention and through ``/ask``.

Each case left a link live (or the mention as is) on d6d6c1b. Driven through discord.py's
own dispatch (dpytest) and the slash command's callback, as tests/bot/ does.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import discord.ext.test as dpytest
import pytest

from bot.discord_format import escape, unescape
from tests.bot import conftest as discord_helpers
from tests.bot.conftest import FakeInteraction, call, embed_text
from tests.conftest import engine_over

# The fixtures of tests/bot/, used here as they are.
make_bot = discord_helpers.make_bot
dpy = discord_helpers.dpy

MINUTES = ("Read [the minutes](http://x.example/a) and [the login page]"
           "(http://evil.example/login) before the vote.")
GLUED = "The pair [a](http://a.example/)[b](http://b.example/) sits in the harbour office."
CHANNEL = "Ask the harbour master in <#123456789012345678> or with </ask:123456789012345678>."
BARE = "The harbour's forms are at https://evil.example/login and ftp://files.example/a."
TEXT = " ".join([MINUTES, GLUED, CHANNEL, BARE, "Boats float on water. Cats purr at night."])
# A link Discord would render: "[" not escaped (after an even run of backslashes), "](".
LIVE_LINK = re.compile(r"(?<!\\)(?:\\\\)*\[[^\]]*\]\(")


def _shown_safely(text: str) -> None:
    assert LIVE_LINK.search(text) is None, text
    assert "<#1" not in text and "</a" not in text, text
    assert "://" not in text, "a bare web address Discord would make a link"


@pytest.mark.parametrize("line", [MINUTES, GLUED, CHANNEL, BARE, "[a](<http://e.example>)",
                                  "a \\[b](http://x.example) [c](http://evil.example)"])
def test_escape_leaves_no_link_or_channel_mention_live(line: str) -> None:
    escaped = escape(line)
    _shown_safely(escaped)
    assert unescape(escaped) == line, "the bot's own titles read back as written"


@pytest.fixture
def engine(settings: Any, tmp_path: Path) -> Any:
    return engine_over(settings, tmp_path / "links", TEXT)


@pytest.mark.parametrize("question", ["Which minutes and login page should I read before "
                                      "the vote?",
                                      "Where does the pair sit in the harbour office?",
                                      "Where do I ask the harbour master?"])
async def test_a_mention_shows_the_indexed_links_as_text(dpy: Any, engine: Any,
                                                         question: str) -> None:
    bot = await dpy(engine)
    assert bot.user is not None
    await dpytest.message(f"<@{bot.user.id}> {question}")
    embed = dpytest.get_message().embeds[0]
    text = embed_text(embed)
    assert "harbour" in text or "minutes" in text, text  # the passage is shown
    _shown_safely(text)


async def test_slash_ask_shows_the_indexed_links_as_text(make_bot: Any, engine: Any) -> None:
    bot = await make_bot(engine)
    interaction = FakeInteraction()
    await call(bot, "ask", interaction,
               question="Which minutes and login page should I read before the vote?")
    [reply] = interaction.followup.sent
    assert reply.embed is not None
    text = embed_text(reply.embed)
    assert "login page" in text, text
    _shown_safely(text)
