"""Story polls: post a transition story, turn members' reactions into votes, close and tally (docs/method.md §7).

Reactions become votes through ``bot.voting.inbox`` (recorded first, applied in batches, in the
platform's order); its docstring has the rules. ``apply_reaction`` here records one reaction and waits
until it is applied.

Ignoring the bot's own reactions (the three it adds under every poll) is the adapters' job: only they
know the bot's user id.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.voting.inbox import Reaction, inbox_for
from core.eligibility import Facts
from core.messages import CommunityRef, Person
from core.polls import PollMode, PollState, StoryPoll, ValueSummary, VoteOutcome
from storage import governance_repo, polls_repo
from storage.database import Database
from storage.models import Poll

log = logging.getLogger("mge.polls")


class PollNotFound(LookupError):
    pass


class PollPublisher(Protocol):
    """Posts a story poll on one platform: the message, then the three reactions (a private poll: the
    message with its three buttons); and shows a closed private poll's tally."""

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

    async def show_tally(self, *, channel_id: str, message_id: str, poll: StoryPoll, tallies: dict[str, int]) -> None:
        """Edit a closed private poll's message: the story with ``tallies``, no buttons. A message that
        is gone counts as done; any other failure raises (it is tried again)."""
        ...


# --- posting ---------------------------------------------------------------------------------------


async def story_poll_view(database: Database, story_id: int) -> StoryPoll:
    """What a poll on story ``story_id`` posted now shows (in its community's poll mode). Raises
    ``PollNotFound`` for an unknown story."""
    async with database.session() as session:
        found = await polls_repo.story_with_values(session, story_id=story_id)
        if found is None:
            raise PollNotFound(f"no transition story {story_id}")
        schedule = await governance_repo.get_schedule(session, community_id=found[0].community_id)
    story, context, from_value, to_value = found
    return StoryPoll(
        mode=PollMode(schedule.poll_mode) if schedule is not None else PollMode.REACTIONS,
        story_id=story_id,
        context=context.text,
        story=story.shown_story,
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
    mode: PollMode = PollMode.REACTIONS,
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
            mode=mode,
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
                database,
                story_id=story_id,
                platform=platform,
                channel_id=channel_id,
                message_id=message_id,
                closes_at=closes_at,
                now=now,
                also=also,
                mode=view.mode,
            )
        )

    message_id = await publisher.publish(channel_id=channel_id, poll=view, on_posted=remember)
    if not recorded:  # a publisher that ignores on_posted: record now
        await remember(message_id)
    return recorded[0]


# --- voting ----------------------------------------------------------------------------------------


async def apply_reaction(
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
    event_order: int | None = None,
) -> VoteOutcome:
    """Record one reaction event and apply it (rules in ``bot.voting.inbox``); its outcome. ``facts``:
    what the platform said about the member with the event (kept for the community's eligibility rules)."""
    reaction = Reaction(
        community=community,
        platform=platform,
        channel_id=channel_id,
        message_id=message_id,
        person=person,
        emoji=emoji,
        added=added,
        event_id=event_id,
        now=now,
        event_order=event_order,
        facts=facts,
    )
    outcome = await inbox_for(database).record(reaction, wait_applied=True)
    assert outcome is not None
    return outcome


# --- closing ---------------------------------------------------------------------------------------


async def tally(database: Database, poll_id: int) -> dict[str, int]:
    """Current votes per choice (every choice present)."""
    async with database.session() as session:
        return await polls_repo.count_votes(session, poll_id=poll_id)


async def close_poll(database: Database, *, poll_id: int, now: datetime) -> dict[str, int]:
    """Close the poll and store its final tallies; closing it again returns the stored tallies."""
    # Reactions received before now count: apply what is recorded first (any process's).
    await inbox_for(database).drain()
    async with database.session() as session:
        poll = await polls_repo.lock_poll(session, poll_id=poll_id)
        if poll is None:
            raise PollNotFound(f"no poll {poll_id}")
        if poll.state == PollState.CLOSED and poll.tallies is not None:
            return dict(poll.tallies)
        # Under the poll lock: no reaction can change the votes between counting and closing.
        counts = await polls_repo.count_votes(session, poll_id=poll_id)
        poll.state = PollState.CLOSED
        poll.closed_at = now
        poll.tallies = counts
        session.add(poll)
        await session.commit()
        return counts
