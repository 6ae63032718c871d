"""Asking: ``/ask``, mentioning the bot with a question, and the optional ``!ask``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs.constants import EXAMPLE
from bot.cogs.info import Info
from bot.cogs.votes import vote_view
from bot.discord_format import NO_PINGS, answer_embed, own_title, plain
from bot.safe_text import safe_text
from index import Conversations

if TYPE_CHECKING:
    from bot.discord_bot import QABot

log = logging.getLogger(__name__)

__all__ = ["EXAMPLE", "NEW_CONVERSATION", "Asking", "user_cooldown"]

MAX_CHOICES = 25  # Discord shows at most 25 autocomplete choices
# Conversations kept in memory (the least recently used are forgotten beyond it); each keeps
# index.answering.conversation.MAX_TURNS turns. A few hundred bytes each.
MAX_CONVERSATIONS = 10_000
NEW_CONVERSATION = "New conversation: your next question stands alone."
CHOICE_LIMIT = 100  # characters in a choice's name and value
SILENT = ""  # a refusal not said again (see Asking.refusal)
ConversationKey = tuple[int | None, int, int | None]  # guild, channel or thread, user


def conversation_key(channel: Any, user_id: int) -> ConversationKey:
    """Whose conversation a question belongs to: in a thread, the thread's (everyone in it
    talks in one conversation); elsewhere the user's in that channel (or DM)."""
    guild = getattr(getattr(channel, "guild", None), "id", None)
    if isinstance(channel, discord.Thread):
        return guild, channel.id, None
    return guild, channel.id, user_id


def user_cooldown(seconds: float) -> commands.CooldownMapping[int] | None:
    """One question per user every ``seconds`` (None when 0 turns it off).

    discord.py's own mapping, keyed by user id so that ``/ask``, mentions and ``!ask`` share
    one budget (switching the way in does not skip the wait); it forgets users whose window
    is over by itself.
    """
    if seconds <= 0:
        return None
    return commands.CooldownMapping.from_cooldown(1, seconds, lambda user_id: user_id)


def mention_question(content: str, bot_id: int, role_id: int | None = None) -> str | None:
    """Return the question after a leading mention of the bot, or None if there is none.

    A mention of the bot's own role (the one Discord creates for it in each server, which
    the member list offers beside the bot when people type @qabot) counts too.
    """
    who = rf"!?{bot_id}" + (rf"|&{role_id}" if role_id is not None else "")
    match = re.match(rf"\s*<@(?:{who})>", content)
    return content[match.end() :].strip() if match else None


def own_role_id(message: discord.Message) -> int | None:
    """The id of the bot's managed role in the message's server, if it has one."""
    role = message.guild.self_role if message.guild is not None else None
    return role.id if role is not None else None


async def reply(message: discord.Message, content: str | None = None, **kwargs: Any
                ) -> discord.Message:
    """Reply to ``message`` in its channel (or thread), shown as a reply to the question.

    A question deleted meanwhile does not lose the answer: it is sent without the link.
    """
    reference = message.to_reference(fail_if_not_exists=False)
    return await message.channel.send(content, reference=reference, mention_author=False,
                                      allowed_mentions=NO_PINGS, **kwargs)


@contextlib.asynccontextmanager
async def typing(channel: discord.abc.Messageable) -> AsyncIterator[None]:
    """Show "qabot is typing…" meanwhile; a refused indicator is no reason not to answer."""
    async with contextlib.AsyncExitStack() as stack:
        try:
            await stack.enter_async_context(channel.typing())
        except discord.HTTPException as exc:
            log.info("no typing indicator (HTTP %s); answering anyway", exc.status)
        yield


