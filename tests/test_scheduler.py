"""The scheduler: poll rounds once per window (restarts and second processes included), closing due
polls, the APScheduler job store in our database, and the PostgreSQL leader lock."""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel, select

from adapters.discord.polls import DiscordPollPublisher
from bot.runtime import scheduler as sched
from bot.runtime.jobs import claim_job
from bot.runtime.scheduler import (
    CLOSE_POLLS_JOB_ID,
    DIGEST_TICK_JOB_ID,
    JOBS_TABLE,
    POLL_TICK_JOB_ID,
    SchedulerContext,
    build_scheduler,
    run_scheduler,
    try_become_leader,
)
from bot.runtime.schedules import update_schedule
from bot.voting.polls import close_poll
from bot.voting.rounds import close_due_polls, run_poll_round
from core.messages import CommunityRef
from core.schedule import PollSchedule, period_key
from storage import communities_repo
from storage.database import Database, sync_url
from storage.migrate import alembic_config
from storage.models import JobRun, Poll
from tests.fakes.story_rows import add_story
from tests.test_poll_selection import add_reverse, add_votes, open_poll

HERE = CommunityRef("discord", "1001", "Here")
DAY = timedelta(days=1)
_message_ids = itertools.count(50_000)  # shared by every fake publisher: a "restarted" one never reuses ids


class FakePublisher:
    """A ``PollPublisher`` that records what it posted; ``fail_on``: the call numbers (1-based) that raise."""

    def __init__(self, fail_on: tuple[int, ...] = ()) -> None:
        self.calls: list[tuple[str, int, str]] = []
        self.fail_on = fail_on
        self._count = 0

    async def publish(self, *, channel_id, poll, on_posted=None) -> str:
        self._count += 1
        if self._count in self.fail_on:
            raise ConnectionError("platform down")
        message_id = str(next(_message_ids))
        self.calls.append((channel_id, poll.story_id, message_id))
        if on_posted is not None:
            await on_posted(message_id)
        return message_id

    @property
    def story_ids(self) -> list[int]:
        return [story_id for _, story_id, _ in self.calls]


async def community_id(database: Database, community: CommunityRef = HERE) -> int:
    async with database.session() as session:
        row = await communities_repo.get_or_create_community(
            session,
            platform=community.platform,
            external_id=community.external_id,
            name=community.name,
            now=datetime(2026, 1, 1, tzinfo=UTC),
        )
        await session.commit()
        return row.id


def schedule(cid: int, **overrides) -> PollSchedule:
    values = dict(
        community_id=cid, platform="discord", channel_id="777", interval=DAY, per_round=2, duration=timedelta(hours=72)
    )
    values.update(overrides)
    return PollSchedule(**values)


async def polls(database: Database) -> list[Poll]:
    async with database.session() as session:
        return list((await session.exec(select(Poll).order_by(Poll.id))).all())


async def runs(database: Database) -> list[JobRun]:
    async with database.session() as session:
        return list((await session.exec(select(JobRun).where(JobRun.job == "poll_round").order_by(JobRun.id))).all())


# --- periods ------------------------------------------------------------------------------------------


