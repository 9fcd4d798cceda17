"""Recorded poll reactions turned into votes (:mod:`bot.voting.inbox` records them), a batch per
transaction, in the order the platform gave them: per poll and member by ``event_order``, so an older
event that arrives late never overrides a newer one. Appliers take turns across processes
(``reactions_repo.take_apply_turn``).

The rules an event is applied by:

- only the three poll reactions count (others are not even recorded), on a message that is a poll of
  the event's own community (an event from another guild/workspace never touches it);
- a reaction received after the poll closed (by state, or its ``closes_at``) changes nothing; one
  received before, but applied after, counts, and the closed poll's tallies are recomputed;
- a member's vote is the poll reaction they added last among those still on the message: removing it
  falls back to another one still there, removing the last retracts the vote;
- a redelivered event (same platform event id) is recorded, and so applied, once;
- a member's first vote on a poll queues one reason question (``bot.voting.reasons``), never sent from here.
- a private poll counts only its buttons' presses, recorded here like reactions (a press adds the
  reaction for its choice, so the latest press is the vote), and a reaction poll only reactions.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from core.graph.votes import CHOICES
from core.polls import PollMode, PollState, VoteOutcome
from storage import reactions_repo as repo
from storage import reasons_repo
from storage.database import Database
from storage.polls_repo import voter_key_of

log = logging.getLogger("mge.votes")

#: Events per applying transaction: large enough that a burst is cheap, small enough that a transaction
#: is short (a DM turn waiting for SQLite's writer waits for one batch at most).
APPLY_BATCH = 250
#: The ``event_key`` of a private poll's button press starts with this (a reaction's never does).
PRESS_KEY_PREFIX = "press:"
#: The ``event_key`` of a vote cast in the voter's DM (``/mge vote``): private whatever the poll's mode.
DM_KEY_PREFIX = "dm:"


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


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
            conn,
            [
                {"event_id": event.id, "applied": applied_at, "result": outcomes[event.event_key].value}
                for event in events
            ],
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
        elif not event.event_key.startswith(DM_KEY_PREFIX) and (
            event.event_key.startswith(PRESS_KEY_PREFIX) != (poll.mode == PollMode.PRIVATE)
        ):
            outcomes[event.event_key] = VoteOutcome.IGNORED_OTHER_MODE
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
        row = latest.setdefault(
            member_id,
            {
                "member_id": member_id,
                "account_created_at": None,
                "joined_at": None,
                "role_ids": None,
                "updated_at": event.received_at,
            },
        )
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
            {
                "poll_id": voter.poll.id,
                "voter_key": voter.voter_key,
                "choice": choice,
                "present": voter.state[choice][0],
                "event_order": voter.state[choice][1],
            }
            for choice in sorted(voter.changed_choices)
        )
        if voter.changed_at is None:
            continue
        choice = _vote_of(voter.state)
        if voter.vote is None and choice is not None:
            inserted.append(
                {
                    "community_id": voter.poll.community_id,
                    "poll_id": voter.poll.id,
                    "member_id": voter.member_id,
                    "voter_key": voter.voter_key,
                    "choice": choice,
                    "why": None,
                    "cast_at": voter.cast_at or voter.changed_at,
                    "updated_at": voter.changed_at,
                }
            )
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
    # A vote cast for the first time queues the question why (``bot.voting.reasons`` sends it later, once).
    await reasons_repo.queue_asks(
        conn,
        [
            {
                "community_id": v["community_id"],
                "member_id": v["member_id"],
                "poll_id": v["poll_id"],
                "queued_at": v["cast_at"],
            }
            for v in inserted
        ],
    )
    for poll_id in sorted(closed_polls):
        # Received before the poll closed, applied after: the stored tallies must include it.
        counts = {choice: 0 for choice in CHOICES} | await repo.count_choices(conn, poll_id=poll_id)
        await repo.store_tallies(conn, poll_id=poll_id, tallies=counts)
