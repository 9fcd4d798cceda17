"""Scenario use cases (the question a community deliberates)."""

from __future__ import annotations

from mge.core.messages import CommunityRef
from mge.core.scenarios import DEFAULT_SCENARIOS, MAX_SCENARIO_CHARS
from mge.core.text import clean_member_text
from mge.storage import repositories as repo
from mge.storage.database import Database


class ScenarioError(ValueError):
    pass


async def prepare_scenarios(
    database: Database, community: CommunityRef, *, text: str | None, now
) -> int | None:
    """Make sure ``community`` has something to discuss: the scenario ``text`` (returned, to start on it),
    or the paper's default scenarios when the community has none yet."""
    async with database.session() as session:
        row = await repo.get_or_create_community(
            session, platform=community.platform, external_id=community.external_id, name=community.name, now=now
        )
        scenario_id = None
        if text is not None:
            cleaned = clean_member_text(text)
            if cleaned.problem or len(cleaned.text) > MAX_SCENARIO_CHARS:
                raise ScenarioError(f"a scenario must be 1–{MAX_SCENARIO_CHARS} characters of text")
            scenario = await repo.find_or_add_scenario(session, community_id=row.id, text=cleaned.text, now=now)
            scenario_id = scenario.id
        elif await repo.count_scenarios(session, community_id=row.id) == 0:
            for default in DEFAULT_SCENARIOS:
                await repo.find_or_add_scenario(session, community_id=row.id, text=default, now=now)
        await session.commit()
        return scenario_id
