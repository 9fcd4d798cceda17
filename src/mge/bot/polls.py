"""Story polls: post a transition story, turn members' reactions into votes, close and tally (MGE.md §7).

The rules for a reaction (``apply_reaction``):

- only the three poll reactions on a recorded poll count; anything else is ignored;
- a poll that is closed (by state, or because ``closes_at`` has passed) takes no more votes;
- the reaction's community must be the poll's: an event from another guild/workspace never touches it;
- adding a reaction makes its choice the member's vote (the latest reaction wins);
- removing a reaction retracts the vote only when that reaction is the member's current choice
  (removing an older, already replaced reaction changes nothing);
- a redelivered event (same platform event id) is applied once.

Ignoring the bot's own reactions (the three it adds under every poll) is the adapters' job: only they
know the bot's user id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import StrEnum
from typing import Protocol

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from mge.core.eligibility import Facts
from mge.core.messages import CommunityRef, Person
from mge.core.polls import StoryPoll, ValueSummary, choice_for_reaction
from mge.storage import eligibility_repo, polls_repo
from mge.storage import repositories as repo
from mge.storage.database import Database
from mge.storage.models import Poll

log = logging.getLogger("mge.polls")


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
    IGNORED_BOT = "ignored_bot"  # the bot's own (or another bot's) reaction; decided by adapters

    @property
    def changed_votes(self) -> bool:
        return self in (VoteOutcome.COUNTED, VoteOutcome.REPLACED, VoteOutcome.RETRACTED)


class PollNotFound(LookupError):
    pass


class PollPublisher(Protocol):
    """Posts a story poll on one platform: the message, then the three reactions."""

    async def publish(
        self,
        *,
        channel_id: str,
        poll: StoryPoll,
        on_posted: Callable[[str], Awaitable[None]] | None = None,
    ) -> str:
        """Post ``poll`` to ``channel_id`` and pre-add the reactions; return the platform message id.

        ``on_posted(message_id)`` is awaited after the message exists and before the reactions are
        added, so the poll can be recorded before anyone can react to it."""
        ...


# --- posting ---------------------------------------------------------------------------------------


async def story_poll_view(database: Database, story_id: int) -> StoryPoll:
    """What a poll on story ``story_id`` shows. Raises ``PollNotFound`` for an unknown story."""
    async with database.session() as session:
        found = await polls_repo.story_with_values(session, story_id=story_id)
    if found is None:
        raise PollNotFound(f"no transition story {story_id}")
    story, context, from_value, to_value = found
    return StoryPoll(
        story_id=story_id,
        context=context.text,
        story=story.story,
        from_value=ValueSummary(from_value.title, from_value.description, tuple(from_value.policies)),
        to_value=ValueSummary(to_value.title, to_value.description, tuple(to_value.policies)),
    )


#: More to write in the transaction that records a poll (``record_poll``'s ``also``).
PollRecordedHook = Callable[[AsyncSession, Poll], Awaitable[None]]


async def record_poll(
    database: Database,
    *,
    story_id: int,
    platform: str,
    channel_id: str,
    message_id: str,
    closes_at: datetime | None,
    now: datetime,
    also: PollRecordedHook | None = None,
) -> Poll:
    """Remember that ``message_id`` is a poll on ``story_id``, in the story's community. Idempotent:
    recording the same message again returns the poll recorded first. ``also`` writes more in the same
    transaction (a poll round notes the poll as its own, so a crash cannot separate the two)."""
    async with database.session() as session:
        found = await polls_repo.story_with_values(session, story_id=story_id)
        if found is None:
            raise PollNotFound(f"no transition story {story_id}")
        poll = await polls_repo.insert_poll(
            session,
            community_id=found[0].community_id,
            story_id=story_id,
            platform=platform,
            channel_id=channel_id,
            message_id=message_id,
            opened_at=now,
            closes_at=closes_at,
        )
        if also is not None:
            await also(session, poll)
        await session.commit()
        return poll


async def post_story_poll(
    database: Database,
    publisher: PollPublisher,
    *,
    story_id: int,
    platform: str,
    channel_id: str,
    closes_at: datetime | None,
    now: datetime,
    also: PollRecordedHook | None = None,
) -> Poll:
    """Post story ``story_id`` as a poll through ``publisher`` and record it (before reactions can arrive,
    and before the publisher adds the voting reactions; ``also``: see ``record_poll``)."""
    view = await story_poll_view(database, story_id)
    recorded: list[Poll] = []

    async def remember(message_id: str) -> None:
        recorded.append(
            await record_poll(
                database, story_id=story_id, platform=platform, channel_id=channel_id,
                message_id=message_id, closes_at=closes_at, now=now, also=also,
            )
        )

    message_id = await publisher.publish(channel_id=channel_id, poll=view, on_posted=remember)
    if not recorded:  # a publisher that ignores on_posted: record now
        await remember(message_id)
    return recorded[0]


# --- voting ----------------------------------------------------------------------------------------


#: SQLite: a reaction whose transaction found the database locked (busy_timeout ran out while many
#: events were written at once) is tried again, so a burst of votes loses none. Safe: the failed
#: transaction wrote nothing, and the event id claim makes every attempt count at most once.
LOCKED_RETRIES = 4


async def apply_reaction(database: Database, **event) -> VoteOutcome:
    """Apply one reaction event to the votes (``_apply_reaction``), retried when SQLite was locked."""
    for attempt in range(LOCKED_RETRIES):
        try:
            return await _apply_reaction(database, **event)
        except sa.exc.OperationalError as error:
            if "locked" not in str(error) or attempt == LOCKED_RETRIES - 1:
                raise
            log.warning("database locked while applying a reaction; trying again (%d)", attempt + 1)
            await asyncio.sleep(0.1 * (attempt + 1))
    raise AssertionError("unreachable")


async def _apply_reaction(
    database: Database,
    *,
    community: CommunityRef,
    platform: str,
    channel_id: str,
    message_id: str,
    person: Person,
    emoji: str,
    added: bool,
    event_id: str | None,
    now: datetime,
    facts: Facts | None = None,
) -> VoteOutcome:
    """Apply one reaction event to the votes (rules in the module docstring). ``facts``: what the
    platform said about the member with the event (kept for the community's eligibility rules)."""
    choice = choice_for_reaction(platform, emoji)
    if choice is None:
        return VoteOutcome.IGNORED_EMOJI
    async with database.session() as session:
        # Cheap reads first: most reactions in a channel are not on polls and must not take the lock.
        poll = await polls_repo.find_poll(session, platform=platform, channel_id=channel_id, message_id=message_id)
        if poll is None:
            return VoteOutcome.IGNORED_UNKNOWN_POLL
        poll_id, community_id = poll.id, poll.community_id
        assert poll_id is not None
        owner = await polls_repo.find_community(session, platform=community.platform, external_id=community.external_id)
        if owner is None or owner.id != community_id or community.platform != platform:
            return VoteOutcome.IGNORED_OTHER_COMMUNITY

        poll = await polls_repo.lock_poll(session, poll_id=poll_id)
        if poll is None or polls_repo.is_closed(poll, now):
            return VoteOutcome.IGNORED_CLOSED
        if event_id is not None and not await repo.claim_event(
            session, community_id=community_id, event_id=f"vote:{event_id}", now=now
        ):
            return VoteOutcome.IGNORED_DUPLICATE_EVENT
        member = await repo.get_or_create_member(
            session, community_id=community_id, platform_user_id=person.platform_user_id,
            display_name=person.display_name, now=now,
        )
        assert member.id is not None
        if facts is not None:
            await eligibility_repo.record_facts(
                session, member_id=member.id, now=now, account_created_at=facts.account_created_at,
                joined_at=facts.joined_at, role_ids=facts.role_ids,
            )
        if added:
            change = await polls_repo.upsert_vote(
                session, community_id=community_id, poll_id=poll_id, member_id=member.id, choice=choice, now=now
            )
            outcome = {"inserted": VoteOutcome.COUNTED, "updated": VoteOutcome.REPLACED}.get(change, VoteOutcome.UNCHANGED)
        else:
            deleted = await polls_repo.delete_vote(
                session, poll_id=poll_id, voter_key=polls_repo.voter_key_of(member.id), choice=choice
            )
            outcome = VoteOutcome.RETRACTED if deleted else VoteOutcome.IGNORED_NOT_CURRENT
        # Committed even when nothing changed: the claimed event id must stick.
        await session.commit()
    log.debug("reaction on poll %s by %s: %s", poll_id, person.platform_user_id, outcome)
    return outcome


# --- closing ---------------------------------------------------------------------------------------


async def tally(database: Database, poll_id: int) -> dict[str, int]:
    """Current votes per choice (every choice present)."""
    async with database.session() as session:
        return await polls_repo.count_votes(session, poll_id=poll_id)


async def close_poll(database: Database, *, poll_id: int, now: datetime) -> dict[str, int]:
    """Close the poll and store its final tallies; closing it again returns the stored tallies."""
    async with database.session() as session:
        poll = await polls_repo.lock_poll(session, poll_id=poll_id)
        if poll is None:
            raise PollNotFound(f"no poll {poll_id}")
        if poll.state == "closed" and poll.tallies is not None:
            return dict(poll.tallies)
        # Under the poll lock: no reaction can change the votes between counting and closing.
        counts = await polls_repo.count_votes(session, poll_id=poll_id)
        poll.state = "closed"
        poll.closed_at = now
        poll.tallies = counts
        session.add(poll)
        await session.commit()
        return counts
