"""One member's messages are handled by one process at a time, across processes (SQLite or PostgreSQL).

Inside a process an ``asyncio.Lock`` per member orders a member's messages. Several processes on one
database (two Slack HTTP replicas behind a load balancer, a redelivered event reaching another replica)
also need to agree, or two LLM calls could race on one interview. A lease row per member does it:
taken with an insert (or by taking over an expired one), renewed while the turn runs, deleted after.
A process that dies mid-turn stops renewing, and its lease expires after ``LEASE_TTL``; the member's
next message then continues the interview from what was saved.

On SQLite the processes share a machine, so :class:`MemberFileLocks` does the same with a lock per
member on a file beside the database: a system call instead of two database writes per turn, and a dead
process's locks go with it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import struct
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path

from core.clock import utcnow
from storage import leases_repo
from storage.database import Database

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]  # None says "no fcntl here"

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

    def __init__(
        self,
        database: Database,
        *,
        clock: Callable[[], datetime] = utcnow,
        ttl: timedelta = LEASE_TTL,
        renew_every: timedelta = RENEW_EVERY,
        wait_at_most: timedelta = WAIT_AT_MOST,
    ) -> None:
        self._db = database
        self._clock = clock
        self._ttl, self._renew_every, self._wait = ttl, renew_every, wait_at_most
        self.holder = uuid.uuid4().hex
        # Each lease statement stands alone: run it in autocommit (on PostgreSQL that spares the BEGIN and
        # COMMIT round trips; a DM turn takes and gives back a lease).
        self._engine = database.engine.execution_options(isolation_level="AUTOCOMMIT")

    async def try_acquire(self, key: str) -> bool:
        """Take the lease if it is free, expired, or already ours: one statement (every DM turn on
        PostgreSQL takes one), on a plain connection."""
        now = self._clock()
        async with self._engine.begin() as connection:
            return await leases_repo.take_lease(
                connection, backend=self._db.backend, key=key, holder=self.holder, now=now, expires_at=now + self._ttl
            )

    async def _renew(self, key: str) -> None:
        async with self._engine.begin() as connection:
            await leases_repo.renew_lease(connection, key=key, holder=self.holder, expires_at=self._clock() + self._ttl)

    async def release(self, key: str) -> None:
        async with self._engine.begin() as connection:
            await leases_repo.release_lease(connection, key=key, holder=self.holder)

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


class MemberFileLocks:
    """Member turns across the processes of one machine (SQLite): an exclusive lock on one byte of a
    lock file per member, taken without blocking and retried like a lease. Measured on a DM turn, the
    lease's upsert and delete on SQLite cost ~5 ms of CPU; this costs a system call.

    Open-file-description locks (Linux): they belong to this object's descriptor, not to the process, so
    two instances conflict as two processes do, and closing another descriptor of the file drops nothing.
    """

    # struct flock: l_type, l_whence, l_start, l_len, l_pid, and the padding to its 8-byte alignment.
    _FLOCK = "hhqqi4x"

    #: Open-file-description locks exist here (Linux); elsewhere the lease rows do the job.
    supported = fcntl is not None and hasattr(fcntl, "F_OFD_SETLK")

    def __init__(self, path: Path, *, wait_at_most: timedelta = WAIT_AT_MOST) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self._wait = wait_at_most
        self.path = path

    def _lock(self, key: str, kind: int) -> None:
        # 62 bits of the key's hash as the byte to lock: distinct members never meet in practice.
        offset = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") >> 2
        fcntl.fcntl(self._fd, fcntl.F_OFD_SETLK, struct.pack(self._FLOCK, kind, os.SEEK_SET, offset, 1, 0))

    def try_acquire(self, key: str) -> bool:
        try:
            self._lock(key, fcntl.F_WRLCK)
        except (BlockingIOError, PermissionError):  # EAGAIN or EACCES: another holder
            return False
        return True

    def release(self, key: str) -> None:
        self._lock(key, fcntl.F_UNLCK)

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Wait for the member's lock (polling, like a lease: a blocking wait could not be cancelled)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait.total_seconds()
        while not self.try_acquire(key):
            if loop.time() >= deadline:
                raise LeaseTimeout(f"another process is still handling {key}")
            await asyncio.sleep(POLL_EVERY)
        try:
            yield
        finally:
            self.release(key)

    def close(self) -> None:
        os.close(self._fd)
