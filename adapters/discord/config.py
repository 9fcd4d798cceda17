"""What the Discord adapter is configured with, and the services its handlers share."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import discord

from bot.interview.routing import DmRouter
from bot.interview.service import InterviewService
from core.clock import utcnow
from storage.database import Database

PLATFORM = "discord"


@dataclass(frozen=True, slots=True)
class DiscordConfig:
    #: The bot token. ``repr=False`` keeps it out of logs and tracebacks that print the config.
    token: str = field(repr=False)
    #: Guilds to sync the slash commands to (instant, for development or a single community).
    #: Empty: sync them globally (Discord may take a while to show global changes).
    command_guild_ids: tuple[int, ...] = ()
    #: Whether to push the command definitions to Discord on start. Off when another process owns them.
    sync_commands: bool = True
    #: Seconds discord.py waits for GUILD_CREATE events after READY before firing ``on_ready``.
    guild_ready_timeout: float = 2.0
    #: Roles whose members may run moderator commands, besides members with Manage Server.
    moderator_role_ids: tuple[int, ...] = ()
    #: How long a story poll posted by `/mge poll` takes votes.
    poll_duration: timedelta = timedelta(hours=72)
    #: Price per million input and output tokens, for the cost estimate in `/mge stats` (0: none shown).
    token_prices: tuple[float, float] = (0.0, 0.0)


@dataclass(slots=True)
class BotContext:
    """The use cases and helpers every Discord handler works with (held by the client)."""

    interviews: InterviewService
    router: DmRouter
    database: Database
    clock: Callable[[], datetime] = utcnow
    #: From ``DiscordConfig``: who counts as a moderator, and how long a poll stays open.
    moderator_role_ids: tuple[int, ...] = ()
    poll_duration: timedelta = timedelta(hours=72)
    token_prices: tuple[float, float] = (0.0, 0.0)
    # One lock per user: a member's messages are handled *and their replies sent* in order, even when
    # discord.py runs two of their events concurrently (it dispatches each event in its own task).
    _locks: weakref.WeakValueDictionary[int, asyncio.Lock] = field(default_factory=weakref.WeakValueDictionary)

    def user_lock(self, user_id: int) -> asyncio.Lock:
        lock = self._locks.get(user_id)
        if lock is None:
            lock = self._locks[user_id] = asyncio.Lock()
        return lock


def context_of(client: discord.Client) -> BotContext:
    """The ``BotContext`` a handler's client carries (``interaction.client``, ``self`` in the client)."""
    context = getattr(client, "mge_context", None)
    if not isinstance(context, BotContext):
        raise RuntimeError("this discord.Client was not built by adapters.discord.build_client")
    return context
