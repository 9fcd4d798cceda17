"""`mge run --role discord` as a real process against the fake Discord, fed malformed gateway dispatches
and stale interactions: it stays up, logs one line per bad event and no traceback, still answers a DM,
and tells a member whose command or button is out of date what to do."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import pytest

from adapters.discord.commands import STALE_TEXT
from bot.commands.buttons import STALE_BUTTON_TEXT
from tests.discord_support import fake_discord, start_mge_discord  # noqa: F401 (fixtures)
from tests.fakes.discord_server import EPHEMERAL, FakeDiscord
from tests.test_cli_run import base_env

#: What a field may wrongly hold: nothing, the wrong kind of JSON value, or a string that is no snowflake.
WRONG = (None, [], {}, "not-a-number", 1.5, True, ["123"], -1)


def with_field(data: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    return {**data, key: value}


def without(data: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != key}


def malformed_dispatches(fake: FakeDiscord, guild, member) -> list[tuple[str, Any]]:
    """(event, d) pairs a buggy or hostile gateway might send: whole payloads missing, every field of a
    reaction wrong in every way, broken DMs and interactions."""
    message = fake.dm_payload(member, "a poll") | {"guild_id": str(guild.id), "channel_id": str(guild.channel_id)}
    events: list[tuple[str, Any]] = []
    for event in (
        "MESSAGE_REACTION_ADD",
        "MESSAGE_REACTION_REMOVE",
        "MESSAGE_CREATE",
        "INTERACTION_CREATE",
        "GUILD_CREATE",
        "MESSAGE_POLL_VOTE_ADD",
    ):
        events += [(event, None), (event, []), (event, "text"), (event, {})]
    for added, event in ((True, "MESSAGE_REACTION_ADD"), (False, "MESSAGE_REACTION_REMOVE")):
        reaction = fake.reaction_payload(member, message, "✅", added=added)
        events.append((event, without(reaction, "guild_id")))  # as a DM reaction: well-formed, no poll there
        for key in reaction:
            events.append((event, without(reaction, key)))
            events += [(event, with_field(reaction, key, value)) for value in WRONG]
        events += [
            (event, with_field(reaction, "emoji", value))
            for value in ({"id": "x", "name": None}, {"name": 5}, {"id": None, "name": None})
        ]
    dm = fake.dm_payload(member, "hello")
    events += [("MESSAGE_CREATE", with_field(dm, "content", value)) for value in (5, None, ["hi"], {"t": 1})]
    events += [
        ("MESSAGE_CREATE", with_field(dm, key, value))
        for key in ("author", "id", "channel_id", "attachments")
        for value in (None, "x", [1])
    ]
    return events


async def stale_interactions(fake: FakeDiscord, guild, member) -> list[tuple[int, str]]:
    """Interactions the bot has no handler for, each with the answer it should get."""
    sent = [
        (await fake.send_slash_command(member, guild, "mge", "ballot"), STALE_TEXT),  # never existed (a typo)
        (await fake.send_slash_command(member, guild, "mge-mod", "shutdown"), STALE_TEXT),
        (await fake.send_slash_command(member, guild, "moralgraph", "join"), STALE_TEXT),  # renamed since
        # `/mge ask` with its question typed as a number: the definition changed under the member.
        (
            await fake.send_slash_command(
                member, guild, "mge", "ask", options=[{"name": "question", "type": 4, "value": 3}]
            ),
            STALE_TEXT,
        ),
        (
            await fake.send_interaction(
                3,
                member,
                guild,
                {"custom_id": "mge:vote:3", "component_type": 2},
                message=fake.dm_payload(member, "old"),
            ),
            STALE_BUTTON_TEXT,
        ),
        (await fake.send_interaction(5, member, guild, {"custom_id": "mge:form", "components": []}), STALE_TEXT),
        (await fake.send_interaction(99, member, guild, {"name": "mge"}), STALE_TEXT),
    ]
    return sent


@pytest.mark.slow  # an `mge run` process
async def test_malformed_dispatches_and_stale_interactions_never_stop_the_bot(
    fake_discord, fake_openai, tmp_path: Path
):
    guild = fake_discord.add_guild("Test Guild")
    member = fake_discord.add_user("alice")
    output = tmp_path / "mge.log"
    env = base_env(tmp_path, OPENAI_BASE_URL=fake_openai.base_url)
    process = await start_mge_discord(fake_discord, "run", "--role", "discord", env=env, cwd=tmp_path, output=output)
    try:
        await fake_discord.wait_until_identified(timeout=30)
        await fake_discord._wait(lambda: fake_discord.commands.get(None), 30, "the command sync")
        events = malformed_dispatches(fake_discord, guild, member)
        for event, data in events:
            await fake_discord.dispatch(event, data)
        answers = await stale_interactions(fake_discord, guild, member)
        for interaction_id, text in answers:
            [response] = await fake_discord.wait_for_responses(interaction_id, 1, timeout=10)
            assert response["content"] == text and response["flags"] == EPHEMERAL, response

        await asyncio.sleep(0.5)
        assert process.returncode is None, output.read_text()
        await fake_discord.send_dm(member, "hello")
        [reply] = await fake_discord.wait_for_bot_messages(fake_discord.dm_channel_id(member), 1, timeout=30)
        assert reply["content"] or reply["embeds"]
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)
    log = output.read_text()
    assert process.returncode == 0, log
    assert "Traceback" not in log, log
    dropped = [line for line in log.splitlines() if "ignored a malformed" in line]
    assert len(dropped) >= len(events) // 2, log  # the rest parse, and reach handlers that ignore them
    assert all(len(line) < 400 for line in dropped)
    assert log.count("stale command /") == 4 and log.count("unknown interaction") == 3, log
