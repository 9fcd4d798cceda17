"""SQLite write transactions of one process queue in order (``storage.database.SQLiteWriteQueue``)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from storage.database import Database
from storage.models import Community

NOW = datetime(2026, 11, 23, tzinfo=UTC)


@pytest.fixture
async def sqlite_db(sqlite_url):
    db = Database(sqlite_url)
    yield db
    await db.dispose()


async def write(db: Database, name: str, *, hold: float, log: list[str], open_writes: set | None = None) -> None:
    """Insert a community, keep the transaction open ``hold`` seconds (awaiting, as a use case does), commit.
    ``open_writes``: names of transactions between their first write and their commit, checked empty."""
    async with db.session() as session:
        session.add(Community(platform="test", external_id=name, name=name, created_at=NOW))
        await session.flush()
        log.append(f"{name} writing")
        if open_writes is not None:
            assert not open_writes, f"{name} wrote while {open_writes} held the write transaction"
            open_writes.add(name)
        await asyncio.sleep(hold)
        if open_writes is not None:
            open_writes.discard(name)
        await session.commit()
        log.append(f"{name} done")


async def test_writers_take_turns_in_arrival_order(sqlite_db):
    log: list[str] = []
    open_writes: set[str] = set()
    tasks = []
    for name in ("a", "b", "c"):
        tasks.append(asyncio.ensure_future(write(sqlite_db, name, hold=0.05, log=log, open_writes=open_writes)))
        await asyncio.sleep(0.01)  # b and c arrive while a holds the write lock
    await asyncio.gather(*tasks)
    # (the next writer may start while the previous one's COMMIT returns, so "done" lines can interleave)
    assert [line for line in log if line.endswith("writing")] == ["a writing", "b writing", "c writing"]


async def test_readers_are_not_queued_behind_a_writer(sqlite_db):
    log: list[str] = []
    writer = asyncio.ensure_future(write(sqlite_db, "slow", hold=0.3, log=log))
    await asyncio.sleep(0.05)
    async with sqlite_db.session() as session:
        rows = (await session.exec(select(Community))).all()  # WAL: reads the last committed state at once
    assert rows == [] and log == ["slow writing"]
    await writer


async def test_many_writers_holding_longer_than_busy_timeout_in_total_all_succeed(sqlite_db):
    # 40 writers x 0.15 s = 6 s of write transactions, beyond SQLite's busy_timeout of 5 s: without the
    # queue, writers polling in SQLite's busy handler starve and fail with "database is locked".
    log: list[str] = []
    open_writes: set[str] = set()
    await asyncio.gather(*(write(sqlite_db, f"w{i}", hold=0.15, log=log, open_writes=open_writes) for i in range(40)))
    async with sqlite_db.session() as session:
        assert len((await session.exec(select(Community))).all()) == 40


async def test_a_rollback_or_an_abandoned_session_gives_the_turn_back(sqlite_db):
    async with sqlite_db.session() as session:
        session.add(Community(platform="test", external_id="x", name="x", created_at=NOW))
        await session.flush()
        await session.rollback()
    async with sqlite_db.session() as session:
        session.add(Community(platform="test", external_id="y", name="y", created_at=NOW))
        await session.flush()
        # closed without commit or rollback: the pool rolls the connection back on check-in
    log: list[str] = []
    await asyncio.wait_for(write(sqlite_db, "z", hold=0, log=log), timeout=3)
    assert log == ["z writing", "z done"]


async def test_a_writer_waiting_too_long_goes_ahead_and_sqlite_decides(sqlite_url, caplog):
    # The way out of "a task holding a write transaction writes through a second session": after
    # ``wait_seconds`` the writer goes ahead and SQLite's busy handler decides, as without the queue.
    db = Database(sqlite_url, sqlite_write_wait=0.1)
    try:
        log: list[str] = []
        holder = asyncio.ensure_future(write(db, "holder", hold=0.5, log=log))
        await asyncio.sleep(0.05)
        with caplog.at_level(logging.WARNING, logger="mge.database"):
            await write(db, "late", hold=0, log=log)
        await holder
        # "late" went ahead after 0.1 s and waited in SQLite's busy handler until "holder" committed.
        assert log == ["holder writing", "holder done", "late writing", "late done"]
        assert "going ahead without it" in caplog.text
    finally:
        await db.dispose()
