"""Sending neutral outbound items to a Discord channel, in order."""

from __future__ import annotations

from collections.abc import Iterable

import discord

from adapters.discord.render import render
from core.messages import Outbound


async def deliver(channel: discord.abc.Messageable, items: Iterable[Outbound]) -> list[discord.Message]:
    """Send every item (one or more Discord messages each). Errors propagate: a caller that can say
    something useful about them (`/mge join` and closed DMs) does."""
    sent = []
    for item in items:
        for message in render(item):
            sent.append(await channel.send(**message.kwargs()))
    return sent
