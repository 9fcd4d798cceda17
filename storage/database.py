"""The one engine factory. ``DATABASE_URL`` picks SQLite (the default, a file with WAL) or PostgreSQL.

Users write plain URLs (``sqlite:///path``, ``postgresql://…``); we derive the async driver URL for the
bot and the sync one for Alembic.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.util import await_only
from sqlmodel.ext.asyncio.session import AsyncSession

log = logging.getLogger("mge.database")

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


def sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if database_backend(url) == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return Path(parsed.database).expanduser()
    return None


def ensure_sqlite_directory(url: str) -> None:
    """Create the SQLite file's folder; refuse a file or folder this process can't write, which SQLite
    would open (read-only) and fail on only at the first write, long after start-up."""
    path = sqlite_path(url)
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    if (path.exists() and not os.access(path, os.W_OK)) or not os.access(path.parent, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, "read-only", str(path))


class DatabaseUnavailable(RuntimeError):
    """The database can't be used as configured; the message says why and what to do, in one line."""


@contextmanager
def explained_database_errors(url: str) -> Iterator[None]:
    """Turn the failures an operator meets opening the database (a read-only file or folder, a file that
    is not a database, a server that does not answer) into DatabaseUnavailable with a one-line reason."""
    try:
        yield
    except (sa.exc.DBAPIError, OSError) as error:
        raise DatabaseUnavailable(explain_database_error(url, error)) from error


def explain_database_error(url: str, error: Exception) -> str:
    path = sqlite_path(url)
    if path is not None:
        return _explain_sqlite_error(path, error)
    detail = _first_line(getattr(error, "orig", None) or error)
    where = make_url(url).render_as_string(hide_password=True)
    if "refused" in detail or "could not connect" in detail or "connection failed" in detail:
        return (
            f"cannot reach PostgreSQL at {where} ({detail}): start the server, or fix the host and port in DATABASE_URL"
        )
    return f"cannot use the PostgreSQL database {where}: {detail}"


def _explain_sqlite_error(path: Path, error: Exception) -> str:
    folder = path.parent
    blocker = next((parent for parent in (folder, *folder.parents) if parent.exists()), None)
    if blocker is not None and not blocker.is_dir():
        return (
            f"cannot create the database folder {folder}: {blocker} is a file, not a folder; set "
            "MGE_DATA_DIR (or DATABASE_URL) to a folder path"
        )
    detail = _first_line(getattr(error, "orig", None) or error)
    if "not a database" in detail:
        return (
            f"{path} is not a SQLite database ({detail}): point DATABASE_URL or MGE_DATA_DIR at the "
            "bot's database, or move this file aside so a new database is created"
        )
    if path.exists() and not os.access(path, os.W_OK):
        return f"the database file {path} is read-only: make it writable by the user the bot runs as"
    if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
        return (
            f"the database folder {folder} is read-only (SQLite writes its journal files beside the "
            "database): make it writable by the user the bot runs as"
        )
    if isinstance(error, OSError):
        return (
            f"cannot create the database folder {folder} ({error.strerror or error}); set MGE_DATA_DIR "
            "(or DATABASE_URL) to a folder the bot can write"
        )
    if "locked" in detail:
        return f"the database {path} stayed locked by another process ({detail}): try again when it is done"
    return f"cannot use the SQLite database {path}: {detail}"


def _first_line(error: object) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


#: Statements that only read: everything else starts (or is part of) a write transaction.
_READ_ONLY = ("SELECT", "PRAGMA", "EXPLAIN")


class SQLiteWriteQueue:
    """This process's SQLite write transactions, one at a time, first come first served.

    SQLite has one writer at a time; the others wait in its busy handler, which polls with sleeps and
    serves no order: under load some waiters lose every round and fail with "database is locked" after
    ``busy_timeout`` although each write is short (measured: 1–3 failed DM turns at 30 members answering
    back to back). So a connection takes this queue's lock at its first writing statement (Python's
    sqlite3 begins the transaction there) and gives it back at commit or rollback: writers of this process
    wait in turn here, and SQLite's busy handler is left for other processes (a CLI command, say).

    A writer that waits longer than ``wait_seconds`` goes ahead without the queue (logged), so a
    program that writes through two sessions at once in one task slows down instead of hanging.
    """

    def __init__(self, *, wait_seconds: float = 60.0):
        self.wait_seconds = wait_seconds
        self._locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    def waiting(self) -> int:
        """Writers of this process (this event loop) waiting for their turn now."""
        try:
            lock = self._locks.get(asyncio.get_running_loop())
        except RuntimeError:
            return 0
        return len(lock._waiters or ()) if lock is not None else 0  # noqa: SLF001 — asyncio.Lock keeps no public count

    def install(self, engine: sa.Engine) -> None:
        sa.event.listen(engine, "before_cursor_execute", self._before_execute)
        sa.event.listen(engine, "commit", self._release)
        sa.event.listen(engine, "rollback", self._release)
        # A connection given back or thrown away mid-transaction is rolled back by the pool: release too.
        sa.event.listen(engine.pool, "checkin", self._release_record)
        sa.event.listen(engine.pool, "invalidate", self._release_record)

    def _before_execute(self, conn, _cursor, statement: str, _parameters, _context, _executemany) -> None:
        if "mge_write_lock" in conn.info or statement.lstrip()[:7].upper().startswith(_READ_ONLY):
            return
        lock = await_only(self._acquire())
        if lock is not None:
            conn.info["mge_write_lock"] = lock

    async def _acquire(self) -> asyncio.Lock | None:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            for stale in [other for other in self._locks if other.is_closed()]:
                del self._locks[stale]
            lock = self._locks[loop] = asyncio.Lock()
        try:
            async with asyncio.timeout(self.wait_seconds):
                await lock.acquire()
        except TimeoutError:
            log.warning("waited %.0f s for this process's SQLite write turn; going ahead without it", self.wait_seconds)
            return None
        return lock

    def _release(self, conn) -> None:
        self._release_info(conn.info)

    def _release_record(self, _dbapi_connection, record, *_args) -> None:
        if record is not None:
            self._release_info(record.info)

    @staticmethod
    def _release_info(info: dict) -> None:
        lock = info.pop("mge_write_lock", None)
        if lock is not None and lock.locked():
            lock.release()


