"""SQL for the reaction inbox (``ReactionEvent``) and the reactions votes are derived from
(``PollReaction``). Set-at-a-time: each function reads or writes the rows of a whole batch of events in
one statement, on a Core connection the caller owns (and commits), because a burst of thousands of
reactions a second cannot afford a statement per event.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import Community, Member, MemberFacts, Poll, PollReaction, ReactionEvent, Vote, table_of
from storage.sql import dialect_insert

EVENTS = table_of(ReactionEvent)
REACTIONS = table_of(PollReaction)
VOTES = table_of(Vote)
POLLS = table_of(Poll)
MEMBERS = table_of(Member)
COMMUNITIES = table_of(Community)
FACTS = table_of(MemberFacts)

#: Bound parameters per ``IN (…)`` list: well under SQLite's 32,766 and PostgreSQL's 65,535 limits.
_CHUNK = 900

# Any constant shared by every process of one deployment: the advisory lock that makes appliers take
# turns on PostgreSQL (``pg_advisory_xact_lock``, released at commit or rollback).
_APPLY_LOCK_KEY = 0x6D6765_766F7465  # "mge" "vote"


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


# --- recording -------------------------------------------------------------------------------------


@functools.cache
def _record_statement(dialect: str):
    return dialect_insert(dialect)(EVENTS).on_conflict_do_nothing().returning(EVENTS.c.event_key)


async def record_events(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert the events; return the ``event_key`` of those inserted (the others were there already:
    redeliveries of events recorded before)."""
    if not rows:
        return set()
    result = await conn.execute(_record_statement(conn.dialect.name), list(rows))
    return {row[0] for row in result.all()}


# --- applying --------------------------------------------------------------------------------------


