"""Poll reactions: written down before they are acknowledged, turned into votes from there in batches.

A platform gives a reaction event once (or a few times, when it thinks we missed it). So an adapter
hands each poll reaction to :meth:`VoteInbox.record`, which returns once the event is in the
``reaction_event`` table — only then does the adapter acknowledge it (Slack's 200, the end of a
Discord handler). Events are inserted in group commits: every event that arrives while one insert is
under way goes into the next, so a burst costs a transaction per batch, not per event.

:func:`apply_pending` turns recorded events into votes, a batch per transaction, in the order the
platform gave them (per poll and member, by ``event_order``; an older event that arrives late never
overrides a newer one). A crash, a full connection pool or a backlog delays votes but cannot drop
one: what is recorded stays pending until applied, and any process that starts (``mge run``), closes
a poll, or runs the scheduler's tick applies what is pending. Appliers take turns across processes
(``reactions_repo.take_apply_turn``).

A press on a private poll's button (``Reaction.pressed``, from ``bot.voting.private``) is recorded the
same way, as the reaction for its choice, with a ``press:`` event key.

How an event becomes a vote, and the rules it is applied by: :mod:`bot.voting.apply`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
import weakref
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bot.voting.apply import APPLY_BATCH, PRESS_KEY_PREFIX, apply_pending
from core.eligibility import Facts
from core.graph.votes import Choice
from core.messages import CommunityRef, Person
from core.polls import VoteOutcome, choice_for_reaction
from storage import reactions_repo as repo
from storage.database import Database

log = logging.getLogger("mge.votes")

#: Events per insert: large enough that a burst is cheap (the applying batch is ``apply.APPLY_BATCH``).
RECORD_BATCH = 500
#: A batch whose insert fails (SQLite locked by another process, a PostgreSQL restart) is tried again;
#: after this many tries its events are refused, so the platform is not told they were received.
RECORD_TRIES = 5
#: While reactions are still being recorded, the applier waits this long before taking a batch.
COALESCE_SECONDS = 0.02
#: How long ``record(wait_applied=True)`` waits for the outcome (the event stays recorded either way).
APPLIED_WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class Reaction:
    """One reaction event as an adapter received it."""

    community: CommunityRef
    platform: str
    channel_id: str
    message_id: str
    person: Person
    emoji: str
    added: bool
    #: The platform's id for this delivery (Slack's ``event_id``); None where it gives none (Discord).
    event_id: str | None
    now: datetime
    #: When the platform says it happened, in microseconds (Slack's ``event_ts``); None: order of arrival.
    event_order: int | None = None
    facts: Facts | None = None
    #: Set for a press on a private poll's button, which names its choice (``emoji`` is then unused).
    pressed: Choice | None = None


def slack_event_order(event_ts: Any) -> int | None:
    """Slack's ``event_ts`` ("1700000000.000200") in microseconds; None when it is not one."""
    try:
        seconds, _, fraction = str(event_ts).partition(".")
        return int(seconds) * 1_000_000 + int((fraction + "000000")[:6])
    except ValueError:
        return None


def _facts_json(facts: Facts | None) -> dict | None:
    if facts is None:
        return None
    return {
        "account_created_at": facts.account_created_at.isoformat() if facts.account_created_at else None,
        "joined_at": facts.joined_at.isoformat() if facts.joined_at else None,
        "role_ids": sorted(str(r) for r in facts.role_ids) if facts.role_ids is not None else None,
    }


