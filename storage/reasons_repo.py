"""Repository functions for votes with reasons and votes in a DM (``bot.voting.reasons``,
``bot.voting.dm_vote``): the reason questions' queue, the opt-outs, and the open polls a member has not
voted on. Callers own the session (or the Core connection, in the vote applier) and commit.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.cards import ValueStatus
from core.stories import StoryStatus
from core.vote_reasons import Candidate, ReasonOutcome
from storage.models import (
    CanonicalValue,
    Community,
    Interview,
    Member,
    Poll,
    ScenarioContext,
    TransitionStory,
    Vote,
    VoteReasonAsk,
    VoteReasonOptOut,
    table_of,
)
from storage.polls_repo import is_open_at, story_vote_counts
from storage.sql import dialect_insert, insert_ignoring_conflict

ASKS = table_of(VoteReasonAsk)


# --- the queue, written by the vote applier -------------------------------------------------------------


@functools.cache
def _queue_statement(dialect: str):
    return dialect_insert(dialect)(ASKS).on_conflict_do_nothing()


async def queue_asks(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Queue a reason question per (member, poll) of ``rows`` (community_id, member_id, poll_id, queued_at),
    unless that member was ever asked about that poll."""
    if rows:
        await conn.execute(_queue_statement(conn.dialect.name), list(rows))


# --- sending ------------------------------------------------------------------------------------------


async def expire_asks(session: AsyncSession, *, queued_before: datetime, sent_before: datetime, now: datetime) -> int:
    """Close questions never sent since ``queued_before`` and questions unanswered since ``sent_before``."""
    stale = sa.or_(
        sa.and_(col(VoteReasonAsk.sent_at).is_(None), col(VoteReasonAsk.queued_at) < queued_before),
        col(VoteReasonAsk.sent_at) < sent_before,
    )
    result = await session.exec(
        sa.update(VoteReasonAsk)
        .where(col(VoteReasonAsk.closed_at).is_(None), stale)
        .values(closed_at=now, outcome=ReasonOutcome.EXPIRED.value)
    )
    return result.rowcount or 0


async def asks_to_send(session: AsyncSession, *, limit: int) -> list[tuple[VoteReasonAsk, Member, str]]:
    """(question, member, platform) of the oldest queued question of each member who has none sent and
    unanswered, oldest first."""
    waiting = aliased(VoteReasonAsk, name="waiting")
    outstanding = sa.exists().where(
        col(waiting.member_id) == col(VoteReasonAsk.member_id),
        col(waiting.sent_at).is_not(None),
        col(waiting.closed_at).is_(None),
    )
    first = (
        select(func.min(VoteReasonAsk.id))
        .where(col(VoteReasonAsk.sent_at).is_(None), col(VoteReasonAsk.closed_at).is_(None), ~outstanding)
        .group_by(col(VoteReasonAsk.member_id))
    )
    query = (
        select(VoteReasonAsk, Member, Community.platform)
        .join(Member, col(Member.id) == col(VoteReasonAsk.member_id))
        .join(Community, col(Community.id) == col(VoteReasonAsk.community_id))
        .where(col(VoteReasonAsk.id).in_(first))
        .order_by(col(VoteReasonAsk.id))
        .limit(limit)
    )
    return [tuple(row) for row in (await session.exec(query)).all()]  # type: ignore[misc]


async def claim_ask(session: AsyncSession, *, ask_id: int, now: datetime) -> bool:
    """Mark the question sent, unless it was sent or closed already (by another process): True when claimed."""
    result = await session.exec(
        sa.update(VoteReasonAsk)
        .where(
            col(VoteReasonAsk.id) == ask_id,
            col(VoteReasonAsk.sent_at).is_(None),
            col(VoteReasonAsk.closed_at).is_(None),
        )
        .values(sent_at=now)
    )
    return (result.rowcount or 0) == 1


async def close_ask(session: AsyncSession, *, ask_id: int, outcome: ReasonOutcome, now: datetime) -> bool:
    """Close an open question with ``outcome``; False when it was closed already."""
    result = await session.exec(
        sa.update(VoteReasonAsk)
        .where(col(VoteReasonAsk.id) == ask_id, col(VoteReasonAsk.closed_at).is_(None))
        .values(closed_at=now, outcome=outcome.value)
    )
    return (result.rowcount or 0) == 1


