"""Which community a Discord DM (or a member command run in one: ``member_community``) belongs to.

A DM carries no guild. The community is the one the member last ran `/mge join` in (remembered by
``DmRouter``); when nothing is remembered and the bot is in exactly one guild, that guild is the only
sensible answer and is remembered. Otherwise the member is asked to run `/mge join` in a server.
"""

from __future__ import annotations

import discord

from adapters.discord.commands import answer
from adapters.discord.config import PLATFORM, BotContext
from core.messages import CommunityRef, Person

NO_COMMUNITY_TEXT = (
    "I'm in more than one server, so I don't know which community you'd like to take part in. "
    "Please run `/mge join` in that server, then come back here."
)
NO_GUILD_TEXT = "I'm not in any server yet, so there is no community to take part in. Ask a moderator to add me."


def community_of_guild(guild: discord.Guild | None, guild_id: int) -> CommunityRef:
    return CommunityRef(PLATFORM, str(guild_id), guild.name if guild is not None else "")


def person_of(user: discord.abc.User) -> Person:
    return Person(str(user.id), user.display_name)


async def community_for_dm(client: discord.Client, context: BotContext, user: discord.abc.User) -> CommunityRef | str:
    """The member's community, or the text to send them when it can't be known."""
    remembered = await context.router.community_for(platform=PLATFORM, user_id=str(user.id))
    if remembered is not None:
        return remembered
    guilds = client.guilds
    if len(guilds) == 1:
        community = community_of_guild(guilds[0], guilds[0].id)
        await context.router.remember(user_id=str(user.id), community=community, now=context.clock())
        return community
    return NO_GUILD_TEXT if not guilds else NO_COMMUNITY_TEXT


async def member_community(interaction: discord.Interaction, context: BotContext) -> CommunityRef | None:
    """The community a member command is about: the server it runs in, or in DMs the member's
    community (see ``community_for_dm``). None after answering why it can't be known."""
    if interaction.guild_id is not None:
        return community_of_guild(interaction.guild, interaction.guild_id)
    found = await community_for_dm(interaction.client, context, interaction.user)
    if isinstance(found, str):
        await answer(interaction, found)
        return None
    return found
