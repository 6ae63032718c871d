"""Votes: 👍/👎 buttons under each answer, appended to a JSONL file ``qabot eval`` reads.

The buttons are :class:`discord.ui.DynamicItem` s: their ``custom_id`` carries everything a
vote needs besides the question (the vote, the passage and whether the question was asked of
its document only), and the cog registers the template at start, so buttons on answers sent
before a restart keep working. The question is read back from the answer's own title.

One vote is one line (see :func:`vote_record`) appended with a single ``write`` on an
``O_APPEND`` descriptor, under a lock, so votes arriving together, even from two bot
processes, never interleave; a write a full disk cuts short is cut back (see
:func:`append_line`). What a vote means for evaluation is decided when the file is read
(:func:`index.evaluation.evaluate.read_votes`).
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

import discord
from discord.ext import commands

from bot.cogs.errors import report
from bot.discord_format import DECLINED_COLOUR, NO_PINGS, TITLE_LIMIT, escape, plain, unescape

if TYPE_CHECKING:
    from bot.discord_bot import QABot
    from index import Answer, IndexData, Unit

log = logging.getLogger(__name__)

Vote = Literal["up", "down"]
PREFIX = "qabot:vote:"
CUSTOM_ID_LIMIT = 100  # Discord's limit on a component's custom_id
EMOJI: dict[str, str] = {"up": "👍", "down": "👎"}
SCOPED = "d"  # flag: the question was asked of the passage's document only
CUT = "c"  # flag: the question was longer than the title that shows it
TEMPLATE = re.escape(PREFIX) + r"(?P<vote>up|down):(?P<flags>[a-z]*):(?P<key>.+)"

STALE = ("That answer comes from an earlier index, which no longer has its passage; ask "
         "again to vote on the current one.")
UNREADABLE = "I can't tell which question this answer was for, so the vote was not recorded."
NOT_SAVED = "Sorry, I could not save your vote; the details are in the bot's log."


def passage_key(unit_id: str) -> str:
    """How a button names its passage: the unit id when it fits in a custom_id, else a hash.

    Unit ids come from file names or JSONL and may be long; a hash (``#`` + 32 hex digits)
    always fits and is resolved against the loaded index when the vote arrives.
    """
    longest = len(PREFIX) + len("down:") + len(SCOPED + CUT) + 1
    if longest + len(unit_id) <= CUSTOM_ID_LIMIT and not unit_id.startswith("#"):
        return unit_id
    return "#" + hashlib.sha256(unit_id.encode("utf-8")).hexdigest()[:32]


def custom_id(vote: str, flags: str, key: str) -> str:
    return f"{PREFIX}{vote}:{flags}:{key}"


class VoteButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=TEMPLATE):
    """A 👍 or 👎 button for one answer; it works for as long as the bot runs this class."""

    def __init__(self, vote: Vote, key: str, flags: str = "") -> None:
        super().__init__(discord.ui.Button(style=discord.ButtonStyle.secondary,
                                           emoji=EMOJI[vote],
                                           custom_id=custom_id(vote, flags, key)))
        self.vote: Vote = vote
        self.key = key
        self.flags = flags

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> Self:
        vote: Vote = "up" if match["vote"] == "up" else "down"
        return cls(vote, match["key"], match["flags"])

    async def callback(self, interaction: discord.Interaction) -> None:
        cog = interaction.client.get_cog("Votes") if isinstance(interaction.client,
                                                                commands.Bot) else None
        if not isinstance(cog, Votes):  # a bot without votes: say so rather than time out
            await interaction.response.send_message("Votes are not recorded here.",
                                                    ephemeral=True)
            return
        await cog.vote(interaction, self)


def vote_view(answer: Answer, *, scoped: bool) -> discord.ui.View | None:
    """The 👍/👎 buttons for an answer (its best passage, or the hint of a decline).

    ``scoped``: the question was asked of one document only (``/ask doc:``).
    """
    if answer.best is None:
        return None
    flags = (SCOPED if scoped else "") + (CUT if len(escape(answer.question)) > TITLE_LIMIT
                                          else "")
    key = passage_key(answer.best.unit.id)
    view = discord.ui.View(timeout=None)
    for vote in ("up", "down"):
        view.add_item(VoteButton(vote, key, flags))
    return view


def append_line(path: Path, line: str) -> None:
    """Append ``line`` whole, or not at all, with one ``write`` on an ``O_APPEND`` descriptor.

    With O_APPEND the kernel moves to the end and writes in one step, so concurrent appends
    (threads or processes) land one after the other and never mix within a line. A full
    disk (or a file size limit) can still cut the write short: the part written is then
    cut off again, so the next vote does not start on a half line. Should a half line be
    there anyway (a crash, an older qabot), the vote starts on a new line after it.
    """
    data = line.encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        # Between qabot's appenders (threads, bot processes), so that the end this one looks
        # at is not another's line half copied, and a cut back never cuts another's line.
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        written = os.write(fd, data)  # raises when not a byte could be written
        if written != len(data):
            _cut_back(fd, written)
            raise OSError(errno.ENOSPC, f"short write to {path} ({written} of {len(data)} "
                                        f"bytes): the disk is full")
    finally:
        os.close(fd)


def _cut_back(fd: int, written: int) -> None:
    """Remove the ``written`` bytes of a short append, unless another append followed it
    (a writer that is not qabot: cutting would lose its line; the reader skips the half
    line)."""
    end = os.lseek(fd, 0, os.SEEK_CUR)  # O_APPEND: just past the bytes this write put
    if os.fstat(fd).st_size == end:
        os.ftruncate(fd, end - written)


def vote_record(*, question: str, doc: str | None, vote: Vote, unit: Unit, answered: bool,
                cut: bool, user: int, message: int | None) -> dict[str, Any]:
    """One line of the vote file (the keys :func:`index.evaluation.evaluate.read_votes` reads)."""
    return {"question": question, "doc": doc, "vote": vote, "passage": unit.id,
            "shown": "answer" if answered else "hint", "question_cut": cut, "user": user,
            "message": message, "at": datetime.now(UTC).isoformat(timespec="seconds")}


class Votes(commands.Cog):
    """Record votes on answers: the community's questions become the eval set."""

    def __init__(self, bot: QABot) -> None:
        self.bot = bot
        self.path = bot.settings.votes_path
        self._keys: tuple[IndexData, dict[str, Unit]] | None = None

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(VoteButton)
        log.info("votes on answers are appended to %s", self.path)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(VoteButton)

    def unit_for(self, key: str) -> Unit | None:
        """The unit a button names, in the index loaded now (a rebuild may have dropped it)."""
        data = self.bot.engine.data
        if self._keys is None or self._keys[0] is not data:
            keys = {passage_key(u.id): u for u in data.units}
            self._keys = (data, keys)
        return self._keys[1].get(key)

    async def vote(self, interaction: discord.Interaction, button: VoteButton) -> None:
        """Record one vote and thank the voter (only they see the reply)."""
        async def send(text: str) -> None:
            await interaction.response.send_message(plain(text), ephemeral=True,
                                                    allowed_mentions=NO_PINGS)

        try:
            async with self.bot.serving():
                await send(await self._record(interaction, button))
        except Exception as exc:  # told in one sentence, logged with the traceback
            await report(exc, send, "the vote button")

    async def _record(self, interaction: discord.Interaction, button: VoteButton) -> str:
        message = interaction.message
        embed = message.embeds[0] if message is not None and message.embeds else None
        if embed is None:
            return UNREADABLE
        # The question is the title, or the author line above a phrase that is the title.
        question = embed.author.name or (unescape(embed.title) if embed.title else "")
        if not question:
            return UNREADABLE
        unit = self.unit_for(button.key)
        if unit is None:
            return STALE
        record = vote_record(question=question,
                             doc=unit.doc if SCOPED in button.flags else None,
                             vote=button.vote, unit=unit,
                             answered=embed.colour != DECLINED_COLOUR,
                             cut=CUT in button.flags, user=interaction.user.id,
                             message=message.id if message is not None else None)
        line = json.dumps(record, ensure_ascii=False) + "\n"
        try:
            await asyncio.to_thread(append_line, self.path, line)
        except OSError as exc:
            log.warning("could not record a vote in %s: %s", self.path, exc)
            return NOT_SAVED
        log.info("vote %s by user %s on %s", button.vote, interaction.user.id, unit.id)
        return (f"Thanks, your {EMOJI[button.vote]} is recorded: it helps measure and "
                "improve the answers.")


async def setup(bot: QABot) -> None:
    """Add the cog (the bot's ``setup_hook`` calls this, as discord.py loads an extension)."""
    await bot.add_cog(Votes(bot))
