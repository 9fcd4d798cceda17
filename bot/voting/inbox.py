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

The rules an event is applied by:

- only the three poll reactions count (others are not even recorded), on a message that is a poll of
  the event's own community (an event from another guild/workspace never touches it);
- a reaction received after the poll closed (by state, or its ``closes_at``) changes nothing; one
  received before, but applied after, counts, and the closed poll's tallies are recomputed;
- a member's vote is the poll reaction they added last among those still on the message: removing it
  falls back to another one still there, removing the last retracts the vote;
- a redelivered event (same platform event id) is recorded, and so applied, once.
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
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from core.eligibility import Facts
from core.graph.votes import CHOICES
from core.messages import CommunityRef, Person
from core.polls import PollState, choice_for_reaction
from storage import reactions_repo as repo
from storage.database import Database
from storage.polls_repo import voter_key_of

log = logging.getLogger("mge.votes")

#: Events per insert and per applying transaction: large enough that a burst is cheap, small enough
#: that a transaction is short (a DM turn waiting for SQLite's writer waits for one batch at most).
RECORD_BATCH = 500
APPLY_BATCH = 250
#: A batch whose insert fails (SQLite locked by another process, a PostgreSQL restart) is tried again;
#: after this many tries its events are refused, so the platform is not told they were received.
RECORD_TRIES = 5
#: While reactions are still being recorded, the applier waits this long before taking a batch.
COALESCE_SECONDS = 0.02
#: How long ``record(wait_applied=True)`` waits for the outcome (the event stays recorded either way).
APPLIED_WAIT_SECONDS = 30.0


class VoteOutcome(StrEnum):
    """What a reaction did. The ``ignored_*`` values say why nothing changed."""

    COUNTED = "counted"  # a new vote
    REPLACED = "replaced"  # the member's vote now has another choice
    UNCHANGED = "unchanged"  # the reaction repeats the member's current choice
    RETRACTED = "retracted"  # the member's vote was deleted
    IGNORED_EMOJI = "ignored_emoji"
    IGNORED_UNKNOWN_POLL = "ignored_unknown_poll"
    IGNORED_OTHER_COMMUNITY = "ignored_other_community"
    IGNORED_CLOSED = "ignored_closed"
    IGNORED_DUPLICATE_EVENT = "ignored_duplicate_event"
    IGNORED_NOT_CURRENT = "ignored_not_current"  # removed a reaction that is not the member's vote
    IGNORED_OUT_OF_ORDER = "ignored_out_of_order"  # older than an event about the same reaction applied before
    IGNORED_BOT = "ignored_bot"  # the bot's own (or another bot's) reaction; decided by adapters

    @property
    def changed_votes(self) -> bool:
        return self in (VoteOutcome.COUNTED, VoteOutcome.REPLACED, VoteOutcome.RETRACTED)


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


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


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
        choice = choice_for_reaction(reaction.platform, reaction.emoji)
        if choice is None:
            return VoteOutcome.IGNORED_EMOJI
        if reaction.community.platform != reaction.platform:
            return VoteOutcome.IGNORED_OTHER_COMMUNITY  # a poll is only ever its own platform's
        # Taken before the first await: handlers start in the order events arrived.
        order = reaction.event_order if reaction.event_order is not None else self._arrival_order()
        key = (reaction.event_id or f"r:{self._process}:{next(self._receipts)}")[:128]
        applied = self._wait_for(key) if wait_applied else None
        pending = _Pending({
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
        })
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


# --- applying --------------------------------------------------------------------------------------


def _vote_of(state: dict[str, list]) -> str | None:
    """The choice a member's reactions amount to: the one added last among those still there."""
    present = [(order, choice) for choice, (on, order) in state.items() if on]
    return max(present)[1] if present else None


def _is_closed(poll: sa.Row, received_at: datetime) -> bool:
    if poll.closes_at is not None and received_at >= poll.closes_at:
        return True
    if poll.state == PollState.CLOSED:
        return poll.closed_at is None or received_at >= poll.closed_at
    return False


