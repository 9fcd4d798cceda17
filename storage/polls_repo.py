"""Repository functions for story polls and their votes. Callers own the session and commit.

Concurrency: closing a poll first calls :func:`lock_poll`, so it happens one at a time per poll — on PostgreSQL with a row lock (``SELECT … FOR UPDATE``), on SQLite by
taking the database's write lock before the transaction reads anything (a write transaction that
starts with a read can fail with SQLITE_BUSY_SNAPSHOT instead of waiting). Votes themselves change only
through the vote inbox (``reactions_repo``), whose appliers take turns the same way. The unique keys
(poll, voter) and (platform, channel, message) guard the same rules again.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.graph.votes import CHOICES
from storage.models import CanonicalValue, Community, MoralContext, Poll, TransitionStory, Vote
from storage.repositories import insert_ignoring_conflict


def voter_key_of(member_id: int) -> str:
    return f"member:{member_id}"


# --- polls -----------------------------------------------------------------------------------------


async def find_poll(session: AsyncSession, *, platform: str, channel_id: str, message_id: str) -> Poll | None:
    query = select(Poll).where(Poll.platform == platform, Poll.channel_id == channel_id, Poll.message_id == message_id)
    return (await session.exec(query)).first()


async def insert_poll(
    session: AsyncSession,
    *,
    community_id: int,
    story_id: int,
    platform: str,
    channel_id: str,
    message_id: str,
    opened_at: datetime,
    closes_at: datetime | None,
) -> Poll:
    """The poll for this message, inserted unless it exists (a repeated call returns the stored row)."""
    values = {
        "community_id": community_id,
        "story_id": story_id,
        "platform": platform,
        "channel_id": channel_id,
        "message_id": message_id,
        "state": "open",
        "opened_at": opened_at,
        "closes_at": closes_at,
    }
    await insert_ignoring_conflict(session, Poll.__table__, values)
    poll = await find_poll(session, platform=platform, channel_id=channel_id, message_id=message_id)
    assert poll is not None  # inserted above, or already there
    return poll


async def lock_poll(session: AsyncSession, *, poll_id: int) -> Poll | None:
    """Serialise work on one poll (see the module docstring) and return its current row."""
    if session.bind.dialect.name == "sqlite":
        # A write that changes nothing: BEGIN + this UPDATE takes the write lock (waiting up to
        # busy_timeout) before anything is read, so the reads below see the latest commit.
        await session.exec(sa.update(Poll).where(col(Poll.id) == poll_id).values({"state": col(Poll.state)}))
        query = select(Poll).where(Poll.id == poll_id)
    else:
        query = select(Poll).where(Poll.id == poll_id).with_for_update()
    # populate_existing: the session may hold an older copy of the row from before the lock.
    return (await session.exec(query.execution_options(populate_existing=True))).first()


def is_closed(poll: Poll, now: datetime) -> bool:
    return poll.state == "closed" or (poll.closes_at is not None and poll.closes_at <= now)


# --- votes -----------------------------------------------------------------------------------------


async def count_votes(session: AsyncSession, *, poll_id: int) -> dict[str, int]:
    """Votes per choice, every choice present (0 when nobody chose it)."""
    query = select(Vote.choice, func.count()).where(Vote.poll_id == poll_id).group_by(Vote.choice)
    counts = {choice: 0 for choice in CHOICES}
    for choice, count in (await session.exec(query)).all():
        counts[choice] = counts.get(choice, 0) + count
    return counts


# --- what a poll shows -----------------------------------------------------------------------------


async def find_community(session: AsyncSession, *, platform: str, external_id: str) -> Community | None:
    query = select(Community).where(Community.platform == platform, Community.external_id == external_id)
    return (await session.exec(query)).first()


async def story_with_values(
    session: AsyncSession, *, story_id: int
) -> tuple[TransitionStory, MoralContext, CanonicalValue, CanonicalValue] | None:
    """A story with its context and its from/to values, or None when there is no such story."""
    story = await session.get(TransitionStory, story_id)
    if story is None:
        return None
    context = await session.get(MoralContext, story.context_id)
    from_value = await session.get(CanonicalValue, story.from_value_id)
    to_value = await session.get(CanonicalValue, story.to_value_id)
    if context is None or from_value is None or to_value is None:  # foreign keys make this unreachable
        return None
    return story, context, from_value, to_value
