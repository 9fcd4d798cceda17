"""Several real `mge run` processes on one throwaway PostgreSQL, killed (SIGKILL) at random points.

- Workers (`--role worker`) compete for the scheduler and are killed and replaced while they post a
  poll round and the weekly digest: the database never holds more polls than the round allows, and
  no digest is posted twice.
- Two Slack HTTP processes (`--role slack`) receive every reaction event, each delivered to both and
  retried, while one of them is killed and restarted: each member's vote is stored once.

PostgreSQL only: several processes on one SQLite file are not a supported setup. The random points
come from a fixed seed, so a failure can be replayed.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlmodel import func, select

from bot.runtime.schedules import update_schedule
from core.messages import CommunityRef
from storage.database import Database
from storage.models import JobRun, Poll, Vote
from tests.fakes.slack_api import SIGNING_SECRET, TEAM_ID, FakeSlack, reaction_event, signed_request
from tests.fakes.story_rows import add_story
from tests.postgres import _free_port
from tests.test_cli_run import base_env, run_mge
from tests.test_poll_selection import open_poll
from tests.test_scheduler import community_id

# Slow: `mge run` processes killed and restarted.
pytestmark = pytest.mark.slow

COMMUNITY = CommunityRef("slack", TEAM_ID, "testteam")
ROUND = 3


def values(n: int) -> dict:
    return {
        "title": f"Value Number {n}",
        "description": f"The person acts on value {n}.",
        "policies": [f"MOMENTS when value {n} matters", f"CHOICES that honour value {n}"],
    }


async def seeded(url: str) -> int:
    database = Database(url)
    try:
        now = datetime.now(UTC)
        for n in range(8):
            await add_story(
                database, COMMUNITY, now=now - timedelta(days=1), from_value=values(n), to_value=values(n + 1)
            )
        cid = await community_id(database, COMMUNITY)
        # A weekly round of three, and a digest whose latest slot is due: set a week ago.
        await update_schedule(
            database,
            community_id=cid,
            actor="test",
            now=now - timedelta(days=8),
            changes={
                "poll_channel_id": "CPOLLS",
                "poll_interval_minutes": 7 * 24 * 60,
                "polls_per_round": ROUND,
                "digest_channel_id": "CDIGEST",
            },
        )
        return cid
    finally:
        await database.dispose()


async def kill(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.kill()
    await process.communicate()


async def stop(process: asyncio.subprocess.Process) -> str:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    return stderr.decode()


async def test_killed_workers_never_post_a_poll_or_digest_twice(postgres_server, fake_openai, tmp_path: Path):
    url = postgres_server.fresh_database()
    cid = await seeded(url)
    rng = random.Random(20261122)
    async with FakeSlack() as slack:
        env = base_env(
            tmp_path,
            DATABASE_URL=url,
            OPENAI_BASE_URL=fake_openai.base_url,
            SLACK_BOT_TOKEN="xoxb-test",
            SLACK_API_URL=slack.api_url,
            MGE_SCHEDULER_TICK_SECONDS="1",
            MGE_MAINTENANCE_INTERVAL_MINUTES="0",
        )
        workers = [await run_mge("run", "--role", "worker", env=env, cwd=tmp_path) for _ in range(2)]
        kills = 0

        def all_posted() -> bool:
            """Three polls and the digest are out."""
            channels = [c.params.get("channel") for c in slack.calls_to("chat.postMessage")]
            return sum(channel in ("CPOLLS", "CDIGEST") for channel in channels) >= ROUND + 1

        async def posted_more_than(count: int, timeout: float) -> bool:
            """A new post, or (when everything is out, so nothing new will come) at once."""
            for _ in range(int(timeout * 20)):
                if len(slack.calls_to("chat.postMessage")) > count or all_posted():
                    return True
                await asyncio.sleep(0.05)
            return False

        try:
            # Kill a worker (the leader or the standby) at a random moment after each new post, then
            # start another; the scheduler moves to whoever holds the lock and resumes half-done work.
            assert await posted_more_than(0, 90), "no worker posted anything"
            for _ in range(3):
                await asyncio.sleep(rng.uniform(0.0, 0.6))
                victim = rng.choice(workers)
                await kill(victim)
                kills += 1
                workers.remove(victim)
                workers.append(await run_mge("run", "--role", "worker", env=env, cwd=tmp_path))
                await posted_more_than(len(slack.calls_to("chat.postMessage")), 30)
            # Then let the survivors finish: three polls and the digest.
            for _ in range(600):
                if all_posted():
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(2)  # anything more would be a double post
        finally:
            logs = [await stop(w) for w in workers]
        posts = slack.calls_to("chat.postMessage")

    database = Database(url)
    try:
        async with database.session() as session:
            polls = (await session.exec(select(Poll).where(Poll.community_id == cid))).all()
            digests = (await session.exec(select(JobRun).where(JobRun.job == "digest"))).all()
    finally:
        await database.dispose()
    assert len(polls) == ROUND and len({p.story_id for p in polls}) == ROUND, "\n".join(logs)[-6000:]
    poll_posts = [c for c in posts if c.params.get("channel") == "CPOLLS"]
    digest_posts = [c for c in posts if c.params.get("channel") == "CDIGEST"]
    # Every recorded poll was posted; a kill between Slack accepting a post and the database recording
    # it can leave at most one unrecorded message per kill (Slack has no idempotency key to prevent it).
    assert {p.message_id for p in polls} <= {c.result.get("ts") for c in poll_posts}
    assert len(poll_posts) - len(polls) <= kills
    assert len(digests) == 1 and len(digest_posts) <= 1
    if not digest_posts:  # the digest's poster was killed mid-post: closed, never posted again
        assert "interrupted" in digests[0].detail or digests[0].status == "running"
    for log in logs:
        assert "Traceback" not in log, log


async def test_two_slack_processes_count_each_vote_once_through_kills_and_retries(
    postgres_server, fake_openai, tmp_path: Path
):
    url = postgres_server.fresh_database()
    database = Database(url)
    try:
        now = datetime.now(UTC)
        story = await add_story(database, COMMUNITY, now=now)
        poll = await open_poll(database, story, now=now, closes_at=None)
        async with database.session() as session:
            row = await session.get(Poll, poll.id)
            row.platform, row.channel_id, row.message_id = "slack", "CPOLL", "1700000000.000100"
            session.add(row)
            await session.commit()
    finally:
        await database.dispose()

    rng = random.Random(7)
    async with FakeSlack() as slack:
        env = base_env(
            tmp_path,
            DATABASE_URL=url,
            OPENAI_BASE_URL=fake_openai.base_url,
            SLACK_BOT_TOKEN="xoxb-test",
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=slack.api_url,
            MGE_MAINTENANCE_INTERVAL_MINUTES="0",
        )
        ports = [_free_port(), _free_port()]

        async def serve(port: int) -> asyncio.subprocess.Process:
            return await run_mge(
                "run", "--role", "slack", "--http-port", str(port), "--http-host", "127.0.0.1", env=env, cwd=tmp_path
            )

        processes = [await serve(port) for port in ports]
        async with aiohttp.ClientSession() as http:

            async def deliver(port: int, body: str, retry: int | None) -> None:
                headers = signed_request(body)
                if retry is not None:
                    headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
                for _ in range(900):  # until this process listens (it may be starting, or just restarted)
                    try:
                        async with http.post(
                            f"http://127.0.0.1:{port}/slack/events", data=body.encode(), headers=headers
                        ) as response:
                            if response.status == 200:
                                return
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.1)
                raise AssertionError(f"nothing answered on port {port}")

            try:
                for n in range(20):
                    body = json.dumps(
                        reaction_event("white_check_mark", user=f"UVOTER{n}", channel="CPOLL", ts="1700000000.000100")
                    )
                    await asyncio.gather(deliver(ports[0], body, None), deliver(ports[1], body, None))
                    await deliver(ports[rng.randrange(2)], body, 1)  # Slack's retry
                    if n in (6, 13):  # one process dies and is started again
                        index = rng.randrange(2)
                        await kill(processes[index])
                        processes[index] = await serve(ports[index])
                await asyncio.sleep(1)  # reactions are handled after the ack
            finally:
                logs = [await stop(p) for p in processes]

    database = Database(url)
    try:
        async with database.session() as session:
            votes = (await session.exec(select(func.count()).select_from(Vote))).one()
            voters = (await session.exec(select(func.count(func.distinct(Vote.voter_key))))).one()
    finally:
        await database.dispose()
    # Every event reached both processes (and a retry one of them): a kill loses none, none counts twice.
    assert votes == voters == 20
    for log in logs:
        assert "Traceback" not in log, log
