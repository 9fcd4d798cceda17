"""Repository functions for the weekly digest (``bot.digest.build``): what it says about scenarios and
participation. Callers own the session."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import distinct, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.digest import Participation
from core.interview import InterviewState
from storage.models import Interview, MoralContext, Scenario, ScenarioContext, Vote


async def scenario_context_texts(session: AsyncSession, *, community_id: int) -> list[tuple[int, str, str]]:
    """(scenario id, scenario text, context text) of each context linked to a scenario, by scenario then
    context, oldest first."""
    return list(
        (
            await session.exec(
                select(Scenario.id, Scenario.text, MoralContext.text)
                .join(ScenarioContext, col(ScenarioContext.scenario_id) == col(Scenario.id))
                .join(MoralContext, col(MoralContext.id) == col(ScenarioContext.context_id))
                .where(Scenario.community_id == community_id, MoralContext.community_id == community_id)
                .order_by(col(Scenario.id), col(MoralContext.id))
            )
        ).all()
    )


async def participation_counts(
    session: AsyncSession, *, community_id: int, since: datetime, until: datetime
) -> Participation:
    """Interviews completed (confirmed) and votes cast in [since, until), and in total."""
    confirmed = (Interview.community_id == community_id, Interview.state == InterviewState.CONFIRMED)
    in_period = (col(Interview.ended_at) >= since, col(Interview.ended_at) < until)
    votes = (Vote.community_id == community_id,)
    votes_in_period = (col(Vote.cast_at) >= since, col(Vote.cast_at) < until)

    async def scalar(query) -> int:
        return int((await session.exec(query)).one() or 0)

    return Participation(
        interviews_this_period=await scalar(select(func.count()).select_from(Interview).where(*confirmed, *in_period)),
        interviews_total=await scalar(select(func.count()).select_from(Interview).where(*confirmed)),
        votes_this_period=await scalar(select(func.count()).select_from(Vote).where(*votes, *votes_in_period)),
        voters_this_period=await scalar(
            select(func.count(distinct(col(Vote.voter_key)))).where(*votes, *votes_in_period)
        ),
        voters_total=await scalar(select(func.count(distinct(col(Vote.voter_key)))).where(*votes)),
    )
