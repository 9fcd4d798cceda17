"""Repository functions for the legitimacy checks (``bot.legitimacy.checks``): fair-position asks, survey
offers and answers, and who is never asked. Callers own the session and commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.cards import CardStatus
from storage.models import (
    Community,
    FairPositionAsk,
    LegitimacyOptOut,
    Member,
    MemberFacts,
    Poll,
    SurveyAnswer,
    SurveyOffer,
    ValueAssignment,
    ValuesCardRecord,
    Vote,
    table_of,
)
from storage.sql import insert_ignoring_conflict

# --- who is never asked ------------------------------------------------------------------------------


async def opted_out_members(session: AsyncSession, *, community_id: int) -> set[int]:
    rows = await session.exec(select(LegitimacyOptOut.member_id).where(LegitimacyOptOut.community_id == community_id))
    return set(rows.all())


def _blocked_ids(community_id: int):
    """The community's members a moderator blocked (``/mge member block``), as a subquery: never asked."""
    return (
        select(MemberFacts.member_id)
        .join(Member, col(Member.id) == col(MemberFacts.member_id))
        .where(Member.community_id == community_id, col(MemberFacts.blocked_at).is_not(None))
    )


async def blocked_members(session: AsyncSession, *, community_id: int) -> set[int]:
    return set((await session.exec(_blocked_ids(community_id))).all())


async def opt_out(session: AsyncSession, *, member_id: int, community_id: int, now: datetime) -> None:
    await insert_ignoring_conflict(
        session, table_of(LegitimacyOptOut), {"member_id": member_id, "community_id": community_id, "opted_out_at": now}
    )


# --- fair position -----------------------------------------------------------------------------------


async def card_values_of_members(session: AsyncSession, *, community_id: int) -> list[tuple[int, str, int]]:
    """(member id, platform user id, value id the card is assigned to — merges not yet resolved) of every
    current confirmed card of a member who did not erase their data, newest confirmed card first."""
    query = (
        select(Member.id, Member.platform_user_id, ValueAssignment.canonical_value_id)
        .join(ValuesCardRecord, col(ValuesCardRecord.author_member_id) == col(Member.id))
        .join(ValueAssignment, col(ValueAssignment.card_id) == col(ValuesCardRecord.id))
        .where(
            ValuesCardRecord.community_id == community_id,
            Member.community_id == community_id,
            ValuesCardRecord.status == CardStatus.CONFIRMED,
            col(ValueAssignment.superseded_at).is_(None),
            col(Member.forgotten_at).is_(None),
        )
        .order_by(col(ValuesCardRecord.confirmed_at).desc(), col(ValuesCardRecord.id).desc())
    )
    return list((await session.exec(query)).all())


async def claim_fair_position_ask(
    session: AsyncSession,
    *,
    community_id: int,
    member_id: int,
    period: str,
    value_id: int,
    context: str,
    less_wise_value_id: int | None,
    wiser_value_id: int | None,
    now: datetime,
) -> FairPositionAsk | None:
    """The new ask of the member for ``period``; None when they were asked for it already."""
    claimed = await insert_ignoring_conflict(
        session,
        table_of(FairPositionAsk),
        {
            "community_id": community_id,
            "member_id": member_id,
            "period": period,
            "value_id": value_id,
            "context": context,
            "less_wise_value_id": less_wise_value_id,
            "wiser_value_id": wiser_value_id,
            "answer": None,
            "asked_at": now,
            "answered_at": None,
        },
    )
    if not claimed:
        return None
    return (
        await session.exec(
            select(FairPositionAsk).where(FairPositionAsk.member_id == member_id, FairPositionAsk.period == period)
        )
    ).one()


async def delete_fair_position_ask(session: AsyncSession, *, ask_id: int) -> None:
    await session.exec(sa.delete(FairPositionAsk).where(col(FairPositionAsk.id) == ask_id))


async def answer_fair_position(session: AsyncSession, *, ask_id: int, answer: str, now: datetime) -> bool:
    """Record the answer unless the ask has one: of two concurrent presses only the first is recorded.
    True when this one was."""
    result = await session.exec(
        sa.update(FairPositionAsk)
        .where(col(FairPositionAsk.id) == ask_id, col(FairPositionAsk.answer).is_(None))
        .values(answer=answer, answered_at=now)
        .returning(col(FairPositionAsk.id))
    )
    return result.first() is not None


