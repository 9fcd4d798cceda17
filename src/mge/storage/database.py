"""The one engine factory. ``DATABASE_URL`` picks SQLite (the default, a file with WAL) or PostgreSQL.

Users write plain URLs (``sqlite:///path``, ``postgresql://…``); we derive the async driver URL for the
bot and the sync one for Alembic.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}
_SYNC_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}


class DatabaseURLError(ValueError):
    pass


def database_backend(url: str) -> str:
    try:
        backend = make_url(url).get_backend_name()
    except sa.exc.ArgumentError as error:
        raise DatabaseURLError(f"DATABASE_URL is not a valid URL: {error}") from None
    if backend == "postgres":
        backend = "postgresql"
    if backend not in _ASYNC_DRIVERS:
        raise DatabaseURLError(f"DATABASE_URL must be sqlite:///… or postgresql://…, got {backend!r}")
    return backend


def async_url(url: str) -> sa.URL:
    return make_url(url).set(drivername=_ASYNC_DRIVERS[database_backend(url)])


def sync_url(url: str) -> sa.URL:
    return make_url(url).set(drivername=_SYNC_DRIVERS[database_backend(url)])


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers and a writer work at once; busy_timeout waits out short write locks instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def install_sqlite_pragmas(engine: sa.Engine) -> None:
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)


def ensure_sqlite_directory(url: str) -> None:
    parsed = make_url(url)
    if database_backend(url) == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)


class Database:
    """An async engine and its sessions. ``expire_on_commit=False``: objects stay readable after commit."""

    def __init__(self, url: str, *, echo: bool = False):
        ensure_sqlite_directory(url)
        self.url = url
        self.backend = database_backend(url)
        self.engine: AsyncEngine = create_async_engine(async_url(url), echo=echo, pool_pre_ping=self.backend != "sqlite")
        install_sqlite_pragmas(self.engine.sync_engine)
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
