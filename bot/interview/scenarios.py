"""Scenario use cases (the question a community deliberates)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.framing import FramedScenario, Framing
from core.interview import Choice
from core.llm import LLMError, LLMErrorKind
from core.messages import CommunityRef
from core.scenarios import DEFAULT_SCENARIOS, MAX_SCENARIO_CHARS
from core.text import clean_member_text, shorten
from storage import communities_repo
from storage import repositories as repo
from storage.database import Database

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from storage.models import Interview


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


#: Scenarios kept in memory (they are read on every turn and never edited).
SCENARIO_CACHE = 1024
MAX_CHOICE_LABEL = 80


class ScenarioLookup:
    """The scenarios an interview offers and the one it is about. A scenario never changes once written
    (moderators archive scenarios, they don't edit them), so scenarios are cached with their framing."""

    def __init__(self) -> None:
        self._scenarios: dict[tuple[int, int | None], FramedScenario] = {}

    async def choices(self, session: AsyncSession, *, community_id: int, now) -> list[Choice]:
        """The open scenarios as choices (the paper's defaults first, for a community that had none)."""
        scenarios = await repo.open_scenarios(session, community_id=community_id)
        if not scenarios and await add_default_scenarios(session, community_id=community_id, now=now):
            scenarios = await repo.open_scenarios(session, community_id=community_id)
        return [Choice(str(s.id), shorten(s.text, MAX_CHOICE_LABEL), detail=s.text) for s in scenarios]

    async def framed(self, session: AsyncSession, interview: Interview) -> FramedScenario:
        key = (interview.community_id, interview.scenario_id)
        if (framed := self._scenarios.get(key)) is not None:
            return framed
        scenario = None
        if interview.scenario_id is not None:
            scenario = await repo.get_scenario(
                session, community_id=interview.community_id, scenario_id=interview.scenario_id
            )
        if scenario is None:
            raise LLMError(LLMErrorKind.CONFIGURATION, f"interview {interview.id} has no scenario")
        if len(self._scenarios) >= SCENARIO_CACHE:
            self._scenarios.clear()
        framed = self._scenarios[key] = FramedScenario(scenario.text, Framing(scenario.framing))
        return framed
