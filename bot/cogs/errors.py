"""The central error handler: the log gets the traceback, the user one short sentence.

Three ways in, one way out (:func:`report`): prefix- and hybrid-command errors
(``on_command_error``), slash-command errors (the command tree's ``on_error``, installed by
the cog) and errors in event listeners such as mention asking (the bot's ``on_error`` calls
:func:`report`). The cog needs only a ``commands.Bot``: the bot imports this module, and this
module does not import the bot.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_format import NO_PINGS, plain
from index import QabotError

log = logging.getLogger(__name__)

Send = Callable[[str], Awaitable[Any]]

SORRY = "Sorry, something went wrong on my side; the details are in the bot's log."


class ShuttingDown(QabotError):
    """The bot is stopping: new work is refused while the work in flight finishes."""

    def __init__(self) -> None:
        super().__init__("I'm restarting right now; please ask again in a minute.")


def unwrap(error: BaseException) -> BaseException:
    """Return the exception a command raised, without discord.py's wrappers (a hybrid
    command used as a slash command wraps it twice: HybridCommandError around the app
    command's CommandInvokeError)."""
    while isinstance(error, commands.CommandInvokeError | commands.HybridCommandError
                     | app_commands.CommandInvokeError) and error.original is not None:
        error = error.original
    return error


def describe(error: BaseException) -> tuple[str, bool]:
    """Return the sentence the user sees and whether the error was unexpected."""
    if isinstance(error, QabotError):
        return str(error).splitlines()[0] if str(error) else SORRY, False
    if isinstance(error, commands.UserInputError):
        return f"I didn't understand that command: {error}", False
    if isinstance(error, commands.CheckFailure | app_commands.CheckFailure):
        return "You can't use that command here.", False
    return SORRY, True


async def report(error: BaseException, send: Send, where: str) -> None:
    """Log ``error`` (with its traceback when unexpected) and tell the user in one sentence."""
    error = unwrap(error)
    message, unexpected = describe(error)
    if unexpected:
        log.error("error in %s", where, exc_info=error)
    else:
        log.info("refused %s: %s", where, message)
    try:
        await send(plain(message))
    except discord.HTTPException:
        log.warning("could not tell the user about the error in %s", where, exc_info=True)


async def _respond(interaction: discord.Interaction, text: str) -> None:
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PINGS)
    else:
        await interaction.response.send_message(text, ephemeral=True,
                                                allowed_mentions=NO_PINGS)


class ErrorHandler(commands.Cog):
    """Route every command error to :func:`report`."""

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        self._previous_tree_handler: Any = None

    async def cog_load(self) -> None:
        tree = self.bot.tree
        self._previous_tree_handler = tree.on_error
        tree.on_error = self.on_app_command_error  # type: ignore[method-assign]

    async def cog_unload(self) -> None:
        self.bot.tree.on_error = self._previous_tree_handler  # type: ignore[method-assign]

    @commands.Cog.listener()
    async def on_command_error(self, ctx: commands.Context[Any],
                               error: commands.CommandError) -> None:
        if isinstance(error, commands.CommandNotFound):
            return

        async def send(text: str) -> None:
            # A hybrid command used as a slash command is answered privately, as slash
            # commands are; ``ephemeral`` means nothing to a prefix command's reply.
            await ctx.reply(text, ephemeral=True, mention_author=False,
                            allowed_mentions=NO_PINGS)

        await report(error, send, f"command {ctx.command.qualified_name if ctx.command else '?'}")

    async def on_app_command_error(self, interaction: discord.Interaction,
                                   error: app_commands.AppCommandError) -> None:
        name = interaction.command.qualified_name if interaction.command else "?"

        async def send(text: str) -> None:
            await _respond(interaction, text)

        await report(error, send, f"/{name}")


async def setup(bot: commands.Bot) -> None:
    """Add the cog (the bot's ``setup_hook`` calls this, as discord.py loads an extension)."""
    await bot.add_cog(ErrorHandler(bot))