# --- survey --------------------------------------------------------------------------------------------


async def members_to_offer_survey(session: AsyncSession, *, community_id: int) -> list[tuple[int, str]]:
    """(member id, platform user id) of members with a confirmed card and a vote of their own who were
    never offered the survey, did not opt out, are not blocked and did not erase their data."""
    with_card = select(ValuesCardRecord.author_member_id).where(
        ValuesCardRecord.community_id == community_id, ValuesCardRecord.status == CardStatus.CONFIRMED
    )
    with_vote = select(Vote.member_id).where(Vote.community_id == community_id, col(Vote.member_id).is_not(None))
    offered = select(SurveyOffer.member_id)
    opted = select(LegitimacyOptOut.member_id)
    return list(
        (
            await session.exec(
                select(Member.id, Member.platform_user_id)
                .where(
                    Member.community_id == community_id,
                    col(Member.forgotten_at).is_(None),
                    col(Member.id).in_(with_card),
                    col(Member.id).in_(with_vote),
                    col(Member.id).not_in(offered),
                    col(Member.id).not_in(opted),
                    col(Member.id).not_in(_blocked_ids(community_id)),
                )
                .order_by(col(Member.id))
            )
        ).all()
    )


async def claim_survey_offer(session: AsyncSession, *, member_id: int, community_id: int, now: datetime) -> bool:
    """True when the offer row was inserted: the member was never offered the survey."""
    return await insert_ignoring_conflict(
        session,
        table_of(SurveyOffer),
        {"member_id": member_id, "community_id": community_id, "offered_at": now, "ended_at": None},
    )


async def delete_survey_offer(session: AsyncSession, *, member_id: int) -> None:
    await session.exec(sa.delete(SurveyOffer).where(col(SurveyOffer.member_id) == member_id))


async def add_survey_answer(
    session: AsyncSession,
    *,
    community_id: int,
    member_id: int,
    question: int,
    score: int | None,
    now: datetime,
) -> bool:
    """True when stored; False when the member answered this question already."""
    return await insert_ignoring_conflict(
        session,
        table_of(SurveyAnswer),
        {
            "community_id": community_id,
            "member_id": member_id,
            "question": question,
            "score": score,
            "answered_at": now,
        },
    )


async def communities_of_polls(session: AsyncSession, *, poll_ids: Sequence[int]) -> list[tuple[int, str]]:
    """(community id, platform) of each community one of the polls belongs to, once each."""
    return list(
        (
            await session.exec(
                select(Community.id, Community.platform)
                .join(Poll, col(Poll.community_id) == col(Community.id))
                .where(col(Poll.id).in_(poll_ids))
                .distinct()
            )
        ).all()
    )


# --- stats ---------------------------------------------------------------------------------------------


async def fair_position_answer_counts(session: AsyncSession, *, community_id: int) -> dict[str, int]:
    """Asks per answer; ``""`` counts the asks not answered."""
    return {
        answer or "": count
        for answer, count in (
            await session.exec(
                select(FairPositionAsk.answer, func.count())
                .where(FairPositionAsk.community_id == community_id)
                .group_by(FairPositionAsk.answer)
            )
        ).all()
    }


async def count_survey_offers(session: AsyncSession, *, community_id: int) -> int:
    return int(
        (
            await session.exec(
                select(func.count()).select_from(SurveyOffer).where(SurveyOffer.community_id == community_id)
            )
        ).one()
        or 0
    )


async def survey_scores(session: AsyncSession, *, community_id: int) -> dict[int, tuple[int, float | None]]:
    """Question number → (how many scored it, mean score); skips are not counted."""
    return {
        q: (n, mean)
        for q, n, mean in (
            await session.exec(
                select(SurveyAnswer.question, func.count(col(SurveyAnswer.score)), func.avg(SurveyAnswer.score))
                .where(SurveyAnswer.community_id == community_id)
                .group_by(col(SurveyAnswer.question))
            )
        ).all()
    }