def test_period_key_is_the_utc_window():
    six = timedelta(hours=6)
    assert period_key(datetime(2026, 11, 2, 9, 0, tzinfo=UTC), six) == "2026-11-02T06:00Z/21600s"
    assert period_key(datetime(2026, 11, 2, 11, 59, 59, tzinfo=UTC), six) == "2026-11-02T06:00Z/21600s"
    assert period_key(datetime(2026, 11, 2, 12, 0, tzinfo=UTC), six) == "2026-11-02T12:00Z/21600s"
    # The same instant in another time zone is the same window.
    from zoneinfo import ZoneInfo

    local = datetime(2026, 11, 2, 10, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    assert period_key(local, six) == "2026-11-02T06:00Z/21600s"
    assert len(period_key(local, timedelta(days=7))) <= 40
    with pytest.raises(ValueError):
        period_key(datetime(2026, 11, 2), six)


# --- poll rounds --------------------------------------------------------------------------------------


async def test_a_round_posts_n_polls_fewest_votes_first_never_open_ones_or_their_reverse(database, clock):
    cid = await community_id(database)
    now = clock()
    busy = await add_story(database, HERE, now=now)
    busy_reverse = await add_reverse(database, busy, now=now)
    voted = await add_story(database, HERE, now=now)
    fresh = await add_story(database, HERE, now=now)
    fresh_reverse = await add_reverse(database, fresh, now=now)
    newer = await add_story(database, HERE, now=now)
    await open_poll(database, busy, now=now, closes_at=now + DAY)  # being voted on: neither it nor its reverse
    old = await open_poll(database, voted, now=now, closes_at=now + DAY)
    await add_votes(database, old, 2, now=now)
    await close_poll(database, poll_id=old.id, now=now)

    publisher = FakePublisher()
    posted = await run_poll_round(database, publisher, schedule(cid, per_round=3), now=now)

    # Zero votes first (oldest first), never the reverse of the one just posted; then the voted story.
    assert publisher.story_ids == [fresh, newer, voted]
    assert busy not in publisher.story_ids and busy_reverse not in publisher.story_ids
    assert fresh_reverse not in publisher.story_ids
    by_id = {p.id: p for p in await polls(database)}
    assert [by_id[i].story_id for i in posted] == [fresh, newer, voted]
    for poll_id in posted:
        poll = by_id[poll_id]
        assert poll.channel_id == "777" and poll.platform == "discord" and poll.state == "open"
        assert poll.closes_at.replace(tzinfo=UTC) == now + timedelta(hours=72)
    [run] = await runs(database)
    assert run.status == "done" and json.loads(run.detail) == {"polls": posted}


async def test_a_window_posts_once_even_from_a_second_process_and_the_next_window_posts_again(database, clock):
    cid = await community_id(database)
    for _ in range(5):
        await add_story(database, HERE, now=clock())
    plan = schedule(cid, per_round=2)
    first = await run_poll_round(database, FakePublisher(), plan, now=clock())
    assert len(first) == 2

    clock.advance(hours=3)
    assert await run_poll_round(database, FakePublisher(), plan, now=clock()) == []
    other_process = Database(database.url)  # another process: its own engine on the same database
    try:
        assert await run_poll_round(other_process, FakePublisher(), plan, now=clock()) == []
    finally:
        await other_process.dispose()
    assert len(await polls(database)) == 2

    clock.advance(days=1)
    second = await run_poll_round(database, FakePublisher(), plan, now=clock())
    assert len(second) == 2 and not set(second) & set(first)
    assert [r.status for r in await runs(database)] == ["done", "done"]


async def test_concurrent_rounds_in_one_window_post_once(database, clock):
    cid = await community_id(database)
    for _ in range(4):
        await add_story(database, HERE, now=clock())
    plan = schedule(cid, per_round=2)
    other = Database(database.url)
    try:
        results = await asyncio.gather(
            run_poll_round(database, FakePublisher(), plan, now=clock()),
            run_poll_round(other, FakePublisher(), plan, now=clock()),
        )
    finally:
        await other.dispose()
    assert sorted(len(r) for r in results) == [0, 2]
    assert len(await polls(database)) == 2


async def test_a_restart_mid_week_posts_nothing_twice(database, clock):
    cid = await community_id(database)
    for _ in range(4):
        await add_story(database, HERE, now=clock())
    weekly = schedule(cid, interval=timedelta(days=7), per_round=1)
    posted = await run_poll_round(database, FakePublisher(), weekly, now=clock())
    assert len(posted) == 1

    # Restart: new database object, new publisher, three days later in the same window.
    await database.dispose()
    restarted = Database(database.url)
    try:
        clock.advance(days=3)
        publisher = FakePublisher()
        assert await run_poll_round(restarted, publisher, weekly, now=clock()) == []
        assert publisher.calls == [] and len(await polls(restarted)) == 1
        clock.advance(days=7)
        assert len(await run_poll_round(restarted, publisher, weekly, now=clock())) == 1
    finally:
        await restarted.dispose()


class DiesAfterPosting(FakePublisher):
    """Posts and records the poll, then "dies" while adding the voting reactions (the process killed)."""

    async def publish(self, *, channel_id, poll, on_posted=None) -> str:
        await super().publish(channel_id=channel_id, poll=poll, on_posted=on_posted)
        raise asyncio.CancelledError  # what a task sees when its process is going down


async def test_a_round_killed_while_adding_reactions_is_resumed_without_an_extra_poll(database, clock):
    # Found by tests/test_processes.py: a worker killed between recording a poll and noting it in the
    # round's progress left a successor that posted the whole round again (6 polls in a round of 3).
    cid = await community_id(database)
    for _ in range(4):
        await add_story(database, HERE, now=clock())
    plan = schedule(cid, per_round=2)
    with pytest.raises(asyncio.CancelledError):
        await run_poll_round(database, DiesAfterPosting(), plan, now=clock())
    [run] = await runs(database)
    assert run.status == "running" and json.loads(run.detail)["polls"] == [p.id for p in await polls(database)]

    # The next leader takes the run over (its predecessor is gone) and posts only what is missing.
    publisher = FakePublisher()
    posted = await run_poll_round(database, publisher, plan, now=clock(), stale_after=timedelta(0))
    assert len(posted) == 1 and len(await polls(database)) == 2
    [run] = await runs(database)
    assert run.status == "done" and sorted(json.loads(run.detail)["polls"]) == sorted(
        p.id for p in await polls(database)
    )


async def test_paused_or_empty_rounds_do_nothing(database, clock):
    cid = await community_id(database)
    await add_story(database, HERE, now=clock())
    publisher = FakePublisher()
    assert await run_poll_round(database, publisher, schedule(cid, paused=True), now=clock()) == []
    assert await run_poll_round(database, publisher, schedule(cid, per_round=0), now=clock()) == []
    assert publisher.calls == [] and await runs(database) == []
    # Fewer eligible stories than slots: post what there is.
    assert len(await run_poll_round(database, publisher, schedule(cid, per_round=3), now=clock())) == 1


async def test_a_failed_round_is_retried_but_a_partial_one_never_reposts(database, clock):
    cid = await community_id(database)
    for _ in range(4):
        await add_story(database, HERE, now=clock())
    plan = schedule(cid, per_round=2)
    with pytest.raises(ConnectionError):
        await run_poll_round(database, FakePublisher(fail_on=(1,)), plan, now=clock())
    assert [r.status for r in await runs(database)] == ["failed"]
    assert len(await run_poll_round(database, FakePublisher(), plan, now=clock())) == 2  # retried, same window

    clock.advance(days=1)
    with pytest.raises(ConnectionError):
        await run_poll_round(database, FakePublisher(fail_on=(2,)), plan, now=clock())
    last = (await runs(database))[-1]
    assert last.status == "done" and len(json.loads(last.detail)["polls"]) == 1 and "error" in json.loads(last.detail)
    assert await run_poll_round(database, FakePublisher(), plan, now=clock()) == []  # never twice
    assert len(await polls(database)) == 3


# --- closing ------------------------------------------------------------------------------------------


async def test_close_due_polls_closes_exactly_the_due_ones_with_tallies_idempotently(database, clock):
    now = clock()
    stories = [await add_story(database, HERE, now=now) for _ in range(4)]
    past = await open_poll(database, stories[0], now=now - DAY, closes_at=now - timedelta(hours=1))
    exactly = await open_poll(database, stories[1], now=now - DAY, closes_at=now)
    later = await open_poll(database, stories[2], now=now, closes_at=now + timedelta(hours=1))
    forever = await open_poll(database, stories[3], now=now, closes_at=None)
    await add_votes(database, past, 2, now=now)

    assert await close_due_polls(database, now=now) == [past.id, exactly.id]
    assert await close_due_polls(database, now=now) == []
    state = {p.id: p for p in await polls(database)}
    assert state[past.id].state == "closed" and state[past.id].tallies == {"upgrade": 2, "no_upgrade": 0, "not_sure": 0}
    assert state[exactly.id].state == "closed" and state[exactly.id].tallies == {
        "upgrade": 0,
        "no_upgrade": 0,
        "not_sure": 0,
    }
    assert state[later.id].state == "open" and state[forever.id].state == "open"

    clock.advance(hours=2)
    assert await close_due_polls(database, now=clock()) == [later.id]


async def test_the_pickled_job_entry_points_use_the_installed_context_and_the_stored_schedules(database, clock):
    cid = await community_id(database)
    await add_story(database, HERE, now=clock())
    publisher = FakePublisher()
    assert await sched.poll_rounds_job() == {}  # no context: logs and does nothing
    sched.install_context(SchedulerContext(database=database, poll_publishers={"discord": publisher}, clock=clock))
    try:
        assert await sched.poll_rounds_job() == {}  # no schedule stored: nothing is posted
        await update_schedule(
            database,
            community_id=cid,
            actor="operator",
            now=clock(),
            changes={"poll_channel_id": "777", "polls_per_round": 1, "poll_duration_hours": 1},
        )
        [[poll_id]] = (await sched.poll_rounds_job()).values()
        assert publisher.calls[0][0] == "777"
        assert await sched.poll_rounds_job() == {}  # same window
        clock.advance(hours=2)
        assert await sched.close_polls_job() == [poll_id]
        assert await sched.maintenance_job() == {}  # not configured
        assert await sched.digests_job() == {}  # no digest channel
    finally:
        sched.install_context(None)
    assert await sched.close_polls_job() == []


# --- with the real Discord client against the fake Discord ---------------------------------------------


async def test_a_scheduled_round_posts_a_discord_poll_with_three_reactions(service, database, clock):
    from tests.discord_support import running_bot
    from tests.fakes.discord_server import FakeDiscord
    from tests.test_discord_polls import Handled

    async with FakeDiscord() as fake:
        guild = fake.add_guild("Test Guild")
        async with running_bot(fake, service, database, clock) as bot:
            bot.handled = Handled()
            bot.on_mge_reaction_handled = bot.handled
            community = CommunityRef("discord", str(guild.id), guild.name)
            story_id = await add_story(database, community, now=clock())
            plan = PollSchedule(
                community_id=await community_id(database, community),
                platform="discord",
                channel_id=str(guild.channel_id),
                interval=DAY,
                per_round=1,
                duration=timedelta(hours=72),
            )
            [poll_id] = await run_poll_round(database, DiscordPollPublisher(bot), plan, now=clock())
            await bot.handled.wait(3)  # the bot's own three reactions echoed back (and ignored)
            [message] = fake.bot_messages(guild.channel_id)
            puts = fake.requests_to("PUT", rf"/channels/{guild.channel_id}/messages/{message['id']}/reactions/.+/@me")
            assert len(puts) == 3
            [poll] = await polls(database)
            assert poll.id == poll_id and poll.story_id == story_id and poll.message_id == message["id"]
            assert await run_poll_round(database, DiscordPollPublisher(bot), plan, now=clock()) == []
            assert len(fake.bot_messages(guild.channel_id)) == 1


# --- APScheduler job store and leadership ---------------------------------------------------------------


async def test_build_scheduler_stores_jobs_in_our_database_once_and_migrations_ignore_the_table(database_url):
    for _ in range(2):  # a restart: the same jobs added again replace the stored ones
        scheduler = build_scheduler(database_url=database_url, maintenance_every=timedelta(hours=6))
        scheduler.start(paused=True)
        jobs = {job.id: job for job in scheduler.get_jobs()}
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0.05)
    assert set(jobs) == {
        POLL_TICK_JOB_ID,
        CLOSE_POLLS_JOB_ID,
        DIGEST_TICK_JOB_ID,
        sched.REASONS_JOB_ID,
        sched.MAINTENANCE_JOB_ID,
    }
    assert jobs[POLL_TICK_JOB_ID].func is sched.poll_rounds_job and jobs[POLL_TICK_JOB_ID].args == ()
    assert jobs[DIGEST_TICK_JOB_ID].func is sched.digests_job
    # Ticks fire on minute boundaries, whenever the process started.
    assert jobs[CLOSE_POLLS_JOB_ID].next_run_time.second == 0

    engine = sa.create_engine(sync_url(database_url))
    try:
        with engine.connect() as connection:
            assert JOBS_TABLE in sa.inspect(connection).get_table_names()
            assert connection.execute(sa.text(f"SELECT count(*) FROM {JOBS_TABLE}")).scalar() == 5
            # Without the filter, autogenerate would want to drop the table ...
            diffs = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
            assert ("remove_table", JOBS_TABLE) in [(d[0], d[1].name) for d in diffs]
            assert all(d[1].name == JOBS_TABLE or d[1].table.name == JOBS_TABLE for d in diffs)  # and its index
    finally:
        engine.dispose()
    # ... and with env.py's include_object it wants nothing (`alembic check` raises on any difference).
    command.check(alembic_config(database_url))


