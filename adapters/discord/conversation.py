"""One member message (typed or a button press) → the interview use case → replies in their DMs."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import discord

from adapters.discord.community import community_for_dm, person_of
from adapters.discord.config import context_of
from adapters.discord.delivery import deliver
from bot.commands.member_commands import SORRY_TEXT
from core.messages import CommunityRef, InboundMessage, Outbound, Reply

log = logging.getLogger("mge.discord.conversation")


async def reply_to_member(
    client: discord.Client,
    user: discord.User | discord.Member,
    text: str,
    *,
    event_id: str,
    channel: discord.abc.Messageable | None = None,
) -> None:
    """Hand ``text`` to the interview and send what it answers to the member's DM channel."""
    context = context_of(client)

    async def respond(community: CommunityRef) -> list[Outbound]:
        return await context.interviews.handle(
            InboundMessage(community=community, author=person_of(user), text=text, event_id=event_id)
        )

    await answer_member(client, user, respond, event_id=event_id, channel=channel)


async def answer_member(
    client: discord.Client,
    user: discord.User | discord.Member,
    respond: Callable[[CommunityRef], Awaitable[list[Outbound]]],
    *,
    event_id: str,
    channel: discord.abc.Messageable | None = None,
) -> None:
    """Find the member's community, let ``respond`` answer in it, and send the answer to their DM channel."""
    context = context_of(client)
    # Handling and sending under one lock, so two quick messages get their replies in order.
    async with context.user_lock(user.id):
        target = channel or user.dm_channel or await user.create_dm()
        community = await community_for_dm(client, context, user)
        outbound: list[Outbound]
        if isinstance(community, str):
            outbound = [Reply(community)]
        else:
            try:
                async with _typing(target):  # the LLM may take a few seconds
                    outbound = await respond(community)
            except Exception:  # a bug must not leave the member without an answer
                log.exception("handling event %s failed", event_id)
                outbound = [Reply(SORRY_TEXT)]
        try:
            await deliver(target, outbound)
        except discord.HTTPException as error:  # e.g. the member blocked the bot; their words are saved
            log.warning("could not reply to user %s: %s", user.id, error)


@contextlib.asynccontextmanager
async def _typing(channel: discord.abc.Messageable) -> AsyncIterator[None]:
    """Show "typing…" while the body runs; a failure to show it is not a reason to fail the reply."""
    indicator = channel.typing()
    try:
        await indicator.__aenter__()
    except discord.HTTPException:
        yield
        return
    try:
        yield
    finally:
        await indicator.__aexit__(None, None, None)
