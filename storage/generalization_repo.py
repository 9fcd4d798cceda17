"""Repository functions for generalization offers (``bot.generalization.picks``): the offer made after a
confirmed card, the values shown in it (impressions) and the member's picks. Callers own the session and
commit."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.cards import CardStatus
from storage.models import (
    CanonicalValue,
    GeneralizationImpression,
    GeneralizationOffer,
    ValueAssignment,
    ValuesCardRecord,
    table_of,
)
from storage.sql import insert_ignoring_conflict


async def add_offer(
    session: AsyncSession,
    *,
    community_id: int,
    member_id: int,
    interview_id: int,
    scenario_id: int | None,
    now: datetime,
) -> int | None:
    """The new offer's id; None when this interview had its offer already (one per interview)."""
    inserted = await insert_ignoring_conflict(
        session,
        table_of(GeneralizationOffer),
        {
            "community_id": community_id,
            "member_id": member_id,
            "interview_id": interview_id,
            "scenario_id": scenario_id,
            "offered_at": now,
            "closed_at": None,
        },
    )
    if not inserted:
        return None
    return (
        await session.exec(select(GeneralizationOffer.id).where(GeneralizationOffer.interview_id == interview_id))
    ).one()


def add_impression(
    session: AsyncSession,
    *,
    community_id: int,
    offer_id: int,
    value_id: int,
    own_scenario: bool,
    position: int,
) -> None:
    session.add(
        GeneralizationImpression(
            community_id=community_id,
            offer_id=offer_id,
            value_id=value_id,
            own_scenario=own_scenario,
            position=position,
        )
    )


async def latest_open_offer(session: AsyncSession, *, community_id: int, member_id: int) -> GeneralizationOffer | None:
    return (
        await session.exec(
            select(GeneralizationOffer)
            .where(
                GeneralizationOffer.community_id == community_id,
                GeneralizationOffer.member_id == member_id,
                col(GeneralizationOffer.closed_at).is_(None),
            )
            .order_by(col(GeneralizationOffer.id).desc())
        )
    ).first()


async def impressions_with_values(
    session: AsyncSession, *, offer_id: int
) -> list[tuple[GeneralizationImpression, str, str]]:
    """(impression, value title, value description) of the offer, in the order they were shown."""
    return list(
        (
            await session.exec(
                select(GeneralizationImpression, CanonicalValue.title, CanonicalValue.description)
                .join(CanonicalValue, col(CanonicalValue.id) == col(GeneralizationImpression.value_id))
                .where(GeneralizationImpression.offer_id == offer_id)
                .order_by(col(GeneralizationImpression.position))
            )
        ).all()
    )


async def confirmed_card_links(session: AsyncSession, *, community_id: int) -> list[tuple[int, int | None, int | None]]:
    """(value id, the card's scenario id, the card's author) of every current assignment of a confirmed
    card; value ids as assigned, merges not yet resolved."""
    return list(
        (
            await session.exec(
                select(
                    ValueAssignment.canonical_value_id,
                    col(ValuesCardRecord.scenario_id),
                    col(ValuesCardRecord.author_member_id),
                )
                .join(ValuesCardRecord, col(ValuesCardRecord.id) == col(ValueAssignment.card_id))
                .where(
                    ValueAssignment.community_id == community_id,
                    ValuesCardRecord.community_id == community_id,
                    col(ValueAssignment.superseded_at).is_(None),
                    ValuesCardRecord.status == CardStatus.CONFIRMED,
                )
            )
        ).all()
    )


async def close_offer(session: AsyncSession, *, offer_id: int, now: datetime) -> None:
    """Close the offer unless it is closed already (the first close time stays)."""
    await session.exec(
        sa.update(GeneralizationOffer)
        .where(col(GeneralizationOffer.id) == offer_id, col(GeneralizationOffer.closed_at).is_(None))
        .values(closed_at=now)
    )


async def count_picked(session: AsyncSession, *, offer_id: int) -> int:
    return int(
        (
            await session.exec(
                select(func.count())
                .select_from(GeneralizationImpression)
                .where(
                    GeneralizationImpression.offer_id == offer_id, col(GeneralizationImpression.picked_at).is_not(None)
                )
            )
        ).one()
        or 0
    )


async def find_impression(
    session: AsyncSession, *, offer_id: int, community_id: int, value_id: int
) -> GeneralizationImpression | None:
    return (
        await session.exec(
            select(GeneralizationImpression).where(
                GeneralizationImpression.offer_id == offer_id,
                GeneralizationImpression.community_id == community_id,
                GeneralizationImpression.value_id == value_id,
            )
        )
    ).first()


async def pick_impression(session: AsyncSession, *, impression_id: int, offer_id: int, now: datetime) -> bool:
    """Mark the impression picked. Conditional: of two presses only the first counts, and nothing counts
    once the offer is closed. True when this one counted."""
    still_open = sa.exists().where(
        col(GeneralizationOffer.id) == offer_id, col(GeneralizationOffer.closed_at).is_(None)
    )
    result = await session.exec(
        sa.update(GeneralizationImpression)
        .where(
            col(GeneralizationImpression.id) == impression_id,
            col(GeneralizationImpression.picked_at).is_(None),
            still_open,
        )
        .values(picked_at=now)
        .returning(col(GeneralizationImpression.id))
    )
    return result.first() is not None


async def offer_counts(session: AsyncSession, *, community_id: int) -> tuple[int, int]:
    """(offers made, offers closed)."""
    offers, closed = (
        await session.exec(
            select(func.count(), func.count(col(GeneralizationOffer.closed_at))).where(
                GeneralizationOffer.community_id == community_id
            )
        )
    ).one()
    return int(offers or 0), int(closed or 0)


async def impression_counts(session: AsyncSession, *, community_id: int) -> dict[bool, tuple[int, int]]:
    """Whether the value had a card of the member's own scenario → (values shown, values picked)."""
    return {
        bool(own): (int(n), int(picked))
        for own, n, picked in (
            await session.exec(
                select(
                    GeneralizationImpression.own_scenario,
                    func.count(),
                    func.count(col(GeneralizationImpression.picked_at)),
                )
                .where(GeneralizationImpression.community_id == community_id)
                .group_by(col(GeneralizationImpression.own_scenario))
            )
        ).all()
    }
