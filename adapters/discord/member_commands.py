"""Member subcommands on Discord: `/mge join`, `/mge mycard`, `/mge mydata`, `/mge forget`, `/mge vote`, `/mge help`
(and `/mge ask`, in ``ask_command``), installed from the one table of member commands
(``bot.commands.member_commands``: names, descriptions, options, the help's list). All answers are
ephemeral.

`/mge mydata` answers with the member's data as a JSON file attached to the ephemeral reply (Discord
allows attachments on ephemeral messages, so nothing lands in a DM or a channel). `/mge forget` shows
what would be erased with two buttons; only **Erase my data**, pressed within
``FORGET_CONFIRM_WINDOW``, erases. The buttons are choice buttons whose key starts with ``forget:``
(``mge:choice:forget:<guild id>:<unix time asked>``), so they need no state and survive a restart.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Awaitable, Callable
from datetime import datetime

import discord
from discord import app_commands

from adapters.discord.ask_command import ask_command
from adapters.discord.buttons import ChoiceButton
from adapters.discord.commands import answer, moderator_command
from adapters.discord.community import community_of_guild, member_community, person_of
from adapters.discord.config import PLATFORM, BotContext
from adapters.discord.delivery import deliver
from adapters.discord.legitimacy import message_kwargs
from adapters.discord.polls import member_facts
from adapters.discord.render import card_embed
from bot.commands.member_commands import NO_CARD_TEXT, handlers_for, help_lines
from bot.commands.member_data import (
    FORGET_CANCEL_KEY,
    FORGET_WINDOW_MINUTES,
    NO_DATA_TEXT,
    forget_button_key,
    forget_preview,
    member_export,
)
from bot.privacy.erase import NOTHING_STORED_TEXT
from bot.values.my_card import member_cards
from bot.voting.dm_vote import start_voting
from core.messages import CommunityRef

JOIN_IN_A_SERVER_TEXT = "Please run `/mge join` in the server whose community you want to take part in."
CHECK_DMS_TEXT = "Check your DMs: I've sent you the first question there."
VOTE_IN_DMS_TEXT = "Check your DMs: I've sent you a story to vote on there."
VOTE_DMS_CLOSED_TEXT = (
    "I couldn't send you a direct message: your DMs seem closed to me. Allow direct messages from members "
    "of this server (Server menu → Privacy Settings), then run `/mge vote` again."
)
DMS_CLOSED_TEXT = (
    "I couldn't send you a direct message: your DMs seem closed to me. Allow direct messages from members "
    "of this server (Server menu → Privacy Settings), then run `/mge join` again."
)
MYDATA_TEXT = (
    "Here is everything stored about you in this community, as a JSON file attached to this message (only "
    "you can see it). {summary} Run `/mge forget` to erase it."
)
TOO_LARGE_TEXT = (
    "Your data is larger than Discord lets me attach ({size} MB). Please ask the bot's operator for a copy."
)
FORGET_CONFIRM_HINT = (
    f"\n\nPress **Erase my data** within {FORGET_WINDOW_MINUTES} minutes to go ahead, or **Keep my data**."
)
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
    "**Commands**\n" + "\n".join(help_lines()) + "\n\n"
    "**Moderator commands** (Manage Server permission or a moderator role)\n"
    f"{_commands('scenario', 'round', 'contexts')} — what the community deliberates, and when\n"
    f"{_commands('poll', 'polls', 'digest', 'schedule')} — story polls and the weekly digest\n"
    f"{_commands('values', 'member', 'eligibility')} — values, blocked members, who may vote\n"
    f"{_commands('stats', 'audit', 'export')} — participation, the audit log, the graph as a file\n\n"
    "In the interview you can type `cancel` to stop, `start over` to begin again, or `retry` if I had a problem."
)
STATUS_TEXT = {"confirmed": "Confirmed", "proposed": "Waiting for your confirmation"}


def install_member_commands(group: app_commands.Group, context: BotContext) -> None:
    """Every member command of the table, with its Discord handler."""
    handlers: dict[str, Callable[[BotContext], Callable[..., Awaitable[None]]]] = {
        "join": _join,
        "mycard": _mycard,
        "mydata": _mydata,
        "forget": _forget,
        "ask": ask_command,
        "vote": _vote,
        "help": _help,
    }
    for command, handler in handlers_for(PLATFORM, handlers):
        callback = handler(context)
        if command.params:
            callback = app_commands.describe(**{param.name: param.help for param in command.params})(callback)
        # discord.py's decorator infers the options from the callback's own signature, which a table of handlers
        # cannot spell in a type; it reads them at run time.
        group.command(name=command.name, description=command.description)(callback)  # type: ignore[arg-type]


def _join(context: BotContext):
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

    return join


def _mycard(context: BotContext):
    async def mycard(interaction: discord.Interaction) -> None:
        community = await member_community(interaction, context)
        if community is None:
            return
        cards = await member_cards(context.database, community, person_of(interaction.user))
        if not cards:
            await answer(interaction, NO_CARD_TEXT)
            return
        embeds = [
            card_embed(
                item.card,
                footer=" · ".join(
                    filter(
                        None,
                        [
                            STATUS_TEXT.get(item.status, item.status),
                            _clip(item.scenario, 200),
                            item.placement.line() if item.placement else None,
                        ],
                    )
                ),
            )
            for item in cards
        ]
        count = len(cards)
        await answer(interaction, f"Your values card{'s' if count != 1 else ''} ({count}):", embeds=embeds)

    return mycard


def _mydata(context: BotContext):
    async def mydata(interaction: discord.Interaction) -> None:
        community = await member_community(interaction, context)
        if community is None:
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        export = await member_export(context.database, community, str(interaction.user.id))
        if export is None:
            await answer(interaction, NO_DATA_TEXT)
            return
        payload, filename = export.payload, export.filename
        limit = getattr(interaction, "filesize_limit", 8 * 1024 * 1024)
        if len(payload) > limit:  # JSON shrinks a lot: try once compressed before giving up
            payload, filename = gzip.compress(payload), filename + ".gz"
        if len(payload) > limit:
            await answer(interaction, TOO_LARGE_TEXT.format(size=round(len(payload) / 1e6, 1)))
            return
        await interaction.followup.send(
            content=MYDATA_TEXT.format(summary=export.summary),
            file=discord.File(io.BytesIO(payload), filename=filename),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    return mydata


def _forget(context: BotContext):
    async def forget(interaction: discord.Interaction) -> None:
        community = await member_community(interaction, context)
        if community is None:
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        now = context.clock()
        preview = await forget_preview(context.database, community, str(interaction.user.id), now=now)
        if preview is None:
            await answer(interaction, NOTHING_STORED_TEXT)
            return
        await interaction.followup.send(
            content=preview.preview_text() + FORGET_CONFIRM_HINT,
            view=forget_view(community, asked_at=now),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    return forget


def _vote(context: BotContext):
    async def vote(interaction: discord.Interaction) -> None:
        community = await member_community(interaction, context)
        if community is None:
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        user = interaction.user
        # In a server the command carries the member (join date, roles): facts for the eligibility rules.
        facts = member_facts(user.id, user) if isinstance(user, discord.Member) else None
        first = await start_voting(context.database, community, person_of(user), now=context.clock(), facts=facts)
        try:
            await user.send(**message_kwargs(first.text, first.buttons))
        except discord.Forbidden:
            await answer(interaction, VOTE_DMS_CLOSED_TEXT)
            return
        await answer(interaction, VOTE_IN_DMS_TEXT)

    return vote


def _help(context: BotContext):
    async def help_(interaction: discord.Interaction) -> None:
        await answer(interaction, HELP_TEXT)

    return help_


def forget_view(community: CommunityRef, *, asked_at: datetime) -> discord.ui.View:
    """**Erase my data** (carrying the community and when it was asked) and **Keep my data**."""
    view = discord.ui.View(timeout=None)
    view.add_item(
        ChoiceButton(forget_button_key(community, asked_at=asked_at), ERASE_LABEL, style=discord.ButtonStyle.danger)
    )
    view.add_item(ChoiceButton(FORGET_CANCEL_KEY, KEEP_LABEL))
    return view


def _clip(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
