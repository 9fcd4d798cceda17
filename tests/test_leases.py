"""Member leases: one process at a time handles a member's message, across processes sharing the database;
a dead holder's lease expires; renewals keep a long turn's lease."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.runtime.leases import LeaseTimeout, MemberLeases
from storage.database import Database
from tests.conftest import Clock


async def test_two_processes_take_turns_on_one_member_and_not_on_different_members(database):
    other_db = Database(database.url)
    first, second = MemberLeases(database), MemberLeases(other_db)
    log: list[str] = []

    async def turn(leases: MemberLeases, key: str, name: str) -> None:
        async with leases.hold(key):
            log.append(f"{name} in")
            await asyncio.sleep(0.2)
            log.append(f"{name} out")

    try:
        await asyncio.gather(turn(first, "discord:1:alice", "a"), turn(second, "discord:1:alice", "b"))
        assert log in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])
        log.clear()
        await asyncio.gather(turn(first, "discord:1:alice", "a"), turn(second, "discord:1:bob", "b"))
        assert log[:2] in (["a in", "b in"], ["b in", "a in"])  # different members: no waiting
    finally:
        await other_db.dispose()


async def test_a_dead_holders_lease_expires_and_a_live_one_is_renewed(database):
    clock = Clock()
    dead = MemberLeases(database, clock=clock, ttl=timedelta(seconds=60))
    assert await dead.try_acquire("slack:T1:U1")  # and then the process died without releasing
    alive = MemberLeases(database, clock=clock, ttl=timedelta(seconds=60), wait_at_most=timedelta(seconds=0.3))
    assert not await alive.try_acquire("slack:T1:U1")
    with pytest.raises(LeaseTimeout):
        async with alive.hold("slack:T1:U1"):
            pass
    clock.advance(seconds=61)
    assert await alive.try_acquire("slack:T1:U1")
    assert await alive.try_acquire("slack:T1:U1")  # re-entrant for its holder
    await alive.release("slack:T1:U1")

    # A turn longer than the TTL keeps its lease by renewing it.
    holder = MemberLeases(database, clock=clock, ttl=timedelta(seconds=60), renew_every=timedelta(seconds=0.05))
    async with holder.hold("slack:T1:U2"):
        clock.advance(seconds=45)
        await asyncio.sleep(0.2)  # renewed at the moved clock
        clock.advance(seconds=45)
        assert not await dead.try_acquire("slack:T1:U2")
    assert await dead.try_acquire("slack:T1:U2")  # released on the way out


@pytest.mark.slow  # a lock holder process, killed
async def test_member_file_locks_take_turns_across_holders_and_go_with_their_process(tmp_path):
    """The SQLite equivalent: one lock file, a byte per member; a killed holder's lock is free at once."""
    import subprocess
    import sys

    from bot.runtime.leases import MemberFileLocks

    path = tmp_path / "mge.sqlite3.members.lock"
    first = MemberFileLocks(path)
    second = MemberFileLocks(path, wait_at_most=timedelta(seconds=0.2))
    try:
        async with first.hold("discord:1:alice"):
            assert not second.try_acquire("discord:1:alice")
            assert second.try_acquire("discord:1:bob")  # different members: no waiting
            with pytest.raises(LeaseTimeout):
                async with second.hold("discord:1:alice"):
                    pass
        assert second.try_acquire("discord:1:alice")  # released on the way out
        second.release("discord:1:alice")

        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import asyncio, sys, time; from pathlib import Path; "
                "from bot.runtime.leases import MemberFileLocks as L; "
                "assert L(Path(sys.argv[1])).try_acquire('slack:T:U'); "
                "print('held', flush=True); time.sleep(60)",
                str(path),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdout.readline().strip() == "held"
        assert not first.try_acquire("slack:T:U")
        holder.kill()
        holder.wait(timeout=10)
        holder.stdout.close()
        assert first.try_acquire("slack:T:U")  # no expiry to wait for
    finally:
        first.close()
        second.close()