async def test_run_scheduler_starts_prunes_stale_jobs_and_stops(database, clock):
    url = database.url
    stale = build_scheduler(database_url=url, maintenance_every=timedelta(hours=1))
    stale.start(paused=True)
    stale.shutdown(wait=False)
    await asyncio.sleep(0.05)

    stop = asyncio.Event()
    context = SchedulerContext(database=database, poll_publishers={"discord": FakePublisher()}, clock=clock)
    task = asyncio.create_task(
        run_scheduler(context, database_url=url, stop=stop, retry_leadership=timedelta(seconds=0.1))
    )
    wanted = {POLL_TICK_JOB_ID, CLOSE_POLLS_JOB_ID, DIGEST_TICK_JOB_ID, sched.REASONS_JOB_ID}
    engine = sa.create_engine(sync_url(url))
    try:
        for _ in range(100):
            await asyncio.sleep(0.05)
            with engine.connect() as connection:
                ids = set(connection.execute(sa.text(f"SELECT id FROM {JOBS_TABLE}")).scalars())
            if ids == wanted:
                break
        assert ids == wanted  # maintenance is not configured any more: pruned
        assert sched.current_context() is context
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        engine.dispose()
    assert sched.current_context() is None


def test_sqlite_is_always_leader(sqlite_url):
    first, second = try_become_leader(sqlite_url), try_become_leader(sqlite_url)
    assert first is not None and second is not None  # one process per SQLite database is assumed
    first.release()
    second.release()


