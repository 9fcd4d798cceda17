"""A week of a community's life, hour by hour, with the clock in the test's hand: the scheduler's jobs
post a story poll each day, members vote with reactions through the real Discord client / Bolt app
against the fakes, polls close after 48 hours (later reactions are ignored), and on Sunday evening in
the community's timezone the digest is posted once, with its picture. Mid-week the bot "restarts"
(new database engine, new publishers, the same hour's ticks run again): nothing is posted twice."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from adapters.discord.digest import DiscordDigestPublisher
from adapters.discord.polls import DiscordPollPublisher
from adapters.slack.digest import SlackDigestPublisher
from adapters.slack.polls import SlackPollPublisher
from bot.runtime import scheduler as sched
from bot.runtime.schedules import update_schedule
from core.messages import CommunityRef
from core.polls import poll_reactions
from storage.database import Database
from storage.models import Poll, Vote
from tests.conftest import Clock
from tests.discord_support import running_bot
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.slack_api import TEAM_ID
from tests.fakes.story_rows import add_story
from tests.slack_support import serving_slack
from tests.test_scheduler import community_id

#: Monday 2026-11-16 00:00 UTC. The digest is due Sunday 18:00 in Berlin: 17:00 UTC on the 22nd.
START = datetime(2026, 11, 16, 0, 0, tzinfo=UTC)
DIGEST_AT = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)
RESTART_AT = datetime(2026, 11, 19, 12, 0, tzinfo=UTC)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
VOTERS = 3
VALUES = [
    {
        "title": f"Value Number {n}",
        "description": f"The person acts on value {n}.",
        "policies": [f"MOMENTS when value {n} matters", f"CHOICES that honour value {n}"],
    }
    for n in range(9)
]


@dataclass
class Platform:
    """One platform's side of the week: its publishers, how members react, what the fake received."""

    name: str
    community: CommunityRef
    channel: str
    client: Any  # the discord.Client or the Bolt app's AsyncWebClient
    react: Any  # async (poll, voter number, emoji) -> None
    digest_posts: Any  # () -> list of (channel, png bytes or None)
    posted_polls: Any  # () -> number of poll messages the fake received
    members: dict = field(default_factory=dict)

    def publishers(self) -> tuple[dict, dict]:
        if self.name == "discord":
            return {"discord": DiscordPollPublisher(self.client)}, {"discord": DiscordDigestPublisher(self.client)}
        return {"slack": SlackPollPublisher(self.client)}, {"slack": SlackDigestPublisher(self.client)}


async def _discord(stack, service, database, clock):
    fake = await stack.enter_async_context(FakeDiscord())
    guild = fake.add_guild("Week Guild")
    bot = await stack.enter_async_context(running_bot(fake, service, database, clock, sync_commands=False))
    users = [fake.add_user(f"voter{n}") for n in range(VOTERS + 1)]

    handled: list[int] = []

    async def on_handled(payload, outcome) -> None:
        handled.append(payload.user_id)

    bot.on_mge_reaction_handled = on_handled

    async def react(poll: Poll, voter: int, emoji: str) -> None:
        message = next(m for m in fake.bot_messages(guild.channel_id) if m["id"] == poll.message_id)
        before = handled.count(users[voter].id)
        await fake.add_reaction(users[voter], message, emoji)
        for _ in range(250):  # the bot handles the gateway event in its own task
            if handled.count(users[voter].id) > before:
                return
            await asyncio.sleep(0.02)
        raise AssertionError("the bot did not handle the reaction")

    def digest_posts():
        return [
            (str(guild.channel_id), fake.files[m["attachments"][0]["id"]] if m["attachments"] else None)
            for m in fake.bot_messages(guild.channel_id)
            if m["embeds"] and m["embeds"][0].get("title", "").startswith("Moral graph digest")
        ]

    def posted_polls():
        return sum(
            1
            for m in fake.bot_messages(guild.channel_id)
            if m["embeds"] and not m["embeds"][0].get("title", "").startswith("Moral graph digest")
        )

    return Platform(
        "discord",
        CommunityRef("discord", str(guild.id), guild.name),
        str(guild.channel_id),
        bot,
        react,
        digest_posts,
        posted_polls,
    )


async def _slack(stack, service, database, clock):
    harness = await stack.enter_async_context(serving_slack(service, database, clock=clock))

    async def react(poll: Poll, voter: int, emoji: str) -> None:
        await harness.react(poll.channel_id, poll.message_id, emoji, user=f"UVOTER{voter}")

    def digest_posts():
        posts = [c for c in harness.posts_to("CWEEK") if "digest" in (c.params.get("text") or "")]
        uploads = list(harness.slack.uploads.values())
        return [("CWEEK", uploads[n] if n < len(uploads) else None) for n in range(len(posts))]

    def posted_polls():
        return sum(1 for c in harness.posts_to("CWEEK") if "digest" not in (c.params.get("text") or ""))

    return Platform(
        "slack",
        CommunityRef("slack", TEAM_ID, "Test Team"),
        "CWEEK",
        harness.app.client,
        react,
        digest_posts,
        posted_polls,
    )