#: A pooled PostgreSQL connection unused for longer than this is checked before it is handed out.
IDLE_PING_SECONDS = 10.0


class IdleConnectionPing:
    """Check a pooled server connection before use only when it has sat idle for a while.

    SQLAlchemy's ``pool_pre_ping`` checks on every checkout: a round trip, and a DM turn checks out three times
    (measured: 13.5 ms of the bot's own time per turn with it, 10.4 ms without). A connection in steady use
    was working milliseconds ago; the ones that break unnoticed are those left idle — across a database
    restart, or past a firewall's or server's idle timeout. A failed check raises ``DisconnectionError``, on
    which the pool throws the connection away and takes another (SQLAlchemy's documented pessimistic recipe).
    A connection that breaks while in use fails that one statement, and SQLAlchemy then renews the pool.
    """

    def __init__(self, *, idle_seconds: float = IDLE_PING_SECONDS, clock=time.monotonic):
        self.idle_seconds = idle_seconds
        self._clock = clock

    def install(self, engine: sa.Engine) -> None:
        self._dialect = engine.dialect
        sa.event.listen(engine.pool, "checkin", self._checked_in)
        sa.event.listen(engine.pool, "checkout", self._checking_out)

    def _checked_in(self, _dbapi_connection, record) -> None:
        if record is not None:
            record.info["mge_idle_since"] = self._clock()

    def _checking_out(self, dbapi_connection, record, _proxy) -> None:
        idle_since = record.info.pop("mge_idle_since", None)
        if idle_since is None or self._clock() - idle_since < self.idle_seconds:
            return
        try:
            self._ping(dbapi_connection)
        except Exception as error:
            log.info(
                "a pooled database connection idle for %.0f s is gone (%s); taking a new one",
                self._clock() - idle_since,
                error,
            )
            raise sa.exc.DisconnectionError(str(error)) from error

    def _ping(self, dbapi_connection) -> None:
        # The dialect's own ping, as pool_pre_ping uses: psycopg's leaves no transaction open behind it.
        self._dialect.do_ping(dbapi_connection)


class Database:
    """An async engine and its sessions. ``expire_on_commit=False``: objects stay readable after commit."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        sqlite_write_wait: float = 60.0,
        idle_ping_seconds: float = IDLE_PING_SECONDS,
    ):
        with explained_database_errors(url):
            ensure_sqlite_directory(url)
        self.url = url
        self.backend = database_backend(url)
        self.engine: AsyncEngine = create_async_engine(async_url(url), echo=echo)
        install_sqlite_pragmas(self.engine.sync_engine)
        self.write_queue: SQLiteWriteQueue | None = None
        if self.backend == "sqlite":
            self.write_queue = SQLiteWriteQueue(wait_seconds=sqlite_write_wait)
            self.write_queue.install(self.engine.sync_engine)
        else:
            IdleConnectionPing(idle_seconds=idle_ping_seconds).install(self.engine.sync_engine)
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            yield session

    async def yield_to_writers(self, *, at_most: float = 0.25) -> None:
        """Background work that can wait (applying votes) lets this process's waiting SQLite writers —
        a member's DM turn — go first, for up to ``at_most`` seconds (so it is never starved). Nothing to
        wait for on PostgreSQL, where writers do not queue behind one another."""
        if self.write_queue is None:
            return
        deadline = time.monotonic() + at_most
        while self.write_queue.waiting() and time.monotonic() < deadline:
            await asyncio.sleep(0.002)

    async def dispose(self) -> None:
        await self.engine.dispose()
