"""Info: ``/sources`` lists what the bot answers from."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_format import NO_PINGS, sources_embed

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

    @app_commands.command(name="sources")
    async def sources_slash(self, interaction: discord.Interaction) -> None:
        """List the documents the bot answers from, the model and the index's build time."""
        await interaction.response.send_message(embed=self.embed(), ephemeral=True,
                                                allowed_mentions=NO_PINGS)

    @commands.command(name="sources")
    async def sources_prefix(self, ctx: commands.Context[Any]) -> None:
        """List the documents the bot answers from."""
        await ctx.reply(embed=self.embed(), mention_author=False, allowed_mentions=NO_PINGS)
