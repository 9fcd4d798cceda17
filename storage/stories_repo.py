"""Keyword-only functions over moral contexts, their scenario links and transition stories.
Callers own the session and decide when to commit.

A context is *live* while some scenario links to it. Removing one unlinks it; the row itself is only
deleted when no story refers to it (stories and their votes keep their history: see ``bot.stories.contexts``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.cards import CardStatus, ValueStatus
from core.stories import StoryStatus
from storage.models import (
    CanonicalValue,
    MoralContext,
    Scenario,
    ScenarioContext,
    TransitionStory,
    ValueAssignment,
    ValuesCardRecord,
    table_of,
)
from storage.sql import insert_ignoring_conflict

# --- scenarios -----------------------------------------------------------------------------------------


async def scenarios_of_community(session: AsyncSession, *, community_id: int) -> Sequence[Scenario]:
    query = select(Scenario).where(Scenario.community_id == community_id).order_by(col(Scenario.id))
    return (await session.exec(query)).all()


# --- contexts ------------------------------------------------------------------------------------------


async def get_context(session: AsyncSession, *, community_id: int, context_id: int) -> MoralContext | None:
    context = await session.get(MoralContext, context_id)
    return context if context and context.community_id == community_id else None


async def contexts_of_scenario(session: AsyncSession, *, scenario_id: int) -> list[MoralContext]:
    query = (
        select(MoralContext)
        .join(ScenarioContext, col(ScenarioContext.context_id) == MoralContext.id)
        .where(ScenarioContext.scenario_id == scenario_id)
        .order_by(col(MoralContext.id))
    )
    return list((await session.exec(query)).all())


async def live_contexts(session: AsyncSession, *, community_id: int) -> list[MoralContext]:
    """The community's contexts that at least one scenario uses."""
    linked = select(ScenarioContext.context_id)
    query = (
        select(MoralContext)
        .where(MoralContext.community_id == community_id, col(MoralContext.id).in_(linked))
        .order_by(col(MoralContext.id))
    )
    return list((await session.exec(query)).all())


async def scenario_ids_of_context(session: AsyncSession, *, context_id: int) -> list[int]:
    query = select(ScenarioContext.scenario_id).where(ScenarioContext.context_id == context_id)
    return sorted((await session.exec(query)).all())


async def framings_of_contexts(session: AsyncSession, *, community_id: int) -> dict[int, list[str]]:
    """Context id → the framings of the scenarios it is linked to (``core.framing.framing_of`` picks one)."""
    query = (
        select(ScenarioContext.context_id, Scenario.framing)
        .join(Scenario, col(Scenario.id) == ScenarioContext.scenario_id)
        .where(Scenario.community_id == community_id)
    )
    framings: dict[int, list[str]] = {}
    for context_id, framing in (await session.exec(query)).all():
        framings.setdefault(context_id, []).append(framing)
    return framings


async def find_context(session: AsyncSession, *, community_id: int, text: str) -> MoralContext | None:
    query = select(MoralContext).where(MoralContext.community_id == community_id, MoralContext.text == text)
    return (await session.exec(query)).first()


async def all_contexts(session: AsyncSession, *, community_id: int) -> list[MoralContext]:
    """Every context row of the community, live or removed (removed ones keep their stories)."""
    query = select(MoralContext).where(MoralContext.community_id == community_id).order_by(col(MoralContext.id))
    return list((await session.exec(query)).all())


async def add_context(
    session: AsyncSession,
    *,
    community_id: int,
    text: str,
    source: str,
    now: datetime,
    prompt_sha: str | None = None,
    model: str | None = None,
) -> MoralContext:
    """The community's context with exactly ``text``, inserted unless it exists (a concurrent insert wins)."""
    values = {
        "community_id": community_id,
        "text": text,
        "source": source,
        "prompt_sha": prompt_sha,
        "model": model,
        "created_at": now,
    }
    await insert_ignoring_conflict(session, table_of(MoralContext), values)
    found = await find_context(session, community_id=community_id, text=text)
    assert found is not None
    return found


async def link_context(session: AsyncSession, *, scenario_id: int, context_id: int) -> bool:
    """Link a scenario to a context; False when it already was."""
    values = {"scenario_id": scenario_id, "context_id": context_id}
    return await insert_ignoring_conflict(session, table_of(ScenarioContext), values)


async def unlink_context(session: AsyncSession, *, context_id: int, scenario_id: int | None = None) -> None:
    """Unlink a context from one scenario, or from all of them."""
    statement = sa.delete(ScenarioContext).where(col(ScenarioContext.context_id) == context_id)
    if scenario_id is not None:
        statement = statement.where(col(ScenarioContext.scenario_id) == scenario_id)
    await session.exec(statement)


async def delete_context(session: AsyncSession, *, context_id: int) -> None:
    """Delete a context row that no story refers to (the caller checks)."""
    await unlink_context(session, context_id=context_id)
    await session.exec(sa.delete(MoralContext).where(col(MoralContext.id) == context_id))


# --- canonical values of scenarios ----------------------------------------------------------------------


