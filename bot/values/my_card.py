"""What a member can ask about themselves (`/mge mycard`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.values.languages import member_card
from core.cards import CardStatus, ValuesCard
from core.messages import CommunityRef, Person
from storage import repositories as repo
from storage import values_repo
from storage.database import Database


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a confirmed card ended up: its canonical value, who else is in it, its best rank."""

    value_id: int
    value_title: str
    #: Other members' cards in the same value.
    shared_with: int
    #: (rank, values ranked, context) where the value ranks best; None while it is in no ranking.
    best_rank: tuple[int, int, str] | None = None

    def line(self) -> str:
        """E.g. "In the value “Being With The Person” with 2 other members' cards; ranked 1 of 4 in “When …”"."""
        others = {0: "", 1: " with 1 other member's card"}.get(
            self.shared_with, f" with {self.shared_with} other members' cards"
        )
        where = f"In the value “{self.value_title}”{others}"
        if self.best_rank is None:
            return where + "; not ranked yet (it needs votes on stories about it)."
        rank, of, context = self.best_rank
        return where + f"; ranked {rank} of {of} in “{context}”."


@dataclass(frozen=True, slots=True)
class MemberCard:
    card: ValuesCard
    status: str  # proposed | confirmed
    scenario: str | None
    created_at: datetime
    placement: Placement | None = None


async def member_cards(database: Database, community: CommunityRef, person: Person) -> list[MemberCard]:
    """The member's confirmed cards (with where each ended up) and any card waiting for their
    confirmation, oldest first."""
    async with database.session() as session:
        rows = await repo.cards_of_member(
            session,
            platform=community.platform,
            external_id=community.external_id,
            platform_user_id=person.platform_user_id,
            statuses=(CardStatus.CONFIRMED, CardStatus.PROPOSED),
        )
        placements = await _placements(
            session, database, [card for card, _ in rows if card.status == CardStatus.CONFIRMED]
        )
        return [
            MemberCard(
                member_card(card),
                card.status,
                scenario.text if scenario else None,
                card.created_at,
                placements.get(card.id),
            )
            for card, scenario in rows
        ]


async def _placements(session, database: Database, cards: list) -> dict[int, Placement]:
    """Card id → its placement, for cards that are in a value (the graph is built once for all)."""
    if not cards:
        return {}
    from bot.graph.build import load_community_graph_input, resolve_values
    from core.graph import GraphParams, build_moral_graph

    community_id = cards[0].community_id
    values = {v.id: v for v in await values_repo.all_values_of(session, community_id=community_id)}
    resolve = resolve_values(values.values())
    counts = await values_repo.member_counts(session, community_id=community_id)
    data = await load_community_graph_input(database, community_id=community_id)
    graph = build_moral_graph(data.values, data.votes, GraphParams())
    placements = {}
    for card in cards:
        assignment = await values_repo.current_assignment(session, card_id=card.id)
        value_id = resolve.get(assignment.canonical_value_id) if assignment is not None else None
        if value_id is None:
            continue
        best = None
        for name, ctx in graph.contexts.items():
            ids = [r.id for r in ctx.ranking]
            if str(value_id) in ids:
                candidate = (ids.index(str(value_id)) + 1, len(ids), name)
                if best is None or candidate[0] < best[0]:
                    best = candidate
        placements[card.id] = Placement(value_id, values[value_id].title, max(counts.get(value_id, 1) - 1, 0), best)
    return placements