def test_only_one_postgres_process_becomes_leader(postgres_server):
    url = postgres_server.fresh_database()
    first, second = try_become_leader(url), try_become_leader(url)
    try:
        assert [first is not None, second is not None].count(True) == 1
        leader = first or second
        assert leader.alive()
        assert try_become_leader(url) is None
        leader.release()
        successor = try_become_leader(url)
        assert successor is not None
        successor.release()
    finally:
        for held in (first, second):
            if held is not None:
                held.release()


async def test_a_new_leader_takes_over_a_round_its_dead_predecessor_left_running(database, clock):
    cid = await community_id(database)
    for _ in range(3):
        await add_story(database, HERE, now=clock())
    await update_schedule(
        database,
        community_id=cid,
        actor="operator",
        now=clock(),
        changes={"poll_channel_id": "777", "polls_per_round": 2},
    )
    # The old leader claimed this window's round and died before posting.
    async with database.session() as session:
        await claim_job(session, job="poll_round", community_id=cid, period=period_key(clock(), DAY), now=clock())
        await session.commit()
    clock.advance(minutes=5)
    publisher = FakePublisher()
    sched.install_context(SchedulerContext(database=database, poll_publishers={"discord": publisher}, clock=clock))
    try:
        assert await sched.poll_rounds_job() == {}  # no leader yet: the claim is only 5 minutes old
        sched.current_context().leader_since = clock()  # this process became the leader just now
        clock.advance(seconds=1)
        [[first, second]] = (await sched.poll_rounds_job()).values()
        assert len(publisher.calls) == 2
    finally:
        sched.install_context(None)
