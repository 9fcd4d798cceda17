"""Reading confirmed values cards (the `mge cards` commands)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.cli.support import match_community
from bot.runtime.settings import Settings
from bot.runtime.wiring import open_database
from storage import communities_repo
from storage import repositories as repo


async def card_rows(settings: Settings, *, community: str | None, statuses: Sequence[str]) -> list[dict]:
    """Cards as plain dicts. ``community`` narrows to the one community it names
    (see ``cli_support.match_community``)."""
    database = open_database(settings)
    try:
        async with database.session() as session:
            community_ids = None
            if community is not None:
                community_ids = [match_community(await communities_repo.list_communities(session), community).id]
            rows = await repo.list_cards(session, community_ids=community_ids, statuses=statuses)
            return [
                {
                    "id": card.id,
                    "title": card.title,
                    "description": card.description,
                    "policies": list(card.policies),
                    "author": member.display_name or member.platform_user_id if member else None,
                    "scenario": scenario.text if scenario else None,
                    "community": f"{row_community.platform}:{row_community.external_id}",
                    "status": card.status,
                    "created": card.created_at.isoformat(),
                    "confirmed": card.confirmed_at.isoformat() if card.confirmed_at else None,
                    "prompt_sha": card.prompt_sha,
                    "model": card.model,
                }
                for card, member, scenario, row_community in rows
            ]
    finally:
        await database.dispose()