@dataclass
class _Voter:
    """One (poll, member) pair of a batch: the reactions before and after, and the vote row."""

    poll: sa.Row
    voter_key: str
    member_id: int
    state: dict[str, list]
    vote: sa.Row | None
    changed_choices: set[str] = field(default_factory=set)
    changed_at: datetime | None = None
    cast_at: datetime | None = None


async def apply_pending(database: Database, *, limit: int = APPLY_BATCH) -> dict[str, VoteOutcome]:
    """Apply up to ``limit`` recorded events, oldest first, in one transaction; their outcomes by key."""
    async with database.engine.connect() as conn:
        if not await repo.has_pending(conn):
            return {}  # the usual case for a poll closing or a member's erasure: no write lock taken
    await database.yield_to_writers()  # a member's DM turn goes before votes that can wait
    async with database.engine.begin() as conn:
        await repo.take_apply_turn(conn)
        events = await repo.pending_events(conn, limit=limit)
        if not events:
            return {}
        outcomes = await _apply(conn, events)
        applied_at = max(event.received_at for event in events)
        await repo.mark_applied(
            conn, [{"event_id": event.id, "applied": applied_at, "result": outcomes[event.event_key].value} for event in events]
        )
    counted = sum(1 for outcome in outcomes.values() if outcome.changed_votes)
    log.debug("applied %d reaction events (%d changed votes)", len(events), counted)
    return outcomes


async def _apply(conn, events: list[sa.Row]) -> dict[str, VoteOutcome]:
    outcomes: dict[str, VoteOutcome] = {}
    polls = await repo.polls_by_message(conn, {(e.platform, e.channel_id, e.message_id) for e in events})
    communities = await repo.communities_by_key(conn, {(e.platform, e.community_external_id) for e in events})

    live: list[tuple[sa.Row, sa.Row]] = []  # (event, poll) that may change a vote
    for event in events:
        poll = polls.get((event.platform, event.channel_id, event.message_id))
        if poll is None:
            outcomes[event.event_key] = VoteOutcome.IGNORED_UNKNOWN_POLL
        elif communities.get((event.platform, event.community_external_id)) != poll.community_id:
            outcomes[event.event_key] = VoteOutcome.IGNORED_OTHER_COMMUNITY
        elif _is_closed(poll, event.received_at):
            outcomes[event.event_key] = VoteOutcome.IGNORED_CLOSED
        else:
            live.append((event, poll))
    if not live:
        return outcomes

    members = await _members(conn, live)
    await _record_facts(conn, live, members)
    voters = await _voters(conn, live, members)

    # The platform's order within each (poll, member); arrival order (id) breaks ties.
    for event, poll in sorted(live, key=lambda pair: (pair[0].event_order, pair[0].id)):
        voter = voters[(poll.id, voter_key_of(members[(poll.community_id, event.user_id)]))]
        outcomes[event.event_key] = _apply_one(voter, event)

    await _save(conn, voters.values())
    return outcomes


async def _members(conn, live: list[tuple[sa.Row, sa.Row]]) -> dict[tuple[int, str], int]:
    """(community id, platform user id) → member id, creating members seen for the first time."""
    people: dict[int, dict[str, tuple[str, datetime]]] = defaultdict(dict)
    for event, poll in live:
        known = people[poll.community_id].get(event.user_id)
        # The latest display name the platform sent wins; the first sighting is when the member was created.
        people[poll.community_id][event.user_id] = (
            event.display_name or (known[0] if known else ""),
            known[1] if known else event.received_at,
        )
    ids: dict[tuple[int, str], int] = {}
    for community_id, found in people.items():
        for user, member_id in (await repo.ensure_members(conn, community_id=community_id, people=found)).items():
            ids[(community_id, user)] = member_id
    return ids


