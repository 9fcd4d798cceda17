"""A press on a choice button (``buttons.ChoiceButton``) → ``bot.commands.buttons`` → what the member sees.

The press is acknowledged first, within Discord's 3 seconds and before any slow work: a generalization
pick disables only the pressed button (``generalization.acknowledge_pick``), a button on a channel
message (a private poll's) changes nothing anyone sees, any other press disables the whole message
(``buttons.acknowledge_press``). Then the route's handler runs, and its reply is rendered: interview
messages and plain texts in the member's DM, a private answer as an ephemeral follow-up.

This module is reached through the client (``MgeDiscordClient.answer_choice_press``), never imported by
``buttons``: rendering builds the buttons, and answering renders.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from typing import Any

import discord

from adapters.discord.buttons import acknowledge_press
from adapters.discord.commands import ERROR_TEXT, answer
from adapters.discord.community import community_of_guild, person_of
from adapters.discord.config import PLATFORM, context_of
from adapters.discord.conversation import answer_member
from adapters.discord.errors import one_line
from adapters.discord.generalization import acknowledge_pick
from adapters.discord.legitimacy import message_kwargs
from adapters.discord.polls import member_facts
from bot.commands.buttons import ButtonPress, ButtonReply, ButtonRoute, PressedMessage, route_for
from core.messages import CommunityRef, Outbound

log = logging.getLogger("mge.discord.buttons")


async def answer_press(interaction: discord.Interaction[Any], key: str) -> None:
    try:
        await _answer(interaction, key)
    except Exception as error:
        # discord.py would log a traceback for the view and leave the member with "This interaction
        # failed"; one line, and the member is told.
        log.error("button %.60r failed: %s", key, one_line(error))
        with contextlib.suppress(discord.HTTPException, discord.InteractionResponded):
            await answer(interaction, ERROR_TEXT)


async def _answer(interaction: discord.Interaction[Any], key: str) -> None:
    route = route_for(key)
    if route.in_channel:
        await _answer_in_channel(interaction, route, key)
        return
    if route.several_per_message:
        await acknowledge_pick(interaction, key)
    else:
        await acknowledge_press(interaction)
    context = context_of(interaction.client)
    user = interaction.user
    press = ButtonPress(
        key=key,
        platform=PLATFORM,
        person=person_of(user),
        community=None,
        event_id=f"interaction-{interaction.id}",
        now=context.clock(),
        database=context.database,
        interviews=context.interviews,
    )
    if route.needs_community:

        async def respond(community: CommunityRef) -> list[Outbound]:
            return list((await route.handler(dataclasses.replace(press, community=community))).messages)

        await answer_member(interaction.client, user, respond, event_id=press.event_id)
        return
    if route.exclusive:
        async with context.user_lock(user.id):
            reply = await route.handler(press)
    else:
        reply = await route.handler(press)
    await _render(interaction, route.name, reply)


async def _answer_in_channel(interaction: discord.Interaction[Any], route: ButtonRoute, key: str) -> None:
    """A button everyone sees (a private poll's): the message stays as it is; only the member is answered."""
    # Read before the first await. Snowflakes grow with time: the order of the member's presses.
    order = interaction.id
    user = interaction.user
    message = interaction.message
    acknowledged = True
    try:
        # Type 6, "deferred update": nothing changes on the message and nothing is shown to anyone.
        await interaction.response.defer()
    except discord.HTTPException as error:
        # Expired, or a redelivery (answered the first time): the press is recorded (once) all the same.
        log.warning("could not acknowledge poll press %s: %s", interaction.id, error)
        acknowledged = False
    context = context_of(interaction.client)
    press = ButtonPress(
        key=key,
        platform=PLATFORM,
        person=person_of(user),
        community=community_of_guild(interaction.guild, interaction.guild_id) if interaction.guild_id else None,
        event_id=f"interaction-{interaction.id}",
        now=context.clock(),
        database=context.database,
        interviews=context.interviews,
        message=PressedMessage(str(interaction.channel_id), str(message.id)) if message is not None else None,
        event_order=order,
        facts=member_facts(user.id, user if isinstance(user, discord.Member) else None),
    )
    reply = await route.handler(press)
    if reply.private is not None and acknowledged:
        await answer(interaction, reply.private)


async def _render(interaction: discord.Interaction[Any], route: str, reply: ButtonReply) -> None:
    for message in reply.plain:
        try:
            await interaction.user.send(**message_kwargs(message.text, message.buttons))
        except discord.HTTPException as error:
            log.warning("could not answer a %s button press: %s", route, error)
            return
    if reply.private is not None:
        await answer(interaction, reply.private)
