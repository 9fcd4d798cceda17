"""The dedup queue (cards that matched no value when placed) and value checks (members asked by DM whether a
value still represents them). Keyword-only functions; callers own the session and commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Community, DedupQueueEntry, Member, ValueCheck, ValuesCardRecord, table_of
from storage.sql import insert_ignoring_conflict

# --- the queue -----------------------------------------------------------------------------------


async def queue_card(session: AsyncSession, *, card: ValuesCardRecord, now: datetime) -> None:
    """Queue the card for the next convergence pass (once: queuing it again changes nothing)."""
    await insert_ignoring_conflict(
        session,
        table_of(DedupQueueEntry),
        {"card_id": card.id, "community_id": card.community_id, "queued_at": now},
    )


async def queued_card_ids(session: AsyncSession, *, community_id: int) -> list[int]:
    query = (
        select(DedupQueueEntry.card_id)
        .where(DedupQueueEntry.community_id == community_id)
        .order_by(col(DedupQueueEntry.card_id))
    )
    return list((await session.exec(query)).all())


async def unqueue_cards(session: AsyncSession, *, card_ids: Sequence[int]) -> None:
    if card_ids:
        await session.exec(sa.delete(DedupQueueEntry).where(col(DedupQueueEntry.card_id).in_(list(card_ids))))


# --- value checks --------------------------------------------------------------------------------


async def add_value_check(
    session: AsyncSession, *, card: ValuesCardRecord, value_id: int, change: str, now: datetime
) -> bool:
    """Note that the card's author is to be asked about ``value_id`` after ``change`` (once per card and
    change; a card with no author — erased — is not asked). A check of the card not sent yet is replaced:
    the member is asked once, about where the card is now. True when a check was added."""
    if card.author_member_id is None:
        return False
    await drop_unsent_value_checks(session, card_id=card.id, keep_change=change)
    return await insert_ignoring_conflict(
        session,
        table_of(ValueCheck),
        {
            "community_id": card.community_id,
            "member_id": card.author_member_id,
            "card_id": card.id,
            "value_id": value_id,
            "change": change[:64],
            "created_at": now,
        },
    )


async def drop_unsent_value_checks(session: AsyncSession, *, card_id: int, keep_change: str | None = None) -> None:
    """Forget the card's checks not sent yet (but the one for ``keep_change``): the card moved on."""
    query = sa.delete(ValueCheck).where(col(ValueCheck.card_id) == card_id, col(ValueCheck.sent_at).is_(None))
    if keep_change is not None:
        query = query.where(col(ValueCheck.change) != keep_change[:64])
    await session.exec(query)


async def unsent_value_checks(session: AsyncSession, *, community_id: int) -> list[tuple[ValueCheck, str]]:
    """Checks not sent yet, with the member's platform user id (members who erased their data left out)."""
    query = (
        select(ValueCheck, Member.platform_user_id)
        .join(Member, col(Member.id) == ValueCheck.member_id)
        .where(
            ValueCheck.community_id == community_id,
            col(ValueCheck.sent_at).is_(None),
            col(Member.forgotten_at).is_(None),
        )
        .order_by(col(ValueCheck.id))
    )
    return [(check, user) for check, user in (await session.exec(query)).all()]


async def claim_value_check(session: AsyncSession, *, check_id: int, now: datetime) -> bool:
    """Mark the check sent, if no one did yet (True: this caller sends it)."""
    result = await session.exec(
        sa.update(ValueCheck)
        .where(col(ValueCheck.id) == check_id, col(ValueCheck.sent_at).is_(None))
        .values(sent_at=now)
        .returning(col(ValueCheck.id))
    )
    # RETURNING, not rowcount: psycopg's async rowcount is -1 here.
    return result.first() is not None


async def release_value_check(session: AsyncSession, *, check_id: int) -> None:
    """Give a claim back after a DM failed, so the next pass tries again."""
    await session.exec(sa.update(ValueCheck).where(col(ValueCheck.id) == check_id).values(sent_at=None))


async def answer_value_check(session: AsyncSession, *, check_id: int, answer: str, now: datetime) -> bool:
    """Store the member's answer, once (True: this press was the first)."""
    result = await session.exec(
        sa.update(ValueCheck)
        .where(col(ValueCheck.id) == check_id, col(ValueCheck.answer).is_(None))
        .values(answer=answer, answered_at=now)
        .returning(col(ValueCheck.id))
    )
    return result.first() is not None


async def value_check_member(session: AsyncSession, *, check_id: int) -> tuple[ValueCheck, Member, Community] | None:
    query = (
        select(ValueCheck, Member, Community)
        .join(Member, col(Member.id) == ValueCheck.member_id)
        .join(Community, col(Community.id) == ValueCheck.community_id)
        .where(ValueCheck.id == check_id)
    )
    row = (await session.exec(query)).first()
    return None if row is None else (row[0], row[1], row[2])


async def value_check_counts(session: AsyncSession, *, community_id: int) -> dict[str, int]:
    """Sent checks by answer (``""``: not answered)."""
    query = (
        select(ValueCheck.answer, func.count())
        .where(ValueCheck.community_id == community_id, col(ValueCheck.sent_at).is_not(None))
        .group_by(col(ValueCheck.answer))
    )
    return {answer or "": count for answer, count in (await session.exec(query)).all()}
