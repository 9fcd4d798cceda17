"""Repository functions for story polls and their votes. Callers own the session and commit.

Concurrency: closing a poll first calls :func:`lock_poll`, so it happens one at a time per poll — on
PostgreSQL with a row lock (``SELECT … FOR UPDATE``), on SQLite by taking the database's write lock before the
transaction reads anything (a write transaction that starts with a read can fail with SQLITE_BUSY_SNAPSHOT
instead of waiting). Votes themselves change only through the vote inbox (``reactions_repo``), whose appliers
take turns the same way. The unique keys (poll, voter) and (platform, channel, message) guard the same rules
again.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.cards import ValueStatus
from core.graph.votes import CHOICES
from core.polls import PollMode, PollState
from core.stories import StoryStatus
from storage.models import CanonicalValue, MoralContext, Poll, TransitionStory, Vote, table_of
from storage.sql import dialect_of, insert_ignoring_conflict


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
    mode: PollMode = PollMode.REACTIONS,
) -> Poll:
    """The poll for this message, inserted unless it exists (a repeated call returns the stored row)."""
    values = {
        "community_id": community_id,
        "story_id": story_id,
        "platform": platform,
        "channel_id": channel_id,
        "message_id": message_id,
        "state": PollState.OPEN,
        "opened_at": opened_at,
        "closes_at": closes_at,
        "mode": mode,
    }
    await insert_ignoring_conflict(session, table_of(Poll), values)
    poll = await find_poll(session, platform=platform, channel_id=channel_id, message_id=message_id)
    assert poll is not None  # inserted above, or already there
    return poll


async def lock_poll(session: AsyncSession, *, poll_id: int) -> Poll | None:
    """Serialise work on one poll (see the module docstring) and return its current row."""
    if dialect_of(session) == "sqlite":
        # A write that changes nothing: BEGIN + this UPDATE takes the write lock (waiting up to
        # busy_timeout) before anything is read, so the reads below see the latest commit.
        await session.exec(sa.update(Poll).where(col(Poll.id) == poll_id).values({"state": col(Poll.state)}))
        query = select(Poll).where(Poll.id == poll_id)
    else:
        query = select(Poll).where(Poll.id == poll_id).with_for_update()
    # populate_existing: the session may hold an older copy of the row from before the lock.
    return (await session.exec(query.execution_options(populate_existing=True))).first()


def is_closed(poll: Poll, now: datetime) -> bool:
    return poll.state == PollState.CLOSED or (poll.closes_at is not None and poll.closes_at <= now)


def is_open_at(now: datetime) -> sa.ColumnElement[bool]:
    """A poll still taking votes: state open and not past its deadline (no deadline: open until closed).
    The same rule as :func:`is_closed`, in SQL."""
    return sa.and_(col(Poll.state) == PollState.OPEN, sa.or_(col(Poll.closes_at).is_(None), col(Poll.closes_at) > now))


def story_vote_counts(community_id: int) -> sa.Subquery:
    """(story_id, votes): the votes on each story of the community so far, over all its polls."""
    return (
        select(col(Poll.story_id).label("story_id"), func.count(col(Vote.id)).label("votes"))
        .join(Vote, col(Vote.poll_id) == col(Poll.id))
        .where(Poll.community_id == community_id)
        .group_by(col(Poll.story_id))
        .subquery("votes")
    )


async def story_needing_votes(
    session: AsyncSession, *, community_id: int, now: datetime, exclude: Collection[int] = ()
) -> int | None:
    """The id of the community's eligible story with the fewest votes (oldest first on a tie), or None;
    the rules are in ``bot.voting.selection``. Stories in ``exclude`` count as in an open poll."""
    busy = list(exclude)
    story = aliased(TransitionStory, name="story")
    reverse = aliased(TransitionStory, name="reverse")
    from_value = aliased(CanonicalValue, name="from_value")
    to_value = aliased(CanonicalValue, name="to_value")

    open_story_ids = select(Poll.story_id).where(Poll.community_id == community_id, is_open_at(now))
    votes = story_vote_counts(community_id)
    reverse_taken: sa.ColumnElement[bool] = col(reverse.id).in_(open_story_ids)
    if busy:
        reverse_taken = sa.or_(reverse_taken, col(reverse.id).in_(busy))
    reverse_is_open = sa.exists().where(
        col(reverse.context_id) == col(story.context_id),
        col(reverse.from_value_id) == col(story.to_value_id),
        col(reverse.to_value_id) == col(story.from_value_id),
        reverse_taken,
    )
    query = (
        select(story.id)
        .join(from_value, col(from_value.id) == col(story.from_value_id))
        .join(to_value, col(to_value.id) == col(story.to_value_id))
        .outerjoin(votes, votes.c.story_id == col(story.id))
        .where(
            story.community_id == community_id,
            story.status == StoryStatus.ACTIVE,
            from_value.status == ValueStatus.ACTIVE,
            to_value.status == ValueStatus.ACTIVE,
            col(story.id).not_in(open_story_ids),
            ~reverse_is_open,
            *([col(story.id).not_in(busy)] if busy else []),
        )
        .order_by(func.coalesce(votes.c.votes, 0), col(story.id))
        .limit(1)
    )
    return (await session.exec(query)).first()


async def open_poll_ids_of_story(session: AsyncSession, *, story_id: int) -> list[int]:
    """Polls on the story not closed yet (a due one not closed by the scheduler included)."""
    query = select(Poll.id).where(Poll.story_id == story_id, Poll.state == PollState.OPEN).order_by(col(Poll.id))
    return list((await session.exec(query)).all())


async def due_poll_ids(session: AsyncSession, *, now: datetime) -> list[int]:
    """Open polls (of every community) whose deadline is at or before ``now``, by id."""
    query = (
        select(Poll.id)
        .where(Poll.state == PollState.OPEN, col(Poll.closes_at).is_not(None), col(Poll.closes_at) <= now)
        .order_by(col(Poll.id))
    )
    return [poll_id for poll_id in (await session.exec(query)).all() if poll_id is not None]


async def polls_awaiting_tally(session: AsyncSession, *, closed_since: datetime) -> list[Poll]:
    """Private polls closed since ``closed_since`` whose message does not show the tally yet, by id."""
    query = (
        select(Poll)
        .where(
            Poll.mode == PollMode.PRIVATE,
            Poll.state == PollState.CLOSED,
            col(Poll.tally_shown_at).is_(None),
            col(Poll.closed_at) >= closed_since,
        )
        .order_by(col(Poll.id))
    )
    return list((await session.exec(query)).all())


async def mark_tally_shown(session: AsyncSession, *, poll_id: int, now: datetime) -> None:
    await session.exec(sa.update(Poll).where(col(Poll.id) == poll_id).values({"tally_shown_at": now}))


# --- votes -----------------------------------------------------------------------------------------


async def count_votes(session: AsyncSession, *, poll_id: int) -> dict[str, int]:
    """Votes per choice, every choice present (0 when nobody chose it)."""
    query = select(Vote.choice, func.count()).where(Vote.poll_id == poll_id).group_by(Vote.choice)
    counts: dict[str, int] = {choice: 0 for choice in CHOICES}
    for choice, count in (await session.exec(query)).all():
        counts[choice] = counts.get(choice, 0) + count
    return counts


# --- what a poll shows -----------------------------------------------------------------------------


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