async def take_apply_turn(conn: AsyncConnection) -> None:
    """Serialise appliers across processes until this transaction ends, and make the reads that follow
    see the latest commits. PostgreSQL: a transaction-level advisory lock. SQLite: a write that changes
    nothing takes the database's write lock first (a write transaction that starts with reads can fail
    with SQLITE_BUSY_SNAPSHOT instead of waiting)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_APPLY_LOCK_KEY)))
    else:
        await conn.execute(sa.update(EVENTS).where(EVENTS.c.id == -1).values(id=EVENTS.c.id))


_PENDING = sa.select(EVENTS).where(EVENTS.c.applied_at.is_(None)).order_by(EVENTS.c.id).limit(sa.bindparam("limit"))


async def pending_events(conn: AsyncConnection, *, limit: int) -> list[sa.Row]:
    return list((await conn.execute(_PENDING, {"limit": limit})).all())


async def applied_outcomes(conn: AsyncConnection, keys: Sequence[str]) -> dict[str, str]:
    """Event key → outcome of those events that were applied (by any process)."""
    query = sa.select(EVENTS.c.event_key, EVENTS.c.outcome).where(
        EVENTS.c.event_key.in_(keys), EVENTS.c.applied_at.is_not(None)
    )
    return {key: outcome for key, outcome in (await conn.execute(query)).all()}


async def has_pending(conn: AsyncConnection) -> bool:
    query = sa.select(EVENTS.c.id).where(EVENTS.c.applied_at.is_(None)).limit(1)
    return (await conn.execute(query)).first() is not None


async def communities_by_key(conn: AsyncConnection, keys: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """(platform, external id) → community id, for those that exist."""
    found: dict[tuple[str, str], int] = {}
    ids = sorted({external for _, external in keys})
    for chunk in _chunks(ids):
        query = sa.select(COMMUNITIES.c.id, COMMUNITIES.c.platform, COMMUNITIES.c.external_id).where(
            COMMUNITIES.c.external_id.in_(chunk)
        )
        for row in (await conn.execute(query)).all():
            if (row.platform, row.external_id) in keys:
                found[(row.platform, row.external_id)] = row.id
    return found


async def polls_by_message(
    conn: AsyncConnection, keys: set[tuple[str, str, str]]
) -> dict[tuple[str, str, str], sa.Row]:
    """(platform, channel id, message id) → the poll row, for messages that are polls."""
    found: dict[tuple[str, str, str], sa.Row] = {}
    messages = sorted({message for _, _, message in keys})
    for chunk in _chunks(messages):
        for row in (await conn.execute(sa.select(POLLS).where(POLLS.c.message_id.in_(chunk)))).all():
            key = (row.platform, row.channel_id, row.message_id)
            if key in keys:
                found[key] = row
    return found


async def members_by_user(conn: AsyncConnection, *, community_id: int, user_ids: Sequence[str]) -> dict[str, sa.Row]:
    found: dict[str, sa.Row] = {}
    for chunk in _chunks(sorted(set(user_ids))):
        query = sa.select(MEMBERS.c.id, MEMBERS.c.platform_user_id, MEMBERS.c.display_name).where(
            MEMBERS.c.community_id == community_id, MEMBERS.c.platform_user_id.in_(chunk)
        )
        for row in (await conn.execute(query)).all():
            found[row.platform_user_id] = row
    return found


@functools.cache
def _insert_members(dialect: str):
    return dialect_insert(dialect)(MEMBERS).on_conflict_do_nothing()


async def ensure_members(
    conn: AsyncConnection, *, community_id: int, people: dict[str, tuple[str, datetime]]
) -> dict[str, int]:
    """Member ids for ``people`` (platform user id → (display name, first seen)), creating missing
    members and refreshing display names the platform now reports differently."""
    existing = await members_by_user(conn, community_id=community_id, user_ids=list(people))
    missing: list[dict[str, Any]] = [
        {"community_id": community_id, "platform_user_id": user, "display_name": name[:200], "created_at": when}
        for user, (name, when) in people.items()
        if user not in existing
    ]
    if missing:
        await conn.execute(_insert_members(conn.dialect.name), missing)
        existing.update(
            await members_by_user(conn, community_id=community_id, user_ids=[m["platform_user_id"] for m in missing])
        )
    renamed = [
        {"member_id": existing[user].id, "name": name[:200]}
        for user, (name, _) in people.items()
        if name and existing[user].display_name != name[:200]
    ]
    if renamed:
        await conn.execute(
            sa.update(MEMBERS)
            .where(MEMBERS.c.id == sa.bindparam("member_id"))
            .values(display_name=sa.bindparam("name")),
            renamed,
        )
    return {user: existing[user].id for user in people}


@functools.cache
def _upsert_facts(dialect: str):
    insert = dialect_insert(dialect)(FACTS)
    # What the platform did not say this time (None) keeps the value it said before.
    return insert.on_conflict_do_update(
        index_elements=[FACTS.c.member_id],
        set_={
            "account_created_at": sa.func.coalesce(insert.excluded.account_created_at, FACTS.c.account_created_at),
            "joined_at": sa.func.coalesce(insert.excluded.joined_at, FACTS.c.joined_at),
            "role_ids": sa.case((insert.excluded.role_ids.is_(None), FACTS.c.role_ids), else_=insert.excluded.role_ids),
            "updated_at": insert.excluded.updated_at,
        },
    )


async def record_member_facts(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Upsert eligibility facts: rows of member_id, account_created_at, joined_at, role_ids, updated_at."""
    if rows:
        await conn.execute(_upsert_facts(conn.dialect.name), list(rows))


async def reactions_of(conn: AsyncConnection, pairs: set[tuple[int, str]]) -> dict[tuple[int, str], dict[str, list]]:
    """(poll id, voter key) → {choice: [present, event_order]} for the pairs given."""
    found: dict[tuple[int, str], dict[str, list]] = {}
    keys = sorted({voter for _, voter in pairs})
    polls = sorted({poll for poll, _ in pairs})
    for chunk in _chunks(keys):
        query = sa.select(REACTIONS).where(REACTIONS.c.voter_key.in_(chunk), REACTIONS.c.poll_id.in_(polls))
        for row in (await conn.execute(query)).all():
            if (row.poll_id, row.voter_key) in pairs:
                found.setdefault((row.poll_id, row.voter_key), {})[row.choice] = [row.present, row.event_order]
    return found