@dataclass
class _Pending:
    row: dict[str, Any]
    recorded: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class VoteInbox:
    """Records reactions in group commits and applies them in the background (module docstring).
    One per database and event loop: :func:`inbox_for`."""

    def __init__(self, database: Database):
        self.database = database
        self._queue: list[_Pending] = []
        self._recorder: asyncio.Task | None = None
        self._applier: asyncio.Task | None = None
        self._more_to_apply = False
        self._waiters: dict[str, list[asyncio.Future]] = defaultdict(list)
        # Receipt ids for events the platform gives no id: unique across processes and restarts.
        self._receipts = itertools.count()
        self._process = f"{os.getpid():x}.{time.time_ns():x}"
        self._last_order = 0

    def _arrival_order(self) -> int:
        """Strictly increasing microseconds: the order events reached this process."""
        self._last_order = max(self._last_order + 1, time.time_ns() // 1000)
        return self._last_order

    async def record(self, reaction: Reaction, *, wait_applied: bool = False) -> VoteOutcome | None:
        """Write ``reaction`` down; return when it is stored (None), or with ``wait_applied`` when it has
        been applied (its outcome). Raises when it could not be stored: then it must not be acknowledged."""
        choice = reaction.pressed or choice_for_reaction(reaction.platform, reaction.emoji)
        if choice is None:
            return VoteOutcome.IGNORED_EMOJI
        if reaction.community.platform != reaction.platform:
            return VoteOutcome.IGNORED_OTHER_COMMUNITY  # a poll is only ever its own platform's
        # Taken before the first await: handlers start in the order events arrived.
        order = reaction.event_order if reaction.event_order is not None else self._arrival_order()
        key = (reaction.event_id or f"r:{self._process}:{next(self._receipts)}")[:120]
        if reaction.pressed:
            key = PRESS_KEY_PREFIX + key
        applied = self._wait_for(key) if wait_applied else None
        pending = _Pending(
            {
                "platform": reaction.platform,
                "community_external_id": reaction.community.external_id[:64],
                "channel_id": reaction.channel_id[:64],
                "message_id": reaction.message_id[:64],
                "user_id": reaction.person.platform_user_id[:64],
                "display_name": (reaction.person.display_name or "")[:200],
                "choice": choice,
                "added": reaction.added,
                "event_key": key,
                "event_order": order,
                "received_at": reaction.now,
                "facts": _facts_json(reaction.facts),
            }
        )
        self._queue.append(pending)
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self._record_loop())
        try:
            inserted = await pending.recorded
        except BaseException:
            self._forget_waiter(key, applied)
            raise
        if not inserted:
            self._forget_waiter(key, applied)
            return VoteOutcome.IGNORED_DUPLICATE_EVENT
        if applied is None:
            return None
        try:
            # Recorded: it will be applied, here or by any process. The wait only serves the caller.
            return await asyncio.wait_for(applied, APPLIED_WAIT_SECONDS)
        finally:
            self._forget_waiter(key, applied)

    def _wait_for(self, key: str) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self._waiters[key].append(future)
        return future

    def _forget_waiter(self, key: str, future: asyncio.Future | None) -> None:
        if future is not None and future in self._waiters.get(key, []):
            self._waiters[key].remove(future)
            if not self._waiters[key]:
                del self._waiters[key]

    async def _record_loop(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:RECORD_BATCH], self._queue[RECORD_BATCH:]
            try:
                inserted = await self._insert(batch)
            except Exception as error:  # noqa: BLE001 — handed to every waiting adapter
                for pending in batch:
                    if not pending.recorded.done():
                        pending.recorded.set_exception(error)
                continue
            for pending in batch:
                # A redelivery in the same batch as its original: only the first of the two went in.
                key = pending.row["event_key"]
                first = key in inserted
                inserted.discard(key)
                if not pending.recorded.done():
                    pending.recorded.set_result(first)
            self.kick()

    async def _insert(self, batch: list[_Pending]) -> set[str]:
        rows = [pending.row for pending in batch]
        for attempt in range(RECORD_TRIES):
            try:
                await self.database.yield_to_writers()
                async with self.database.engine.begin() as conn:
                    return await repo.record_events(conn, rows)
            except sa.exc.OperationalError as error:
                if attempt == RECORD_TRIES - 1:
                    log.error("could not record %d reaction events: %s", len(rows), error)
                    raise
                log.warning("recording reaction events failed (%s); trying again", error)
                await asyncio.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    def kick(self) -> None:
        """Apply what is pending, now or right after the batch being applied."""
        self._more_to_apply = True
        if self._applier is None or self._applier.done():
            self._applier = asyncio.create_task(self._apply_loop())

    async def _apply_loop(self) -> None:
        failures = 0
        while True:
            while self._more_to_apply:
                self._more_to_apply = False
                if self._recorder is not None and not self._recorder.done():
                    # Events are still arriving: let a few more recording batches land, so that a burst
                    # is applied in full batches rather than in transactions of two or three events.
                    await asyncio.sleep(COALESCE_SECONDS)
                try:
                    outcomes = await apply_pending(self.database, limit=APPLY_BATCH)
                except Exception:
                    # Nothing is lost: the events stay pending. Try again shortly, or at the next kick.
                    failures += 1
                    log.exception("applying reaction events failed (%d); they stay pending", failures)
                    if failures >= 5:
                        return  # ``mge run`` tries again every 30 s (runner.pending_votes_job)
                    await asyncio.sleep(0.5 * failures)
                    self._more_to_apply = True
                    continue
                failures = 0
                self._resolve(outcomes)
                if len(outcomes) == APPLY_BATCH:
                    self._more_to_apply = True
                await asyncio.sleep(0)  # let DM turns and acknowledgements run between batches
            await self._settle_waiters()
            # A kick while the outcomes above were read found this task still running: go round again.
            if not self._more_to_apply:
                return

    def _resolve(self, outcomes: dict[str, VoteOutcome]) -> None:
        for key, outcome in outcomes.items():
            for future in self._waiters.pop(key, []):
                if not future.done():
                    future.set_result(outcome)

    async def _settle_waiters(self) -> None:
        """Waiters whose events another process applied (or that failed here): read their outcomes."""
        if not self._waiters:
            return
        keys = list(self._waiters)
        try:
            async with self.database.engine.connect() as conn:
                outcomes = await repo.applied_outcomes(conn, keys)
            done = {key: VoteOutcome(outcome) for key, outcome in outcomes.items()}
        except Exception:
            log.exception("could not read the outcomes of applied reaction events")
            return
        self._resolve(done)

    async def drain(self) -> None:
        """Record everything queued and apply everything pending (any process's) before returning."""
        while self._recorder is not None and not self._recorder.done():
            await asyncio.shield(self._recorder)
        while True:
            outcomes = await apply_pending(self.database, limit=APPLY_BATCH)
            self._resolve(outcomes)
            if len(outcomes) < APPLY_BATCH:
                return

    async def close(self) -> None:
        """Finish recording what was handed over and apply it (``mge run`` stopping)."""
        await self.drain()
        if self._applier is not None and not self._applier.done():
            await self._applier


#: Applied events are kept this long: the memory of redeliveries (Slack retries within the hour) and
#: of what a member did, for ``/mge mydata``; then they are deleted.
KEEP_APPLIED = timedelta(days=7)


async def prune_applied(database: Database, *, now: datetime) -> int:
    """Delete events applied more than ``KEEP_APPLIED`` ago; how many."""
    async with database.engine.begin() as conn:
        return await repo.prune_applied(conn, before=now - KEEP_APPLIED)


_inboxes: weakref.WeakKeyDictionary[Database, dict[asyncio.AbstractEventLoop, VoteInbox]] = weakref.WeakKeyDictionary()


def inbox_for(database: Database) -> VoteInbox:
    """The inbox of ``database`` in the running event loop."""
    loop = asyncio.get_running_loop()
    by_loop = _inboxes.get(database)
    if by_loop is None:
        by_loop = _inboxes[database] = {}
    inbox = by_loop.get(loop)
    if inbox is None:
        for stale in [other for other in by_loop if other.is_closed()]:
            del by_loop[stale]
        inbox = by_loop[loop] = VoteInbox(database)
    return inbox
