"""Where a value came from: the member cards in it and the decisions that put them there, for
``mge values inspect`` and ``/mge values show`` (docs/method.md §8).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from storage import values_repo as repo
from storage.database import Database
from storage.models import ValueAssignment


@dataclass(frozen=True, slots=True)
class Decision:
    id: int
    value_id: int
    decision: str
    reason: str
    actor: str
    prompt_sha: str | None
    model: str | None
    member_agrees: bool | None
    created_at: str
    superseded_at: str | None


@dataclass(frozen=True, slots=True)
class MemberCard:
    card_id: int
    title: str
    description: str
    policies: list[str]
    author_member_id: int | None
    decision: str
    member_agrees: bool | None
    history: list[Decision]


@dataclass(frozen=True, slots=True)
class ValueProvenance:
    id: int
    community_id: int
    title: str
    description: str
    policies: list[str]
    status: str
    source_card_id: int | None
    merged_into_id: int | None
    merged_from: list[int]
    cards: list[MemberCard]

    def as_dict(self) -> dict:
        return asdict(self)


def _decision(a: ValueAssignment) -> Decision:
    return Decision(
        id=a.id,
        value_id=a.canonical_value_id,
        decision=a.decision,
        reason=a.reason,
        actor=a.actor,
        prompt_sha=a.prompt_sha,
        model=a.model,
        member_agrees=a.member_agrees,
        created_at=a.created_at.isoformat(),
        superseded_at=a.superseded_at.isoformat() if a.superseded_at else None,
    )


async def value_provenance(database: Database, value_id: int, *, community_id: int | None = None) -> ValueProvenance:
    """The value, every member card currently in it, and each card's full decision history."""
    async with database.session() as session:
        value = await repo.get_value(session, value_id=value_id, community_id=community_id)
        if value is None:
            raise LookupError(f"no value {value_id}")
        cards = []
        for assignment, card in await repo.current_members(session, value_id=value_id):
            history = [_decision(a) for a in await repo.assignment_history(session, card_id=card.id)]
            cards.append(
                MemberCard(
                    card_id=card.id,
                    title=card.title,
                    description=card.description,
                    policies=list(card.policies),
                    author_member_id=card.author_member_id,
                    decision=assignment.decision,
                    member_agrees=assignment.member_agrees,
                    history=history,
                )
            )
        merged_from = [v.id for v in await repo.values_merged_into(session, value_id=value_id)]
        return ValueProvenance(
            id=value.id,
            community_id=value.community_id,
            title=value.title,
            description=value.description,
            policies=list(value.policies),
            status=value.status,
            source_card_id=value.source_card_id,
            merged_into_id=value.merged_into_id,
            merged_from=merged_from,
            cards=cards,
        )


async def value_rows(
    database: Database, *, community_ids: Sequence[int] | None, statuses: Sequence[str] | None
) -> list[dict]:
    """Values with their member counts, for listings."""
    async with database.session() as session:
        values = await repo.list_values(session, statuses=statuses)
        if community_ids is not None:
            values = [v for v in values if v.community_id in set(community_ids)]
        counts: dict[int, int] = {}
        for cid in {v.community_id for v in values}:
            counts.update(await repo.member_counts(session, community_id=cid))
        return [
            {
                "id": v.id,
                "community_id": v.community_id,
                "title": v.title,
                "description": v.description,
                "policies": list(v.policies),
                "status": v.status,
                "cards": counts.get(v.id, 0),
                "source_card_id": v.source_card_id,
                "merged_into_id": v.merged_into_id,
                "updated": v.updated_at.isoformat(),
            }
            for v in values
        ]