class Asking(commands.Cog):
    """Answer questions about the indexed article(s)."""

    def __init__(self, bot: QABot) -> None:
        self.bot = bot
        self.cooldown = user_cooldown(bot.settings.discord_cooldown_seconds)
        idle = bot.settings.conversation_idle
        # In memory only: a restart forgets them, harmlessly. None: every question alone.
        self.conversations = (Conversations(capacity=MAX_CONVERSATIONS, idle=idle)
                              if idle > 0 else None)
        # user id -> when the cooldown window in which they were told to wait ends
        self._told_until: dict[int, float] = {}

    # --- the shared steps ---------------------------------------------------------------
    def refusal(self, user_id: int, question: str, usage: str, *, repeat: bool = True
                ) -> str | None:
        """Return why the question is not answered now (empty, too long, cooldown), or None.

        ``repeat`` False: a user already told to wait in this cooldown window is not told
        again, the refusal is "" (say nothing), so that a flood of questions is not
        answered by a flood of refusals. A slash command always gets its (private) answer:
        Discord shows an error for an interaction left without one.
        """
        question = question.strip()
        bound = self.bot.settings.discord_max_question_chars
        if not question:
            return f"Ask me something about the article, e.g. {usage}"
        if len(question) > bound:
            return (f"That question is {len(question)} characters long; the limit is {bound}. "
                    f"Please ask something shorter.")
        wait = self.cooldown.update_rate_limit(user_id) if self.cooldown else None
        if not wait:
            return None
        now = time.time()  # the cooldown mapping's clock
        if not repeat and self._told_until.get(user_id, 0.0) > now:
            return SILENT
        # Forget the users whose window is over (what the cooldown mapping does for itself).
        self._told_until = {u: t for u, t in self._told_until.items() if t > now}
        self._told_until[user_id] = now + wait
        return f"One question at a time, please: you can ask again in {math.ceil(wait)} s."

    async def answer(self, question: str, doc: str | None = None,
                     key: ConversationKey | None = None
                     ) -> tuple[discord.Embed, dict[str, Any]]:
        """Ask the engine off the event loop, as the next turn of the conversation under
        ``key``; return the answer's embed and the send options that add the vote buttons
        (none when votes are off or there is nothing to vote on)."""
        engine = self.bot.engine
        conversation = (self.conversations.get(key)
                        if self.conversations is not None and key is not None else None)
        # Encoding and FAISS block: keep them off the loop so the gateway heartbeat runs.
        answer = await asyncio.to_thread(engine.ask, question, doc=doc or None,
                                         conversation=conversation)
        embed = answer_embed(answer, built_at=engine.data.built_at, model=engine.embedder.name)
        view = vote_view(answer, scoped=bool(doc)) if self.bot.get_cog("Votes") else None
        return embed, {"view": view} if view is not None else {}

    async def answer_message(self, message: discord.Message, question: str, usage: str
                             ) -> None:
        """Reply to a message that asks ``question``."""
        async with self.bot.serving():
            refusal = self.refusal(message.author.id, question, usage, repeat=False)
            if refusal == SILENT:
                log.debug("still cooling down: no reply to %s", message.author.id)
                return
            if refusal is not None:
                await reply(message, plain(refusal))
                return
            async with typing(message.channel):
                embed, buttons = await self.answer(
                    question, key=conversation_key(message.channel, message.author.id))
            await reply(message, embed=embed, **buttons)

    def help(self) -> discord.Embed:
        """The /help embed, for ``@qabot help``."""
        info = self.bot.get_cog("Info")
        assert isinstance(info, Info), "the Info cog is loaded with this one"
        return info.help()

    # --- the ways in ----------------------------------------------------------------------
    @app_commands.command(name="ask")
    @app_commands.describe(question="What you want to know, e.g. " + EXAMPLE,
                           doc="Only search this document (default: all)")
    async def ask_slash(self, interaction: discord.Interaction, question: str,
                        doc: str | None = None) -> None:
        """Ask a question about the article; the answer cites the sentence it comes from."""
        self.bot.engine.resolve_doc(doc)  # an unknown name is refused (by the error handler)
        async with self.bot.serving():
            refusal = self.refusal(interaction.user.id, question, f"`/ask question: {EXAMPLE}`")
            if refusal is not None:
                await interaction.response.send_message(plain(refusal), ephemeral=True,
                                                        allowed_mentions=NO_PINGS)
                return
            await interaction.response.defer(thinking=True)  # Discord allows 3 s before this
            key = (conversation_key(interaction.channel, interaction.user.id)
                   if interaction.channel is not None else None)
            embed, buttons = await self.answer(question, doc, key)
            await interaction.followup.send(embed=embed, allowed_mentions=NO_PINGS, **buttons)

    def new_conversation(self, channel: Any, user_id: int) -> str:
        """Forget the conversation a question from ``user_id`` in ``channel`` belongs to."""
        if self.conversations is not None:
            self.conversations.forget(conversation_key(channel, user_id))
        return NEW_CONVERSATION

    @commands.hybrid_command(name="new")  # type: ignore[arg-type]  # mypy: Concatenate union
    async def new(self, ctx: commands.Context[Any]) -> None:
        """Start a new conversation: your next question does not follow the earlier ones."""
        said = self.new_conversation(ctx.channel, ctx.author.id)
        # Privately to a slash command; to ``!new`` as a reply, kept if the message is gone.
        await ctx.send(said, ephemeral=True,
                       reference=ctx.message.to_reference(fail_if_not_exists=False),
                       mention_author=False, allowed_mentions=NO_PINGS)

    @ask_slash.autocomplete("doc")
    async def doc_autocomplete(self, interaction: discord.Interaction, current: str
                               ) -> list[app_commands.Choice[str]]:
        """Suggest document names containing what was typed so far."""
        needle = current.strip().lower()
        choices = []
        for info in self.bot.engine.documents():
            if len(info.name) > CHOICE_LIMIT:
                continue  # a value Discord cannot carry; the name can still be typed
            if needle in info.name.lower() or needle in info.title.lower():
                title = own_title(info)
                label = f"{info.name} — {title}" if title else info.name
                name = safe_text(label, one_line=True)[:CHOICE_LIMIT] or "?"
                choices.append(app_commands.Choice(name=name, value=info.name))
            if len(choices) == MAX_CHOICES:
                break
        return choices

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or self.bot.user is None:
            return
        question = mention_question(message.content, self.bot.user.id, own_role_id(message))
        if question is None:
            return
        word = question.lower().strip(" ?!.")
        if word == "help":
            await reply(message, embed=self.help())
            return
        if word == "new":
            await reply(message, self.new_conversation(message.channel, message.author.id))
            return
        await self.answer_message(message, question, f"@{self.bot.user.name} {EXAMPLE}")

    @commands.command(name="ask")
    async def ask_prefix(self, ctx: commands.Context[Any], *, question: str = "") -> None:
        """Ask a question about the article."""
        await self.answer_message(ctx.message, question, f"`{ctx.clean_prefix}ask {EXAMPLE}`")


async def setup(bot: QABot) -> None:
    """Add the cog (the bot's ``setup_hook`` calls this, as discord.py loads an extension)."""
    await bot.add_cog(Asking(bot))
