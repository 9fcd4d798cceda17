"""Repository functions for the ideology screen (``bot.ideology.screen``): members' opening answers and
their ratings. Callers own the session and commit."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import IdeologyRating, Interview, InterviewTurn, Member, Scenario, SurveyAnswer, table_of
from storage.sql import insert_ignoring_conflict


async def unrated_openings(
    session: AsyncSession, *, community_id: int, limit: int
) -> list[tuple[int, int, str, str | None]]:
    """(interview id, turn seq, the member's first conversation answer, scenario text or None) of the
    community's first ``limit`` interviews with such an answer and no rating, oldest first."""
    rated = select(IdeologyRating.interview_id).where(IdeologyRating.community_id == community_id)
    first = (
        select(InterviewTurn.interview_id, func.min(InterviewTurn.seq).label("seq"))
        .join(Interview, col(Interview.id) == col(InterviewTurn.interview_id))
        .where(
            Interview.community_id == community_id,
            InterviewTurn.role == "member",
            InterviewTurn.kind == "conversation",
            col(Interview.id).not_in(rated),
        )
        .group_by(col(InterviewTurn.interview_id))
        .order_by(col(InterviewTurn.interview_id))
        .limit(limit)
        .subquery()
    )
    return list(
        (
            await session.exec(
                select(InterviewTurn.interview_id, InterviewTurn.seq, InterviewTurn.content, Scenario.text)
                .join(
                    first,
                    sa.and_(
                        col(InterviewTurn.interview_id) == first.c.interview_id, col(InterviewTurn.seq) == first.c.seq
                    ),
                )
                .join(Interview, col(Interview.id) == col(InterviewTurn.interview_id))
                .outerjoin(
                    Scenario,
                    sa.and_(col(Scenario.id) == col(Interview.scenario_id), col(Scenario.community_id) == community_id),
                )
                .order_by(col(InterviewTurn.interview_id))
            )
        ).all()
    )


async def member_turn_exists(session: AsyncSession, *, interview_id: int, seq: int) -> bool:
    """False once the member erased their data (their turns are deleted)."""
    return (
        await session.exec(
            select(InterviewTurn.id).where(
                InterviewTurn.interview_id == interview_id, InterviewTurn.seq == seq, InterviewTurn.role == "member"
            )
        )
    ).first() is not None


async def add_rating(
    session: AsyncSession,
    *,
    community_id: int,
    interview_id: int,
    score: int,
    reason: str,
    prompt_sha: str,
    model: str,
    run_id: int,
    now: datetime,
) -> bool:
    """True when stored; False when the interview was rated already."""
    return await insert_ignoring_conflict(
        session,
        table_of(IdeologyRating),
        {
            "community_id": community_id,
            "interview_id": interview_id,
            "score": score,
            "reason": reason,
            "prompt_sha": prompt_sha,
            "model": model,
            "run_id": run_id,
            "rated_at": now,
        },
    )


async def rated_scores(session: AsyncSession, *, community_id: int) -> list[tuple[int, int]]:
    """(score, interview's member id) of every rating of the community."""
    return list(
        (
            await session.exec(
                select(IdeologyRating.score, Interview.member_id)
                .join(Interview, col(Interview.id) == col(IdeologyRating.interview_id))
                .where(IdeologyRating.community_id == community_id, Interview.community_id == community_id)
            )
        ).all()
    )


async def survey_scores_of_question(session: AsyncSession, *, community_id: int, question: int) -> dict[int, int]:
    """Member id → their score for survey ``question`` (skips left out)."""
    rows = (
        await session.exec(
            select(SurveyAnswer.member_id, col(SurveyAnswer.score))
            .join(Member, col(Member.id) == col(SurveyAnswer.member_id))
            .where(
                SurveyAnswer.community_id == community_id,
                Member.community_id == community_id,
                SurveyAnswer.question == question,
                col(SurveyAnswer.score).is_not(None),
            )
        )
    ).all()
    return {member_id: score for member_id, score in rows if score is not None}
