"""Repository functions for the moderators' participation stats (``/mge stats``). Read-only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import distinct, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.interview import InterviewState
from storage.models import Interview, InterviewTurn, LLMCall, Vote


async def _scalar(session: AsyncSession, query) -> int:
    return int((await session.exec(query)).one() or 0)


async def interview_counts(session: AsyncSession, *, community_id: int) -> tuple[int, int]:
    """(interviews started, members who started one)."""
    started = await _scalar(
        session, select(func.count()).select_from(Interview).where(Interview.community_id == community_id)
    )
    members = await _scalar(
        session, select(func.count(distinct(col(Interview.member_id)))).where(Interview.community_id == community_id)
    )
    return started, members


async def confirmed_interview_tokens(session: AsyncSession, *, community_id: int) -> list[tuple[int, int, int]]:
    """(interview id, input tokens, output tokens) of each interview that confirmed a card."""
    return list(
        (
            await session.exec(
                select(Interview.id, Interview.input_tokens, Interview.output_tokens).where(
                    Interview.community_id == community_id, Interview.state == InterviewState.CONFIRMED
                )
            )
        ).all()
    )


async def member_turn_counts(session: AsyncSession, *, interview_ids: Sequence[int]) -> dict[int, int]:
    """Interview id → the member's messages in it (interviews without any are absent)."""
    return dict(
        (
            await session.exec(
                select(InterviewTurn.interview_id, func.count())
                .where(col(InterviewTurn.interview_id).in_(interview_ids), InterviewTurn.role == "member")
                .group_by(col(InterviewTurn.interview_id))
            )
        ).all()
    )


async def vote_counts(session: AsyncSession, *, community_id: int) -> tuple[int, int]:
    """(votes, distinct voters)."""
    votes = await _scalar(session, select(func.count()).select_from(Vote).where(Vote.community_id == community_id))
    voters = await _scalar(
        session, select(func.count(distinct(col(Vote.voter_key)))).where(Vote.community_id == community_id)
    )
    return votes, voters


async def llm_token_totals(session: AsyncSession, *, community_id: int) -> tuple[int, int]:
    """(input tokens, output tokens) of every LLM call recorded for the community."""
    input_tokens, output_tokens = (
        await session.exec(
            select(
                func.coalesce(func.sum(LLMCall.input_tokens), 0), func.coalesce(func.sum(LLMCall.output_tokens), 0)
            ).where(LLMCall.community_id == community_id)
        )
    ).one()
    return input_tokens, output_tokens


async def votes_of_community(
    session: AsyncSession, *, community_id: int
) -> list[tuple[int | None, str, int, str, datetime]]:
    """(member id, voter key, poll id, choice, cast at) of every vote."""
    return list(
        (
            await session.exec(
                # sqlmodel's select() is typed for at most four columns.
                select(Vote.member_id, Vote.voter_key, Vote.poll_id, Vote.choice, Vote.cast_at).where(  # type: ignore[call-overload]
                    Vote.community_id == community_id
                )
            )
        ).all()
    )
