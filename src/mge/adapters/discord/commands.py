"""The `/mge` slash-command group and how subcommands are added to it.

Subcommands live in their own modules, each exposing an *installer* ``install(group, context)`` that
adds its commands to the group. Member commands are in ``member_commands``; moderator commands can be
added later the same way (and guard themselves with permissions) without touching this module:

    client = build_client(config, ..., installers=(install_member_commands, install_moderator_commands))
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

import discord
from discord import app_commands

from mge.adapters.discord.config import BotContext
from mge.adapters.discord.render import neutralise

log = logging.getLogger("mge.discord.commands")

SubcommandInstaller = Callable[[app_commands.Group, BotContext], None]

GROUP_NAME = "mge"
ERROR_TEXT = "Sorry, something went wrong with that command. Please try again in a moment."
EPHEMERAL_EMBEDS_PER_MESSAGE = 10
EMBED_CHARS_PER_MESSAGE = 6000


def build_mge_group(context: BotContext, installers: Iterable[SubcommandInstaller]) -> app_commands.Group:
    group = app_commands.Group(name=GROUP_NAME, description="Moral Graph Bot: work out together what your community values")
    for install in installers:
        install(group, context)
    return group


async def answer(
    interaction: discord.Interaction, content: str | None = None, *, embeds: Sequence[discord.Embed] = ()
) -> None:
    """An ephemeral answer (only the member sees it), as the first response or a follow-up.

    Several messages when the embeds exceed one message's limits (10 embeds, 6000 characters)."""
    batches = _embed_batches(embeds) or [[]]
    for index, batch in enumerate(batches):
        kwargs = {"ephemeral": True, "allowed_mentions": discord.AllowedMentions.none(), "embeds": batch}
        if index == 0 and content:
            kwargs["content"] = neutralise(content)
        if interaction.response.is_done():
            await interaction.followup.send(**kwargs)
        else:
            await interaction.response.send_message(**kwargs)


async def on_command_error(interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
    """The tree's error handler: log it, tell the member something short (never the exception text)."""
    log.error("command %s failed", interaction.command and interaction.command.qualified_name, exc_info=error)
    try:
        await answer(interaction, ERROR_TEXT)
    except discord.HTTPException:
        pass


def _embed_batches(embeds: Sequence[discord.Embed]) -> list[list[discord.Embed]]:
    batches: list[list[discord.Embed]] = []
    size = 0
    for embed in embeds:
        if not batches or len(batches[-1]) == EPHEMERAL_EMBEDS_PER_MESSAGE or size + len(embed) > EMBED_CHARS_PER_MESSAGE:
            batches.append([])
            size = 0
        batches[-1].append(embed)
        size += len(embed)
    return batches
