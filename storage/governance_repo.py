"""Repository functions for what moderators set and do: community schedules and the audit log.
Callers own the session and commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Community, CommunitySchedule, ModerationAction, table_of
from storage.sql import insert_ignoring_conflict

#: The columns a moderator may change (everything but the key and the bookkeeping).
SCHEDULE_FIELDS = (
    "poll_channel_id",
    "poll_interval_minutes",
    "polls_per_round",
    "poll_duration_hours",
    "polls_paused",
    "digest_channel_id",
    "digest_day",
    "digest_hour",
    "digest_minute",
    "digest_timezone",
    "digest_paused",
    "poll_mode",
)


def schedule_fields(row: CommunitySchedule) -> dict[str, Any]:
    """The settable fields of a schedule row, for the audit log's before/after."""
    return {name: getattr(row, name) for name in SCHEDULE_FIELDS}


async def schedule_for_update(session: AsyncSession, *, community_id: int, now: datetime) -> CommunitySchedule:
    """The community's schedule row, created with the defaults if missing, locked for this transaction
    on PostgreSQL (two moderators changing it at once apply one after the other)."""
    await insert_ignoring_conflict(
        session,
        table_of(CommunitySchedule),
        {
            "community_id": community_id,
            "poll_interval_minutes": 1440,
            "polls_per_round": 1,
            "polls_paused": False,
            "digest_day": "mon",
            "digest_hour": 9,
            "digest_minute": 0,
            "digest_timezone": "UTC",
            "digest_paused": False,
            "updated_at": now,
        },
    )
    query = select(CommunitySchedule).where(CommunitySchedule.community_id == community_id).with_for_update()
    return (await session.exec(query)).one()


async def get_schedule(session: AsyncSession, *, community_id: int) -> CommunitySchedule | None:
    return await session.get(CommunitySchedule, community_id)


async def schedules_with_platform(session: AsyncSession) -> Sequence[tuple[CommunitySchedule, str]]:
    """Every community's schedule with the community's platform, in community order."""
    query = (
        select(CommunitySchedule, Community.platform)
        .join(Community, col(Community.id) == col(CommunitySchedule.community_id))
        .order_by(col(CommunitySchedule.community_id))
    )
    return [(row, platform) for row, platform in (await session.exec(query)).all()]


async def record_action(
    session: AsyncSession,
    *,
    community_id: int,
    actor: str,
    action: str,
    now: datetime,
    target: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> ModerationAction:
    row = ModerationAction(
        community_id=community_id,
        actor=actor[:80],
        action=action[:60],
        target=target[:200],
        before=before,
        after=after,
        at=now,
    )
    session.add(row)
    return row


async def list_actions(session: AsyncSession, *, community_id: int, limit: int = 20) -> Sequence[ModerationAction]:
    """The community's latest audit log entries, newest first."""
    query = (
        select(ModerationAction)
        .where(ModerationAction.community_id == community_id)
        .order_by(col(ModerationAction.at).desc(), col(ModerationAction.id).desc())
        .limit(limit)
    )
    return (await session.exec(query)).all()
