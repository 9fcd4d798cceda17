"""Member subcommands: `/mge join`, `/mge mycard`, `/mge mydata`, `/mge forget`, `/mge help`. All
answers are ephemeral.

`/mge mydata` answers with the member's data as a JSON file attached to the ephemeral reply (Discord
allows attachments on ephemeral messages, so nothing lands in a DM or a channel). `/mge forget` shows
what would be erased with two buttons; only **Erase my data**, pressed within
``FORGET_CONFIRM_WINDOW``, erases. The buttons are choice buttons whose key starts with ``forget:``
(``mge:choice:forget:<guild id>:<unix time asked>``), so they need no state and survive a restart.
"""

from __future__ import annotations

import gzip
import io
import logging
from datetime import UTC, datetime

import discord
from discord import app_commands

from adapters.discord.buttons import FORGET_KEY_PREFIX, ChoiceButton
from adapters.discord.commands import answer, moderator_command
from adapters.discord.community import community_for_dm, community_of_guild, person_of
from adapters.discord.config import BotContext, context_of
from adapters.discord.delivery import deliver
from adapters.discord.render import card_embed
from bot.values.my_card import member_cards
from bot.privacy.service import (
    FORGET_CONFIRM_WINDOW,
    NOTHING_STORED_TEXT,
    ForgetReport,
    confirmation_is_fresh,
    export_bytes,
    export_filename,
    export_member_data,
    export_summary,
    forget_member,
    has_member_data,
)
from storage.repositories import community_id_of
from core.messages import CommunityRef

log = logging.getLogger("mge.discord.members")