async def close_member_asks(session: AsyncSession, *, member_id: int, outcome: ReasonOutcome, now: datetime) -> None:
    await session.exec(
        sa.update(VoteReasonAsk)
        .where(col(VoteReasonAsk.member_id) == member_id, col(VoteReasonAsk.closed_at).is_(None))
        .values(closed_at=now, outcome=outcome.value)
    )


# --- answering ----------------------------------------------------------------------------------------


async def outstanding_ask(session: AsyncSession, *, member_id: int, sent_since: datetime) -> VoteReasonAsk | None:
    """The member's question sent since ``sent_since`` and still open, unless an interview of theirs has
    moved since it was sent (then their messages are about the interview, not the vote)."""
    interviewed_since = sa.exists().where(
        col(Interview.member_id) == member_id, col(Interview.last_activity_at) >= col(VoteReasonAsk.sent_at)
    )
    query = (
        select(VoteReasonAsk)
        .where(
            VoteReasonAsk.member_id == member_id,
            col(VoteReasonAsk.sent_at) >= sent_since,
            col(VoteReasonAsk.closed_at).is_(None),
            ~interviewed_since,
        )
        .order_by(col(VoteReasonAsk.sent_at).desc())
        .limit(1)
    )
    return (await session.exec(query)).first()


async def vote_of(session: AsyncSession, *, poll_id: int, voter_key: str) -> Vote | None:
    query = select(Vote).where(Vote.poll_id == poll_id, Vote.voter_key == voter_key)
    return (await session.exec(query)).first()


async def opt_out(session: AsyncSession, *, member_id: int, community_id: int, now: datetime) -> None:
    await insert_ignoring_conflict(
        session, table_of(VoteReasonOptOut), {"member_id": member_id, "community_id": community_id, "opted_out_at": now}
    )


async def has_opted_out(session: AsyncSession, *, member_id: int) -> bool:
    return await session.get(VoteReasonOptOut, member_id) is not None


# --- stats and erasure -----------------------------------------------------------------------------------


async def reason_counts(session: AsyncSession, *, community_id: int) -> tuple[int, int]:
    """(votes with a reason, votes) of the community."""
    query = select(func.count(col(Vote.why)), func.count()).where(Vote.community_id == community_id)
    with_reason, votes = (await session.exec(query)).one()
    return with_reason, votes


async def delete_member_rows(session: AsyncSession, *, member_id: int) -> int:
    """Delete the member's reason questions and opt-out (``/mge forget``); how many questions."""
    result = await session.exec(sa.delete(VoteReasonAsk).where(col(VoteReasonAsk.member_id) == member_id))
    await session.exec(sa.delete(VoteReasonOptOut).where(col(VoteReasonOptOut.member_id) == member_id))
    return result.rowcount or 0


# --- `/mge vote`: what is left for a member to vote on ---------------------------------------------------------


async def polls_to_vote(
    session: AsyncSession, *, community_id: int, member_id: int, voter_key: str, now: datetime
) -> list[Candidate]:
    """The community's open polls the member has not voted on, on active stories between active values,
    with their stories' vote counts and whether the story's context belongs to a scenario the member was
    interviewed on (unordered: ``core.vote_reasons.draw_order`` orders them)."""
    story = aliased(TransitionStory, name="story")
    from_value = aliased(CanonicalValue, name="from_value")
    to_value = aliased(CanonicalValue, name="to_value")
    story_votes = story_vote_counts(community_id)
    own_contexts = (
        select(ScenarioContext.context_id)
        .join(Interview, col(Interview.scenario_id) == col(ScenarioContext.scenario_id))
        .where(Interview.member_id == member_id, Interview.community_id == community_id)
    )
    voted = select(Vote.poll_id).where(Vote.community_id == community_id, Vote.voter_key == voter_key)
    query = (
        select(
            Poll.id,
            func.coalesce(story_votes.c.votes, 0),
            col(story.context_id).in_(own_contexts),
        )
        .join(story, col(story.id) == col(Poll.story_id))
        .join(from_value, col(from_value.id) == col(story.from_value_id))
        .join(to_value, col(to_value.id) == col(story.to_value_id))
        .outerjoin(story_votes, story_votes.c.story_id == col(story.id))
        .where(
            Poll.community_id == community_id,
            is_open_at(now),
            story.status == StoryStatus.ACTIVE,
            from_value.status == ValueStatus.ACTIVE,
            to_value.status == ValueStatus.ACTIVE,
            col(Poll.id).not_in(voted),
        )
    )
    return [Candidate(poll_id, int(votes), bool(own)) for poll_id, votes, own in (await session.exec(query)).all()]
