"""Moderator subcommands: `/mge-mod poll`, and the gate every moderator command uses.

Discord shows `/mge-mod` only to members with Manage Server by default (``commands.build_groups``), but a
server can grant it to anyone, and the bot's own moderator roles need no Discord permission: so each moderator
subcommand checks the caller itself with :func:`require_moderator` first. The facts come from the
INTERACTION_CREATE payload, not the cache: ``interaction.permissions`` is the member's resolved permissions in
the channel, and the member's role ids arrive with it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import discord
from discord import app_commands

from adapters.discord.commands import POLL_NAME, answer, moderator_command
from adapters.discord.community import community_of_guild
from adapters.discord.config import PLATFORM, BotContext
from adapters.discord.polls import DiscordPollPublisher
from bot.commands.base import terminal_command
from bot.commands.permissions import ModeratorFacts, denial_text, is_moderator
from bot.commands.schedule import audit_poll
from bot.voting.polls import post_story_poll, story_poll_view
from bot.voting.selection import next_story_for
from core.polls import StoryPoll
from storage.communities_repo import ensure_community

log = logging.getLogger("mge.discord.moderation")

IN_A_SERVER_TEXT = "Moderator commands work in a server channel: run `{command}` there."
NOTHING_TO_POLL_TEXT = "No story needs votes right now — run {command} in the bot's terminal."


def moderator_facts(interaction: discord.Interaction) -> ModeratorFacts:
    """What the interaction says about the caller (only a guild interaction carries permissions)."""
    permissions = interaction.permissions
    user = interaction.user
    return ModeratorFacts(
        platform=PLATFORM,
        user_id=str(user.id),
        is_admin_by_platform=bool(interaction.guild_id) and (permissions.manage_guild or permissions.administrator),
        role_ids=tuple(str(role_id) for role_id in _role_ids(user)),
    )


def _role_ids(user: discord.abc.User) -> list[int]:
    # ``Member.roles`` keeps only roles found in the guild cache; the gate wants the ids Discord sent with
    # the interaction, cache or not. discord.py 2.7 keeps them in ``Member._roles`` (pinned <2.8).
    raw = getattr(user, "_roles", None)
    if raw is not None:
        return [int(role_id) for role_id in raw]
    return [role.id for role in getattr(user, "roles", ())]


async def require_moderator(interaction: discord.Interaction, context: BotContext, *, name: str, action: str) -> bool:
    """True when the caller may run a moderator command; otherwise answers why (ephemeral) and returns False."""
    if interaction.guild_id is None:
        await answer(interaction, IN_A_SERVER_TEXT.format(command=moderator_command(name)))
        return False
    if is_moderator(moderator_facts(interaction), moderator_role_ids=context.moderator_role_ids):
        return True
    log.info(
        "refused %s to %s in guild %s: not a moderator",
        moderator_command(name),
        interaction.user.id,
        interaction.guild_id,
    )
    await answer(interaction, denial_text(PLATFORM, action=action, moderator_role_ids=context.moderator_role_ids))
    return False


def post_failure_text(error: BaseException, channel: str) -> str | None:
    """What a moderator is told when Discord refused a post in ``channel`` (None: not Discord's refusal)."""
    if isinstance(error, discord.Forbidden):
        why = (
            "I need the View Channel, Send Messages, Embed Links and Add Reactions permissions there. "
            "Give them to me (or add me to that channel) and try again."
        )
    elif isinstance(error, discord.NotFound):
        why = "that channel doesn't exist or I can't see it. Name another channel."
    elif isinstance(error, discord.HTTPException):
        why = f"Discord answered {error.status} ({error.text or 'no reason given'}). Try again in a moment."
    else:
        return None
    return f"I couldn't post in channel {channel}: {why}"


def posted_text(view: StoryPoll, *, closes_at: datetime, jump_url: str) -> str:
    """The moderator's confirmation. Echoed texts are markdown-escaped (``answer`` defuses mentions)."""

    def clean(text: str) -> str:
        return discord.utils.escape_markdown(" ".join(text.split()))

    closes = f"{discord.utils.format_dt(closes_at, 'f')} ({discord.utils.format_dt(closes_at, 'R')})"
    return (
        f"Posted a poll on “{clean(view.context)}”: {clean(view.from_value.title)} → {clean(view.to_value.title)}. "
        f"It closes {closes}. {jump_url}"
    )


def install_moderator_commands(group: app_commands.Group, context: BotContext) -> None:
    # One lock per guild: two moderators running `/mge-mod poll` at once get two different stories instead
    # of both picking the one that most needs votes before either is recorded.
    guild_locks: dict[int, asyncio.Lock] = {}

    @group.command(name=POLL_NAME, description="Moderators: post the next transition story as a poll in this channel")
    async def poll(interaction: discord.Interaction) -> None:
        if not await require_moderator(interaction, context, name=POLL_NAME, action="post polls"):
            return
        assert interaction.guild_id is not None and interaction.channel_id is not None  # checked by the gate
        await interaction.response.defer(ephemeral=True, thinking=True)
        community = community_of_guild(interaction.guild, interaction.guild_id)
        async with guild_locks.setdefault(interaction.guild_id, asyncio.Lock()):
            now = context.clock()
            story_id = await next_story_for(context.database, community, now=now)
            if story_id is None:
                await answer(
                    interaction, NOTHING_TO_POLL_TEXT.format(command=terminal_command(community, "stories generate"))
                )
                return
            closes_at = now + context.poll_duration
            try:
                recorded = await post_story_poll(
                    context.database,
                    DiscordPollPublisher(interaction.client),
                    story_id=story_id,
                    platform=PLATFORM,
                    channel_id=str(interaction.channel_id),
                    closes_at=closes_at,
                    now=now,
                )
            except discord.HTTPException as error:
                log.warning("could not post a poll in channel %s: %s", interaction.channel_id, error)
                await answer(interaction, post_failure_text(error, str(interaction.channel_id)) or "")
                return
        log.info("poll %s on story %s posted by %s", recorded.id, story_id, interaction.user.id)
        await audit_poll(
            context.database,
            recorded,
            community_id=await ensure_community(context.database, community, now=now),
            actor=f"{PLATFORM}:{interaction.user.id}",
            now=now,
            action="poll",
        )
        jump_url = f"https://discord.com/channels/{interaction.guild_id}/{recorded.channel_id}/{recorded.message_id}"
        view = await story_poll_view(context.database, story_id)
        await answer(interaction, posted_text(view, closes_at=closes_at, jump_url=jump_url))
