"""Keyword-only functions for ``mge import`` (``bot.importing``): finding what an earlier import of the same
source already wrote, so importing again adds nothing. Callers own the session and commit once."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.polls import PollState
from storage.models import CanonicalValue, Poll, Scenario, TransitionStory, Vote, table_of
from storage.sql import insert_ignoring_conflict

#: The platform of the polls that hold imported votes: never posted anywhere, always closed.
IMPORT_PLATFORM = "import"


async def find_scenario(session: AsyncSession, *, community_id: int, text: str) -> Scenario | None:
    query = select(Scenario).where(Scenario.community_id == community_id, Scenario.text == text)
    return (await session.exec(query)).first()


async def add_closed_scenario(session: AsyncSession, *, community_id: int, text: str, now: datetime) -> Scenario:
    scenario = Scenario(community_id=community_id, text=text, is_open=False, created_at=now)
    session.add(scenario)
    await session.flush()
    return scenario


async def find_imported_value(session: AsyncSession, *, community_id: int, imported_from: str) -> CanonicalValue | None:
    query = select(CanonicalValue).where(
        CanonicalValue.community_id == community_id, CanonicalValue.imported_from == imported_from
    )
    return (await session.exec(query)).first()


async def add_imported_value(
    session: AsyncSession,
    *,
    community_id: int,
    title: str,
    description: str,
    policies: list[str],
    imported_from: str,
    now: datetime,
) -> CanonicalValue:
    value = CanonicalValue(
        community_id=community_id,
        title=title,
        description=description,
        policies=policies,
        imported_from=imported_from,
        created_at=now,
        updated_at=now,
    )
    session.add(value)
    await session.flush()
    return value


async def find_story(
    session: AsyncSession, *, context_id: int, from_value_id: int, to_value_id: int
) -> TransitionStory | None:
    query = select(TransitionStory).where(
        TransitionStory.context_id == context_id,
        TransitionStory.from_value_id == from_value_id,
        TransitionStory.to_value_id == to_value_id,
    )
    return (await session.exec(query)).first()


async def import_poll(
    session: AsyncSession, *, community_id: int, story_id: int, source: str, opened_at: datetime
) -> tuple[Poll, bool]:
    """The closed poll that holds the imported votes on a story from ``source``; True when it is new."""
    query = select(Poll).where(
        Poll.platform == IMPORT_PLATFORM, Poll.channel_id == source, Poll.message_id == f"story-{story_id}"
    )
    found = (await session.exec(query)).first()
    if found is not None:
        return found, False
    poll = Poll(
        community_id=community_id,
        story_id=story_id,
        platform=IMPORT_PLATFORM,
        channel_id=source,
        message_id=f"story-{story_id}",
        state=PollState.CLOSED,
        opened_at=opened_at,
        closed_at=opened_at,
    )
    session.add(poll)
    await session.flush()
    return poll, True


async def add_vote(
    session: AsyncSession, *, community_id: int, poll_id: int, voter_key: str, choice: str, cast_at: datetime
) -> bool:
    """Insert the vote unless this voter already has one on the poll; True when it was inserted."""
    values = {
        "community_id": community_id,
        "poll_id": poll_id,
        "voter_key": voter_key,
        "choice": choice,
        "cast_at": cast_at,
        "updated_at": cast_at,
    }
    return await insert_ignoring_conflict(session, table_of(Vote), values)
