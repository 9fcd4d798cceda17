"""Scenario use cases (the question a community deliberates)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.messages import CommunityRef
from core.scenarios import DEFAULT_SCENARIOS, MAX_SCENARIO_CHARS
from core.text import clean_member_text
from storage import communities_repo
from storage import repositories as repo
from storage.database import Database

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession


class ScenarioError(ValueError):
    pass


async def prepare_scenarios(database: Database, community: CommunityRef, *, text: str | None, now) -> int | None:
    """Make sure ``community`` has something to discuss: the scenario ``text`` (returned, to start on it),
    or the paper's default scenarios when the community has none yet."""
    async with database.session() as session:
        row = await communities_repo.get_or_create_community(
            session, platform=community.platform, external_id=community.external_id, name=community.name, now=now
        )
        scenario_id = None
        if text is not None:
            cleaned = clean_member_text(text)
            if cleaned.problem or len(cleaned.text) > MAX_SCENARIO_CHARS:
                raise ScenarioError(f"a scenario must be 1–{MAX_SCENARIO_CHARS} characters of text")
            scenario = await repo.find_or_add_scenario(session, community_id=row.id, text=cleaned.text, now=now)
            scenario_id = scenario.id
        else:
            await add_default_scenarios(session, community_id=row.id, now=now)
        await session.commit()
        return scenario_id


async def add_default_scenarios(session: AsyncSession, *, community_id: int, now) -> bool:
    """Give a community that never had a scenario the paper's defaults, in the caller's transaction, so a
    fresh Discord server or Slack workspace has questions from its first `/mge join`. Archived and closed
    scenarios count as had: defaults a moderator put away never come back. True when they were added."""
    if await repo.count_scenarios(session, community_id=community_id) > 0:
        return False
    for default in DEFAULT_SCENARIOS:
        await repo.find_or_add_scenario(session, community_id=community_id, text=default, now=now)
    return True