async def values_of_scenarios(
    session: AsyncSession, *, community_id: int, scenario_ids: Sequence[int]
) -> list[CanonicalValue]:
    """Active canonical values with a current assignment of a confirmed card from one of the scenarios."""
    if not scenario_ids:
        return []
    assigned = (
        select(ValueAssignment.canonical_value_id)
        .join(ValuesCardRecord, col(ValuesCardRecord.id) == ValueAssignment.card_id)
        .where(
            ValueAssignment.community_id == community_id,
            col(ValueAssignment.superseded_at).is_(None),
            ValuesCardRecord.status == CardStatus.CONFIRMED,
            col(ValuesCardRecord.scenario_id).in_(list(scenario_ids)),
        )
    )
    query = (
        select(CanonicalValue)
        .where(
            CanonicalValue.community_id == community_id,
            CanonicalValue.status == ValueStatus.ACTIVE,
            col(CanonicalValue.id).in_(assigned),
        )
        .order_by(col(CanonicalValue.id))
    )
    return list((await session.exec(query)).all())


async def values_of_context(session: AsyncSession, *, community_id: int, context_id: int) -> list[CanonicalValue]:
    """The candidate values of a context: those of the scenarios linked to it (docs/method.md §6)."""
    scenario_ids = await scenario_ids_of_context(session, context_id=context_id)
    return await values_of_scenarios(session, community_id=community_id, scenario_ids=scenario_ids)


# --- stories -------------------------------------------------------------------------------------------


async def stories_of_context(
    session: AsyncSession, *, context_id: int, statuses: Sequence[str] | None = None
) -> list[TransitionStory]:
    query = select(TransitionStory).where(TransitionStory.context_id == context_id)
    if statuses is not None:
        query = query.where(col(TransitionStory.status).in_(list(statuses)))
    return list((await session.exec(query.order_by(col(TransitionStory.id)))).all())


async def list_stories(
    session: AsyncSession,
    *,
    community_id: int,
    context_id: int | None = None,
    statuses: Sequence[str] | None = (StoryStatus.ACTIVE,),
) -> list[TransitionStory]:
    query = select(TransitionStory).where(TransitionStory.community_id == community_id)
    if context_id is not None:
        query = query.where(TransitionStory.context_id == context_id)
    if statuses is not None:
        query = query.where(col(TransitionStory.status).in_(list(statuses)))
    return list((await session.exec(query.order_by(col(TransitionStory.id)))).all())


async def get_story(session: AsyncSession, *, community_id: int, story_id: int) -> TransitionStory | None:
    story = await session.get(TransitionStory, story_id)
    return story if story and story.community_id == community_id else None


async def story_keys(session: AsyncSession, *, context_id: int) -> set[tuple[int, int]]:
    """(from, to) of every story of the context, withdrawn ones included (the unique key spans them)."""
    query = select(TransitionStory.from_value_id, TransitionStory.to_value_id).where(
        TransitionStory.context_id == context_id
    )
    return {(a, b) for a, b in (await session.exec(query)).all()}


async def count_stories(session: AsyncSession, *, context_id: int) -> int:
    query = select(sa.func.count()).select_from(TransitionStory).where(TransitionStory.context_id == context_id)
    return (await session.exec(query)).one()


async def withdraw_stories(session: AsyncSession, *, context_id: int) -> int:
    """Mark the context's active stories withdrawn (their polls and votes stay); returns how many."""
    statement = (
        sa.update(TransitionStory)
        .where(col(TransitionStory.context_id) == context_id, col(TransitionStory.status) == StoryStatus.ACTIVE)
        .values(status=StoryStatus.WITHDRAWN)
    )
    result = await session.exec(statement)
    return result.rowcount or 0


async def add_story(
    session: AsyncSession,
    *,
    community_id: int,
    context_id: int,
    from_value_id: int,
    to_value_id: int,
    story: str,
    steps: dict,
    prompt_sha: str,
    model: str,
    run_id: int | None,
    now: datetime,
) -> TransitionStory:
    row = TransitionStory(
        community_id=community_id,
        context_id=context_id,
        from_value_id=from_value_id,
        to_value_id=to_value_id,
        story=story,
        steps=steps,
        status=StoryStatus.ACTIVE,
        prompt_sha=prompt_sha,
        model=model,
        run_id=run_id,
        created_at=now,
    )
    session.add(row)
    return row


async def scenarios_without_contexts(session: AsyncSession, *, community_id: int) -> list[int]:
    """Ids of the community's scenarios that have confirmed cards but no linked context."""
    has_cards = select(ValuesCardRecord.scenario_id).where(
        ValuesCardRecord.community_id == community_id, ValuesCardRecord.status == CardStatus.CONFIRMED
    )
    has_contexts = select(ScenarioContext.scenario_id)
    query = (
        select(Scenario.id)
        .where(
            Scenario.community_id == community_id,
            col(Scenario.id).in_(has_cards),
            col(Scenario.id).not_in(has_contexts),
        )
        .order_by(col(Scenario.id))
    )
    return list((await session.exec(query)).all())
