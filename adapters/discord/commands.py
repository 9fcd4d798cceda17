"""The two slash-command groups, `/mge` (members) and `/mge-mod` (moderators), and how subcommands are
added to them.

Discord's ``default_member_permissions`` applies to a whole top-level command, never to one subcommand,
so the moderator commands live in a group of their own that Discord shows only to members with Manage
Server (a server's admins can grant it to other roles under Server Settings → Integrations). Members see
only `/mge`. Each moderator command still checks the caller itself (``require_moderator``): the
permission is a default a server can change, and the bot's moderator roles are its own setting.

Subcommands live in their own modules, each exposing an *installer* ``install(group, context)`` that
adds its commands to a group:

    client = build_client(config, ..., member_installers=(install_member_commands,),
                          moderator_installers=(install_moderator_commands,))

Texts shared with Slack (``bot.commands``) name moderator commands as Slack types them, `/mge polls
every`; :func:`discord_text` renders them as Discord shows them, `/mge-mod polls every`, from the one
list of moderator command names, so a text never names a command a Discord member cannot find.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from typing import Any

import discord
from discord import app_commands

from adapters.discord.config import BotContext
from adapters.discord.errors import one_line
from adapters.discord.render import neutralise
from bot.commands.moderator_actions import groups

log = logging.getLogger("mge.discord.commands")

SubcommandInstaller = Callable[[app_commands.Group, BotContext], None]

GROUP_NAME = "mge"
MODERATOR_GROUP_NAME = "mge-mod"
#: `/mge-mod poll` (moderator_commands); the other moderator commands are the action groups (``groups()``).
POLL_NAME = "poll"
ERROR_TEXT = "Sorry, something went wrong with that command. Please try again in a moment."
STALE_TEXT = (
    "This command has changed since your Discord app loaded it, so I can't run it. "
    f"Try `/{GROUP_NAME} help` (Discord may need a moment, or a restart of the app, to show the new commands)."
)
EPHEMERAL_EMBEDS_PER_MESSAGE = 10
EMBED_CHARS_PER_MESSAGE = 6000


def build_groups(
    context: BotContext,
    member_installers: Iterable[SubcommandInstaller],
    moderator_installers: Iterable[SubcommandInstaller],
) -> list[app_commands.Group]:
    """`/mge` with the member commands and, when there are any, `/mge-mod` with the moderator ones."""
    members = app_commands.Group(
        name=GROUP_NAME, description="Moral Graph Bot: work out together what your community values"
    )
    for install in member_installers:
        install(members, context)
    moderators = app_commands.Group(
        name=MODERATOR_GROUP_NAME,
        description="Moral Graph Bot, for moderators: polls, digest, values, rounds",
        default_permissions=discord.Permissions(manage_guild=True),
        guild_only=True,
    )
    for install in moderator_installers:
        install(moderators, context)
    return [members, moderators] if moderators.commands else [members]


def moderator_command(path: str) -> str:
    """``"polls every"`` → ``"/mge-mod polls every"``: a moderator command as a Discord member types it."""
    return f"/{MODERATOR_GROUP_NAME} {path}".rstrip()


@cache
def _moderator_mention() -> re.Pattern[str]:
    names = sorted({POLL_NAME, *groups()}, key=len, reverse=True)
    return re.compile(rf"/{GROUP_NAME} ({'|'.join(map(re.escape, names))})\b")


def discord_text(text: str) -> str:
    """A text that names moderator commands Slack's way (`/mge values hide`) with Discord's names."""
    return _moderator_mention().sub(lambda match: moderator_command(match[1]), text)


async def answer(
    interaction: discord.Interaction, content: str | None = None, *, embeds: Sequence[discord.Embed] = ()
) -> None:
    """An ephemeral answer (only the member sees it), as the first response or a follow-up.

    Several messages when the embeds exceed one message's limits (10 embeds, 6000 characters)."""
    batches = _embed_batches(embeds) or [[]]
    for index, batch in enumerate(batches):
        kwargs: dict[str, Any] = {
            "ephemeral": True,
            "allowed_mentions": discord.AllowedMentions.none(),
            "embeds": batch,
        }
        if index == 0 and content:
            kwargs["content"] = neutralise(discord_text(content))
        if interaction.response.is_done():
            await interaction.followup.send(**kwargs)
        else:
            await interaction.response.send_message(**kwargs)


async def on_command_error(interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
    """The tree's error handler: one log line, and a short answer to the member (never the exception).

    A command the bot no longer has, or whose options changed (a member's Discord app still shows the old
    definitions until it reloads them), is not a failure of the bot: the member is told to look again."""
    name = _command_name(interaction)
    stale = isinstance(error, app_commands.CommandNotFound | app_commands.CommandSignatureMismatch)
    if stale:
        log.info("stale command /%s from %s: %s", name, interaction.user.id, type(error).__name__)
    else:
        cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        log.error("command /%s failed: %s", name, one_line(cause))
    try:
        if interaction.type is discord.InteractionType.autocomplete:
            if not interaction.response.is_done():
                await interaction.response.autocomplete([])  # suggestions are all an autocomplete can answer
            return
        await answer(interaction, STALE_TEXT if stale else ERROR_TEXT)
    except (discord.HTTPException, discord.InteractionResponded) as failure:
        log.warning("could not answer command /%s: %s", name, one_line(failure))


def _command_name(interaction: discord.Interaction) -> str:
    """The command as the member sent it (``mge-mod polls every``), also when the bot has no such command."""
    data: Mapping[str, object] = interaction.data if isinstance(interaction.data, dict) else {}
    words = [str(data.get("name", "?"))]
    options = data.get("options")
    while isinstance(options, list) and options and isinstance(options[0], dict) and options[0].get("type") in (1, 2):
        words.append(str(options[0].get("name", "?")))
        options = options[0].get("options")
    return " ".join(words)[:100]


def _embed_batches(embeds: Sequence[discord.Embed]) -> list[list[discord.Embed]]:
    batches: list[list[discord.Embed]] = []
    size = 0
    for embed in embeds:
        if (
            not batches
            or len(batches[-1]) == EPHEMERAL_EMBEDS_PER_MESSAGE
            or size + len(embed) > EMBED_CHARS_PER_MESSAGE
        ):
            batches.append([])
            size = 0
        batches[-1].append(embed)
        size += len(embed)
    return batches
