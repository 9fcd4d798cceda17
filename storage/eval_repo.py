"""Repository functions for ``mge eval`` (``bot.eval``): the interviews to grade and what the grader reads.
Read-only: grading a community's interviews never changes its database."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Interview, InterviewTurn, Member, Scenario, ValuesCardRecord


async def gradable_interviews(
    session: AsyncSession, *, community_ids: Sequence[int] | None = None, with_card: bool = True
) -> list[int]:
    """Ids of the interviews with at least one member answer in the conversation (and, with ``with_card``, at
    least one card proposed), of members who have not erased their data, in id order."""
    answered = select(InterviewTurn.interview_id).where(
        InterviewTurn.role == "member", InterviewTurn.kind == "conversation"
    )
    query = (
        select(Interview.id)
        .join(Member, col(Member.id) == Interview.member_id)
        .where(col(Member.forgotten_at).is_(None), col(Interview.id).in_(answered))
        .order_by(col(Interview.id))
    )
    if with_card:
        query = query.where(col(Interview.id).in_(select(ValuesCardRecord.interview_id)))
    if community_ids is not None:
        query = query.where(col(Interview.community_id).in_(community_ids))
    return list((await session.exec(query)).all())


async def interview_with_scenario(
    session: AsyncSession, *, interview_id: int
) -> tuple[Interview, str | None, str | None] | None:
    """The interview, its scenario's text and framing (None: no scenario recorded)."""
    query = (
        select(Interview, Scenario.text, Scenario.framing)
        .outerjoin(Scenario, col(Scenario.id) == Interview.scenario_id)
        .where(Interview.id == interview_id)
    )
    row = (await session.exec(query)).first()
    return (row[0], row[1], row[2]) if row is not None else None


async def turns_of_interview(session: AsyncSession, *, interview_id: int) -> list[tuple[str, str, str]]:
    """(role, kind, content) of every turn of the interview, whatever its kind, in order."""
    query = (
        select(InterviewTurn.role, InterviewTurn.kind, InterviewTurn.content)
        .where(InterviewTurn.interview_id == interview_id)
        .order_by(col(InterviewTurn.seq))
    )
    return [(role, kind, content) for role, kind, content in (await session.exec(query)).all()]


async def cards_of_interview(session: AsyncSession, *, interview_id: int) -> Sequence[ValuesCardRecord]:
    """Every card proposed in the interview, superseded ones included, in the order they were written."""
    query = select(ValuesCardRecord).where(ValuesCardRecord.interview_id == interview_id)
    return (await session.exec(query.order_by(col(ValuesCardRecord.id)))).all()


async def member_identities(session: AsyncSession, *, community_id: int) -> list[tuple[str, str]]:
    """(display name, platform user id) of every member of the community: what must not reach a grader."""
    query = select(Member.display_name, Member.platform_user_id).where(Member.community_id == community_id)
    return [(name, user_id) for name, user_id in (await session.exec(query)).all()]


async def interviews_of_community(session: AsyncSession, *, community_id: int) -> Sequence[Interview]:
    query = select(Interview).where(Interview.community_id == community_id).order_by(col(Interview.id))
    return (await session.exec(query)).all()