JOIN_IN_A_SERVER_TEXT = "Please run `/mge join` in the server whose community you want to take part in."
CHECK_DMS_TEXT = "Check your DMs: I've sent you the first question there."
DMS_CLOSED_TEXT = (
    "I couldn't send you a direct message: your DMs seem closed to me. Allow direct messages from members "
    "of this server (Server menu → Privacy Settings), then run `/mge join` again."
)
NO_CARD_TEXT = "You don't have a values card in this community yet. Run `/mge join` to start an interview."
MYDATA_TEXT = (
    "Here is everything stored about you in this community, as a JSON file attached to this message (only "
    "you can see it). {summary} Run `/mge forget` to erase it."
)
NO_DATA_TEXT = "There is nothing stored about you in this community."
TOO_LARGE_TEXT = (
    "Your data is larger than Discord lets me attach ({size} MB). Please ask the bot's operator for a copy."
)
FORGET_CONFIRM_HINT = (
    f"\n\nPress **Erase my data** within {int(FORGET_CONFIRM_WINDOW.total_seconds() // 60)} minutes to go ahead, "
    "or **Keep my data**."
)
FORGET_EXPIRED_TEXT = (
    "That confirmation has expired, so nothing was erased. Run `/mge forget` again if you still want to."
)
FORGET_KEPT_TEXT = "Nothing was erased."
ERASE_LABEL, KEEP_LABEL = "Erase my data", "Keep my data"
def _commands(*names: str) -> str:
    return ", ".join(f"`{moderator_command(name)}`" for name in names)


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
    "`/mge mydata` — get a file with everything stored about you here\n"
    "`/mge forget` — erase your data in this community (asks you to confirm first)\n"
    "`/mge ask` — ask a question; the values this community voted wisest guide the answer\n"
    "`/mge help` — this message\n\n"
    "**Moderator commands** (Manage Server permission or a moderator role)\n"
    f"{_commands('scenario', 'round', 'contexts')} — what the community deliberates, and when\n"
    f"{_commands('poll', 'polls', 'digest', 'schedule')} — story polls and the weekly digest\n"
    f"{_commands('values', 'member', 'eligibility')} — values, blocked members, who may vote\n"
    f"{_commands('stats', 'audit', 'export')} — participation, the audit log, the graph as a file\n\n"
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
        community = await _member_community(interaction, context)
        if community is None:
            return
        cards = await member_cards(context.database, community, person_of(interaction.user))
        if not cards:
            await answer(interaction, NO_CARD_TEXT)
            return
        embeds = [
            card_embed(
                item.card,
                footer=" · ".join(filter(None, [STATUS_TEXT.get(item.status, item.status), _clip(item.scenario, 200),
                                                item.placement.line() if item.placement else None])),
            )
            for item in cards
        ]
        count = len(cards)
        await answer(interaction, f"Your values card{'s' if count != 1 else ''} ({count}):", embeds=embeds)

    @group.command(name="mydata", description="Get a file with everything stored about you in this community")
    async def mydata(interaction: discord.Interaction) -> None:
        community = await _member_community(interaction, context)
        if community is None:
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        community_id = await community_id_of(context.database, community)
        data = None
        if community_id is not None:
            data = await export_member_data(
                context.database, community_id=community_id, platform_user_id=str(interaction.user.id)
            )
        if data is None or not has_member_data(data):
            await answer(interaction, NO_DATA_TEXT)
            return
        payload, filename = export_bytes(data), export_filename(data)
        limit = getattr(interaction, "filesize_limit", 8 * 1024 * 1024)
        if len(payload) > limit:  # JSON shrinks a lot: try once compressed before giving up
            payload, filename = gzip.compress(payload), filename + ".gz"
        if len(payload) > limit:
            await answer(interaction, TOO_LARGE_TEXT.format(size=round(len(payload) / 1e6, 1)))
            return
        await interaction.followup.send(
            content=MYDATA_TEXT.format(summary=export_summary(data)),
            file=discord.File(io.BytesIO(payload), filename=filename),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    @group.command(name="forget", description="Erase everything stored about you in this community")
    async def forget(interaction: discord.Interaction) -> None:
        community = await _member_community(interaction, context)
        if community is None:
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        now = context.clock()
        community_id = await community_id_of(context.database, community)
        preview = ForgetReport()
        if community_id is not None:  # what confirming would erase: the erasure, rolled back
            preview = await forget_member(
                context.database, community_id=community_id, platform_user_id=str(interaction.user.id), now=now,
                dry_run=True,
            )
        if not preview.erased_anything:
            await answer(interaction, NOTHING_STORED_TEXT)
            return
        await interaction.followup.send(
            content=preview.preview_text() + FORGET_CONFIRM_HINT,
            view=forget_view(community, asked_at=now),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    @group.command(name="help", description="How the Moral Graph Bot works")
    async def help_(interaction: discord.Interaction) -> None:
        await answer(interaction, HELP_TEXT)


async def _member_community(interaction: discord.Interaction, context: BotContext) -> CommunityRef | None:
    """The community a member command is about: the server it runs in, or in DMs the member's
    community (see ``community_for_dm``). None after answering why it can't be known."""
    if interaction.guild_id is not None:
        return community_of_guild(interaction.guild, interaction.guild_id)
    found = await community_for_dm(interaction.client, context, interaction.user)
    if isinstance(found, str):
        await answer(interaction, found)
        return None
    return found


def forget_view(community: CommunityRef, *, asked_at: datetime) -> discord.ui.View:
    """**Erase my data** (carrying the community and when it was asked) and **Keep my data**."""
    view = discord.ui.View(timeout=None)
    erase = f"{FORGET_KEY_PREFIX}{community.external_id}:{int(asked_at.timestamp())}"
    view.add_item(ChoiceButton(erase, ERASE_LABEL, style=discord.ButtonStyle.danger))
    view.add_item(ChoiceButton(f"{FORGET_KEY_PREFIX}cancel", KEEP_LABEL))
    return view


async def answer_forget_button(interaction: discord.Interaction, key: str) -> None:
    """A press on a `/mge forget` button (already acknowledged): ``<guild id>:<unix time>`` or ``cancel``."""
    context = context_of(interaction.client)
    guild_text, _, asked_text = key.partition(":")
    if key == "cancel":
        await answer(interaction, FORGET_KEPT_TEXT)
        return
    now = context.clock()
    if not (guild_text.isdigit() and asked_text.isdigit()) or not confirmation_is_fresh(
        datetime.fromtimestamp(int(asked_text), UTC), now
    ):
        await answer(interaction, FORGET_EXPIRED_TEXT)
        return
    guild_id = int(guild_text)
    community = community_of_guild(interaction.client.get_guild(guild_id), guild_id)
    user = interaction.user
    # Under the member's lock: no DM of theirs is being handled (and stored) while their data goes.
    async with context.user_lock(user.id):
        community_id = await community_id_of(context.database, community)
        report = ForgetReport()
        if community_id is not None:
            report = await forget_member(
                context.database, community_id=community_id, platform_user_id=str(user.id), now=now
            )
    log.info("member data erased in guild %s: %s", guild_id, report.as_dict())
    await answer(interaction, report.text())


def _clip(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
