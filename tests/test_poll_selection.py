"""Which story is polled next: fewest votes first, never one (or its reverse) already being voted on."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import select

from bot.voting.polls import close_poll, record_poll
from bot.voting.selection import next_story, next_story_for
from core.messages import CommunityRef
from storage.communities_repo import community_id_of
from storage.database import Database
from storage.models import CanonicalValue, Poll, TransitionStory, Vote
from tests.fakes.story_rows import add_story

HERE = CommunityRef("discord", "1001", "Here")
ELSEWHERE = CommunityRef("discord", "2002", "Elsewhere")
_messages = itertools.count(1)


# --- helpers (also used by the moderation tests) ------------------------------------------------------


async def add_reverse(database: Database, story_id: int, *, now: datetime) -> int:
    """The same context with the two values swapped: "B → A" for the story "A → B"."""
    async with database.session() as session:
        story = await session.get(TransitionStory, story_id)
        assert story is not None
        reverse = TransitionStory(
            community_id=story.community_id,
            context_id=story.context_id,
            from_value_id=story.to_value_id,
            to_value_id=story.from_value_id,
            story="The other way round.",
            steps={},
            prompt_sha="0" * 64,
            model="test-model",
            created_at=now,
        )
        session.add(reverse)
        await session.commit()
        return reverse.id


async def open_poll(database: Database, story_id: int, *, now: datetime, closes_at: datetime | None) -> Poll:
    return await record_poll(
        database,
        story_id=story_id,
        platform="discord",
        channel_id="1",
        message_id=str(next(_messages)),
        closes_at=closes_at,
        now=now,
    )


async def add_votes(database: Database, poll: Poll, count: int, *, now: datetime) -> None:
    async with database.session() as session:
        for n in range(count):
            session.add(
                Vote(
                    community_id=poll.community_id,
                    poll_id=poll.id,
                    voter_key=f"voter:{poll.id}:{n}",
                    choice="upgrade",
                    cast_at=now,
                    updated_at=now,
                )
            )
        await session.commit()


async def set_story(database: Database, story_id: int, **values) -> None:
    async with database.session() as session:
        await session.exec(sa.update(TransitionStory).where(TransitionStory.id == story_id).values(**values))
        await session.commit()


async def set_value_status(database: Database, story_id: int, which: str, status: str) -> None:
    async with database.session() as session:
        story = await session.get(TransitionStory, story_id)
        value_id = story.from_value_id if which == "from" else story.to_value_id
        await session.exec(sa.update(CanonicalValue).where(CanonicalValue.id == value_id).values(status=status))
        await session.commit()


async def chosen(database: Database, now: datetime, community: CommunityRef = HERE) -> int | None:
    return await next_story_for(database, community, now=now)


# --- tests -------------------------------------------------------------------------------------------


async def test_fewest_votes_first_then_oldest(database, clock):
    now = clock()
    first, second, third = [await add_story(database, HERE, now=now) for _ in range(3)]
    assert await chosen(database, now) == first  # a tie at zero votes: the oldest

    # Votes count over all of a story's polls, closed ones included.
    for story_id, counts in ((first, (2, 1)), (second, (1,))):
        for count in counts:
            poll = await open_poll(database, story_id, now=now, closes_at=now + timedelta(days=1))
            await add_votes(database, poll, count, now=now)
            await close_poll(database, poll_id=poll.id, now=now)
    assert await chosen(database, now) == third  # no votes at all
    await open_poll(database, third, now=now, closes_at=None)
    assert await chosen(database, now) == second  # 1 vote beats 3


async def test_open_polls_and_their_reverse_are_skipped(database, clock):
    now = clock()
    story = await add_story(database, HERE, now=now)
    reverse = await add_reverse(database, story, now=now)
    other = await add_story(database, HERE, now=now)
    assert await chosen(database, now) == story

    poll = await open_poll(database, story, now=now, closes_at=now + timedelta(hours=72))
    assert await chosen(database, now) == other  # neither the open story nor its reverse
    await open_poll(database, other, now=now, closes_at=None)  # no deadline: open until closed
    assert await chosen(database, now) is None

    # Past its deadline, a poll still marked open takes no votes: the story and its reverse are free again.
    later = now + timedelta(hours=73)
    assert await chosen(database, later) == story
    await close_poll(database, poll_id=poll.id, now=later)
    assert await chosen(database, now) == story
    await open_poll(database, reverse, now=now, closes_at=None)
    assert await chosen(database, now) is None  # the reverse is open now, which blocks the story


async def test_withdrawn_stories_and_inactive_values_are_skipped(database, clock):
    now = clock()
    withdrawn, hidden, merged, empty, fine = [await add_story(database, HERE, now=now) for _ in range(5)]
    await set_story(database, withdrawn, status="withdrawn")
    await set_value_status(database, hidden, "from", "hidden")
    await set_value_status(database, merged, "to", "merged")
    await set_value_status(database, empty, "from", "empty")
    assert await chosen(database, now) == fine
    await set_story(database, fine, status="withdrawn")
    assert await chosen(database, now) is None


async def test_another_communitys_stories_are_never_chosen(database, clock):
    now = clock()
    theirs = await add_story(database, ELSEWHERE, now=now)
    assert await chosen(database, now) is None  # HERE has no community row yet
    mine = await add_story(database, HERE, now=now)
    assert await chosen(database, now) == mine
    assert await chosen(database, now, ELSEWHERE) == theirs
    # An open poll in one community does not block the other's stories.
    await open_poll(database, theirs, now=now, closes_at=None)
    assert await chosen(database, now) == mine and await chosen(database, now, ELSEWHERE) is None
    here_id = await community_id_of(database, HERE)
    assert here_id is not None and await next_story(database, community_id=here_id, now=now) == mine


async def test_nothing_left(database, clock):
    now = clock()
    assert await chosen(database, now) is None
    story = await add_story(database, HERE, now=now)
    await open_poll(database, story, now=now, closes_at=now + timedelta(hours=1))
    assert await chosen(database, now) is None
    async with database.session() as session:
        assert len((await session.exec(select(Poll))).all()) == 1


async def test_stories_being_posted_count_as_open(database, clock):
    now = clock()
    story = await add_story(database, HERE, now=now)
    await add_reverse(database, story, now=now)
    other = await add_story(database, HERE, now=now)
    assert await next_story_for(database, HERE, now=now, exclude=[story]) == other
    assert await next_story_for(database, HERE, now=now, exclude=[story, other]) is None
