"""Repository functions for who may vote: members' facts, blocks and the community's rules. Callers own
the session and commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.eligibility import Facts, Rules
from storage.models import EligibilityRule, Member, MemberFacts, table_of
from storage.sql import insert_ignoring_conflict


async def _facts_row(session: AsyncSession, *, member_id: int, now: datetime) -> MemberFacts:
    await insert_ignoring_conflict(session, table_of(MemberFacts), {"member_id": member_id, "updated_at": now})
    row = await session.get(MemberFacts, member_id, populate_existing=True)
    assert row is not None
    return row


async def record_facts(
    session: AsyncSession,
    *,
    member_id: int,
    now: datetime,
    account_created_at: datetime | None = None,
    joined_at: datetime | None = None,
    role_ids: Sequence[str] | None = None,
) -> None:
    """Remember what the platform just told us (None: it didn't say; the earlier value stays)."""
    row = await _facts_row(session, member_id=member_id, now=now)
    if account_created_at is not None:
        row.account_created_at = account_created_at
    if joined_at is not None:
        row.joined_at = joined_at
    if role_ids is not None:
        row.role_ids = sorted(str(r) for r in role_ids)
    row.updated_at = now
    session.add(row)


async def set_blocked(session: AsyncSession, *, member_id: int, blocked: bool, now: datetime) -> bool:
    """Block or unblock; returns whether anything changed."""
    row = await _facts_row(session, member_id=member_id, now=now)
    if (row.blocked_at is not None) == blocked:
        return False
    row.blocked_at = now if blocked else None
    row.updated_at = now
    session.add(row)
    return True


async def facts_by_member(session: AsyncSession, *, community_id: int) -> dict[int, Facts]:
    query = (
        select(MemberFacts)
        .join(Member, col(Member.id) == col(MemberFacts.member_id))
        .where(Member.community_id == community_id)
    )
    return {
        row.member_id: Facts(row.account_created_at, row.joined_at, row.role_ids, row.blocked_at is not None)
        for row in (await session.exec(query)).all()
    }


async def facts_of(session: AsyncSession, *, member_id: int) -> Facts | None:
    """One member's stored facts and block, or None when nothing was ever stored."""
    row = await session.get(MemberFacts, member_id)
    if row is None:
        return None
    return Facts(row.account_created_at, row.joined_at, row.role_ids, row.blocked_at is not None)


async def get_rules(session: AsyncSession, *, community_id: int) -> Rules:
    row = await session.get(EligibilityRule, community_id)
    if row is None:
        return Rules()
    return Rules(
        timedelta(days=row.min_account_age_days), timedelta(days=row.min_membership_days), row.required_role_id
    )


async def rules_for_update(session: AsyncSession, *, community_id: int, now: datetime) -> EligibilityRule:
    await insert_ignoring_conflict(
        session,
        table_of(EligibilityRule),
        {"community_id": community_id, "min_account_age_days": 0, "min_membership_days": 0, "updated_at": now},
    )
    query = select(EligibilityRule).where(EligibilityRule.community_id == community_id).with_for_update()
    return (await session.exec(query)).one()


async def blocked_members(session: AsyncSession, *, community_id: int) -> list[Member]:
    query = (
        select(Member)
        .join(MemberFacts, col(MemberFacts.member_id) == col(Member.id))
        .where(Member.community_id == community_id, col(MemberFacts.blocked_at).is_not(None))
        .order_by(col(Member.id))
    )
    return list((await session.exec(query)).all())


def _day(when: datetime | None) -> datetime | None:
    return when.replace(hour=0, minute=0, second=0, microsecond=0) if when is not None else None


async def coarsen_facts(session: AsyncSession, *, member_id: int, now: datetime) -> None:
    """Keep a forgotten member's facts only to the day (their block stays as it is)."""
    row = await session.get(MemberFacts, member_id)
    if row is None:
        return
    row.account_created_at, row.joined_at = _day(row.account_created_at), _day(row.joined_at)
    row.updated_at = _day(now) or now
    session.add(row)
