"""Info: ``/help`` says what the bot does and how to ask; ``/sources`` what it answers from.

Both are hybrid commands: one callback answers the slash command (privately) and, with the
prefix on, ``!help`` and ``!sources`` (as a reply).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.cogs.constants import EXAMPLE
from bot.discord_format import NO_PINGS, help_embed, sources_embed

if TYPE_CHECKING:
    from bot.discord_bot import QABot


class Info(commands.Cog):
    """Tell people what the bot knows."""

    def __init__(self, bot: QABot) -> None:
        self.bot = bot

    def embed(self) -> discord.Embed:
        """The documents, their unit counts, the model and the build time."""
        engine = self.bot.engine
        data = engine.data  # one read: a rebuild may swap the index meanwhile
        return sources_embed(list(data.docs.values()), units=len(data.units),
                             model=engine.embedder.name, built_at=data.built_at)

    def help(self) -> discord.Embed:
        """What the bot can do, the indexed documents and how to ask."""
        settings = self.bot.settings
        data = self.bot.engine.data
        return help_embed(list(data.docs.values()), units=len(data.units),
                          bot_name=self.bot.user.name if self.bot.user else "qabot",
                          example=EXAMPLE,
                          prefix=settings.discord_prefix if settings.discord_message_content
                          else None,
                          cooldown=settings.discord_cooldown_seconds,
                          max_chars=settings.discord_max_question_chars)

    @commands.hybrid_command(name="help")  # type: ignore[arg-type]  # mypy: Concatenate union
    async def help_command(self, ctx: commands.Context[Any]) -> None:
        """What the bot can do, the documents it has read and how to ask it."""
        await ctx.reply(embed=self.help(), ephemeral=True, mention_author=False,
                        allowed_mentions=NO_PINGS)

    @commands.hybrid_command(name="sources")  # type: ignore[arg-type]  # mypy: Concatenate union
    async def sources(self, ctx: commands.Context[Any]) -> None:
        """List the documents the bot answers from, the model and the index's build time."""
        await ctx.reply(embed=self.embed(), ephemeral=True, mention_author=False,
                        allowed_mentions=NO_PINGS)


async def setup(bot: QABot) -> None:
    """Add the cog (the bot's ``setup_hook`` calls this, as discord.py loads an extension)."""
    await bot.add_cog(Info(bot))
