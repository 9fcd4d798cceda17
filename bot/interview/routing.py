"""Which community a direct message belongs to.

A Slack DM carries its workspace; a Discord DM carries no guild, so the bot remembers the community in
which a member last used `/mge join` (or the only guild it shares with them).
"""

from __future__ import annotations

from datetime import datetime

from core.messages import CommunityRef
from storage import communities_repo
from storage.database import Database


class DmRouter:
    def __init__(self, database: Database):
        self._db = database

    async def remember(self, *, user_id: str, community: CommunityRef, now: datetime) -> None:
        async with self._db.session() as session:
            row = await communities_repo.get_or_create_community(
                session, platform=community.platform, external_id=community.external_id, name=community.name, now=now
            )
            await communities_repo.set_dm_route(
                session, platform=community.platform, platform_user_id=user_id, community_id=row.id, now=now
            )
            await session.commit()

    async def community_for(self, *, platform: str, user_id: str) -> CommunityRef | None:
        async with self._db.session() as session:
            community = await communities_repo.dm_route_community(session, platform=platform, platform_user_id=user_id)
            if community is None:
                return None
            return CommunityRef(community.platform, community.external_id, community.name)
