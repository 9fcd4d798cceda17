"""Running the real Discord client against the fake Discord, shared by the Discord test modules."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import discord
import pytest

from mge.adapters.discord import DiscordConfig, build_client
from mge.adapters.discord.commands import GROUP_NAME, MODERATOR_GROUP_NAME, POLL_NAME
from mge.bot.actions import groups
from mge.bot.routing import DmRouter
from tests.fakes.discord_server import FakeDiscord, FakeGuild


@contextlib.asynccontextmanager
async def running_bot(fake: FakeDiscord, service, database, clock, **config) -> AsyncIterator[discord.Client]:
    """The bot connected to ``fake`` until the block ends; ``config`` overrides DiscordConfig fields."""
    settings = DiscordConfig(token=fake.token, **{"guild_ready_timeout": 0.05, **config})
    client = build_client(settings, interviews=service, router=DmRouter(database), database=database, clock=clock)
    task = asyncio.create_task(client.start(fake.token))
    try:
        await asyncio.wait_for(client.wait_until_ready(), 5)
        yield client
    finally:
        await client.close()
        await task


def top_level(name: str) -> str:
    """The top-level command a subcommand (or subcommand group) lives under: `/mge-mod` or `/mge`."""
    return MODERATOR_GROUP_NAME if name in {POLL_NAME, *groups()} else GROUP_NAME


@pytest.fixture
async def fake_discord():
    async with FakeDiscord() as fake:
        yield fake


@pytest.fixture
def guild(fake_discord) -> FakeGuild:
    return fake_discord.add_guild("Test Guild")
