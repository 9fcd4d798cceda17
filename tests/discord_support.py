"""Running the real Discord client against the fake Discord, shared by the Discord test modules."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import discord
import pytest

from adapters.discord import DiscordConfig, build_client
from adapters.discord.commands import GROUP_NAME, MODERATOR_GROUP_NAME, POLL_NAME
from bot.commands.moderator_actions import groups
from bot.interview.routing import DmRouter
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


#: `mge` as the console script runs it, with discord.py pointed at the fake Discord on FAKE_DISCORD_PORT by
#: the same two assignments ``FakeDiscord`` makes in-process (Discord has no API-base setting to use).
_REDIRECTED_MGE = (
    "import os, sys, discord, yarl; port = os.environ['FAKE_DISCORD_PORT']; "
    "discord.http.Route.BASE = f'http://127.0.0.1:{port}/api/v10'; "
    "discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(f'ws://127.0.0.1:{port}/gateway'); "
    "sys.argv[0] = 'mge'; from bot.cli.app import main; main()"
)


async def start_mge_discord(
    fake: FakeDiscord, *args: str, env: dict[str, str], cwd: Path, output: Path
) -> asyncio.subprocess.Process:
    """``mge <args>`` as a real process whose Discord is ``fake`` (``DISCORD_TOKEN`` set to the fake's).
    Its stdout and stderr go to the file ``output`` (a pipe nobody reads while it runs could fill up)."""
    env = {**env, "DISCORD_TOKEN": fake.token, "FAKE_DISCORD_PORT": str(fake.port)}
    with output.open("wb") as sink:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _REDIRECTED_MGE,
            *args,
            env=env,
            cwd=cwd,
            stdout=sink,
            stderr=sink,
        )


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