async def tick(context: sched.SchedulerContext) -> dict[str, Any]:
    """One scheduler tick: what the three periodic jobs do at ``context.clock()``."""
    sched.install_context(context)
    try:
        return {
            "polls": await sched.poll_rounds_job(),
            "closed": await sched.close_polls_job(),
            "digests": await sched.digests_job(),
        }
    finally:
        sched.install_context(None)


async def all_polls(database: Database) -> list[Poll]:
    async with database.session() as session:
        return list((await session.exec(select(Poll).order_by(Poll.id))).all())


async def vote_count(database: Database, poll_id: int) -> int:
    async with database.session() as session:
        return len((await session.exec(select(Vote).where(Vote.poll_id == poll_id))).all())


@pytest.mark.parametrize("platform_name", ["discord", "slack"])
async def test_a_simulated_week(platform_name, service, database):
    clock = Clock(START)
    async with contextlib.AsyncExitStack() as stack:
        platform = await (_discord if platform_name == "discord" else _slack)(stack, service, database, clock)
        for a, b in itertools.pairwise(VALUES):
            await add_story(database, platform.community, now=START - timedelta(days=1), from_value=a, to_value=b)
        cid = await community_id(database, platform.community)
        await update_schedule(
            database,
            community_id=cid,
            actor=f"{platform_name}:mod",
            now=START,
            changes={
                "poll_channel_id": platform.channel,
                "poll_interval_minutes": 24 * 60,
                "polls_per_round": 1,
                "poll_duration_hours": 48,
                "digest_channel_id": platform.channel,
                "digest_day": "sun",
                "digest_hour": 18,
                "digest_timezone": "Europe/Berlin",
            },
        )
        yes = poll_reactions(platform_name)[0]

        polls, digests = platform.publishers()
        context = sched.SchedulerContext(
            database=database, poll_publishers=polls, digest_publishers=digests, clock=clock
        )
        posted_at: dict[int, datetime] = {}
        closed_at: dict[int, datetime] = {}
        digest_ticks: list[datetime] = []
        restarted_db: Database | None = None
        try:
            while clock() < START + timedelta(days=7):
                if clock() == RESTART_AT:  # a restart: new engine, new publishers, the same hour again
                    restarted_db = Database(database.url)
                    polls, digests = platform.publishers()
                    context = sched.SchedulerContext(
                        database=restarted_db, poll_publishers=polls, digest_publishers=digests, clock=clock
                    )
                    assert (await tick(context))["polls"] == {}  # this day's poll went out at 00:00
                for _ in range(2):  # a second fire in the same tick (a second process) does nothing more
                    done = await tick(context)
                    for ids in done["polls"].values():
                        posted_at.update({i: clock() for i in ids})
                    closed_at.update({i: clock() for i in done["closed"]})
                    if done["digests"]:
                        digest_ticks.append(clock())
                # Two hours after each poll opens, the members vote on it.
                for poll in await all_polls(database):
                    if poll.state == "open" and clock() - posted_at[poll.id] == timedelta(hours=2):
                        for voter in range(VOTERS):
                            await platform.react(poll, voter, yes)
                clock.advance(hours=1)
        finally:
            if restarted_db is not None:
                await restarted_db.dispose()

        # One poll a day at 00:00 UTC, seven in all, on the channel; each closed 48 h later with its tally.
        rows = await all_polls(database)
        assert len(rows) == 7 == platform.posted_polls()
        assert sorted(posted_at.values()) == [START + timedelta(days=d) for d in range(7)]
        assert all(p.channel_id == platform.channel for p in rows)
        for poll in rows:
            opened = posted_at[poll.id]
            if opened + timedelta(hours=48) < START + timedelta(days=7):
                assert closed_at[poll.id] == opened + timedelta(hours=48)
                assert poll.state == "closed" and poll.tallies == {"upgrade": VOTERS, "no_upgrade": 0, "not_sure": 0}
            else:
                assert poll.state == "open"
            assert await vote_count(database, poll.id) == VOTERS

        # A reaction on a closed poll is ignored.
        first = rows[0]
        await platform.react(first, VOTERS, yes)
        assert await vote_count(database, first.id) == VOTERS

        # The digest: once, Sunday 18:00 in Berlin, with its picture.
        assert digest_ticks == [DIGEST_AT]
        [(channel, png)] = platform.digest_posts()
        assert channel == platform.channel and png is not None and png.startswith(PNG_MAGIC)
