"""INSERT … ON CONFLICT on either backend, and telling which backend a session speaks to."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

#: SQLite caps bound parameters per statement; lists of ids are sent in chunks of this size.
CHUNK = 500


async def insert_or_get(session: AsyncSession, row, query):
    """Insert ``row`` unless another process inserted the same unique key first; return the stored row."""
    table = type(row).__table__
    values = {c.name: getattr(row, c.name) for c in table.columns if c.name != "id"}
    await insert_ignoring_conflict(session, table, values)
    return (await session.exec(query)).one()


async def insert_ignoring_conflict(session: AsyncSession, table: sa.Table, values: dict) -> bool:
    """INSERT … ON CONFLICT DO NOTHING on SQLite and PostgreSQL; True when the row was inserted."""
    statement = _insert_ignoring_conflict(dialect_of(session), table)
    result = await session.exec(statement, params=values)
    return result.first() is not None


def dialect_of(session: AsyncSession) -> str:
    """The session's database: ``sqlite`` or ``postgresql``."""
    return session.get_bind().dialect.name


def dialect_insert(dialect: str) -> Callable[[sa.Table], postgresql.Insert | sqlite.Insert]:
    """The ``insert`` with ON CONFLICT clauses of the dialect (``postgresql``, or else SQLite)."""
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert if dialect == "postgresql" else sqlite.insert


@functools.cache
def _insert_ignoring_conflict(dialect: str, table: sa.Table):
    # RETURNING tells reliably whether a row went in (psycopg's async rowcount here is -1).
    return dialect_insert(dialect)(table).on_conflict_do_nothing().returning(*table.primary_key.columns)


def chunks(ids: Iterable[Any]) -> list[list[Any]]:
    """``ids`` without repeats, in lists short enough for one ``IN (…)`` on every backend."""
    items = list(dict.fromkeys(ids))
    return [items[start : start + CHUNK] for start in range(0, len(items), CHUNK)]
