"""Which transition story to put to a vote next (docs/method.md §7).

The story that most needs votes: fewest votes so far (over all its earlier polls), oldest first on a
tie, so every edge hypothesis gets a fair share of attention before any gets a second round.

A story is eligible when it is active, both its values are active (a hidden, merged or emptied value
must not be voted on: its edges now live elsewhere or were removed by a moderator), and neither it nor
its reverse (same context, values swapped) is in an open poll — two simultaneous polls asking "A → B?"
and "B → A?" would split the same voters and read as contradicting each other.

One query, scoped to one community; no platform, no clock but the ``now`` given.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from core.messages import CommunityRef
from storage import polls_repo
from storage.communities_repo import community_id_of
from storage.database import Database


async def next_story(
    database: Database, *, community_id: int, now: datetime, exclude: Collection[int] = ()
) -> int | None:
    """The id of the story in ``community_id`` that most needs votes, or None when none is eligible.

    ``exclude``: stories being posted right now but not yet recorded (a caller posting in the background);
    they count as open polls, so neither they nor their reverses are chosen."""
    async with database.session() as session:
        return await polls_repo.story_needing_votes(session, community_id=community_id, now=now, exclude=exclude)


async def next_story_for(
    database: Database, community: CommunityRef, *, now: datetime, exclude: Collection[int] = ()
) -> int | None:
    """``next_story`` for a platform community (what the adapters know)."""
    community_id = await community_id_of(database, community)
    if community_id is None:
        return None
    return await next_story(database, community_id=community_id, now=now, exclude=exclude)