async def _record_facts(conn, live: list[tuple[sa.Row, sa.Row]], members: dict[tuple[int, str], int]) -> None:
    latest: dict[int, dict[str, Any]] = {}
    for event, poll in sorted(live, key=lambda pair: pair[0].id):
        if event.facts is None:
            continue
        member_id = members[(poll.community_id, event.user_id)]
        row = latest.setdefault(member_id, {"member_id": member_id, "account_created_at": None, "joined_at": None,
                                            "role_ids": None, "updated_at": event.received_at})
        # A later event's facts win where it says something; silence keeps what an earlier one said.
        for name in ("account_created_at", "joined_at"):
            if event.facts.get(name):
                row[name] = _when(event.facts[name])
        if event.facts.get("role_ids") is not None:
            row["role_ids"] = event.facts["role_ids"]
        row["updated_at"] = max(row["updated_at"], event.received_at)
    await repo.record_member_facts(conn, list(latest.values()))


async def _voters(conn, live, members) -> dict[tuple[int, str], _Voter]:
    pairs: dict[tuple[int, str], tuple[sa.Row, int]] = {}
    for event, poll in live:
        member_id = members[(poll.community_id, event.user_id)]
        pairs[(poll.id, voter_key_of(member_id))] = (poll, member_id)
    keys = set(pairs)
    states = await repo.reactions_of(conn, keys)
    votes = await repo.votes_of(conn, keys)
    voters = {}
    for key, (poll, member_id) in pairs.items():
        vote = votes.get(key)
        state = states.get(key)
        if state is None:
            # A vote from before reactions were kept (or cast another way) counts as that reaction,
            # older than any event to come.
            state = {vote.choice: [True, 0]} if vote is not None else {}
        voters[key] = _Voter(poll=poll, voter_key=key[1], member_id=member_id, state=state, vote=vote)
    return voters


def _apply_one(voter: _Voter, event: sa.Row) -> VoteOutcome:
    current = voter.state.get(event.choice)
    if current is not None and current[1] > event.event_order:
        return VoteOutcome.IGNORED_OUT_OF_ORDER  # a newer event about this reaction was applied already
    before = _vote_of(voter.state)
    voter.state[event.choice] = [event.added, event.event_order]
    voter.changed_choices.add(event.choice)
    after = _vote_of(voter.state)
    if after != before:
        voter.changed_at = event.received_at
        if before is None:
            voter.cast_at = event.received_at
    if before is None and after is not None:
        return VoteOutcome.COUNTED
    if before is not None and after is None:
        return VoteOutcome.RETRACTED
    if before != after:
        return VoteOutcome.REPLACED
    return VoteOutcome.UNCHANGED if event.added else VoteOutcome.IGNORED_NOT_CURRENT


async def _save(conn, voters) -> None:
    reactions: list[dict[str, Any]] = []
    inserted: list[dict[str, Any]] = []
    updated: list[dict[str, Any]] = []
    deleted: list[int] = []
    closed_polls: set[int] = set()
    for voter in voters:
        reactions.extend(
            {"poll_id": voter.poll.id, "voter_key": voter.voter_key, "choice": choice,
             "present": voter.state[choice][0], "event_order": voter.state[choice][1]}
            for choice in sorted(voter.changed_choices)
        )
        if voter.changed_at is None:
            continue
        choice = _vote_of(voter.state)
        if voter.vote is None and choice is not None:
            inserted.append({
                "community_id": voter.poll.community_id, "poll_id": voter.poll.id, "member_id": voter.member_id,
                "voter_key": voter.voter_key, "choice": choice, "why": None,
                "cast_at": voter.cast_at or voter.changed_at, "updated_at": voter.changed_at,
            })
        elif voter.vote is not None and choice is None:
            deleted.append(voter.vote.id)
        elif voter.vote is not None and choice != voter.vote.choice:
            updated.append({"vote_id": voter.vote.id, "new_choice": choice, "when": voter.changed_at})
        else:
            continue
        if voter.poll.state == PollState.CLOSED:
            closed_polls.add(voter.poll.id)
    await repo.save_reactions(conn, reactions)
    await repo.save_votes(conn, inserted=inserted, updated=updated, deleted=deleted)
    for poll_id in sorted(closed_polls):
        # Received before the poll closed, applied after: the stored tallies must include it.
        counts = {choice: 0 for choice in CHOICES} | await repo.count_choices(conn, poll_id=poll_id)
        await repo.store_tallies(conn, poll_id=poll_id, tallies=counts)
