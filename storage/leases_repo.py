"""Statements of who may do what right now, so they take a connection, not a session.

Member leases (``bot.runtime.leases``): one row per member key, taken, renewed and given back by its
holder, each statement on its own autocommit connection. Built once, with bound parameters: every DM turn
on PostgreSQL takes and gives back a lease.

The scheduler's leader lock (``bot.runtime.scheduler.Leadership``): a PostgreSQL session-level advisory
lock on a plain synchronous connection kept open for the process lifetime."""

from __future__ import annotations

import functools
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import MemberLease, table_of
from storage.sql import dialect_insert

_LEASES = table_of(MemberLease)


@functools.cache
def _take_lease(backend: str) -> sa.Insert:
    statement = dialect_insert(backend)(_LEASES).values(
        key=sa.bindparam("lease_key"), holder=sa.bindparam("lease_holder"), expires_at=sa.bindparam("lease_expires")
    )
    return statement.on_conflict_do_update(
        index_elements=[_LEASES.c.key],
        set_={"holder": statement.excluded.holder, "expires_at": statement.excluded.expires_at},
        where=sa.or_(_LEASES.c.expires_at < sa.bindparam("now"), _LEASES.c.holder == statement.excluded.holder),
    ).returning(_LEASES.c.key)


_RENEW = (
    sa.update(_LEASES)
    .where(_LEASES.c.key == sa.bindparam("lease_key"), _LEASES.c.holder == sa.bindparam("lease_holder"))
    .values(expires_at=sa.bindparam("lease_expires"))
)
_RELEASE = sa.delete(_LEASES).where(
    _LEASES.c.key == sa.bindparam("lease_key"), _LEASES.c.holder == sa.bindparam("lease_holder")
)


async def take_lease(
    connection: AsyncConnection, *, backend: str, key: str, holder: str, now: datetime, expires_at: datetime
) -> bool:
    """Take the lease if it is free, expired, or already ``holder``'s: one statement. True when taken."""
    taken = await connection.execute(
        _take_lease(backend), {"lease_key": key, "lease_holder": holder, "now": now, "lease_expires": expires_at}
    )
    return taken.first() is not None


async def renew_lease(connection: AsyncConnection, *, key: str, holder: str, expires_at: datetime) -> None:
    await connection.execute(_RENEW, {"lease_key": key, "lease_holder": holder, "lease_expires": expires_at})


async def release_lease(connection: AsyncConnection, *, key: str, holder: str) -> None:
    await connection.execute(_RELEASE, {"lease_key": key, "lease_holder": holder})


# --- the scheduler's leader lock (PostgreSQL) --------------------------------------------------------


def try_advisory_lock(connection: sa.Connection, *, key: int) -> bool:
    """Take the session-level advisory lock ``key`` unless another session holds it; True when taken."""
    return bool(connection.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar())


def advisory_unlock(connection: sa.Connection, *, key: int) -> None:
    connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})


def ping(connection: sa.Connection) -> None:
    """Raises ``DBAPIError`` when the connection is gone (and a session-level lock with it)."""
    connection.execute(sa.text("SELECT 1"))
