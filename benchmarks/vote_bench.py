"""Vote ingestion: Slack reaction events through the vote inbox (``bot.voting.inbox``, what the
Discord and Slack adapters hand reactions to), 10% of them redelivered with the same event id.

The events: ``unique`` first reactions, one per (poll, member), spread over ``polls`` polls in one
workspace, plus ``duplicates`` redeliveries of earlier events, each placed after its original. They are
handed over by ``workers`` concurrent deliveries, as an adapter does with events arriving at once.
Afterwards the vote table must hold exactly ``unique`` votes, ``unique`` events must have been applied
as COUNTED, and the ``duplicates`` redeliveries refused at recording (IGNORED_DUPLICATE_EVENT).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import support  # noqa: F401 — puts the repository root on sys.path

from bot.voting.inbox import Reaction, inbox_for
from bot.voting.polls import record_poll
from core.messages import CommunityRef, Person
from core.polls import VoteOutcome
from storage.database import Database
from tests.fakes.story_rows import add_story

WORKSPACE = CommunityRef("slack", "T0BENCH", "Bench workspace")
CHANNEL = "C0POLLS"
EMOJI = ("white_check_mark", "x", "thinking_face")


def make_events(total: int, polls: int, duplicate_share: float = 0.10, seed: int = 7) -> tuple[list[dict], int]:
    """``total`` events of which ``duplicate_share`` are redeliveries; returns (events, unique votes)."""
    rng = random.Random(seed)
    duplicates = int(total * duplicate_share)
    unique = total - duplicates
    members = -(-unique // polls)  # ceil: enough members that every (poll, member) pair is distinct
    events = [
        {
            "message_id": slack_message_id(index % polls),
            "user": f"U{index // polls:07d}",
            "emoji": rng.choice(EMOJI),
            "event_id": f"Ev{index:09d}",
        }
        for index in range(unique)
    ]
    assert unique <= polls * members
    return with_redeliveries(events, duplicates, rng), unique


def with_redeliveries(events: list[dict], count: int, rng: random.Random) -> list[dict]:
    """``events`` with ``count`` redeliveries (copies) of random ones, each placed somewhere after its
    original: platforms redeliver late, never early."""
    positions = sorted(((rng.randrange(len(events)), rng.random()) for _ in range(count)), reverse=True)
    stream: list[dict] = list(events)
    for original, fraction in positions:
        later = original + 1 + int(fraction * (len(events) - original))
        stream.insert(later, dict(events[original]))
    return stream


def slack_message_id(index: int) -> str:
    return f"1700000000.{index:06d}"


async def setup_polls(
    database: Database,
    polls: int,
    *,
    community: CommunityRef = WORKSPACE,
    channel: str = CHANNEL,
    message_id: Callable[[int], str] = slack_message_id,
) -> None:
    """``polls`` open polls in ``community``'s ``channel``, the i-th on the message ``message_id(i)``."""
    now = datetime.now(UTC)
    for index in range(polls):
        story_id = await add_story(database, community, now=now, story=f"Story {index}: a transition.")
        await record_poll(
            database,
            story_id=story_id,
            platform=community.platform,
            channel_id=channel,
            message_id=message_id(index),
            closes_at=now + timedelta(days=7),
            now=now,
        )


async def count_votes(database: Database) -> int:
    from sqlmodel import func, select

    from storage.models import Vote

    async with database.session() as session:
        return (await session.exec(select(func.count()).select_from(Vote))).one()


async def measure_votes(database_url: str, *, events: int, polls: int = 200, workers: int = 16) -> dict[str, Any]:
    """Hand the stream to the vote inbox from ``workers`` concurrent deliveries (each waits until its
    event is recorded, as an adapter does before acknowledging it), then wait until every recorded event
    is applied. ``events_per_s`` is end to end: events over the time until the last vote is stored."""
    database = Database(database_url)
    try:
        await setup_polls(database, polls)
        stream, unique = make_events(events, polls)
        recorded: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        queue: asyncio.Queue[dict | None] = asyncio.Queue()
        for event in stream:
            queue.put_nowait(event)
        for _ in range(workers):
            queue.put_nowait(None)
        now = datetime.now(UTC)
        inbox = inbox_for(database)

        async def worker() -> None:
            while (event := await queue.get()) is not None:
                reaction = Reaction(
                    community=WORKSPACE,
                    platform="slack",
                    channel_id=CHANNEL,
                    message_id=event["message_id"],
                    person=Person(event["user"], event["user"]),
                    emoji=event["emoji"],
                    added=True,
                    event_id=event["event_id"],
                    now=now,
                )
                try:
                    outcome = await inbox.record(reaction)
                    recorded["recorded" if outcome is None else outcome.value] += 1
                except Exception as error:  # noqa: BLE001 — counted and reported: a lost vote
                    errors[type(error).__name__] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(workers)))
        recorded_s = time.perf_counter() - started
        await inbox.drain()
        wall = time.perf_counter() - started
        stored = await count_votes(database)
        outcomes = await applied_outcomes(database)
    finally:
        await database.dispose()
    duplicates = len(stream) - unique
    return {
        "events": len(stream),
        "unique_votes": unique,
        "duplicate_events": duplicates,
        "polls": polls,
        "workers": workers,
        "wall_s": wall,
        "recorded_s": recorded_s,
        "events_per_s": len(stream) / wall,
        "recorded_per_s": len(stream) / recorded_s,
        "votes_stored": stored,
        "outcomes": dict(outcomes)
        | {"redeliveries_refused": recorded.get(VoteOutcome.IGNORED_DUPLICATE_EVENT.value, 0)},
        "errors": dict(errors),
        "ok": stored == unique
        and outcomes.get(VoteOutcome.COUNTED.value, 0) == unique
        and recorded.get(VoteOutcome.IGNORED_DUPLICATE_EVENT.value, 0) == duplicates
        and not errors,
    }


async def applied_outcomes(database: Database) -> Counter[str]:
    from sqlmodel import func, select

    from storage.models import ReactionEvent

    async with database.session() as session:
        query = select(ReactionEvent.outcome, func.count()).group_by(ReactionEvent.outcome)
        return Counter({outcome or "pending": count for outcome, count in (await session.exec(query)).all()})
