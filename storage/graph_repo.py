"""Repository functions for building a community's moral graph (``bot.graph.build``). Callers own the
session."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.polls import PollMode, PollState
from storage.models import MoralContext, Poll, TransitionStory, ValueAssignment, ValuesCardRecord, Vote


async def votes_with_stories(
    session: AsyncSession, *, community_id: int
) -> list[tuple[str, int | None, datetime, str, str | None, TransitionStory, MoralContext]]:
    """(voter key, member id, cast at, choice, reason, story, context) of every vote, oldest first; not the
    votes of a private poll still open."""
    # Every table is filtered by the community, not only the vote: a poll or story of another
    # community must never lend its votes, whatever a bad row says.
    query = (
        # sqlmodel's select() is typed for at most four columns.
        select(Vote.voter_key, Vote.member_id, Vote.cast_at, Vote.choice, Vote.why, TransitionStory, MoralContext)  # type: ignore[call-overload]
        .join(Poll, col(Poll.id) == col(Vote.poll_id))
        .join(TransitionStory, col(TransitionStory.id) == col(Poll.story_id))
        .join(MoralContext, col(MoralContext.id) == col(TransitionStory.context_id))
        .where(
            Vote.community_id == community_id,
            Poll.community_id == community_id,
            TransitionStory.community_id == community_id,
            MoralContext.community_id == community_id,
            # A private poll's votes are hidden until it closes: a graph (the digest, /mge ask) must not tell them.
            sa.or_(col(Poll.mode) != PollMode.PRIVATE, col(Poll.state) == PollState.CLOSED),
        )
        .order_by(col(Vote.cast_at), col(Vote.id))
    )
    return [tuple(row) for row in (await session.exec(query)).all()]


async def current_cards_of_values(session: AsyncSession, *, value_ids: Sequence[int]) -> list[tuple[int, str]]:
    """(card id, card title) of the cards currently assigned to any of the values, in assignment order."""
    query = (
        select(ValuesCardRecord.id, ValuesCardRecord.title)
        .join(ValueAssignment, col(ValueAssignment.card_id) == col(ValuesCardRecord.id))
        .where(col(ValueAssignment.canonical_value_id).in_(value_ids), col(ValueAssignment.superseded_at).is_(None))
        .order_by(col(ValueAssignment.id))
    )
    return list((await session.exec(query)).all())
