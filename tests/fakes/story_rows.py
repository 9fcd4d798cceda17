"""Transition stories for poll tests, inserted as rows (no LLM): two values, a context, one story."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select

from core.messages import CommunityRef
from storage import communities_repo
from storage.database import Database
from storage.models import CanonicalValue, MoralContext, TransitionStory

CONTEXT = "When someone is in distress"
FROM_VALUE = {
    "title": "Fixing The Problem",
    "description": "Helping means solving what is wrong as fast as possible.",
    "policies": ["SOLUTIONS that remove the cause of the distress", "STEPS the person can take right away"],
}
TO_VALUE = {
    "title": "Being With The Person",
    "description": "Helping starts with understanding what the person is going through.",
    "policies": ["FEELINGS the person has not named yet", "MOMENTS when listening helps more than advice"],
}
STORY = (
    "When my sister called in tears I started listing solutions. She went quiet. Later I understood that "
    "what I had wanted all along was for her to feel less alone, and a list of fixes did not do that."
)


async def add_story(
    database: Database,
    community: CommunityRef,
    *,
    now: datetime,
    story: str = STORY,
    context: str = CONTEXT,
    from_value: dict | None = None,
    to_value: dict | None = None,
) -> int:
    """Insert a community (if new), two canonical values, a context and a story; return the story id."""
    async with database.session() as session:
        row = await communities_repo.get_or_create_community(
            session, platform=community.platform, external_id=community.external_id, name=community.name, now=now
        )
        values = []
        for spec in (from_value or FROM_VALUE, to_value or TO_VALUE):
            value = CanonicalValue(community_id=row.id, created_at=now, updated_at=now, **spec)
            session.add(value)
            values.append(value)
        moral_context = (
            await session.exec(
                select(MoralContext).where(MoralContext.community_id == row.id, MoralContext.text == context)
            )
        ).first()
        if moral_context is None:
            moral_context = MoralContext(community_id=row.id, text=context, created_at=now)
            session.add(moral_context)
        await session.flush()
        transition = TransitionStory(
            community_id=row.id,
            context_id=moral_context.id,
            from_value_id=values[0].id,
            to_value_id=values[1].id,
            story=story,
            steps={"shared_meaning": "care for the person"},
            prompt_sha="0" * 64,
            model="test-model",
            created_at=now,
        )
        session.add(transition)
        await session.commit()
        return transition.id
