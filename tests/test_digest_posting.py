"""The scheduled weekly digest: posted once per community and week, whatever restarts, failures and
second processes do; the picture goes with it; the next digest says what changed since."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from bot.digest.build import DIGEST_JOB, previous_snapshot
from bot.digest.posting import INTERRUPTED, RETRY_AFTER, run_due_digests
from bot.runtime.jobs import claim_job
from bot.runtime.schedules import update_schedule
from core.messages import CommunityRef
from storage.database import Database
from storage.models import JobRun
from tests.fakes.story_rows import add_story
from tests.test_poll_selection import add_votes, open_poll
from tests.test_scheduler import community_id

HERE = CommunityRef("slack", "T0HERE", "Here")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: Monday 2026-11-16 09:00 in Berlin (08:00 UTC): the digest slot used below.
SLOT = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)


class FakeDigestPublisher:
    def __init__(self, fail: bool = False) -> None:
        self.posts: list[tuple[str, object, bytes]] = []
        self.fail = fail

    async def publish_digest(self, *, channel_id, digest, png) -> str:
        if self.fail:
            raise ConnectionError("channel not found")
        self.posts.append((channel_id, digest, png))
        return f"msg-{len(self.posts)}"


async def configured(database: Database, *, at: datetime) -> int:
    cid = await community_id(database, HERE)
    await update_schedule(
        database,
        community_id=cid,
        actor="slack:UMOD",
        now=at,
        changes={
            "digest_channel_id": "CDIGEST",
            "digest_day": "mon",
            "digest_hour": 9,
            "digest_timezone": "Europe/Berlin",
        },
    )
    return cid


async def digest_runs(database: Database) -> list[JobRun]:
    async with database.session() as session:
        return list((await session.exec(select(JobRun).where(JobRun.job == DIGEST_JOB).order_by(JobRun.id))).all())


async def test_the_digest_is_posted_once_at_its_slot_with_its_picture_and_next_week_says_what_changed(database):
    cid = await configured(database, at=SLOT - timedelta(days=2))
    story = await add_story(database, HERE, now=SLOT - timedelta(days=2))
    publisher = FakeDigestPublisher()
    publishers = {"slack": publisher}

    assert await run_due_digests(database, publishers, now=SLOT - timedelta(minutes=1)) == {}
    assert await run_due_digests(database, publishers, now=SLOT) == {cid: "msg-1"}
    for minutes in (1, 60, 60 * 24 * 6):  # the rest of the week: nothing more
        assert await run_due_digests(database, publishers, now=SLOT + timedelta(minutes=minutes)) == {}
    [(channel, first, png)] = publisher.posts
    assert channel == "CDIGEST" and png.startswith(PNG_MAGIC)
    assert first.period == "2026-W47" and first.changes.first and first.edges == 0

    poll = await open_poll(database, story, now=SLOT + timedelta(days=1), closes_at=None)
    await add_votes(database, poll, 3, now=SLOT + timedelta(days=1))
    assert await run_due_digests(database, publishers, now=SLOT + timedelta(days=7)) == {cid: "msg-2"}
    second = publisher.posts[1][1]
    assert second.period == "2026-W48" and not second.changes.first
    assert second.changes.previous_period == "2026-W47" and len(second.changes.new_edges) == 1
    assert second.participation.votes_this_period == 3
    assert [r.status for r in await digest_runs(database)] == ["done", "done"]


async def test_after_downtime_one_digest_is_posted_for_the_missed_weeks(database):
    cid = await configured(database, at=SLOT - timedelta(days=1))
    publisher = FakeDigestPublisher()
    assert await run_due_digests(database, {"slack": publisher}, now=SLOT + timedelta(days=20)) == {cid: "msg-1"}
    assert await run_due_digests(database, {"slack": publisher}, now=SLOT + timedelta(days=20, minutes=1)) == {}
    assert len(publisher.posts) == 1 and publisher.posts[0][1].period == "2026-W49"


async def test_a_refused_post_is_retried_later_not_on_every_tick(database):
    cid = await configured(database, at=SLOT - timedelta(days=1))
    assert await run_due_digests(database, {"slack": FakeDigestPublisher(fail=True)}, now=SLOT) == {}
    [run] = await digest_runs(database)
    assert run.status == "failed" and "channel not found" in run.detail
    working = FakeDigestPublisher()
    assert await run_due_digests(database, {"slack": working}, now=SLOT + RETRY_AFTER - timedelta(minutes=1)) == {}
    assert await run_due_digests(database, {"slack": working}, now=SLOT + RETRY_AFTER) == {cid: "msg-1"}
    assert [r.status for r in await digest_runs(database)] == ["done"]


async def test_a_digest_interrupted_while_posting_is_never_posted_again(database):
    cid = await configured(database, at=SLOT - timedelta(days=1))
    # A process claimed the week, got as far as calling the platform, and died.
    async with database.session() as session:
        run = await claim_job(session, job=DIGEST_JOB, community_id=cid, period="2026-W47", now=SLOT)
        run.detail = json.dumps({"phase": "posting"})
        session.add(run)
        await session.commit()
    publisher = FakeDigestPublisher()
    assert (
        await run_due_digests(database, {"slack": publisher}, now=SLOT + timedelta(minutes=30)) == {}
    )  # still "running"
    assert await run_due_digests(database, {"slack": publisher}, now=SLOT + timedelta(hours=2)) == {}  # stale: closed
    assert publisher.posts == []
    [run] = await digest_runs(database)
    assert run.status == "done" and INTERRUPTED in run.detail
    assert await previous_snapshot(database, community_id=cid) is None  # not mistaken for a snapshot
    assert await run_due_digests(database, {"slack": publisher}, now=SLOT + timedelta(days=7)) == {cid: "msg-1"}


async def test_two_processes_at_the_same_slot_post_one_digest(database):
    await configured(database, at=SLOT - timedelta(days=1))
    other = Database(database.url)
    first, second = FakeDigestPublisher(), FakeDigestPublisher()
    try:
        await asyncio.gather(
            run_due_digests(database, {"slack": first}, now=SLOT), run_due_digests(other, {"slack": second}, now=SLOT)
        )
    finally:
        await other.dispose()
    assert len(first.posts) + len(second.posts) == 1


async def test_paused_unconfigured_or_other_platform_digests_post_nothing(database):
    cid = await configured(database, at=SLOT - timedelta(days=1))
    publisher = FakeDigestPublisher()
    assert await run_due_digests(database, {"discord": publisher}, now=SLOT) == {}  # this process serves Discord only
    await update_schedule(database, community_id=cid, actor="slack:UMOD", now=SLOT, changes={"digest_paused": True})
    assert await run_due_digests(database, {"slack": publisher}, now=SLOT) == {}
    assert publisher.posts == [] and await digest_runs(database) == []
