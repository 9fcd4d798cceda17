"""Member subcommands: `/mge join`, `/mge mycard`, `/mge help`. All answers are ephemeral."""

from __future__ import annotations

import discord
from discord import app_commands

from mge.adapters.discord.commands import answer
from mge.adapters.discord.community import community_for_dm, community_of_guild, person_of
from mge.adapters.discord.config import BotContext
from mge.adapters.discord.delivery import deliver
from mge.adapters.discord.render import card_embed
from mge.bot.members import member_cards

JOIN_IN_A_SERVER_TEXT = "Please run `/mge join` in the server whose community you want to take part in."
CHECK_DMS_TEXT = "Check your DMs: I've sent you the first question there."
DMS_CLOSED_TEXT = (
    "I couldn't send you a direct message: your DMs seem closed to me. Allow direct messages from members "
    "of this server (Server menu → Privacy Settings), then run `/mge join` again."
)
NO_CARD_TEXT = "You don't have a values card in this community yet. Run `/mge join` to start an interview."
HELP_TEXT = (
    "**Moral Graph Bot** helps this community find out what it values, in which situations, and which "
    "values people find wiser.\n\n"
    "**How it works**\n"
    "1. Run `/mge join` here. I'll message you privately.\n"
    "2. In your DMs I ask about a hard question the community is discussing: what you pay attention to, "
    "why it matters, a time you faced something like it. Answer in your own words; there are no wrong answers.\n"
    "3. From your answers I write a **values card**. You confirm it, or tell me what to change.\n"
    "4. Later, members vote on stories of how values relate, and the results are shared.\n\n"
    "**Commands**\n"
    "`/mge join` — start (or continue) your interview in DMs\n"
    "`/mge mycard` — see your values cards\n"
    "`/mge help` — this message\n\n"
    "**Moderator commands** (Manage Server permission or a moderator role)\n"
    "`/mge poll` — post the next transition story as a poll in this channel\n\n"
    "In the interview you can type `cancel` to stop, `start over` to begin again, or `retry` if I had a problem."
)
STATUS_TEXT = {"confirmed": "Confirmed", "proposed": "Waiting for your confirmation"}


def install_member_commands(group: app_commands.Group, context: BotContext) -> None:
    @group.command(name="join", description="Take part: I'll interview you in your DMs")
    async def join(interaction: discord.Interaction) -> None:
        if interaction.guild_id is None:
            await answer(interaction, JOIN_IN_A_SERVER_TEXT)
            return
        # The first prompt may need the LLM (a pending answer is retried): acknowledge within 3 s first.
        await interaction.response.defer(ephemeral=True, thinking=True)
        user = interaction.user
        community = community_of_guild(interaction.guild, interaction.guild_id)
        await context.router.remember(user_id=str(user.id), community=community, now=context.clock())
        async with context.user_lock(user.id):
            try:
                channel = await user.create_dm()
                await deliver(channel, await context.interviews.resume(community, person_of(user)))
            except discord.Forbidden:
                # The interview state is saved; the member continues after opening their DMs.
                await answer(interaction, DMS_CLOSED_TEXT)
                return
        await answer(interaction, CHECK_DMS_TEXT)

    @group.command(name="mycard", description="See your values cards in this community")
    async def mycard(interaction: discord.Interaction) -> None:
        if interaction.guild_id is not None:
            community = community_of_guild(interaction.guild, interaction.guild_id)
        else:
            found = await community_for_dm(interaction.client, context, interaction.user)
            if isinstance(found, str):
                await answer(interaction, found)
                return
            community = found
        cards = await member_cards(context.database, community, person_of(interaction.user))
        if not cards:
            await answer(interaction, NO_CARD_TEXT)
            return
        embeds = [
            card_embed(
                item.card,
                footer=" · ".join(filter(None, [STATUS_TEXT.get(item.status, item.status), _clip(item.scenario, 200)])),
            )
            for item in cards
        ]
        count = len(cards)
        await answer(interaction, f"Your values card{'s' if count != 1 else ''} ({count}):", embeds=embeds)

    @group.command(name="help", description="How the Moral Graph Bot works")
    async def help_(interaction: discord.Interaction) -> None:
        await answer(interaction, HELP_TEXT)


def _clip(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
