"""One member's messages are handled by one process at a time, across processes (PostgreSQL).

Inside a process an ``asyncio.Lock`` per member orders a member's messages. Several processes on one
database (two Slack HTTP replicas behind a load balancer, a redelivered event reaching another replica)
also need to agree, or two LLM calls could race on one interview. A lease row per member does it:
taken with an insert (or by taking over an expired one), renewed while the turn runs, deleted after.
A process that dies mid-turn stops renewing, and its lease expires after ``LEASE_TTL``; the member's
next message then continues the interview from what was saved.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from mge.storage.database import Database
from mge.storage.models import MemberLease
from mge.storage.repositories import insert_ignoring_conflict

log = logging.getLogger("mge.leases")

LEASE_TTL = timedelta(seconds=60)
RENEW_EVERY = timedelta(seconds=20)
#: How long a message waits for another process to finish the member's previous one.
WAIT_AT_MOST = timedelta(minutes=5)
POLL_EVERY = 0.05


class LeaseTimeout(TimeoutError):
    """Another process held the member's lease for longer than ``WAIT_AT_MOST``."""


class MemberLeases:
    """Leases held by this process (one ``holder`` id per process)."""

    def __init__(self, database: Database, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 ttl: timedelta = LEASE_TTL, renew_every: timedelta = RENEW_EVERY,
                 wait_at_most: timedelta = WAIT_AT_MOST) -> None:
        self._db = database
        self._clock = clock
        self._ttl, self._renew_every, self._wait = ttl, renew_every, wait_at_most
        self.holder = uuid.uuid4().hex

    async def try_acquire(self, key: str) -> bool:
        now = self._clock()
        async with self._db.session() as session:
            if await insert_ignoring_conflict(session, MemberLease.__table__,
                                              {"key": key, "holder": self.holder, "expires_at": now + self._ttl}):
                await session.commit()
                return True
            taken = (await session.exec(  # type: ignore[call-overload]
                sa.update(MemberLease)
                .where(MemberLease.key == key, sa.or_(MemberLease.expires_at < now, MemberLease.holder == self.holder))
                .values(holder=self.holder, expires_at=now + self._ttl)
                .returning(MemberLease.key)
            )).first()
            await session.commit()
            return taken is not None

    async def _renew(self, key: str) -> None:
        async with self._db.session() as session:
            await session.exec(  # type: ignore[call-overload]
                sa.update(MemberLease).where(MemberLease.key == key, MemberLease.holder == self.holder)
                .values(expires_at=self._clock() + self._ttl)
            )
            await session.commit()

    async def release(self, key: str) -> None:
        async with self._db.session() as session:
            await session.exec(  # type: ignore[call-overload]
                sa.delete(MemberLease).where(MemberLease.key == key, MemberLease.holder == self.holder)
            )
            await session.commit()

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Wait for the member's lease, keep it renewed while the block runs, then let it go."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait.total_seconds()
        while not await self.try_acquire(key):
            if loop.time() >= deadline:
                raise LeaseTimeout(f"another process is still handling {key}")
            await asyncio.sleep(POLL_EVERY)
        renewer = asyncio.create_task(self._keep_renewing(key))
        try:
            yield
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            try:
                await self.release(key)
            except Exception:  # it expires by itself
                log.warning("could not release the lease on %s", key, exc_info=True)

    async def _keep_renewing(self, key: str) -> None:
        while True:
            await asyncio.sleep(self._renew_every.total_seconds())
            try:
                await self._renew(key)
            except Exception:
                log.warning("could not renew the lease on %s", key, exc_info=True)
