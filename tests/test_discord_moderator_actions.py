"""The moderator actions as `/mge` subcommands on Discord, end to end: the real discord.Client against the
fake Discord, real databases. Each is denied to a member and allowed to a moderator; changes land in
the audit log; files come attached to the private answer."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import select

from adapters.discord.commands import MODERATOR_GROUP_NAME
from bot.commands.moderator_actions import ACTIONS
from bot.commands.permissions import denial_text
from bot.runtime.schedules import community_schedule
from core.messages import CommunityRef
from storage.models import CanonicalValue, ModerationAction
from tests.discord_support import fake_discord, guild, running_bot  # noqa: F401 (fixtures)
from tests.fakes.discord_server import EPHEMERAL
from tests.fakes.story_rows import add_story
from tests.test_discord_moderation import MANAGE_GUILD
from tests.test_scheduler import community_id

# SQLite only: Discord parsing and rendering; every action runs on PostgreSQL in test_audit_coverage.py.
pytestmark = pytest.mark.sqlite_only

EXAMPLES = {
    "interval": "1d",
    "count": 2,
    "hours": 24,
    "day": "sun",
    "time": "18:00",
    "timezone": "Europe/Berlin",
    "value": 1,
    "keep": 1,
    "merge": 2,
    "card": 1,
    "text": "When in doubt",
    "scenario": 1,
    "context": 1,
    "member": "<@123>",
    "days": 30,
    "mode": "private",
    "value_a": 1,
    "value_b": 2,
    "story": 1,
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
async def bot(fake_discord, guild, service, database, clock):
    async with running_bot(
        fake_discord, service, database, clock, sync_commands=False, poll_duration=timedelta(hours=48)
    ) as client:
        yield client


@pytest.fixture
def mod(fake_discord):
    return fake_discord.add_user("mod")


async def run(fake, user, guild, action_path: str, permissions: int = MANAGE_GUILD, responses: int = 2, **options):
    group, _, name = action_path.partition(" ")
    interaction = await fake.send_slash_command(
        user,
        guild,
        MODERATOR_GROUP_NAME,
        name or group,
        group=group if name else None,
        member_permissions=permissions,
        options=[{"name": k, "type": 4 if isinstance(v, int) else 3, "value": v} for k, v in options.items()],
    )
    return await fake.wait_for_responses(interaction, responses)


async def audit(database) -> list[ModerationAction]:
    async with database.session() as session:
        return list((await session.exec(select(ModerationAction).order_by(ModerationAction.id))).all())


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.path)
async def test_every_moderator_action_is_denied_to_a_member_with_the_reason(fake_discord, bot, guild, database, action):
    member = fake_discord.add_user("member")
    options = {p.name: EXAMPLES[p.name] for p in action.params if p.required}
    [response] = await run(fake_discord, member, guild, action.path, permissions=0, responses=1, **options)
    assert response["flags"] == EPHEMERAL
    assert response["content"] == denial_text("discord", action=f"use /mge-mod {action.group}")
    assert await audit(database) == []


async def test_a_moderator_sets_the_schedule_from_chat_and_it_is_audited(fake_discord, bot, guild, mod, database):
    deferred, saved = await run(fake_discord, mod, guild, "polls channel", channel="<#555>")
    assert deferred["type"] == 5 and saved["flags"] == EPHEMERAL and "in channel 555" in saved["content"]
    await run(fake_discord, mod, guild, "polls every", interval="12h")
    await run(fake_discord, mod, guild, "digest channel")  # this channel
    await run(fake_discord, mod, guild, "digest schedule", day="sun", time="18:30")
    _, bad = await run(fake_discord, mod, guild, "polls per-round", count=11)
    assert "between 0 and 10" in bad["content"]
    _, shown = await run(fake_discord, mod, guild, "schedule")
    assert "Story polls: 1 every 12h in channel 555, each open 48 h" in shown["content"]
    assert f"Weekly digest: Sun 18:30 UTC in channel {guild.channel_id}" in shown["content"]

    community = CommunityRef("discord", str(guild.id), guild.name)
    row = await community_schedule(database, community_id=await community_id(database, community))
    assert (row.poll_channel_id, row.poll_interval_minutes, row.digest_channel_id) == (
        "555",
        720,
        str(guild.channel_id),
    )
    entries = await audit(database)
    assert [e.action for e in entries] == ["polls.channel", "polls.every", "digest.channel", "digest.schedule"]
    assert all(e.actor == f"discord:{mod.id}" for e in entries)
    _, log = await run(fake_discord, mod, guild, "audit", count=1)
    assert "digest.schedule" in log["content"] and "polls.every" not in log["content"]


async def test_values_hide_and_export_attach_files(fake_discord, bot, guild, mod, database, clock):
    community = CommunityRef("discord", str(guild.id), guild.name)
    await add_story(database, community, now=clock())
    async with database.session() as session:
        first = (await session.exec(select(CanonicalValue).order_by(CanonicalValue.id))).first()
    _, hidden = await run(fake_discord, mod, guild, "values hide", value=first.id)
    assert hidden["content"] == f"Hidden: {first.id}. Fixing The Problem."
    _, exported = await run(fake_discord, mod, guild, "export", format="graphml")
    assert exported["content"].startswith("The moral graph: 1 values")  # the hidden one is left out
    interaction = list(fake_discord.interactions.values())[-1]
    [attachment] = interaction.messages[-1]["attachments"]
    assert attachment["filename"] == "moral-graph.graphml"
    assert fake_discord.files[attachment["id"]].startswith(b"<?xml")
    _, preview = await run(fake_discord, mod, guild, "digest preview")
    files = list(fake_discord.interactions.values())[-1].messages[-1]["attachments"]
    assert files[0]["filename"] == "moral-graph.png" and fake_discord.files[files[0]["id"]].startswith(PNG_MAGIC)
    assert [e.action for e in await audit(database)] == ["values.hide", "export"]


async def test_eligibility_rules_use_what_discord_says_and_leave_votes_out(
    fake_discord, bot, guild, mod, database, clock
):
    from adapters.discord.polls import DiscordPollPublisher
    from bot.graph.build import load_community_graph_input
    from bot.voting.polls import post_story_poll

    community = CommunityRef("discord", str(guild.id), guild.name)
    story = await add_story(database, community, now=clock())
    await post_story_poll(
        database,
        DiscordPollPublisher(bot),
        story_id=story,
        platform="discord",
        channel_id=str(guild.channel_id),
        closes_at=None,
        now=clock(),
    )
    [message] = fake_discord.bot_messages(guild.channel_id)
    voters = [fake_discord.add_user(f"v{n}") for n in range(3)]
    for voter in voters:
        await fake_discord.add_reaction(voter, message, "\u2705")
    cid = await community_id(database, community)
    for _ in range(100):
        data = await load_community_graph_input(database, community_id=cid)
        if len(data.votes) == 3:
            break
        await asyncio.sleep(0.05)
    assert len(data.votes) == 3

    # The fake's members joined "now" (real time), after the test clock's votes: a membership rule
    # leaves all three out; an account-age rule of a year keeps them (the fake's ids date from 2024).
    _, shown = await run(fake_discord, mod, guild, "eligibility membership", days=30)
    assert shown["content"] == "Votes count from members with a member for at least 30 day(s). Blocked members: 0."
    assert (await load_community_graph_input(database, community_id=cid)).excluded_votes == {"joined too recently": 3}
    await run(fake_discord, mod, guild, "eligibility membership", days=0)
    await run(fake_discord, mod, guild, "eligibility account-age", days=365)
    assert (await load_community_graph_input(database, community_id=cid)).excluded_votes == {}
    _, blocked = await run(fake_discord, mod, guild, "member block", member=f"<@!{voters[0].id}>")
    assert blocked["content"].startswith("Blocked")
    data = await load_community_graph_input(database, community_id=cid)
    assert len(data.votes) == 2 and data.excluded_votes == {"blocked": 1}
    _, stats = await run(fake_discord, mod, guild, "stats")
    assert "Votes left out of the graph: 1 (1 blocked)." in stats["content"]
    assert [e.action for e in await audit(database)] == [
        "eligibility.membership",
        "eligibility.membership",
        "eligibility.account-age",
        "member.block",
    ]


async def test_answers_name_the_moderator_commands_as_discord_shows_them(fake_discord, bot, guild, mod):
    # The actions' texts are shared with Slack, where every command is `/mge …`; on Discord the
    # moderator ones are under `/mge-mod`, and a text must not send a moderator to a command that isn't there.
    _, empty = await run(fake_discord, mod, guild, "scenario list")
    assert "/mge-mod scenario add" in empty["content"] and "/mge scenario" not in empty["content"]
