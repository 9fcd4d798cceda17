"""What a member can ask about themselves (`/mge mycard`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mge.core.cards import ValuesCard
from mge.core.messages import CommunityRef, Person
from mge.storage import repositories as repo
from mge.storage.database import Database


@dataclass(frozen=True, slots=True)
class MemberCard:
    card: ValuesCard
    status: str  # proposed | confirmed
    scenario: str | None
    created_at: datetime


async def member_cards(database: Database, community: CommunityRef, person: Person) -> list[MemberCard]:
    """The member's confirmed cards and any card waiting for their confirmation, oldest first."""
    async with database.session() as session:
        rows = await repo.cards_of_member(
            session,
            platform=community.platform,
            external_id=community.external_id,
            platform_user_id=person.platform_user_id,
            statuses=("confirmed", "proposed"),
        )
        return [
            MemberCard(
                ValuesCard.model_construct(title=card.title, description=card.description, policies=list(card.policies)),
                card.status,
                scenario.text if scenario else None,
                card.created_at,
            )
            for card, scenario in rows
        ]
