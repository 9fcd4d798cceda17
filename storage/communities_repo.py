"""Communities, their members, the community of each member's DMs, and the inbound events already handled.

Small keyword-only functions over the tables; callers own the session and decide when to commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.cards import CardStatus
from core.messages import CommunityRef
from storage.database import Database
from storage.models import Community, DmRoute, InboundEvent, Member, ValuesCardRecord, table_of
from storage.sql import insert_ignoring_conflict, insert_or_get


def _community_query(platform: str, external_id: str):
    return select(Community).where(Community.platform == platform, Community.external_id == external_id)


async def find_community(session: AsyncSession, *, platform: str, external_id: str) -> Community | None:
    return (await session.exec(_community_query(platform, external_id))).first()


async def get_or_create_community(
    session: AsyncSession, *, platform: str, external_id: str, name: str, now: datetime
) -> Community:
    found = await find_community(session, platform=platform, external_id=external_id)
    if found:
        if name and found.name != name:
            found.name = name
        return found
    community = Community(platform=platform, external_id=external_id, name=name, created_at=now)
    return await insert_or_get(session, community, _community_query(platform, external_id))


async def community_id_of(database: Database, community: CommunityRef) -> int | None:
    """The stored id of a platform community; None when the bot has never stored anything for it.
    Looking creates nothing (see :func:`ensure_community`)."""
    async with database.session() as session:
        row = await find_community(session, platform=community.platform, external_id=community.external_id)
        return row.id if row is not None else None


async def ensure_community(database: Database, community: CommunityRef, *, now: datetime) -> int:
    """The community's id, recording the community (committed) if this is the first we hear of it."""
    async with database.session() as session:
        row = await get_or_create_community(
            session, platform=community.platform, external_id=community.external_id, name=community.name, now=now
        )
        await session.commit()
        assert row.id is not None
        return row.id


# The statements of every DM turn are built once, with bound parameters: building a statement (and its
# cache key) costs more than running it on SQLite, and a turn runs about ten of them.
_FIND_MEMBER = (
    select(Community, Member)
    .join(Member, col(Member.community_id) == col(Community.id))
    .where(
        Community.platform == sa.bindparam("platform"),
        Community.external_id == sa.bindparam("external_id"),
        Member.platform_user_id == sa.bindparam("platform_user_id"),
    )
)


async def find_member(
    session: AsyncSession, *, platform: str, external_id: str, platform_user_id: str
) -> tuple[Community, Member] | None:
    """A known member of a known community, in one query (the common case of every message)."""
    params = {"platform": platform, "external_id": external_id, "platform_user_id": platform_user_id}
    found = (await session.exec(_FIND_MEMBER, params=params)).first()
    return (found[0], found[1]) if found else None


async def get_or_create_member(
    session: AsyncSession, *, community_id: int, platform_user_id: str, display_name: str, now: datetime
) -> Member:
    query = select(Member).where(Member.community_id == community_id, Member.platform_user_id == platform_user_id)
    found = (await session.exec(query)).first()
    if found:
        if display_name and found.display_name != display_name:
            found.display_name = display_name
        return found
    member = Member(
        community_id=community_id, platform_user_id=platform_user_id, display_name=display_name, created_at=now
    )
    return await insert_or_get(session, member, query)


async def list_communities(session: AsyncSession) -> Sequence[Community]:
    return (await session.exec(select(Community).order_by(col(Community.id)))).all()


async def communities_with_counts(session: AsyncSession) -> list[tuple[Community, int, int]]:
    """(community, members who did not erase their data, confirmed cards) of every community, by id."""
    members = (
        select(Member.community_id, sa.func.count().label("n"))
        .where(col(Member.forgotten_at).is_(None))
        .group_by(col(Member.community_id))
        .subquery()
    )
    cards = (
        select(ValuesCardRecord.community_id, sa.func.count().label("n"))
        .where(ValuesCardRecord.status == CardStatus.CONFIRMED)
        .group_by(col(ValuesCardRecord.community_id))
        .subquery()
    )
    query = (
        select(Community, members.c.n, cards.c.n)
        .outerjoin(members, members.c.community_id == Community.id)
        .outerjoin(cards, cards.c.community_id == Community.id)
        .order_by(col(Community.id))
    )
    return [(c, m or 0, n or 0) for c, m, n in (await session.exec(query)).all()]


# --- DM routes -----------------------------------------------------------------------------------


async def set_dm_route(
    session: AsyncSession, *, platform: str, platform_user_id: str, community_id: int, now: datetime
) -> None:
    """Remember ``community_id`` as the community of the member's DMs on ``platform``."""
    route = await session.get(DmRoute, (platform, platform_user_id))
    if route is None:
        session.add(
            DmRoute(platform=platform, platform_user_id=platform_user_id, community_id=community_id, updated_at=now)
        )
    else:
        route.community_id = community_id
        route.updated_at = now


async def dm_route_community(session: AsyncSession, *, platform: str, platform_user_id: str) -> Community | None:
    """The community remembered for the member's DMs on ``platform``, or None."""
    route = await session.get(DmRoute, (platform, platform_user_id))
    if route is None:
        return None
    return await session.get(Community, route.community_id)


# --- inbound events ------------------------------------------------------------------------------


async def claim_event(session: AsyncSession, *, community_id: int, event_id: str, now: datetime) -> bool:
    """Record that ``event_id`` is being handled; False when it was handled before (a redelivery)."""
    values = {"community_id": community_id, "event_id": event_id[:128], "received_at": now}
    return await insert_ignoring_conflict(session, table_of(InboundEvent), values)
