"""Which transition story to put to a vote next (MGE.md §7).

The story that most needs votes: fewest votes so far (over all its earlier polls), oldest first on a
tie, so every edge hypothesis gets a fair share of attention before any gets a second round.

A story is eligible when it is active, both its values are active (a hidden, merged or emptied value
must not be voted on: its edges now live elsewhere or were removed by a moderator), and neither it nor
its reverse (same context, values swapped) is in an open poll — two simultaneous polls asking "A → B?"
and "B → A?" would split the same voters and read as contradicting each other.

One query, scoped to one community; no platform, no clock but the ``now`` given.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import col, func, select

from core.messages import CommunityRef
from storage import polls_repo
from storage.database import Database
from storage.models import CanonicalValue, Poll, TransitionStory, Vote


def _is_open(now: datetime) -> sa.ColumnElement[bool]:
    """A poll still taking votes: state open and not past its deadline (no deadline: open until closed).
    The same rule as ``polls_repo.is_closed``, in SQL."""
    return sa.and_(col(Poll.state) == "open", sa.or_(col(Poll.closes_at).is_(None), col(Poll.closes_at) > now))


async def next_story(
    database: Database, *, community_id: int, now: datetime, exclude: Collection[int] = ()
) -> int | None:
    """The id of the story in ``community_id`` that most needs votes, or None when none is eligible.

    ``exclude``: stories being posted right now but not yet recorded (a caller posting in the background);
    they count as open polls, so neither they nor their reverses are chosen."""
    busy = list(exclude)
    story = aliased(TransitionStory, name="story")
    reverse = aliased(TransitionStory, name="reverse")
    from_value = aliased(CanonicalValue, name="from_value")
    to_value = aliased(CanonicalValue, name="to_value")

    open_story_ids = select(Poll.story_id).where(Poll.community_id == community_id, _is_open(now))
    votes = (
        select(Poll.story_id.label("story_id"), func.count(col(Vote.id)).label("votes"))  # type: ignore[attr-defined]
        .join(Vote, col(Vote.poll_id) == col(Poll.id))
        .where(Poll.community_id == community_id)
        .group_by(col(Poll.story_id))
        .subquery("votes")
    )
    reverse_taken = col(reverse.id).in_(open_story_ids)
    if busy:
        reverse_taken = sa.or_(reverse_taken, col(reverse.id).in_(busy))
    reverse_is_open = sa.exists().where(
        reverse.context_id == story.context_id,
        reverse.from_value_id == story.to_value_id,
        reverse.to_value_id == story.from_value_id,
        reverse_taken,
    )
    query = (
        select(story.id)
        .join(from_value, from_value.id == story.from_value_id)
        .join(to_value, to_value.id == story.to_value_id)
        .outerjoin(votes, votes.c.story_id == story.id)
        .where(
            story.community_id == community_id,
            story.status == "active",
            from_value.status == "active",
            to_value.status == "active",
            col(story.id).not_in(open_story_ids),
            ~reverse_is_open,
            *([col(story.id).not_in(busy)] if busy else []),
        )
        .order_by(func.coalesce(votes.c.votes, 0), story.id)
        .limit(1)
    )
    async with database.session() as session:
        return (await session.exec(query)).first()


async def community_id_of(database: Database, community: CommunityRef) -> int | None:
    """The stored id of a platform community; None when the bot has never recorded anything for it
    (then it has no stories either)."""
    async with database.session() as session:
        row = await polls_repo.find_community(session, platform=community.platform, external_id=community.external_id)
        return row.id if row is not None else None


async def next_story_for(
    database: Database, community: CommunityRef, *, now: datetime, exclude: Collection[int] = ()
) -> int | None:
    """``next_story`` for a platform community (what the adapters know)."""
    community_id = await community_id_of(database, community)
    if community_id is None:
        return None
    return await next_story(database, community_id=community_id, now=now, exclude=exclude)
