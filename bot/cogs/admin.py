"""Admin: ``/reindex`` (and ``!reindex``) rebuilds the index while questions go on."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_format import NO_PINGS, plain, rebuild_summary
from index import RebuildInProgress

if TYPE_CHECKING:
    from bot.discord_bot import QABot

log = logging.getLogger(__name__)

NOT_ADMIN = ("Only members with the Manage Server permission (or listed in "
             "QABOT_DISCORD_ADMIN_IDS) can rebuild the index.")
BUSY = "A rebuild is already running; questions are answered meanwhile. Try again when it ends."


class Admin(commands.Cog):
    """Rebuild the index from the sources it was built from."""

    def __init__(self, bot: QABot) -> None:
        self.bot = bot

    def is_admin(self, user: discord.abc.User) -> bool:
        """Admins: user ids listed in the settings, and members who can manage the server."""
        if user.id in self.bot.settings.discord_admin_ids:
            return True
        permissions = getattr(user, "guild_permissions", None)
        return bool(permissions is not None and permissions.manage_guild)

    def refusal(self, user: discord.abc.User) -> str | None:
        """Return why ``user`` cannot rebuild now, or None."""
        if not self.is_admin(user):
            return NOT_ADMIN
        if self.bot.engine.rebuilding:
            return BUSY
        return None

    async def rebuild(self, force: bool, who: discord.abc.User) -> str:
        """Rebuild off the event loop (the engine swaps the new index in) and summarise."""
        async with self.bot.serving():
            log.info("index rebuild started, asked for by user %s (force=%s)", who.id, force)
            try:
                result = await asyncio.to_thread(self.bot.engine.rebuild, force=force)
            except RebuildInProgress:  # another rebuild started since the refusal check
                return BUSY
            except Exception as exc:  # the error handler tells the user; the log says so too
                log.warning("index rebuild failed: %s", str(exc).splitlines()[0] if str(exc)
                            else type(exc).__name__)
                raise
        log.info("index rebuild finished: %s units, %s documents, %.1f s, skipped=%s",
                 result.units, result.documents, result.seconds, result.skipped)
        return rebuild_summary(result)

    @app_commands.command(name="reindex")
    @app_commands.default_permissions(manage_guild=True)  # hidden from others; checked too
    @app_commands.describe(force="Rebuild even when the sources have not changed")
    async def reindex_slash(self, interaction: discord.Interaction, force: bool = False
                            ) -> None:
        """Rebuild the index from the sources it was built from (admins only)."""
        refusal = self.refusal(interaction.user)
        if refusal is not None:
            await interaction.response.send_message(refusal, ephemeral=True,
                                                    allowed_mentions=NO_PINGS)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        summary = await self.rebuild(force, interaction.user)
        await interaction.followup.send(summary, ephemeral=True, allowed_mentions=NO_PINGS)

    @commands.command(name="reindex")
    async def reindex_prefix(self, ctx: commands.Context[Any],
                             mode: Literal["force"] | None = None) -> None:
        """Rebuild the index from its recorded sources (admins only); `force` to insist."""
        refusal = self.refusal(ctx.author)
        if refusal is None:
            refusal = await self.rebuild(mode == "force", ctx.author)
        await ctx.reply(plain(refusal), mention_author=False, allowed_mentions=NO_PINGS)


async def setup(bot: QABot) -> None:
    """Add the cog (the bot's ``setup_hook`` calls this, as discord.py loads an extension)."""
    await bot.add_cog(Admin(bot))