async def votes_of(conn: AsyncConnection, pairs: set[tuple[int, str]]) -> dict[tuple[int, str], sa.Row]:
    """(poll id, voter key) → the vote row, for the pairs that have one."""
    found: dict[tuple[int, str], sa.Row] = {}
    keys = sorted({voter for _, voter in pairs})
    polls = sorted({poll for poll, _ in pairs})
    for chunk in _chunks(keys):
        query = sa.select(VOTES.c.id, VOTES.c.poll_id, VOTES.c.voter_key, VOTES.c.choice).where(
            VOTES.c.voter_key.in_(chunk), VOTES.c.poll_id.in_(polls)
        )
        for row in (await conn.execute(query)).all():
            if (row.poll_id, row.voter_key) in pairs:
                found[(row.poll_id, row.voter_key)] = row
    return found


@functools.cache
def _upsert_reactions(dialect: str):
    insert = dialect_insert(dialect)(REACTIONS)
    return insert.on_conflict_do_update(
        index_elements=[REACTIONS.c.poll_id, REACTIONS.c.voter_key, REACTIONS.c.choice],
        set_={"present": insert.excluded.present, "event_order": insert.excluded.event_order},
    )


async def save_reactions(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Upsert rows of poll_id, voter_key, choice, present, event_order."""
    if rows:
        await conn.execute(_upsert_reactions(conn.dialect.name), list(rows))


_UPDATE_VOTE = (
    sa.update(VOTES)
    .where(VOTES.c.id == sa.bindparam("vote_id"))
    # An explanation given for the earlier choice does not explain this one.
    .values(choice=sa.bindparam("new_choice"), why=None, updated_at=sa.bindparam("when"))
)


async def save_votes(
    conn: AsyncConnection,
    *,
    inserted: Sequence[dict[str, Any]],
    updated: Sequence[dict[str, Any]],
    deleted: Sequence[int],
) -> None:
    """Insert new votes (full rows), change the choice of others (vote_id, new_choice, when), delete
    retracted ones (by id)."""
    if inserted:
        await conn.execute(sa.insert(VOTES), list(inserted))
    if updated:
        await conn.execute(_UPDATE_VOTE, list(updated))
    for chunk in _chunks(list(deleted)):
        await conn.execute(sa.delete(VOTES).where(VOTES.c.id.in_(chunk)))


_MARK_APPLIED = (
    sa.update(EVENTS)
    .where(EVENTS.c.id == sa.bindparam("event_id"))
    .values(applied_at=sa.bindparam("applied"), outcome=sa.bindparam("result"))
)


async def mark_applied(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Rows of event_id, applied, result."""
    if rows:
        await conn.execute(_MARK_APPLIED, list(rows))


async def count_choices(conn: AsyncConnection, *, poll_id: int) -> dict[str, int]:
    query = sa.select(VOTES.c.choice, sa.func.count()).where(VOTES.c.poll_id == poll_id).group_by(VOTES.c.choice)
    return {choice: count for choice, count in (await conn.execute(query)).all()}


async def store_tallies(conn: AsyncConnection, *, poll_id: int, tallies: dict[str, int]) -> None:
    await conn.execute(sa.update(POLLS).where(POLLS.c.id == poll_id).values(tallies=tallies))


# --- upkeep and privacy ----------------------------------------------------------------------------


async def prune_applied(conn: AsyncConnection, *, before: datetime) -> int:
    """Delete events applied before ``before`` (the redeliveries they guard against come within hours)."""
    result = await conn.execute(sa.delete(EVENTS).where(EVENTS.c.applied_at.is_not(None), EVENTS.c.applied_at < before))
    return result.rowcount or 0
